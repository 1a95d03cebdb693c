"""Buying helpers: listings to buy, payloads for quotes and orders, and quote requests, orders and
subscriptions brought into each state through the real services (never written to the tables)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from apps.procurement import services
from apps.procurement.models import Order, Quote, QuoteRequest, Subscription, Trial
from marketplace.principal import Role
from tests.catalog.factories import publish_listing
from tests.procurement.factories import REGION, CaptureOnCommit, offering_of, plan_of, principal_of, trial_listing

QUOTES = "/api/v1/quotes/"
ORDERS = "/api/v1/orders/"
SUBSCRIPTIONS = "/api/v1/subscriptions/"
ENTITLEMENTS = "/api/v1/entitlements/"
LICENSES = "/api/v1/licenses/"
TRIALS = "/api/v1/trials/"
# What every standard quote below costs: 2 x 1000.00 + 1 x 500.50.
LINE_ITEMS: list[dict[str, str]] = [
    {"description": "Site license", "quantity": "2", "unit_price": "1000.00"},
    {"description": "Onboarding", "quantity": "1", "unit_price": "500.50"},
]
QUOTE_TOTAL = Decimal("2500.50")


def url(base: str, obj: Any, verb: str = "") -> str:
    """`/api/v1/<resource>/<public id>/[<verb>/]`."""
    return f"{base}{getattr(obj, 'public_id', obj)}/{verb + '/' if verb else ''}"


def today() -> date:
    return timezone.now().date()


# --- listings -----------------------------------------------------------------------------------


def buy_listing(
    vendor: Organization,
    *,
    mode: str = Offering.Mode.CLOUD,
    pricing: str = Plan.PricingModel.SUBSCRIPTION,
    slug: str = "",
    patient_data: bool = False,
) -> Listing:
    """A published listing of `vendor` with one offering (`mode`) and one plan (`pricing`); the
    subscription plan is 1200.00 EUR a month with trial terms. The same slug answers the same
    listing."""
    if pricing == Plan.PricingModel.SUBSCRIPTION and not slug:
        listing = trial_listing(vendor, mode=mode)
    else:
        slug = slug or f"{vendor.slug}-{mode.replace('_', '-')}-{pricing.replace('_', '-')}"
        listing = Listing.objects.filter(slug=slug).first() or publish_listing(
            vendor=vendor, name=slug.replace("-", " ").title(), slug=slug, offerings=[(mode, pricing)]
        )
    if patient_data and not listing.processes_patient_data:
        Listing.objects.filter(pk=listing.pk).update(processes_patient_data=True)
        listing.refresh_from_db()
    return listing


def terms_for(listing: Listing, **versions: str) -> list[dict[str, str]]:
    """`accepted_terms` for everything the listing requires, in the current versions (override a
    kind's version with `eula="0.9"`; leave a kind out with `baa=None`)."""
    terms = []
    for term in services.terms_required(listing):
        version = versions.get(term["kind"], term["version"])
        if version is not None:
            terms.append({"kind": term["kind"], "version": version})
    return terms


# --- payloads -----------------------------------------------------------------------------------


def quote_payload(listing: Listing, /, *, sites: list[Site] | None = None, **extra: Any) -> dict[str, Any]:
    """The body of POST /api/v1/quotes/ for `listing`'s plan: a region for cloud, else `sites`."""
    offering = offering_of(listing)
    payload: dict[str, Any] = {
        "listing": listing.slug,
        "offering": str(offering.public_id),
        "plan": str(plan_of(listing).public_id),
    }
    if sites is not None:
        payload["sites"] = [str(site.public_id) for site in sites]
    elif offering.mode == Offering.Mode.CLOUD:
        payload["region"] = REGION
    payload.update(extra)
    return payload


def issue_payload(**overrides: Any) -> dict[str, Any]:
    """The body of POST /api/v1/quotes/{id}/issue/: the standard line items, valid for 30 days."""
    payload: dict[str, Any] = {
        "line_items": [dict(item) for item in LINE_ITEMS],
        "currency": "EUR",
        "valid_until": (today() + timedelta(days=30)).isoformat(),
        "term_months": 12,
        "terms": "Net 30.",
    }
    payload.update(overrides)
    return payload


def order_payload(listing: Listing, /, *, sites: list[Site] | None = None, **extra: Any) -> dict[str, Any]:
    """The body of POST /api/v1/orders/ buying `listing`'s plan with its current terms."""
    payload = quote_payload(listing, sites=sites)
    payload["accepted_terms"] = terms_for(listing)
    payload.update(extra)
    return payload


# --- quote requests -------------------------------------------------------------------------------


def request_quote(
    provider: Organization,
    listing: Listing,
    *,
    sites: list[Site] | None = None,
    trial: Trial | None = None,
    seats: int | None = 10,
) -> QuoteRequest:
    """A quote request by a member of `provider`, through the service."""
    offering = offering_of(listing)
    cloud = offering.mode == Offering.Mode.CLOUD
    return services.quote_request_create(
        provider=provider,
        actor=principal_of(provider),
        listing=listing,
        offering=offering,
        plan=plan_of(listing),
        region=REGION if cloud else "",
        sites=sites or [],
        seats=seats,
        trial=trial,
    )


def issue_quote(
    quote_request: QuoteRequest,
    *,
    valid_until: date | None = None,
    line_items: list[dict[str, str]] | None = None,
    term_months: int = 12,
) -> Quote:
    """A vendor member issues (another version of) the standard quote."""
    return services.quote_issue(
        quote_request=quote_request,
        actor=principal_of(quote_request.vendor),
        line_items=line_items or [dict(item) for item in LINE_ITEMS],
        currency="EUR",
        valid_until=valid_until or today() + timedelta(days=30),
        term_months=term_months,
    )


def accept_quote(quote_request: QuoteRequest) -> Order:
    """A provider admin accepts the current version with the current terms."""
    return services.quote_accept(
        quote_request=quote_request,
        actor=principal_of(quote_request.provider, Role.ADMIN),
        accepted_terms=terms_for(quote_request.listing),
    )


def quote_in_state(
    state: str,
    *,
    provider: Organization,
    vendor: Organization,
    listing: Listing | None = None,
    sites: list[Site] | None = None,
) -> QuoteRequest:
    """A quote request brought to `state` the way it happens in production. `expired` is a
    quote whose validity date passed (moved back, since issuing in the past is refused) and that
    the beat expired."""
    listing = listing or buy_listing(vendor)
    quote_request = request_quote(provider, listing, sites=sites)
    Q = QuoteRequest.Status
    if state == Q.REQUESTED:
        return fresh(quote_request)
    if state == Q.CANCELLED:
        services.quote_cancel(quote_request=quote_request, actor=principal_of(provider), reason="Not needed.")
        return fresh(quote_request)
    if state == Q.WITHDRAWN:
        services.quote_withdraw(quote_request=quote_request, actor=principal_of(vendor), reason="Sold out.")
        return fresh(quote_request)
    quote = issue_quote(quote_request)
    quote_request = fresh(quote_request)
    if state == Q.QUOTED:
        return fresh(quote_request)
    if state == Q.DECLINED:
        services.quote_decline(quote_request=quote_request, actor=principal_of(provider), reason="Too dear.")
    elif state == Q.EXPIRED:
        Quote.objects.filter(pk=quote.pk).update(valid_until=today() - timedelta(days=1))
        assert services.quotes_sweep() == {"expired": 1}
    else:
        assert state == Q.ACCEPTED, state
        accept_quote(quote_request)
    return fresh(quote_request)


def fresh(quote_request: QuoteRequest) -> QuoteRequest:
    return QuoteRequest.objects.select_related("provider", "vendor", "listing", "offering", "trial").get(
        pk=quote_request.pk
    )


# --- orders and subscriptions ---------------------------------------------------------------------


def place_order(
    provider: Organization,
    listing: Listing,
    *,
    capture: CaptureOnCommit | None = None,
    sites: list[Site] | None = None,
    purchase_order_number: str = "",
) -> Order:
    """A direct purchase by a provider admin, through the service. With `capture` (pytest-django's
    `django_capture_on_commit_callbacks`) the sandbox provisions at once, so a cloud
    subscription is active and its order fulfilled."""
    offering = offering_of(listing)

    def _place() -> Order:
        return services.order_place(
            provider=provider,
            actor=principal_of(provider, Role.ADMIN),
            listing=listing,
            offering=offering,
            plan=plan_of(listing),
            accepted_terms=terms_for(listing),
            region=REGION if offering.mode == Offering.Mode.CLOUD else "",
            sites=sites,
            purchase_order_number=purchase_order_number,
        )

    if capture is None:
        return _place()
    with capture(execute=True):
        order = _place()
    return Order.objects.get(pk=order.pk)


def subscription_in_state(
    state: str, *, provider: Organization, vendor: Organization, capture: CaptureOnCommit
) -> Subscription:
    """A cloud subscription in `state` (pending_fulfillment, active, suspended, cancelled) through
    the services."""
    S = Subscription.Status
    listing = buy_listing(vendor)
    if state == S.PENDING_FULFILLMENT:
        return Subscription.objects.get(order=place_order(provider, listing))
    order = place_order(provider, listing, capture=capture)
    subscription = Subscription.objects.get(order=order)
    assert subscription.status == S.ACTIVE, subscription.status
    with capture(execute=True):
        if state in (S.SUSPENDED, S.CANCELLED):
            services.subscription_suspend(
                subscription=subscription, actor=principal_of(vendor, Role.ADMIN), reason="Unpaid invoice."
            )
        if state == S.CANCELLED:
            services.subscription_cancel(
                subscription=subscription, actor=principal_of(provider, Role.ADMIN), reason="Budget cut."
            )
    subscription.refresh_from_db()
    assert subscription.status == state, subscription.status
    return subscription
