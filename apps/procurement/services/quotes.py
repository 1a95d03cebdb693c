"""Quote requests (RFQs) and the vendor's versioned quotes.

`requested -> quoted -> accepted | declined | expired`; `quoted -> quoted` (a new version, the old
ones kept); `requested | quoted -> withdrawn` (vendor) or `cancelled` (provider). Every transition
locks the request, is a no-op when already there, checks the table, audits and emits
`quote.<state>` (`quote.issued` for each version) in one transaction; mails go after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from apps.procurement.models import Order, Quote, QuoteLineItem, QuoteRequest, Trial
from apps.procurement.services.common import (
    notify_members,
    refuse_own_listing,
    require_party,
    require_provider_member,
    store_link,
)
from marketplace.audit import audit_record
from marketplace.currencies import validate_currency
from marketplace.errors import Conflict, ValidationFailed
from marketplace.events import event_emit
from marketplace.limits import daily_limit_check
from marketplace.patient_data import guard_patient_data
from marketplace.principal import SYSTEM, Principal, Role
from marketplace.transitions import transition_check, transition_record

Q = QuoteRequest.Status
QUOTE_TRANSITIONS: dict[str, set[str]] = {
    Q.REQUESTED: {Q.QUOTED, Q.WITHDRAWN, Q.CANCELLED},
    Q.QUOTED: {Q.QUOTED, Q.ACCEPTED, Q.DECLINED, Q.EXPIRED, Q.WITHDRAWN, Q.CANCELLED},
    Q.ACCEPTED: set(),
    Q.DECLINED: set(),
    Q.EXPIRED: set(),
    Q.WITHDRAWN: set(),
    Q.CANCELLED: set(),
}
MAX_LINE_ITEMS = 50
CENT = Decimal("0.01")


def _link(quote_request: QuoteRequest) -> str:
    return store_link(f"quotes/{quote_request.public_id}/")


def _lock(quote_request: QuoteRequest) -> QuoteRequest:
    return (
        QuoteRequest.objects.select_for_update(of=("self",))
        .select_related("listing", "offering", "plan", "provider", "vendor", "trial")
        .get(pk=quote_request.pk)
    )


def _transition(
    quote_request: QuoteRequest, target: str, *, actor: Principal, reason: str = "", event: str = "", **fields: Any
) -> bool:
    """Move a locked request to `target` (quoted -> quoted is a new version, not a no-op)."""
    if quote_request.status == target and target != Q.QUOTED:
        return False
    transition_check(what="the quote", current=quote_request.status, target=target, allowed=QUOTE_TRANSITIONS)
    old = quote_request.status
    quote_request.status = target
    for name, value in fields.items():
        setattr(quote_request, name, value)
    # `reason` too: the callers that close a request set it before the transition.
    quote_request.save(update_fields=["status", "reason", *fields, "updated_at"])
    latest = quote_request.quotes.order_by("-version").first()
    transition_record(
        actor=actor,
        obj=quote_request,
        action=f"procurement.quote.{event or target}",
        event=f"quote.{event or target}",
        old_status=old,
        new_status=target,
        organization=quote_request.provider,
        counterparty=quote_request.vendor,
        reason=reason,
        data={
            "quote": str(quote_request.public_id),
            "listing": quote_request.listing.slug,
            **({"version": latest.version} if latest else {}),
        },
    )
    return True


def quote_request_check(*, provider: Organization, actor: Principal) -> None:
    """Raise Forbidden unless the actor may request quotes for `provider` (provider member+)."""
    require_provider_member(provider=provider, actor=actor, role=Role.MEMBER, doing="request a quote")


def _validate_targets(
    *, provider: Organization, offering: Offering, region: str, sites: list[Site]
) -> tuple[str, list[Site]]:
    if offering.mode == Offering.Mode.CLOUD:
        if sites:
            raise ValidationFailed.for_field("sites", "A cloud offering runs in a region; do not name sites.")
        if region not in offering.regions:
            raise ValidationFailed.for_field(
                "region", f"Choose one of this offering's regions: {', '.join(offering.regions)}."
            )
        return region, []
    if region:
        raise ValidationFailed.for_field("region", "An on-premise or hybrid offering is installed at your sites.")
    if not sites:
        raise ValidationFailed.for_field("sites", "Choose one or more of your sites.")
    for site in sites:
        if site.organization_id != provider.pk or site.archived_at is not None:
            raise ValidationFailed.for_field("sites", "No such site in your organization.")
    return "", list({site.pk: site for site in sites}.values())


def quote_request_create(
    *,
    provider: Organization,
    actor: Principal,
    listing: Listing,
    offering: Offering,
    plan: Plan | None = None,
    region: str = "",
    sites: Iterable[Site] = (),
    seats: int | None = None,
    studies_per_month: int | None = None,
    desired_start: date | None = None,
    notes: str = "",
    trial: Trial | None = None,
) -> QuoteRequest:
    """A provider member asks the vendor for a quote (a plan or custom). Naming a trial means
    accepting converts it and keeps its deployment. Raises ValidationFailed naming the field, or
    Conflict when the trial already has an open quote request."""
    quote_request_check(provider=provider, actor=actor)
    guard_patient_data({"notes": notes})
    if listing.status != Listing.Status.PUBLISHED:
        raise ValidationFailed.for_field("listing", "This app is not available in the store.")
    refuse_own_listing(provider=provider, listing=listing, doing="request a quote for")
    if offering.listing_id != listing.pk or not offering.is_active:
        raise ValidationFailed.for_field("offering", "No such offering for this app.")
    if plan is not None and (plan.offering_id != offering.pk or not plan.is_active):
        raise ValidationFailed.for_field("plan", "No such plan for this offering.")
    if seats is not None and seats < 1:
        raise ValidationFailed.for_field("seats", "At least one seat.")
    if desired_start is not None and desired_start < timezone.now().date():
        raise ValidationFailed.for_field("desired_start", "The desired start is in the past.")
    region, site_list = _validate_targets(provider=provider, offering=offering, region=region, sites=list(sites))
    if trial is not None:
        if trial.provider_id != provider.pk or trial.offering_id != offering.pk:
            raise ValidationFailed.for_field("trial", "Name a trial of your organization for this offering.")
        if trial.status not in Trial.OPEN:
            raise ValidationFailed.for_field("trial", f"That trial has ended ({trial.status}).")
        if (trial.site_id and trial.site_id not in {s.pk for s in site_list}) or (
            trial.region and trial.region != region
        ):
            raise ValidationFailed.for_field("trial", "The quote's target must include the trial's site or region.")
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=provider.pk)  # the daily limit is exact
        daily_limit_check(
            name="quote_requests_per_day", recent=QuoteRequest.objects.filter(provider=provider), what="quote requests"
        )
        if trial is not None:
            Trial.objects.select_for_update().get(pk=trial.pk)
            open_request = QuoteRequest.objects.filter(trial=trial, status__in=QuoteRequest.OPEN).first()
            if open_request is not None:
                raise Conflict(
                    "This trial already has an open quote request.",
                    code="quote_exists",
                    extra={"quote": str(open_request.public_id)},
                )
        quote_request = QuoteRequest.objects.create(
            provider=provider,
            vendor=listing.vendor,
            listing=listing,
            offering=offering,
            plan=plan,
            region=region,
            seats=seats,
            studies_per_month=studies_per_month,
            desired_start=desired_start,
            notes=notes.strip(),
            trial=trial,
            requested_by=actor.label[:200],
        )
        quote_request.sites.set(site_list)
        audit_record(
            actor=actor,
            action="procurement.quote.requested",
            target=quote_request,
            organization=provider,
            counterparty=listing.vendor,
            new={
                "status": Q.REQUESTED,
                "plan": plan.name if plan else "custom",
                "target": region or ", ".join(site.name for site in site_list),
                "seats": seats,
            },
        )
        event_emit(
            type="quote.requested",
            subject=quote_request,
            organization=provider,
            counterparty=listing.vendor,
            data={
                "quote": str(quote_request.public_id),
                "listing": listing.slug,
                "offering": str(offering.public_id),
                "status": Q.REQUESTED,
            },
        )
        notify_members(
            listing.vendor,
            subject=f"Quote request for {listing.name}",
            body=f"{provider.name} asks for a quote for {listing.name} ({offering.name}).\n\n"
            f"Issue a quote or withdraw: {_link(quote_request)}",
        )
    return quote_request


def _line_items(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not raw:
        raise ValidationFailed.for_field("line_items", "Add at least one line item.")
    if len(raw) > MAX_LINE_ITEMS:
        raise ValidationFailed.for_field("line_items", f"At most {MAX_LINE_ITEMS} line items.")
    items = []
    for index, item in enumerate(raw):
        field = f"line_items.{index}"
        description = str(item.get("description") or "").strip()
        if not description:
            raise ValidationFailed.for_field(f"{field}.description", "Describe the line item.")
        try:
            quantity = Decimal(str(item.get("quantity"))).quantize(CENT)
            unit_price = Decimal(str(item.get("unit_price"))).quantize(CENT)
        except (InvalidOperation, ValueError):
            raise ValidationFailed.for_field(
                f"{field}.quantity", "Quantity and unit price are decimal numbers."
            ) from None
        if not quantity.is_finite() or quantity <= 0 or quantity >= Decimal("1e10"):
            raise ValidationFailed.for_field(f"{field}.quantity", "A positive quantity.")
        if not unit_price.is_finite() or unit_price < 0 or unit_price >= Decimal("1e10"):
            raise ValidationFailed.for_field(f"{field}.unit_price", "A unit price of zero or more.")
        amount = (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        items.append(
            {"description": description[:300], "quantity": quantity, "unit_price": unit_price, "amount": amount}
        )
    return items


def quote_issue(
    *,
    quote_request: QuoteRequest,
    actor: Principal,
    line_items: list[dict[str, Any]],
    currency: str,
    valid_until: date,
    terms: str = "",
    term_months: int = 12,
    auto_renew: bool = True,
) -> Quote:
    """The vendor (member+) issues a quote; issuing again makes a new version and keeps the old.
    The server computes every amount and the total."""
    require_party(quote_request, actor, "vendor", Role.MEMBER)
    currency = (currency or "").strip().upper()
    try:
        validate_currency(currency)
    except Exception:
        raise ValidationFailed.for_field(
            "currency", "Use an ISO 4217 currency code in capitals, such as EUR, USD or CHF."
        ) from None
    if valid_until < timezone.now().date():
        raise ValidationFailed.for_field("valid_until", "The validity date is in the past.")
    if not 1 <= term_months <= 120:
        raise ValidationFailed.for_field("term_months", "A term of 1 to 120 months.")
    items = _line_items(line_items)
    guard_patient_data(
        {"terms": terms, **{f"line_items.{i}.description": it["description"] for i, it in enumerate(items)}}
    )
    total = sum((item["amount"] for item in items), Decimal("0.00"))
    if total >= Decimal("1e12"):
        raise ValidationFailed.for_field("line_items", "The total is too large.")
    with transaction.atomic():
        quote_request = _lock(quote_request)
        transition_check(what="the quote", current=quote_request.status, target=Q.QUOTED, allowed=QUOTE_TRANSITIONS)
        version = (quote_request.quotes.order_by("-version").values_list("version", flat=True).first() or 0) + 1
        quote = Quote.objects.create(
            quote_request=quote_request,
            version=version,
            currency=currency,
            total=total,
            valid_until=valid_until,
            term_months=term_months,
            auto_renew=auto_renew,
            terms=terms.strip(),
            issued_by=actor.label[:200],
        )
        QuoteLineItem.objects.bulk_create(
            QuoteLineItem(quote=quote, position=index, **item) for index, item in enumerate(items)
        )
        _transition(quote_request, Q.QUOTED, actor=actor, event="issued", quoted_at=timezone.now())
        notify_members(
            quote_request.provider,
            subject=f"Quote {'v' + str(version) + ' ' if version > 1 else ''}for {quote_request.listing.name}",
            body=f"{quote_request.vendor.name} quotes {total} {currency}, valid until {valid_until:%Y-%m-%d}.\n\n"
            f"Accept or decline: {_link(quote_request)}",
        )
    return quote


def _close(
    quote_request: QuoteRequest,
    target: str,
    *,
    actor: Principal,
    side: str,
    role: Role,
    reason: str,
    reason_required: bool,
    subject: str,
) -> QuoteRequest:
    require_party(quote_request, actor, side, role)
    reason = (reason or "").strip()
    if reason_required and not reason:
        raise ValidationFailed.for_field("reason", "Say why, so the other party knows what to do next.")
    guard_patient_data({"reason": reason})
    with transaction.atomic():
        quote_request = _lock(quote_request)
        if quote_request.status != target:
            quote_request.reason = reason[:2000]
        if _transition(quote_request, target, actor=actor, reason=reason, closed_at=timezone.now()):
            other = quote_request.vendor if side == "provider" else quote_request.provider
            notify_members(
                other,
                subject=f"{subject}: {quote_request.listing.name}",
                body=f"{reason or 'No reason given.'}\n\n{_link(quote_request)}",
            )
    return quote_request


def quote_withdraw(*, quote_request: QuoteRequest, actor: Principal, reason: str) -> QuoteRequest:
    """The vendor (member+) will not quote, or takes its quote back; a reason is required."""
    return _close(
        quote_request,
        Q.WITHDRAWN,
        actor=actor,
        side="vendor",
        role=Role.MEMBER,
        reason=reason,
        reason_required=True,
        subject="Quote withdrawn",
    )


def quote_cancel(*, quote_request: QuoteRequest, actor: Principal, reason: str = "") -> QuoteRequest:
    """The provider (member+) no longer wants a quote."""
    return _close(
        quote_request,
        Q.CANCELLED,
        actor=actor,
        side="provider",
        role=Role.MEMBER,
        reason=reason,
        reason_required=False,
        subject="Quote request cancelled",
    )


def quote_decline(*, quote_request: QuoteRequest, actor: Principal, reason: str = "") -> QuoteRequest:
    """The provider (member+) refuses the quote it received."""
    # requested -> declined is not in the table: 409 under the row lock (cancel the request instead).
    return _close(
        quote_request,
        Q.DECLINED,
        actor=actor,
        side="provider",
        role=Role.MEMBER,
        reason=reason,
        reason_required=False,
        subject="Quote declined",
    )


def _expire(quote_request: QuoteRequest, *, now: datetime) -> bool:
    """Expire a locked, quoted request whose latest version is past its validity date."""
    latest = quote_request.quotes.order_by("-version").first()
    if quote_request.status != Q.QUOTED or latest is None or latest.valid_until >= now.date():
        return False
    _transition(
        quote_request, Q.EXPIRED, actor=SYSTEM, reason=f"Valid until {latest.valid_until:%Y-%m-%d}.", closed_at=now
    )
    for party in (quote_request.provider, quote_request.vendor):
        notify_members(
            party,
            subject=f"Quote for {quote_request.listing.name} expired",
            body=f"The quote was valid until {latest.valid_until:%Y-%m-%d}.\n\n{_link(quote_request)}",
        )
    return True


def quote_accept(
    *,
    quote_request: QuoteRequest,
    actor: Principal,
    accepted_terms: list[dict[str, Any]],
    purchase_order_number: str = "",
    version: int | None = None,
) -> Order:
    """A provider admin accepts the latest quote: one order, its subscription, entitlements,
    licenses and deployments (or the followed trial's deployment, converted). Validity is checked
    now. A second acceptance, concurrent or later, gets Conflict (409) naming the order.
    Raises ValidationFailed for missing terms or a stale `version`."""
    from apps.procurement.services.orders import order_create_from_quote

    require_party(quote_request, actor, "provider", Role.ADMIN)
    now = timezone.now()
    expired = False
    with transaction.atomic():
        quote_request = _lock(quote_request)
        if quote_request.status == Q.ACCEPTED:
            order = Order.objects.filter(quote_request=quote_request).first()
            raise Conflict(
                "This quote is already accepted.",
                code="already_accepted",
                extra={"order": str(order.public_id) if order else None},
            )
        transition_check(what="the quote", current=quote_request.status, target=Q.ACCEPTED, allowed=QUOTE_TRANSITIONS)
        latest = quote_request.quotes.order_by("-version").first()
        if latest is not None and version is not None and version != latest.version:
            raise Conflict(
                f"Version {version} was replaced by version {latest.version}; read it before accepting.",
                code="quote_superseded",
                extra={"current_version": latest.version},
            )
        expired = _expire(quote_request, now=now)
        if not expired:
            quote_request.reason = ""
            _transition(quote_request, Q.ACCEPTED, actor=actor, closed_at=now)
            try:
                with transaction.atomic():
                    order = order_create_from_quote(
                        quote_request=quote_request,
                        quote=latest,
                        actor=actor,
                        accepted_terms=accepted_terms,
                        purchase_order_number=purchase_order_number,
                        now=now,
                    )
            except IntegrityError:  # the one-order-per-quote constraint: another accept won
                raise Conflict("This quote is already accepted.", code="already_accepted") from None
    if expired:  # the expiry above is committed; the caller learns why acceptance failed
        raise Conflict("This quote has expired; ask the vendor for a new version.", code="quote_expired")
    return order


def quotes_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: expire quotes whose validity date has passed."""
    now = now or timezone.now()
    candidates = QuoteRequest.objects.filter(status=Q.QUOTED, quotes__valid_until__lt=now.date()).distinct()
    expired = 0
    for quote_request_id in list(candidates.values_list("pk", flat=True)):
        with transaction.atomic():
            if _expire(_lock(QuoteRequest(pk=quote_request_id)), now=now):
                expired += 1
    return {"expired": expired}
