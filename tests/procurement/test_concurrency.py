"""Races on the real database: two provider admins' API clients accept one quote at the same
moment through real HTTP requests to a live server (exactly one wins; one order, one subscription,
one audit entry), and several customers review one app at once (no rating is lost). Runs only on
PostgreSQL (with the services), where requests really run in parallel."""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connections
from django.utils import timezone

from apps.catalog.models import Listing, Review
from apps.catalog.services import review_post
from apps.procurement import services
from apps.procurement.models import Order, QuoteRequest, Subscription
from marketplace.models import AuditEntry, Event
from marketplace.principal import Role
from tests.conftest import Party
from tests.factories import OrganizationFactory
from tests.procurement.factories import (
    REGION,
    approve,
    offering_of,
    plan_of,
    principal_of,
    request_trial,
    trial_listing,
)
from tests.procurement.subscription_helpers import accepted_terms

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (DATABASE_URL)"
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def _in_threads(count: int, work: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    """Run `work(index, barrier)` in `count` threads that pass a barrier together; return each
    thread's result (or the exception it raised). Every thread closes its database connections."""
    barrier = threading.Barrier(count, timeout=30)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            results[index] = work(index, barrier)
        except Exception as exc:  # reported to the test, not lost in the thread
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return results


def _http(base: str, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _token(base: str, party: Party, role: str = "admin") -> str:
    """A Bearer token from POST /o/token/ with the client credentials, the way integrators get one."""
    client, secret = party.clients[role]
    status, body = _http(
        base,
        "POST",
        "/o/token/",
        body=urlencode(
            {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
        ).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    return body["access_token"]


def _quoted(st_mary: Party, radiant: Party) -> QuoteRequest:
    listing = trial_listing(radiant.organization)
    quote_request = services.quote_request_create(
        provider=st_mary.organization,
        actor=principal_of(st_mary.organization),
        listing=listing,
        offering=offering_of(listing),
        plan=plan_of(listing),
        region=REGION,
        seats=10,
    )
    services.quote_issue(
        quote_request=quote_request,
        actor=principal_of(radiant.organization),
        line_items=[{"description": "Site license", "quantity": "1", "unit_price": "9000.00"}],
        currency="EUR",
        valid_until=timezone.now().date() + timedelta(days=30),
    )
    return quote_request


def test_two_concurrent_accepts_of_one_quote_make_one_order(live_server: Any, st_mary: Party, radiant: Party) -> None:
    quote_request = _quoted(st_mary, radiant)
    body = json.dumps(
        {"version": 1, "accepted_terms": accepted_terms(quote_request.listing), "purchase_order_number": "PO-RACE"}
    ).encode()
    tokens = [_token(live_server.url, st_mary), _token(live_server.url, st_mary)]
    path = f"/api/v1/quotes/{quote_request.public_id}/accept/"

    def accept(index: int, barrier: threading.Barrier) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {tokens[index]}", "Content-Type": "application/json"}
        barrier.wait()
        return _http(live_server.url, "POST", path, body=body, headers=headers)

    results = _in_threads(2, accept)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    won = next(body for status, body in results if status == 200)
    lost = next(body for status, body in results if status == 409)
    assert won["status"] == "accepted"
    assert lost["error"]["code"] == "already_accepted", lost

    order = Order.objects.get(quote_request=quote_request)
    assert won["order"]["id"] == str(order.public_id)
    assert Order.objects.filter(quote_request=quote_request).count() == 1
    assert Subscription.objects.filter(order__quote_request=quote_request).count() == 1
    assert Subscription.objects.count() == 1
    assert (
        AuditEntry.objects.filter(action="procurement.quote.accepted", object_id=str(quote_request.public_id)).count()
        == 1
    )
    assert Event.objects.filter(type="quote.accepted", subject_id=str(quote_request.public_id)).count() == 1
    assert Event.objects.filter(type="order.placed").count() == 1
    subscription = Subscription.objects.get()
    assert subscription.entitlements.count() == 1
    assert QuoteRequest.objects.get(pk=quote_request.pk).status == QuoteRequest.Status.ACCEPTED


def test_concurrent_reviews_from_several_customers_are_all_counted(radiant: Party) -> None:
    listing = trial_listing(radiant.organization)
    ratings = [5, 4, 4, 3, 1, 2]
    customers = [
        OrganizationFactory(name=f"Clinic {index}", slug=f"clinic-{index}", kind="provider")
        for index in range(len(ratings))
    ]
    for organization in customers:
        trial = approve(request_trial(organization, listing))  # autocommit: provisioning runs at once
        trial.refresh_from_db()
        assert trial.started_at is not None, trial.status

    def review(index: int, barrier: threading.Barrier) -> str:
        actor = principal_of(customers[index], Role.MEMBER)
        target = Listing.objects.get(pk=listing.pk)
        barrier.wait()
        return str(review_post(listing=target, actor=actor, rating=ratings[index]).public_id)

    results = _in_threads(len(ratings), review)
    assert not [r for r in results if isinstance(r, Exception)], results
    listing.refresh_from_db()
    expected = (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert Review.objects.filter(listing=listing).count() == len(ratings)
    assert listing.rating_count == len(ratings)
    assert listing.rating_average == expected
    assert Event.objects.filter(type="review.posted").count() == len(ratings)
