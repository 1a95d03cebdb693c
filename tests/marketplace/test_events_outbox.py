"""Events get their feed sequence after commit, in commit order; outbox rows reach the broker
after commit, survive a broker outage and are resent by the reconciler; e-mails go out once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from config.celery_app import app
from marketplace.events import event_emit, events_assign_sequence
from marketplace.models import Event, EventSequence, OutboxMessage, OutgoingEmail
from marketplace.notifications import email_deliver, email_queue
from marketplace.outbox import outbox_enqueue, outbox_reconcile
from tests.conftest import Party

pytestmark = pytest.mark.django_db


def emit(party: Party, type: str = "tests.happened") -> Event:
    return event_emit(type=type, subject=party.organization, organization=party.organization)


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing the e-mail task fails as it does when Redis is unreachable."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerDown("Error 111 connecting to redis:6379. Connection refused.")

    task = app.tasks["notifications.send_emails"]
    monkeypatch.setattr(type(task), "apply_async", refuse)


# --- event sequence --------------------------------------------------------------------------


def test_an_event_gets_its_sequence_only_after_commit(st_mary: Party, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = emit(st_mary)
        assert Event.objects.get(pk=event.pk).sequence is None  # not before commit
    assert Event.objects.get(pk=event.pk).sequence is not None


def test_events_of_later_transactions_get_higher_sequences(
    st_mary: Party, django_capture_on_commit_callbacks: Any
) -> None:
    sequences = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            first, second = emit(st_mary), emit(st_mary)
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.sequence < second.sequence  # within a transaction: in creation order
        sequences += [first.sequence, second.sequence]
    assert sequences == sorted(sequences) and len(set(sequences)) == 6
    assert EventSequence.objects.get(pk=1).last_value == sequences[-1]


def test_a_transaction_with_many_events_numbers_them_in_one_run_after_commit(
    st_mary: Party, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        events = [emit(st_mary) for _ in range(3)]
    sequencing = [c for c in callbacks if getattr(c, "__name__", "") == "_assign_sequences_quietly"]
    assert len(sequencing) == 1  # one lock of the shared counter, not one per event
    sequences = [Event.objects.get(pk=e.pk).sequence for e in events]
    assert None not in sequences and sequences == sorted(sequences)


def test_an_event_after_a_rolled_back_savepoint_is_still_numbered_after_commit(
    st_mary: Party, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():  # the first event's callback belongs to this savepoint
                emit(st_mary)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        kept = emit(st_mary)  # must register a callback of its own
    assert Event.objects.get(pk=kept.pk).sequence is not None
    assert Event.objects.count() == 1


def test_the_reconciler_numbers_events_left_without_a_sequence(
    st_mary: Party, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        numbered = emit(st_mary)
    # Committed, but the after-commit assignment never ran (the process died, say).
    with django_capture_on_commit_callbacks(execute=False):
        left = [emit(st_mary), emit(st_mary)]
    assert all(Event.objects.get(pk=e.pk).sequence is None for e in left)

    assert events_assign_sequence() == 2
    numbered.refresh_from_db()
    sequences = [Event.objects.get(pk=e.pk).sequence for e in left]
    assert numbered.sequence < sequences[0] < sequences[1]
    assert events_assign_sequence() == 0  # nothing is numbered twice


def test_the_beat_task_assigns_sequences(st_mary: Party, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        event = emit(st_mary)
    app.tasks["marketplace.events_assign_sequence"].apply()
    assert Event.objects.get(pk=event.pk).sequence == 1


def test_a_failing_assignment_after_commit_does_not_fail_the_request(
    st_mary: Party, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marketplace import events

    def locked(**kwargs: Any) -> int:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(events, "events_assign_sequence", locked)
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("member").post("/api/v1/organizations/", {"name": "Harbour Imaging", "kind": "vendor"})
    assert response.status_code == 201
    assert Event.objects.get(type="organization.created").sequence is None  # beat numbers it later


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent transactions (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_sequences_follow_commit_order_not_creation_order(st_mary: Party) -> None:
    """A is created first but commits last: a feed poller that has seen B must still get A."""
    created_a, b_committed = threading.Event(), threading.Event()
    result: dict[str, int] = {}

    def slow_transaction() -> None:
        try:
            with transaction.atomic():
                result["a"] = emit(st_mary, "tests.slow").pk
                created_a.set()
                b_committed.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_transaction)
    thread.start()
    assert created_a.wait(10)
    with transaction.atomic():
        b = emit(st_mary, "tests.fast")
    b_committed.set()
    thread.join(10)

    a = Event.objects.get(pk=result["a"])
    b.refresh_from_db()
    assert a.pk < b.pk and b.sequence < a.sequence


# --- outbox ---------------------------------------------------------------------------------


def test_an_outbox_row_is_dispatched_on_commit(st_mary: Party, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        email = email_queue(to="carol@example.org", subject="Welcome", body="Hello Carol")
        message = OutboxMessage.objects.get()
        assert message.dispatched_at is None and mail.outbox == []
    assert callbacks
    message.refresh_from_db()
    assert message.dispatched_at is not None and message.attempts == 1
    assert (message.task_name, message.kwargs, message.queue) == (
        "notifications.send_emails",
        {"email_ids": [email.pk]},
        "notifications",
    )
    assert [m.to for m in mail.outbox] == [["carol@example.org"]]


def test_nothing_is_dispatched_when_the_transaction_rolls_back(
    st_mary: Party, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        email_queue(to="carol@example.org", subject="Welcome", body="Hello Carol")
        raise RuntimeError("the change failed")
    assert callbacks == [] and mail.outbox == []
    assert not OutboxMessage.objects.exists()


def test_a_broker_outage_at_commit_leaves_the_row_pending_and_the_request_succeeds(
    st_mary: Party, broker_down: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(
            f"/api/v1/organizations/{st_mary.organization.slug}/invitations/", {"email": "carol@example.org"}
        )
    assert response.status_code == 201, response.content
    message = OutboxMessage.objects.get()
    assert message.dispatched_at is None and message.attempts == 1
    assert "Connection refused" in message.last_error
    assert mail.outbox == [] and OutgoingEmail.objects.get().sent_at is None


def test_the_reconciler_resends_pending_rows_after_the_grace_period(
    st_mary: Party, settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    task = app.tasks["notifications.send_emails"]
    with monkeypatch.context() as outage:
        outage.setattr(type(task), "apply_async", lambda *a, **k: (_ for _ in ()).throw(BrokerDown("down")))
        with django_capture_on_commit_callbacks(execute=True):
            email_queue(to="carol@example.org", subject="Welcome", body="Hello Carol")
    message = OutboxMessage.objects.get()
    assert message.dispatched_at is None

    # The broker is back. A young row is left alone: its on-commit send may still be on the way.
    assert outbox_reconcile() == 0
    assert mail.outbox == []

    grace = settings.MARKETPLACE_OUTBOX_RESEND_AFTER_SECONDS
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(seconds=grace + 1))
    assert outbox_reconcile() == 1
    message.refresh_from_db()
    assert message.dispatched_at is not None and message.attempts == 2
    assert len(mail.outbox) == 1

    assert outbox_reconcile() == 0  # dispatched rows are not sent again
    assert len(mail.outbox) == 1


def test_the_reconciler_keeps_trying_while_the_broker_is_down(
    st_mary: Party, broker_down: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        outbox_enqueue(task_name="notifications.send_emails", kwargs={"email_ids": [0]}, queue="notifications")
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(hours=1))
    assert outbox_reconcile() == 0
    assert outbox_reconcile() == 0
    message = OutboxMessage.objects.get()
    assert message.dispatched_at is None and message.attempts == 3


def test_the_beat_task_runs_the_reconciler(st_mary: Party, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        email_queue(to="carol@example.org", subject="Welcome", body="Hello Carol")
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(hours=1))
    app.tasks["marketplace.outbox_reconcile"].apply()
    assert len(mail.outbox) == 1


# --- e-mail delivery --------------------------------------------------------------------------


def test_email_deliver_sends_once(st_mary: Party, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        email = email_queue(to="carol@example.org", subject="Welcome", body="Hello Carol")

    assert email_deliver(email_id=email.pk) is True
    assert email_deliver(email_id=email.pk) is False  # a redelivered task finds it sent
    assert len(mail.outbox) == 1
    assert (mail.outbox[0].subject, mail.outbox[0].body) == ("Welcome", "Hello Carol")
    email.refresh_from_db()
    assert email.sent_at is not None


def test_email_deliver_ignores_an_unknown_email(db: None) -> None:
    assert email_deliver(email_id=987654) is False
    assert mail.outbox == []
