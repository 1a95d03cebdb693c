"""Start the web server, a Celery worker (every queue) and beat together; Ctrl-C stops all.

The embedded default: SQLite and kombu's filesystem broker under var/, no other services.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", default="default,provisioning,notifications,webhooks")
    parser.add_argument("--addr", default="127.0.0.1:8000")
    args = parser.parse_args()

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local")}
    (ROOT / "var").mkdir(exist_ok=True)
    commands = {
        "web": [str(BIN / "python"), "manage.py", "runserver", args.addr, "--noreload"],
        "worker": [
            str(BIN / "celery"), "-A", "config", "worker", "-Q", args.queues,
            "--concurrency", "2", "--loglevel", "INFO", "--hostname", "embedded@%h",
        ],
        "beat": [
            str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO",
            "--schedule", str(ROOT / "var" / "celerybeat-schedule"),
        ],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in commands.items():
        processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
    print(f"\nMarketplace: http://{args.addr}/  (API docs: http://{args.addr}/api/docs/)  Ctrl-C stops everything.\n")

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping the others.", file=sys.stderr)
                    exit_code = process.returncode or 1
                    stopping = True
            time.sleep(0.5)
    finally:
        # Signal only the main processes: a Celery worker shuts its own pool down (warm shutdown).
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):  # nothing of ours may outlive Ctrl-C
                os.killpg(process.pid, signal.SIGKILL)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
