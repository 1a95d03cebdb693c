"""Business limits: trial requests, quote requests and invitations per organization and day;
failed site-agent enrollments per address and site and hour. Over a limit: 429 + Retry-After in
the one error shape, nothing written. 0 switches a limit off (the benchmarks' exemption)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.organizations.models import Invitation
from apps.procurement.models import QuoteRequest, Trial
from apps.provisioning.onprem import enrollment_token_create
from tests.conftest import assert_error
from tests.factories import SiteFactory
from tests.procurement.factories import REGION, offering_of, plan_of, trial_listing, trial_payload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _limits(settings: Any, **values: int) -> None:
    settings.MARKETPLACE_LIMITS = {**settings.MARKETPLACE_LIMITS, **values}


def test_trial_requests_per_day(st_mary: Any, radiant: Any, settings: Any) -> None:
    _limits(settings, trial_requests_per_day=2)
    api = st_mary.api("member")
    for slug in ("one", "two"):
        assert (
            api.post(
                "/api/v1/trials/", trial_payload(trial_listing(radiant.organization, slug=slug)), format="json"
            ).status_code
            == 201
        )
    third = api.post("/api/v1/trials/", trial_payload(trial_listing(radiant.organization, slug="three")), format="json")
    error = assert_error(third, 429, code="limit_exceeded")
    assert 0 < int(third["Retry-After"]) <= 86400 and error["retry_after_seconds"] == int(third["Retry-After"])
    assert Trial.objects.count() == 2
    _limits(settings, trial_requests_per_day=0)  # off
    assert (
        api.post(
            "/api/v1/trials/", trial_payload(trial_listing(radiant.organization, slug="three")), format="json"
        ).status_code
        == 201
    )


def test_quote_requests_per_day(st_mary: Any, radiant: Any, settings: Any) -> None:
    _limits(settings, quote_requests_per_day=1)
    listing = trial_listing(radiant.organization)
    body = {
        "listing": listing.slug,
        "offering": str(offering_of(listing).public_id),
        "plan": str(plan_of(listing).public_id),
        "region": REGION,
    }
    assert st_mary.api("member").post("/api/v1/quotes/", body, format="json").status_code == 201
    assert_error(st_mary.api("member").post("/api/v1/quotes/", body, format="json"), 429, code="limit_exceeded")
    assert QuoteRequest.objects.count() == 1


def test_invitations_per_day(st_mary: Any, settings: Any) -> None:
    _limits(settings, invitations_per_day=1)
    url = f"/api/v1/organizations/{st_mary.organization.slug}/invitations/"
    assert st_mary.api("admin").post(url, {"email": "a@example.org"}, format="json").status_code == 201
    assert_error(st_mary.api("admin").post(url, {"email": "b@example.org"}, format="json"), 429, code="limit_exceeded")
    assert Invitation.objects.filter(organization=st_mary.organization).count() == 1


def test_failed_enrollments_per_address_and_site(st_mary: Any, settings: Any) -> None:
    _limits(settings, failed_enrollments_per_hour=3)
    api = APIClient()
    for _ in range(3):
        assert_error(
            api.post("/api/v1/agent/enroll/", {"token": "met_wrong", "name": "x"}, format="json"),
            403,
            code="invalid_enrollment_token",
        )
    # The address is now blocked, even with a valid token.
    site = SiteFactory(organization=st_mary.organization)
    _token, raw = enrollment_token_create(site=site, created_by="test")
    blocked = api.post("/api/v1/agent/enroll/", {"token": raw, "name": "x"}, format="json")
    assert_error(blocked, 429, code="limit_exceeded")
    assert int(blocked["Retry-After"]) > 0
    # Another address (a proxy-free test client sends REMOTE_ADDR) enrolls with it.
    other = APIClient(REMOTE_ADDR="10.9.8.7")
    assert other.post("/api/v1/agent/enroll/", {"token": raw, "name": "x"}, format="json").status_code == 201
    # Reusing a site's used token counts against that site too.
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        APIClient(REMOTE_ADDR=address).post("/api/v1/agent/enroll/", {"token": raw, "name": "x"}, format="json")
    _token2, raw2 = enrollment_token_create(site=site, created_by="test")
    assert_error(
        APIClient(REMOTE_ADDR="10.0.0.9").post("/api/v1/agent/enroll/", {"token": raw2, "name": "x"}, format="json"),
        429,
        code="limit_exceeded",
    )
