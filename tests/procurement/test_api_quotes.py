"""Quote requests through the API: every path of the state machine with its audit entry, event and
mail; what a request and an issue refuse and why; server-computed money; validity checked at
acceptance and by the beat; stale versions and terms; a quote that follows a running trial takes
over its deployment; the shared contract from both sides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.db.models import Model
from django.utils import timezone

from apps.catalog.models import Offering, Plan
from apps.procurement import services
from apps.procurement.models import Entitlement, License, Order, Quote, QuoteRequest, Subscription, Trial
from apps.provisioning.models import Deployment, DeploymentStep
from apps.provisioning.services import ADVANCE_TASK
from marketplace.models import AuditEntry, Event, OutboxMessage, OutgoingEmail
from tests.api_contract import INJECTED_ID, INJECTED_TIME, OPERATOR, PARTY_CALLERS, ApiContract, BadInput
from tests.conftest import Party, assert_error
from tests.factories import SiteFactory
from tests.procurement.buying import (
    LINE_ITEMS,
    QUOTE_TOTAL,
    QUOTES,
    buy_listing,
    fresh,
    issue_payload,
    issue_quote,
    quote_in_state,
    quote_payload,
    request_quote,
    terms_for,
    today,
    url,
)
from tests.procurement.factories import (
    PATIENT_DATA,
    REGION,
    offering_of,
    plan_of,
    request_trial,
    trial_in_state,
    trial_listing,
)

pytestmark = pytest.mark.django_db

Q = QuoteRequest.Status
MEMBERS_PLUS: frozenset[str] = frozenset({"member", "client:member", "admin", "client:admin"})
ADMINS: frozenset[str] = frozenset({"admin", "client:admin"})


def emails_of(party: Party) -> set[str]:
    return {party.admin.email, party.member.email}


def recipients(subject_contains: str = "") -> set[str]:
    return {message.to[0] for message in mail.outbox if subject_contains in message.subject}


def audits(quote_request: QuoteRequest, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, object_id=str(quote_request.public_id)).order_by("id"))


def events(quote_request: QuoteRequest, type_: str) -> list[Event]:
    return list(Event.objects.filter(type=type_, subject_id=str(quote_request.public_id)).order_by("id"))


def counts() -> dict[str, int]:
    """Everything a refused call must leave as it was."""
    return {
        model.__name__: model.objects.count()
        for model in (QuoteRequest, Quote, Order, Subscription, Deployment, License, AuditEntry, Event, OutgoingEmail)
    }


def _bulk_quote_requests(provider: Party, vendor: Party, count: int) -> None:
    listing = buy_listing(vendor.organization)
    QuoteRequest.objects.bulk_create(
        QuoteRequest(
            provider=provider.organization,
            vendor=vendor.organization,
            listing=listing,
            offering=offering_of(listing),
            plan=plan_of(listing),
            region=REGION,
            status=Q.CANCELLED,
        )
        for _ in range(count)
    )


# --- the shared contract, from each side -------------------------------------------------------------


class TestQuotesProviderSideContract(ApiContract):
    """St. Mary's requests (member+), cancels and declines (member+) and accepts (admin); it may
    not issue or withdraw; operators read but do not act on quotes."""

    model = QuoteRequest
    owner = "st_mary"
    stranger = "northside"
    readers = PARTY_CALLERS | {OPERATOR}
    creators = MEMBERS_PLUS
    can_update = False
    can_delete = False
    actions: ClassVar[dict[str, frozenset[str]]] = {
        "cancel": MEMBERS_PLUS,
        "decline": MEMBERS_PLUS,
        "accept": ADMINS,
        "issue": frozenset(),
        "withdraw": frozenset(),
    }
    bad_inputs = (
        BadInput("no listing", {"offering": INJECTED_ID, "region": REGION}, "listing"),
        BadInput("unknown listing", {"listing": "no-such", "offering": INJECTED_ID, "region": REGION}, "listing"),
        BadInput("malformed offering", {"listing": "some-app", "offering": "nope"}, "offering"),
        BadInput("malformed plan", {"listing": "some-app", "offering": INJECTED_ID, "plan": "nope"}, "plan"),
        BadInput("malformed site", {"listing": "a", "offering": INJECTED_ID, "sites": ["x"]}, "sites.0"),
        BadInput("malformed trial", {"listing": "a", "offering": INJECTED_ID, "trial": "x"}, "trial"),
        BadInput("zero seats", {"listing": "a", "offering": INJECTED_ID, "seats": 0}, "seats"),
        BadInput(
            "negative studies", {"listing": "a", "offering": INJECTED_ID, "studies_per_month": -1}, "studies_per_month"
        ),
        BadInput(
            "malformed start", {"listing": "a", "offering": INJECTED_ID, "desired_start": "soon"}, "desired_start"
        ),
        BadInput("notes too long", {"listing": "a", "offering": INJECTED_ID, "notes": "x" * 4001}, "notes"),
    )
    mass_assignment_extra: ClassVar[dict[str, Any]] = {
        "provider": "northside",
        "vendor": "northside",
        "status": "accepted",
        "reason": "because",
        "requested_by": "somebody else",
        "quoted_at": INJECTED_TIME,
        "closed_at": INJECTED_TIME,
        "versions": [{"version": 1, "total": "1.00"}],
        "current_version": {"version": 1, "total": "1.00"},
        "order": {"id": INJECTED_ID},
    }

    @pytest.fixture(autouse=True)
    def _vendor(self, radiant: Party) -> None:
        self.vendor = radiant

    def list_url(self, party: Party) -> str:
        return QUOTES

    def detail_url(self, party: Party, obj: Model) -> str:
        return url(QUOTES, obj)

    def make(self, party: Party) -> QuoteRequest:
        return request_quote(party.organization, buy_listing(self.vendor.organization))

    def make_many(self, party: Party, count: int) -> None:
        _bulk_quote_requests(party, self.vendor, count)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return quote_payload(buy_listing(self.vendor.organization), seats=5, notes="Two campuses.")

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.provider_id == party.organization.pk  # type: ignore[attr-defined]

    def assert_created_plainly(self, created: Model) -> None:
        assert isinstance(created, QuoteRequest)
        assert created.status == Q.REQUESTED and created.vendor_id == self.vendor.organization.pk
        assert created.reason == "" and "somebody" not in created.requested_by
        assert created.quoted_at is None and created.closed_at is None
        assert not created.quotes.exists() and not Order.objects.exists()


class TestQuotesVendorSideContract(ApiContract):
    """Radiant issues and withdraws (member+); it never requests, cancels, declines or accepts."""

    model = QuoteRequest
    owner = "radiant"
    stranger = "orbit"
    readers = PARTY_CALLERS | {OPERATOR}
    creators = frozenset()
    can_update = False
    can_delete = False
    actions: ClassVar[dict[str, frozenset[str]]] = {
        "issue": MEMBERS_PLUS,
        "withdraw": MEMBERS_PLUS,
        "cancel": frozenset(),
        "decline": frozenset(),
        "accept": frozenset(),
    }

    @pytest.fixture(autouse=True)
    def _provider(self, st_mary: Party) -> None:
        self.provider = st_mary

    def list_url(self, party: Party) -> str:
        return QUOTES

    def detail_url(self, party: Party, obj: Model) -> str:
        return url(QUOTES, obj)

    def make(self, party: Party) -> QuoteRequest:
        return request_quote(self.provider.organization, buy_listing(party.organization))

    def make_many(self, party: Party, count: int) -> None:
        _bulk_quote_requests(self.provider, party, count)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return quote_payload(buy_listing(party.organization))

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.vendor_id == party.organization.pk  # type: ignore[attr-defined]

    def _writer_for_create(self) -> str:
        return "admin"

    def test_contract_mass_assignment_on_create_is_ignored(
        self, owner_party: Party, stranger_party: Party, call_as: Any
    ) -> None:
        payload = {**self._mass_assignment(stranger_party), **self.create_payload(owner_party)}
        assert_error(call_as("admin", owner_party).post(QUOTES, payload, format="json"), 403, code="not_a_provider")
        assert not QuoteRequest.objects.exists()


# --- requesting ------------------------------------------------------------------------------------


def test_a_provider_member_requests_a_quote_and_the_vendor_is_told(
    st_mary: Party, radiant: Party, northside: Party, django_capture_on_commit_callbacks: Any
) -> None:
    listing = buy_listing(radiant.organization)
    start = (today() + timedelta(days=10)).isoformat()
    payload = quote_payload(listing, seats=25, studies_per_month=4000, desired_start=start, notes=" Two campuses. ")
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("client:member").post(QUOTES, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "requested" and body["region"] == REGION and body["sites"] == []
    assert body["provider"]["slug"] == "st-marys" and body["vendor"]["slug"] == "radiant-ai"
    assert body["listing"] == listing.slug and body["plan"] == str(plan_of(listing).public_id)
    assert (body["seats"], body["studies_per_month"], body["desired_start"]) == (25, 4000, start)
    assert body["notes"] == "Two campuses." and body["trial"] is None
    assert body["current_version"] is None and body["versions"] == [] and body["order"] is None
    quote_request = QuoteRequest.objects.get(public_id=body["id"])
    [entry] = audits(quote_request, "procurement.quote.requested")
    assert entry.organization_id == st_mary.organization.pk and entry.counterparty_id == radiant.organization.pk
    assert entry.new_values["status"] == "requested" and entry.new_values["seats"] == 25
    [event] = events(quote_request, "quote.requested")
    assert (event.organization_id, event.counterparty_id) == (st_mary.organization.pk, radiant.organization.pk)
    assert event.data["status"] == "requested" and event.data["quote"] == body["id"]
    assert recipients() == emails_of(radiant)
    assert not recipients() & (emails_of(st_mary) | emails_of(northside))


def test_a_custom_quote_names_no_plan(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization)
    payload = quote_payload(listing)
    del payload["plan"]
    response = st_mary.api("member").post(QUOTES, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["plan"] is None
    assert QuoteRequest.objects.get().plan is None


def test_an_on_premise_quote_names_several_sites(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    north, south = SiteFactory(organization=st_mary.organization), SiteFactory(organization=st_mary.organization)
    response = st_mary.api("member").post(QUOTES, quote_payload(listing, sites=[north, south]), format="json")
    assert response.status_code == 201, response.content
    assert sorted(response.json()["sites"]) == sorted([str(north.public_id), str(south.public_id)])
    assert response.json()["region"] == ""


@dataclass
class Parties:
    radiant: Party
    st_mary: Party
    northside: Party


def _no_listing(p: Parties) -> dict[str, Any]:
    payload = quote_payload(buy_listing(p.radiant.organization))
    del payload["listing"]
    return payload


def _unknown_listing(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization), listing="no-such-app")


def _no_offering(p: Parties) -> dict[str, Any]:
    payload = quote_payload(buy_listing(p.radiant.organization))
    del payload["offering"]
    return payload


def _unknown_offering(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization), offering=INJECTED_ID)


def _offering_of_another_listing(p: Parties) -> dict[str, Any]:
    other = buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE)
    return quote_payload(buy_listing(p.radiant.organization), offering=str(offering_of(other).public_id))


def _inactive_offering(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    Offering.objects.filter(listing=listing).update(is_active=False)
    return quote_payload(listing)


def _unknown_plan(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization), plan=INJECTED_ID)


def _plan_of_another_offering(p: Parties) -> dict[str, Any]:
    other = buy_listing(p.radiant.organization, slug="other-app")
    return quote_payload(buy_listing(p.radiant.organization), plan=str(plan_of(other).public_id))


def _inactive_plan(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    Plan.objects.filter(offering__listing=listing).update(is_active=False)
    return quote_payload(listing)


def _cloud_without_region(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization), region="")


def _region_not_offered(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization), region="us-east")


def _cloud_with_sites(p: Parties) -> dict[str, Any]:
    site = SiteFactory(organization=p.st_mary.organization)
    return quote_payload(buy_listing(p.radiant.organization), sites=[site], region=REGION)


def _on_premise_without_sites(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE), sites=[])


def _on_premise_at_another_organizations_site(p: Parties) -> dict[str, Any]:
    own, foreign = SiteFactory(organization=p.st_mary.organization), SiteFactory(organization=p.northside.organization)
    return quote_payload(buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE), sites=[own, foreign])


def _on_premise_at_an_archived_site(p: Parties) -> dict[str, Any]:
    site = SiteFactory(organization=p.st_mary.organization, archived_at=timezone.now())
    return quote_payload(buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE), sites=[site])


def _on_premise_with_region(p: Parties) -> dict[str, Any]:
    site = SiteFactory(organization=p.st_mary.organization)
    listing = buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE)
    return quote_payload(listing, sites=[site], region=REGION)


def _zero_seats(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization), seats=0)


def _start_in_the_past(p: Parties) -> dict[str, Any]:
    return quote_payload(buy_listing(p.radiant.organization), desired_start=(today() - timedelta(days=1)).isoformat())


def _trial_of_another_organization(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    trial = request_trial(p.northside.organization, listing)
    return quote_payload(listing, trial=str(trial.public_id))


def _ended_trial(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    trial = request_trial(p.st_mary.organization, listing)
    services.trial_cancel(trial=trial, actor=_member(p.st_mary), reason="")
    return quote_payload(listing, trial=str(trial.public_id))


def _trial_of_another_offering(p: Parties) -> dict[str, Any]:
    trial = request_trial(p.st_mary.organization, buy_listing(p.radiant.organization, slug="other-app"))
    return quote_payload(buy_listing(p.radiant.organization), trial=str(trial.public_id))


def _trial_at_another_site(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization, mode=Offering.Mode.ON_PREMISE)
    north, south = SiteFactory(organization=p.st_mary.organization), SiteFactory(organization=p.st_mary.organization)
    trial = request_trial(p.st_mary.organization, listing, site=north)
    return quote_payload(listing, sites=[south], trial=str(trial.public_id))


def _trial_in_another_region(p: Parties) -> dict[str, Any]:
    listing = buy_listing(p.radiant.organization)
    Offering.objects.filter(listing=listing).update(regions=[REGION, "eu-west"])
    trial = request_trial(p.st_mary.organization, listing)
    return quote_payload(listing, region="eu-west", trial=str(trial.public_id))


def _member(party: Party) -> Any:
    from tests.procurement.factories import principal_of

    return principal_of(party.organization)


REFUSED_REQUESTS: dict[str, tuple[Callable[[Parties], dict[str, Any]], str]] = {
    "no listing": (_no_listing, "listing"),
    "unknown listing": (_unknown_listing, "listing"),
    "no offering": (_no_offering, "offering"),
    "unknown offering": (_unknown_offering, "offering"),
    "offering of another listing": (_offering_of_another_listing, "offering"),
    "inactive offering": (_inactive_offering, "offering"),
    "unknown plan": (_unknown_plan, "plan"),
    "plan of another offering": (_plan_of_another_offering, "plan"),
    "inactive plan": (_inactive_plan, "plan"),
    "cloud without region": (_cloud_without_region, "region"),
    "region not offered": (_region_not_offered, "region"),
    "cloud with sites": (_cloud_with_sites, "sites"),
    "on premise without sites": (_on_premise_without_sites, "sites"),
    "another organization's site": (_on_premise_at_another_organizations_site, "sites"),
    "archived site": (_on_premise_at_an_archived_site, "sites"),
    "on premise with a region": (_on_premise_with_region, "region"),
    "zero seats": (_zero_seats, "seats"),
    "desired start in the past": (_start_in_the_past, "desired_start"),
    "trial of another organization": (_trial_of_another_organization, "trial"),
    "ended trial": (_ended_trial, "trial"),
    "trial of another offering": (_trial_of_another_offering, "trial"),
    "target without the trial's site": (_trial_at_another_site, "trial"),
    "target without the trial's region": (_trial_in_another_region, "trial"),
}


@pytest.mark.parametrize("case", list(REFUSED_REQUESTS))
def test_a_quote_request_that_cannot_be_met_is_a_400_naming_the_field(
    case: str, st_mary: Party, northside: Party, radiant: Party
) -> None:
    build, field = REFUSED_REQUESTS[case]
    payload = build(Parties(radiant=radiant, st_mary=st_mary, northside=northside))
    before = counts()
    error = assert_error(st_mary.api("member").post(QUOTES, payload, format="json"), 400, field=field)
    assert error["fields"][field][0]
    assert counts() == before


@pytest.mark.parametrize("kind", list(PATIENT_DATA))
def test_notes_with_patient_identifiers_are_refused(kind: str, st_mary: Party, radiant: Party) -> None:
    payload = quote_payload(buy_listing(radiant.organization), notes=PATIENT_DATA[kind])
    before = counts()
    assert_error(st_mary.api("member").post(QUOTES, payload, format="json"), 400, field="notes")
    assert counts() == before


def test_a_trial_with_an_open_quote_request_gets_no_second_one(st_mary: Party, radiant: Party) -> None:
    listing = buy_listing(radiant.organization)
    trial = request_trial(st_mary.organization, listing)
    api = st_mary.api("member")
    first = api.post(QUOTES, quote_payload(listing, trial=str(trial.public_id)), format="json")
    assert first.status_code == 201, first.content
    assert first.json()["trial"] == str(trial.public_id)
    error = assert_error(api.post(QUOTES, quote_payload(listing, trial=str(trial.public_id)), format="json"), 409)
    assert error["code"] == "quote_exists" and error["quote"] == first.json()["id"]
    assert QuoteRequest.objects.count() == 1
    # Once that request is closed, the trial may be quoted again.
    assert api.post(url(QUOTES, first.json()["id"], "cancel"), {}, format="json").status_code == 200
    assert api.post(QUOTES, quote_payload(listing, trial=str(trial.public_id)), format="json").status_code == 201


def test_an_idempotency_key_replays_the_request(st_mary: Party, radiant: Party) -> None:
    payload = quote_payload(buy_listing(radiant.organization), notes="Once.")
    api = st_mary.api("member")
    first = api.post(QUOTES, payload, format="json", HTTP_IDEMPOTENCY_KEY="rfq-42")
    assert first.status_code == 201, first.content
    again = api.post(QUOTES, payload, format="json", HTTP_IDEMPOTENCY_KEY="rfq-42")
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert QuoteRequest.objects.count() == 1
    assert len(audits(QuoteRequest.objects.get(), "procurement.quote.requested")) == 1
    assert Event.objects.filter(type="quote.requested").count() == 1
    other = api.post(QUOTES, {**payload, "notes": "Twice."}, format="json", HTTP_IDEMPOTENCY_KEY="rfq-42")
    assert_error(other, 422, code="idempotency_key_reused")
    fresh_key = api.post(QUOTES, {**payload, "notes": "Twice."}, format="json", HTTP_IDEMPOTENCY_KEY="rfq-43")
    assert fresh_key.status_code == 201 and QuoteRequest.objects.count() == 2


# --- every path of the state machine ---------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    start: str
    verb: str
    side: str  # "st_mary" or "radiant"
    caller: str
    end: str
    action: str
    event: str
    mailed: tuple[str, ...]  # who is told: the parties' fixture names
    body: tuple[tuple[str, Any], ...] = ()


MOVES = [
    Move("requested", "issue", "radiant", "member", "quoted", "issued", "quote.issued", ("st_mary",)),
    Move("quoted", "issue", "radiant", "client:member", "quoted", "issued", "quote.issued", ("st_mary",)),
    Move("quoted", "accept", "st_mary", "admin", "accepted", "accepted", "quote.accepted", ("st_mary", "radiant")),
    Move(
        "quoted",
        "decline",
        "st_mary",
        "member",
        "declined",
        "declined",
        "quote.declined",
        ("radiant",),
        (("reason", "Too dear."),),
    ),
    Move(
        "requested",
        "withdraw",
        "radiant",
        "member",
        "withdrawn",
        "withdrawn",
        "quote.withdrawn",
        ("st_mary",),
        (("reason", "Not in your country."),),
    ),
    Move(
        "quoted",
        "withdraw",
        "radiant",
        "admin",
        "withdrawn",
        "withdrawn",
        "quote.withdrawn",
        ("st_mary",),
        (("reason", "Priced in error."),),
    ),
    Move("requested", "cancel", "st_mary", "member", "cancelled", "cancelled", "quote.cancelled", ("radiant",)),
    Move(
        "quoted",
        "cancel",
        "st_mary",
        "client:member",
        "cancelled",
        "cancelled",
        "quote.cancelled",
        ("radiant",),
        (("reason", "Budget moved."),),
    ),
]


@pytest.mark.parametrize("move", MOVES, ids=[f"{m.start}-{m.verb}-{m.end}" for m in MOVES])
def test_every_transition_answers_audits_emits_and_mails(
    move: Move,
    st_mary: Party,
    radiant: Party,
    northside: Party,
    request: pytest.FixtureRequest,
    django_capture_on_commit_callbacks: Any,
) -> None:
    quote_request = quote_in_state(move.start, provider=st_mary.organization, vendor=radiant.organization)
    versions_before = quote_request.quotes.count()
    body = dict(move.body)
    if move.verb == "issue":
        body = issue_payload()
    elif move.verb == "accept":
        body = {"accepted_terms": terms_for(quote_request.listing), "version": versions_before}
    actions_before = len(audits(quote_request, f"procurement.quote.{move.action}"))
    events_before = len(events(quote_request, move.event))

    api = request.getfixturevalue(move.side).api(move.caller)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url(QUOTES, quote_request, move.verb), body, format="json")

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["status"] == move.end and answer["id"] == str(quote_request.public_id)
    quote_request = fresh(quote_request)
    assert quote_request.status == move.end
    entries = audits(quote_request, f"procurement.quote.{move.action}")
    assert len(entries) == actions_before + 1, entries
    entry = entries[-1]
    assert entry.old_values == {"status": move.start}
    assert entry.new_values["status"] == move.end
    assert entry.organization_id == st_mary.organization.pk and entry.counterparty_id == radiant.organization.pk
    assert "test" not in entry.actor_label  # the API caller, not the set-up's principal
    emitted = events(quote_request, move.event)
    assert len(emitted) == events_before + 1
    event = emitted[-1]
    assert (event.organization_id, event.counterparty_id) == (st_mary.organization.pk, radiant.organization.pk)
    assert event.data["status"] == move.end and event.data["quote"] == str(quote_request.public_id)
    if dict(move.body).get("reason"):
        assert quote_request.reason == dict(move.body)["reason"] == event.data["reason"]
        assert entry.new_values["reason"] == dict(move.body)["reason"]
    if move.verb == "issue":
        assert event.data["version"] == versions_before + 1
        assert [v["version"] for v in answer["versions"]] == list(range(versions_before + 1, 0, -1))
        assert answer["current_version"]["version"] == versions_before + 1
        assert quote_request.quoted_at is not None and quote_request.closed_at is None
    elif move.end != "quoted":
        assert quote_request.closed_at is not None
    if move.verb == "accept":
        assert answer["order"]["id"] == str(Order.objects.get(quote_request=quote_request).public_id)
    expected = set().union(*(emails_of(request.getfixturevalue(name)) for name in move.mailed))
    assert recipients() == expected
    assert not recipients() & emails_of(northside)


def test_issuing_again_keeps_the_old_versions(st_mary: Party, radiant: Party) -> None:
    quote_request = quote_in_state("quoted", provider=st_mary.organization, vendor=radiant.organization)
    vendor = radiant.api("member")
    cheaper = issue_payload(
        line_items=[{"description": "Site license", "quantity": "2", "unit_price": "900.00"}], term_months=24
    )
    body = vendor.post(url(QUOTES, quote_request, "issue"), cheaper, format="json").json()
    first, second = body["versions"][1], body["versions"][0]
    assert (first["version"], first["total"], first["term_months"]) == (1, str(QUOTE_TOTAL), 12)
    assert (second["version"], second["total"], second["term_months"]) == (2, "1800.00", 24)
    assert [item["description"] for item in first["line_items"]] == [item["description"] for item in LINE_ITEMS]
    assert body["current_version"] == second
    # The provider reads the same versions.
    assert st_mary.api("client:read_only").get(url(QUOTES, quote_request)).json()["versions"] == body["versions"]
    assert Quote.objects.filter(quote_request=quote_request).count() == 2
    assert [e.data["version"] for e in events(quote_request, "quote.issued")] == [1, 2]
    assert len(audits(quote_request, "procurement.quote.issued")) == 2


# --- invalid transitions ---------------------------------------------------------------------------

TERMINAL = ("accepted", "declined", "expired", "withdrawn", "cancelled")
VERBS = {  # verb -> (side, caller, the state it leads to)
    "issue": ("radiant", "member", "quoted"),
    "accept": ("st_mary", "admin", "accepted"),
    "decline": ("st_mary", "member", "declined"),
    "withdraw": ("radiant", "member", "withdrawn"),
    "cancel": ("st_mary", "member", "cancelled"),
}
REFUSED_MOVES = [("requested", "accept"), ("requested", "decline")] + [
    (state, verb) for state in TERMINAL for verb in VERBS if VERBS[verb][2] != state
]


def _body(verb: str, quote_request: QuoteRequest) -> dict[str, Any]:
    if verb == "issue":
        return issue_payload()
    if verb == "accept":
        return {"accepted_terms": terms_for(quote_request.listing)}
    return {"reason": "Changed our mind."}


@pytest.mark.parametrize(("state", "verb"), REFUSED_MOVES, ids=[f"{s}-{v}" for s, v in REFUSED_MOVES])
def test_a_transition_the_table_does_not_allow_is_a_409(
    state: str, verb: str, st_mary: Party, radiant: Party, request: pytest.FixtureRequest
) -> None:
    quote_request = quote_in_state(state, provider=st_mary.organization, vendor=radiant.organization)
    side, caller, _target = VERBS[verb]
    before = counts()
    response = (
        request.getfixturevalue(side)
        .api(caller)
        .post(url(QUOTES, quote_request, verb), _body(verb, quote_request), format="json")
    )
    expected_code = "already_accepted" if (state, verb) == ("accepted", "accept") else "invalid_transition"
    error = assert_error(response, 409, code=expected_code)
    if expected_code == "invalid_transition":
        assert error["current_status"] == state
    assert fresh(quote_request).status == state
    assert counts() == before


@pytest.mark.parametrize("verb", ["decline", "withdraw", "cancel"])
def test_closing_again_is_a_quiet_no_op(
    verb: str, st_mary: Party, radiant: Party, request: pytest.FixtureRequest
) -> None:
    side, caller, state = VERBS[verb]
    quote_request = quote_in_state(state, provider=st_mary.organization, vendor=radiant.organization)
    reason = quote_request.reason
    before = counts()
    response = (
        request.getfixturevalue(side)
        .api(caller)
        .post(url(QUOTES, quote_request, verb), {"reason": "Another reason."}, format="json")
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == state and fresh(quote_request).reason == reason
    assert counts() == before


# --- issuing -----------------------------------------------------------------------------------------

PAST = (timezone.now().date() - timedelta(days=1)).isoformat()
REFUSED_ISSUES: dict[str, tuple[dict[str, Any], str]] = {
    "no line items": ({"line_items": []}, "line_items"),
    "line items missing": ({"line_items": None}, "line_items"),
    "negative unit price": (
        {"line_items": [{"description": "License", "quantity": "1", "unit_price": "-1.00"}]},
        "line_items.0.unit_price",
    ),
    "zero quantity": (
        {"line_items": [{"description": "License", "quantity": "0", "unit_price": "10.00"}]},
        "line_items.0.quantity",
    ),
    "blank description": (
        {"line_items": [{"description": " ", "quantity": "1", "unit_price": "10.00"}]},
        "line_items.0.description",
    ),
    "three decimals": (
        {"line_items": [{"description": "License", "quantity": "1", "unit_price": "10.001"}]},
        "line_items.0.unit_price",
    ),
    "fifty-one line items": (
        {"line_items": [{"description": "License", "quantity": "1", "unit_price": "1.00"}] * 51},
        "line_items",
    ),
    "lower-case currency": ({"currency": "eur"}, "currency"),
    "four-letter currency": ({"currency": "EURO"}, "currency"),
    "no such currency": ({"currency": "ABC"}, "currency"),
    "withdrawn currency": ({"currency": "HRK"}, "currency"),
    "no currency": ({"currency": ""}, "currency"),
    "valid until yesterday": ({"valid_until": PAST}, "valid_until"),
    "zero-month term": ({"term_months": 0}, "term_months"),
    "ten-year-and-a-month term": ({"term_months": 121}, "term_months"),
    "patient data in the terms": ({"terms": PATIENT_DATA["mrn"]}, "terms"),
    "patient data in a line item": (
        {"line_items": [{"description": PATIENT_DATA["ssn"], "quantity": "1", "unit_price": "10.00"}]},
        "line_items.0.description",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_ISSUES))
def test_an_issue_that_is_wrong_is_a_400_naming_the_field(case: str, st_mary: Party, radiant: Party) -> None:
    overrides, field = REFUSED_ISSUES[case]
    if overrides.get("line_items") is None and "line_items" in overrides:
        payload = issue_payload()
        del payload["line_items"]
    else:
        payload = issue_payload(**overrides)
    quote_request = quote_in_state("requested", provider=st_mary.organization, vendor=radiant.organization)
    before = counts()
    error = assert_error(
        radiant.api("member").post(url(QUOTES, quote_request, "issue"), payload, format="json"), 400, field=field
    )
    assert error["fields"][field][0]
    assert fresh(quote_request).status == "requested"
    assert counts() == before


def test_the_server_computes_every_amount_and_the_total_to_the_cent(st_mary: Party, radiant: Party) -> None:
    quote_request = quote_in_state("requested", provider=st_mary.organization, vendor=radiant.organization)
    payload = issue_payload(
        line_items=[
            {"description": "Half a seat", "quantity": "1.5", "unit_price": "0.33", "amount": "9999.00"},
            {"description": "Three seats", "quantity": "3", "unit_price": "33.33"},
            {"description": "Rounding dust", "quantity": "0.01", "unit_price": "0.01"},
            {"description": "Free training", "quantity": "1", "unit_price": "0"},
        ],
        total="1.00",
        currency="CHF",
    )
    response = radiant.api("member").post(url(QUOTES, quote_request, "issue"), payload, format="json")
    assert response.status_code == 200, response.content
    version = response.json()["current_version"]
    assert version["currency"] == "CHF"
    assert [(i["quantity"], i["unit_price"], i["amount"]) for i in version["line_items"]] == [
        ("1.50", "0.33", "0.50"),  # 0.495 rounds half up
        ("3.00", "33.33", "99.99"),
        ("0.01", "0.01", "0.00"),
        ("1.00", "0.00", "0.00"),
    ]
    assert version["total"] == "100.49"
    assert all(isinstance(i[key], str) for i in version["line_items"] for key in ("quantity", "unit_price", "amount"))
    stored = Quote.objects.get(quote_request=quote_request)
    assert str(stored.total) == "100.49"
    assert [str(item.amount) for item in stored.line_items.all()] == ["0.50", "99.99", "0.00", "0.00"]


def test_a_provider_may_not_issue_and_a_vendor_may_not_cancel(st_mary: Party, radiant: Party) -> None:
    quote_request = quote_in_state("requested", provider=st_mary.organization, vendor=radiant.organization)
    before = counts()
    assert_error(st_mary.api("admin").post(url(QUOTES, quote_request, "issue"), issue_payload(), format="json"), 403)
    assert_error(radiant.api("admin").post(url(QUOTES, quote_request, "cancel"), {}, format="json"), 403)
    assert counts() == before


# --- withdrawing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
@pytest.mark.parametrize("state", ["requested", "quoted"])
def test_withdrawing_needs_a_reason(state: str, reason: str | None, st_mary: Party, radiant: Party) -> None:
    quote_request = quote_in_state(state, provider=st_mary.organization, vendor=radiant.organization)
    body = {} if reason is None else {"reason": reason}
    before = counts()
    assert_error(
        radiant.api("member").post(url(QUOTES, quote_request, "withdraw"), body, format="json"), 400, field="reason"
    )
    assert fresh(quote_request).status == state
    assert counts() == before


def test_a_reason_with_patient_identifiers_is_refused(st_mary: Party, radiant: Party) -> None:
    quote_request = quote_in_state("quoted", provider=st_mary.organization, vendor=radiant.organization)
    before = counts()
    for api, verb in ((radiant.api("member"), "withdraw"), (st_mary.api("member"), "decline")):
        response = api.post(url(QUOTES, quote_request, verb), {"reason": PATIENT_DATA["dob"]}, format="json")
        assert_error(response, 400, field="reason")
    assert fresh(quote_request).status == "quoted"
    assert counts() == before


# --- validity -----------------------------------------------------------------------------------------


def _expire_latest(quote_request: QuoteRequest, days_ago: int = 1) -> None:
    """Time passes: the current version's validity date is now in the past."""
    Quote.objects.filter(quote_request=quote_request).update(valid_until=today() - timedelta(days=days_ago))


def test_accepting_after_the_validity_date_expires_the_quote(
    st_mary: Party, radiant: Party, northside: Party, django_capture_on_commit_callbacks: Any
) -> None:
    quote_request = quote_in_state("quoted", provider=st_mary.organization, vendor=radiant.organization)
    _expire_latest(quote_request)
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(
            url(QUOTES, quote_request, "accept"), {"accepted_terms": terms_for(quote_request.listing)}, format="json"
        )
    assert_error(response, 409, code="quote_expired")
    # The expiry was committed although the acceptance failed.
    quote_request = fresh(quote_request)
    assert quote_request.status == "expired" and quote_request.closed_at is not None
    assert st_mary.api("admin").get(url(QUOTES, quote_request)).json()["status"] == "expired"
    [entry] = audits(quote_request, "procurement.quote.expired")
    assert entry.actor_kind == "system" and entry.old_values == {"status": "quoted"}
    assert len(events(quote_request, "quote.expired")) == 1
    assert not audits(quote_request, "procurement.quote.accepted") and not events(quote_request, "quote.accepted")
    assert not Order.objects.exists() and not Subscription.objects.exists() and not Deployment.objects.exists()
    assert recipients("expired") == emails_of(st_mary) | emails_of(radiant)
    assert not recipients() & emails_of(northside)
    # And it stays expired: a second attempt is an invalid transition.
    again = st_mary.api("admin").post(
        url(QUOTES, quote_request, "accept"), {"accepted_terms": terms_for(quote_request.listing)}, format="json"
    )
    assert_error(again, 409, code="invalid_transition")


def test_a_quote_is_valid_through_its_last_day(st_mary: Party, radiant: Party) -> None:
    quote_request = quote_in_state("quoted", provider=st_mary.organization, vendor=radiant.organization)
    Quote.objects.filter(quote_request=quote_request).update(valid_until=today())
    response = st_mary.api("admin").post(
        url(QUOTES, quote_request, "accept"), {"accepted_terms": terms_for(quote_request.listing)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"


def test_the_sweep_expires_quoted_requests_past_validity_and_nothing_else(st_mary: Party, radiant: Party) -> None:
    def quoted(valid_days: int, *, newer_days: int | None = None, slug: str) -> QuoteRequest:
        listing = buy_listing(radiant.organization, slug=slug)
        quote_request = request_quote(st_mary.organization, listing)
        issue_quote(quote_request, valid_until=today() + timedelta(days=valid_days))
        if newer_days is not None:
            issue_quote(quote_request, valid_until=today() + timedelta(days=newer_days))
        return quote_request

    lapsing = quoted(1, slug="lapsing")
    last_day = quoted(3, slug="last-day")
    lasting = quoted(10, slug="lasting")
    renewed = quoted(1, newer_days=10, slug="renewed")  # v1 lapsed, v2 still valid
    requested = request_quote(st_mary.organization, buy_listing(radiant.organization, slug="unquoted"))
    declined = quote_in_state("declined", provider=st_mary.organization, vendor=radiant.organization)
    Quote.objects.filter(quote_request=declined).update(valid_until=today() - timedelta(days=5))

    later = timezone.now() + timedelta(days=3)
    assert services.quotes_sweep(now=later) == {"expired": 1}
    assert fresh(lapsing).status == "expired"
    assert [fresh(q).status for q in (last_day, lasting, renewed, requested, declined)] == [
        "quoted",
        "quoted",
        "quoted",
        "requested",
        "declined",
    ]
    [entry] = audits(lapsing, "procurement.quote.expired")
    assert entry.actor_kind == "system"
    assert len(events(lapsing, "quote.expired")) == 1
    # Running again changes nothing.
    assert services.quotes_sweep(now=later) == {"expired": 0}
    assert len(events(lapsing, "quote.expired")) == 1
    assert services.quotes_sweep(now=later + timedelta(days=1)) == {"expired": 1}
    assert fresh(last_day).status == "expired"


# --- accepting ------------------------------------------------------------------------------------------


def test_accepting_a_superseded_version_is_a_409(st_mary: Party, radiant: Party) -> None:
    quote_request = quote_in_state("quoted", provider=st_mary.organization, vendor=radiant.organization)
    issue_quote(quote_request)
    before = counts()
    response = st_mary.api("admin").post(
        url(QUOTES, quote_request, "accept"),
        {"version": 1, "accepted_terms": terms_for(quote_request.listing)},
        format="json",
    )
    error = assert_error(response, 409, code="quote_superseded")
    assert error["current_version"] == 2
    assert fresh(quote_request).status == "quoted"
    assert counts() == before


@pytest.mark.parametrize(
    "terms",
    [
        pytest.param(None, id="no terms"),
        pytest.param([], id="empty"),
        pytest.param("eula 1.0", id="not a list"),
        pytest.param({"dpa": None}, id="no dpa"),
        pytest.param({"eula": "0.9"}, id="outdated eula"),
        pytest.param({"dpa": "2020-01"}, id="outdated dpa"),
    ],
)
def test_accepting_without_the_current_terms_is_a_400_naming_accepted_terms(
    terms: Any, st_mary: Party, radiant: Party
) -> None:
    quote_request = quote_in_state("quoted", provider=st_mary.organization, vendor=radiant.organization)
    body: dict[str, Any] = {}
    if isinstance(terms, dict):
        body["accepted_terms"] = terms_for(quote_request.listing, **terms)
    elif terms is not None:
        body["accepted_terms"] = terms
    before = counts()
    response = st_mary.api("admin").post(url(QUOTES, quote_request, "accept"), body, format="json")
    error = assert_error(response, 400, field="accepted_terms")
    assert error["fields"]["accepted_terms"][0]
    assert fresh(quote_request).status == "quoted"
    assert counts() == before


def test_an_app_that_processes_patient_data_needs_the_business_associate_agreement(
    st_mary: Party, radiant: Party
) -> None:
    listing = buy_listing(radiant.organization, patient_data=True)
    quote_request = quote_in_state(
        "quoted", provider=st_mary.organization, vendor=radiant.organization, listing=listing
    )
    api = st_mary.api("admin")
    without = api.post(
        url(QUOTES, quote_request, "accept"), {"accepted_terms": terms_for(listing, baa=None)}, format="json"
    )
    error = assert_error(without, 400, field="accepted_terms")
    assert any("baa" in message for message in error["fields"]["accepted_terms"])
    assert fresh(quote_request).status == "quoted"
    accepted = api.post(url(QUOTES, quote_request, "accept"), {"accepted_terms": terms_for(listing)}, format="json")
    assert accepted.status_code == 200, accepted.content
    order = Order.objects.get(quote_request=quote_request)
    assert [term["kind"] for term in order.accepted_terms] == ["eula", "dpa", "baa"]


def test_an_accepted_quote_becomes_an_order_with_its_price_and_term(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    site_a, site_b = SiteFactory(organization=st_mary.organization), SiteFactory(organization=st_mary.organization)
    listing = buy_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    quote_request = request_quote(st_mary.organization, listing, sites=[site_a, site_b], seats=40)
    issue_quote(quote_request, term_months=36)
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("client:admin").post(
            url(QUOTES, quote_request, "accept"),
            {"version": 1, "accepted_terms": terms_for(listing), "purchase_order_number": "PO-7"},
            format="json",
        )
    assert response.status_code == 200, response.content
    order = Order.objects.get(public_id=response.json()["order"]["id"])
    assert order.source == "quote" and order.quote.version == 1 and order.quote_request_id == quote_request.pk
    assert (order.total, order.currency, order.seats, order.purchase_order_number) == (QUOTE_TOTAL, "EUR", 40, "PO-7")
    assert order.plan_id == plan_of(listing).pk
    subscription = order.subscription
    assert subscription.term_months == 36
    entitlements = list(subscription.entitlements.order_by("site__name"))
    assert {e.site_id for e in entitlements} == {site_a.pk, site_b.pk}
    assert all(e.seats == 40 and e.deployment_id and e.licenses.count() == 1 for e in entitlements)
    assert Deployment.objects.count() == 2
    # The sandbox provisioned both sites at once: active, and the order fulfilled.
    assert all(e.deployment.status == Deployment.Status.ACTIVE for e in entitlements)
    order.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.status == "active" and order.status == "fulfilled"


# --- a quote that follows a trial ---------------------------------------------------------------------


def test_accepting_a_quote_that_follows_a_running_trial_converts_it_and_keeps_its_deployment(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    trial = trial_in_state(
        "active",
        provider=st_mary.organization,
        vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks,
        settings=settings,
    )
    assert trial.deployment is not None and trial.deployment.status == Deployment.Status.ACTIVE
    [trial_license] = License.objects.filter(trial=trial)
    provider, vendor = st_mary.api("admin"), radiant.api("member")
    created = provider.post(QUOTES, quote_payload(trial.listing, trial=str(trial.public_id)), format="json")
    assert created.status_code == 201, created.content
    quote_id = created.json()["id"]
    assert vendor.post(url(QUOTES, quote_id, "issue"), issue_payload(), format="json").status_code == 200
    deployments, steps = Deployment.objects.count(), DeploymentStep.objects.count()
    provisioning = OutboxMessage.objects.filter(task_name=ADVANCE_TASK).count()

    with django_capture_on_commit_callbacks(execute=True):
        accepted = provider.post(
            url(QUOTES, quote_id, "accept"), {"accepted_terms": terms_for(trial.listing)}, format="json"
        )
    assert accepted.status_code == 200, accepted.content

    # Nothing was provisioned twice.
    assert Deployment.objects.count() == deployments
    assert DeploymentStep.objects.count() == steps
    assert OutboxMessage.objects.filter(task_name=ADVANCE_TASK).count() == provisioning
    trial.refresh_from_db()
    assert trial.status == Trial.Status.CONVERTED and trial.ended_at is not None
    order = Order.objects.get(public_id=accepted.json()["order"]["id"])
    assert order.trial_id == trial.pk and order.source == "quote"
    [entitlement] = Entitlement.objects.filter(subscription__order=order)
    assert entitlement.deployment_id == trial.deployment_id
    assert Deployment.objects.get(pk=trial.deployment_id).status == Deployment.Status.ACTIVE
    # The trial's license is revoked; the subscription's is issued.
    trial_license.refresh_from_db()
    assert trial_license.revoked_at is not None
    [subscription_license] = License.objects.filter(entitlement=entitlement)
    assert subscription_license.revoked_at is None and subscription_license.claims["kind"] == "subscription"
    assert str(trial_license.public_id) in provider.get("/api/v1/licensing/revocations/").json()["revoked"]
    # Active at once, since its deployment already runs; the order is fulfilled.
    subscription = Subscription.objects.get(order=order)
    order.refresh_from_db()
    assert subscription.status == "active" and subscription.activated_at is not None
    assert order.status == "fulfilled" and order.fulfilled_at is not None
    assert provider.get(f"/api/v1/trials/{trial.public_id}/").json()["order"] == str(order.public_id)
    assert Event.objects.filter(type="trial.converted", subject_id=str(trial.public_id)).count() == 1
    assert Event.objects.filter(type="license.revoked", subject_id=str(trial_license.public_id)).count() == 1


def test_a_quote_naming_a_trial_that_has_since_ended_provisions_anew(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    listing = trial_listing(radiant.organization)
    trial = request_trial(st_mary.organization, listing)
    quote_request = request_quote(st_mary.organization, listing, trial=trial)
    issue_quote(quote_request)
    services.trial_cancel(trial=trial, actor=_member(st_mary), reason="")
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(
            url(QUOTES, quote_request, "accept"), {"accepted_terms": terms_for(listing)}, format="json"
        )
    assert response.status_code == 200, response.content
    order = Order.objects.get(quote_request=quote_request)
    assert order.trial_id is None
    trial.refresh_from_db()
    assert trial.status == Trial.Status.CANCELLED
    assert order.subscription.entitlements.get().deployment.status == Deployment.Status.ACTIVE


def test_accepting_while_the_followed_trial_is_still_provisioning_never_provisions_twice(
    st_mary: Party, radiant: Party
) -> None:
    trial = trial_in_state("provisioning", provider=st_mary.organization, vendor=radiant.organization)
    quote_request = request_quote(st_mary.organization, trial.listing, trial=trial)
    issue_quote(quote_request)
    response = st_mary.api("admin").post(
        url(QUOTES, quote_request, "accept"), {"accepted_terms": terms_for(trial.listing)}, format="json"
    )
    trial.refresh_from_db()
    # Refused until the trial runs (or is cancelled): nothing is provisioned twice.
    assert response.status_code == 409 and response.json()["error"]["code"] == "trial_in_progress"
    assert trial.status == "provisioning" and not Order.objects.exists() and Deployment.objects.count() == 1
