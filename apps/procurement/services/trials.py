"""Trials: request, decision, provisioning through a deployment, reminders, expiry, cancel.

Every transition locks the trial, is a no-op when it is already in the target state, checks the
allowed table, saves, audits and emits `trial.<state>` (visible to provider and vendor) in one
transaction; e-mails and provisioning go out after commit through the outbox.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from apps.procurement.models import Trial
from apps.procurement.services.common import notify_members, notify_members_many, refuse_own_listing
from apps.procurement.services.licenses import license_issue_for_trial, licenses_revoke_where
from apps.provisioning.models import Deployment
from apps.provisioning.services import deployment_create, deployment_deprovision
from marketplace.audit import audit_record
from marketplace.bulk import bulk_update_rows
from marketplace.errors import Conflict, Forbidden, ValidationFailed
from marketplace.events import event_emit
from marketplace.limits import daily_limit_check
from marketplace.outbox import outbox_batching
from marketplace.patient_data import guard_patient_data
from marketplace.principal import SYSTEM, Principal, Role
from marketplace.tenancy import party_side
from marketplace.transitions import TransitionEntry, transition_check, transition_record_many

T = Trial.Status
TRIAL_TRANSITIONS: dict[str, set[str]] = {
    T.REQUESTED: {T.APPROVED, T.DECLINED, T.CANCELLED},
    T.APPROVED: {T.PROVISIONING, T.ACTIVE, T.FAILED, T.CANCELLED},
    T.PROVISIONING: {T.ACTIVE, T.FAILED, T.CANCELLED},
    T.ACTIVE: {T.EXPIRED, T.CONVERTED, T.CANCELLED},
    # failed -> provisioning: the deployment was retried.
    T.FAILED: {T.PROVISIONING, T.ACTIVE, T.CANCELLED},
    T.DECLINED: set(),
    T.EXPIRED: set(),
    T.CONVERTED: set(),
    T.CANCELLED: set(),
}


def _link(trial: Trial) -> str:
    return f"{settings.MARKETPLACE_BASE_URL}/organization/trials/{trial.public_id}/"


def _transition(trial: Trial, target: str, *, actor: Principal, reason: str = "", **fields: Any) -> bool:
    """Move a locked trial to `target`; False when already there."""
    if trial.status == target:
        return False
    transition_check(what="the trial", current=trial.status, target=target, allowed=TRIAL_TRANSITIONS)
    for name, value in fields.items():
        setattr(trial, name, value)
    return bool(_transition_many([trial], target, actor=actor, reason=reason, fields=list(fields)))


def _transition_many(
    trials: list[Trial], target: str, *, actor: Principal, reason: str = "", fields: list[str] | None = None
) -> list[Trial]:
    """Move locked trials to `target` with one update, one insert of audit entries and one of
    events; `fields`: what the caller set on them besides the status. Returns those that moved
    (the others were there already)."""
    moved: list[tuple[Trial, str]] = []
    now = timezone.now()
    for trial in trials:
        if trial.status == target:
            continue
        transition_check(what="the trial", current=trial.status, target=target, allowed=TRIAL_TRANSITIONS)
        moved.append((trial, trial.status))
        trial.status = target
        trial.updated_at = now  # a bulk update does not touch auto_now fields
    if not moved:
        return []
    bulk_update_rows([trial for trial, _ in moved], ["status", *(fields or []), "updated_at"])
    offerings = Offering.objects.filter(pk__in={trial.offering_id for trial, _ in moved})
    offering_ids = dict(offerings.values_list("pk", "public_id"))
    transition_record_many(
        actor=actor,
        action=f"procurement.trial.{target}",
        event=f"trial.{target}",
        new_status=target,
        reason=reason,
        entries=[
            TransitionEntry(
                trial,
                old,
                trial.provider,
                trial.vendor,
                {
                    "trial": str(trial.public_id),
                    "listing": trial.listing.slug,
                    "offering": str(offering_ids[trial.offering_id]),
                    **({"deployment": str(trial.deployment.public_id)} if trial.deployment_id else {}),
                },
            )
            for trial, old in moved
        ],
    )
    return [trial for trial, _ in moved]


def _lock(trial: Trial) -> Trial:
    """The trial's row, locked until the transaction ends."""
    return _locked(pk=trial.pk).get()


def _locked(**filters: Any) -> QuerySet[Trial]:
    """Trials, locked as they are read. Only their own rows (`of`): PostgreSQL refuses FOR UPDATE
    on the nullable side of an outer join (site, deployment). Read along: what every transition's
    audit entry and event names. Not more: PostgreSQL plans a join of all eight tables in
    milliseconds, on every call (measured: 1.5-8 ms, more than the rest of a transition)."""
    return (
        Trial.objects.select_for_update(of=("self",))
        .select_related("listing", "provider", "vendor")
        .filter(**filters)
    )


def _require(trial: Trial, actor: Principal, side: str, role: Role, *, operator_may: bool = False) -> None:
    if actor.is_operator and operator_may:
        return
    if party_side(trial, actor) != side or not actor.has_role(role):
        raise Forbidden(f"Only the trial's {side} ({role.value} role or above) may do this.")


def _validate_target(
    *, provider: Organization, offering: Offering, site: Site | None, region: str
) -> tuple[Site | None, str]:
    if offering.mode == Offering.Mode.CLOUD:
        if site is not None:
            raise ValidationFailed.for_field("site", "A cloud offering runs in a region; do not name a site.")
        if not region:
            raise ValidationFailed.for_field("region", f"Choose a region: {', '.join(offering.regions)}.")
        if region not in offering.regions:
            raise ValidationFailed.for_field(
                "region", f"This offering runs in {', '.join(offering.regions)}; not in '{region}'."
            )
        return None, region
    if region:
        raise ValidationFailed.for_field(
            "region", "An on-premise or hybrid offering is installed at one of your sites."
        )
    if site is None:
        raise ValidationFailed.for_field("site", "Choose one of your sites.")
    if site.organization_id != provider.pk or site.archived_at is not None:
        raise ValidationFailed.for_field("site", "No such site in your organization.")
    return site, ""


def trial_request_check(*, provider: Organization, actor: Principal) -> None:
    """Raise Forbidden unless `actor` may request trials for `provider` (provider member+).
    The API calls it before looking at the payload, so a caller without the right learns
    nothing from validation errors."""
    if actor.organization is None or actor.organization.pk != provider.pk or not actor.has_role(Role.MEMBER):
        raise Forbidden("Only members of the requesting organization may request a trial for it.")
    if not provider.is_provider:
        raise Forbidden("Only provider organizations request trials.", code="not_a_provider")


def trial_request(
    *,
    provider: Organization,
    actor: Principal,
    listing: Listing,
    offering: Offering,
    plan: Plan,
    site: Site | None = None,
    region: str = "",
    notes: str = "",
) -> Trial:
    """A provider member requests a trial. Plans with auto-approve are approved at once.

    Raises ValidationFailed naming the field at fault, or Conflict (409) naming the open trial
    that already exists for this organization, offering and site or region."""
    trial_request_check(provider=provider, actor=actor)
    guard_patient_data({"notes": notes})
    if listing.status != Listing.Status.PUBLISHED:
        raise ValidationFailed.for_field("listing", "This app is not available in the store.")
    refuse_own_listing(provider=provider, listing=listing, doing="request a trial of")
    if offering.listing_id != listing.pk or not offering.is_active:
        raise ValidationFailed.for_field("offering", "No such offering for this app.")
    if plan.offering_id != offering.pk or not plan.is_active:
        raise ValidationFailed.for_field("plan", "No such plan for this offering.")
    if plan.trial_days <= 0:
        raise ValidationFailed.for_field("plan", "This plan offers no trial; request a quote instead.")
    site, region = _validate_target(provider=provider, offering=offering, site=site, region=region)
    with transaction.atomic():
        # One open trial per organization, offering and site or region: the provider's row lock
        # serializes concurrent requests (NULL sites are distinct in unique constraints).
        Organization.objects.select_for_update().get(pk=provider.pk)
        daily_limit_check(
            name="trial_requests_per_day", recent=Trial.objects.filter(provider=provider), what="trial requests"
        )
        existing = Trial.objects.filter(
            provider=provider, offering=offering, site=site, region=region, status__in=Trial.OPEN
        ).first()
        if existing is not None:
            raise Conflict(
                f"Your organization already has an open trial of this offering there ({existing.status}).",
                code="trial_exists",
                extra={"trial": str(existing.public_id)},
            )
        trial = Trial.objects.create(
            provider=provider,
            vendor=listing.vendor,
            listing=listing,
            offering=offering,
            plan=plan,
            site=site,
            region=region,
            notes=notes.strip(),
            days=plan.trial_days,
            requested_by=actor.label[:200],
        )
        audit_record(
            actor=actor,
            action="procurement.trial.requested",
            target=trial,
            organization=provider,
            counterparty=listing.vendor,
            new={"status": T.REQUESTED, "plan": plan, "target": trial.target},
        )
        event_emit(
            type="trial.requested",
            subject=trial,
            organization=provider,
            counterparty=listing.vendor,
            data={
                "trial": str(trial.public_id),
                "listing": listing.slug,
                "offering": str(offering.public_id),
                "status": T.REQUESTED,
            },
        )
        if plan.trial_auto_approve:
            _approve(trial, actor=SYSTEM)
        else:
            notify_members(
                listing.vendor,
                subject=f"Trial request for {listing.name}",
                body=f"{provider.name} requests a {plan.trial_days}-day trial of {listing.name} "
                f"({offering.name}, {trial.target}).\n\nApprove or decline: {_link(trial)}",
            )
    return trial


def _approve(trial: Trial, *, actor: Principal) -> None:
    deployment = deployment_create(
        provider=trial.provider,
        listing=trial.listing,
        offering=trial.offering,
        plan=trial.plan,
        site=trial.site,
        region=trial.region,
        actor=actor,
    )
    _transition(trial, T.APPROVED, actor=actor, approved_at=timezone.now(), deployment=deployment)
    license_issue_for_trial(trial=trial, actor=actor)
    notify_members(
        trial.provider,
        subject=f"Your trial of {trial.listing.name} is approved",
        body=f"The trial is being set up now; watch its progress: {_link(trial)}",
    )


def trial_approve(*, trial: Trial, actor: Principal) -> Trial:
    """The vendor approves a requested trial; a worker provisions it after commit."""
    _require(trial, actor, "vendor", Role.MEMBER)
    with transaction.atomic():
        trial = _lock(trial)
        # Approving again after the approval (the trial may have moved on to provisioning or
        # active) is a no-op, so a client that retries its call gets the trial back.
        if trial.status == T.APPROVED or (trial.deployment_id and trial.status in Trial.OPEN):
            return trial
        transition_check(what="the trial", current=trial.status, target=T.APPROVED, allowed=TRIAL_TRANSITIONS)
        _approve(trial, actor=actor)
    return trial


def trials_approve(*, trials: list[Trial], actor: Principal) -> list[Trial]:
    """The vendor approves many requested trials at once, all or none (the first refusal raises
    and nothing is approved). Their deployments share provisioning tasks (up to
    MARKETPLACE_PROVISIONING_BATCH_SIZE each) and their e-mails share sending tasks."""
    with transaction.atomic(), outbox_batching():
        return [trial_approve(trial=trial, actor=actor) for trial in trials]


def trial_decline(*, trial: Trial, actor: Principal, reason: str) -> Trial:
    _require(trial, actor, "vendor", Role.MEMBER)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.for_field("reason", "Say why, so the hospital knows what to do next.")
    guard_patient_data({"reason": reason})
    with transaction.atomic():
        trial = _lock(trial)
        if _transition(
            trial, T.DECLINED, actor=actor, reason=reason, decision_reason=reason[:2000], ended_at=timezone.now()
        ):
            notify_members(
                trial.provider,
                subject=f"Your trial of {trial.listing.name} was declined",
                body=f"The vendor declined the trial: {reason}\n\n{_link(trial)}",
            )
    return trial


def trial_cancel(*, trial: Trial, actor: Principal, reason: str = "") -> Trial:
    """The provider (member+) or an operator cancels an open trial; what exists is deprovisioned."""
    _require(trial, actor, "provider", Role.MEMBER, operator_may=True)
    guard_patient_data({"reason": reason})
    with transaction.atomic():
        trial = _lock(trial)
        if _transition(trial, T.CANCELLED, actor=actor, reason=reason.strip(), ended_at=timezone.now()):
            _end_deployment(trial, reason="The trial was cancelled.")
            notify_members(
                trial.vendor,
                subject=f"Trial of {trial.listing.name} cancelled",
                body=f"{trial.provider.name} cancelled the trial.\n\n{_link(trial)}",
            )
    return trial


def _end_deployment(trial: Trial, *, reason: str) -> None:
    """Remove what a trial that ended set up, and revoke its license."""
    licenses_revoke_where(trial=trial, reason=reason)
    deployment = trial.deployment
    if deployment is None:
        return
    if deployment.status not in (Deployment.Status.DEPROVISIONING, Deployment.Status.DEPROVISIONED):
        deployment_deprovision(deployment=deployment, actor=SYSTEM, reason=reason)


# What following a batch reads: the trial, and of its listing and parties what audit entries,
# events and e-mails name (not their long texts).
_FOLLOW_FIELDS = (
    *(field.name for field in Trial._meta.concrete_fields),
    "listing__name",
    "listing__slug",
    "provider__name",
    "vendor__name",
)


def trials_follow_deployments(*, deployments: list[Deployment], new_status: str, actor: Principal = SYSTEM) -> None:
    """While a deployment exists, provisioning, active and failed of its trial follow it; an
    open trial whose deployment is removed (a provider admin or an operator deprovisions it)
    is cancelled. Called inside the transaction of the deployments' transition (one or a
    batch): a batch entering provisioning or active moves its trials with a few statements."""
    by_id = {deployment.pk: deployment for deployment in deployments}
    locked = _locked(deployment_id__in=list(by_id)).only(*_FOLLOW_FIELDS).order_by("pk")
    trials = [trial for trial in locked if trial.status in Trial.OPEN]
    for trial in trials:
        trial.deployment = by_id[trial.deployment_id]  # the caller's locked row, not a second read
    D = Deployment.Status
    if new_status == D.PROVISIONING:
        _transition_many([t for t in trials if t.status in (T.APPROVED, T.FAILED)], T.PROVISIONING, actor=SYSTEM)
    elif new_status == D.ACTIVE:
        now = timezone.now()
        starting = [t for t in trials if t.status in (T.APPROVED, T.PROVISIONING, T.FAILED)]
        for trial in starting:
            trial.started_at, trial.ends_at = now, now + timedelta(days=trial.days)
        _transition_many(starting, T.ACTIVE, actor=SYSTEM, fields=["started_at", "ends_at"])
        notify_members_many(
            [
                (
                    trial.provider,
                    f"Your trial of {trial.listing.name} is ready",
                    f"It runs until {trial.ends_at:%Y-%m-%d}.\n\n{_link(trial)}",
                )
                for trial in starting
            ]
        )
    else:
        for trial in trials:
            _trial_follow_end(trial, trial.deployment, new_status, actor=actor)


def _trial_follow_end(trial: Trial, deployment: Deployment, new_status: str, *, actor: Principal) -> None:
    """A deployment of an open trial is removed or failed."""
    D = Deployment.Status
    if new_status == D.DEPROVISIONING:
        _transition(trial, T.CANCELLED, actor=actor, reason="The deployment was removed.", ended_at=timezone.now())
        licenses_revoke_where(trial=trial, reason="The trial's deployment was removed.")
        notify_members(
            trial.vendor,
            subject=f"Trial of {trial.listing.name} cancelled",
            body=f"The trial's deployment was removed, so the trial ended.\n\n{_link(trial)}",
        )
    elif new_status == D.FAILED and trial.status in (T.APPROVED, T.PROVISIONING):
        _transition(trial, T.FAILED, actor=SYSTEM, reason=deployment.failure_reason)
        for party in (trial.provider, trial.vendor):
            notify_members(
                party,
                subject=f"Setting up the trial of {trial.listing.name} failed",
                body=f"Reason: {deployment.failure_reason}\n\nRetry or cancel: {_link(trial)}",
            )


def trials_sweep(*, now: Any = None) -> dict[str, int]:
    """Beat: remind providers before trials end and expire (and deprovision) ended ones."""
    now = now or timezone.now()
    counts = {"reminded": 0, "expired": 0}
    for trial_id in list(Trial.objects.filter(status=T.ACTIVE, ends_at__lte=now).values_list("pk", flat=True)):
        with transaction.atomic():
            trial = _lock(Trial(pk=trial_id))
            if trial.status == T.ACTIVE and trial.ends_at and trial.ends_at <= now:
                _transition(trial, T.EXPIRED, actor=SYSTEM, ended_at=now)
                _end_deployment(trial, reason="The trial ended.")
                notify_members(
                    trial.provider,
                    subject=f"Your trial of {trial.listing.name} has ended",
                    body=f"It was removed. To keep using it, request a quote or buy a plan.\n\n{_link(trial)}",
                )
                counts["expired"] += 1
    days = sorted(settings.MARKETPLACE_TRIAL_REMINDER_DAYS, reverse=True)
    horizon = now + timedelta(days=max(days, default=0))
    for trial_id in list(Trial.objects.filter(status=T.ACTIVE, ends_at__lte=horizon).values_list("pk", flat=True)):
        with transaction.atomic():
            trial = _lock(Trial(pk=trial_id))
            if trial.status != T.ACTIVE or trial.ends_at is None:
                continue
            left = trial.ends_at - now
            due = [d for d in days if left <= timedelta(days=d) and d not in trial.reminders_sent]
            if not due:
                continue
            trial.reminders_sent = sorted({*trial.reminders_sent, *due})
            trial.save(update_fields=["reminders_sent", "updated_at"])
            event_emit(
                type="trial.expiring",
                subject=trial,
                organization=trial.provider,
                counterparty=trial.vendor,
                data={"trial": str(trial.public_id), "ends_at": trial.ends_at.isoformat(), "days_left": min(due)},
            )
            notify_members(
                trial.provider,
                subject=f"Your trial of {trial.listing.name} ends in {min(due)} day(s)",
                body=f"It ends on {trial.ends_at:%Y-%m-%d %H:%M} UTC.\n\n{_link(trial)}",
            )
            counts["reminded"] += 1
    return counts


def trial_mark_converted(*, trial: Trial, actor: Principal) -> None:
    """Inside the order's transaction (trial locked): the trial becomes `converted`; its running
    deployment now serves the subscription, and its trial license is replaced by the
    entitlement's."""
    if _transition(trial, T.CONVERTED, actor=actor, ended_at=timezone.now()):
        if trial.deployment is None or not trial.deployment.bundles.exists():
            licenses_revoke_where(trial=trial, reason="The trial was converted to a subscription.")
        # else: revoked once the site's new bundle carries the subscription's license
        # (provisioning.refresh_bundle), so the site never holds only a revoked license.
        notify_members(
            trial.vendor,
            subject=f"Trial of {trial.listing.name} converted",
            body=f"{trial.provider.name} bought after the trial; the deployment keeps running.\n\n{_link(trial)}",
        )
