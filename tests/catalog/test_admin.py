"""The operator console: review actions run the same services as the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import Category, Listing, ListingRevision
from marketplace.models import AuditEntry, Event
from marketplace.principal import Principal, PrincipalKind, Role

pytestmark = pytest.mark.django_db


def _vendor_actor(party: Any) -> Principal:
    return Principal(
        kind=PrincipalKind.MEMBER,
        label=party.admin.email,
        organization=party.organization,
        role=Role.ADMIN,
        user=party.admin,
    )


def _listing_in_review(radiant: Any) -> Listing:
    radiant.organization.verified_at = timezone.now()
    radiant.organization.save()
    Category.objects.get_or_create(slug="radiology-ai", defaults={"name": "Radiology AI"})
    actor = _vendor_actor(radiant)
    listing = services.listing_create(
        vendor=radiant.organization,
        actor=actor,
        data={
            "name": "Stroke Alert",
            "tagline": "Flags large-vessel occlusions",
            "description": "CT angiography.",
            "intended_use": "Triage of adult CTA studies.",
            "categories": ["radiology-ai"],
        },
    )
    offering = services.offering_create(
        listing=listing, actor=actor, data={"mode": "cloud", "name": "EU", "regions": ["eu-central"]}
    )
    services.plan_create(offering=offering, actor=actor, data={"name": "Free", "pricing_model": "free"})
    return services.listing_submit(listing=listing, actor=actor)


@pytest.fixture
def console(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def test_the_review_queue_shows_the_checklist_and_publishes(console: Client, radiant: Any) -> None:
    listing = _listing_in_review(radiant)
    page = console.get("/operator/catalog/listing/?status__exact=in_review")
    assert page.status_code == 200 and b"Stroke Alert" in page.content and b"Offering with a plan" in page.content
    response = console.post(
        "/operator/catalog/listing/", {"action": "approve", "_selected_action": [listing.pk]}, follow=True
    )
    assert response.status_code == 200
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED
    assert AuditEntry.objects.filter(action="catalog.listing.published", actor_kind="operator").count() == 1
    assert Event.objects.filter(type="listing.published").count() == 1


def test_request_changes_asks_for_a_reason_first(console: Client, radiant: Any) -> None:
    listing = _listing_in_review(radiant)
    form = console.post("/operator/catalog/listing/", {"action": "request_changes", "_selected_action": [listing.pk]})
    assert form.status_code == 200 and b"Reason" in form.content
    listing.refresh_from_db()
    assert listing.status == Listing.Status.IN_REVIEW
    console.post(
        "/operator/catalog/listing/",
        {
            "action": "request_changes",
            "_selected_action": [listing.pk],
            "confirm": "yes",
            "reason": "Add the instructions for use.",
        },
    )
    listing.refresh_from_db()
    assert listing.status == Listing.Status.CHANGES_REQUESTED
    assert listing.review_reason == "Add the instructions for use."


def test_a_revision_shows_what_changes_and_is_approved(console: Client, radiant: Any, operator: Any) -> None:
    listing = _listing_in_review(radiant)
    from marketplace.principal import operator_principal

    services.listing_approve(listing=listing, actor=operator_principal(operator))
    revision = services.revision_create(
        listing=listing, actor=_vendor_actor(radiant), data={"tagline": "Flags LVO in minutes"}
    )
    services.revision_submit(revision=revision, actor=_vendor_actor(radiant))
    page = console.get(f"/operator/catalog/listingrevision/{revision.pk}/change/")
    assert b"Flags large-vessel occlusions" in page.content and b"Flags LVO in minutes" in page.content
    console.post("/operator/catalog/listingrevision/", {"action": "approve", "_selected_action": [revision.pk]})
    listing.refresh_from_db()
    assert listing.tagline == "Flags LVO in minutes"
    assert ListingRevision.objects.get(pk=revision.pk).status == ListingRevision.Status.APPROVED


@pytest.mark.usefixtures("media_root")
def test_a_revision_shows_the_proposed_logo_and_screenshots_as_pictures(
    console: Client, radiant: Any, operator: Any
) -> None:
    from marketplace.principal import operator_principal
    from tests.catalog.factories import png_bytes, upload

    listing = _listing_in_review(radiant)
    services.listing_approve(listing=listing, actor=operator_principal(operator))
    revision = services.revision_create(listing=listing, actor=_vendor_actor(radiant), data={})
    services.revision_set_logo(
        revision=revision, actor=_vendor_actor(radiant), upload=upload("new-logo.png", png_bytes(), "image/png")
    )
    services.revision_screenshot_add(
        revision=revision,
        actor=_vendor_actor(radiant),
        caption="<b>Worklist</b>",
        upload=upload("worklist.png", png_bytes(), "image/png"),
    )
    services.revision_submit(revision=revision, actor=_vendor_actor(radiant))
    page = console.get(f"/operator/catalog/listingrevision/{revision.pk}/change/").content.decode()
    assert re.search(r'<img src="/media/listings/logos/\w+/new-logo.png"', page)
    assert 'alt="&lt;b&gt;Worklist&lt;/b&gt;"' in page and "<b>Worklist</b>" not in page  # escaped
    assert re.search(r'<img src="/media/listings/screenshots/\w+/worklist.png"', page)


def test_the_listing_page_is_read_only_for_operators(console: Client, radiant: Any) -> None:
    listing = _listing_in_review(radiant)
    page = console.get(f"/operator/catalog/listing/{listing.pk}/change/")
    assert page.status_code == 200 and b"Stroke Alert" in page.content
    console.post(f"/operator/catalog/listing/{listing.pk}/change/", {"name": "Hijacked"})
    listing.refresh_from_db()
    assert listing.name == "Stroke Alert"
