"""New deployments whose steps take no time are provisioned in batches: the deployments one
transaction creates share a task, and each round of that task serves the whole batch with a few
statements. The batch must end in exactly what the single path ends in, and anything unusual
(a refusal, a busy backend, a deployment cancelled meanwhile) must leave it without harm."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.procurement import services
from apps.procurement.models import Trial
from apps.provisioning.backends import PermanentProvisioningError, SandboxBackend, TransientProvisioningError
from apps.provisioning.models import Deployment, DeploymentStep, SandboxCall
from apps.provisioning.services import deployment_deprovision, deployments_advance
from marketplace.errors import InvalidTransition
from marketplace.models import AuditEntry, Event, OutboxMessage
from marketplace.principal import SYSTEM
from tests.conftest import Party
from tests.procurement.factories import principal_of, request_trial, trial_listing

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def whole_batches(settings: Any) -> None:
    """A batch runs all its rounds in one task, as in production (the test settings queue every
    round so that other tests can stop between steps)."""
    settings.MARKETPLACE_PROVISIONING_INLINE_SECONDS = 10
BATCH = "provisioning.advance_deployments"
ALONE = "provisioning.advance_deployment"


def requested(st_mary: Party, radiant: Party, count: int) -> list[Trial]:
    """`count` trials St. Mary's requested, one per listing of Radiant's."""
    start = Trial.objects.count()
    return [
        request_trial(st_mary.organization, trial_listing(radiant.organization, slug=f"batch-app-{n}"))
        for n in range(start, start + count)
    ]


def approve_all(trials: list[Trial], radiant: Party) -> list[Trial]:
    return services.trials_approve(trials=trials, actor=principal_of(radiant.organization))


def approved_not_run(
    st_mary: Party, radiant: Party, count: int, capture: Any
) -> tuple[list[Trial], list[int]]:
    """`count` trials approved together, their batch not run yet: the trials and deployment ids."""
    trials = requested(st_mary, radiant, count)
    with capture(execute=False):
        approve_all(trials, radiant)
    return trials, deployment_ids(trials)


def batches() -> list[list[int]]:
    messages = OutboxMessage.objects.filter(task_name=BATCH).order_by("id")
    return [message.kwargs["deployment_ids"] for message in messages]


def deployment_ids(trials: list[Trial]) -> list[int]:
    return sorted(Trial.objects.filter(pk__in=[t.pk for t in trials]).values_list("deployment_id", flat=True))


def test_deployments_approved_together_share_a_task_per_batch(
    st_mary: Party, radiant: Party, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MARKETPLACE_PROVISIONING_BATCH_SIZE = 3
    trials = requested(st_mary, radiant, 7)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approve_all(trials, radiant)
    assert [len(ids) for ids in batches()] == [3, 3, 1]
    assert sorted(pk for ids in batches() for pk in ids) == deployment_ids(trials)
    assert not OutboxMessage.objects.filter(task_name=ALONE).exists()
    assert callbacks  # published after the commit, not before


def test_a_batch_ends_where_the_single_path_ends(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trials = requested(st_mary, radiant, 4)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approve_all(trials, radiant)
    for trial in Trial.objects.filter(pk__in=[t.pk for t in trials]).select_related("deployment"):
        deployment = trial.deployment
        assert trial.status == Trial.Status.ACTIVE and trial.started_at and trial.ends_at
        assert deployment.status == Deployment.Status.ACTIVE and deployment.progress_percent == 100
        assert deployment.activated_at and deployment.current_step == "" and deployment.external_id
        assert set(deployment.steps.values_list("status", flat=True)) == {DeploymentStep.Status.DONE}
        assert list(deployment.steps.values_list("attempts", flat=True)) == [1, 1, 1, 1]
        deployment_events = Event.objects.filter(subject_id=str(deployment.public_id)).order_by("id")
        assert [e.type for e in deployment_events] == [f"deployment.{s}" for s in ("pending", "provisioning", "active")]
        assert all(e.organization_id == st_mary.organization.pk for e in deployment_events)
        assert all(e.counterparty_id == radiant.organization.pk for e in deployment_events)
        trial_events = Event.objects.filter(subject_id=str(trial.public_id)).order_by("id")
        assert [e.type for e in trial_events] == [
            f"trial.{s}" for s in ("requested", "approved", "provisioning", "active")
        ]
        assert trial_events.last().data["deployment"] == str(deployment.public_id)
        audit = AuditEntry.objects.filter(object_id=str(trial.public_id), action="procurement.trial.active").get()
        assert audit.old_values == {"status": "provisioning"} and audit.actor_kind == "system"
        assert SandboxCall.objects.filter(idempotency_key__startswith=str(deployment.public_id)).count() == 4
    ready = [m for m in mail.outbox if "is ready" in m.subject]
    assert len(ready) == 4 * st_mary.organization.memberships.count()
    assert not Event.objects.filter(sequence__isnull=True).exists()


def test_a_batch_costs_a_few_statements_per_deployment(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    """The single path spends about 57 statements on a deployment; a batch shares them."""

    def statements(count: int) -> int:
        _, ids = approved_not_run(st_mary, radiant, count, django_capture_on_commit_callbacks)
        with CaptureQueriesContext(connection) as queries:
            deployments_advance(deployment_ids=ids)
        assert Deployment.objects.filter(pk__in=ids, status="active").count() == count
        return len(queries)

    few, many = statements(2), statements(12)
    per_deployment = (many - few) / 10
    assert per_deployment <= 6, (few, many)  # four sandbox calls each, the rest shared


def test_a_refusal_fails_only_its_deployment(
    st_mary: Party, radiant: Party, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    trials = requested(st_mary, radiant, 3)
    refused = trials[1]
    run_step = SandboxBackend.run_step

    def refuse_one(self: SandboxBackend, deployment: Deployment, step: str, *, idempotency_key: str) -> Any:
        if deployment.pk == Trial.objects.get(pk=refused.pk).deployment_id and step == "configure":
            raise PermanentProvisioningError("The vendor's region is full.")
        return run_step(self, deployment, step, idempotency_key=idempotency_key)

    monkeypatch.setattr(SandboxBackend, "run_step", refuse_one)
    with django_capture_on_commit_callbacks(execute=True):
        approve_all(trials, radiant)
    states = {t.pk: (t.status, t.deployment.status) for t in Trial.objects.select_related("deployment")}
    assert states[refused.pk] == ("failed", "failed")
    assert [states[t.pk] for t in trials if t.pk != refused.pk] == [("active", "active")] * 2
    failed = Deployment.objects.get(trial=refused)
    assert failed.failure_reason == "Configure integrations: The vendor's region is full."
    steps = {step.name: (step.status, step.attempts) for step in failed.steps.all()}
    assert steps == {
        "validate": ("done", 1),
        "allocate_tenant": ("done", 1),
        "configure": ("failed", 1),
        "health_check": ("pending", 0),
    }
    assert failed.external_id  # what the steps before the refusal recorded is kept


def test_a_busy_backend_sends_its_deployment_to_a_task_of_its_own(
    st_mary: Party, radiant: Party, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    trials = requested(st_mary, radiant, 3)
    busy = trials[0]
    run_step = SandboxBackend.run_step
    refused_once: list[str] = []

    def busy_once(self: SandboxBackend, deployment: Deployment, step: str, *, idempotency_key: str) -> Any:
        if deployment.pk == Trial.objects.get(pk=busy.pk).deployment_id and not refused_once:
            refused_once.append(idempotency_key)
            raise TransientProvisioningError("busy")
        return run_step(self, deployment, step, idempotency_key=idempotency_key)

    monkeypatch.setattr(SandboxBackend, "run_step", busy_once)
    with django_capture_on_commit_callbacks(execute=True):
        approve_all(trials, radiant)
    assert set(Deployment.objects.filter(trial__in=trials).values_list("status", flat=True)) == {"active"}
    handed = Deployment.objects.get(trial=busy)
    assert OutboxMessage.objects.filter(task_name=ALONE, kwargs={"deployment_id": handed.pk}).exists()
    # The step it was in ran again under the same key: one effect.
    assert SandboxCall.objects.filter(idempotency_key=refused_once[0]).count() == 1
    assert handed.steps.get(name="validate").attempts == 2


def test_cancelled_and_missing_deployments_leave_the_batch(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    _, ids = approved_not_run(st_mary, radiant, 3, django_capture_on_commit_callbacks)
    cancelled = Deployment.objects.get(pk=ids[0])
    with django_capture_on_commit_callbacks(execute=False):
        deployment_deprovision(deployment=cancelled, actor=SYSTEM, reason="The hospital changed its mind.")
    missing = max(ids) + 1000  # a deployment whose savepoint was rolled back after joining a batch
    counts = deployments_advance(deployment_ids=[*ids, missing])
    assert counts["active"] == 2
    cancelled.refresh_from_db()
    assert cancelled.status == Deployment.Status.DEPROVISIONING  # its removal has its own task
    assert not SandboxCall.objects.filter(idempotency_key__startswith=f"{cancelled.public_id}:provision").exists()
    assert Deployment.objects.filter(pk__in=ids[1:], status="active").count() == 2


def test_a_repeated_batch_has_no_second_effect(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    _, ids = approved_not_run(st_mary, radiant, 3, django_capture_on_commit_callbacks)
    first = deployments_advance(deployment_ids=ids)
    events, audits, calls = Event.objects.count(), AuditEntry.objects.count(), SandboxCall.objects.count()
    again = deployments_advance(deployment_ids=list(reversed(ids)))  # a duplicate delivery
    assert first["active"] == 3 and again == {"active": 0, "failed": 0, "handed_off": 0, "requeued": 0}
    assert (Event.objects.count(), AuditEntry.objects.count(), SandboxCall.objects.count()) == (events, audits, calls)
    assert Event.objects.filter(type="deployment.active").count() == 3


def test_past_the_inline_budget_a_batch_goes_back_to_the_queue_between_steps(
    st_mary: Party, radiant: Party, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MARKETPLACE_PROVISIONING_INLINE_SECONDS = 0
    trials, ids = approved_not_run(st_mary, radiant, 2, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        assert deployments_advance(deployment_ids=ids)["requeued"] == 2
    for deployment in Deployment.objects.filter(pk__in=ids):
        assert (deployment.status, deployment.progress_percent, deployment.current_step) == (
            "provisioning",
            25,
            "allocate_tenant",
        )
        assert list(deployment.steps.values_list("status", flat=True)) == ["done", "pending", "pending", "pending"]
    assert batches()[-1] == ids  # the rest of the batch, as one new task
    assert Trial.objects.get(pk=trials[0].pk).status == Trial.Status.PROVISIONING


def test_approving_many_is_all_or_none(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trials = requested(st_mary, radiant, 3)
    services.trial_decline(trial=trials[2], actor=principal_of(radiant.organization), reason="Not in your region.")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidTransition):
        approve_all(trials, radiant)
    untouched = Trial.objects.filter(pk__in=[t.pk for t in trials[:2]])
    assert set(untouched.values_list("status", flat=True)) == {"requested"}
    assert not Deployment.objects.exists() and not batches()


def test_a_savepoint_rolled_back_after_joining_a_batch_leaves_a_harmless_id(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    trials = requested(st_mary, radiant, 3)
    actor = principal_of(radiant.organization)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        from marketplace.outbox import outbox_batching

        with outbox_batching():
            services.trial_approve(trial=trials[0], actor=actor)
            try:
                with transaction.atomic():
                    services.trial_approve(trial=trials[1], actor=actor)
                    raise RuntimeError("the caller changed its mind")
            except RuntimeError:
                pass
            services.trial_approve(trial=trials[2], actor=actor)
    [ids] = batches()
    assert len(ids) == 3 and Deployment.objects.count() == 2
    assert Trial.objects.get(pk=trials[1].pk).status == Trial.Status.REQUESTED
    assert set(Deployment.objects.values_list("status", flat=True)) == {"active"}
