"""While operators review a listing, what they review holds still: its offerings, plans,
versions, artifacts, documents, screenshots and logo cannot change (409 in_review, nothing
written). Before the submission and after a decision (changes requested) the vendor changes them
freely."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from apps.catalog import services
from apps.catalog.models import Artifact, Document, Listing, Offering, Plan, Screenshot, Version
from marketplace.errors import Conflict
from marketplace.principal import Role
from tests.catalog.factories import (
    PDF_BYTES,
    VersionFactory,
    add_document,
    an_operator,
    png_bytes,
    ready_listing,
    upload,
    vendor_principal,
    verify,
)
from tests.conftest import Party, assert_error
from tests.storefront.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_review(radiant: Party) -> Listing:
    listing = ready_listing(verify(radiant.organization), slug="stroke-alert")
    VersionFactory(listing=listing, version="1.0.0")
    add_document(listing)
    return services.listing_submit(listing=listing, actor=vendor_principal(radiant.organization, Role.MEMBER))


def offering_of(listing: Listing) -> Offering:
    return listing.offerings.get()


def base(listing: Listing) -> str:
    return f"/api/v1/apps/{listing.slug}"


Change = Callable[[Any, Listing], Any]

CHANGES: dict[str, Change] = {
    "add an offering": lambda api, listing: api.post(
        f"{base(listing)}/offerings/",
        {"mode": "cloud", "name": "EU cloud", "regions": ["eu-central"]},
        format="json",
    ),
    "change an offering": lambda api, listing: api.patch(
        f"{base(listing)}/offerings/{offering_of(listing).public_id}/", {"name": "Renamed"}, format="json"
    ),
    "deactivate an offering": lambda api, listing: api.patch(
        f"{base(listing)}/offerings/{offering_of(listing).public_id}/", {"is_active": False}, format="json"
    ),
    "add a plan": lambda api, listing: api.post(
        f"{base(listing)}/plans/",
        {"offering": str(offering_of(listing).public_id), "name": "Free", "pricing_model": "free"},
        format="json",
    ),
    "change a plan": lambda api, listing: api.patch(
        f"{base(listing)}/plans/{offering_of(listing).plans.get().public_id}/", {"name": "Renamed"}, format="json"
    ),
    "add a version": lambda api, listing: api.post(
        f"{base(listing)}/versions/", {"version": "2.0.0", "release_notes": "Faster."}, format="json"
    ),
    "add an artifact": lambda api, listing: api.post(
        f"{base(listing)}/versions/{listing.versions.get().public_id}/artifacts/",
        {"kind": "manual", "file": upload("manual.pdf", PDF_BYTES, "application/pdf")},
        format="multipart",
    ),
    "add a document": lambda api, listing: api.post(
        f"{base(listing)}/documents/",
        {"kind": "ifu", "visibility": "public", "file": upload("ifu-2.pdf", PDF_BYTES, "application/pdf")},
        format="multipart",
    ),
    "remove a document": lambda api, listing: api.delete(
        f"{base(listing)}/documents/{listing.documents.get().public_id}/"
    ),
    "upload the logo": lambda api, listing: api.post(
        f"{base(listing)}/logo/", {"file": upload("logo.png", png_bytes(), "image/png")}, format="multipart"
    ),
}


def snapshot(listing: Listing) -> tuple[Any, ...]:
    listing.refresh_from_db()
    return (
        list(Offering.objects.filter(listing=listing).values_list("name", "is_active")),
        list(Plan.objects.filter(offering__listing=listing).values_list("name", "is_active")),
        list(Version.objects.filter(listing=listing).values_list("version", flat=True)),
        Artifact.objects.filter(version__listing=listing).count(),
        list(Document.objects.filter(listing=listing).values_list("filename", flat=True)),
        Screenshot.objects.filter(listing=listing).count(),
        listing.logo.name,
    )


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_nothing_changes_while_the_listing_is_reviewed(radiant: Party, in_review: Listing, change: str) -> None:
    before = snapshot(in_review)
    response = CHANGES[change](radiant.api("admin"), in_review)
    error = assert_error(response, 409, code="in_review")
    assert "being reviewed" in error["message"]
    assert snapshot(in_review) == before


@pytest.mark.parametrize("change", ["add an offering", "add a version", "add a document", "upload the logo"])
def test_after_changes_are_requested_the_vendor_changes_it_again(
    radiant: Party, in_review: Listing, change: str
) -> None:
    services.listing_request_changes(listing=in_review, actor=an_operator(), reason="Add the IFU in German.")
    response = CHANGES[change](radiant.api("admin"), in_review)
    assert response.status_code in (200, 201), response.content


def test_screenshots_wait_for_the_review_too(radiant: Party, in_review: Listing) -> None:
    """The store's portal adds screenshots (there is no API for them): the service refuses."""
    with pytest.raises(Conflict) as refused:
        services.screenshot_add(
            listing=in_review,
            actor=vendor_principal(radiant.organization),
            caption="Worklist",
            upload=upload("shot.png", png_bytes(), "image/png"),
        )
    assert refused.value.code == "in_review"
    assert not Screenshot.objects.filter(listing=in_review).exists()


def test_the_vendor_portal_offers_no_change_during_the_review(radiant: Party, in_review: Listing) -> None:
    client = signed_in(radiant.admin)
    pages = {
        name: reverse(f"storefront:{name}", kwargs={"slug": in_review.slug})
        for name in ("portal-offerings", "portal-versions", "portal-documents")
    }
    # The same pages offer them once changes are requested (so the checks below can fail).
    services.listing_request_changes(listing=in_review, actor=an_operator(), reason="Add the IFU in German.")
    assert "Add an offering" in client.get(pages["portal-offerings"]).content.decode()
    assert "Upload the logo" in client.get(pages["portal-documents"]).content.decode()
    in_review = services.listing_submit(listing=in_review, actor=vendor_principal(radiant.organization, Role.MEMBER))

    offerings = client.get(pages["portal-offerings"]).content.decode()
    assert "Add an offering" not in offerings and "Add a plan" not in offerings
    assert "Add the version" not in client.get(pages["portal-versions"]).content.decode()
    documents = client.get(pages["portal-documents"]).content.decode()
    for label in ("Upload the document", "Upload the logo", "Upload the screenshot", "portal-document-remove"):
        assert label not in documents
    # A form posted anyway (an old tab) is refused with the reason, nothing written.
    response = client.post(
        reverse("storefront:portal-version-create", kwargs={"slug": in_review.slug}),
        {"version-version": "2.0.0", "version-release_notes": "x", "version-released_on": "2026-11-01"},
    )
    assert response.status_code in (400, 409) and "being reviewed" in response.content.decode()
    assert list(in_review.versions.values_list("version", flat=True)) == ["1.0.0"]
