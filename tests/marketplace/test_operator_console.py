"""Every page of the operator console renders for an operator, with real rows in it, and the
procurement actions run the services (audited as the operator)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client

from apps.procurement.models import License, Subscription
from marketplace.admin import OperatorConsoleMixin
from marketplace.models import AuditEntry
from tests.procurement.factories import REGION, offering_of, plan_of, trial_listing
from tests.procurement.test_quote_journey import _issue, _terms

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def _bought(st_mary: Any, radiant: Any, capture: Any) -> Subscription:
    listing = trial_listing(radiant.organization)
    provider = st_mary.api("admin")
    quote = provider.post(
        "/api/v1/quotes/",
        {
            "listing": listing.slug,
            "offering": str(offering_of(listing).public_id),
            "plan": str(plan_of(listing).public_id),
            "region": REGION,
        },
        format="json",
    ).json()["id"]
    _issue(radiant.api("member"), quote)
    with capture(execute=True):
        provider.post(f"/api/v1/quotes/{quote}/accept/", {"accepted_terms": _terms(provider, listing)}, format="json")
    return Subscription.objects.get()


def test_every_console_page_renders(
    console: Client, st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _bought(st_mary, radiant, django_capture_on_commit_callbacks)
    consoles = {m: a for m, a in admin.site._registry.items() if isinstance(a, OperatorConsoleMixin)}
    assert len(consoles) >= 12
    for model, model_admin in consoles.items():
        meta = model._meta
        changelist = console.get(f"/operator/{meta.app_label}/{meta.model_name}/")
        assert changelist.status_code == 200, (meta.label, changelist.status_code)
        first = model_admin.get_queryset(changelist.wsgi_request).first()
        if first is not None:
            page = console.get(f"/operator/{meta.app_label}/{meta.model_name}/{first.pk}/change/")
            assert page.status_code == 200, (meta.label, "change", page.status_code)
            assert b"private_key_encrypted" not in page.content and b"credential_hash" not in page.content


def test_operators_suspend_and_cancel_subscriptions_and_revoke_licenses(
    console: Client, st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _bought(st_mary, radiant, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        console.post(
            "/operator/procurement/subscription/", {"action": "suspend", "_selected_action": [subscription.pk]}
        )
    subscription.refresh_from_db()
    assert subscription.status == "suspended"
    license = License.objects.get(entitlement__subscription=subscription)
    console.post("/operator/procurement/license/", {"action": "revoke", "_selected_action": [license.pk]})
    license.refresh_from_db()
    assert license.revoked_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        console.post("/operator/procurement/subscription/", {"action": "cancel", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    assert AuditEntry.objects.filter(action="procurement.subscription.cancelled", actor_kind="operator").exists()
