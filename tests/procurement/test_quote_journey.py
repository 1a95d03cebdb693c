"""The buying journey through the API: request a quote, the vendor issues two versions, the
provider admin accepts the current one; an order, a subscription, an entitlement with a signed
license and a deployment follow, and the subscription becomes active with the deployment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.procurement.models import Order, QuoteRequest, Subscription
from apps.provisioning.models import Deployment
from marketplace.models import AuditEntry, Event
from tests.procurement.factories import REGION, offering_of, plan_of, trial_listing

pytestmark = pytest.mark.django_db


def _terms(client: Any, listing: Any) -> list[dict[str, str]]:
    body = client.get(f"/api/v1/apps/{listing.slug}/").json()
    return [{"kind": term["kind"], "version": term["version"]} for term in body["terms"]]


def _issue(client: Any, quote_id: str, *, price: str = "1000.00", days: int = 30) -> Any:
    return client.post(
        f"/api/v1/quotes/{quote_id}/issue/",
        {
            "line_items": [
                {"description": "Site license", "quantity": "2", "unit_price": price},
                {"description": "Onboarding", "quantity": "1", "unit_price": "500.50"},
            ],
            "currency": "EUR",
            "valid_until": (timezone.now().date() + timedelta(days=days)).isoformat(),
            "term_months": 12,
            "terms": "Net 30.",
        },
        format="json",
    )


def test_quote_to_active_subscription(st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any) -> None:
    listing = trial_listing(radiant.organization)
    provider, vendor = st_mary.api("admin"), radiant.api("member")
    response = provider.post(
        "/api/v1/quotes/",
        {
            "listing": listing.slug,
            "offering": str(offering_of(listing).public_id),
            "plan": str(plan_of(listing).public_id),
            "region": REGION,
            "seats": 25,
            "studies_per_month": 4000,
            "notes": "Two campuses.",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    quote_id = response.json()["id"]
    assert response.json()["status"] == "requested"

    first = _issue(vendor, quote_id)
    assert first.status_code == 200, first.content
    assert first.json()["current_version"]["total"] == "2500.50"
    second = _issue(vendor, quote_id, price="900.00")
    body = second.json()
    assert body["status"] == "quoted" and [v["version"] for v in body["versions"]] == [2, 1]
    assert body["current_version"]["total"] == "2300.50"

    stale = provider.post(
        f"/api/v1/quotes/{quote_id}/accept/", {"version": 1, "accepted_terms": _terms(provider, listing)}, format="json"
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "quote_superseded"
    missing_terms = provider.post(f"/api/v1/quotes/{quote_id}/accept/", {"version": 2}, format="json")
    assert missing_terms.status_code == 400 and "accepted_terms" in missing_terms.json()["error"]["fields"]

    with django_capture_on_commit_callbacks(execute=True):
        accepted = provider.post(
            f"/api/v1/quotes/{quote_id}/accept/",
            {"version": 2, "accepted_terms": _terms(provider, listing), "purchase_order_number": "PO-2026-0042"},
            format="json",
        )
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    order = Order.objects.get(public_id=accepted.json()["order"]["id"])
    assert order.purchase_order_number == "PO-2026-0042" and order.total == order.quote.total
    assert [t["kind"] for t in order.accepted_terms] == ["eula", "dpa"]
    subscription = Subscription.objects.get(order=order)
    assert subscription.status == "active"
    order.refresh_from_db()
    assert order.status == "fulfilled"
    entitlement = subscription.entitlements.get()
    assert entitlement.deployment.status == Deployment.Status.ACTIVE
    assert entitlement.seats == 25 and entitlement.licenses.count() == 1

    again = provider.post(
        f"/api/v1/quotes/{quote_id}/accept/", {"accepted_terms": _terms(provider, listing)}, format="json"
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_accepted"

    types = set(Event.objects.values_list("type", flat=True))
    for expected in ("quote.requested", "quote.issued", "quote.accepted", "order.placed", "order.fulfilled",
                     "subscription.pending_fulfillment", "subscription.active", "license.issued"):
        assert expected in types, expected
    assert AuditEntry.objects.filter(action="procurement.quote.issued").count() == 2

    license_id = provider.get(f"/api/v1/subscriptions/{subscription.public_id}/").json()["entitlements"][0]["license"]
    lic = provider.get(f"/api/v1/licenses/{license_id}/").json()
    assert lic["status"] == "valid" and lic["token"].count(".") == 2

    with django_capture_on_commit_callbacks(execute=True):
        cancelled = provider.post(
            f"/api/v1/subscriptions/{subscription.public_id}/cancel/", {"reason": "Budget cut."}, format="json"
        )
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    assert Deployment.objects.get(pk=entitlement.deployment_id).status == Deployment.Status.DEPROVISIONED
    revoked = provider.get("/api/v1/licensing/revocations/").json()
    assert license_id in revoked["revoked"]
    assert QuoteRequest.objects.get(public_id=quote_id).status == "accepted"
