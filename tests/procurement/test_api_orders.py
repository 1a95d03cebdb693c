"""Orders through the API: direct purchase of a list-priced plan (price, term, one entitlement and
deployment per target, the terms and purchase-order number recorded), what is refused and why,
converting a running trial (its deployment kept), list filters, and the shared contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.db.models import Model
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.procurement import services
from apps.procurement.models import Entitlement, License, Order, QuoteRequest, Subscription, Trial
from apps.procurement.services.common import add_months
from apps.provisioning.models import Deployment, DeploymentStep
from apps.provisioning.services import ADVANCE_TASK, deployment_advance
from marketplace.models import AuditEntry, Event, OutboxMessage, OutgoingEmail
from tests.api_contract import (
    INJECTED_ID,
    INJECTED_TIME,
    OPERATOR,
    PARTY_CALLERS,
    STATUS_TIMESTAMPS,
    ApiContract,
    BadInput,
)
from tests.conftest import Party, assert_error
from tests.factories import SiteFactory
from tests.procurement.buying import (
    ORDERS,
    TRIALS,
    accept_quote,
    buy_listing,
    issue_quote,
    order_payload,
    place_order,
    request_quote,
    terms_for,
    url,
)
from tests.procurement.factories import REGION, offering_of, plan_of, trial_in_state

pytestmark = pytest.mark.django_db

ADMINS: frozenset[str] = frozenset({"admin", "client:admin"})
PRICE = Decimal("1200.00")


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Order,
            Subscription,
            Entitlement,
            License,
            Deployment,
            QuoteRequest,
            AuditEntry,
            Event,
            OutgoingEmail,
            OutboxMessage,
        )
    }


def emails_of(party: Party) -> set[str]:
    return {party.admin.email, party.member.email}


def _bulk_orders(provider: Party, vendor: Party, count: int) -> None:
    listing = buy_listing(vendor.organization)
    Order.objects.bulk_create(
        Order(
            provider=provider.organization,
            vendor=vendor.organization,
            listing=listing,
            offering=offering_of(listing),
            plan=plan_of(listing),
            source=Order.Source.DIRECT,
            status=Order.Status.CANCELLED,
            accepted_by="bulk",
            accepted_at=timezone.now(),
        )
        for _ in range(count)
    )


# --- the shared contract ---------------------------------------------------------------------------


class TestOrdersProviderSideContract(ApiContract):
    """A provider's admins buy; everyone of the provider reads; nobody edits or deletes an order."""

    model = Order
    owner = "st_mary"
    stranger = "northside"
    readers = PARTY_CALLERS | {OPERATOR}
    creators = ADMINS
    can_update = False
    can_delete = False
    bad_inputs = (
        BadInput("no listing", {"offering": INJECTED_ID, "plan": INJECTED_ID, "region": REGION}, "listing"),
        BadInput("unknown listing", {"listing": "no-such", "offering": INJECTED_ID, "plan": INJECTED_ID}, "listing"),
        BadInput("malformed offering", {"listing": "some-app", "offering": "nope", "plan": INJECTED_ID}, "offering"),
        BadInput("no plan", {"listing": "some-app", "offering": INJECTED_ID, "region": REGION}, "plan"),
        BadInput("zero seats", {"listing": "a", "offering": INJECTED_ID, "plan": INJECTED_ID, "seats": 0}, "seats"),
        BadInput(
            "purchase order number of 61",
            {"listing": "a", "offering": INJECTED_ID, "plan": INJECTED_ID, "purchase_order_number": "P" * 61},
            "purchase_order_number",
        ),
        BadInput(
            "unknown kind of term",
            {
                "listing": "a",
                "offering": INJECTED_ID,
                "plan": INJECTED_ID,
                "accepted_terms": [{"kind": "nda", "version": "1"}],
            },
            "accepted_terms.0.kind",
        ),
    )
    mass_assignment_extra: ClassVar[dict[str, Any]] = {
        "provider": "northside",
        "vendor": "northside",
        "status": "fulfilled",
        "source": "quote",
        "total": "0.01",
        "currency": "USD",
        "quote": INJECTED_ID,
        "trial": INJECTED_ID,
        "accepted_by": "somebody else",
        "fulfilled_at": INJECTED_TIME,
        "cancelled_at": INJECTED_TIME,
        "subscription": {"id": INJECTED_ID, "status": "active"},
    }

    @pytest.fixture(autouse=True)
    def _vendor(self, radiant: Party) -> None:
        self.vendor = radiant

    def list_url(self, party: Party) -> str:
        return ORDERS

    def detail_url(self, party: Party, obj: Model) -> str:
        return url(ORDERS, obj)

    def make(self, party: Party) -> Order:
        return place_order(party.organization, buy_listing(self.vendor.organization))

    def make_many(self, party: Party, count: int) -> None:
        _bulk_orders(party, self.vendor, count)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return order_payload(buy_listing(self.vendor.organization), purchase_order_number="PO-1", seats=3)

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.provider_id == party.organization.pk  # type: ignore[attr-defined]

    def test_contract_mass_assignment_on_create_is_ignored(
        self, owner_party: Party, stranger_party: Party, call_as: Any
    ) -> None:
        """The generic check, except that an order's `accepted_at` is the server's own time."""
        payload = {**self._mass_assignment(stranger_party), **self.create_payload(owner_party)}
        response = call_as("admin", owner_party).post(ORDERS, payload, format="json")
        assert response.status_code == 201, response.content[:500]
        created = Order.objects.get(public_id=response.json()["id"])
        assert str(created.public_id) != INJECTED_ID and created.pk != 987654
        assert self.owned_by(created, owner_party) and created.vendor_id == self.vendor.organization.pk
        assert created.created_at.year != 2000 and created.accepted_at.year != 2000
        for name in STATUS_TIMESTAMPS:
            if name != "accepted_at":
                assert getattr(created, name, None) is None, name
        assert created.status == "placed" and created.source == "direct"
        assert (created.total, created.currency) == (PRICE, "EUR")
        assert created.quote_request_id is None and created.trial_id is None
        assert created.fulfilled_at is None and created.cancelled_at is None
        assert "somebody" not in created.accepted_by
        assert created.subscription.status == "pending_fulfillment"


class TestOrdersVendorSideContract(ApiContract):
    """The vendor reads its customers' orders and never places one."""

    model = Order
    owner = "radiant"
    stranger = "orbit"
    readers = PARTY_CALLERS | {OPERATOR}
    creators = frozenset()
    can_update = False
    can_delete = False

    @pytest.fixture(autouse=True)
    def _provider(self, st_mary: Party) -> None:
        self.provider = st_mary

    def list_url(self, party: Party) -> str:
        return ORDERS

    def detail_url(self, party: Party, obj: Model) -> str:
        return url(ORDERS, obj)

    def make(self, party: Party) -> Order:
        return place_order(self.provider.organization, buy_listing(party.organization))

    def make_many(self, party: Party, count: int) -> None:
        _bulk_orders(self.provider, party, count)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return order_payload(buy_listing(party.organization))

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.vendor_id == party.organization.pk  # type: ignore[attr-defined]

    def _writer_for_create(self) -> str:
        return "admin"

    def test_contract_mass_assignment_on_create_is_ignored(
        self, owner_party: Party, stranger_party: Party, call_as: Any
    ) -> None:
        payload = {**self._mass_assignment(stranger_party), **self.create_payload(owner_party)}
        assert_error(call_as("admin", owner_party).post(ORDERS, payload, format="json"), 403, code="not_a_provider")
        assert not Order.objects.exists()


# --- direct purchase ---------------------------------------------------------------------------------


def test_a_provider_admin_buys_a_subscription_plan_directly(
    st_mary: Party, radiant: Party, northside: Party, django_capture_on_commit_callbacks: Any
) -> None:
    listing = buy_listing(radiant.organization)
    payload = order_payload(listing, purchase_order_number="  PO-2026-0042 ", seats=12)
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(ORDERS, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source"], body["total"], body["currency"], body["seats"]) == ("direct", "1200.00", "EUR", 12)
    assert body["provider"]["slug"] == "st-marys" and body["vendor"]["slug"] == "radiant-ai"
    assert body["plan"] == str(plan_of(listing).public_id) and body["quote"] is None and body["trial"] is None
    assert body["purchase_order_number"] == "PO-2026-0042"
    order = Order.objects.get(public_id=body["id"])
    subscription = order.subscription
    # Placed when answered; the sandbox then provisioned after commit: active and fulfilled.
    assert body["status"] == "placed"
    assert body["subscription"] == {"id": str(subscription.public_id), "status": "pending_fulfillment"}
    assert order.status == "fulfilled" and order.fulfilled_at is not None and subscription.status == "active"
    assert st_mary.api("member").get(url(ORDERS, order)).json()["status"] == "fulfilled"
    # A monthly plan: a one-month term from the order.
    assert subscription.term_months == 1 and subscription.auto_renew
    assert subscription.current_period_start == order.accepted_at
    assert subscription.current_period_end == add_months(order.accepted_at, 1)
    [entitlement] = subscription.entitlements.all()
    assert (entitlement.region, entitlement.site_id, entitlement.seats) == (REGION, None, 12)
    assert entitlement.valid_until == subscription.current_period_end
    assert entitlement.deployment.status == Deployment.Status.ACTIVE and entitlement.deployment.region == REGION
    [license] = entitlement.licenses.all()
    assert license.claims["kind"] == "subscription" and license.claims["seats"] == 12
    assert license.claims["region"] == REGION and license.revoked_at is None
    # The order records what was accepted, by whom.
    [entry] = AuditEntry.objects.filter(action="procurement.order.placed", object_id=str(order.public_id))
    assert order.accepted_by == entry.actor_label and order.accepted_by
    assert [(t["kind"], t["version"]) for t in body["accepted_terms"]] == [
        (t["kind"], t["version"]) for t in terms_for(listing)
    ]
    assert all(
        t["accepted_by"] == order.accepted_by and t["accepted_at"] and t["title"] for t in body["accepted_terms"]
    )
    assert entry.new_values["purchase_order_number"] == "PO-2026-0042"
    for type_ in ("order.placed", "order.fulfilled"):
        [event] = Event.objects.filter(type=type_, subject_id=str(order.public_id))
        assert (event.organization_id, event.counterparty_id) == (st_mary.organization.pk, radiant.organization.pk)
    for type_ in ("subscription.pending_fulfillment", "subscription.active"):
        assert Event.objects.filter(type=type_, subject_id=str(subscription.public_id)).count() == 1
    told = {message.to[0] for message in mail.outbox if "Order placed" in message.subject}
    assert told == emails_of(st_mary) | emails_of(radiant)
    assert not {message.to[0] for message in mail.outbox} & emails_of(northside)


def test_a_yearly_plan_runs_twelve_months(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization)
    Plan.objects.filter(offering__listing=listing).update(billing_period=Plan.BillingPeriod.YEAR, price="9999.99")
    response = st_mary.api("client:admin").post(ORDERS, order_payload(listing), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "9999.99"
    order = Order.objects.get(public_id=response.json()["id"])
    assert order.status == "placed" and order.subscription.status == "pending_fulfillment"
    assert order.subscription.term_months == 12
    assert order.subscription.current_period_end == add_months(order.accepted_at, 12)


def test_an_on_premise_purchase_has_one_entitlement_and_deployment_per_site(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    sites = [SiteFactory(organization=st_mary.organization) for _ in range(3)]
    response = st_mary.api("admin").post(ORDERS, order_payload(listing, sites=sites), format="json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(public_id=response.json()["id"])
    entitlements = list(order.subscription.entitlements.select_related("deployment"))
    assert sorted(e.site_id for e in entitlements) == sorted(site.pk for site in sites)
    assert all(e.region == "" and e.deployment.site_id == e.site_id for e in entitlements)
    assert Deployment.objects.filter(provider=st_mary.organization).count() == 3
    assert len({e.deployment_id for e in entitlements}) == 3
    assert sorted(lic.claims["site"] for lic in License.objects.filter(entitlement__in=entitlements)) == sorted(
        str(site.public_id) for site in sites
    )


def test_the_subscription_waits_for_every_deployment(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    sites = [SiteFactory(organization=st_mary.organization) for _ in range(2)]
    order = place_order(st_mary.organization, listing, sites=sites)
    first, second = (e.deployment for e in order.subscription.entitlements.select_related("deployment"))

    def run(deployment: Deployment) -> None:
        for _ in range(50):
            if deployment_advance(deployment_id=deployment.pk) == Deployment.Status.ACTIVE:
                return
        raise AssertionError("the sandbox never finished")

    run(first)
    order.refresh_from_db()
    assert order.status == "placed" and order.subscription.status == "pending_fulfillment"
    run(second)
    order.refresh_from_db()
    subscription = Subscription.objects.get(order=order)
    assert order.status == "fulfilled" and subscription.status == "active" and subscription.activated_at


def test_a_quote_only_plan_cannot_be_bought_directly(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization, pricing=Plan.PricingModel.QUOTE_ONLY)
    payload = order_payload(listing)
    before = counts()
    error = assert_error(st_mary.api("admin").post(ORDERS, payload, format="json"), 400, field="plan")
    assert error["code"] == "quote_only"
    assert counts() == before


@dataclass
class Parties:
    radiant: Party
    st_mary: Party
    northside: Party


def _on_premise_without_sites(p: Parties) -> dict[str, Any]:
    return order_payload(buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE), sites=[])


def _another_organizations_site(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE)
    return order_payload(listing, sites=[SiteFactory(organization=p.northside.organization)])


def _cloud_with_sites(p: Parties) -> dict[str, Any]:
    return order_payload(
        buy_listing(p.radiant.organization), sites=[SiteFactory(organization=p.st_mary.organization)], region=REGION
    )


def _region_not_offered(p: Parties) -> dict[str, Any]:
    return order_payload(buy_listing(p.radiant.organization), region="us-east")


def _zero_seats(p: Parties) -> dict[str, Any]:
    return order_payload(buy_listing(p.radiant.organization), seats=0)


def _unpublished(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.SUSPENDED)
    return order_payload(listing)


def _inactive_plan(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    Plan.objects.filter(offering__listing=listing).update(is_active=False)
    return order_payload(listing)


def _plan_of_another_offering(p: Parties) -> dict[str, Any]:
    other = buy_listing(p.radiant.organization, slug="other-app")
    return order_payload(buy_listing(p.radiant.organization), plan=str(plan_of(other).public_id))


def _no_terms(p: Parties) -> dict[str, Any]:
    payload = order_payload(buy_listing(p.radiant.organization))
    del payload["accepted_terms"]
    return payload


def _outdated_eula(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    return order_payload(listing, accepted_terms=terms_for(listing, eula="0.1"))


def _no_baa_for_patient_data(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization, patient_data=True)
    return order_payload(listing, accepted_terms=terms_for(listing, baa=None))


def _terms_not_a_list(p: Parties) -> dict[str, Any]:
    return order_payload(buy_listing(p.radiant.organization), accepted_terms="eula 1.0, dpa 2026-01")


def _long_purchase_order(p: Parties) -> dict[str, Any]:
    return order_payload(buy_listing(p.radiant.organization), purchase_order_number="P" * 61)


def _unprintable_purchase_order(p: Parties) -> dict[str, Any]:
    return order_payload(buy_listing(p.radiant.organization), purchase_order_number="PO\n42")


REFUSED_ORDERS: dict[str, tuple[Callable[[Parties], dict[str, Any]], str]] = {
    "on premise without sites": (_on_premise_without_sites, "sites"),
    "another organization's site": (_another_organizations_site, "sites"),
    "cloud with sites": (_cloud_with_sites, "sites"),
    "region not offered": (_region_not_offered, "region"),
    "zero seats": (_zero_seats, "seats"),
    "suspended listing": (_unpublished, "listing"),
    "inactive plan": (_inactive_plan, "plan"),
    "plan of another offering": (_plan_of_another_offering, "plan"),
    "no terms": (_no_terms, "accepted_terms"),
    "outdated eula": (_outdated_eula, "accepted_terms"),
    "patient data without baa": (_no_baa_for_patient_data, "accepted_terms"),
    "terms not a list": (_terms_not_a_list, "accepted_terms"),
    "purchase order number of 61": (_long_purchase_order, "purchase_order_number"),
    "unprintable purchase order number": (_unprintable_purchase_order, "purchase_order_number"),
}


@pytest.mark.parametrize("case", list(REFUSED_ORDERS))
def test_an_order_that_cannot_be_placed_is_a_400_naming_the_field(
    case: str, st_mary: Party, northside: Party, radiant: Party
) -> None:
    build, field = REFUSED_ORDERS[case]
    payload = build(Parties(radiant=radiant, st_mary=st_mary, northside=northside))
    before = counts()
    error = assert_error(st_mary.api("admin").post(ORDERS, payload, format="json"), 400, field=field)
    assert error["fields"][field][0]
    assert counts() == before


def test_a_sixty_character_purchase_order_number_is_recorded(st_mary: Party, radiant: Party) -> None:
    number = "PO-" + "9" * 57
    response = st_mary.api("admin").post(
        ORDERS, order_payload(buy_listing(radiant.organization), purchase_order_number=number), format="json"
    )
    assert response.status_code == 201, response.content
    assert Order.objects.get(public_id=response.json()["id"]).purchase_order_number == number


def test_a_patient_data_app_records_the_business_associate_agreement(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization, patient_data=True)
    response = st_mary.api("admin").post(ORDERS, order_payload(listing), format="json")
    assert response.status_code == 201, response.content
    kinds = {t["kind"]: t["version"] for t in Order.objects.get(public_id=response.json()["id"]).accepted_terms}
    assert set(kinds) == {"eula", "dpa", "baa"} and kinds["eula"] == listing.eula_version


def test_an_idempotency_key_buys_once(st_mary: Party, radiant: Party) -> None:
    payload = order_payload(buy_listing(radiant.organization), purchase_order_number="PO-1")
    api = st_mary.api("admin")
    first = api.post(ORDERS, payload, format="json", HTTP_IDEMPOTENCY_KEY="buy-1")
    again = api.post(ORDERS, payload, format="json", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert Order.objects.count() == Subscription.objects.count() == Deployment.objects.count() == 1


# --- converting a trial ---------------------------------------------------------------------------------


def _active_trial(st_mary: Party, radiant: Party, capture: Any, settings: Any) -> Trial:
    trial = trial_in_state(
        "active", provider=st_mary.organization, vendor=radiant.organization, capture=capture, settings=settings
    )
    assert trial.status == "active" and trial.deployment.status == Deployment.Status.ACTIVE
    return trial


def test_converting_a_running_trial_keeps_its_deployment(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    trial = _active_trial(st_mary, radiant, django_capture_on_commit_callbacks, settings)
    [trial_license] = License.objects.filter(trial=trial)
    deployments, steps = Deployment.objects.count(), DeploymentStep.objects.count()
    provisioning = OutboxMessage.objects.filter(task_name=ADVANCE_TASK).count()
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(
            url(TRIALS, trial, "convert"),
            {"accepted_terms": terms_for(trial.listing), "purchase_order_number": "PO-T1"},
            format="json",
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "converted" and body["id"] == str(trial.public_id)
    order = Order.objects.get(public_id=body["order"])
    assert (order.source, order.trial_id, order.total, order.currency) == ("trial", trial.pk, PRICE, "EUR")
    assert order.purchase_order_number == "PO-T1" and order.plan_id == trial.plan_id
    # The same deployment, nothing provisioned again.
    assert Deployment.objects.count() == deployments and DeploymentStep.objects.count() == steps
    assert OutboxMessage.objects.filter(task_name=ADVANCE_TASK).count() == provisioning
    [entitlement] = order.subscription.entitlements.all()
    assert entitlement.deployment_id == trial.deployment_id and entitlement.region == trial.region
    # The trial's license gives way to the subscription's.
    trial_license.refresh_from_db()
    assert trial_license.revoked_at is not None
    assert entitlement.licenses.get().revoked_at is None
    # Active at once; the order fulfilled.
    order.refresh_from_db()
    assert order.status == "fulfilled" and order.subscription.status == "active"
    assert order.subscription.term_months == 1
    trial.refresh_from_db()
    assert trial.status == "converted" and trial.ended_at is not None
    [entry] = AuditEntry.objects.filter(action="procurement.trial.converted", object_id=str(trial.public_id))
    assert entry.old_values == {"status": "active"}
    assert Event.objects.filter(type="trial.converted", subject_id=str(trial.public_id)).count() == 1
    # Both parties see it converted.
    assert radiant.api("member").get(url(TRIALS, trial)).json()["order"] == str(order.public_id)


def test_a_second_conversion_is_a_409_naming_the_order(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    trial = _active_trial(st_mary, radiant, django_capture_on_commit_callbacks, settings)
    api = st_mary.api("admin")
    first = api.post(url(TRIALS, trial, "convert"), {"accepted_terms": terms_for(trial.listing)}, format="json")
    assert first.status_code == 200, first.content
    before = counts()
    again = api.post(url(TRIALS, trial, "convert"), {"accepted_terms": terms_for(trial.listing)}, format="json")
    error = assert_error(again, 409, code="already_converted")
    assert error["order"] == first.json()["order"]
    assert counts() == before


@pytest.mark.parametrize("state", ["requested", "approved", "provisioning", "failed"])
def test_only_a_running_trial_converts(
    state: str, st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    trial = trial_in_state(
        state,
        provider=st_mary.organization,
        vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks,
        settings=settings,
    )
    before = counts()
    response = st_mary.api("admin").post(
        url(TRIALS, trial, "convert"), {"accepted_terms": terms_for(trial.listing)}, format="json"
    )
    assert_error(response, 409, code="invalid_transition")
    trial.refresh_from_db()
    assert trial.status == state
    assert counts() == before


def test_an_ended_trial_does_not_convert(st_mary: Party, radiant: Party) -> None:
    trial = trial_in_state("requested", provider=st_mary.organization, vendor=radiant.organization)
    services.trial_cancel(trial=trial, actor=_admin(st_mary), reason="")
    before = counts()
    response = st_mary.api("admin").post(
        url(TRIALS, trial, "convert"), {"accepted_terms": terms_for(trial.listing)}, format="json"
    )
    assert_error(response, 409, code="invalid_transition")
    assert counts() == before


def test_a_trial_of_a_quote_only_plan_is_bought_through_a_quote(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    trial = _active_trial(st_mary, radiant, django_capture_on_commit_callbacks, settings)
    Plan.objects.filter(pk=trial.plan_id).update(
        pricing_model=Plan.PricingModel.QUOTE_ONLY, price=None, currency="", billing_period=""
    )
    before = counts()
    response = st_mary.api("admin").post(
        url(TRIALS, trial, "convert"), {"accepted_terms": terms_for(trial.listing)}, format="json"
    )
    error = assert_error(response, 400, field="plan")
    assert error["code"] == "quote_only"
    trial.refresh_from_db()
    assert trial.status == "active"
    assert counts() == before


def test_converting_without_the_terms_is_a_400(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    trial = _active_trial(st_mary, radiant, django_capture_on_commit_callbacks, settings)
    before = counts()
    for body in ({}, {"accepted_terms": terms_for(trial.listing, dpa="1999-01")}):
        response = st_mary.api("admin").post(url(TRIALS, trial, "convert"), body, format="json")
        assert_error(response, 400, field="accepted_terms")
    trial.refresh_from_db()
    assert trial.status == "active"
    assert counts() == before


def _admin(party: Party) -> Any:
    from marketplace.principal import Role
    from tests.procurement.factories import principal_of

    return principal_of(party.organization, Role.ADMIN)


# --- lists --------------------------------------------------------------------------------------------


def test_orders_filter_by_status_and_source(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    fulfilled_direct = place_order(
        st_mary.organization, buy_listing(radiant.organization), capture=django_capture_on_commit_callbacks
    )
    placed_direct = place_order(st_mary.organization, buy_listing(radiant.organization, slug="pending-app"))
    trial = _active_trial(st_mary, radiant, django_capture_on_commit_callbacks, settings)
    converted = services.trial_convert(trial=trial, actor=_admin(st_mary), accepted_terms=terms_for(trial.listing))
    quote_request = request_quote(st_mary.organization, buy_listing(radiant.organization, slug="quoted-app"))
    issue_quote(quote_request)
    quoted = accept_quote(quote_request)
    cancelled = place_order(st_mary.organization, buy_listing(radiant.organization, slug="cancelled-app"))
    services.subscription_cancel(subscription=cancelled.subscription, actor=_admin(st_mary), reason="Wrong app.")
    assert Order.objects.get(pk=cancelled.pk).status == "cancelled"

    def ids(api: Any, **query: str) -> set[str]:
        response = api.get(ORDERS, query)
        assert response.status_code == 200, response.content
        return {result["id"] for result in response.json()["results"]}

    def id_of(*orders: Order) -> set[str]:
        return {str(order.public_id) for order in orders}

    for api in (st_mary.api("client:read_only"), radiant.api("member")):
        assert ids(api) == id_of(fulfilled_direct, placed_direct, converted, quoted, cancelled)
        assert ids(api, source="direct") == id_of(fulfilled_direct, placed_direct, cancelled)
        assert ids(api, source="trial") == id_of(converted)
        assert ids(api, source="quote") == id_of(quoted)
        assert ids(api, status="fulfilled") == id_of(fulfilled_direct, converted)
        assert ids(api, status="placed") == id_of(placed_direct, quoted)
        assert ids(api, status="cancelled") == id_of(cancelled)
        assert ids(api, status="placed", source="direct") == id_of(placed_direct)
    # An unknown value is refused in the one error shape, not ignored.
    assert_error(st_mary.api("admin").get(ORDERS, {"status": "shipped"}), 400, field="status")
    assert_error(st_mary.api("admin").get(ORDERS, {"source": "gift"}), 400, field="source")
