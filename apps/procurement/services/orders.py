"""Orders, subscriptions and entitlements.

Order: `placed -> fulfilled` (when its subscription becomes active) `| cancelled`.
Subscription: `pending_fulfillment -> active` (when every deployment of its entitlements is
active); `active <-> suspended`; `pending_fulfillment | active | suspended -> cancelled`;
`active -> expired` at term end without renewal; renewal extends the term (`subscription.renewed`).
Suspension suspends the deployments; cancellation and expiry deprovision them and revoke the
licenses. One entitlement (with its license and deployment) per target: the region, or each site.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from apps.procurement.models import Entitlement, Order, Quote, QuoteRequest, Subscription, Trial
from apps.procurement.services.common import (
    add_months,
    notify_members,
    refuse_own_listing,
    require_party,
    require_provider_member,
    store_link,
    terms_check,
)
from apps.procurement.services.licenses import license_issue_for_entitlement, licenses_revoke_where
from apps.provisioning.models import Deployment
from apps.provisioning.services import (
    deployment_create,
    deployment_deprovision,
    deployment_resume,
    deployment_suspend,
)
from marketplace.audit import audit_record
from marketplace.errors import Conflict, ValidationFailed
from marketplace.events import event_emit
from marketplace.principal import SYSTEM, Principal, Role
from marketplace.transitions import transition_check, transition_record

OS = Order.Status
S = Subscription.Status
ORDER_TRANSITIONS: dict[str, set[str]] = {
    OS.PLACED: {OS.FULFILLED, OS.CANCELLED},
    OS.FULFILLED: set(),
    OS.CANCELLED: set(),
}
SUBSCRIPTION_TRANSITIONS: dict[str, set[str]] = {
    S.PENDING_FULFILLMENT: {S.ACTIVE, S.CANCELLED},
    S.ACTIVE: {S.SUSPENDED, S.CANCELLED, S.EXPIRED},
    # A suspended subscription that does not renew ends with its term like an active one.
    S.SUSPENDED: {S.ACTIVE, S.CANCELLED, S.EXPIRED},
    S.CANCELLED: set(),
    S.EXPIRED: set(),
}
PURCHASE_ORDER_MAX = 60
_TERM_MONTHS = {Plan.BillingPeriod.MONTH: 1, Plan.BillingPeriod.YEAR: 12}


def _subscription_link(subscription: Subscription) -> str:
    return store_link(f"subscriptions/{subscription.public_id}/")


def _purchase_order_number(value: str) -> str:
    value = (value or "").strip()
    if len(value) > PURCHASE_ORDER_MAX or any(not ch.isprintable() for ch in value):
        raise ValidationFailed.for_field("purchase_order_number", f"Up to {PURCHASE_ORDER_MAX} printable characters.")
    return value


def _transition_order(order: Order, target: str, *, actor: Principal, **fields: Any) -> bool:
    if order.status == target:
        return False
    transition_check(what="the order", current=order.status, target=target, allowed=ORDER_TRANSITIONS)
    old, order.status = order.status, target
    for name, value in fields.items():
        setattr(order, name, value)
    order.save(update_fields=["status", *fields, "updated_at"])
    transition_record(
        actor=actor,
        obj=order,
        action=f"procurement.order.{target}",
        event=f"order.{target}",
        old_status=old,
        new_status=target,
        organization=order.provider,
        counterparty=order.vendor,
        data={"order": str(order.public_id), "listing": order.listing.slug},
    )
    return True


def _transition_subscription(
    subscription: Subscription, target: str, *, actor: Principal, reason: str = "", **fields: Any
) -> bool:
    if subscription.status == target:
        return False
    transition_check(
        what="the subscription", current=subscription.status, target=target, allowed=SUBSCRIPTION_TRANSITIONS
    )
    old, subscription.status = subscription.status, target
    if reason:
        subscription.reason = reason[:2000]
    for name, value in fields.items():
        setattr(subscription, name, value)
    subscription.save(update_fields=["status", "reason", *fields, "updated_at"])
    transition_record(
        actor=actor,
        obj=subscription,
        action=f"procurement.subscription.{target}",
        event=f"subscription.{target}",
        old_status=old,
        new_status=target,
        organization=subscription.provider,
        counterparty=subscription.vendor,
        reason=reason,
        data={
            "subscription": str(subscription.public_id),
            "order": str(subscription.order.public_id),
            "listing": subscription.listing.slug,
        },
    )
    return True


def _lock_subscription(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("order", "listing", "offering", "plan", "provider", "vendor")
        .get(pk=subscription.pk)
    )


def _create(
    *,
    source: str,
    provider: Organization,
    listing: Listing,
    offering: Offering,
    plan: Plan | None,
    region: str,
    sites: list[Site],
    seats: int | None,
    term_months: int,
    auto_renew: bool,
    currency: str,
    total: Decimal | None,
    accepted_terms: list[dict[str, Any]],
    purchase_order_number: str,
    actor: Principal,
    now: datetime,
    quote_request: QuoteRequest | None = None,
    quote: Quote | None = None,
    trial: Trial | None = None,
) -> Order:
    """The order, its subscription, one entitlement + license + deployment per target, in the
    caller's transaction. A converted trial's deployment serves its target: nothing twice."""
    recorded_terms = terms_check(listing=listing, accepted=accepted_terms, actor=actor, when=now)
    order = Order.objects.create(
        provider=provider,
        vendor=listing.vendor,
        listing=listing,
        offering=offering,
        plan=plan,
        source=source,
        quote_request=quote_request,
        quote=quote,
        trial=trial,
        purchase_order_number=_purchase_order_number(purchase_order_number),
        accepted_terms=recorded_terms,
        accepted_by=actor.label[:200],
        accepted_at=now,
        currency=currency,
        total=total,
        seats=seats,
    )
    audit_record(
        actor=actor,
        action="procurement.order.placed",
        target=order,
        organization=provider,
        counterparty=listing.vendor,
        new={
            "status": OS.PLACED,
            "source": source,
            "total": f"{total} {currency}" if total is not None else None,
            "purchase_order_number": order.purchase_order_number,
            "terms": [f"{t['kind']} {t['version']}" for t in recorded_terms],
        },
    )
    event_emit(
        type="order.placed",
        subject=order,
        organization=provider,
        counterparty=listing.vendor,
        data={"order": str(order.public_id), "listing": listing.slug, "source": source, "status": OS.PLACED},
    )
    period_end = add_months(now, term_months)
    subscription = Subscription.objects.create(
        order=order,
        provider=provider,
        vendor=listing.vendor,
        listing=listing,
        offering=offering,
        plan=plan,
        term_months=term_months,
        auto_renew=auto_renew,
        current_period_start=now,
        current_period_end=period_end,
    )
    audit_record(
        actor=actor,
        action="procurement.subscription.pending_fulfillment",
        target=subscription,
        organization=provider,
        counterparty=listing.vendor,
        new={"status": S.PENDING_FULFILLMENT, "term_months": term_months, "auto_renew": auto_renew},
    )
    event_emit(
        type="subscription.pending_fulfillment",
        subject=subscription,
        organization=provider,
        counterparty=listing.vendor,
        data={
            "subscription": str(subscription.public_id),
            "order": str(order.public_id),
            "listing": listing.slug,
            "status": S.PENDING_FULFILLMENT,
        },
    )
    reused = trial.deployment if trial is not None else None
    targets: list[tuple[Site | None, str]] = [(site, "") for site in sites] if sites else [(None, region)]
    features = [plan.pricing_model] if plan else ["custom"]
    for site, target_region in targets:
        deployment = None
        if reused is not None and reused.site_id == (site.pk if site else None) and reused.region == target_region:
            deployment, reused = reused, None
        else:
            deployment = deployment_create(
                provider=provider,
                listing=listing,
                offering=offering,
                plan=plan,
                site=site,
                region=target_region,
                actor=actor,
            )
        entitlement = Entitlement.objects.create(
            subscription=subscription,
            provider=provider,
            vendor=listing.vendor,
            listing=listing,
            offering=offering,
            plan=plan,
            site=site,
            region=target_region,
            seats=seats,
            features=features,
            valid_from=now,
            valid_until=period_end,
            deployment=deployment,
        )
        license_issue_for_entitlement(entitlement=entitlement, actor=actor)
    for party in (provider, listing.vendor):
        notify_members(
            party,
            subject=f"Order placed: {listing.name} for {provider.name}",
            body=f"Purchase order {order.purchase_order_number or '(none)'}; "
            f"it is being set up now.\n\n{_subscription_link(subscription)}",
        )
    _activate_if_ready(subscription, actor=SYSTEM)
    return order


def order_create_from_quote(
    *,
    quote_request: QuoteRequest,
    quote: Quote,
    actor: Principal,
    accepted_terms: list[dict[str, Any]],
    purchase_order_number: str,
    now: datetime,
) -> Order:
    """Called by quote_accept inside its transaction, with the request locked."""
    trial = quote_request.trial
    converting = None
    if trial is not None:
        trial = Trial.objects.select_for_update(of=("self",)).select_related("deployment").get(pk=trial.pk)
        if trial.status == Trial.Status.ACTIVE:
            converting = trial
        elif trial.status in Trial.OPEN:
            # Its deployment is still being set up (or failed): taking it over now, or provisioning
            # a second one beside it, would break "nothing is provisioned twice".
            raise Conflict(
                f"The trial this quote follows is {trial.status}; accept once it is active, or cancel it first.",
                code="trial_in_progress",
                extra={"trial": str(trial.public_id), "trial_status": trial.status},
            )
    order = _create(
        source=Order.Source.QUOTE,
        provider=quote_request.provider,
        listing=quote_request.listing,
        offering=quote_request.offering,
        plan=quote_request.plan,
        region=quote_request.region,
        sites=list(quote_request.sites.order_by("name")),
        seats=quote_request.seats,
        term_months=quote.term_months,
        auto_renew=quote.auto_renew,
        currency=quote.currency,
        total=quote.total,
        accepted_terms=accepted_terms,
        purchase_order_number=purchase_order_number,
        actor=actor,
        now=now,
        quote_request=quote_request,
        quote=quote,
        trial=converting,
    )
    if converting is not None:
        _convert_trial(converting, actor=actor)
    return order


def _convert_trial(trial: Trial, *, actor: Principal) -> None:
    from apps.procurement.services.trials import trial_mark_converted

    trial_mark_converted(trial=trial, actor=actor)


def order_place_check(*, provider: Organization, actor: Principal) -> None:
    require_provider_member(provider=provider, actor=actor, role=Role.ADMIN, doing="buy")


def _list_price(plan: Plan) -> tuple[str, Decimal | None, int]:
    if plan.pricing_model == Plan.PricingModel.QUOTE_ONLY:
        raise ValidationFailed.for_field("plan", "This plan has no list price; request a quote.", code="quote_only")
    term = _TERM_MONTHS.get(plan.billing_period, 12)
    if plan.pricing_model == Plan.PricingModel.USAGE:
        return plan.currency, None, term  # billed by what is used; no total is known up front
    if plan.pricing_model == Plan.PricingModel.FREE:
        return plan.currency, Decimal("0.00"), term
    return plan.currency, plan.price, term


def order_place(
    *,
    provider: Organization,
    actor: Principal,
    listing: Listing,
    offering: Offering,
    plan: Plan,
    accepted_terms: list[dict[str, Any]],
    region: str = "",
    sites: list[Site] | None = None,
    seats: int | None = None,
    purchase_order_number: str = "",
) -> Order:
    """Direct purchase of a list-priced plan by a provider admin."""
    from apps.procurement.services.quotes import _validate_targets

    order_place_check(provider=provider, actor=actor)
    if listing.status != Listing.Status.PUBLISHED:
        raise ValidationFailed.for_field("listing", "This app is not available in the store.")
    refuse_own_listing(provider=provider, listing=listing, doing="buy")
    if offering.listing_id != listing.pk or not offering.is_active:
        raise ValidationFailed.for_field("offering", "No such offering for this app.")
    if plan.offering_id != offering.pk or not plan.is_active:
        raise ValidationFailed.for_field("plan", "No such plan for this offering.")
    if seats is not None and seats < 1:
        raise ValidationFailed.for_field("seats", "At least one seat.")
    currency, price, term = _list_price(plan)
    region, site_list = _validate_targets(provider=provider, offering=offering, region=region, sites=sites or [])
    with transaction.atomic():
        return _create(
            source=Order.Source.DIRECT,
            provider=provider,
            listing=listing,
            offering=offering,
            plan=plan,
            region=region,
            sites=site_list,
            seats=seats,
            term_months=term,
            auto_renew=True,
            currency=currency,
            total=price,
            accepted_terms=accepted_terms,
            purchase_order_number=purchase_order_number,
            actor=actor,
            now=timezone.now(),
        )


def trial_convert(
    *, trial: Trial, actor: Principal, accepted_terms: list[dict[str, Any]], purchase_order_number: str = ""
) -> Order:
    """A provider admin buys the trial's list-priced plan: the running deployment moves to the new
    subscription (nothing is provisioned twice) and the trial becomes `converted`. Quote-only
    plans are bought through a quote request that names the trial."""
    require_party(trial, actor, "provider", Role.ADMIN)
    with transaction.atomic():
        trial = (
            Trial.objects.select_for_update(of=("self",))
            .select_related("listing", "offering", "plan", "provider", "vendor", "site", "deployment")
            .get(pk=trial.pk)
        )
        if trial.status == Trial.Status.CONVERTED:
            order = Order.objects.filter(trial=trial).first()
            raise Conflict(
                "This trial is already converted.",
                code="already_converted",
                extra={"order": str(order.public_id) if order else None},
            )
        transition_check(
            what="the trial",
            current=trial.status,
            target=Trial.Status.CONVERTED,
            allowed={Trial.Status.ACTIVE: {Trial.Status.CONVERTED}},
        )
        currency, price, term = _list_price(trial.plan)
        order = _create(
            source=Order.Source.TRIAL,
            provider=trial.provider,
            listing=trial.listing,
            offering=trial.offering,
            plan=trial.plan,
            region=trial.region,
            sites=[trial.site] if trial.site_id else [],
            seats=None,
            term_months=term,
            auto_renew=True,
            currency=currency,
            total=price,
            accepted_terms=accepted_terms,
            purchase_order_number=purchase_order_number,
            actor=actor,
            now=timezone.now(),
            trial=trial,
        )
        _convert_trial(trial, actor=actor)
    return order


# --- subscriptions ---------------------------------------------------------------------------


def _deployments(subscription: Subscription) -> list[Deployment]:
    return [e.deployment for e in subscription.entitlements.select_related("deployment") if e.deployment_id]


def _activate_if_ready(subscription: Subscription, *, actor: Principal) -> None:
    """pending_fulfillment -> active once every entitlement's deployment is active; fulfills the order."""
    if subscription.status != S.PENDING_FULFILLMENT:
        return
    deployments = _deployments(subscription)
    if not deployments or any(d.status != Deployment.Status.ACTIVE for d in deployments):
        return
    now = timezone.now()
    _transition_subscription(subscription, S.ACTIVE, actor=actor, activated_at=now)
    order = (
        Order.objects.select_for_update().select_related("listing", "provider", "vendor").get(pk=subscription.order_id)
    )
    _transition_order(order, OS.FULFILLED, actor=actor, fulfilled_at=now)
    notify_members(
        subscription.provider,
        subject=f"{subscription.listing.name} is ready",
        body=f"Your subscription is active until {subscription.current_period_end:%Y-%m-%d}.\n\n"
        f"{_subscription_link(subscription)}",
    )


def subscriptions_follow_deployments(*, deployments: list[Deployment], new_status: str) -> None:
    """Called inside every deployment transition (one or a batch): a subscription waiting for
    its deployments becomes active when the last one is."""
    if new_status != Deployment.Status.ACTIVE:
        return
    waiting = (
        Entitlement.objects.filter(deployment__in=deployments, subscription__status=S.PENDING_FULFILLMENT)
        .values_list("subscription_id", flat=True)
        .distinct()
    )
    for subscription_id in sorted(waiting):  # not a subscription's, or past waiting: none
        subscription = _lock_subscription(Subscription(pk=subscription_id))
        _activate_if_ready(subscription, actor=SYSTEM)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.for_field("reason", "Say why; both parties see it.")
    from marketplace.patient_data import guard_patient_data

    guard_patient_data({"reason": reason})
    return reason


def subscription_suspend(*, subscription: Subscription, actor: Principal, reason: str) -> Subscription:
    """The vendor's admins or an operator suspend an active subscription; its deployments are
    suspended."""
    require_party(subscription, actor, "vendor", Role.ADMIN, operator_may=True)
    reason = _require_reason(reason)
    with transaction.atomic():
        subscription = _lock_subscription(subscription)
        if _transition_subscription(subscription, S.SUSPENDED, actor=actor, reason=reason):
            for deployment in _deployments(subscription):
                if deployment.status == Deployment.Status.ACTIVE:
                    deployment_suspend(deployment=deployment, actor=SYSTEM, reason=reason)
            for party in (subscription.provider, subscription.vendor):
                notify_members(
                    party,
                    subject=f"Subscription to {subscription.listing.name} suspended",
                    body=f"Reason: {reason}\n\n{_subscription_link(subscription)}",
                )
    return subscription


def subscription_resume(*, subscription: Subscription, actor: Principal, reason: str) -> Subscription:
    """The vendor's admins or an operator resume a suspended subscription and its deployments."""
    require_party(subscription, actor, "vendor", Role.ADMIN, operator_may=True)
    reason = _require_reason(reason)
    with transaction.atomic():
        subscription = _lock_subscription(subscription)
        if subscription.status != S.ACTIVE:
            # Only a suspended subscription resumes: pending_fulfillment -> active is fulfillment's.
            transition_check(
                what="the subscription",
                current=subscription.status,
                target=S.ACTIVE,
                allowed={S.SUSPENDED: {S.ACTIVE}},
            )
        if _transition_subscription(subscription, S.ACTIVE, actor=actor, reason=reason):
            for deployment in _deployments(subscription):
                if deployment.status == Deployment.Status.SUSPENDED:
                    deployment_resume(deployment=deployment, actor=SYSTEM, reason=reason)
            for party in (subscription.provider, subscription.vendor):
                notify_members(
                    party,
                    subject=f"Subscription to {subscription.listing.name} resumed",
                    body=f"Reason: {reason}\n\n{_subscription_link(subscription)}",
                )
    return subscription


def _end(subscription: Subscription, *, reason: str) -> None:
    """Deprovision what the subscription runs and revoke its licenses (inside the transition)."""
    licenses_revoke_where(entitlement__subscription=subscription, reason=reason)
    for deployment in _deployments(subscription):
        if deployment.status not in (Deployment.Status.DEPROVISIONING, Deployment.Status.DEPROVISIONED):
            deployment_deprovision(deployment=deployment, actor=SYSTEM, reason=reason)


def subscription_cancel(*, subscription: Subscription, actor: Principal, reason: str) -> Subscription:
    """The provider's admins or an operator cancel; deployments are removed, licenses revoked, and
    an order not yet fulfilled is cancelled with it."""
    require_party(subscription, actor, "provider", Role.ADMIN, operator_may=True)
    reason = _require_reason(reason)
    with transaction.atomic():
        subscription = _lock_subscription(subscription)
        if _transition_subscription(subscription, S.CANCELLED, actor=actor, reason=reason, ended_at=timezone.now()):
            order = (
                Order.objects.select_for_update()
                .select_related("listing", "provider", "vendor")
                .get(pk=subscription.order_id)
            )
            if order.status == OS.PLACED:
                _transition_order(order, OS.CANCELLED, actor=actor, cancelled_at=timezone.now())
            _end(subscription, reason=f"The subscription was cancelled: {reason}")
            for party in (subscription.provider, subscription.vendor):
                notify_members(
                    party,
                    subject=f"Subscription to {subscription.listing.name} cancelled",
                    body=f"Reason: {reason}\n\n{_subscription_link(subscription)}",
                )
    return subscription


def _renew(subscription: Subscription) -> None:
    start = subscription.current_period_end
    # Counted from the first period's start, so a term that began on the 31st ends on the last
    # day of each short month and returns to the 31st afterwards (no drift).
    anchor = subscription.order.accepted_at
    end = add_months(anchor, subscription.term_months * (subscription.renewals + 2))
    subscription.current_period_start, subscription.current_period_end = start, end
    subscription.renewals += 1
    subscription.save(update_fields=["current_period_start", "current_period_end", "renewals", "updated_at"])
    for entitlement in subscription.entitlements.select_related(
        "subscription", "offering", "plan", "site", "provider", "vendor", "listing"
    ):
        entitlement.valid_until = end
        entitlement.save(update_fields=["valid_until", "updated_at"])
        license_issue_for_entitlement(entitlement=entitlement, actor=SYSTEM)
    audit_record(
        actor=SYSTEM,
        action="procurement.subscription.renewed",
        target=subscription,
        organization=subscription.provider,
        counterparty=subscription.vendor,
        old={"current_period_end": start.isoformat()},
        new={"current_period_end": end.isoformat()},
    )
    event_emit(
        type="subscription.renewed",
        subject=subscription,
        organization=subscription.provider,
        counterparty=subscription.vendor,
        data={
            "subscription": str(subscription.public_id),
            "listing": subscription.listing.slug,
            "status": subscription.status,
            "current_period_end": end.isoformat(),
        },
    )
    notify_members(
        subscription.provider,
        subject=f"Subscription to {subscription.listing.name} renewed",
        body=f"It now runs until {end:%Y-%m-%d}.\n\n{_subscription_link(subscription)}",
    )


def subscriptions_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: at term end, renew active subscriptions that renew, expire the others, suspended or
    not (their deployments are removed and licenses revoked). A suspended subscription that
    renews waits: it is renewed (for every term that passed) once it is resumed."""
    now = now or timezone.now()
    counts = {"renewed": 0, "expired": 0}
    ending = Q(status=S.ACTIVE) | Q(status=S.SUSPENDED, auto_renew=False)
    due = Subscription.objects.filter(ending, current_period_end__lte=now).values_list("pk", flat=True)
    for subscription_id in list(due):
        with transaction.atomic():
            subscription = _lock_subscription(Subscription(pk=subscription_id))
            if subscription.status not in (S.ACTIVE, S.SUSPENDED) or subscription.current_period_end > now:
                continue
            if subscription.auto_renew:
                if subscription.status != S.ACTIVE:
                    continue
                while subscription.current_period_end <= now:  # catch up if beat was down for a term
                    _renew(subscription)
                counts["renewed"] += 1
            else:
                _transition_subscription(subscription, S.EXPIRED, actor=SYSTEM, reason="The term ended.", ended_at=now)
                _end(subscription, reason="The subscription's term ended.")
                for party in (subscription.provider, subscription.vendor):
                    notify_members(
                        party,
                        subject=f"Subscription to {subscription.listing.name} expired",
                        body=f"The term ended without renewal.\n\n{_subscription_link(subscription)}",
                    )
                counts["expired"] += 1
    return counts
