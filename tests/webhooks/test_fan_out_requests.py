"""Fan-out requests: a burst of commits with events queues one `webhooks.fan_out` task, not one
each; a task that was lost, or could not be queued, does not stop the next one; one task catches
up with every waiting event, batch after batch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from apps.webhooks import services
from apps.webhooks.models import WebhookFanoutCursor, WebhookFanoutRequest
from apps.webhooks.services import webhooks_fan_out, webhooks_fan_out_started, webhooks_request_fan_out
from apps.webhooks.tasks import fan_out
from config.celery_app import app
from marketplace.events import events_assign_sequence
from marketplace.models import Event
from tests.conftest import Party
from tests.webhooks.conftest import Registered, emit, register
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The fan-out tasks queued, held back (as a busy worker would) instead of run."""
    calls: list[dict[str, Any]] = []
    task_class = type(app.tasks["webhooks.fan_out"])
    monkeypatch.setattr(task_class, "apply_async", lambda self, *args, **kwargs: calls.append(kwargs))
    return calls


def test_events_sequenced_while_a_fan_out_is_queued_queue_no_other(
    st_mary: Party, queued: list[dict[str, Any]]
) -> None:
    for _ in range(5):
        emit(st_mary.organization)  # each sequenced on its own, as five commits would be
    assert queued == [{"queue": "webhooks"}]
    assert WebhookFanoutRequest.objects.get(pk=1).queued_at is not None


def test_a_started_fan_out_lets_the_next_events_queue_another(st_mary: Party, queued: list[dict[str, Any]]) -> None:
    assert webhooks_request_fan_out() is True
    assert webhooks_request_fan_out() is False
    webhooks_fan_out_started()  # the worker takes the task: what is sequenced now, it may not see
    assert webhooks_request_fan_out() is True
    assert len(queued) == 2


def test_a_request_that_was_never_taken_is_replaced_after_a_while(
    st_mary: Party, queued: list[dict[str, Any]]
) -> None:
    assert webhooks_request_fan_out() is True
    stale = timezone.now() - timedelta(seconds=services.FANOUT_REQUEST_STALE_SECONDS + 1)
    WebhookFanoutRequest.objects.filter(pk=1).update(queued_at=stale)  # its message was lost
    assert webhooks_request_fan_out() is True
    assert len(queued) == 2


def test_a_broker_outage_leaves_no_request_behind(st_mary: Party, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise BrokerDown("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(type(app.tasks["webhooks.fan_out"]), "apply_async", refuse)
    assert webhooks_request_fan_out() is False  # and no exception: the commit already happened
    assert WebhookFanoutRequest.objects.get(pk=1).queued_at is None  # the next commit tries again


def test_the_one_queued_task_delivers_every_event_sequenced_before_it_ran(
    st_mary: Party, receiver: Receiver, queued: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    hook = register(st_mary, receiver.url)
    events = [emit(st_mary.organization, "trial.requested") for _ in range(4)]
    assert len(queued) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert fan_out.apply().result == 4  # the worker runs the queued task
    assert {d.event_id for d in hook.deliveries()} == {e.pk for e in events}
    assert WebhookFanoutRequest.objects.get(pk=1).queued_at is None
    assert len(receiver.requests()) == 4


@pytest.fixture
def five_waiting(st_mary: Party, receiver: Receiver, queued: list[dict[str, Any]]) -> Registered:
    """An endpoint of St. Mary's and five sequenced events of St. Mary's no fan-out has seen yet
    (the task their sequencing queued is held back)."""
    hook = register(st_mary, receiver.url)
    for _ in range(5):
        emit(st_mary.organization, sequence=False)
    events_assign_sequence()
    return hook


def test_one_fan_out_catches_up_batch_after_batch(five_waiting: Registered) -> None:
    hook = five_waiting
    assert webhooks_fan_out(batch_size=2) == 5
    assert len(hook.deliveries()) == 5
    assert WebhookFanoutCursor.objects.get(pk=1).last_sequence == Event.objects.order_by("-sequence")[0].sequence


def test_the_batches_a_task_takes_are_bounded(five_waiting: Registered) -> None:
    hook = five_waiting
    assert webhooks_fan_out(batch_size=2, max_batches=2) == 4  # the fifth waits for the next run
    assert webhooks_fan_out(batch_size=2, max_batches=2) == 1
    assert len(hook.deliveries()) == 5
