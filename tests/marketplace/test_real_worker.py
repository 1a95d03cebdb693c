"""A real `celery worker` process on Redis and PostgreSQL: tasks complete, survive a killed
worker, and a duplicate delivery has no double effect. Runs only in CI's services stage."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.db import transaction

from config.celery_app import app
from marketplace.models import Event, OutboxMessage
from marketplace.outbox import outbox_enqueue
from tests.workers import Worker, celery_conf
from tests.workers import wait_for as _wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker() -> Iterator[str]:
    """Send through the real broker (not eagerly) on a queue no earlier run has touched."""
    with celery_conf(task_always_eager=False):
        yield f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def worker_factory(broker: str) -> Iterator[Callable[[], Worker]]:
    workers: list[Worker] = []

    def make() -> Worker:
        worker = Worker(broker).start()
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


def _marks(marker: str) -> int:
    return Event.objects.filter(type="tests.slow_mark", subject_id=marker).count()


def test_a_committed_change_reaches_a_real_worker_through_the_outbox(broker: str, worker_factory) -> None:
    worker_factory()
    Event.objects.create(type="tests.unsequenced", subject_type="tests", subject_id="1")
    with transaction.atomic():
        message = outbox_enqueue(task_name="marketplace.events_assign_sequence", kwargs={}, queue=broker)
    assert OutboxMessage.objects.get(pk=message.pk).dispatched_at is not None
    _wait_for(
        lambda: not Event.objects.filter(type="tests.unsequenced", sequence__isnull=True).exists(),
        60, "the worker to assign the sequence",
    )


def test_a_killed_pool_process_is_redelivered_and_the_work_done_once(broker: str, worker_factory) -> None:
    worker = worker_factory()
    marker = uuid.uuid4().hex
    with transaction.atomic():
        outbox_enqueue(task_name="tests.slow_mark", kwargs={"marker": marker, "seconds": 4}, queue=broker)
    _wait_for(lambda: "Task tests.slow_mark" in worker.text(), 60, "the task to start")
    for pid in worker.child_pids():
        os.kill(pid, signal.SIGKILL)  # the process running the task dies mid-way
    _wait_for(lambda: _marks(marker) == 1, 90, "the redelivered task to finish")
    time.sleep(2)
    assert _marks(marker) == 1


def test_a_killed_worker_loses_nothing_and_a_duplicate_delivery_does_nothing_twice(broker: str, worker_factory) -> None:
    first = worker_factory()
    marker = uuid.uuid4().hex
    with transaction.atomic():
        outbox_enqueue(task_name="tests.slow_mark", kwargs={"marker": marker, "seconds": 3}, queue=broker)
    _wait_for(lambda: "Task tests.slow_mark" in first.text(), 60, "the task to start")
    first.stop()  # SIGKILL to the whole worker: the message comes back after the visibility timeout
    assert _marks(marker) == 0
    # A starting worker restores messages older than the visibility timeout at once; a running
    # one only every 100 s or so (kombu): start the new one after the timeout.
    time.sleep(app.conf.broker_transport_options["visibility_timeout"] + 1)
    worker_factory()
    _wait_for(lambda: _marks(marker) == 1, 120, "a new worker to finish the lost task")
    # The same message delivered again (e.g. after a broker restart) changes nothing.
    app.send_task("tests.slow_mark", kwargs={"marker": marker, "seconds": 0}, queue=broker)
    time.sleep(5)
    assert _marks(marker) == 1
