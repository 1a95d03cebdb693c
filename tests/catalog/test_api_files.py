"""Files: documents, logos and artifacts are checked (extension, content, size), measured by the
server (SHA-256), and served only as attachments that a browser will not render or sniff."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.catalog import services
from apps.catalog.files import DOCUMENT_POLICY, FilePolicy
from apps.catalog.models import Artifact, Document, Listing, Version
from marketplace.models import AuditEntry
from tests.catalog.factories import (
    PDF_BYTES,
    VersionFactory,
    add_document,
    png_bytes,
    publish_listing,
    ready_listing,
    upload,
)
from tests.conftest import Party, assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def live(radiant: Party) -> Listing:
    return publish_listing(vendor=radiant.organization, name="Chest X-ray Triage")


def documents_url(listing: Listing, tail: str = "") -> str:
    return f"/api/v1/apps/{listing.slug}/documents/{tail}"


def post_document(api: Any, listing: Listing, name: str | None, content: bytes = PDF_BYTES, **fields: str) -> Any:
    data: dict[str, Any] = {"kind": "ifu", "title": "Instructions for use", **fields}
    if name is not None:
        data["file"] = upload(name, content)
    return api.post(documents_url(listing), data, format="multipart")


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --- documents ---------------------------------------------------------------------------------


def test_a_vendor_uploads_a_pdf_and_anyone_downloads_it_safely(
    live: Listing, radiant: Party, anonymous_api: Any, media_root: Path
) -> None:
    response = post_document(radiant.api("member"), live, "IFU v2 (final).pdf", visibility="public")
    assert response.status_code == 201, response.content
    document = response.json()
    assert document["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()
    assert document["size"] == len(PDF_BYTES) and document["content_type"] == "application/pdf"
    assert document["filename"] == "IFU_v2_final_.pdf"  # made safe for headers and storage
    stored = Document.objects.get(public_id=document["id"])
    assert Path(stored.file.path).is_relative_to(media_root) and Path(stored.file.path).read_bytes() == PDF_BYTES
    entry = AuditEntry.objects.get(action="catalog.document.added")
    assert entry.new_values["sha256"] == document["sha256"]

    listed = anonymous_api.get(documents_url(live)).json()
    assert [d["id"] for d in listed["results"]] == [document["id"]]
    assert [d["id"] for d in anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()["documents"]] == [document["id"]]

    download = anonymous_api.get(document["download_url"])
    assert download.status_code == 200
    assert (
        download["Content-Disposition"].startswith("attachment;")
        and "IFU_v2_final_.pdf" in download["Content-Disposition"]
    )
    assert download["Content-Type"] == "application/pdf"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert (
        "sandbox" in download["Content-Security-Policy"] and "default-src 'none'" in download["Content-Security-Policy"]
    )
    assert download["X-Checksum-SHA256"] == hashlib.sha256(PDF_BYTES).hexdigest()
    assert body_of(download) == PDF_BYTES


@pytest.mark.parametrize(
    ("label", "name", "content"),
    [
        ("wrong extension", "installer.exe", b"MZ\x90\x00"),
        ("svg", "diagram.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
        ("html", "page.html", b"<html><body>hi</body></html>"),
        ("no extension", "README", b"plain words"),
        ("pdf that is not a pdf", "ifu.pdf", b"<html><script>alert(1)</script></html>"),
        ("zip that is not a zip", "bundle.zip", b"just text"),
        ("html disguised as txt", "notes.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("script disguised as csv", "data.csv", b"a,b\n<script>alert(1)</script>\n"),
        ("svg disguised as xml", "conformance.xml", b"<?xml version='1.0'?><svg onload='alert(1)'/>"),
        ("empty", "empty.pdf", b""),
    ],
)
def test_unacceptable_documents_are_refused_naming_the_file(
    label: str, name: str, content: bytes, live: Listing, radiant: Party
) -> None:
    response = post_document(radiant.api("member"), live, name, content)
    assert_error(response, 400, field="file")
    assert not Document.objects.exists()


def test_a_missing_file_is_refused_naming_it(live: Listing, radiant: Party) -> None:
    error = assert_error(post_document(radiant.api("member"), live, None), 400, field="file")
    assert error["fields"]["file"] == ["Attach a file."]


def test_unknown_kind_and_visibility_are_refused(live: Listing, radiant: Party) -> None:
    api = radiant.api("member")
    assert_error(post_document(api, live, "a.pdf", kind="novel"), 400, field="kind")
    assert_error(post_document(api, live, "a.pdf", visibility="secret"), 400, field="visibility")
    assert not Document.objects.exists()


def test_a_document_over_the_size_limit_is_refused(live: Listing, radiant: Party, monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "DOCUMENT_POLICY", FilePolicy("document", DOCUMENT_POLICY.extensions, 1024))
    api = radiant.api("member")
    assert post_document(api, live, "small.pdf", PDF_BYTES).status_code == 201
    big = PDF_BYTES + b"%" + b"x" * 2048
    error = assert_error(post_document(api, live, "big.pdf", big), 400, field="file")
    assert "larger" in error["fields"]["file"][0]
    assert Document.objects.count() == 1


def test_plain_text_json_and_office_files_are_accepted(live: Listing, radiant: Party) -> None:
    api = radiant.api("member")
    files = {
        "sbom.json": (b'{"bomFormat": "CycloneDX"}', "application/json"),
        "notes.txt": (b"Release notes without markup.", "text/plain"),
        "mds2.xlsx": (
            b"PK\x03\x04rest-of-the-zip",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    }
    for name, (content, content_type) in files.items():
        response = post_document(api, live, name, content, kind="other")
        assert response.status_code == 201, (name, response.content)
        assert response.json()["content_type"] == content_type
        assert response.json()["sha256"] == hashlib.sha256(content).hexdigest()


def test_only_the_vendor_uploads_and_removes_documents(
    live: Listing, radiant: Party, orbit: Party, st_mary: Party, anonymous_api: Any, operator_api: Any
) -> None:
    for api in (orbit.api("admin"), st_mary.api("admin"), radiant.api("client:read_only"), operator_api):
        assert_error(post_document(api, live, "ifu.pdf"), 403)
    assert_error(post_document(anonymous_api, live, "ifu.pdf"), 401)
    assert not Document.objects.exists()

    document = add_document(live)
    url = documents_url(live, f"{document.public_id}/")
    assert_error(orbit.api("admin").delete(url), 403)
    assert_error(radiant.api("client:read_only").delete(url), 403)
    assert radiant.api("member").delete(url).status_code == 204
    assert not Document.objects.exists()
    assert AuditEntry.objects.filter(action="catalog.document.removed").count() == 1


def test_documents_of_a_draft_are_hidden_with_it(radiant: Party, orbit: Party, anonymous_api: Any) -> None:
    draft = ready_listing(vendor=radiant.organization)
    document = add_document(draft)
    for api in (anonymous_api, orbit.api("admin")):
        assert_error(api.get(documents_url(draft)), 404)
        assert_error(api.get(documents_url(draft, f"{document.public_id}/download/")), 404)
        assert_error(post_document(api, draft, "ifu.pdf"), 401 if api is anonymous_api else 404)
    assert radiant.api("member").get(documents_url(draft)).json()["count"] == 1


def test_on_request_documents_are_for_verified_providers(
    live: Listing, radiant: Party, st_mary: Party, northside: Party, orbit: Party, anonymous_api: Any, operator_api: Any
) -> None:
    public = add_document(live, title="Instructions for use")
    mds2 = add_document(live, kind="mds2", title="MDS2", visibility="on_request", filename="mds2.pdf")
    st_mary.organization.verified_at = timezone.now()
    st_mary.organization.save(update_fields=["verified_at"])

    def visible(api: Any) -> set[str]:
        listed = {d["id"] for d in api.get(documents_url(live)).json()["results"]}
        in_detail = {d["id"] for d in api.get(f"/api/v1/apps/{live.slug}/").json()["documents"]}
        assert listed == in_detail
        return listed

    hidden_from = {
        "anonymous": anonymous_api,
        "unverified provider": northside.api("admin"),
        "another vendor": orbit.api("admin"),
    }
    for who, api in hidden_from.items():
        assert visible(api) == {str(public.public_id)}, who
        assert_error(api.get(documents_url(live, f"{mds2.public_id}/download/")), 404)
        assert_error(api.get(documents_url(live, f"{mds2.public_id}/")), 404)

    shown_to = {
        "verified provider": st_mary.api("member"),
        "verified provider's read-only client": st_mary.api("client:read_only"),
        "vendor": radiant.api("client:read_only"),
        "operator": operator_api,
    }
    for who, api in shown_to.items():
        assert visible(api) == {str(public.public_id), str(mds2.public_id)}, who
        download = api.get(documents_url(live, f"{mds2.public_id}/download/"))
        assert download.status_code == 200, who
        assert download["X-Checksum-SHA256"] == mds2.sha256


# --- logos (of a draft; a live listing's through a revision: test_media_revisions.py) ----------


@pytest.fixture
def draft(radiant: Party) -> Listing:
    return ready_listing(vendor=radiant.organization, name="Chest X-ray Triage")


def test_a_real_png_becomes_the_logo(draft: Listing, radiant: Party, anonymous_api: Any) -> None:
    content = png_bytes((64, 64))
    response = radiant.api("member").post(
        f"/api/v1/apps/{draft.slug}/logo/", {"file": upload("logo.png", content, "image/png")}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert response.json()["logo_url"].endswith("/logo.png")
    draft.refresh_from_db()
    assert draft.logo.name.startswith("listings/logos/") and draft.logo.read() == content
    entry = AuditEntry.objects.get(action="catalog.listing.logo_changed")
    assert entry.new_values["sha256"] == hashlib.sha256(content).hexdigest()
    publish_listing(draft)
    assert anonymous_api.get("/api/v1/apps/", {"q": "Chest"}).json()["results"][0]["logo_url"]


@pytest.mark.parametrize(
    ("label", "name", "content"),
    [
        ("text named png", "logo.png", b"this is not an image at all"),
        ("png magic then garbage", "logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20),
        ("html named png", "logo.png", b"<html><script>alert(1)</script></html>"),
        ("svg", "logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
        ("jpeg named png", "logo.png", b"\xff\xd8\xff\xe0" + b"\x00" * 40),
        ("empty", "logo.png", b""),
    ],
)
def test_a_fake_logo_is_refused(label: str, name: str, content: bytes, draft: Listing, radiant: Party) -> None:
    response = radiant.api("member").post(
        f"/api/v1/apps/{draft.slug}/logo/", {"file": upload(name, content, "image/png")}, format="multipart"
    )
    assert_error(response, 400, field="file")
    draft.refresh_from_db()
    assert not draft.logo


def test_a_logo_upload_without_a_file_names_the_field(draft: Listing, radiant: Party) -> None:
    assert_error(
        radiant.api("member").post(f"/api/v1/apps/{draft.slug}/logo/", {}, format="multipart"), 400, field="file"
    )


def test_only_the_vendor_changes_the_logo(live: Listing, orbit: Party, st_mary: Party, radiant: Party) -> None:
    for api in (orbit.api("admin"), st_mary.api("admin"), radiant.api("client:read_only")):
        response = api.post(
            f"/api/v1/apps/{live.slug}/logo/", {"file": upload("logo.png", png_bytes())}, format="multipart"
        )
        assert_error(response, 403)
    live.refresh_from_db()
    assert not live.logo


# --- artifacts -------------------------------------------------------------------------------


def artifacts_url(listing: Listing, version: Version, tail: str = "") -> str:
    return f"/api/v1/apps/{listing.slug}/versions/{version.public_id}/artifacts/{tail}"


def test_artifacts_are_uploaded_to_a_version_and_downloaded_by_the_vendor_only(
    live: Listing, radiant: Party, st_mary: Party, orbit: Party, anonymous_api: Any, operator_api: Any
) -> None:
    version = VersionFactory(listing=live, version="2.4.1")
    content = b"\x1f\x8b\x08\x00" + b"installer bytes" * 100
    response = radiant.api("client:member").post(
        artifacts_url(live, version), {"kind": "installer", "file": upload("radiant-2.4.1.tar.gz", content)},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    artifact = response.json()
    assert artifact["sha256"] == hashlib.sha256(content).hexdigest() and artifact["size"] == len(content)
    assert artifact["content_type"] == "application/gzip" and artifact["filename"] == "radiant-2.4.1.tar.gz"

    # The version lists it (with its checksum) for everyone who sees the listing.
    versions = anonymous_api.get(f"/api/v1/apps/{live.slug}/versions/").json()["results"]
    assert versions[0]["artifacts"][0]["sha256"] == artifact["sha256"]

    download_url = artifacts_url(live, version, f"{artifact['id']}/download/")
    for api in (radiant.api("client:read_only"), radiant.api("member"), operator_api):
        download = api.get(download_url)
        assert download.status_code == 200
        assert download["Content-Disposition"].startswith("attachment;")
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download["X-Checksum-SHA256"] == artifact["sha256"]
        assert body_of(download) == content
    for api in (anonymous_api, st_mary.api("admin"), orbit.api("admin")):
        assert_error(api.get(download_url), 403)


def test_bad_artifacts_are_refused(live: Listing, radiant: Party, orbit: Party, settings: Any) -> None:
    version = VersionFactory(listing=live)
    api = radiant.api("member")

    def post(name: str | None, content: bytes = b"PK\x03\x04zip", **data: str) -> Any:
        if name is not None:
            data = {**data, "file": upload(name, content)}  # type: ignore[dict-item]
        return api.post(artifacts_url(live, version), data, format="multipart")

    assert_error(post(None), 400, field="file")
    assert_error(post("setup.html", b"<html></html>"), 400, field="file")
    assert_error(post("bundle.zip", b"not a zip"), 400, field="file")
    assert_error(post("bundle.zip", kind="virus"), 400, field="kind")
    assert_error(post("empty.zip", b""), 400, field="file")
    # Above MARKETPLACE_MAX_UPLOAD_BYTES the whole request is refused before any view reads it.
    settings.MARKETPLACE_MAX_UPLOAD_BYTES = 1024
    assert_error(post("bundle.zip", b"PK\x03\x04" + b"x" * 2048), 413, code="request_too_large")
    assert not Artifact.objects.exists()

    other = orbit.api("admin").post(
        artifacts_url(live, version), {"file": upload("bundle.zip", b"PK\x03\x04zip")}, format="multipart"
    )
    assert_error(other, 403)


@pytest.mark.parametrize("body", ["[1, 2]", '"abc"', "null"])
def test_a_json_body_that_is_not_an_object_is_a_400(live: Listing, radiant: Party, body: str) -> None:
    response = radiant.api("member").post(documents_url(live), body, content_type="application/json")
    assert_error(response, 400, field="file")
