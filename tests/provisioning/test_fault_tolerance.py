"""Provisioning survives the faults of a real deployment: real `celery worker` processes on Redis
and PostgreSQL, killed in the middle of a step, a broker that is down when a trial is approved,
a message delivered twice, a backend that refuses. Runs only with the services (CI's stage 3).

Provisioning tasks go to the queue "provisioning" (the outbox names it), so these tests use the
Redis database of the configured broker for themselves: it is emptied when each test starts,
and the workers consume provisioning, default and notifications there. A step takes 1.5 s in
the workers (MARKETPLACE_SANDBOX_STEP_SECONDS), long enough to be interrupted."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from apps.procurement.models import Trial
from apps.provisioning.models import Deployment, DeploymentStep, SandboxCall
from apps.provisioning.services import ADVANCE_TASK
from config.celery_app import app
from marketplace.models import Event, OutboxMessage
from marketplace.outbox import outbox_reconcile
from tests.conftest import Party
from tests.procurement.factories import approve, request_trial, trial_listing
from tests.workers import PrivateRedis, Worker, celery_conf, reset_broker_connections, wait_for, workers

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

QUEUES = "provisioning,default,notifications"
STEP_SECONDS = "1.5"
CLOUD_STEPS = ["validate", "allocate_tenant", "configure", "health_check"]
RECEIVED = re.compile(rf"Task {re.escape(ADVANCE_TASK)}\[[0-9a-f-]+\] received")


@pytest.fixture
def broker() -> Iterator[None]:
    """Publish through the configured Redis (not eagerly), on a database emptied for this test."""
    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).flushdb()
    reset_broker_connections()
    with celery_conf(task_always_eager=False):
        yield
    reset_broker_connections()


@pytest.fixture
def start_worker(broker: None) -> Iterator[Callable[..., Worker]]:
    """`start_worker(env=..., concurrency=...)`: a worker on the provisioning, default and
    notifications queues whose sandbox steps take 1.5 s and run one after another in one task, as
    in production (MARKETPLACE_PROVISIONING_INLINE_SECONDS); killed when the test ends."""
    with workers() as start:

        def _start(env: dict[str, str] | None = None, **options: Any) -> Worker:
            worker_env = {
                "MARKETPLACE_SANDBOX_STEP_SECONDS": STEP_SECONDS,
                "MARKETPLACE_PROVISIONING_INLINE_SECONDS": "30",
                **(env or {}),
            }
            return start(QUEUES, name="provisioning", env=worker_env, **options)

        yield _start


def _trial(st_mary: Party, radiant: Party) -> Trial:
    return request_trial(st_mary.organization, trial_listing(radiant.organization))


def _deployment(trial: Trial) -> Deployment:
    return Deployment.objects.get(trial=trial)


def _trial_of(deployment: Deployment) -> Trial:
    return Trial.objects.get(deployment=deployment)


def _status(deployment: Deployment) -> str:
    return Deployment.objects.values_list("status", flat=True).get(pk=deployment.pk)


def _keys(deployment: Deployment, steps: list[str] = CLOUD_STEPS) -> set[str]:
    return {f"{deployment.public_id}:provision:{step}" for step in steps}


def _calls(deployment: Deployment) -> dict[str, int]:
    return dict(SandboxCall.objects.filter(deployment=deployment).values_list("idempotency_key", "attempts"))


def _wait_until(deployment: Deployment, status: str, timeout: float, worker: Worker | None = None) -> None:
    def reached() -> bool:
        return _status(deployment) == status

    try:
        wait_for(reached, timeout, f"deployment {status}")
    except AssertionError:
        log = worker.text()[-4000:] if worker is not None else ""
        raise AssertionError(f"deployment is {_status(deployment)}, not {status}\n{log}") from None


def _assert_set_up_once(deployment: Deployment, trial: Trial) -> None:
    """Active, every step done, one effective backend call per key, one event per state."""
    deployment.refresh_from_db()
    trial.refresh_from_db()
    assert deployment.status == Deployment.Status.ACTIVE and trial.status == Trial.Status.ACTIVE
    assert list(deployment.steps.values_list("status", flat=True)) == [DeploymentStep.Status.DONE] * 4
    assert set(_calls(deployment)) == _keys(deployment)
    assert SandboxCall.objects.filter(deployment=deployment).count() == len(CLOUD_STEPS)
    for subject, state in ((deployment, "deployment.active"), (trial, "trial.active")):
        assert Event.objects.filter(subject_id=str(subject.public_id), type=state).count() == 1


def _step_in_progress(deployment: Deployment, step: str) -> Callable[[], bool]:
    """True while a worker is inside the backend call of `step` (its effect recorded, not finished)."""
    key = f"{deployment.public_id}:provision:{step}"

    def inside() -> bool:
        running = DeploymentStep.objects.filter(deployment=deployment, name=step, status="running").exists()
        return running and SandboxCall.objects.filter(idempotency_key=key).exists()

    return inside


def test_a_pool_process_killed_mid_step_is_redelivered_and_each_step_has_one_effect(
    start_worker: Callable[..., Worker], st_mary: Party, radiant: Party
) -> None:
    worker = start_worker().wait_ready()
    trial = approve(_trial(st_mary, radiant))
    deployment = _deployment(trial)
    wait_for(_step_in_progress(deployment, "allocate_tenant"), 40, "the worker to be inside allocate_tenant", 0.05)
    killed = worker.kill_pool()
    assert killed, "the worker had no pool process"

    _wait_until(deployment, "active", 45, worker)
    _assert_set_up_once(deployment, trial)
    allocate = DeploymentStep.objects.get(deployment=deployment, name="allocate_tenant")
    assert allocate.attempts == 2  # run again after the kill...
    assert _calls(deployment)[f"{deployment.public_id}:provision:allocate_tenant"] == 2  # ...with no second effect
    assert "WorkerLostError" in worker.text()  # the worker saw its pool process die


def test_a_killed_worker_loses_nothing_another_worker_finishes_after_the_visibility_timeout(
    start_worker: Callable[..., Worker], st_mary: Party, radiant: Party
) -> None:
    first = start_worker().wait_ready()
    trial = approve(_trial(st_mary, radiant))
    deployment = _deployment(trial)
    wait_for(_step_in_progress(deployment, "configure"), 40, "the worker to be inside configure", 0.05)
    first.stop()  # SIGKILL to the whole worker: the unacknowledged message waits in Redis
    killed_at = time.monotonic()
    assert _status(deployment) == Deployment.Status.PROVISIONING
    # Redis hands an unacknowledged message out again once it is older than the visibility
    # timeout (10 s in the test settings); a starting worker restores such messages at once
    # (a running one only every 100 s or so, and the reconciler re-sends after its stuck time).
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    time.sleep(max(0.0, visibility + 1 - (time.monotonic() - killed_at)))
    assert _status(deployment) == Deployment.Status.PROVISIONING

    second = start_worker().wait_ready()
    _wait_until(deployment, "active", 30, second)
    _assert_set_up_once(deployment, trial)
    assert DeploymentStep.objects.get(deployment=deployment, name="configure").attempts == 2


def test_a_broker_outage_at_approval_loses_nothing(
    start_worker: Callable[..., Worker],
    st_mary: Party,
    radiant: Party,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        private = PrivateRedis().start()
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    try:
        monkeypatch.setenv("CELERY_BROKER_URL", private.url)  # Celery reads the variable first
        reset_broker_connections()
        assert app.conf.broker_url == private.url
        trial = _trial(st_mary, radiant)

        private.stop()  # the broker is down
        started = time.monotonic()
        response = radiant.api("member").post(f"/api/v1/trials/{trial.public_id}/approve/")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "approved"
        assert time.monotonic() - started < 20, "publishing to a dead broker must give up quickly"
        deployment = _deployment(trial)
        # In this process the sandbox's steps take no time, so the deployment went out as a batch
        # (its worker, whose steps take 1.5 s, hands it to a task of its own).
        message = OutboxMessage.objects.get(
            task_name="provisioning.advance_deployments", kwargs={"deployment_ids": [deployment.pk]}
        )
        assert message.dispatched_at is None and message.attempts == 1 and message.last_error
        assert _status(deployment) == Deployment.Status.PENDING

        private.start()  # back, empty: the message was never in it
        reset_broker_connections()
        settings.MARKETPLACE_OUTBOX_RESEND_AFTER_SECONDS = 0
        assert outbox_reconcile() >= 1  # what beat runs every 30 s
        message.refresh_from_db()
        assert message.dispatched_at is not None
        assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()

        worker = start_worker(env={"CELERY_BROKER_URL": private.url}).wait_ready()
        _wait_until(deployment, "active", 45, worker)
        _assert_set_up_once(deployment, _trial_of(deployment))
    finally:
        private.stop()


def test_the_same_message_delivered_twice_has_one_effect_per_key(
    start_worker: Callable[..., Worker], st_mary: Party, radiant: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = start_worker(concurrency=2).wait_ready()  # both copies run at the same time
    trial = _trial(st_mary, radiant)
    with monkeypatch.context() as patch:  # keep the approval's own message back...
        patch.setattr("marketplace.outbox._publish", lambda message: False)
        trial = approve(trial)
    deployment = _deployment(trial)
    assert _status(deployment) == Deployment.Status.PENDING
    for _ in range(2):  # ...and deliver the same message twice
        app.send_task(ADVANCE_TASK, kwargs={"deployment_id": deployment.pk}, queue="provisioning")

    _wait_until(deployment, "active", 45, worker)
    time.sleep(3)  # the duplicate's chain ends when it finds the deployment active
    _assert_set_up_once(deployment, trial)
    calls = _calls(deployment)
    assert sum(calls.values()) > len(CLOUD_STEPS), f"the duplicate never reached the backend: {calls}"
    assert len(RECEIVED.findall(worker.text())) == 2  # the message and its duplicate, each running on


def test_a_permanent_failure_fails_once_with_the_reason_and_no_retry_loop(
    start_worker: Callable[..., Worker], st_mary: Party, radiant: Party
) -> None:
    worker = start_worker(env={"MARKETPLACE_SANDBOX_FAIL_STEP": "configure"}).wait_ready()
    trial = approve(_trial(st_mary, radiant))
    deployment = _deployment(trial)
    _wait_until(deployment, "failed", 40, worker)
    time.sleep(4)  # time enough for any retry to show
    deployment.refresh_from_db()
    trial.refresh_from_db()
    assert deployment.status == Deployment.Status.FAILED and trial.status == Trial.Status.FAILED
    assert deployment.failure_reason == (
        "Configure integrations: The sandbox refuses step 'configure' (failure injected)."
    )
    assert dict(deployment.steps.values_list("name", "attempts")) == {
        "validate": 1, "allocate_tenant": 1, "configure": 1, "health_check": 0
    }
    assert set(_calls(deployment)) == _keys(deployment, ["validate", "allocate_tenant"])
    # One task ran the steps one after another up to the refusal, and none ran again.
    assert len(RECEIVED.findall(worker.text())) == 1, worker.text()[-3000:]
    assert "Retry in" not in worker.text()
    assert Event.objects.filter(type="deployment.failed").count() == 1
    assert os.environ.get("MARKETPLACE_SANDBOX_FAIL_STEP") is None  # the failure was the worker's alone


# --- batches: deployments whose steps take no time share a task ---------------------------------

BATCH_RECEIVED = re.compile(r"Task provisioning\.advance_deployments\[[0-9a-f-]+\] received")
# Steps announced as instant (so the deployments are batched) that still take 0.4 s each: time
# enough to kill a worker in the middle of a batch.
INSTANT_BUT_SLOW = {"MARKETPLACE_SANDBOX_STEP_SECONDS": "0", "MARKETPLACE_SANDBOX_LATENCY_SECONDS": "0.4"}


def _approve_batch(st_mary: Party, radiant: Party, count: int) -> list[tuple[Deployment, Trial]]:
    from apps.procurement.services import trials_approve
    from tests.procurement.factories import principal_of

    trials = [
        request_trial(st_mary.organization, trial_listing(radiant.organization, slug=f"batch-app-{n}"))
        for n in range(count)
    ]
    trials_approve(trials=trials, actor=principal_of(radiant.organization))
    return [(_deployment(trial), trial) for trial in trials]


def test_a_pool_process_killed_mid_batch_loses_nothing_and_each_step_has_one_effect(
    start_worker: Callable[..., Worker], st_mary: Party, radiant: Party
) -> None:
    worker = start_worker(env=INSTANT_BUT_SLOW).wait_ready()
    batch = _approve_batch(st_mary, radiant, 3)
    [message] = OutboxMessage.objects.filter(task_name="provisioning.advance_deployments")
    assert message.kwargs["deployment_ids"] == sorted(deployment.pk for deployment, _ in batch)
    second = batch[1][0]
    configure = f"{second.public_id}:provision:configure"

    def called_not_recorded() -> bool:  # between two rounds, the second deployment past configure
        done = DeploymentStep.objects.filter(deployment=second, name="configure", status="done").exists()
        return not done and SandboxCall.objects.filter(idempotency_key=configure).exists()

    wait_for(called_not_recorded, 40, "the batch to have called configure", 0.02)
    assert worker.kill_pool(), "the worker had no pool process"

    for deployment, trial in batch:
        _wait_until(deployment, "active", 45, worker)
        _assert_set_up_once(deployment, trial)
    # The batch ran again from its last round: the calls since then twice, each with one effect.
    assert DeploymentStep.objects.get(deployment=second, name="validate").attempts == 2  # claimed again
    assert _calls(second)[configure] == 2
    assert len(BATCH_RECEIVED.findall(worker.text())) >= 2 and not RECEIVED.findall(worker.text())
    assert "WorkerLostError" in worker.text()


def test_a_batch_delivered_twice_has_one_effect_per_key(
    start_worker: Callable[..., Worker], st_mary: Party, radiant: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = start_worker(env=INSTANT_BUT_SLOW, concurrency=2).wait_ready()  # both copies at once
    with monkeypatch.context() as patch:  # keep the approval's own message back...
        patch.setattr("marketplace.outbox._publish", lambda message: False)
        batch = _approve_batch(st_mary, radiant, 3)
    ids = sorted(deployment.pk for deployment, _ in batch)
    for _ in range(2):  # ...and deliver the same batch twice
        app.send_task("provisioning.advance_deployments", kwargs={"deployment_ids": ids}, queue="provisioning")

    for deployment, _ in batch:
        _wait_until(deployment, "active", 45, worker)
    time.sleep(2)  # the duplicate ends when it finds the deployments active
    for deployment, trial in batch:
        _assert_set_up_once(deployment, trial)
    calls = sum(sum(_calls(deployment).values()) for deployment, _ in batch)
    assert calls > 3 * len(CLOUD_STEPS), "the duplicate never reached the backend"
    assert len(BATCH_RECEIVED.findall(worker.text())) == 2
