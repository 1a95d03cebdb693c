"""Webhook deliveries through real `celery worker` processes consuming the `webhooks` queue, on
Redis and PostgreSQL, to a local receiver: a worker killed in the middle of a delivery loses
nothing (another worker and the sweep finish it), a receiver that is down gets everything once it
is back, and a slow endpoint does not hold up another one's delivery on a worker with two
processes. Runs only with the services (CI's services stage).

The tests use the Redis database of the configured broker for themselves (emptied when each
starts); the workers are pointed at the test database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import LEASE_SECONDS
from apps.webhooks.tasks import sweep
from marketplace.events import event_emit
from marketplace.models import Event
from tests.conftest import Party
from tests.webhooks.conftest import Registered, register
from tests.webhooks.receiver import Receiver
from tests.workers import Worker, celery_conf, reset_broker_connections, wait_for, workers

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.timeout(150)]

TYPES = ["trial.requested", "trial.approved", "deployment.active", "license.issued"]


@pytest.fixture
def broker() -> Iterator[None]:
    """Publish through the configured Redis (not eagerly), on a database emptied for this test."""
    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).flushdb()
    reset_broker_connections()
    with celery_conf(task_always_eager=False):
        yield
    reset_broker_connections()


@pytest.fixture
def start_worker(broker: None) -> Iterator[Callable[..., Worker]]:
    """`start_worker(concurrency=...)`: a worker on the `webhooks` queue alone, as deployed."""
    with workers() as start:

        def _start(**options: Any) -> Worker:
            return start("webhooks", name="webhooks", **options).wait_ready()

        yield _start


def _emit(party: Party, types: list[str]) -> list[Event]:
    """Events committed in one transaction, as a service writes them: their sequence, fan-out
    and deliveries follow from the commit (fan-out and deliveries in the worker)."""
    org = party.organization
    with transaction.atomic():
        events = [event_emit(type=kind, subject=org, organization=org, data={"status": "x"}) for kind in types]
    return events


def _statuses(hook: Registered) -> list[str]:
    return [d.status for d in hook.deliveries()]


def _all_delivered(hook: Registered, count: int) -> Callable[[], bool]:
    return lambda: _statuses(hook) == [WebhookDelivery.Status.SUCCEEDED] * count


def _wait(condition: Callable[[], bool], timeout: float, what: str, worker: Worker) -> None:
    try:
        wait_for(condition, timeout, what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}\n{worker.text()[-4000:]}") from None


def _assert_each_arrived_verified(receiver: Receiver, hook: Registered, events: list[Event]) -> None:
    requests = receiver.accepted()
    payloads = [request.verify(hook.secret) for request in requests]
    assert {p["id"] for p in payloads} == {str(e.public_id) for e in events}
    by_event: dict[str, set[str]] = {}
    for request, payload in zip(requests, payloads, strict=True):
        by_event.setdefault(payload["id"], set()).add(request.message_id)
    assert all(len(ids) == 1 for ids in by_event.values())  # a second copy carries the same id


def _lease_expires() -> None:
    """Move the leases of pending deliveries into the past, as `LEASE_SECONDS` passing would."""
    WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__gt=timezone.now()).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_worker_killed_mid_delivery_loses_nothing(
    start_worker: Callable[..., Worker], st_mary: Party, receiver: Receiver
) -> None:
    hook = register(st_mary, receiver.url)
    receiver.delay = 3
    first = start_worker()
    events = _emit(st_mary, TYPES)
    _wait(lambda: len(receiver.requests()) == 1, 30, "the worker to be inside a delivery", first)
    first.stop()  # SIGKILL, worker and pool: the message of that delivery is not acknowledged
    receiver.delay = 0
    in_flight = [d for d in hook.deliveries() if d.attempts == 0 and d.next_attempt_at > timezone.now()]
    assert len(in_flight) == 1, [(d.status, d.attempts, d.next_attempt_at) for d in hook.deliveries()]
    leased = in_flight[0]
    assert leased.status == WebhookDelivery.Status.PENDING
    assert leased.next_attempt_at > timezone.now() + timedelta(seconds=LEASE_SECONDS - 15)

    second = start_worker()
    # The deliveries the dead worker had not taken are sent by the new one.
    _wait(
        lambda: _statuses(hook).count(WebhookDelivery.Status.SUCCEEDED) == len(TYPES) - 1,
        45,
        "the other deliveries",
        second,
    )
    leased.refresh_from_db()
    assert leased.status == WebhookDelivery.Status.PENDING  # leased: a redelivered message skips it

    _lease_expires()
    sweep.apply_async(queue="webhooks")  # what beat sends every 10 s
    _wait(_all_delivered(hook, len(TYPES)), 30, "the sweep to deliver the interrupted one", second)
    _assert_each_arrived_verified(receiver, hook, events)
    # The interrupted delivery reached the receiver twice (at least once), the others once.
    copies = [r.json["id"] for r in receiver.requests()]
    assert copies.count(str(Event.objects.get(pk=leased.event_id).public_id)) == 2
    assert len(copies) == len(TYPES) + 1


def test_a_receiver_down_for_a_while_gets_everything_from_a_real_worker(
    start_worker: Callable[..., Worker], st_mary: Party, receiver: Receiver
) -> None:
    hook = register(st_mary, receiver.url)
    receiver.stop()
    worker = start_worker()
    events = _emit(st_mary, TYPES)
    # The first attempt at once, the second 5 s later (a short countdown), both refused.
    _wait(
        lambda: [d.attempts for d in hook.deliveries()] == [2] * len(TYPES),
        45,
        "two failed attempts per delivery",
        worker,
    )
    for delivery in hook.deliveries():
        assert delivery.status == WebhookDelivery.Status.PENDING
        first, second = delivery.attempt_log.all()
        assert first.status_code is None and "connection" in first.error
        assert 4.0 <= (second.attempted_at - first.attempted_at).total_seconds() <= 15
        wait = (delivery.next_attempt_at - second.attempted_at).total_seconds()
        assert 265 <= wait <= 335, wait  # the third, 5 min later, is for the sweep
    assert receiver.requests() == []

    worker.stop()  # and the worker restarts while the receiver comes back
    receiver.start()
    worker = start_worker()
    WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).update(next_attempt_at=timezone.now())
    sweep.apply_async(queue="webhooks")
    _wait(_all_delivered(hook, len(TYPES)), 30, "the sweep to deliver everything", worker)
    _assert_each_arrived_verified(receiver, hook, events)
    assert len(receiver.requests()) == len(TYPES)
    assert all(d.attempts == 3 for d in hook.deliveries())


def test_a_slow_endpoint_does_not_hold_up_another_on_the_webhooks_worker(
    start_worker: Callable[..., Worker], st_mary: Party, northside: Party, receiver_factory: Any
) -> None:
    slow, fast = receiver_factory(delay=6), receiver_factory()
    slow_hook, fast_hook = register(st_mary, slow.url), register(northside, fast.url)
    worker = start_worker(concurrency=2)
    _emit(st_mary, ["trial.requested"])
    _wait(lambda: len(slow.requests()) == 1, 30, "the slow delivery to start", worker)
    started = time.monotonic()
    _emit(northside, ["trial.requested"])
    _wait(_all_delivered(fast_hook, 1), 5, "the fast delivery while the slow one waits", worker)
    assert time.monotonic() - started < 5
    assert slow_hook.deliveries()[0].status == WebhookDelivery.Status.PENDING  # still being answered
    _wait(_all_delivered(slow_hook, 1), 30, "the slow delivery", worker)
    fast.requests()[0].verify(fast_hook.secret)
    slow.requests()[0].verify(slow_hook.secret)
