"""The transactional outbox: dispatch Celery work only for committed changes, never lose it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace.models import OutboxMessage

logger = logging.getLogger(__name__)


def outbox_enqueue(*, task_name: str, kwargs: dict[str, Any], queue: str = "") -> OutboxMessage:
    """Write the message in the current transaction and send it to the broker after commit.

    If the broker is down at commit time the request still succeeds: the row stays pending and
    `outbox_reconcile` sends it later."""
    message = OutboxMessage.objects.create(task_name=task_name, kwargs=kwargs, queue=queue)
    # Right after the commit only this process knows the row (the reconciler waits a grace
    # period), so it is published as it was written, without reading it back.
    transaction.on_commit(lambda: _publish(message))
    return message


def outbox_enqueue_batched(*, task_name: str, key: str, item: Any, queue: str = "", limit: int = 50) -> OutboxMessage:
    """Like `outbox_enqueue`, for a task that takes a list (`kwargs[key]`): items enqueued in the
    same atomic block share a message, up to `limit` each, so a change that writes many (an
    e-mail to every member of an organization) sends one task instead of one per item.

    The message is one of the block's pending after-commit callbacks, registered at exactly the
    current savepoint level: a rolled-back savepoint removes it together with every row and item
    it holds, and nothing is appended from a deeper savepoint that could roll back alone. The task
    skips ids whose rows do not exist (a message sent before a row it names was rolled back)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        level = tuple(connection.savepoint_ids)
        for entry in reversed(connection.run_on_commit):
            message = getattr(entry[1], "outbox_batch", None)
            if (
                message is not None
                and tuple(entry[0]) == level
                and (message.task_name, message.queue) == (task_name, queue)
                and len(message.kwargs[key]) < limit
            ):
                message.kwargs[key].append(item)
                OutboxMessage.objects.filter(pk=message.pk).update(kwargs=message.kwargs)
                return message
    message = OutboxMessage.objects.create(task_name=task_name, kwargs={key: [item]}, queue=queue)

    def publish() -> None:
        publish.outbox_batch = None  # type: ignore[attr-defined]  # sent: later items need a message of their own
        _publish(message)

    publish.outbox_batch = message  # type: ignore[attr-defined]
    transaction.on_commit(publish)
    return message


def outbox_send(*, message_id: int) -> bool:
    """Publish one pending message; True when the broker accepted it."""
    message = OutboxMessage.objects.filter(pk=message_id, dispatched_at__isnull=True).first()
    if message is None:
        return True
    return _publish(message)


def _publish(message: OutboxMessage) -> bool:
    from config.celery_app import app

    options: dict[str, Any] = {}
    if message.queue:
        options["queue"] = message.queue
    try:
        task = app.tasks.get(message.task_name)
        if task is not None:  # honours task_always_eager in tests
            task.apply_async(kwargs=message.kwargs, **options)
        else:
            app.send_task(message.task_name, kwargs=message.kwargs, **options)
    except Exception as exc:  # broker down: keep the row, the reconciler retries
        logger.warning("outbox: could not publish %s (%s); will retry", message.task_name, exc)
        OutboxMessage.objects.filter(pk=message.pk).update(
            attempts=message.attempts + 1, last_error=str(exc)[:2000]
        )
        return False
    OutboxMessage.objects.filter(pk=message.pk).update(dispatched_at=timezone.now(), attempts=message.attempts + 1)
    return True


def outbox_reconcile(*, limit: int = 500) -> int:
    """Send again every message older than the grace period that never reached the broker."""
    cutoff = timezone.now() - timedelta(seconds=settings.MARKETPLACE_OUTBOX_RESEND_AFTER_SECONDS)
    pending = OutboxMessage.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff).values_list(
        "pk", flat=True
    )[:limit]
    return sum(1 for message_id in list(pending) if outbox_send(message_id=message_id))
