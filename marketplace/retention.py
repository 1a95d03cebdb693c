"""Retention: rows that only record work already done are removed after a while.

The outbox keeps every task it published and the e-mail queue every message it sent (with the
recipient's address and the text): after MARKETPLACE_RETENTION_OUTBOX_DAYS and
MARKETPLACE_RETENTION_EMAIL_DAYS they go. Apps purge their own logs the same way (webhook
deliveries: apps/webhooks). Events (the integrators' feed) and the audit log are kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from marketplace.models import OutboxMessage, OutgoingEmail

PURGE_BATCH_SIZE = 5000  # rows per DELETE: short transactions, no long lock on a busy table


def retention_cutoff(days: int) -> datetime | None:
    """The moment before which rows kept for `days` go; None when `days` is 0 (keep forever)."""
    return timezone.now() - timedelta(days=days) if days > 0 else None


def purge_in_batches(queryset: QuerySet, *, batch_size: int = PURGE_BATCH_SIZE) -> int:
    """Delete what `queryset` selects, `batch_size` rows per statement; returns the rows deleted
    (of the queryset's model, not counting cascades)."""
    deleted = 0
    model = queryset.model
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        _, per_model = model.objects.filter(pk__in=ids).delete()
        deleted += per_model.get(model._meta.label, 0)
        if len(ids) < batch_size:
            return deleted


def sent_messages_purge() -> dict[str, int]:
    """Beat, daily: outbox rows published and e-mails sent longer ago than their retention.
    Rows not yet published or sent are never removed (the reconcilers still need them)."""
    counts = {"outbox": 0, "emails": 0}
    outbox_before = retention_cutoff(settings.MARKETPLACE_RETENTION_OUTBOX_DAYS)
    if outbox_before is not None:
        counts["outbox"] = purge_in_batches(OutboxMessage.objects.filter(dispatched_at__lt=outbox_before))
    emails_before = retention_cutoff(settings.MARKETPLACE_RETENTION_EMAIL_DAYS)
    if emails_before is not None:
        counts["emails"] = purge_in_batches(OutgoingEmail.objects.filter(sent_at__lt=emails_before))
    return counts
