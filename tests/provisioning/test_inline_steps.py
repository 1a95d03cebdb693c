"""Steps run on in one task (MARKETPLACE_PROVISIONING_INLINE_SECONDS, the production default):
each step still commits on its own, a task past its time budget queues the next step, and
failures mid-way behave as with one task per step. The test settings queue every step (0);
these tests switch the production behaviour on."""

from __future__ import annotations

from typing import Any

import pytest

from apps.procurement.models import Trial
from apps.provisioning.backends import TransientProvisioningError
from apps.provisioning.models import Deployment, DeploymentStep, SandboxCall
from apps.provisioning.services import deployment_advance
from marketplace.models import Event, OutboxMessage
from tests.conftest import Party
from tests.procurement.factories import sandbox, trial_in_state

pytestmark = pytest.mark.django_db

CLOUD_STEPS = ["validate", "allocate_tenant", "configure", "health_check"]
ADVANCE = "provisioning.advance_deployment"


@pytest.fixture
def inline(settings: Any) -> Any:
    settings.MARKETPLACE_PROVISIONING_INLINE_SECONDS = 30
    return settings


@pytest.fixture
def pending(st_mary: Party, radiant: Party) -> Deployment:
    """An approved trial's deployment whose first message has been sent, not yet run."""
    deployment = trial_in_state("approved", provider=st_mary.organization, vendor=radiant.organization).deployment
    assert deployment.status == Deployment.Status.PENDING
    return deployment


def _advance_messages(deployment: Deployment) -> int:
    return OutboxMessage.objects.filter(task_name=ADVANCE, kwargs={"deployment_id": deployment.pk}).count()


def _steps(deployment: Deployment) -> list[tuple[str, str, int]]:
    return list(deployment.steps.order_by("position").values_list("name", "status", "attempts"))


def test_one_task_runs_every_step_in_order_each_committed_and_queues_nothing_more(
    inline: Any, pending: Deployment, django_capture_on_commit_callbacks: Any
) -> None:
    before = _advance_messages(pending)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert deployment_advance(deployment_id=pending.pk) == Deployment.Status.ACTIVE
    pending.refresh_from_db()
    assert pending.status == Deployment.Status.ACTIVE and pending.progress_percent == 100
    assert _steps(pending) == [(name, DeploymentStep.Status.DONE, 1) for name in CLOUD_STEPS]
    finished = list(pending.steps.order_by("position").values_list("finished_at", flat=True))
    assert finished == sorted(finished)
    assert SandboxCall.objects.filter(deployment=pending).count() == len(CLOUD_STEPS)
    assert _advance_messages(pending) == before  # no step went through the queue
    # Each step was its own transaction: one after-commit hook set per transaction with events,
    # not one for the whole run (the provisioning and the active transition each commit theirs).
    assert len(callbacks) >= 2
    for subject, state in ((pending, "deployment.active"), (pending.trial, "trial.active")):
        assert Event.objects.filter(subject_id=str(subject.public_id), type=state).count() == 1
    assert Trial.objects.get(pk=pending.trial.pk).status == Trial.Status.ACTIVE


def test_a_task_past_its_time_budget_queues_the_next_step(
    settings: Any, pending: Deployment, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MARKETPLACE_PROVISIONING_INLINE_SECONDS = 0  # every step is past the budget
    before = _advance_messages(pending)
    with django_capture_on_commit_callbacks(execute=False):
        assert deployment_advance(deployment_id=pending.pk) == Deployment.Status.PROVISIONING
    assert [status for _, status, _ in _steps(pending)] == ["done", "pending", "pending", "pending"]
    assert _advance_messages(pending) == before + 1


def test_a_permanent_failure_mid_way_fails_with_the_reason_and_runs_nothing_after(
    inline: Any, pending: Deployment, django_capture_on_commit_callbacks: Any
) -> None:
    with sandbox(inline, fail_step="configure"), django_capture_on_commit_callbacks(execute=True):
        assert deployment_advance(deployment_id=pending.pk) == Deployment.Status.FAILED
    pending.refresh_from_db()
    assert pending.failure_reason.startswith("Configure integrations:")
    assert _steps(pending) == [
        ("validate", "done", 1),
        ("allocate_tenant", "done", 1),
        ("configure", "failed", 1),
        ("health_check", "pending", 0),
    ]
    assert Event.objects.filter(subject_id=str(pending.public_id), type="deployment.failed").count() == 1


def test_a_transient_failure_mid_way_leaves_the_done_steps_and_the_retry_resumes_there(
    inline: Any, pending: Deployment, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.provisioning.backends import SandboxBackend

    real_run_step = SandboxBackend.run_step
    failures = {"configure": 1}

    def flaky(self: SandboxBackend, deployment: Deployment, step: str, *, idempotency_key: str) -> Any:
        if failures.get(step):
            failures[step] -= 1
            raise TransientProvisioningError("the vendor answered 503")
        return real_run_step(self, deployment, step, idempotency_key=idempotency_key)

    monkeypatch.setattr(SandboxBackend, "run_step", flaky)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TransientProvisioningError):
        deployment_advance(deployment_id=pending.pk)  # the task retries it with back-off
    assert [status for _, status, _ in _steps(pending)] == ["done", "done", "running", "pending"]

    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_advance(deployment_id=pending.pk) == Deployment.Status.ACTIVE
    assert _steps(pending) == [
        ("validate", "done", 1),
        ("allocate_tenant", "done", 1),
        ("configure", "done", 2),
        ("health_check", "done", 1),
    ]
    assert SandboxCall.objects.filter(deployment=pending).count() == len(CLOUD_STEPS)


def test_a_deployment_cancelled_between_steps_stops_the_run(
    inline: Any, pending: Deployment, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.provisioning.backends import SandboxBackend

    real_run_step = SandboxBackend.run_step

    def removed_meanwhile(self: SandboxBackend, deployment: Deployment, step: str, *, idempotency_key: str) -> Any:
        result = real_run_step(self, deployment, step, idempotency_key=idempotency_key)
        if step == "allocate_tenant":  # someone removes it while this step runs
            Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.DEPROVISIONING)
        return result

    monkeypatch.setattr(SandboxBackend, "run_step", removed_meanwhile)
    with django_capture_on_commit_callbacks(execute=False):
        assert deployment_advance(deployment_id=pending.pk) == Deployment.Status.DEPROVISIONING
    # The run stopped: the step after the removal was neither recorded nor started.
    assert [status for _, status, _ in _steps(pending)] == ["done", "running", "pending", "pending"]
