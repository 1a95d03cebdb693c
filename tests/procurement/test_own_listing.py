"""An organization that is both vendor and provider cannot trial, quote or buy its own app (the
store shows it no such button; the API refuses with 400 naming `listing`), and nothing is
written. Other vendors' apps it may buy like any provider."""

from __future__ import annotations

from typing import Any

import pytest

from apps.organizations.models import Organization
from apps.procurement.models import Order, QuoteRequest, Trial
from tests.conftest import Party, _party, assert_error
from tests.factories import OrganizationFactory
from tests.procurement.buying import ORDERS, QUOTES, order_payload, quote_payload
from tests.procurement.factories import trial_listing, trial_payload

pytestmark = pytest.mark.django_db
TRIALS = "/api/v1/trials/"


@pytest.fixture
def both(db: None) -> Party:
    organization = OrganizationFactory(name="Helix Health", slug="helix-health", kind=Organization.Kind.BOTH)
    return _party(organization)


@pytest.mark.parametrize(
    ("path", "payload", "role"),
    [(TRIALS, trial_payload, "member"), (QUOTES, quote_payload, "member"), (ORDERS, order_payload, "admin")],
    ids=["trial", "quote", "order"],
)
def test_an_organization_cannot_trial_quote_or_buy_its_own_app(both: Party, path: str, payload: Any, role: str) -> None:
    listing = trial_listing(both.organization)
    response = both.api(role).post(path, payload(listing), format="json")
    error = assert_error(response, 400, code="own_listing", field="listing")
    assert "own app" in error["message"]
    assert not Trial.objects.exists() and not QuoteRequest.objects.exists() and not Order.objects.exists()


def test_it_may_trial_another_vendors_app(both: Party, radiant: Party) -> None:
    listing = trial_listing(radiant.organization)
    response = both.api("member").post(TRIALS, trial_payload(listing), format="json")
    assert response.status_code == 201, response.content
