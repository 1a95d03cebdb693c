"""Demo listing views for `manage.py seed_demo`, so "How my apps do" has something to draw after
`make run`: a count per day over the last 90 days for every published listing of the demo
vendors, busier on weekdays and slowly growing. Only counts, as in production.

Safe to run again: days that already have a count are left alone."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from apps.analytics.models import ListingViewDay
from apps.catalog.demo import DEMO_VENDORS
from apps.catalog.models import Listing

DAYS = 90


def seed_analytics_demo(*, days: int = DAYS) -> int:
    """Returns how many daily counts it created."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    listings = Listing.objects.filter(vendor__slug__in=DEMO_VENDORS, status=Listing.Status.PUBLISHED).order_by("id")
    existing = set(ListingViewDay.objects.filter(listing__in=listings, day__gte=first).values_list("listing_id", "day"))
    rows = []
    for listing in listings:
        rng = random.Random(f"views-{listing.slug}")  # noqa: S311 - demo content, not security
        base = rng.uniform(3, 30)
        for offset in range(days):
            day = first + timedelta(days=offset)
            if (listing.pk, day) in existing:
                continue
            weekday = 1.0 if day.weekday() < 5 else 0.35
            growth = 0.6 + 0.8 * offset / days
            views = round(base * weekday * growth * rng.uniform(0.6, 1.4))
            if views:
                rows.append(ListingViewDay(listing=listing, day=day, views=views))
    ListingViewDay.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
