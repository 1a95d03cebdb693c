"""Real Celery workers (and a private Redis) for the tests marked `services`.

A `Worker` is a `celery -A config worker` subprocess pointed at the test database, with its own
log file; tests kill its pool process or the whole worker. `celery_conf` changes Celery settings
of the test process for a block, and `PrivateRedis` is a throwaway redis-server a test may stop
and start again (a broker outage).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection
from kombu import pools

from config.celery_app import app

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "var" / "test-workers"


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not the configured one)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def celery_conf(**values: Any) -> Iterator[None]:
    """Change Celery settings of this process for the block: `celery_conf(task_always_eager=False)`.

    The app reads Django settings under the CELERY_ namespace, and those keys win over the plain
    names: `app.conf.task_always_eager = False` alone changes nothing."""
    keys = {f"CELERY_{name.upper()}": value for name, value in values.items()}
    before = {key: app.conf.get(key) for key in keys}
    app.conf.update(keys)
    try:
        yield
    finally:
        app.conf.update(before)


def reset_broker_connections() -> None:
    """Forget pooled broker connections, so the next publish connects afresh to the broker now
    configured (kombu keeps its pools in a registry of its own: clear that too)."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


class Worker:
    """A `celery -A config worker` subprocess on `queues`, pointed at the test database."""

    def __init__(
        self,
        queues: str,
        *,
        name: str = "",
        env: dict[str, str] | None = None,
        concurrency: int = 1,
        include: str = "tests.worker_tasks",
    ) -> None:
        self.queues = queues
        self.name = name or queues.split(",")[0]
        self.extra_env = env or {}
        self.concurrency = concurrency
        self.include = include
        self.process: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log = LOG_DIR / f"worker-{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            **self.extra_env,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--include", self.include,
            "-Q", self.queues, "--concurrency", str(self.concurrency), "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", "--without-heartbeat", "--hostname", f"{self.name}@%h",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 30) -> Worker:
        wait_for(lambda: " ready." in self.text(), timeout, f"worker {self.name} to be ready")
        return self

    def child_pids(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def kill_pool(self) -> list[int]:
        """SIGKILL the pool processes (the ones running tasks); the main process stays."""
        pids = self.child_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def stop(self) -> None:
        """SIGKILL the worker and its pool (nothing is acknowledged on the way out)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def workers() -> Iterator[Callable[..., Worker]]:
    """`with workers() as start: start("queue", env=...)`; every worker started is killed at the end."""
    started: list[Worker] = []

    def start(queues: str, **options: Any) -> Worker:
        worker = Worker(queues, **options).start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test alone on a free port, without persistence: stopping it is a
    broker outage, starting it again an empty broker at the same address."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(self.answers, 10, f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        wait_for(lambda: not self.answers(), 10, "redis-server to stop")
