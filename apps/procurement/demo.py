"""Demo quote requests so the quote inbox is not empty after `make run`: St. Mary's asks a demo
vendor for two quotes; the vendor has answered one. Safe to run again (skips when St. Mary's
already has quote requests)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Membership, Organization
from apps.organizations.principals import member_principal
from apps.procurement.models import QuoteRequest
from apps.procurement.services import quote_issue, quote_request_create
from marketplace.principal import Principal, Role

PROVIDER = "st-marys"


def _actor(organization: Organization, role: Role) -> Principal:
    """A demo person of `organization` with `role` (audit entries name a real demo login)."""
    membership = (
        Membership.objects.select_related("user", "organization")
        .filter(organization=organization, role=role.value)
        .order_by("id")
        .first()
    )
    if membership is None:
        raise RuntimeError(f"The demo organization {organization.slug} has no {role.value}.")
    return member_principal(membership)


def seed_procurement_demo() -> int:
    """Returns how many quote requests it created."""
    provider = Organization.objects.filter(slug=PROVIDER).first()
    if provider is None or QuoteRequest.objects.filter(provider=provider).exists():
        return 0
    plans = (
        Plan.objects.filter(
            pricing_model=Plan.PricingModel.QUOTE_ONLY,
            is_active=True,
            offering__is_active=True,
            offering__listing__status=Listing.Status.PUBLISHED,
        )
        .exclude(offering__listing__vendor=provider)
        .select_related("offering__listing__vendor")
        .order_by("offering__listing__name")[:2]
    )
    created = 0
    with transaction.atomic():
        for index, plan in enumerate(plans):
            offering, listing = plan.offering, plan.offering.listing
            quote_request = quote_request_create(
                provider=provider,
                actor=_actor(provider, Role.MEMBER),
                listing=listing,
                offering=offering,
                plan=plan,
                region=offering.regions[0] if offering.mode == Offering.Mode.CLOUD else "",
                sites=[] if offering.mode == Offering.Mode.CLOUD else list(provider.sites.filter(archived_at=None)[:1]),
                seats=40,
                studies_per_month=3000,
                notes="Two campuses; go-live after the summer.",
            )
            created += 1
            if index == 0:
                quote_issue(
                    quote_request=quote_request,
                    actor=_actor(listing.vendor, Role.MEMBER),
                    line_items=[
                        {"description": "Enterprise license, 40 seats", "quantity": "1", "unit_price": "48000.00"},
                        {"description": "Onboarding and PACS integration", "quantity": "1", "unit_price": "6500.00"},
                    ],
                    currency="EUR",
                    valid_until=timezone.now().date() + timedelta(days=30),
                    terms="Annual term, invoiced yearly in advance; net 30.",
                )
    return created
