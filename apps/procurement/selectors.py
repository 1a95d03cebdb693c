from django.db.models import Prefetch, QuerySet

from apps.procurement.models import Entitlement, License, Order, Quote, QuoteRequest, Subscription, Trial
from marketplace.principal import Principal
from marketplace.tenancy import scope_queryset


def trials_visible_to(*, principal: Principal) -> QuerySet[Trial]:
    """Trials the caller's organization is a party to (provider or vendor); operators all."""
    return scope_queryset(
        Trial.objects.select_related(
            "provider", "vendor", "listing", "offering", "plan", "site", "deployment", "order"
        ).prefetch_related("licenses"),
        principal,
    )


def quote_requests_visible_to(*, principal: Principal) -> QuerySet[QuoteRequest]:
    return scope_queryset(
        QuoteRequest.objects.select_related(
            "provider", "vendor", "listing", "offering", "plan", "trial", "order"
        ).prefetch_related("sites", Prefetch("quotes", queryset=Quote.objects.prefetch_related("line_items"))),
        principal,
    )


def orders_visible_to(*, principal: Principal) -> QuerySet[Order]:
    return scope_queryset(
        Order.objects.select_related(
            "provider", "vendor", "listing", "offering", "plan", "quote_request", "quote", "trial", "subscription"
        ),
        principal,
    )


def subscriptions_visible_to(*, principal: Principal) -> QuerySet[Subscription]:
    return scope_queryset(
        Subscription.objects.select_related(
            "provider", "vendor", "listing", "offering", "plan", "order"
        ).prefetch_related(
            Prefetch(
                "entitlements",
                queryset=Entitlement.objects.select_related("site", "deployment", "plan", "offering").prefetch_related(
                    "licenses"
                ),
            )
        ),
        principal,
    )


def entitlements_visible_to(*, principal: Principal) -> QuerySet[Entitlement]:
    return scope_queryset(
        Entitlement.objects.select_related(
            "provider", "vendor", "listing", "offering", "plan", "site", "deployment", "subscription"
        ).prefetch_related("licenses"),
        principal,
    )


def licenses_visible_to(*, principal: Principal) -> QuerySet[License]:
    return scope_queryset(
        License.objects.select_related("provider", "vendor", "listing", "entitlement", "trial"), principal
    )


def organization_has_used_listing(*, organization_id: int, listing_id: int) -> bool:
    """Whether an organization ran a trial of the listing or subscribed to it (who may review)."""
    return (
        Trial.objects.filter(provider_id=organization_id, listing_id=listing_id, started_at__isnull=False).exists()
        or Subscription.objects.filter(provider_id=organization_id, listing_id=listing_id).exists()
    )
