"""Business limits on top of the API's request throttling: how many trial requests, quote
requests and invitations an organization makes per day, and how many failed site-agent
enrollments a site (or an address) gets per hour. Over a limit: 429 with Retry-After.

Daily limits count the rows themselves (exact across processes, nothing to reset); failure
counters live in the cache (Redis in production). A limit of 0 switches it off, which the
benchmarks use (documented in docs/performance.md and docs/configuration.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from marketplace.errors import ApplicationError

DAY = timedelta(days=1)


class LimitExceeded(ApplicationError):
    status_code = 429
    default_code = "limit_exceeded"

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(int(retry_after), 1)
        self.extra = {**self.extra, "retry_after_seconds": self.retry_after}


def limit_of(name: str) -> int:
    return int(settings.MARKETPLACE_LIMITS.get(name, 0))


def daily_limit_check(*, name: str, recent: QuerySet, what: str, field: str = "created_at") -> None:
    """Raise LimitExceeded when `recent` (the organization's rows of this kind) already holds the
    day's limit in the last 24 hours; Retry-After says when the oldest of them leaves the window."""
    limit = limit_of(name)
    if limit <= 0:
        return
    since = timezone.now() - DAY
    window = recent.filter(**{f"{field}__gte": since})
    if window.count() < limit:
        return
    oldest = window.order_by(field).values_list(field, flat=True).first()
    wait = int(((oldest + DAY) - timezone.now()).total_seconds()) if oldest else 3600
    raise LimitExceeded(
        f"Your organization has made {limit} {what} in the last 24 hours, the most allowed; try again later.",
        retry_after=wait,
    )


def failure_limit_check(*, name: str, keys: list[str], window_seconds: int = 3600) -> None:
    """Raise LimitExceeded when any of `keys` already had the limit's number of failures."""
    limit = limit_of(name)
    if limit <= 0:
        return
    for key in keys:
        if int(cache.get(f"limit:{name}:{key}", 0)) >= limit:
            raise LimitExceeded("Too many failed attempts; try again later.", retry_after=window_seconds)


def failure_record(*, name: str, keys: list[str], window_seconds: int = 3600) -> None:
    for key in keys:
        cache_key = f"limit:{name}:{key}"
        if not cache.add(cache_key, 1, timeout=window_seconds):
            try:
                cache.incr(cache_key)
            except ValueError:  # expired between add and incr
                cache.add(cache_key, 1, timeout=window_seconds)
