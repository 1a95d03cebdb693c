"""The vendor portal in the web store: a vendor member creates a draft, edits its facts (errors
next to the fields and summarized on top), adds offerings, plans, versions with artifacts and
documents, and submits it; the reviewer's reasons are shown when changes are requested; a live
listing changes through a revision; the requests inbox answers trial requests and links quote
requests to their page. Another vendor gets 404, a provider 403, read-only people read."""

from __future__ import annotations

import hashlib
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.catalog import services as catalog
from apps.catalog.models import Artifact, Document, Listing, ListingRevision, Offering, Plan, Version
from apps.procurement.models import QuoteRequest, Trial
from marketplace.models import AuditEntry
from tests.catalog.factories import (
    PDF_BYTES,
    CategoryFactory,
    StandardFactory,
    an_operator,
    png_bytes,
    publish_listing,
    ready_listing,
    upload,
    verify,
)
from tests.conftest import Party, _party
from tests.factories import MembershipFactory, VendorFactory
from tests.procurement.buying import request_quote
from tests.procurement.factories import request_trial, trial_listing
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ZIP_BYTES = b"PK\x03\x04" + b"\x14\x00" * 64  # a zip's signature: enough for the content check


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploads of each test land in its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def orbit(db: None) -> Party:
    """Another vendor, which must never see or touch Radiant's listings."""
    return _party(VendorFactory(name="Orbit Health", slug="orbit-health"))


@pytest.fixture
def vocabulary(db: None) -> dict[str, Any]:
    return {
        "radiology": CategoryFactory(name="Radiology AI", slug="radiology-ai"),
        "cardiology": CategoryFactory(name="Cardiology", slug="cardiology"),
        "dicom": StandardFactory(name="DICOM", slug="dicom"),
    }


# --- helpers --------------------------------------------------------------------------------------


def url(name: str, listing: Listing | None = None, **kwargs: Any) -> str:
    if listing is not None:
        kwargs["slug"] = listing.slug
    return reverse(f"storefront:{name}", kwargs=kwargs or None)


def text(response: Any) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def field_error(html: str, field_id: str) -> str:
    """The error Django renders next to the field (its errorlist, tied by aria-describedby)."""
    match = re.search(rf'<ul class="errorlist" id="{field_id}_error">(.*?)</ul>', html, re.DOTALL)
    assert match, f"no error next to {field_id}"
    assert re.search(rf'aria-describedby="[^"]*{field_id}_error"', html), field_id
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def summary_links(html: str) -> list[str]:
    box = re.search(r'<div class="form-errors error-summary".*?</div>', html, re.DOTALL)
    assert box, "no error summary"
    return re.findall(r'<a href="([^"]+)">', box.group(0))


def facts_data(**overrides: Any) -> dict[str, Any]:
    """A complete facts form with two empty clearance rows."""
    data: dict[str, Any] = {
        "action": "save",
        "facts-name": "StrokeFinder",
        "facts-tagline": "Flags large-vessel occlusions on CT angiography",
        "facts-description": "## How it works\n\nReads **CTA** and alerts the stroke team.",
        "facts-intended_use": "Triage of adult CTA studies by qualified clinicians.",
        "facts-categories": ["radiology-ai"],
        "facts-standards": ["dicom"],
        "facts-data_residency": "EU, CH",
        "facts-security_certifications": "ISO 27001",
        "facts-support_email": "support@radiant.example",
        "facts-support_url": "https://radiant.example/support",
        "facts-eula_version": "2.1",
        "clearance-TOTAL_FORMS": "2",
        "clearance-INITIAL_FORMS": "0",
        "clearance-MIN_NUM_FORMS": "0",
        "clearance-MAX_NUM_FORMS": "30",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def create_draft(client: Client, name: str = "StrokeFinder") -> Listing:
    response = client.post(url("vendor-listings"), {"name": name})
    assert response.status_code == 302, response.content[:2000]
    listing = Listing.objects.get(name=name)
    assert response["Location"] == url("portal-listing", listing)
    return listing


def ready_draft(party: Party, vocabulary: dict[str, Any]) -> Listing:
    """A draft with its facts, an offering and a plan, made through the portal."""
    client = signed_in(party.member)
    listing = create_draft(client)
    assert client.post(url("portal-listing", listing), facts_data()).status_code == 302
    assert client.post(url("portal-offering-create", listing), offering_data("offering-new")).status_code == 302
    offering = listing.offerings.get()
    response = client.post(url("portal-plan-create", listing, public_id=offering.public_id), plan_data(offering))
    assert response.status_code == 302
    return Listing.objects.get(pk=listing.pk)


def offering_data(prefix: str, **overrides: str) -> dict[str, str]:
    data = {"mode": "cloud", "name": "EU cloud", "regions": "eu-central, us-east"}
    data.update(overrides)
    return {f"{prefix}-{key}": value for key, value in data.items()}


def plan_data(offering: Offering, **overrides: str) -> dict[str, str]:
    data = {
        "name": "Department",
        "pricing_model": "subscription",
        "price": "1200",
        "currency": "eur",
        "billing_period": "month",
        "usage_unit": "",
        "trial_days": "30",
        "trial_auto_approve": "on",
    }
    data.update(overrides)
    return {f"newplan-{offering.public_id}-{key}": value for key, value in data.items()}


def request_changes(listing: Listing, reason: str) -> None:
    catalog.listing_request_changes(listing=listing, actor=an_operator(), reason=reason)


# --- my listings and the facts ---------------------------------------------------------------------


def test_a_member_creates_a_draft_and_edits_its_facts(radiant: Party, vocabulary: dict[str, Any]) -> None:
    client = signed_in(radiant.member)
    page = client.get(url("vendor-listings"))
    html = assert_csp_clean(page)
    assert page.status_code == 200 and "Create a listing" in html and "No listings yet" in html
    assert 'aria-current="page">My listings' in html

    # A name is needed; the error is next to the field and summarized on top.
    response = client.post(url("vendor-listings"), {"name": " "})
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error(html, "id_name") == "This field is required."
    assert summary_links(html) == ["#id_name"]

    listing = create_draft(client)
    assert listing.status == Listing.Status.DRAFT and listing.vendor == radiant.organization
    page = client.get(url("portal-listing", listing))
    html = assert_csp_clean(page)
    assert 'value="StrokeFinder"' in html and "A draft: only Radiant AI sees it" in text(page)
    assert "storefront/portal.js" in html and 'aria-label="Listing editor"' in html
    assert 'name="facts-categories" value="radiology-ai"' in html  # the vocabulary as checkboxes
    assert client.get(url("vendor-listings")).content.decode().count(url("portal-listing", listing)) >= 1

    # Bad input: each error next to its field, all summarized with links; what was typed stays.
    response = client.post(
        url("portal-listing", listing),
        facts_data(**{"facts-support_email": "not-an-email", "facts-eula_version": "v 2!"}),
    )
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert field_error(html, "id_facts-support_email") == "Enter a valid email address."
    assert "Use letters, digits, dots or hyphens" in field_error(html, "id_facts-eula_version")
    assert summary_links(html) == ["#id_facts-support_email", "#id_facts-eula_version"]
    assert 'value="Flags large-vessel occlusions on CT angiography"' in html
    listing.refresh_from_db()
    assert listing.tagline == ""

    # A clearance row without its authority is an error on that row.
    response = client.post(
        url("portal-listing", listing),
        facts_data(**{"clearance-0-identifier": "K201234"}),
    )
    assert response.status_code == 400
    assert field_error(response.content.decode(), "id_clearance-0-authority") == "Choose the authority that cleared it."

    response = client.post(
        url("portal-listing", listing),
        facts_data(
            **{
                "clearance-0-authority": "fda",
                "clearance-0-device_class": "II",
                "clearance-0-identifier": "K201234",
                "clearance-0-cleared_on": "2024-05-02",
                "facts-processes_patient_data": "on",
            }
        ),
    )
    assert response.status_code == 302 and response["Location"] == url("portal-listing", listing)
    listing.refresh_from_db()
    assert listing.tagline == "Flags large-vessel occlusions on CT angiography"
    assert listing.data_residency == ["EU", "CH"] and listing.eula_version == "2.1"
    assert listing.processes_patient_data is True
    assert list(listing.categories.values_list("slug", flat=True)) == ["radiology-ai"]
    assert [(c.authority, c.identifier, str(c.cleared_on)) for c in listing.clearances.all()] == [
        ("fda", "K201234", "2024-05-02")
    ]
    assert AuditEntry.objects.filter(action="catalog.listing.updated").count() == 1
    page = client.get(url("portal-listing", listing))
    assert "The facts are saved." in text(page)
    html = page.content.decode()
    assert 'value="K201234"' in html and 'value="EU, CH"' in html  # the form starts from what is saved

    # "Add more rows" offers more clearance rows without saving.
    response = client.post(url("portal-listing", listing), facts_data(action="more_rows"))
    assert response.status_code == 200 and 'name="clearance-3-authority"' in response.content.decode()


def test_the_description_preview_works_with_and_without_javascript(radiant: Party, vocabulary: Any) -> None:
    client = signed_in(radiant.member)
    listing = create_draft(client)
    data = facts_data(action="preview", **{"facts-description": "Hello **world** <script>x()</script>"})
    response = client.post(url("portal-listing", listing), data)
    html = assert_csp_clean(response)
    assert response.status_code == 200 and "<strong>world</strong>" in html and "<script>x()" not in html
    listing.refresh_from_db()
    assert listing.description == ""  # a preview saves nothing

    partial = client.post(url("portal-description-preview", listing), data, **HTMX)
    assert partial.status_code == 200 and "<strong>world</strong>" in partial.content.decode()
    assert "<html" not in partial.content.decode()


# --- offerings, plans, versions and files --------------------------------------------------------------


def test_offerings_and_plans_are_added_with_errors_next_to_the_fields(radiant: Party, vocabulary: Any) -> None:
    client = signed_in(radiant.member)
    listing = create_draft(client)
    page = client.get(url("portal-offerings", listing))
    assert_csp_clean(page)
    assert "No offerings yet." in text(page)

    response = client.post(url("portal-offering-create", listing), offering_data("offering-new", regions=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error(html, "id_offering-new-regions") == "A cloud offering names at least one region."
    assert '<details class="edit-details" open>' in html

    assert client.post(url("portal-offering-create", listing), offering_data("offering-new")).status_code == 302
    offering = listing.offerings.get()
    assert offering.regions == ["eu-central", "us-east"] and offering.mode == "cloud"

    plan_url = url("portal-plan-create", listing, public_id=offering.public_id)
    response = client.post(plan_url, plan_data(offering, price=""))
    assert response.status_code == 400
    assert field_error(response.content.decode(), f"id_newplan-{offering.public_id}-price") == (
        "A subscription plan has a price."
    )
    assert client.post(plan_url, plan_data(offering)).status_code == 302
    plan = offering.plans.get()
    assert (plan.price, plan.currency, plan.trial_days, plan.trial_auto_approve) == (1200, "EUR", 30, True)

    # A draft's offering and plan are edited; an on-premise offering names its requirements.
    key = f"offering-{offering.public_id}"
    response = client.post(
        url("portal-offering", listing, public_id=offering.public_id),
        offering_data(
            key,
            mode="on_premise",
            name="Server",
            regions="",
            requirement_os="Ubuntu 22.04",
            requirement_cpu_cores="8",
            requirement_memory_gb="0",
        ),
    )
    assert response.status_code == 400
    assert "greater than or equal to 1" in field_error(response.content.decode(), f"id_{key}-requirement_memory_gb")
    response = client.post(
        url("portal-offering", listing, public_id=offering.public_id),
        offering_data(
            key,
            mode="on_premise",
            name="Server",
            regions="",
            requirement_os="Ubuntu 22.04",
            requirement_cpu_cores="8",
            requirement_memory_gb="32",
        ),
    )
    assert response.status_code == 302
    offering.refresh_from_db()
    assert (offering.mode, offering.requirement_cpu_cores, offering.requirement_memory_gb) == ("on_premise", 8, 32)

    response = client.post(url("portal-plan-active", listing, public_id=plan.public_id), {"active": "0"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.is_active is False
    page = client.get(url("portal-offerings", listing))
    assert "Inactive" in text(page) and "Fulfillment settings" in text(page)


def test_versions_artifacts_documents_and_images_upload(radiant: Party, vocabulary: Any) -> None:
    client = signed_in(radiant.member)
    listing = create_draft(client)

    response = client.post(url("portal-version-create", listing), {"version-version": "2.4"})
    assert response.status_code == 400
    assert "semantic version" in field_error(response.content.decode(), "id_version-version")
    response = client.post(
        url("portal-version-create", listing), {"version-version": "2.4.1", "version-release_notes": "Faster."}
    )
    assert response.status_code == 302
    version = Version.objects.get(listing=listing)
    assert response["Location"].endswith(f"#version-{version.public_id}")

    # An artifact: the plain form, then the same through htmx (a full navigation when done).
    prefix = f"artifact-{version.public_id}"
    artifact_url = url("portal-artifact-create", listing, public_id=version.public_id)
    page = client.get(url("portal-versions", listing))
    html = assert_csp_clean(page)
    assert 'enctype="multipart/form-data"' in html and "<progress" in html and f'hx-post="{artifact_url}"' in html
    response = client.post(artifact_url, {f"{prefix}-kind": "installer", f"{prefix}-file": upload("bundle.zip", b"no")})
    assert response.status_code == 400
    assert field_error(response.content.decode(), f"id_{prefix}-file") == "The file's content is not a .zip file."
    response = client.post(
        artifact_url, {f"{prefix}-kind": "installer", f"{prefix}-file": upload("stroke-2.4.1.zip", ZIP_BYTES)}
    )
    assert response.status_code == 302
    artifact = Artifact.objects.get()
    assert artifact.sha256 == hashlib.sha256(ZIP_BYTES).hexdigest() and artifact.version == version
    assert artifact.sha256 in client.get(url("portal-versions", listing)).content.decode()

    response = client.post(
        artifact_url, {f"{prefix}-kind": "manual", f"{prefix}-file": upload("manual.pdf", PDF_BYTES)}, **HTMX
    )
    assert response.status_code == 200 and response["HX-Redirect"].startswith(url("portal-versions", listing))
    response = client.post(artifact_url, {f"{prefix}-kind": "manual"}, **HTMX)
    assert response.status_code == 200  # htmx swaps only 2xx: the form comes back with its error
    assert field_error(response.content.decode(), f"id_{prefix}-file") == "This field is required."
    assert Artifact.objects.count() == 2

    # A document: kind, title, who may download it, and the file.
    response = client.post(
        url("portal-document-create", listing),
        {"document-kind": "", "document-visibility": "public", "document-file": upload("ifu.pdf", PDF_BYTES)},
    )
    assert response.status_code == 400
    assert field_error(response.content.decode(), "id_document-kind") == "This field is required."
    response = client.post(
        url("portal-document-create", listing),
        {
            "document-kind": "ifu",
            "document-title": "Instructions for use",
            "document-visibility": "on_request",
            "document-file": upload("ifu.pdf", PDF_BYTES),
        },
    )
    assert response.status_code == 302
    document = Document.objects.get()
    assert (document.kind, document.visibility, document.sha256) == (
        "ifu",
        "on_request",
        hashlib.sha256(PDF_BYTES).hexdigest(),
    )
    page = client.get(url("portal-documents", listing))
    assert_csp_clean(page)
    assert "Instructions for use" in text(page) and "Verified hospitals" in text(page)

    # Logo and a screenshot (images are checked), then the document is removed.
    response = client.post(url("portal-logo", listing), {"logo-file": upload("logo.png", b"not a png")})
    assert response.status_code == 400 and "not a .png file" in field_error(response.content.decode(), "id_logo-file")
    assert client.post(url("portal-logo", listing), {"logo-file": upload("logo.png", png_bytes())}).status_code == 302
    response = client.post(
        url("portal-screenshot-create", listing),
        {"screenshot-caption": "The worklist", "screenshot-file": upload("worklist.png", png_bytes((40, 30)))},
    )
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.logo and listing.screenshots.get().caption == "The worklist"
    assert 'alt="The worklist"' in client.get(url("portal-documents", listing)).content.decode()
    response = client.post(url("portal-document-remove", listing, public_id=document.public_id))
    assert response.status_code == 302 and not Document.objects.exists()
    screenshot = listing.screenshots.get()
    response = client.post(url("portal-screenshot-remove", listing, public_id=screenshot.public_id))
    assert response.status_code == 302 and not listing.screenshots.exists()


def test_a_live_listing_changes_its_logo_and_screenshots_through_a_revision(
    radiant: Party, vocabulary: dict[str, Any]
) -> None:
    draft = ready_listing(vendor=radiant.organization, name="Chest Triage", slug="chest-triage")
    client = signed_in(radiant.member)
    for caption in ("The worklist", "The findings"):
        data = {"screenshot-caption": caption, "screenshot-file": upload("shot.png", png_bytes((40, 30)))}
        assert client.post(url("portal-screenshot-create", draft), data).status_code == 302
    live = publish_listing(draft)
    worklist = live.screenshots.get(caption="The worklist")

    page = client.get(url("portal-documents", live))
    html = assert_csp_clean(page)
    assert "change through a revision" in text(page)
    assert 'name="logo-file"' not in html and 'name="screenshot-file"' not in html
    response = client.post(url("portal-logo", live), {"logo-file": upload("logo.png", png_bytes())})
    assert response.status_code == 409 and "through a revision" in text(response)
    assert not Listing.objects.get(pk=live.pk).logo

    assert client.post(url("portal-revision-create", live)).status_code == 302
    page = client.get(url("portal-revision", live))
    html = assert_csp_clean(page)
    assert 'alt="The worklist"' in html and 'name="logo-file"' in html
    response = client.post(url("portal-revision-logo", live), {"logo-file": upload("logo.png", b"not a png")})
    assert response.status_code == 400 and "not a .png file" in field_error(response.content.decode(), "id_logo-file")
    logo = {"logo-file": upload("logo.png", png_bytes())}
    assert client.post(url("portal-revision-logo", live), logo).status_code == 302
    data = {"screenshot-caption": "The report", "screenshot-file": upload("report.png", png_bytes((40, 30), "red"))}
    assert client.post(url("portal-revision-screenshot-create", live), data).status_code == 302
    response = client.post(url("portal-revision-screenshot-remove", live, public_id=worklist.public_id))
    assert response.status_code == 302

    page = client.get(url("portal-revision", live))
    assert_csp_clean(page)
    changes = text(page)
    assert "Logo — logo" in changes and "Screenshots The worklist; The findings The findings; The report" in changes
    live.refresh_from_db()
    assert not live.logo and live.screenshots.count() == 2  # nothing is live before the review

    assert client.post(url("portal-revision-submit", live)).status_code == 302
    catalog.revision_approve(revision=ListingRevision.objects.get(listing=live), actor=an_operator())
    live.refresh_from_db()
    assert live.logo and [s.caption for s in live.screenshots.all()] == ["The findings", "The report"]


# --- review ------------------------------------------------------------------------------------------


def test_submitting_needs_what_the_review_asks_and_the_reasons_show_when_changes_are_requested(
    radiant: Party, vocabulary: dict[str, Any]
) -> None:
    client = signed_in(radiant.member)
    listing = create_draft(client, "Half Done")

    # An unverified vendor is told to get verified.
    response = client.post(url("portal-submit", listing))
    assert response.status_code == 403 and "must be verified" in text(response)
    verify(radiant.organization)

    # What review needs is summarized, each linking to where it is edited.
    response = client.post(url("portal-submit", listing))
    assert response.status_code == 400
    html = assert_csp_clean(response)
    links = summary_links(html)
    assert url("portal-listing", listing) + "#id_facts-tagline" in links
    assert url("portal-listing", listing) + "#id_facts-categories_0" in links
    assert url("portal-offerings", listing) + "#new-offering" in links
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.DRAFT

    listing = ready_draft(radiant, vocabulary)
    response = client.post(url("portal-submit", listing))
    assert response.status_code == 302 and response["Location"] == url("portal-review", listing)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.IN_REVIEW
    page = client.get(url("portal-listing", listing))
    assert "In review since" in text(page) and 'name="facts-name"' not in page.content.decode()
    assert client.post(url("portal-listing", listing), facts_data()).status_code == 409

    # The reviewer sends it back: the reasons are on top of every tab and on "My listings".
    request_changes(listing, "Attach the instructions for use and state the data residency.")
    for name in ("portal-listing", "portal-offerings", "portal-review"):
        page = client.get(url(name, listing))
        html = page.content.decode()
        assert '<section class="review-reasons"' in html, name
        assert "Changes requested by the reviewer" in text(page)
        assert "Attach the instructions for use and state the data residency." in text(page)
    assert "The reviewer asks for changes: Attach the instructions" in text(client.get(url("vendor-listings")))
    assert 'name="facts-name"' in client.get(url("portal-listing", listing)).content.decode()  # editable again
    assert client.post(url("portal-submit", listing)).status_code == 302
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.IN_REVIEW


def test_a_live_listing_changes_through_a_revision(radiant: Party, vocabulary: dict[str, Any]) -> None:
    live = publish_listing(vendor=radiant.organization, name="Chest Triage", slug="chest-triage")
    client = signed_in(radiant.member)
    page = client.get(url("portal-listing", live))
    html = assert_csp_clean(page)
    assert 'name="facts-name"' not in html and "Propose changes" in text(page)
    response = client.post(url("portal-listing", live), facts_data())
    assert response.status_code == 409 and "change through a revision" in text(response)

    response = client.post(url("portal-revision-create", live))
    assert response.status_code == 302 and response["Location"] == url("portal-revision", live)
    revision = ListingRevision.objects.get(listing=live)
    assert revision.status == ListingRevision.Status.DRAFT
    page = client.get(url("portal-revision", live))
    html = assert_csp_clean(page)
    assert 'value="Chest Triage"' in html and "Nothing yet" in text(page)
    response = client.post(url("portal-revision-submit", live))
    assert response.status_code == 400 and "changes nothing" in text(response)

    data = facts_data(**{"facts-name": "Chest Triage", "facts-tagline": "Now with pneumothorax alerts"})
    response = client.post(url("portal-revision", live), data)
    assert response.status_code == 302
    revision.refresh_from_db()
    live.refresh_from_db()
    assert revision.data["tagline"] == "Now with pneumothorax alerts"
    assert live.tagline == "Finds what matters in every study."  # the live version stays
    page = client.get(url("portal-revision", live))
    changes = text(page)
    assert "Tagline Finds what matters in every study. Now with pneumothorax alerts" in changes

    assert client.post(url("portal-revision-submit", live)).status_code == 302
    revision.refresh_from_db()
    assert revision.status == ListingRevision.Status.IN_REVIEW
    catalog.revision_request_changes(revision=revision, actor=an_operator(), reason="Cite the 510(k) for it.")
    page = client.get(url("portal-revision", live))
    assert "Changes requested by the reviewer" in text(page) and text(page).count("Cite the 510(k) for it.") == 1
    assert "Cite the 510(k) for it." in text(client.get(url("portal-versions", live)))
    assert "Revision: changes requested" in text(client.get(url("vendor-listings")))

    # Versions and offerings are added to a live listing directly; its offerings are not edited.
    response = client.post(url("portal-version-create", live), {"version-version": "3.0.0"})
    assert response.status_code == 302 and live.versions.filter(version="3.0.0").exists()
    page = client.get(url("portal-offerings", live)).content.decode()
    offering = live.offerings.get()
    assert f'action="{url("portal-offering", live, public_id=offering.public_id)}"' not in page
    assert f'action="{url("portal-plan-create", live, public_id=offering.public_id)}"' in page

    # Withdrawn: a new revision can be proposed.
    assert client.post(url("portal-revision-withdraw", live)).status_code == 302
    assert ListingRevision.objects.get().status == ListingRevision.Status.WITHDRAWN
    assert "Propose changes" in text(client.get(url("portal-listing", live)))


def test_admins_retire_live_listings_and_read_only_people_only_read(radiant: Party, vocabulary: Any) -> None:
    live = publish_listing(vendor=radiant.organization, name="Chest Triage", slug="chest-triage")
    read_only = MembershipFactory(organization=radiant.organization, role="read_only").user
    viewer = signed_in(read_only)
    for name in ("portal-listing", "portal-offerings", "portal-versions", "portal-documents", "portal-review"):
        page = viewer.get(url(name, live))
        assert page.status_code == 200, name
        assert "<form" not in page.content.decode().split('aria-label="Listing editor"')[1], name
    assert 'name="name"' not in viewer.get(url("vendor-listings")).content.decode()
    assert viewer.post(url("vendor-listings"), {"name": "Sneaky"}).status_code == 403
    assert viewer.post(url("portal-revision-create", live)).status_code == 403
    assert viewer.post(url("portal-version-create", live), {"version-version": "9.0.0"}).status_code == 403
    assert not Listing.objects.filter(name="Sneaky").exists() and not live.revisions.exists()

    member = signed_in(radiant.member)
    assert "Retire" not in text(member.get(url("portal-review", live)))
    assert member.post(url("portal-retire", live), {"retire-reason": "Old"}).status_code == 403
    admin = signed_in(radiant.admin)
    assert "Retire Chest Triage" in text(admin.get(url("portal-review", live)))
    response = admin.post(url("portal-retire", live), {"retire-reason": "Replaced by Chest Triage 2"})
    assert response.status_code == 302
    live.refresh_from_db()
    assert live.status == Listing.Status.RETIRED
    page = admin.get(url("portal-documents", live))
    assert "Upload a document" not in text(page)


def test_another_vendor_gets_404_and_a_provider_403(
    radiant: Party, orbit: Party, st_mary: Party, vocabulary: Any
) -> None:
    draft = ready_draft(radiant, vocabulary)
    offering = draft.offerings.get()
    plan = offering.plans.get()
    version = Version.objects.create(listing=draft, version="1.0.0")
    other = signed_in(orbit.member)
    for path in (
        url("portal-listing", draft),
        url("portal-revision", draft),
        url("portal-offerings", draft),
        url("portal-versions", draft),
        url("portal-documents", draft),
        url("portal-review", draft),
    ):
        assert other.get(path).status_code == 404, path
    for path, data in (
        (url("portal-listing", draft), facts_data()),
        (url("portal-submit", draft), {}),
        (url("portal-offering-create", draft), offering_data("offering-new")),
        (url("portal-plan", draft, public_id=plan.public_id), {}),
        (url("portal-plan-active", draft, public_id=plan.public_id), {"active": "0"}),
        (url("portal-artifact-create", draft, public_id=version.public_id), {}),
        (url("portal-document-create", draft), {}),
        (url("portal-revision-create", draft), {}),
    ):
        assert other.post(path, data).status_code == 404, path
    assert draft.name not in text(other.get(url("vendor-listings")))

    provider = signed_in(st_mary.member)
    for path in (url("vendor-listings"), url("portal-listing", draft), url("portal-requests")):
        response = provider.get(path)
        assert response.status_code == 403, path
        assert "only vendors publish listings" in text(response)
    assert 'href="/organization/listings/"' not in provider.get(url("organization")).content.decode()

    anonymous = Client().get(url("portal-listing", draft))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    draft.refresh_from_db()
    assert draft.status == Listing.Status.DRAFT and Plan.objects.get().is_active


# --- the requests inbox ---------------------------------------------------------------------------


def test_the_inbox_lists_trial_and_quote_requests_and_answers_trials(
    radiant: Party, orbit: Party, st_mary: Party, northside: Party
) -> None:
    listing = trial_listing(radiant.organization)
    first = request_trial(st_mary.organization, listing, notes="For the stroke unit.")
    quote = request_quote(northside.organization, listing)
    second = request_trial(northside.organization, listing)
    elsewhere = request_trial(st_mary.organization, trial_listing(orbit.organization))

    client = signed_in(radiant.member)
    page = client.get(url("portal-requests"))
    html = assert_csp_clean(page)
    assert 'aria-current="page">Requests' in html
    order = re.findall(r'id="request-([0-9a-f-]{36})"', html)
    assert order == [str(second.public_id), str(quote.public_id), str(first.public_id)]  # newest first
    assert str(elsewhere.public_id) not in html
    assert "3 requests" in text(page) and "3 wait for your answer" in text(page)
    assert url("quote", public_id=quote.public_id) + "#issue" in html and "Issue a quote" in text(page)
    assert "For the stroke unit." in text(page)

    trials_only = client.get(url("portal-requests"), {"kind": "trial"}).content.decode()
    assert re.findall(r'id="request-([0-9a-f-]{36})"', trials_only) == [str(second.public_id), str(first.public_id)]
    quoted = client.get(url("portal-requests"), {"kind": "quote", "status": "quoted"})
    assert "No request matches." in text(quoted)
    waiting = client.get(url("portal-requests"), {"status": "waiting", "kind": "quote"}).content.decode()
    assert re.findall(r'id="request-([0-9a-f-]{36})"', waiting) == [str(quote.public_id)]
    nonsense = client.get(url("portal-requests"), {"kind": "x", "status": "y", "page": "z"})
    assert nonsense.status_code == 200 and "3 requests" in text(nonsense)
    read_only = signed_in(MembershipFactory(organization=radiant.organization, role="read_only").user)
    html = read_only.get(url("portal-requests")).content.decode()
    assert html.count('id="request-') == 3 and "/approve/" not in html and "/decline/" not in html
    assert read_only.post(url("portal-trial-approve", public_id=first.public_id)).status_code == 403
    partial = client.get(url("portal-requests"), {"kind": "trial"}, **HTMX)
    assert partial.status_code == 200 and 'id="requests-results"' in partial.content.decode()

    # Declining needs a reason: the error is next to it, in the inbox as it was filtered.
    decline = url("portal-trial-decline", public_id=first.public_id)
    prefix = f"decline-{first.public_id}"
    response = client.post(decline, {f"{prefix}-reason": " ", "kind": "trial"})
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error(html, f"id_{prefix}-reason") == "Say why, so the hospital knows what to do next."
    assert '<details class="decline" open>' in html and 'name="kind" value="trial"' in html
    response = client.post(decline, {f"{prefix}-reason": "We cannot serve this region yet.", "kind": "trial"})
    assert response.status_code == 302 and response["Location"] == url("portal-requests") + "?kind=trial"
    first.refresh_from_db()
    assert first.status == Trial.Status.DECLINED and first.decision_reason == "We cannot serve this region yet."

    response = client.post(url("portal-trial-approve", public_id=second.public_id))
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.status != Trial.Status.REQUESTED
    assert "is approved" in text(client.get(url("portal-requests")))
    # Deciding again is refused with the reason, not a 500.
    response = client.post(url("portal-trial-approve", public_id=first.public_id))
    assert response.status_code == 409 and "declined" in text(response)

    # Nobody else answers Radiant's requests.
    assert signed_in(orbit.member).post(url("portal-trial-approve", public_id=second.public_id)).status_code == 404
    assert signed_in(orbit.member).get(url("portal-requests")).content.decode().count('id="request-') == 1
    assert signed_in(st_mary.member).post(url("portal-trial-approve", public_id=elsewhere.public_id)).status_code == 403
    assert QuoteRequest.objects.get().status == QuoteRequest.Status.REQUESTED
