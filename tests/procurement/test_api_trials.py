"""Trials through the API: who may request, approve, decline and cancel; what is refused and
why; one open trial per organization, offering and place; what both parties see and nobody
else; the events and audit entries every transition leaves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.db.models import Model
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.procurement import services
from apps.procurement.models import Trial
from apps.provisioning.models import Deployment
from marketplace.models import AuditEntry, Event, OutboxMessage
from marketplace.principal import operator_principal
from tests.api_contract import INJECTED_ID, INJECTED_TIME, OPERATOR, PARTY_CALLERS, ApiContract, BadInput
from tests.catalog.factories import ready_listing
from tests.conftest import Party, assert_error
from tests.factories import SiteFactory
from tests.procurement.factories import (
    PATIENT_DATA,
    REGION,
    TRIAL_DAYS,
    approve,
    offering_of,
    plan_of,
    principal_of,
    request_trial,
    trial_in_state,
    trial_listing,
    trial_payload,
)

pytestmark = pytest.mark.django_db

TRIALS = "/api/v1/trials/"
MEMBERS_PLUS: frozenset[str] = frozenset({"member", "client:member", "admin", "client:admin"})


def trial_url(trial: Trial | str) -> str:
    return f"{TRIALS}{getattr(trial, 'public_id', trial)}/"


def _bulk_trials(provider: Party, vendor: Party, count: int) -> None:
    """`count` ended trials (no open-trial conflict), written straight to the table."""
    listing = trial_listing(vendor.organization)
    offering, plan = offering_of(listing), plan_of(listing)
    Trial.objects.bulk_create(
        Trial(
            provider=provider.organization,
            vendor=vendor.organization,
            listing=listing,
            offering=offering,
            plan=plan,
            region=REGION,
            status=Trial.Status.CANCELLED,
            days=TRIAL_DAYS,
        )
        for _ in range(count)
    )


# --- the shared contract, from each side -------------------------------------------------------


class TestTrialsProviderSideContract(ApiContract):
    """St. Mary's (provider) requests and cancels; it may not approve or decline its own."""

    model = Trial
    owner = "st_mary"
    stranger = "northside"
    readers = PARTY_CALLERS | {OPERATOR}
    creators = MEMBERS_PLUS
    can_update = False
    can_delete = False
    actions: ClassVar[dict[str, frozenset[str]]] = {
        "cancel": MEMBERS_PLUS | {OPERATOR},
        "approve": frozenset(),
        "decline": frozenset(),
    }
    bad_inputs = (
        BadInput("no listing", {"offering": INJECTED_ID, "plan": INJECTED_ID, "region": REGION}, "listing"),
        BadInput("unknown listing", {"listing": "no-such", "offering": INJECTED_ID, "plan": INJECTED_ID}, "listing"),
        BadInput("malformed offering", {"listing": "some-app", "offering": "nope", "plan": INJECTED_ID}, "offering"),
        BadInput("no plan", {"listing": "some-app", "offering": INJECTED_ID}, "plan"),
        BadInput("malformed site", {"listing": "a", "offering": INJECTED_ID, "plan": INJECTED_ID, "site": "x"}, "site"),
        BadInput(
            "notes too long",
            {"listing": "some-app", "offering": INJECTED_ID, "plan": INJECTED_ID, "notes": "x" * 2001},
            "notes",
        ),
    )
    mass_assignment_extra: ClassVar[dict[str, Any]] = {
        "provider": "northside",
        "vendor": "northside",
        "deployment": INJECTED_ID,
        "days": 365,
        "approved_at": INJECTED_TIME,
        "started_at": INJECTED_TIME,
        "ends_at": INJECTED_TIME,
        "decision_reason": "approved by me",
        "requested_by": "somebody else",
    }

    @pytest.fixture(autouse=True)
    def _vendor(self, radiant: Party) -> None:
        self.vendor = radiant

    def list_url(self, party: Party) -> str:
        return TRIALS

    def detail_url(self, party: Party, obj: Model) -> str:
        return trial_url(obj)  # type: ignore[arg-type]

    def make(self, party: Party) -> Trial:
        return request_trial(party.organization, trial_listing(self.vendor.organization))

    def make_many(self, party: Party, count: int) -> None:
        _bulk_trials(party, self.vendor, count)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return trial_payload(trial_listing(self.vendor.organization))

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.provider_id == party.organization.pk  # type: ignore[attr-defined]

    def assert_created_plainly(self, created: Model) -> None:
        assert isinstance(created, Trial)
        assert created.status == Trial.Status.REQUESTED
        assert created.vendor_id == self.vendor.organization.pk
        assert created.days == TRIAL_DAYS and created.deployment_id is None
        assert created.approved_at is created.started_at is created.ends_at is None
        assert created.decision_reason == "" and "somebody" not in created.requested_by


class TestTrialsVendorSideContract(ApiContract):
    """Radiant (vendor) approves and declines; it never requests or cancels; an operator may cancel."""

    model = Trial
    owner = "radiant"
    stranger = "orbit"
    readers = PARTY_CALLERS | {OPERATOR}
    creators = frozenset()  # a vendor organization may not request trials (403, not 405)
    can_update = False
    can_delete = False
    actions: ClassVar[dict[str, frozenset[str]]] = {
        "approve": MEMBERS_PLUS,
        "decline": MEMBERS_PLUS,
        "cancel": frozenset({OPERATOR}),
    }

    @pytest.fixture(autouse=True)
    def _provider(self, st_mary: Party) -> None:
        self.provider = st_mary

    def list_url(self, party: Party) -> str:
        return TRIALS

    def detail_url(self, party: Party, obj: Model) -> str:
        return trial_url(obj)  # type: ignore[arg-type]

    def make(self, party: Party) -> Trial:
        return request_trial(self.provider.organization, trial_listing(party.organization))

    def make_many(self, party: Party, count: int) -> None:
        _bulk_trials(self.provider, party, count)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return trial_payload(trial_listing(party.organization))

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.vendor_id == party.organization.pk  # type: ignore[attr-defined]

    def _writer_for_create(self) -> str:
        return "admin"  # who tries (and is refused) in the generic input checks

    def test_contract_mass_assignment_on_create_is_ignored(
        self, owner_party: Party, stranger_party: Party, call_as: Any
    ) -> None:
        payload = {**self._mass_assignment(stranger_party), **self.create_payload(owner_party)}
        assert_error(call_as("admin", owner_party).post(TRIALS, payload, format="json"), 403, code="not_a_provider")
        assert not Trial.objects.exists()


# --- requesting ---------------------------------------------------------------------------------


def test_a_provider_member_requests_a_trial_and_the_vendor_is_told(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    listing = trial_listing(radiant.organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("member").post(TRIALS, trial_payload(listing, notes="For the CT team."), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "requested" and body["region"] == REGION and body["site"] is None
    assert body["provider"]["slug"] == "st-marys" and body["vendor"]["slug"] == "radiant-ai"
    assert body["listing"] == listing.slug and body["days"] == TRIAL_DAYS and body["deployment"] is None
    assert body["notes"] == "For the CT team."
    vendor_emails = {radiant.admin.email, radiant.member.email}
    assert {m.to[0] for m in mail.outbox if "Trial request" in m.subject} == vendor_emails


@pytest.mark.parametrize("caller", ["admin", "member", "client:read_only", "client:member", "client:admin"])
def test_a_vendor_organization_may_not_request_trials(radiant: Party, orbit: Party, caller: str) -> None:
    listing = trial_listing(radiant.organization)
    error = assert_error(orbit.api(caller).post(TRIALS, trial_payload(listing), format="json"), 403)
    if caller != "client:read_only":
        assert error["code"] == "not_a_provider"
    assert not Trial.objects.exists()


def test_a_read_only_client_is_refused_before_its_payload_is_looked_at(st_mary: Party) -> None:
    response = st_mary.api("client:read_only").post(TRIALS, {"listing": "no-such-app"}, format="json")
    assert_error(response, 403)


@dataclass
class Parties:
    radiant: Party
    st_mary: Party
    northside: Party


def _unpublished(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    draft = ready_listing(vendor=radiant.organization, name="Draft App", slug="draft-app")
    offering = draft.offerings.get()
    return {"listing": draft.slug, "offering": str(offering.public_id), "plan": str(offering.plans.get().public_id),
            "region": REGION}


def _suspended(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    listing = trial_listing(radiant.organization)
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.SUSPENDED)
    return trial_payload(listing)


def _inactive_offering(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    listing = trial_listing(radiant.organization)
    Offering.objects.filter(listing=listing).update(is_active=False)
    return trial_payload(listing)


def _inactive_plan(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    listing = trial_listing(radiant.organization)
    Plan.objects.filter(offering__listing=listing).update(is_active=False)
    return trial_payload(listing)


def _no_trial_plan(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    return trial_payload(trial_listing(radiant.organization, trial_days=0, slug="no-trial-app"))


def _plan_of_another_offering(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    other = trial_listing(radiant.organization, slug="other-app")
    return trial_payload(trial_listing(radiant.organization), plan=str(plan_of(other).public_id))


def _wrong_region(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    return trial_payload(trial_listing(radiant.organization), region="us-east")


def _no_region(p: Parties) -> dict[str, Any]:
    radiant = p.radiant
    return trial_payload(trial_listing(radiant.organization), region="")


def _site_for_cloud(p: Parties) -> dict[str, Any]:
    radiant, st_mary = p.radiant, p.st_mary
    site = SiteFactory(organization=st_mary.organization)
    return {**trial_payload(trial_listing(radiant.organization)), "site": str(site.public_id), "region": ""}


def _foreign_site(p: Parties) -> dict[str, Any]:
    radiant, northside = p.radiant, p.northside
    listing = trial_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    return trial_payload(listing, site=SiteFactory(organization=northside.organization))


def _archived_site(p: Parties) -> dict[str, Any]:
    radiant, st_mary = p.radiant, p.st_mary
    listing = trial_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    return trial_payload(listing, site=SiteFactory(organization=st_mary.organization, archived_at=timezone.now()))


def _region_for_on_premise(p: Parties) -> dict[str, Any]:
    radiant, st_mary = p.radiant, p.st_mary
    listing = trial_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    return trial_payload(listing, site=SiteFactory(organization=st_mary.organization), region=REGION)


REFUSED_REQUESTS: dict[str, tuple[Callable[[Parties], dict[str, Any]], str]] = {
    "unpublished listing": (_unpublished, "listing"),
    "suspended listing": (_suspended, "listing"),
    "inactive offering": (_inactive_offering, "offering"),
    "inactive plan": (_inactive_plan, "plan"),
    "plan without trial": (_no_trial_plan, "plan"),
    "plan of another offering": (_plan_of_another_offering, "plan"),
    "region not offered": (_wrong_region, "region"),
    "cloud without region": (_no_region, "region"),
    "cloud with a site": (_site_for_cloud, "site"),
    "another organization's site": (_foreign_site, "site"),
    "archived site": (_archived_site, "site"),
    "on premise with a region": (_region_for_on_premise, "region"),
}


@pytest.mark.parametrize("case", list(REFUSED_REQUESTS))
def test_a_request_that_cannot_be_met_is_a_400_naming_the_field(
    case: str, st_mary: Party, northside: Party, radiant: Party
) -> None:
    build, field = REFUSED_REQUESTS[case]
    payload = build(Parties(radiant=radiant, st_mary=st_mary, northside=northside))
    before = (AuditEntry.objects.count(), Event.objects.count())
    error = assert_error(st_mary.api("member").post(TRIALS, payload, format="json"), 400, field=field)
    assert error["fields"][field][0]
    assert not Trial.objects.exists()
    assert not Deployment.objects.exists()
    assert (AuditEntry.objects.count(), Event.objects.count()) == before


# --- one open trial per organization, offering and place -----------------------------------------


def test_a_second_open_cloud_trial_in_the_same_region_is_a_409_naming_the_first(
    st_mary: Party, radiant: Party
) -> None:
    listing = trial_listing(radiant.organization)
    first = st_mary.api("member").post(TRIALS, trial_payload(listing), format="json").json()["id"]
    # Another member, another client: the organization holds the trial.
    for caller in ("admin", "client:member"):
        error = assert_error(st_mary.api(caller).post(TRIALS, trial_payload(listing), format="json"), 409)
        assert error["code"] == "trial_exists" and error["trial"] == first
    assert Trial.objects.count() == 1


@pytest.mark.parametrize("state", ["approved", "active", "failed"])
def test_an_approved_running_or_failed_trial_is_still_open(
    state: str, st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    trial = trial_in_state(
        state, provider=st_mary.organization, vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks, settings=settings,
    )
    assert trial.status == state
    response = st_mary.api("member").post(TRIALS, trial_payload(trial.listing), format="json")
    assert assert_error(response, 409)["trial"] == str(trial.public_id)


def test_another_region_another_site_or_another_organization_is_a_separate_trial(
    st_mary: Party, northside: Party, radiant: Party
) -> None:
    cloud = trial_listing(radiant.organization)
    Offering.objects.filter(listing=cloud).update(regions=[REGION, "eu-west"])
    api = st_mary.api("member")
    assert api.post(TRIALS, trial_payload(cloud), format="json").status_code == 201
    assert api.post(TRIALS, trial_payload(cloud, region="eu-west"), format="json").status_code == 201
    assert northside.api("member").post(TRIALS, trial_payload(cloud), format="json").status_code == 201

    on_premise = trial_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    north, south = (SiteFactory(organization=st_mary.organization) for _ in range(2))
    first = api.post(TRIALS, trial_payload(on_premise, site=north), format="json")
    assert first.status_code == 201, first.content
    assert assert_error(api.post(TRIALS, trial_payload(on_premise, site=north), format="json"), 409)["trial"] == (
        first.json()["id"]
    )
    assert api.post(TRIALS, trial_payload(on_premise, site=south), format="json").status_code == 201
    assert Trial.objects.count() == 5


@pytest.mark.parametrize("ending", ["cancel", "decline"])
def test_after_a_trial_is_cancelled_or_declined_a_new_one_may_be_requested(
    ending: str, st_mary: Party, radiant: Party
) -> None:
    listing = trial_listing(radiant.organization)
    first = st_mary.api("member").post(TRIALS, trial_payload(listing), format="json").json()["id"]
    if ending == "cancel":
        response = st_mary.api("member").post(f"{trial_url(first)}cancel/", {}, format="json")
    else:
        response = radiant.api("member").post(f"{trial_url(first)}decline/", {"reason": "Region full."}, format="json")
    assert response.status_code == 200, response.content
    again = st_mary.api("member").post(TRIALS, trial_payload(listing), format="json")
    assert again.status_code == 201, again.content
    assert again.json()["id"] != first


def test_the_same_idempotency_key_answers_the_same_trial(st_mary: Party, radiant: Party) -> None:
    listing = trial_listing(radiant.organization)
    api = st_mary.api("member")
    first = api.post(TRIALS, trial_payload(listing), format="json", HTTP_IDEMPOTENCY_KEY="trial-1")
    second = api.post(TRIALS, trial_payload(listing), format="json", HTTP_IDEMPOTENCY_KEY="trial-1")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Trial.objects.count() == 1
    assert Event.objects.filter(type="trial.requested").count() == 1


# --- approving and declining --------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["approve", "decline"])
@pytest.mark.parametrize("caller", ["admin", "member", "client:admin", "client:member", "client:read_only"])
def test_only_vendor_members_decide(verb: str, caller: str, st_mary: Party, radiant: Party) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    body = {"reason": "Not in your region yet."}
    assert_error(st_mary.api(caller).post(f"{trial_url(trial)}{verb}/", body, format="json"), 403)
    if caller == "client:read_only":
        assert_error(radiant.api(caller).post(f"{trial_url(trial)}{verb}/", body, format="json"), 403)
    trial.refresh_from_db()
    assert trial.status == Trial.Status.REQUESTED
    assert not Event.objects.filter(type__in=["trial.approved", "trial.declined"]).exists()


def test_an_operator_may_not_decide_for_the_vendor(st_mary: Party, radiant: Party, operator_api: Any) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    assert_error(operator_api.post(f"{trial_url(trial)}approve/"), 403)
    assert_error(operator_api.post(f"{trial_url(trial)}decline/", {"reason": "No."}, format="json"), 403)


def test_the_vendor_approves_and_a_deployment_is_set_up(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = radiant.api("client:member").post(f"{trial_url(trial)}approve/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved" and body["approved_at"]
    assert body["deployment"]["status"] == "pending"  # the answer is written before the worker runs
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE and trial.deployment.status == Deployment.Status.ACTIVE
    assert trial.ends_at is not None and (trial.ends_at - trial.started_at).days == TRIAL_DAYS
    subjects = [m.subject for m in mail.outbox]
    assert any("is approved" in s for s in subjects) and any("is ready" in s for s in subjects)


def test_declining_needs_a_reason_the_hospital_sees(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    url = f"{trial_url(trial)}decline/"
    assert_error(radiant.api("member").post(url, {}, format="json"), 400, field="reason")
    assert_error(radiant.api("member").post(url, {"reason": "   "}, format="json"), 400, field="reason")
    trial.refresh_from_db()
    assert trial.status == Trial.Status.REQUESTED
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = radiant.api("member").post(url, {"reason": "We do not serve your region yet."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "declined" and body["decision_reason"] == "We do not serve your region yet."
    assert body["ended_at"] and body["deployment"] is None
    assert any("declined" in m.subject and "region" in m.body for m in mail.outbox)


# --- the patient-data guard ---------------------------------------------------------------------


def _snapshot() -> tuple[list[dict[str, Any]], int, int, int]:
    return (
        list(Trial.objects.values().order_by("pk")),
        AuditEntry.objects.count(),
        Event.objects.count(),
        OutboxMessage.objects.count(),
    )


@pytest.mark.parametrize("kind", list(PATIENT_DATA))
def test_patient_data_in_request_notes_is_refused_and_nothing_written(
    kind: str, st_mary: Party, radiant: Party
) -> None:
    listing = trial_listing(radiant.organization)
    before = _snapshot()
    response = st_mary.api("member").post(TRIALS, trial_payload(listing, notes=PATIENT_DATA[kind]), format="json")
    error = assert_error(response, 400, code="patient_data", field="notes")
    assert "patient data" in error["fields"]["notes"][0]
    assert _snapshot() == before


@pytest.mark.parametrize("kind", list(PATIENT_DATA))
@pytest.mark.parametrize("verb", ["decline", "cancel"])
def test_patient_data_in_a_reason_is_refused_and_nothing_written(
    kind: str, verb: str, st_mary: Party, radiant: Party
) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    party = radiant if verb == "decline" else st_mary
    before = _snapshot()
    response = party.api("member").post(f"{trial_url(trial)}{verb}/", {"reason": PATIENT_DATA[kind]}, format="json")
    assert_error(response, 400, code="patient_data", field="reason")
    assert _snapshot() == before


def test_ten_digits_that_are_not_an_nhs_number_pass(st_mary: Party, radiant: Party) -> None:
    listing = trial_listing(radiant.organization)
    response = st_mary.api("member").post(
        TRIALS, trial_payload(listing, notes="Ticket 943 476 5918 in our service desk"), format="json"
    )
    assert response.status_code == 201, response.content


# --- cancelling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["requested", "approved", "provisioning", "active", "failed"])
@pytest.mark.parametrize("who", ["provider member", "operator"])
def test_an_open_trial_is_cancelled_and_what_exists_is_removed(
    state: str,
    who: str,
    st_mary: Party,
    radiant: Party,
    operator_api: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    trial = trial_in_state(
        state, provider=st_mary.organization, vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks, settings=settings,
    )
    assert trial.status == state
    if state == "provisioning":
        assert trial.deployment.status == Deployment.Status.PROVISIONING
        assert trial.deployment.steps.filter(status="done").count() == 1
    api = st_mary.api("member") if who == "provider member" else operator_api
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{trial_url(trial)}cancel/", {"reason": "Budget moved to next year."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled" and response.json()["ended_at"]
    trial.refresh_from_db()
    assert trial.status == Trial.Status.CANCELLED
    if state == "requested":
        assert trial.deployment is None
    else:
        assert trial.deployment.status == Deployment.Status.DEPROVISIONED
        assert trial.deployment.deprovisioned_at is not None
        steps = trial.deployment.steps.filter(phase="deprovision")
        assert [s.status for s in steps] == ["done", "done"]
    entry = AuditEntry.objects.get(action="procurement.trial.cancelled", object_id=str(trial.public_id))
    assert entry.actor_kind == ("member" if who == "provider member" else "operator")
    assert entry.old_values == {"status": state}
    assert entry.new_values == {"status": "cancelled", "reason": "Budget moved to next year."}
    assert any("cancelled" in m.subject and m.to[0] in {radiant.admin.email, radiant.member.email}
               for m in mail.outbox)


def test_the_vendor_may_not_cancel(st_mary: Party, radiant: Party) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    for caller in ("admin", "member", "client:admin"):
        assert_error(radiant.api(caller).post(f"{trial_url(trial)}cancel/", {}, format="json"), 403)
    trial.refresh_from_db()
    assert trial.status == Trial.Status.REQUESTED


# --- invalid transitions and repeats ----------------------------------------------------------------


def _ended(state: str, st_mary: Party, radiant: Party) -> Trial:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    if state == "declined":
        return services.trial_decline(trial=trial, actor=principal_of(radiant.organization), reason="No capacity.")
    if state == "cancelled":
        return services.trial_cancel(trial=trial, actor=principal_of(st_mary.organization))
    trial = approve(trial)
    Trial.objects.filter(pk=trial.pk).update(status=state)  # expired or converted
    trial.refresh_from_db()
    return trial


INVALID = [
    ("declined", "approve", "radiant"),
    ("declined", "cancel", "st_mary"),
    ("cancelled", "approve", "radiant"),
    ("cancelled", "decline", "radiant"),
    ("expired", "cancel", "st_mary"),
    ("expired", "decline", "radiant"),
    ("converted", "cancel", "st_mary"),
]


@pytest.mark.parametrize(("state", "verb", "side"), INVALID, ids=[f"{v}-{s}" for s, v, _ in INVALID])
def test_an_invalid_transition_is_a_409(state: str, verb: str, side: str, request: pytest.FixtureRequest) -> None:
    st_mary, radiant = request.getfixturevalue("st_mary"), request.getfixturevalue("radiant")
    trial = _ended(state, st_mary, radiant)
    party = {"st_mary": st_mary, "radiant": radiant}[side]
    before = _snapshot()
    response = party.api("member").post(f"{trial_url(trial)}{verb}/", {"reason": "Because."}, format="json")
    error = assert_error(response, 409, code="invalid_transition")
    assert error["current_status"] == state
    assert _snapshot() == before


def test_declining_an_approved_trial_is_a_409(st_mary: Party, radiant: Party) -> None:
    trial = approve(request_trial(st_mary.organization, trial_listing(radiant.organization)))
    response = radiant.api("member").post(f"{trial_url(trial)}decline/", {"reason": "Changed our mind."}, format="json")
    assert_error(response, 409, code="invalid_transition")


@pytest.mark.parametrize("verb", ["approve", "decline", "cancel"])
def test_repeating_a_transition_changes_nothing(
    verb: str, st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    party = st_mary if verb == "cancel" else radiant
    url, body = f"{trial_url(trial)}{verb}/", {"reason": "Not now."}
    with django_capture_on_commit_callbacks(execute=True):
        first = party.api("member").post(url, body, format="json")
    assert first.status_code == 200, first.content
    before = _snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        second = party.api("admin").post(url, body, format="json")
    assert second.status_code == 200, second.content
    assert second.json()["status"] == first.json()["status"] or verb == "approve"
    assert _snapshot() == before
    assert Deployment.objects.count() == (1 if verb == "approve" else 0)


# --- who sees it --------------------------------------------------------------------------------


def test_both_parties_see_the_trial_and_a_third_organization_does_not(
    st_mary: Party, northside: Party, radiant: Party, orbit: Party
) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    for party in (st_mary, radiant):
        for caller in ("member", "client:read_only"):
            api = party.api(caller)
            assert [t["id"] for t in api.get(TRIALS).json()["results"]] == [str(trial.public_id)]
            assert api.get(trial_url(trial)).json()["status"] == "requested"
    for party in (northside, orbit):
        api = party.api("admin")
        assert api.get(TRIALS).json()["results"] == []
        assert_error(api.get(trial_url(trial)), 404)
        for verb in ("approve", "decline", "cancel"):
            assert_error(api.post(f"{trial_url(trial)}{verb}/", {"reason": "x"}, format="json"), 404)
    assert radiant.api("member").get(TRIALS, {"status": "requested"}).json()["count"] == 1
    assert radiant.api("member").get(TRIALS, {"status": "active"}).json()["count"] == 0


# --- events and audit -----------------------------------------------------------------------------


def _trial_events(trial: Trial) -> list[Event]:
    return list(Event.objects.filter(subject_type="procurement.trial", subject_id=str(trial.public_id)).order_by("id"))


def test_every_transition_emits_one_event_for_both_parties_and_one_audit_entry(
    st_mary: Party, radiant: Party, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    provider, vendor = st_mary.organization, radiant.organization
    seen: dict[str, int] = {}

    def collect(trial: Trial) -> list[str]:
        events = _trial_events(trial)
        for event in events:
            assert (event.organization_id, event.counterparty_id) == (provider.pk, vendor.pk), event.type
            assert event.data["trial"] == str(trial.public_id)
            seen[event.type] = seen.get(event.type, 0) + 1
        return [event.type for event in events]

    # requested -> approved -> provisioning -> active -> expiring -> expired
    active = trial_in_state("active", provider=provider, vendor=vendor, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.trials_sweep(now=active.ends_at - timedelta(hours=12))
        services.trials_sweep(now=active.ends_at + timedelta(seconds=1))
    assert collect(active) == [
        "trial.requested", "trial.approved", "trial.provisioning", "trial.active",
        "trial.expiring", "trial.expired",
    ]
    # requested -> declined; a failed trial cancelled
    declined = _ended("declined", st_mary, radiant)
    assert collect(declined) == ["trial.requested", "trial.declined"]
    failed = trial_in_state(
        "failed", provider=provider, vendor=vendor, capture=django_capture_on_commit_callbacks, settings=settings
    )
    assert failed.deployment.failure_reason
    with django_capture_on_commit_callbacks(execute=True):
        services.trial_cancel(trial=failed, actor=principal_of(provider))
    assert collect(failed) == [
        "trial.requested", "trial.approved", "trial.provisioning", "trial.failed", "trial.cancelled"
    ]
    failed_event = Event.objects.get(type="trial.failed")
    assert failed_event.data["reason"] == failed.deployment.failure_reason
    assert failed_event.data["deployment"] == str(failed.deployment.public_id)

    # Deployment events: the same two parties, every state the deployments went through.
    deployment_types = set()
    for event in Event.objects.filter(type__startswith="deployment."):
        assert (event.organization_id, event.counterparty_id) == (provider.pk, vendor.pk), event.type
        deployment_types.add(event.type)
    assert deployment_types == {
        "deployment.pending", "deployment.provisioning", "deployment.active", "deployment.failed",
        "deployment.deprovisioning", "deployment.deprovisioned",
    }

    # One audit entry per trial transition (the reminder is a fact, not a transition).
    for trial in (active, declined, failed):
        types = [t.split(".", 1)[1] for t in collect(trial) if t != "trial.expiring"]
        actions = list(
            AuditEntry.objects.filter(object_type="procurement.trial", object_id=str(trial.public_id))
            .order_by("id")
            .values_list("action", flat=True)
        )
        assert actions == [f"procurement.trial.{t}" for t in types]
        assert set(
            AuditEntry.objects.filter(object_id=str(trial.public_id)).values_list("organization", "counterparty")
        ) == {(provider.pk, vendor.pk)}


def test_audit_entries_name_who_acted(st_mary: Party, radiant: Party) -> None:
    listing = trial_listing(radiant.organization)
    trial_id = st_mary.api("client:member").post(TRIALS, trial_payload(listing), format="json").json()["id"]
    radiant.api("member").post(f"{trial_url(trial_id)}approve/")
    requested = AuditEntry.objects.get(action="procurement.trial.requested", object_id=trial_id)
    client = st_mary.clients["member"][0]
    assert (requested.actor_kind, requested.actor_id) == ("api_client", str(client.client_id))
    assert requested.new_values["status"] == "requested" and requested.new_values["target"] == REGION
    approved = AuditEntry.objects.get(action="procurement.trial.approved", object_id=trial_id)
    assert (approved.actor_kind, approved.actor_id) == ("member", str(radiant.member.public_id))
    assert approved.old_values == {"status": "requested"}
    # Both parties' admins read it in their audit log; nobody else does.
    for party in (st_mary, radiant):
        entries = party.api("admin").get("/api/v1/audit-log/", {"page_size": 100}).json()["results"]
        actions = {entry["action"] for entry in entries}
        assert {"procurement.trial.requested", "procurement.trial.approved"} <= actions


def test_a_third_organization_sees_no_trace(st_mary: Party, northside: Party, radiant: Party) -> None:
    trial = approve(request_trial(st_mary.organization, trial_listing(radiant.organization)))
    entries = northside.api("admin").get("/api/v1/audit-log/", {"page_size": 100}).json()["results"]
    assert not [e for e in entries if e["object_id"] in {str(trial.public_id), str(trial.deployment.public_id)}]
    assert not Event.objects.filter(organization=northside.organization).exists()
    assert not Event.objects.filter(counterparty=northside.organization).exists()


def test_an_operator_cancel_is_audited_as_the_operator(st_mary: Party, radiant: Party, operator: Any) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization))
    services.trial_cancel(trial=trial, actor=operator_principal(operator), reason="Vendor under investigation.")
    entry = AuditEntry.objects.get(action="procurement.trial.cancelled")
    assert entry.actor_kind == "operator" and entry.actor_id == str(operator.public_id)
    assert entry.organization_id == st_mary.organization.pk
