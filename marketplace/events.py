"""Events: immutable facts with a commit-ordered sequence for the feed and webhooks."""

from __future__ import annotations

import logging
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal

from marketplace.bulk import bulk_insert_rows, bulk_update_rows
from marketplace.models import Event, EventSequence

logger = logging.getLogger(__name__)

# Called with each sequenced event id after its sequence is assigned (webhooks subscribe).
_event_listeners: list[Any] = []


def event_emit(
    *,
    type: str,
    subject: models.Model,
    organization: Any = None,
    counterparty: Any = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Record an event inside the current transaction; its sequence is assigned after commit.

    `organization` and `counterparty` are the organizations that may see it (for two-party
    objects, provider and vendor)."""
    event = event_build(type=type, subject=subject, organization=organization, counterparty=counterparty, data=data)
    event.save(force_insert=True)
    _sequence_after_commit()
    return event


def events_emit_many(events: list[Event]) -> None:
    """Record events built with `event_build` in one statement (numbered after commit, as one)."""
    if events:
        bulk_insert_rows(events)
        _sequence_after_commit()


def event_build(
    *,
    type: str,
    subject: models.Model,
    organization: Any = None,
    counterparty: Any = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """The unsaved event `event_emit` records."""
    return Event(
        type=type,
        organization=organization,
        counterparty=counterparty,
        subject_type=subject._meta.label_lower,
        subject_id=str(getattr(subject, "public_id", None) or getattr(subject, "slug", None) or subject.pk),
        data=data or {},
    )


def _sequence_after_commit() -> None:
    """Number the transaction's events after it commits: once per transaction, not per event
    (each run locks the one counter row every writer shares)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        active = set(connection.savepoint_ids)
        for entry in connection.run_on_commit:
            # (savepoint ids, callback, robust): a callback registered where this event's
            # savepoints are, or further out, is rolled back only together with this event.
            if entry[1] is _assign_sequences_quietly and set(entry[0]) <= active:
                return
    transaction.on_commit(_assign_sequences_quietly)


def _assign_sequences_quietly() -> None:
    try:
        events_assign_sequence()
    except Exception:  # the beat reconciler assigns it later; never fail the request after commit
        logger.exception("could not assign event sequences after commit; beat will retry")


# Sent after events received their sequence (kwargs: count), e.g. for webhooks to fan out.
events_sequenced = Signal()


def events_assign_sequence(*, batch_size: int = 500) -> int:
    """Give committed events without a sequence the next numbers, in id order.

    The counter row stays locked until this transaction commits, so numbers become visible in
    increasing order: a reader that sees N has already been able to see every number below N."""
    assigned = 0
    with transaction.atomic():
        counter, _ = EventSequence.objects.select_for_update().get_or_create(pk=1)
        pending = list(
            Event.objects.filter(sequence__isnull=True).order_by("id").values_list("id", flat=True)[:batch_size]
        )
        if pending:
            # One statement for the batch: the counter's lock keeps every other
            # assigner out until this commits, so the rows read above are still unnumbered.
            numbered = [Event(pk=event_id, sequence=counter.last_value + n) for n, event_id in enumerate(pending, 1)]
            bulk_update_rows(numbered, ["sequence"])
            counter.last_value += len(pending)
            counter.save(update_fields=["last_value"])
            assigned = len(pending)
    if assigned:
        events_sequenced.send(sender=Event, count=assigned)
    return assigned
