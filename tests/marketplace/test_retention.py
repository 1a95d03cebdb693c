"""Retention: beat removes the records of finished work after their retention (published outbox
rows, sent e-mails, finished webhook deliveries with their attempts) and never what is still
needed (unpublished rows, unsent e-mails, deliveries still retrying), events or the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from apps.webhooks.models import WebhookAttempt, WebhookDelivery
from apps.webhooks.tasks import deliveries_purge
from marketplace.models import AuditEntry, Event, OutboxMessage, OutgoingEmail
from marketplace.retention import purge_in_batches
from marketplace.tasks import sent_messages_purge
from tests.conftest import Party
from tests.webhooks.conftest import emit, register

pytestmark = pytest.mark.django_db


def days_ago(days: float) -> Any:
    return timezone.now() - timedelta(days=days)


def outbox(*, dispatched_days_ago: float | None) -> OutboxMessage:
    message = OutboxMessage.objects.create(task_name="tests.noop", kwargs={})
    dispatched = days_ago(dispatched_days_ago) if dispatched_days_ago is not None else None
    OutboxMessage.objects.filter(pk=message.pk).update(dispatched_at=dispatched, created_at=days_ago(60))
    return message


def email(*, sent_days_ago: float | None) -> OutgoingEmail:
    sent = days_ago(sent_days_ago) if sent_days_ago is not None else None
    return OutgoingEmail.objects.create(to="it@st-marys.example", subject="Ready", body="…", sent_at=sent)


def test_published_rows_and_sent_emails_go_after_their_retention(settings: Any) -> None:
    settings.MARKETPLACE_RETENTION_OUTBOX_DAYS = 7
    settings.MARKETPLACE_RETENTION_EMAIL_DAYS = 30
    old_published, recent_published = outbox(dispatched_days_ago=8), outbox(dispatched_days_ago=6)
    never_published = outbox(dispatched_days_ago=None)  # the reconciler still has to send it
    old_sent, recent_sent = email(sent_days_ago=31), email(sent_days_ago=29)
    never_sent = email(sent_days_ago=None)

    assert sent_messages_purge.apply().result == {"outbox": 1, "emails": 1}
    assert sent_messages_purge.apply().result == {"outbox": 0, "emails": 0}  # again: nothing left

    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent_published.pk, never_published.pk}
    assert set(OutgoingEmail.objects.values_list("pk", flat=True)) == {recent_sent.pk, never_sent.pk}
    assert not OutboxMessage.objects.filter(pk=old_published.pk).exists()
    assert not OutgoingEmail.objects.filter(pk=old_sent.pk).exists()


def test_zero_days_keeps_everything(settings: Any) -> None:
    settings.MARKETPLACE_RETENTION_OUTBOX_DAYS = 0
    settings.MARKETPLACE_RETENTION_EMAIL_DAYS = 0
    settings.MARKETPLACE_RETENTION_WEBHOOK_DELIVERY_DAYS = 0
    outbox(dispatched_days_ago=400)
    email(sent_days_ago=400)
    assert sent_messages_purge.apply().result == {"outbox": 0, "emails": 0}
    assert deliveries_purge.apply().result == 0
    assert OutboxMessage.objects.count() == 1 and OutgoingEmail.objects.count() == 1


def test_finished_deliveries_go_with_their_attempts_and_retrying_ones_stay(
    st_mary: Party, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MARKETPLACE_RETENTION_WEBHOOK_DELIVERY_DAYS = 30
    hook = register(st_mary, "http://127.0.0.1:9/hooks")
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(4):
            emit(st_mary.organization)
    old_ok, old_failed, old_pending, recent_ok = hook.deliveries()
    for delivery, status in ((old_ok, "succeeded"), (old_failed, "failed"), (recent_ok, "succeeded")):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=status)
        WebhookAttempt.objects.create(delivery=delivery, status_code=200, duration_ms=5)
    WebhookDelivery.objects.filter(pk__in=[old_ok.pk, old_failed.pk, old_pending.pk]).update(created_at=days_ago(31))
    events, audit = Event.objects.count(), AuditEntry.objects.count()

    assert deliveries_purge.apply().result == 2

    assert {d.pk for d in hook.deliveries()} == {old_pending.pk, recent_ok.pk}
    assert set(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == {recent_ok.pk}
    assert Event.objects.count() == events and AuditEntry.objects.count() == audit  # kept, always


def test_purging_goes_in_batches() -> None:
    for _ in range(5):
        outbox(dispatched_days_ago=10)
    assert purge_in_batches(OutboxMessage.objects.all(), batch_size=2) == 5
    assert not OutboxMessage.objects.exists()


def test_beat_runs_both_daily() -> None:
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["marketplace.sent_messages_purge"] == schedule["webhooks.deliveries_purge"] == 86400.0
