"""The transactional outbox: dispatch Celery work only for committed changes, never lose it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def outbox_batching() -> Iterator[None]:
    """Inside this block, batched messages (`outbox_enqueue_batched`) are shared across the
    savepoints of the transaction too: a bulk job that calls one service per object (each with
    its own savepoint), such as approving many trials at once, sends a few tasks instead of one
    per object. Use it around the whole loop, inside its transaction."""
    connection = transaction.get_connection()
    connection.outbox_batching = getattr(connection, "outbox_batching", 0) + 1
    try:
        yield
    finally:
        connection.outbox_batching -= 1


def outbox_enqueue_batched(
    *, task_name: str, key: str, items: Sequence[Any], queue: str = "", limit: int = 50
) -> list[OutboxMessage]:
    """Like `outbox_enqueue`, for a task that takes a list (`kwargs[key]`): the items an atomic
    block enqueues share messages, up to `limit` each, so a change that writes many (an e-mail to
    every member, a deployment per site of an order) sends a few tasks instead of one per item.

    A message is one of the block's pending after-commit callbacks. By default items join only
    a message registered at exactly the current savepoint level; inside `outbox_batching()`
    they join any pending one of the transaction. Both are safe because the task skips ids whose
    rows do not exist: a rolled-back savepoint leaves its ids in a message created further out
    but removes their rows (ids are never reused), and one that created a message removes it
    (it is no longer pending, so nothing joins it later). Returns the messages that got items."""
    pending = list(items)
    touched: list[OutboxMessage] = []
    connection = transaction.get_connection()
    if connection.in_atomic_block and pending:
        level = tuple(connection.savepoint_ids)
        anywhere = getattr(connection, "outbox_batching", 0) > 0
        for entry in reversed(connection.run_on_commit):
            message = getattr(entry[1], "outbox_batch", None)
            if (
                message is not None
                and (anywhere or tuple(entry[0]) == level)
                and (message.task_name, message.queue) == (task_name, queue)
            ):
                room = limit - len(message.kwargs[key])
                if room > 0:
                    message.kwargs[key].extend(pending[:room])
                    pending = pending[room:]
                    OutboxMessage.objects.filter(pk=message.pk).update(kwargs=message.kwargs)
                    touched.append(message)
                break  # only the newest open message of this task: the older ones are full
    for start in range(0, len(pending), limit):
        message = OutboxMessage.objects.create(
            task_name=task_name, kwargs={key: pending[start : start + limit]}, queue=queue
        )
        transaction.on_commit(_batch_publisher(message))
        touched.append(message)
    return touched


def _batch_publisher(message: OutboxMessage) -> Callable[[], None]:
    def publish() -> None:
        publish.outbox_batch = None  # type: ignore[attr-defined]  # sent: later items need a message of their own
        _publish(message)

    publish.outbox_batch = message  # type: ignore[attr-defined]
    return publish


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
