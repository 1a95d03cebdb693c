"""Deployments through the API: both parties follow status, progress and the step log; provider
and vendor members retry; only provider admins (and operators) deprovision; anyone else gets 404."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db.models import Model

from apps.procurement.models import Trial
from apps.provisioning.models import Deployment, DeploymentStep, SandboxCall
from apps.provisioning.services import deployment_advance, deployment_create
from marketplace.models import AuditEntry, Event, OutboxMessage
from marketplace.principal import SYSTEM
from tests.api_contract import OPERATOR, PARTY_CALLERS, ApiContract
from tests.conftest import Party, assert_error
from tests.procurement.factories import (
    PATIENT_DATA,
    REGION,
    offering_of,
    plan_of,
    request_trial,
    sandbox,
    trial_in_state,
    trial_listing,
)

pytestmark = pytest.mark.django_db

DEPLOYMENTS = "/api/v1/deployments/"
MEMBERS_PLUS: frozenset[str] = frozenset({"member", "client:member", "admin", "client:admin"})
ADMINS: frozenset[str] = frozenset({"admin", "client:admin"})
CLOUD_STEPS = ["validate", "allocate_tenant", "configure", "health_check"]


def deployment_url(deployment: Deployment | str) -> str:
    return f"{DEPLOYMENTS}{getattr(deployment, 'public_id', deployment)}/"


def new_deployment(provider: Party, vendor: Party) -> Deployment:
    """A pending deployment of the vendor's cloud offering for the provider (its worker never runs)."""
    listing = trial_listing(vendor.organization)
    return deployment_create(
        provider=provider.organization,
        listing=listing,
        offering=offering_of(listing),
        plan=plan_of(listing),
        site=None,
        region=REGION,
        actor=SYSTEM,
    )


class TestDeploymentsProviderSideContract(ApiContract):
    model = Deployment
    owner = "st_mary"
    stranger = "northside"
    readers = PARTY_CALLERS | {OPERATOR}
    can_create = False
    can_update = False
    can_delete = False
    actions: ClassVar[dict[str, frozenset[str]]] = {
        "retry": MEMBERS_PLUS | {OPERATOR},
        "deprovision": ADMINS | {OPERATOR},
    }

    @pytest.fixture(autouse=True)
    def _vendor(self, radiant: Party) -> None:
        self.vendor = radiant

    def list_url(self, party: Party) -> str:
        return DEPLOYMENTS

    def detail_url(self, party: Party, obj: Model) -> str:
        return deployment_url(obj)  # type: ignore[arg-type]

    def make(self, party: Party) -> Deployment:
        return new_deployment(party, self.vendor)

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.provider_id == party.organization.pk  # type: ignore[attr-defined]


class TestDeploymentsVendorSideContract(ApiContract):
    model = Deployment
    owner = "radiant"
    stranger = "orbit"
    readers = PARTY_CALLERS | {OPERATOR}
    can_create = False
    can_update = False
    can_delete = False
    actions: ClassVar[dict[str, frozenset[str]]] = {
        "retry": MEMBERS_PLUS | {OPERATOR},
        "deprovision": frozenset({OPERATOR}),  # the vendor never removes a hospital's deployment
    }

    @pytest.fixture(autouse=True)
    def _provider(self, st_mary: Party) -> None:
        self.provider = st_mary

    def list_url(self, party: Party) -> str:
        return DEPLOYMENTS

    def detail_url(self, party: Party, obj: Model) -> str:
        return deployment_url(obj)  # type: ignore[arg-type]

    def make(self, party: Party) -> Deployment:
        return new_deployment(self.provider, party)

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.vendor_id == party.organization.pk  # type: ignore[attr-defined]


# --- what both parties see ------------------------------------------------------------------------


def test_both_parties_follow_progress_and_the_ordered_step_log(
    st_mary: Party, radiant: Party, northside: Party, orbit: Party
) -> None:
    trial = trial_in_state("approved", provider=st_mary.organization, vendor=radiant.organization)
    deployment = trial.deployment
    body = st_mary.api("member").get(deployment_url(deployment)).json()
    assert body["status"] == "pending" and body["trial"] == str(trial.public_id)
    assert body["progress"]["percent"] == 0 and body["progress"]["estimated_ready_at"]
    assert [(s["phase"], s["position"], s["step"], s["status"]) for s in body["steps"]] == [
        ("provision", i, name, "pending") for i, name in enumerate(CLOUD_STEPS)
    ]
    assert all(s["title"] for s in body["steps"])

    deployment_advance(deployment_id=deployment.pk)  # one step, as one worker task does it
    deployment_advance(deployment_id=deployment.pk)
    for party in (st_mary, radiant):
        for caller in ("member", "client:read_only"):
            body = party.api(caller).get(deployment_url(deployment)).json()
            assert body["status"] == "provisioning"
            assert body["progress"]["percent"] == 50
            assert [s["status"] for s in body["steps"]] == ["done", "done", "pending", "pending"]
            assert body["steps"][0]["attempts"] == 1 and body["steps"][0]["finished_at"]
            assert body["tenant_url"].startswith("https://") and body["external_id"].startswith("sandbox-")
            listed = party.api(caller).get(DEPLOYMENTS).json()["results"]
            assert [d["id"] for d in listed] == [str(deployment.public_id)]
    for party in (northside, orbit):
        assert party.api("admin").get(DEPLOYMENTS).json()["results"] == []
        assert_error(party.api("admin").get(deployment_url(deployment)), 404)
        for verb in ("retry", "deprovision"):
            assert_error(party.api("admin").post(f"{deployment_url(deployment)}{verb}/"), 404)


def test_the_step_log_shows_setting_up_before_removal(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trial = trial_in_state(
        "active", provider=st_mary.organization, vendor=radiant.organization, capture=django_capture_on_commit_callbacks
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(f"{deployment_url(trial.deployment)}deprovision/", {}, format="json")
    assert response.status_code == 200, response.content
    body = radiant.api("member").get(deployment_url(trial.deployment)).json()
    assert body["status"] == "deprovisioned" and body["deprovisioned_at"]
    assert [(s["phase"], s["step"], s["status"]) for s in body["steps"]] == [
        *(("provision", name, "done") for name in CLOUD_STEPS),
        ("deprovision", "revoke_access", "done"),
        ("deprovision", "remove_tenant", "done"),
    ]
    assert radiant.api("member").get(DEPLOYMENTS, {"status": "deprovisioned"}).json()["count"] == 1
    assert radiant.api("member").get(DEPLOYMENTS, {"status": "active"}).json()["count"] == 0


# --- retry --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "caller"), [("provider", "member"), ("vendor", "client:member"), ("operator", "")])
def test_a_failed_deployment_is_retried_from_the_failed_step(
    side: str,
    caller: str,
    st_mary: Party,
    radiant: Party,
    operator_api: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    trial = trial_in_state(
        "failed", provider=st_mary.organization, vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks, settings=settings,
    )
    deployment = trial.deployment
    assert deployment.status == Deployment.Status.FAILED
    assert "allocate_tenant" in deployment.failure_reason
    steps = {s.name: s for s in deployment.steps.all()}
    assert steps["validate"].status == "done" and steps["allocate_tenant"].status == "failed"
    api = {"provider": st_mary.api(caller or "member"), "vendor": radiant.api(caller or "member")}.get(
        side, operator_api
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{deployment_url(deployment)}retry/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "provisioning" and response.json()["failure_reason"] == ""
    deployment.refresh_from_db()
    trial.refresh_from_db()
    assert deployment.status == Deployment.Status.ACTIVE and trial.status == Trial.Status.ACTIVE
    attempts = dict(deployment.steps.values_list("name", "attempts"))
    assert attempts == {"validate": 1, "allocate_tenant": 2, "configure": 1, "health_check": 1}  # not from the start
    assert sorted(SandboxCall.objects.values_list("operation", flat=True)) == sorted(CLOUD_STEPS)
    retried = AuditEntry.objects.filter(action="provisioning.deployment.provisioning").order_by("id").last()
    assert retried is not None and retried.old_values == {"status": "failed"}
    types = list(Event.objects.filter(subject_id=str(trial.public_id)).values_list("type", flat=True))
    assert types[-3:] == ["trial.failed", "trial.provisioning", "trial.active"]


def test_retrying_is_idempotent_and_an_active_deployment_cannot_be_retried(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trial = trial_in_state("provisioning", provider=st_mary.organization, vendor=radiant.organization)
    url = f"{deployment_url(trial.deployment)}retry/"
    before = (OutboxMessage.objects.count(), Event.objects.count())
    response = st_mary.api("member").post(url)
    assert response.status_code == 200 and response.json()["status"] == "provisioning"
    assert (OutboxMessage.objects.count(), Event.objects.count()) == before
    Deployment.objects.filter(pk=trial.deployment.pk).update(status=Deployment.Status.ACTIVE)
    assert_error(st_mary.api("member").post(url), 409, code="invalid_transition")


def test_read_only_clients_may_not_retry(st_mary: Party, radiant: Party, settings: Any,
                                         django_capture_on_commit_callbacks: Any) -> None:
    trial = trial_in_state(
        "failed", provider=st_mary.organization, vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks, settings=settings,
    )
    for party in (st_mary, radiant):
        assert_error(party.api("client:read_only").post(f"{deployment_url(trial.deployment)}retry/"), 403)
    trial.deployment.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.FAILED


# --- deprovision --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("party_name", "caller"),
    [("st_mary", "member"), ("st_mary", "client:member"), ("radiant", "admin"), ("radiant", "client:admin")],
)
def test_only_provider_admins_deprovision(
    party_name: str, caller: str, request: pytest.FixtureRequest, django_capture_on_commit_callbacks: Any
) -> None:
    st_mary, radiant = request.getfixturevalue("st_mary"), request.getfixturevalue("radiant")
    trial = trial_in_state(
        "active", provider=st_mary.organization, vendor=radiant.organization, capture=django_capture_on_commit_callbacks
    )
    party = {"st_mary": st_mary, "radiant": radiant}[party_name]
    response = party.api(caller).post(f"{deployment_url(trial.deployment)}deprovision/", {}, format="json")
    assert_error(response, 403)
    trial.deployment.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.ACTIVE


@pytest.mark.parametrize("who", ["provider admin", "operator"])
def test_deprovisioning_a_trials_deployment_removes_it_and_ends_the_trial(
    who: str, st_mary: Party, radiant: Party, operator_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    trial = trial_in_state(
        "active", provider=st_mary.organization, vendor=radiant.organization, capture=django_capture_on_commit_callbacks
    )
    api = st_mary.api("admin") if who == "provider admin" else operator_api
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"{deployment_url(trial.deployment)}deprovision/", {"reason": "Moving to another product."}, format="json"
        )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "deprovisioning"  # the answer is written before the worker runs
    trial.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.DEPROVISIONED
    # The trial does not stay "active" without anything running (nor block a new trial).
    assert trial.status == Trial.Status.CANCELLED and trial.ended_at is not None
    entry = AuditEntry.objects.get(action="provisioning.deployment.deprovisioning")
    assert entry.actor_kind == ("member" if who == "provider admin" else "operator")
    assert entry.new_values["reason"] == "Moving to another product."
    cancelled = AuditEntry.objects.get(action="procurement.trial.cancelled")
    assert cancelled.actor_kind == entry.actor_kind
    # Deprovisioning again changes nothing.
    before = (AuditEntry.objects.count(), Event.objects.count())
    again = st_mary.api("admin").post(f"{deployment_url(trial.deployment)}deprovision/", {}, format="json")
    assert again.status_code == 200 and again.json()["status"] == "deprovisioned"
    assert (AuditEntry.objects.count(), Event.objects.count()) == before


@pytest.mark.parametrize("kind", list(PATIENT_DATA))
def test_patient_data_in_a_deprovision_reason_is_refused(kind: str, st_mary: Party, radiant: Party) -> None:
    deployment = new_deployment(st_mary, radiant)
    before = (AuditEntry.objects.count(), Event.objects.count())
    response = st_mary.api("admin").post(
        f"{deployment_url(deployment)}deprovision/", {"reason": PATIENT_DATA[kind]}, format="json"
    )
    assert_error(response, 400, code="patient_data", field="reason")
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.PENDING
    assert (AuditEntry.objects.count(), Event.objects.count()) == before


# --- events -------------------------------------------------------------------------------------


def test_deployment_events_name_both_parties_and_every_state_entered(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trial = request_trial(st_mary.organization, trial_listing(radiant.organization, auto=False))
    with django_capture_on_commit_callbacks(execute=True):
        radiant.api("member").post(f"/api/v1/trials/{trial.public_id}/approve/")
    trial.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        st_mary.api("admin").post(f"{deployment_url(trial.deployment)}deprovision/", {}, format="json")
    events = list(Event.objects.filter(subject_type="provisioning.deployment").order_by("id"))
    assert [e.type for e in events] == [
        "deployment.pending", "deployment.provisioning", "deployment.active",
        "deployment.deprovisioning", "deployment.deprovisioned",
    ]
    for event in events:
        assert event.subject_id == str(trial.deployment.public_id)
        assert (event.organization_id, event.counterparty_id) == (st_mary.organization.pk, radiant.organization.pk)
        assert event.data["deployment"] == str(trial.deployment.public_id)
    actions = list(
        AuditEntry.objects.filter(object_type="provisioning.deployment").order_by("id").values_list("action", flat=True)
    )
    assert actions == [f"provisioning.{e.type}" for e in events]


@pytest.mark.usefixtures("eager_retries")
def test_a_retried_step_is_one_line_of_the_log_with_its_attempts(
    st_mary: Party, radiant: Party, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with sandbox(settings, transient_failures=1):
        trial = trial_in_state(
            "active", provider=st_mary.organization, vendor=radiant.organization,
            capture=django_capture_on_commit_callbacks,
        )
    steps = DeploymentStep.objects.filter(deployment=trial.deployment)
    assert list(steps.values_list("name", flat=True)) == CLOUD_STEPS
    assert set(steps.values_list("attempts", flat=True)) == {2}
    assert trial.status == Trial.Status.ACTIVE


def test_retry_is_only_for_failed_deployments(st_mary: Any, radiant: Any) -> None:
    from apps.provisioning.models import Deployment
    from tests.catalog.factories import publish_listing
    from tests.factories import OrganizationFactory  # noqa: F401

    listing = publish_listing(vendor=radiant.organization)
    offering = listing.offerings.get()
    deployment = Deployment.objects.create(
        provider=st_mary.organization, vendor=radiant.organization, listing=listing, offering=offering,
        region="eu-central", backend="sandbox", status=Deployment.Status.PENDING,
    )
    response = radiant.api("member").post(f"/api/v1/deployments/{deployment.public_id}/retry/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
