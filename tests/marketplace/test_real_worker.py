"""A real `celery worker` process on Redis and PostgreSQL: tasks complete, survive a killed
worker, and a duplicate delivery has no double effect. Runs only in CI's services stage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection, transaction

from config.celery_app import app
from marketplace.models import Event, OutboxMessage
from marketplace.outbox import outbox_enqueue

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Worker:
    """A `celery -A config worker` subprocess pointed at the test database and a private queue."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.process: subprocess.Popen[bytes] | None = None
        self.log = ROOT / "var" / f"worker-{queue}.log"

    def start(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
        self.log.parent.mkdir(exist_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--include", "tests.worker_tasks",
            "-Q", self.queue, "--concurrency", "1", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", "--hostname", f"{self.queue}@%h",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def child_pids(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def broker() -> Iterator[str]:
    """Send through the real broker (not eagerly) on a queue no earlier run has touched."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    queue = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield queue
    finally:
        app.conf.task_always_eager = eager


@pytest.fixture
def worker_factory(broker: str) -> Iterator[Callable[[], Worker]]:
    workers: list[Worker] = []

    def make() -> Worker:
        worker = Worker(broker)
        worker.start()
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
    _wait_for(lambda: "Task tests.slow_mark" in worker.log.read_text(errors="replace"), 60, "the task to start")
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
    _wait_for(lambda: "Task tests.slow_mark" in first.log.read_text(errors="replace"), 60, "the task to start")
    first.stop()  # SIGKILL to the whole worker: the message comes back after the visibility timeout
    assert _marks(marker) == 0
    worker_factory()
    _wait_for(lambda: _marks(marker) == 1, 120, "a new worker to finish the lost task")
    # The same message delivered again (e.g. after a broker restart) changes nothing.
    app.send_task("tests.slow_mark", kwargs={"marker": marker, "seconds": 0}, queue=broker)
    time.sleep(5)
    assert _marks(marker) == 1
