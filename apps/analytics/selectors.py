"""A vendor's figures per listing and day: views, trial requests, conversions to subscriptions
(orders from a converted trial or an accepted quote that followed one, and direct purchases are
counted as new subscriptions), and active deployments at the end of each day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.analytics.models import ListingViewDay
from apps.catalog.models import Listing
from apps.procurement.models import Subscription, Trial
from apps.provisioning.models import Deployment

MAX_DAYS = 366


def _per_day(queryset: QuerySet, field: str) -> dict[tuple[int, date], int]:
    rows = (
        queryset.annotate(day=TruncDate(field))
        .values("listing_id", "day")
        .annotate(n=Count("id"))
        .values_list("listing_id", "day", "n")
    )
    return {(listing_id, day): n for listing_id, day, n in rows}


def listing_figures(*, listings: Iterable[Listing], start: date, end: date) -> list[dict[str, Any]]:
    """For every listing, a series of {date, views, trial_requests, subscriptions, conversions,
    active_deployments} from `start` to `end` inclusive, and the totals over the range."""
    listing_list = list(listings)
    ids = [listing.pk for listing in listing_list]
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    views = {
        (row.listing_id, row.day): row.views
        for row in ListingViewDay.objects.filter(listing_id__in=ids, day__gte=start, day__lte=end)
    }
    trials = _per_day(
        Trial.objects.filter(listing_id__in=ids, created_at__gte=since, created_at__lt=until), "created_at"
    )
    subscriptions = _per_day(
        Subscription.objects.filter(listing_id__in=ids, created_at__gte=since, created_at__lt=until), "created_at"
    )
    conversions = _per_day(
        Subscription.objects.filter(listing_id__in=ids, created_at__gte=since, created_at__lt=until).filter(
            Q(order__trial__isnull=False) | Q(order__quote_request__trial__isnull=False)
        ),
        "created_at",
    )
    # Deployment lifetimes overlapping the range; a day counts a deployment active at its end.
    lifetimes: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for listing_id, activated, removed in (
        Deployment.objects.filter(listing_id__in=ids, activated_at__isnull=False, activated_at__lt=until)
        .filter(Q(deprovisioned_at__isnull=True) | Q(deprovisioned_at__gte=since))
        .values_list("listing_id", "activated_at", "deprovisioned_at")
    ):
        lifetimes[listing_id].append((activated, removed))
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    result = []
    for listing in listing_list:
        series = []
        for day in days:
            day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
            active = sum(
                1
                for activated, removed in lifetimes[listing.pk]
                if activated < day_end and (removed is None or removed >= day_end)
            )
            key = (listing.pk, day)
            series.append(
                {
                    "date": day,
                    "views": views.get(key, 0),
                    "trial_requests": trials.get(key, 0),
                    "subscriptions": subscriptions.get(key, 0),
                    "conversions": conversions.get(key, 0),
                    "active_deployments": active,
                }
            )
        totals = {
            name: sum(point[name] for point in series)
            for name in ("views", "trial_requests", "subscriptions", "conversions")
        }
        totals["active_deployments"] = series[-1]["active_deployments"] if series else 0
        result.append({"listing": listing, "series": series, "totals": totals})
    return result
