"""Deployments: creation, the step runner the workers call, retry, deprovisioning and the
reconciler that finds work that stopped moving.

Every transition locks the row, checks the allowed table, saves, writes the audit entry and the
event (`deployment.<state>`, visible to provider and vendor) and tells listeners in the same
transaction; work for the workers goes through the outbox, so it is sent only after commit and
never lost when the broker is down.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from apps.provisioning.backends import (
    PermanentProvisioningError,
    StepResult,
    backend_for,
)
from apps.provisioning.models import Deployment, DeploymentStep
from apps.provisioning.signals import deployments_status_changed
from marketplace.audit import audit_record
from marketplace.bulk import bulk_update_rows
from marketplace.errors import Conflict, Forbidden
from marketplace.events import event_emit
from marketplace.outbox import outbox_enqueue, outbox_enqueue_batched
from marketplace.principal import SYSTEM, Principal, Role
from marketplace.tenancy import party_side
from marketplace.transitions import TransitionEntry, transition_check, transition_record_many

logger = logging.getLogger(__name__)
D = Deployment.Status
DEPLOYMENT_TRANSITIONS: dict[str, set[str]] = {
    D.PENDING: {D.PROVISIONING, D.DEPROVISIONING, D.FAILED},
    # provisioning -> deprovisioning: a trial cancelled while it is being set up stops the set-up.
    D.PROVISIONING: {D.AWAITING_AGENT, D.ACTIVE, D.FAILED, D.DEPROVISIONING},
    D.AWAITING_AGENT: {D.ACTIVE, D.FAILED, D.DEPROVISIONING},
    D.ACTIVE: {D.SUSPENDED, D.DEPROVISIONING},
    D.SUSPENDED: {D.ACTIVE, D.DEPROVISIONING},
    D.FAILED: {D.PROVISIONING, D.DEPROVISIONING},
    D.DEPROVISIONING: {D.DEPROVISIONED},
    D.DEPROVISIONED: set(),
}
ADVANCE_TASK = "provisioning.advance_deployment"
ADVANCE_BATCH_TASK = "provisioning.advance_deployments"
# The deployment status in which the steps of a phase run.
_PHASE_STATUS: dict[str, str] = {
    DeploymentStep.Phase.PROVISION: D.PROVISIONING,
    DeploymentStep.Phase.DEPROVISION: D.DEPROVISIONING,
}
_PHASE_OF_STATUS: dict[str, str] = {status: phase for phase, status in _PHASE_STATUS.items()}
# What the step runner changes on a deployment between transitions.
_PROGRESS_FIELDS = (
    "external_id",
    "tenant_url",
    "progress_percent",
    "current_step",
    "estimated_ready_at",
    "last_progress_at",
)


# What a transition saves: its own fields and the progress the step runner hands it to save along.
_TRANSITION_FIELDS = list(
    dict.fromkeys(
        (
            "status",
            "failure_reason",
            "activated_at",
            "deprovisioned_at",
            *_PROGRESS_FIELDS,
            "updated_at",
        )
    )
)


def _lock(deployment_id: int) -> Deployment:
    """The deployment's row, locked until the transaction ends. Only its own row: the listing is
    read along, not locked (and PostgreSQL refuses FOR UPDATE on the nullable side of a join)."""
    return (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("listing", "provider", "vendor")  # read by every transition's audit and event
        .get(pk=deployment_id)
    )


def _dispatch_advance(deployment: Deployment) -> None:
    outbox_enqueue(task_name=ADVANCE_TASK, kwargs={"deployment_id": deployment.pk}, queue="provisioning")


def _dispatch_new(deployment: Deployment) -> None:
    """Hand a new deployment to the workers: in a batch when its steps take no time (the
    deployments one transaction creates share a task, `deployments_advance`), else a task of its
    own, so slow backends run side by side on all workers."""
    if _instant(deployment):
        outbox_enqueue_batched(
            task_name=ADVANCE_BATCH_TASK,
            key="deployment_ids",
            items=[deployment.pk],
            queue="provisioning",
            limit=settings.MARKETPLACE_PROVISIONING_BATCH_SIZE,
        )
    else:
        _dispatch_advance(deployment)


def _instant(deployment: Deployment) -> bool:
    """Whether the backend expects every provisioning step of this deployment to take no time."""
    try:
        specs = backend_for(deployment.backend).provision_steps(deployment)
    except PermanentProvisioningError:
        return False  # an unknown backend: the single path fails it with the reason
    return all(spec.seconds <= 0 for spec in specs)


def _transition(deployment: Deployment, target: str, *, actor: Principal, reason: str = "") -> bool:
    """Move a locked deployment to `target`; False when it is already there."""
    return bool(_transition_many([deployment], target, actor=actor, reason=reason))


def _transition_many(
    deployments: list[Deployment], target: str, *, actor: Principal, reason: str = ""
) -> list[Deployment]:
    """Move locked deployments to `target`: one update, one insert of audit entries, one of
    events, one signal for the lot. Returns those that moved (the others were there already)."""
    moved: list[tuple[Deployment, str]] = []
    now = timezone.now()
    for deployment in deployments:
        if deployment.status == target:
            continue
        transition_check(
            what="the deployment", current=deployment.status, target=target, allowed=DEPLOYMENT_TRANSITIONS
        )
        moved.append((deployment, deployment.status))
        deployment.status = target
        deployment.last_progress_at = now
        deployment.updated_at = now  # a bulk update does not touch auto_now fields
        if target == D.FAILED:
            deployment.failure_reason = reason[:2000]
        elif target in (D.PROVISIONING, D.DEPROVISIONING):
            deployment.failure_reason = ""
        if target == D.ACTIVE:
            deployment.activated_at = deployment.activated_at or now
            deployment.progress_percent = 100
            deployment.estimated_ready_at = None
        if target == D.DEPROVISIONED:
            deployment.deprovisioned_at = now
    if not moved:
        return []
    changed = [deployment for deployment, _ in moved]
    bulk_update_rows(changed, _TRANSITION_FIELDS)
    transition_record_many(
        actor=actor,
        action=f"provisioning.deployment.{target}",
        event=f"deployment.{target}",
        new_status=target,
        reason=reason,
        entries=[
            TransitionEntry(
                deployment,
                old,
                deployment.provider,
                deployment.vendor,
                {"deployment": str(deployment.public_id), "listing": deployment.listing.slug},
            )
            for deployment, old in moved
        ],
    )
    deployments_status_changed.send(sender=Deployment, deployments=changed, new_status=target, actor=actor)
    return changed


def _create_steps(deployment: Deployment, phase: str) -> None:
    backend = backend_for(deployment.backend)
    specs = (
        backend.provision_steps(deployment)
        if phase == DeploymentStep.Phase.PROVISION
        else (backend.deprovision_steps(deployment))
    )
    deployment.steps.filter(phase=phase).delete()
    DeploymentStep.objects.bulk_create(
        DeploymentStep(deployment=deployment, phase=phase, position=index, name=spec.name, title=spec.title)
        for index, spec in enumerate(specs)
    )
    total = sum(spec.seconds for spec in specs)
    deployment.estimated_ready_at = timezone.now() + timedelta(seconds=total)
    deployment.save(update_fields=["estimated_ready_at", "updated_at"])


def deployment_create(
    *,
    provider: Organization,
    listing: Listing,
    offering: Offering,
    plan: Plan | None,
    site: Site | None,
    region: str,
    actor: Principal,
) -> Deployment:
    """Create a pending deployment and hand it to a worker after commit. Call inside the
    transaction of the change that causes it (a trial's approval, an order)."""
    now = timezone.now()
    deployment = Deployment.objects.create(
        provider=provider,
        vendor=listing.vendor,
        listing=listing,
        offering=offering,
        plan=plan,
        site=site,
        region=region,
        backend=offering.provisioner,
        last_progress_at=now,
        deadline_at=now + timedelta(seconds=settings.MARKETPLACE_PROVISIONING_DEADLINE_SECONDS),
    )
    _create_steps(deployment, DeploymentStep.Phase.PROVISION)
    audit_record(
        actor=actor,
        action="provisioning.deployment.pending",
        target=deployment,
        organization=provider,
        counterparty=listing.vendor,
        new={"status": D.PENDING, "target": region or (site.name if site else "")},
    )
    event_emit(
        type="deployment.pending",
        subject=deployment,
        organization=provider,
        counterparty=listing.vendor,
        data={"deployment": str(deployment.public_id), "listing": listing.slug, "status": D.PENDING},
    )
    _dispatch_new(deployment)
    return deployment


def _require_side(deployment: Deployment, actor: Principal, *, sides: set[str], role: Role) -> None:
    if actor.is_operator or actor.kind.value == "system":
        return
    side = party_side(deployment, actor)
    if side not in sides or not actor.has_role(role):
        raise Forbidden("You may not do this to this deployment.")


def deployment_retry(*, deployment: Deployment, actor: Principal) -> Deployment:
    """Start a failed deployment again from its failed step (provider or vendor member+)."""
    _require_side(deployment, actor, sides={"provider", "vendor"}, role=Role.MEMBER)
    with transaction.atomic():
        deployment = _lock(deployment.pk)
        if deployment.status == D.PROVISIONING:
            return deployment
        if deployment.status != D.FAILED:  # retry is failed -> provisioning only (DOMAIN.md)
            transition_check(
                what="the deployment", current=deployment.status, target="retried", allowed={D.FAILED: {"retried"}}
            )
        phase_failed = deployment.steps.filter(status=DeploymentStep.Status.FAILED).order_by("phase").first()
        _transition(deployment, D.PROVISIONING, actor=actor)
        deployment.steps.filter(phase=DeploymentStep.Phase.PROVISION).exclude(status=DeploymentStep.Status.DONE).update(
            status=DeploymentStep.Status.PENDING, message=""
        )
        if phase_failed is None and not deployment.steps.filter(phase=DeploymentStep.Phase.PROVISION).exists():
            _create_steps(deployment, DeploymentStep.Phase.PROVISION)
        now = timezone.now()
        Deployment.objects.filter(pk=deployment.pk).update(
            deadline_at=now + timedelta(seconds=settings.MARKETPLACE_PROVISIONING_DEADLINE_SECONDS),
            redispatches=0,
            last_progress_at=now,
        )
        _dispatch_advance(deployment)
    deployment.refresh_from_db()
    return deployment


def deployment_deprovision(*, deployment: Deployment, actor: Principal, reason: str = "") -> Deployment:
    """Remove what exists (provider admins, operators, or the system on cancel and expiry)."""
    _require_side(deployment, actor, sides={"provider"}, role=Role.ADMIN)
    with transaction.atomic():
        deployment = _lock(deployment.pk)
        if deployment.status in (D.DEPROVISIONING, D.DEPROVISIONED):
            return deployment
        _transition(deployment, D.DEPROVISIONING, actor=actor, reason=reason)
        _create_steps(deployment, DeploymentStep.Phase.DEPROVISION)
        Deployment.objects.filter(pk=deployment.pk).update(
            deadline_at=timezone.now() + timedelta(seconds=settings.MARKETPLACE_PROVISIONING_DEADLINE_SECONDS),
            redispatches=0,
            progress_percent=0,  # removal has its own progress
            current_step="",
        )
        _dispatch_advance(deployment)
    deployment.refresh_from_db()
    return deployment


BACKEND_CALL_TASK = "provisioning.backend_call"


def _set_suspended(deployment: Deployment, *, suspended: bool, actor: Principal, reason: str) -> Deployment:
    target = D.SUSPENDED if suspended else D.ACTIVE
    with transaction.atomic():
        deployment = _lock(deployment.pk)
        if _transition(deployment, target, actor=actor, reason=reason):
            # The backend is told after commit; the key makes a repeated delivery one effect.
            operation = "suspend" if suspended else "resume"
            outbox_enqueue(
                task_name=BACKEND_CALL_TASK,
                kwargs={
                    "deployment_id": deployment.pk,
                    "operation": operation,
                    "idempotency_key": f"{deployment.public_id}:{operation}:{timezone.now().timestamp():.6f}",
                },
                queue="provisioning",
            )
    deployment.refresh_from_db()
    return deployment


def deployment_suspend(*, deployment: Deployment, actor: Principal, reason: str = "") -> Deployment:
    """Suspend an active deployment (a subscription's suspension; the system or operators)."""
    _require_side(deployment, actor, sides=set(), role=Role.ADMIN)
    return _set_suspended(deployment, suspended=True, actor=actor, reason=reason)


def deployment_resume(*, deployment: Deployment, actor: Principal, reason: str = "") -> Deployment:
    """Resume a suspended deployment."""
    _require_side(deployment, actor, sides=set(), role=Role.ADMIN)
    return _set_suspended(deployment, suspended=False, actor=actor, reason=reason)


def deployment_backend_call(*, deployment_id: int, operation: str, idempotency_key: str) -> str:
    """Tell the backend a deployment was suspended or resumed, if it still is (a later change
    wins: a resume after a suspend makes the pending suspend call moot)."""
    deployment = Deployment.objects.select_related("listing").get(pk=deployment_id)
    wanted = D.SUSPENDED if operation == "suspend" else D.ACTIVE
    if deployment.status != wanted:
        return "skipped"
    backend = backend_for(deployment.backend)
    try:
        getattr(backend, operation)(deployment, idempotency_key=idempotency_key)
    except PermanentProvisioningError as exc:
        logger.warning("Backend refused %s of deployment %s: %s", operation, deployment.public_id, exc)
        return "refused"
    return "done"


def deployment_activate(
    *, deployment: Deployment, actor: Principal, tenant_url: str = "", by_site_agent: bool = False
) -> Deployment:
    """Finish a deployment that waits for someone outside: the vendor's fulfillment callback
    (vendor member+; `tenant_url` is where the tenant answers) or the site agent's installation
    report (`by_site_agent`, checked by the agent service). Idempotent once active; 409 from any
    state but provisioning and awaiting_agent."""
    if not by_site_agent:
        _require_side(deployment, actor, sides={"vendor"}, role=Role.MEMBER)
    with transaction.atomic():
        deployment = _lock(deployment.pk)
        if deployment.status == D.ACTIVE:
            return deployment
        waiting = (D.PROVISIONING, D.AWAITING_AGENT)
        if not by_site_agent and deployment.backend == "hybrid" and deployment.status in waiting:
            # Hybrid: the vendor hands in the cloud part's address; the site agent's installation
            # report is what makes the deployment active.
            if tenant_url:
                deployment.tenant_url = tenant_url[:200]
                deployment.save(update_fields=["tenant_url", "updated_at"])
            return deployment
        if not by_site_agent and deployment.backend != "vendor":
            # The vendor's callback finishes only what waits for the vendor: an on-premise (or
            # hybrid) deployment is active when the site agent reports it installed, never before.
            raise Conflict(
                "This deployment does not wait for the vendor's confirmation.",
                code="not_waiting_for_vendor",
                extra={"current_status": deployment.status},
            )
        transition_check(
            what="the deployment",
            current=deployment.status,
            target=D.ACTIVE,
            allowed={D.PROVISIONING: {D.ACTIVE}, D.AWAITING_AGENT: {D.ACTIVE}},
        )
        if tenant_url:
            deployment.tenant_url = tenant_url[:200]
        now = timezone.now()
        deployment.steps.filter(phase=DeploymentStep.Phase.PROVISION).exclude(status=DeploymentStep.Status.DONE).update(
            status=DeploymentStep.Status.DONE, finished_at=now
        )
        deployment.current_step = ""
        deployment.save()
        _transition(deployment, D.ACTIVE, actor=actor)
    deployment.refresh_from_db()
    return deployment


def deployment_fail(*, deployment_id: int, reason: str, actor: Principal = SYSTEM) -> None:
    with transaction.atomic():
        deployment = _lock(deployment_id)
        if deployment.status not in (D.PENDING, D.PROVISIONING, D.AWAITING_AGENT):
            return
        deployment.steps.filter(status=DeploymentStep.Status.RUNNING).update(
            status=DeploymentStep.Status.FAILED, finished_at=timezone.now(), message=reason[:2000]
        )
        _transition(deployment, D.FAILED, actor=actor, reason=reason)


# --- the step runner ---------------------------------------------------------------------------


def _claim_next_step(deployment_id: int) -> tuple[Deployment, DeploymentStep] | None:
    with transaction.atomic():
        return _claim_locked(_lock(deployment_id))


def _claim_locked(
    deployment: Deployment, steps: list[DeploymentStep] | None = None
) -> tuple[Deployment, DeploymentStep] | None:
    """Mark the next step of a locked deployment running (or finish the phase when none is
    left); None when there is nothing to run. `steps`: the phase's steps, when the caller has
    just read them under the same lock."""
    if deployment.status == D.PENDING:
        _transition(deployment, D.PROVISIONING, actor=SYSTEM)
    phase = _PHASE_OF_STATUS.get(deployment.status)
    if phase is None:
        return None
    if steps is None:
        steps = _phase_steps(deployment, phase)
    step = next((s for s in steps if s.status != DeploymentStep.Status.DONE), None)
    if step is None:
        _finish(deployment, phase)
        return None
    _mark_running(deployment, step, timezone.now())
    step.save(update_fields=["status", "attempts", "started_at"])
    deployment.save(update_fields=[*_PROGRESS_FIELDS, "updated_at"])
    return deployment, step


def _mark_running(deployment: Deployment, step: DeploymentStep, now: Any) -> None:
    """Claim a step of a locked deployment (the caller saves both)."""
    step.status = DeploymentStep.Status.RUNNING
    step.attempts += 1
    step.started_at = step.started_at or now
    deployment.current_step = step.name
    deployment.last_progress_at = now


def _phase_steps(deployment: Deployment, phase: str) -> list[DeploymentStep]:
    return list(deployment.steps.filter(phase=phase).order_by("position"))


def _finish(deployment: Deployment, phase: str) -> None:
    deployment.current_step = ""  # saved with the transition
    _transition(deployment, D.ACTIVE if phase == DeploymentStep.Phase.PROVISION else D.DEPROVISIONED, actor=SYSTEM)


def deployment_advance(*, deployment_id: int) -> str:
    """Run the steps of a deployment, each committed on its own, so progress shows step by step.

    Steps run one after another in this task while it has run for less than
    MARKETPLACE_PROVISIONING_INLINE_SECONDS (finishing one step and starting the next in one
    transaction); past that, the next step goes to the queue as a task of its own, so one long
    deployment does not hold a worker from the others. Idempotent: a step repeated after a
    killed worker calls the backend with the same key, so it has one effect. Transient backend
    errors propagate for the task to retry with back-off; a permanent one fails the deployment
    with the reason. Returns the deployment's status."""
    started = time.monotonic()
    claimed = _claim_next_step(deployment_id)
    if claimed is None:
        return Deployment.objects.filter(pk=deployment_id).values_list("status", flat=True).first() or "missing"
    while True:
        deployment, step = claimed
        backend = backend_for(deployment.backend)
        key = f"{deployment.public_id}:{step.phase}:{step.name}"
        try:
            result = backend.run_step(deployment, step.name, idempotency_key=key)
        except PermanentProvisioningError as exc:
            return _fail_step(deployment, step, exc)
        inline = time.monotonic() - started < settings.MARKETPLACE_PROVISIONING_INLINE_SECONDS
        with transaction.atomic():
            status, claimed = _complete_step(deployment, step, result, backend=backend, claim_next=inline)
        if claimed is None:
            return status


def _fail_step(deployment: Deployment, step: DeploymentStep, exc: Exception) -> str:
    reason = f"{step.title}: {exc}"
    with transaction.atomic():
        locked = _lock(deployment.pk)
        if locked.status != _PHASE_STATUS[step.phase]:
            return locked.status  # cancelled or retried meanwhile: this step's plan is gone
        DeploymentStep.objects.filter(pk=step.pk).update(
            status=DeploymentStep.Status.FAILED, finished_at=timezone.now(), message=str(exc)[:2000]
        )
        if locked.status == D.PROVISIONING:
            _transition(locked, D.FAILED, actor=SYSTEM, reason=reason)
        else:
            # Removal keeps trying through the reconciler; record why it is stuck.
            locked.failure_reason = reason[:2000]
            locked.save(update_fields=["failure_reason", "updated_at"])
        return locked.status


def _complete_step(
    deployment: Deployment, step: DeploymentStep, result: StepResult, *, backend: Any, claim_next: bool
) -> tuple[str, tuple[Deployment, DeploymentStep] | None]:
    """Record a step's result in the caller's transaction; then start the next step in the same
    transaction (`claim_next`), dispatch it as a task, or finish the phase. Returns the status and
    the claimed next step, if any.

    The deployment's row lock guards its steps too: every change to a step happens under it."""
    locked = _lock(deployment.pk)
    if locked.status != _PHASE_STATUS[step.phase]:
        return locked.status, None  # cancelled or retried meanwhile: the new plan has its own task
    steps = _phase_steps(locked, step.phase)
    current = next((s for s in steps if s.pk == step.pk), None)
    if current is None:
        return locked.status, None  # its plan was replaced meanwhile; the new one has its own task
    now = timezone.now()
    _record_ids(locked, result)
    if result.wait:
        # Someone outside finishes this step (deployment_activate); nothing is dispatched.
        current.message = result.message[:2000]
        current.save(update_fields=["message"])
        locked.current_step = step.name
        locked.last_progress_at = now
        locked.estimated_ready_at = None
        locked.save()
        if result.wait_in and locked.status != result.wait_in:
            _transition(locked, result.wait_in, actor=SYSTEM)
        return locked.status, None
    remaining = _mark_done(locked, current, steps, result, backend=backend, now=now)
    current.save(update_fields=["status", "finished_at", "message"])
    if not remaining:
        _finish(locked, step.phase)  # saves the progress with the transition
        return locked.status, None
    if claim_next:
        return locked.status, _claim_locked(locked, steps)  # saves the progress with the claim
    locked.save(update_fields=[*_PROGRESS_FIELDS, "updated_at"])
    _dispatch_advance(locked)
    return locked.status, None


def _record_ids(deployment: Deployment, result: StepResult) -> None:
    if result.external_id and not deployment.external_id:
        deployment.external_id = result.external_id  # recorded before any follow-up call
    if result.tenant_url:
        deployment.tenant_url = result.tenant_url


def _mark_done(
    deployment: Deployment,
    step: DeploymentStep,
    steps: list[DeploymentStep],
    result: StepResult,
    *,
    backend: Any,
    now: Any,
) -> list[DeploymentStep]:
    """Record a finished step of a locked deployment and its progress (the caller saves both);
    returns the phase's steps still to run."""
    step.status = DeploymentStep.Status.DONE
    step.finished_at = now
    step.message = result.message[:2000]
    remaining = [s for s in steps if s.status != DeploymentStep.Status.DONE]
    deployment.progress_percent = int(100 * (len(steps) - len(remaining)) / len(steps))
    provisioning = step.phase == DeploymentStep.Phase.PROVISION
    specs = backend.provision_steps(deployment) if provisioning else backend.deprovision_steps(deployment)
    expected = {spec.name: spec.seconds for spec in specs}
    deployment.estimated_ready_at = now + timedelta(seconds=sum(expected.get(s.name, 0) for s in remaining))
    deployment.current_step = remaining[0].name if remaining else ""
    deployment.last_progress_at = now
    return remaining


# --- the batch runner: many instant deployments per task ----------------------------------------


# A step the backend refused, and why.
Refusal = tuple[DeploymentStep, PermanentProvisioningError]


def deployments_advance(*, deployment_ids: list[int]) -> dict[str, int]:
    """Provision a batch of new deployments whose steps take no time, in rounds.

    One transaction per round locks the batch (in id order), records the results of the backend
    calls made since the last round, claims the next step of each deployment and moves those
    that are done to active, with a few statements for the whole batch. Between rounds each
    deployment's steps are called one after another (they take no time, so there is no progress
    to show between them) with the same idempotency keys as `deployment_advance`: a killed
    worker repeats the calls since the last round, each with one effect. While the task has run
    for less than MARKETPLACE_PROVISIONING_INLINE_SECONDS a deployment goes on to its next step
    between rounds; past it, one step per round, and the rest of the batch goes back to the queue
    as a new batch (with 0, as in the test settings, every step is a round and a task).

    Anything unusual leaves the batch for the single path: a permanent backend error fails that
    deployment with the reason; a transient one or an unexpected error sends it to a task of its
    own (which retries with back-off); a step that waits for someone outside continues as in
    `deployment_advance`; calls slower than the budget hand the rest of their round to tasks of
    their own; a deployment cancelled, failed or removed meanwhile, or whose id no longer exists,
    is left to what changed it. Returns counts."""
    started = time.monotonic()
    budget = settings.MARKETPLACE_PROVISIONING_INLINE_SECONDS
    ids = sorted({int(deployment_id) for deployment_id in deployment_ids})
    counts = {"active": 0, "failed": 0, "handed_off": 0, "requeued": 0}
    results: dict[int, list[tuple[DeploymentStep, StepResult]]] = {}
    stopped: dict[int, Refusal | None] = {}  # leave after this round: refused (step, error), or not
    claim_next = True  # the first round always claims, as a single task does
    while True:
        with transaction.atomic():
            claimed = _batch_round(ids, results, stopped, claim_next=claim_next, counts=counts)
        _leave_batch(stopped, counts)
        results, stopped = {}, {}
        round_started = time.monotonic()
        for deployment, steps in claimed:
            if 0 < budget < time.monotonic() - round_started:
                stopped[deployment.pk] = None  # slow calls after all: the rest of the round go on alone
                results[deployment.pk] = []
                continue
            results[deployment.pk] = done = []
            for index, step in enumerate(steps):
                if index and not time.monotonic() - started < budget:
                    break  # past the budget: one step per round
                try:
                    result = backend_for(deployment.backend).run_step(
                        deployment, step.name, idempotency_key=f"{deployment.public_id}:{step.phase}:{step.name}"
                    )
                except PermanentProvisioningError as exc:
                    stopped[deployment.pk] = (step, exc)  # failed once the round recorded the steps before
                    break
                except Exception:  # transient or unexpected: the single task retries it with back-off
                    logger.warning("Deployment %s leaves its batch at step %s", deployment.public_id, step.name)
                    stopped[deployment.pk] = None
                    break
                done.append((step, result))
                if result.wait:
                    break
        if not results:
            return counts
        ids = sorted(results)
        claim_next = time.monotonic() - started < budget


def _leave_batch(stopped: dict[int, Refusal | None], counts: dict[str, int]) -> None:
    """After a round recorded what they did: fail the refused, send the others to tasks of their
    own (their next step runs again there, with the same key)."""
    for deployment_id, refusal in stopped.items():
        if refusal is not None:
            if _fail_step(Deployment(pk=deployment_id), *refusal) == D.FAILED:
                counts["failed"] += 1
            continue
        with transaction.atomic():
            _dispatch_advance(Deployment(pk=deployment_id))
        counts["handed_off"] += 1


# What a round reads: the deployment, and of its listing and parties what audit entries, events
# and e-mails name (not their long texts: a batch reads them in every round).
_BATCH_FIELDS = (
    *(field.name for field in Deployment._meta.concrete_fields),
    "listing__name",
    "listing__slug",
    "provider__name",
    "vendor__name",
)


def _batch_round(
    ids: list[int],
    results: dict[int, list[tuple[DeploymentStep, StepResult]]],
    stopped: dict[int, Refusal | None],
    *,
    claim_next: bool,
    counts: dict[str, int],
) -> list[tuple[Deployment, list[DeploymentStep]]]:
    """One round of `deployments_advance`, in the caller's transaction. Returns each claimed
    deployment with its steps still to run (the first one claimed)."""
    deployments = list(
        Deployment.objects.select_for_update(of=("self",))
        .select_related("listing", "provider", "vendor")
        .only(*_BATCH_FIELDS)
        .filter(pk__in=ids)
        .order_by("pk")
    )
    batch: list[Deployment] = []
    for deployment in deployments:
        if deployment.status not in (D.PENDING, D.PROVISIONING):
            stopped.pop(deployment.pk, None)  # cancelled, failed or retried meanwhile: that change
            continue  # has its own task
        if not _instant(deployment):
            stopped.setdefault(deployment.pk, None)
            continue
        batch.append(deployment)
    for missing in set(stopped) - {d.pk for d in deployments}:
        del stopped[missing]
    _transition_many([d for d in batch if d.status == D.PENDING], D.PROVISIONING, actor=SYSTEM)
    plans: dict[int, list[DeploymentStep]] = {deployment.pk: [] for deployment in batch}
    for step in DeploymentStep.objects.filter(deployment__in=batch, phase=DeploymentStep.Phase.PROVISION).order_by(
        "deployment_id", "position"
    ):
        plans[step.deployment_id].append(step)
    now = timezone.now()
    changed_steps: list[DeploymentStep] = []
    progressed: list[Deployment] = []
    finished: list[Deployment] = []
    claimed: list[tuple[Deployment, list[DeploymentStep]]] = []
    later: list[int] = []
    for deployment in batch:
        plan = plans[deployment.pk]
        remaining = [s for s in plan if s.status != DeploymentStep.Status.DONE]
        for step, result in results.get(deployment.pk, []):
            current = next((s for s in plan if s.pk == step.pk), None)
            if current is None:  # its plan was replaced meanwhile; the new one has its own task
                remaining = None
                break
            backend = backend_for(deployment.backend)
            if result.wait:  # someone outside finishes it: the single path knows how to wait
                for done in changed_steps:
                    if done.deployment_id == deployment.pk:
                        done.save(update_fields=["status", "attempts", "started_at", "finished_at", "message"])
                deployment.save(update_fields=[*_PROGRESS_FIELDS, "updated_at"])
                _complete_step(deployment, current, result, backend=backend, claim_next=False)
                counts["handed_off"] += 1
                remaining = None
                break
            if current.status != DeploymentStep.Status.RUNNING:  # run on from the previous step
                _mark_running(deployment, current, now)
            _record_ids(deployment, result)
            remaining = _mark_done(deployment, current, plan, result, backend=backend, now=now)
            changed_steps.append(current)
        if remaining is None:
            stopped.pop(deployment.pk, None)
            continue
        if not remaining:
            deployment.current_step = ""  # saved with the transition
            finished.append(deployment)
            stopped.pop(deployment.pk, None)
            continue
        progressed.append(deployment)
        deployment.updated_at = now  # a bulk update does not touch auto_now fields
        if deployment.pk in stopped:
            refused = stopped[deployment.pk] is not None
            if refused and remaining[0].status != DeploymentStep.Status.RUNNING:
                _mark_running(deployment, remaining[0], now)  # claimed, then failed after this round
                changed_steps.append(remaining[0])
        elif claim_next:
            _mark_running(deployment, remaining[0], now)
            changed_steps.append(remaining[0])
            claimed.append((deployment, remaining))
        else:
            later.append(deployment.pk)
    bulk_update_rows(changed_steps, ["status", "attempts", "started_at", "finished_at", "message"])
    bulk_update_rows(progressed, [*_PROGRESS_FIELDS, "updated_at"])
    counts["active"] += len(_transition_many(finished, D.ACTIVE, actor=SYSTEM))
    if later:
        outbox_enqueue_batched(
            task_name=ADVANCE_BATCH_TASK,
            key="deployment_ids",
            items=later,
            queue="provisioning",
            limit=settings.MARKETPLACE_PROVISIONING_BATCH_SIZE,
        )
        counts["requeued"] += len(later)
    return claimed


def deployment_reconcile(*, limit: int = 200) -> dict[str, int]:
    """Find deployments that stopped moving: send their work again, or fail them past their
    deadline with a clear reason. Run by beat."""
    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS)
    moving = (D.PENDING, D.PROVISIONING, D.DEPROVISIONING)
    counts = {"redispatched": 0, "failed": 0}
    candidates = Deployment.objects.filter(status__in=moving, last_progress_at__lt=stuck_before).order_by("id")
    for deployment_id in list(candidates.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            deployment = _lock(deployment_id)
            if deployment.status not in moving or deployment.last_progress_at >= stuck_before:
                continue
            if deployment.deadline_at and deployment.deadline_at < now and deployment.status != D.DEPROVISIONING:
                deployment.steps.filter(status=DeploymentStep.Status.RUNNING).update(
                    status=DeploymentStep.Status.FAILED, finished_at=now, message="Timed out."
                )
                _transition(
                    deployment,
                    D.FAILED,
                    actor=SYSTEM,
                    reason="Provisioning did not finish before its deadline; retry it or contact the vendor.",
                )
                counts["failed"] += 1
                continue
            deployment.redispatches += 1
            deployment.last_progress_at = now
            deployment.save(update_fields=["redispatches", "last_progress_at", "updated_at"])
            _dispatch_advance(deployment)
            counts["redispatched"] += 1
    return counts


def deployment_progress(deployment: Deployment) -> dict[str, Any]:
    return {
        "percent": deployment.progress_percent,
        "current_step": deployment.current_step or None,
        "estimated_ready_at": deployment.estimated_ready_at,
    }
