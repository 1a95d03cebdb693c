"""A vendor's figures per listing and day, at /api/v1/analytics/listings/: views counted without
personal data, trial requests, subscriptions, conversions, active deployments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.analytics.models import ListingViewDay
from tests.conftest import assert_error
from tests.procurement.factories import approve, request_trial, trial_listing

pytestmark = pytest.mark.django_db
URL = "/api/v1/analytics/listings/"


def _today(body: dict[str, Any], slug: str) -> dict[str, Any]:
    [entry] = [item for item in body["results"] if item["listing"] == slug]
    return entry["series"][-1]


def test_views_are_counted_per_day_without_personal_data(
    st_mary: Any, radiant: Any, anonymous_api: Any, operator_api: Any
) -> None:
    listing = trial_listing(radiant.organization)
    for client in (anonymous_api, st_mary.api("member"), st_mary.api("member")):
        assert client.get(f"/api/v1/apps/{listing.slug}/").status_code == 200
    radiant.api("member").get(f"/api/v1/apps/{listing.slug}/")  # the vendor's own look is not a view
    operator_api.get(f"/api/v1/apps/{listing.slug}/")  # nor an operator's
    row = ListingViewDay.objects.get(listing=listing)
    assert row.views == 3 and row.day == timezone.now().date()
    # Only a count: the model has no field for who looked.
    assert {f.name for f in ListingViewDay._meta.get_fields()} == {"id", "listing", "day", "views"}
    body = radiant.api("member").get(URL).json()
    assert _today(body, listing.slug)["views"] == 3


def test_trial_requests_conversions_and_active_deployments(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = trial_listing(radiant.organization)
    with django_capture_on_commit_callbacks(execute=True):
        approve(request_trial(st_mary.organization, listing))
    body = radiant.api("client:read_only").get(URL, {"listing": listing.slug}).json()
    point = _today(body, listing.slug)
    assert point["trial_requests"] == 1 and point["active_deployments"] == 1
    assert body["results"][0]["totals"]["trial_requests"] == 1
    assert len(body["results"][0]["series"]) == 30  # the default range: 30 days up to today


def test_who_may_read_and_bad_ranges(st_mary: Any, radiant: Any, northside: Any, anonymous_api: Any) -> None:
    trial_listing(radiant.organization)
    assert anonymous_api.get(URL).status_code == 401
    assert_error(st_mary.api("member").get(URL), 403, code="not_a_vendor")
    today = timezone.now().date()
    bad = radiant.api("member").get(URL, {"start": today.isoformat(), "end": (today - timedelta(days=1)).isoformat()})
    assert_error(bad, 400, code="validation_error", field="start")
    too_long = radiant.api("member").get(URL, {"start": (today - timedelta(days=400)).isoformat()})
    assert_error(too_long, 400, code="validation_error", field="start")
    assert_error(radiant.api("member").get(URL, {"end": "yesterday"}), 400, code="validation_error", field="end")


def test_a_vendor_sees_only_its_own_listings(radiant: Any, orbit_vendor: Any) -> None:
    mine = trial_listing(radiant.organization)
    theirs = trial_listing(orbit_vendor.organization)
    slugs = [item["listing"] for item in radiant.api("member").get(URL).json()["results"]]
    assert mine.slug in slugs and theirs.slug not in slugs
    asked = radiant.api("member").get(URL, {"listing": theirs.slug}).json()["results"]
    assert asked == []


@pytest.fixture
def orbit_vendor(db: None) -> Any:
    from tests.conftest import _party
    from tests.factories import VendorFactory

    return _party(VendorFactory(name="Orbit Health", slug="orbit-health"))
