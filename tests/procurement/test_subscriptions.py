"""Subscriptions through every path of their state machine: pending_fulfillment -> active when
every deployment is (the order is fulfilled with it), active <-> suspended (the vendor's admins,
with a reason; deployments and the backend follow), -> cancelled (the provider's admins or an
operator; deployments removed, licenses revoked, an unfulfilled order cancelled), and the
beat's sweep at term end: renewal (with catch-up) or expiry. Each transition is checked for its
state, audit entry, event and mails; invalid ones answer 409, other organizations 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from apps.procurement.models import License, Order, Subscription
from apps.procurement.services import subscriptions_sweep
from apps.procurement.services.common import add_months
from apps.provisioning.models import Deployment, SandboxCall
from marketplace.models import AuditEntry, Event, OutboxMessage, OutgoingEmail
from tests.conftest import Party, assert_error
from tests.procurement.factories import REGION, offering_of, plan_of, trial_listing
from tests.procurement.subscription_helpers import (
    accepted_terms,
    buy,
    deployments_of,
    emails_of,
    on_premise_listing,
    recipients,
    run,
    sites_of,
)

pytestmark = pytest.mark.django_db
D = Deployment.Status


def _url(subscription: Subscription, verb: str = "") -> str:
    return f"/api/v1/subscriptions/{subscription.public_id}/" + (f"{verb}/" if verb else "")


def _audits(subscription: Subscription, state: str) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(object_id=str(subscription.public_id), action=f"procurement.subscription.{state}")
    )


def _events(subscription: Subscription, state: str) -> list[Event]:
    return list(Event.objects.filter(subject_id=str(subscription.public_id), type=f"subscription.{state}"))


def _assert_recorded(subscription: Subscription, state: str, *, provider: Party, vendor: Party, count: int = 1) -> None:
    """`count` audit entries and events for entering `state`, both naming both parties."""
    audits, events = _audits(subscription, state), _events(subscription, state)
    assert len(audits) == count, [a.action for a in audits]
    assert len(events) == count, [e.type for e in events]
    for entry in audits:
        assert entry.organization_id == provider.organization.pk
        assert entry.counterparty_id == vendor.organization.pk
    for event in events:
        assert event.organization_id == provider.organization.pk
        assert event.counterparty_id == vendor.organization.pk
        assert event.data["subscription"] == str(subscription.public_id)


def _active(st_mary: Party, radiant: Party, capture: Any) -> Subscription:
    subscription = buy(st_mary.organization, trial_listing(radiant.organization), capture=capture)
    assert subscription.status == Subscription.Status.ACTIVE
    mail.outbox.clear()
    return subscription


def _licenses(subscription: Subscription) -> list[License]:
    return list(License.objects.filter(entitlement__subscription=subscription))


# --- pending_fulfillment -> active ----------------------------------------------------------------


def test_a_cloud_subscription_becomes_active_with_its_deployment_and_fulfills_the_order(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = buy(st_mary.organization, trial_listing(radiant.organization))
    assert subscription.status == Subscription.Status.PENDING_FULFILLMENT
    assert subscription.order.status == Order.Status.PLACED
    _assert_recorded(subscription, "pending_fulfillment", provider=st_mary, vendor=radiant)
    placed_mails = OutgoingEmail.objects.filter(subject__startswith="Order placed").values_list("to", flat=True)
    assert set(placed_mails) == emails_of(st_mary, radiant)  # queued with the order, sent after commit
    [deployment] = deployments_of(subscription)
    assert deployment.status == D.PENDING and deployment.region == REGION

    run(deployment, django_capture_on_commit_callbacks)
    subscription.refresh_from_db()
    assert deployment.status == D.ACTIVE
    assert subscription.status == Subscription.Status.ACTIVE and subscription.activated_at is not None
    order = Order.objects.get(pk=subscription.order_id)
    assert order.status == Order.Status.FULFILLED and order.fulfilled_at is not None
    _assert_recorded(subscription, "active", provider=st_mary, vendor=radiant)
    [audit] = _audits(subscription, "active")
    assert audit.actor_kind == "system"
    assert Event.objects.filter(subject_id=str(order.public_id), type="order.fulfilled").count() == 1
    assert AuditEntry.objects.filter(object_id=str(order.public_id), action="procurement.order.fulfilled").count() == 1
    assert recipients("is ready") == emails_of(st_mary)

    body = st_mary.api("member").get(_url(subscription)).json()
    assert body["status"] == "active" and body["order"] == str(order.public_id)
    assert st_mary.api("member").get(f"/api/v1/orders/{order.public_id}/").json()["status"] == "fulfilled"


def test_an_on_premise_subscription_for_two_sites_is_active_only_when_both_deployments_are(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    listing = on_premise_listing(radiant.organization)
    sites = sites_of(st_mary.organization, 2)
    response = st_mary.api("admin").post(
        "/api/v1/orders/",
        {
            "listing": listing.slug,
            "offering": str(offering_of(listing).public_id),
            "plan": str(plan_of(listing).public_id),
            "sites": [str(site.public_id) for site in sites],
            "accepted_terms": accepted_terms(listing),
            "purchase_order_number": "PO-77",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    order = Order.objects.get(public_id=response.json()["id"])
    assert order.status == Order.Status.PLACED
    subscription = Subscription.objects.get(order=order)
    assert subscription.status == Subscription.Status.PENDING_FULFILLMENT
    entitlements = st_mary.api().get(_url(subscription)).json()["entitlements"]
    assert sorted(e["site"] for e in entitlements) == sorted(str(site.public_id) for site in sites)
    first, second = deployments_of(subscription)
    assert {first.site_id, second.site_id} == {site.pk for site in sites}

    assert run(first, django_capture_on_commit_callbacks).status == D.ACTIVE
    subscription.refresh_from_db()
    order.refresh_from_db()
    assert subscription.status == Subscription.Status.PENDING_FULFILLMENT  # one site of two
    assert order.status == Order.Status.PLACED
    assert _events(subscription, "active") == [] and recipients("is ready") == set()

    assert run(second, django_capture_on_commit_callbacks).status == D.ACTIVE
    subscription.refresh_from_db()
    order.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert order.status == Order.Status.FULFILLED
    _assert_recorded(subscription, "active", provider=st_mary, vendor=radiant)
    assert recipients("is ready") == emails_of(st_mary)


# --- active <-> suspended ---------------------------------------------------------------------------


def test_the_vendor_admin_suspends_with_a_reason_and_the_deployment_and_backend_follow(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    [deployment] = deployments_of(subscription)
    vendor = radiant.api("admin")

    assert_error(vendor.post(_url(subscription, "suspend"), {}, format="json"), 400, field="reason")
    assert_error(vendor.post(_url(subscription, "suspend"), {"reason": "  "}, format="json"), 400, field="reason")
    for api in (radiant.api("member"), radiant.api("client:member"), st_mary.api("admin")):
        assert_error(api.post(_url(subscription, "suspend"), {"reason": "Unpaid."}, format="json"), 403)
    assert Subscription.objects.get(pk=subscription.pk).status == Subscription.Status.ACTIVE

    with django_capture_on_commit_callbacks(execute=True):
        response = vendor.post(_url(subscription, "suspend"), {"reason": "Invoice 2026-17 unpaid."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "suspended" and response.json()["reason"] == "Invoice 2026-17 unpaid."
    deployment.refresh_from_db()
    assert deployment.status == D.SUSPENDED
    assert SandboxCall.objects.filter(deployment=deployment, operation="suspend").count() == 1
    [call] = OutboxMessage.objects.filter(task_name="provisioning.backend_call")
    assert call.kwargs["operation"] == "suspend" and call.dispatched_at is not None
    _assert_recorded(subscription, "suspended", provider=st_mary, vendor=radiant)
    [audit] = _audits(subscription, "suspended")
    assert audit.actor_kind == "member" and radiant.admin.email in audit.actor_label, audit.actor_label
    assert "Invoice 2026-17 unpaid." in str(audit.new_values)
    assert Event.objects.filter(subject_id=str(deployment.public_id), type="deployment.suspended").count() == 1
    assert recipients("suspended") == emails_of(st_mary, radiant)

    again = vendor.post(_url(subscription, "suspend"), {"reason": "Still unpaid."}, format="json")
    assert again.status_code == 200 and again.json()["status"] == "suspended"  # already there: no second record
    assert len(_events(subscription, "suspended")) == 1

    mail.outbox.clear()
    assert_error(vendor.post(_url(subscription, "resume"), {}, format="json"), 400, field="reason")
    with django_capture_on_commit_callbacks(execute=True):
        resumed = vendor.post(_url(subscription, "resume"), {"reason": "Paid."}, format="json")
    assert resumed.status_code == 200, resumed.content
    assert resumed.json()["status"] == "active"
    deployment.refresh_from_db()
    assert deployment.status == D.ACTIVE
    assert SandboxCall.objects.filter(deployment=deployment, operation="resume").count() == 1
    _assert_recorded(subscription, "active", provider=st_mary, vendor=radiant, count=2)  # activation + resume
    assert recipients("resumed") == emails_of(st_mary, radiant)


def test_an_operator_suspends_and_resumes(
    st_mary: Party, radiant: Party, operator_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        suspended = operator_api.post(_url(subscription, "suspend"), {"reason": "Security review."}, format="json")
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    [audit] = _audits(subscription, "suspended")
    assert audit.actor_kind == "operator"
    with django_capture_on_commit_callbacks(execute=True):
        resumed = operator_api.post(_url(subscription, "resume"), {"reason": "Cleared."}, format="json")
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert [d.status for d in deployments_of(subscription)] == [D.ACTIVE]


# --- -> cancelled -----------------------------------------------------------------------------------


def _assert_ended(subscription: Subscription) -> None:
    """Deployments removed, every license revoked and published in the revocation list."""
    assert {d.status for d in deployments_of(subscription)} == {D.DEPROVISIONED}
    licenses = _licenses(subscription)
    assert licenses and all(lic.revoked_at is not None for lic in licenses)
    revoked = set(APIClient().get("/api/v1/licensing/revocations/").json()["revoked"])
    assert {str(lic.public_id) for lic in licenses} <= revoked
    for lic in licenses:
        assert Event.objects.filter(subject_id=str(lic.public_id), type="license.revoked").count() == 1


def test_the_provider_admin_cancels_an_active_subscription(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    for api in (st_mary.api("member"), st_mary.api("client:member"), radiant.api("admin")):
        assert_error(api.post(_url(subscription, "cancel"), {"reason": "Budget."}, format="json"), 403)
    assert_error(st_mary.api("admin").post(_url(subscription, "cancel"), {}, format="json"), 400, field="reason")

    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("client:admin").post(_url(subscription, "cancel"), {"reason": "Budget."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["ended_at"] is not None
    _assert_ended(subscription)
    assert Order.objects.get(pk=subscription.order_id).status == Order.Status.FULFILLED  # it was fulfilled
    _assert_recorded(subscription, "cancelled", provider=st_mary, vendor=radiant)
    assert recipients("cancelled") == emails_of(st_mary, radiant)


def test_cancelling_a_pending_subscription_cancels_its_unfulfilled_order(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = buy(st_mary.organization, trial_listing(radiant.organization))
    assert subscription.status == Subscription.Status.PENDING_FULFILLMENT
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(_url(subscription, "cancel"), {"reason": "Wrong plan."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    order = Order.objects.get(pk=subscription.order_id)
    assert order.status == Order.Status.CANCELLED and order.cancelled_at is not None
    assert Event.objects.filter(subject_id=str(order.public_id), type="order.cancelled").count() == 1
    assert AuditEntry.objects.filter(object_id=str(order.public_id), action="procurement.order.cancelled").count() == 1
    _assert_ended(subscription)
    _assert_recorded(subscription, "cancelled", provider=st_mary, vendor=radiant)
    assert _events(subscription, "active") == []


def test_an_operator_cancels_a_suspended_subscription(
    st_mary: Party, radiant: Party, operator_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        radiant.api("admin").post(_url(subscription, "suspend"), {"reason": "Unpaid."}, format="json")
    assert deployments_of(subscription)[0].status == D.SUSPENDED
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(_url(subscription, "cancel"), {"reason": "Contract ended."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    _assert_ended(subscription)
    [audit] = _audits(subscription, "cancelled")
    assert audit.actor_kind == "operator"
    assert recipients("cancelled") == emails_of(st_mary, radiant)


# --- invalid transitions and other organizations ---------------------------------------------------


def test_invalid_transitions_answer_409(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    vendor, provider = radiant.api("admin"), st_mary.api("admin")
    reason = {"reason": "Because."}
    pending = buy(st_mary.organization, trial_listing(radiant.organization))
    assert_error(vendor.post(_url(pending, "suspend"), reason, format="json"), 409, code="invalid_transition")
    # Resuming is for suspended subscriptions: it must not skip fulfillment.
    assert_error(vendor.post(_url(pending, "resume"), reason, format="json"), 409, code="invalid_transition")
    assert Subscription.objects.get(pk=pending.pk).status == Subscription.Status.PENDING_FULFILLMENT
    assert Order.objects.get(pk=pending.order_id).status == Order.Status.PLACED

    with django_capture_on_commit_callbacks(execute=True):
        assert provider.post(_url(pending, "cancel"), reason, format="json").status_code == 200
    for verb, api in (("suspend", vendor), ("resume", vendor)):
        error = assert_error(api.post(_url(pending, verb), reason, format="json"), 409, code="invalid_transition")
        assert "cancelled" in error["message"]

    expiring = buy(
        st_mary.organization,
        trial_listing(radiant.organization, slug="expiring-app"),
        capture=django_capture_on_commit_callbacks,
    )
    Subscription.objects.filter(pk=expiring.pk).update(auto_renew=False)
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions_sweep(now=expiring.current_period_end + timedelta(minutes=1))
    assert Subscription.objects.get(pk=expiring.pk).status == Subscription.Status.EXPIRED
    for verb, api in (("suspend", vendor), ("resume", vendor), ("cancel", provider)):
        assert_error(api.post(_url(expiring, verb), reason, format="json"), 409, code="invalid_transition")
    assert Subscription.objects.get(pk=expiring.pk).status == Subscription.Status.EXPIRED


def test_other_organizations_get_404(
    st_mary: Party, northside: Party, radiant: Party, orbit: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    for party in (northside, orbit):
        for who in ("admin", "client:admin"):
            api = party.api(who)
            assert_error(api.get(_url(subscription)), 404)
            assert api.get("/api/v1/subscriptions/").json()["count"] == 0
            for verb in ("suspend", "resume", "cancel"):
                assert_error(api.post(_url(subscription, verb), {"reason": "Mine now."}, format="json"), 404)
            assert_error(api.get(f"/api/v1/orders/{subscription.order.public_id}/"), 404)
    assert_error(northside.api().get(f"/api/v1/licenses/{_licenses(subscription)[0].public_id}/"), 404)
    assert Subscription.objects.get(pk=subscription.pk).status == Subscription.Status.ACTIVE
    for party in (st_mary, radiant):
        assert party.api("client:read_only").get(_url(subscription)).status_code == 200
    assert_error(
        st_mary.api("client:read_only").post(_url(subscription, "cancel"), {"reason": "x"}, format="json"), 403
    )


# --- the sweep: renewal and expiry ------------------------------------------------------------------


def test_the_sweep_renews_at_term_end_with_a_new_license(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    assert subscription.auto_renew and subscription.term_months == 1
    start, end = subscription.current_period_start, subscription.current_period_end
    [before] = _licenses(subscription)

    assert subscriptions_sweep(now=end - timedelta(seconds=1)) == {"renewed": 0, "expired": 0}
    with django_capture_on_commit_callbacks(execute=True):
        counts = subscriptions_sweep(now=end + timedelta(minutes=5))
    assert counts == {"renewed": 1, "expired": 0}
    subscription.refresh_from_db()
    new_end = add_months(end, 1)
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.current_period_start == end and subscription.current_period_end == new_end
    assert subscription.renewals == 1 and start < end
    [event] = _events(subscription, "renewed")
    assert event.data["current_period_end"] == new_end.isoformat()
    assert len(_audits(subscription, "renewed")) == 1
    entitlement = subscription.entitlements.get()
    assert entitlement.valid_until == new_end
    licenses = _licenses(subscription)
    assert len(licenses) == 2
    newest = max(licenses, key=lambda lic: lic.created_at)
    assert newest.pk != before.pk and newest.expires_at == new_end
    assert newest.claims["exp"] == int(new_end.timestamp())
    assert st_mary.api().get(_url(subscription)).json()["entitlements"][0]["license"] == str(newest.public_id)
    assert recipients("renewed") == emails_of(st_mary)

    assert subscriptions_sweep(now=end + timedelta(minutes=5)) == {"renewed": 0, "expired": 0}  # done once


def test_the_sweep_catches_up_when_several_terms_passed(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    anchor = subscription.order.accepted_at
    # Every end is counted from the first start, so a clamped short month does not drift.
    ends = [add_months(anchor, months) for months in (1, 2, 3, 4)]
    assert ends[0] == subscription.current_period_end
    now = ends[2] + timedelta(days=1)  # three terms ended: the current one and two more
    assert subscriptions_sweep(now=now) == {"renewed": 1, "expired": 0}
    subscription.refresh_from_db()
    assert subscription.renewals == 3
    assert subscription.current_period_end == ends[3] > now
    assert subscription.current_period_start == ends[2] <= now
    assert len(_events(subscription, "renewed")) == 3
    assert len(_licenses(subscription)) == 4
    assert subscription.status == Subscription.Status.ACTIVE


def test_the_sweep_expires_a_subscription_that_does_not_renew(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    Subscription.objects.filter(pk=subscription.pk).update(auto_renew=False)
    renewing = buy(  # another subscription, which renews
        st_mary.organization,
        trial_listing(radiant.organization, slug="renewing-app"),
        capture=django_capture_on_commit_callbacks,
    )
    mail.outbox.clear()
    end = subscription.current_period_end
    with django_capture_on_commit_callbacks(execute=True):
        counts = subscriptions_sweep(now=max(end, renewing.current_period_end) + timedelta(minutes=1))
    assert counts == {"renewed": 1, "expired": 1}
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.EXPIRED and subscription.ended_at is not None
    assert subscription.renewals == 0
    _assert_ended(subscription)
    _assert_recorded(subscription, "expired", provider=st_mary, vendor=radiant)
    [audit] = _audits(subscription, "expired")
    assert audit.actor_kind == "system"
    assert recipients("expired") == emails_of(st_mary, radiant)
    assert Subscription.objects.get(pk=renewing.pk).status == Subscription.Status.ACTIVE


def _suspend(subscription: Subscription, radiant: Party, capture: Any) -> None:
    with capture(execute=True):
        response = radiant.api().post(_url(subscription, "suspend"), {"reason": "Invoice unpaid."}, format="json")
    assert response.status_code == 200, response.content
    assert [d.status for d in deployments_of(subscription)] == [D.SUSPENDED]


def test_a_suspended_subscription_that_does_not_renew_expires_at_term_end(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    Subscription.objects.filter(pk=subscription.pk).update(auto_renew=False)
    _suspend(subscription, radiant, django_capture_on_commit_callbacks)
    end = subscription.current_period_end
    assert subscriptions_sweep(now=end - timedelta(seconds=1)) == {"renewed": 0, "expired": 0}
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_sweep(now=end + timedelta(minutes=1)) == {"renewed": 0, "expired": 1}
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.EXPIRED and subscription.ended_at is not None
    _assert_ended(subscription)  # the suspended deployment is removed, its licenses revoked
    [audit] = _audits(subscription, "expired")
    assert audit.actor_kind == "system" and audit.old_values == {"status": "suspended"}
    assert recipients("expired") == emails_of(st_mary, radiant)
    assert subscriptions_sweep(now=end + timedelta(minutes=5)) == {"renewed": 0, "expired": 0}  # done once
    resume = radiant.api().post(_url(subscription, "resume"), {"reason": "Paid."}, format="json")
    assert_error(resume, 409, code="invalid_transition")


def test_a_suspended_subscription_that_renews_waits_and_catches_up_once_resumed(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    _suspend(subscription, radiant, django_capture_on_commit_callbacks)
    end = subscription.current_period_end
    later = end + timedelta(days=40)  # more than one monthly term passed while suspended
    assert subscriptions_sweep(now=later) == {"renewed": 0, "expired": 0}
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.SUSPENDED and subscription.renewals == 0
    assert _events(subscription, "renewed") == []

    with django_capture_on_commit_callbacks(execute=True):
        resumed = radiant.api().post(_url(subscription, "resume"), {"reason": "Paid."}, format="json")
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert subscriptions_sweep(now=later) == {"renewed": 1, "expired": 0}
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE and subscription.renewals == 2
    assert subscription.current_period_end > later
    assert len(_events(subscription, "renewed")) == 2


def test_renewals_count_from_the_first_start_so_month_ends_do_not_drift(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _active(st_mary, radiant, django_capture_on_commit_callbacks)
    anchor = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    Order.objects.filter(pk=subscription.order_id).update(accepted_at=anchor)
    Subscription.objects.filter(pk=subscription.pk).update(
        current_period_start=anchor, current_period_end=datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    )
    subscriptions_sweep(now=datetime(2026, 3, 1, tzinfo=UTC))
    subscription.refresh_from_db()
    assert subscription.current_period_end == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
