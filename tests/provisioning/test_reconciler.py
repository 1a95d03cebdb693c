"""What keeps provisioning moving when something goes wrong, on the embedded defaults: the
reconciler (stuck work sent again, work past its deadline failed), transient and permanent
backend errors, a broker that refuses the message at commit, and the settings that make the
Redis broker safe (visibility timeout, a consumer for every queue)."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings as django_settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.procurement.models import Trial
from apps.provisioning.backends import backend_for
from apps.provisioning.models import Deployment, DeploymentStep, SandboxCall
from apps.provisioning.services import _claim_next_step, deployment_reconcile
from apps.provisioning.tasks import advance_deployment, advance_deployments
from apps.provisioning.tasks import reconcile as reconcile_task
from config.celery_app import app
from marketplace.models import Event, OutboxMessage
from marketplace.outbox import outbox_reconcile
from tests.conftest import Party
from tests.factories import VendorFactory
from tests.procurement.factories import sandbox, trial_in_state

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CLOUD_STEPS = ["validate", "allocate_tenant", "configure", "health_check"]
ADVANCE = "provisioning.advance_deployment"
ADVANCE_BATCH = "provisioning.advance_deployments"


def _keys(deployment: Deployment, phase: str = "provision", steps: list[str] = CLOUD_STEPS) -> list[str]:
    return [f"{deployment.public_id}:{phase}:{step}" for step in steps]


def _calls(deployment: Deployment) -> dict[str, int]:
    """Effective backend calls per idempotency key -> calls seen with that key."""
    return dict(SandboxCall.objects.filter(deployment=deployment).values_list("idempotency_key", "attempts"))


def _age(deployment: Deployment, *, seconds: float, deadline_passed: bool = False) -> None:
    """Pretend the deployment last moved `seconds` ago (and, optionally, its deadline passed)."""
    now = timezone.now()
    values: dict[str, Any] = {"last_progress_at": now - timedelta(seconds=seconds)}
    if deadline_passed:
        values["deadline_at"] = now - timedelta(seconds=1)
    Deployment.objects.filter(pk=deployment.pk).update(**values)


def _advance_messages(deployment: Deployment) -> int:
    """Messages that move this deployment: its own tasks, and the batches it is in."""
    alone = OutboxMessage.objects.filter(task_name=ADVANCE, kwargs={"deployment_id": deployment.pk}).count()
    batches = OutboxMessage.objects.filter(task_name=ADVANCE_BATCH)
    return alone + sum(deployment.pk in message.kwargs["deployment_ids"] for message in batches)


@pytest.fixture
def parties(st_mary: Party, radiant: Party) -> dict[str, Any]:
    return {"provider": st_mary.organization, "vendor": radiant.organization}


# --- the reconciler -----------------------------------------------------------------------------


def test_a_deployment_stuck_in_provisioning_is_sent_again_and_finishes(
    parties: dict[str, Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # One step done; the message for the next one never reached a worker.
    stuck = trial_in_state("provisioning", **parties).deployment
    _age(stuck, seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS + 5)
    # Another one that moved a moment ago is left alone.
    other_vendor = VendorFactory(name="Other Vendor", slug="other-vendor")
    moving = trial_in_state("provisioning", provider=parties["provider"], vendor=other_vendor).deployment
    _age(moving, seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS - 30)

    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_reconcile() == {"redispatched": 1, "failed": 0}
    stuck.refresh_from_db()
    moving.refresh_from_db()
    assert stuck.status == Deployment.Status.ACTIVE and stuck.redispatches == 1
    assert stuck.trial.status == Trial.Status.ACTIVE
    assert sorted(_calls(stuck)) == sorted(_keys(stuck))
    assert moving.status == Deployment.Status.PROVISIONING and moving.redispatches == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_reconcile() == {"redispatched": 0, "failed": 0}


def test_a_step_interrupted_mid_way_runs_again_with_the_same_key_and_no_second_effect(
    parties: dict[str, Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    deployment = trial_in_state("approved", **parties).deployment
    # A worker claims the first step and calls the backend, then dies before recording it.
    claimed = _claim_next_step(deployment.pk)
    assert claimed is not None
    _, step = claimed
    backend_for(deployment.backend).run_step(deployment, step.name, idempotency_key=_keys(deployment)[0])
    assert DeploymentStep.objects.get(pk=step.pk).status == DeploymentStep.Status.RUNNING
    _age(deployment, seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS + 5)

    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_reconcile() == {"redispatched": 1, "failed": 0}
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.ACTIVE
    calls = _calls(deployment)
    assert sorted(calls) == sorted(_keys(deployment))  # one effective call per key
    assert calls[_keys(deployment)[0]] == 2  # the repeat was seen, and answered without a second effect
    assert DeploymentStep.objects.get(pk=step.pk).attempts == 2


def test_a_stuck_pending_deployment_is_sent_again(
    parties: dict[str, Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    deployment = trial_in_state("approved", **parties).deployment  # its message was lost
    _age(deployment, seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        result = reconcile_task.apply().result  # the beat task, run as a worker would
    assert result == {"redispatched": 1, "failed": 0}
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.ACTIVE


def test_past_its_deadline_a_deployment_fails_with_a_clear_reason_and_can_be_retried(
    parties: dict[str, Any], st_mary: Party, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    trial = trial_in_state("provisioning", **parties)
    deployment = trial.deployment
    _claim_next_step(deployment.pk)  # the second step was running when everything stopped
    _age(deployment, seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS + 1, deadline_passed=True)

    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_reconcile() == {"redispatched": 0, "failed": 1}
    deployment.refresh_from_db()
    trial.refresh_from_db()
    assert deployment.status == Deployment.Status.FAILED
    assert "did not finish before its deadline" in deployment.failure_reason
    assert trial.status == Trial.Status.FAILED
    statuses = dict(deployment.steps.values_list("name", "status"))
    assert statuses == {
        "validate": "done", "allocate_tenant": "failed", "configure": "pending", "health_check": "pending"
    }
    assert deployment.steps.get(name="allocate_tenant").message == "Timed out."
    event = Event.objects.get(type="deployment.failed")
    assert event.data["reason"] == deployment.failure_reason
    assert Event.objects.get(type="trial.failed").data["reason"] == deployment.failure_reason
    # Failed is not "moving": the reconciler leaves it to a person.
    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_reconcile() == {"redispatched": 0, "failed": 0}

    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("member").post(f"/api/v1/deployments/{deployment.public_id}/retry/")
    assert response.status_code == 200, response.content
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.ACTIVE
    assert deployment.deadline_at > timezone.now()  # a retry gets a new deadline


def test_removal_is_never_failed_by_the_deadline_only_sent_again(
    parties: dict[str, Any], st_mary: Party, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    trial = trial_in_state("active", **parties, capture=django_capture_on_commit_callbacks)
    st_mary.api("admin").post(f"/api/v1/deployments/{trial.deployment.public_id}/deprovision/", {}, format="json")
    deployment = Deployment.objects.get(pk=trial.deployment.pk)
    assert deployment.status == Deployment.Status.DEPROVISIONING  # its message never ran
    _age(deployment, seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS + 1, deadline_passed=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_reconcile() == {"redispatched": 1, "failed": 0}
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.DEPROVISIONED


# --- backend errors ---------------------------------------------------------------------------


@pytest.mark.usefixtures("eager_retries")
def test_transient_failures_are_retried_and_the_deployment_ends_active(
    parties: dict[str, Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with sandbox(settings, transient_failures=2):
        trial = trial_in_state("active", **parties, capture=django_capture_on_commit_callbacks)
    deployment = trial.deployment
    assert trial.status == Trial.Status.ACTIVE and deployment.status == Deployment.Status.ACTIVE
    # Two refusals, then the call that has the effect: three calls seen, one effect, per key.
    assert _calls(deployment) == dict.fromkeys(_keys(deployment), 3)
    assert set(deployment.steps.values_list("attempts", flat=True)) == {3}
    assert not Event.objects.filter(type__in=["deployment.failed", "trial.failed"]).exists()
    assert deployment.failure_reason == ""


@pytest.mark.usefixtures("eager_retries")
def test_a_backend_that_stays_busy_fails_after_the_last_retry(
    parties: dict[str, Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with sandbox(settings, transient_failures=100):
        trial = trial_in_state("failed", **parties, capture=django_capture_on_commit_callbacks, settings=settings)
    deployment = trial.deployment
    assert deployment.status == Deployment.Status.FAILED
    assert deployment.failure_reason.startswith(f"Gave up after {advance_deployment.max_retries} retries")
    # The batch it started in called once, then handed it to its own task, which tried 1 + retries.
    assert _calls(deployment) == {_keys(deployment)[0]: advance_deployment.max_retries + 2}
    assert trial.status == Trial.Status.FAILED


def test_a_permanent_failure_fails_with_the_reason_and_is_not_retried(
    parties: dict[str, Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with sandbox(settings, fail_step="configure"):
        trial = trial_in_state("active", **parties, capture=django_capture_on_commit_callbacks)
        deployment = trial.deployment
        assert deployment.status == Deployment.Status.FAILED and trial.status == Trial.Status.FAILED
        assert deployment.failure_reason == (
            "Configure integrations: The sandbox refuses step 'configure' (failure injected)."
        )
        configure = deployment.steps.get(name="configure")
        assert (configure.status, configure.attempts) == ("failed", 1)
        assert deployment.steps.get(name="health_check").status == "pending"
        assert sorted(_calls(deployment)) == sorted(_keys(deployment, steps=["validate", "allocate_tenant"]))
        sent = _advance_messages(deployment)
        assert sent == 3  # validate, allocate_tenant, configure: nothing after the refusal

        _age(deployment, seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS + 1)
        with django_capture_on_commit_callbacks(execute=True):
            assert deployment_reconcile() == {"redispatched": 0, "failed": 0}
        assert _advance_messages(deployment) == sent
        assert Event.objects.filter(type="deployment.failed").count() == 1


# --- the broker refuses the message at commit --------------------------------------------------


def test_a_broker_failure_at_commit_keeps_the_message_and_the_reconciler_sends_it_later(
    parties: dict[str, Any],
    radiant: Party,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    trial = trial_in_state("requested", **parties)

    def broker_down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patch:
        patch.setattr(advance_deployments, "apply_async", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            response = radiant.api("member").post(f"/api/v1/trials/{trial.public_id}/approve/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    deployment = Deployment.objects.get(trial=trial)
    assert deployment.status == Deployment.Status.PENDING
    message = OutboxMessage.objects.get(task_name=ADVANCE_BATCH, kwargs={"deployment_ids": [deployment.pk]})
    assert message.dispatched_at is None and message.attempts == 1
    assert "Connection refused" in message.last_error

    # Not sent again before the grace period: it may still be on its way.
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_reconcile() == 0
    settings.MARKETPLACE_OUTBOX_RESEND_AFTER_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_reconcile() >= 1
    message.refresh_from_db()
    assert message.dispatched_at is not None and message.attempts == 2
    deployment.refresh_from_db()
    trial.refresh_from_db()
    assert deployment.status == Deployment.Status.ACTIVE and trial.status == Trial.Status.ACTIVE
    assert sorted(_calls(deployment)) == sorted(_keys(deployment))
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


# --- settings that make the real broker safe ------------------------------------------------------


def _settings_with_redis(monkeypatch: pytest.MonkeyPatch, name: str = "base") -> Any:
    """config.settings.<name> evaluated afresh, as a deployment with a Redis broker evaluates it."""
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://redis.invalid:6379/0")
    monkeypatch.delenv("CELERY_VISIBILITY_TIMEOUT", raising=False)

    def load(module_name: str) -> Any:
        spec = importlib.util.find_spec(module_name)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    base = load("config.settings.base")
    if name == "base":
        return base
    monkeypatch.setitem(sys.modules, "config.settings.base", base)  # what `import *` picks up
    return load(f"config.settings.{name}")


def test_the_redis_visibility_timeout_outlasts_every_task_and_countdown(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _settings_with_redis(monkeypatch)
    visibility = base.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility == 3600
    tasks = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert {ADVANCE, "provisioning.reconcile", "procurement.trials_sweep", "marketplace.outbox_reconcile"} <= set(tasks)
    for name, task in tasks.items():
        hard_limit = task.time_limit or base.CELERY_TASK_TIME_LIMIT
        assert hard_limit, f"{name} has no hard time limit"
        # A task still running when the timeout passes would be delivered to a second worker.
        assert hard_limit < visibility, (name, hard_limit, visibility)
        soft_limit = task.soft_time_limit or base.CELERY_TASK_SOFT_TIME_LIMIT
        assert soft_limit < hard_limit, name
    # The longest back-off of a provisioning retry (2**n capped at 60 s, plus jitter) is far shorter too.
    assert visibility > 61
    # Long waits (reminders, webhook retries) live in the database, swept by beat.
    schedule = {entry["task"] for entry in base.CELERY_BEAT_SCHEDULE.values()}
    assert {"provisioning.reconcile", "procurement.trials_sweep", "marketplace.outbox_reconcile"} <= schedule


def test_the_test_settings_shorten_the_visibility_timeout_for_the_kill_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    test_settings = _settings_with_redis(monkeypatch, "test")
    assert test_settings.CELERY_BROKER_URL.startswith("redis://")
    assert test_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= 30


def _makefile_queues() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^QUEUES\s*:?=\s*(\S+)", text, re.MULTILINE)
    assert match, "the Makefile names the worker's queues in QUEUES"
    assert "--queues $(QUEUES)" in text  # and `make run` passes them on
    return set(match.group(1).split(","))


def _script_default_queues() -> set[str]:
    text = (ROOT / "scripts" / "run_embedded.py").read_text()
    match = re.search(r'"--queues",\s*default="([^"]+)"', text)
    assert match, "scripts/run_embedded.py has a default for --queues"
    return set(match.group(1).split(","))


def _compose_queues() -> set[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    queues: set[str] = set()
    for service in compose["services"].values():
        command = service.get("command") or []
        args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if "worker" in args and "-Q" in args:
            queues |= set(args[args.index("-Q") + 1].split(","))
    return queues


@pytest.mark.parametrize("where", ["Makefile", "scripts/run_embedded.py", "docker-compose.yml"])
def test_every_queue_has_a_consumer(where: str) -> None:
    consumed = {
        "Makefile": _makefile_queues,
        "scripts/run_embedded.py": _script_default_queues,
        "docker-compose.yml": _compose_queues,
    }[where]()
    declared = set(django_settings.MARKETPLACE_QUEUES)
    assert declared <= consumed, f"{where} has no worker for {sorted(declared - consumed)}"
    # And every route leads to a declared queue.
    routed = {route["queue"] for route in django_settings.CELERY_TASK_ROUTES.values()}
    assert routed | {"provisioning", "notifications"} <= declared
