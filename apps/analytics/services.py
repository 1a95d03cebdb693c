"""Recording listing views: one counter per listing and day, incremented in the database (no
lost update under concurrent views), nothing about who looked."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.analytics.models import ListingViewDay
from apps.catalog.models import Listing
from marketplace.principal import Principal


def listing_view_record(*, listing: Listing, viewer: Principal) -> None:
    """Count a view of a published listing, unless the vendor or an operator looks at it."""
    if listing.status != Listing.Status.PUBLISHED or viewer.is_operator:
        return
    if viewer.organization is not None and viewer.organization.pk == listing.vendor_id:
        return
    today = timezone.now().date()
    updated = ListingViewDay.objects.filter(listing=listing, day=today).update(views=F("views") + 1)
    if updated:
        return
    try:
        with transaction.atomic():
            ListingViewDay.objects.create(listing=listing, day=today, views=1)
    except IntegrityError:  # another request made today's row first
        ListingViewDay.objects.filter(listing=listing, day=today).update(views=F("views") + 1)
