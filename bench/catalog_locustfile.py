"""Locust clients for bench/catalog.py (started by it: `locust --headless -f bench/catalog_locustfile.py`).

Every client walks the same fixed plan of requests (full-text searches, facet filters, browsing
pages, listing details) with no think time, starting at its own offset so the clients together
keep the plan's mix at every moment. The plan, the target and the mode come from the
environment bench/catalog.py sets:

- BENCH_PLAN: a JSON file, `[[kind, path], ...]`; a path is relative to BENCH_PREFIX
  (`?q=radiology&page=2`, `some-listing-slug/`).
- BENCH_PREFIX: `/api/v1/apps/` (the endpoint) or `/bench-baseline/apps/` (the raw-SQL baseline).
- BENCH_TOKEN: the bench API client's bearer token (its client id is throttle-exempt).
- BENCH_MODE: `plain`, or `conditional`: each client walks only its own BENCH_WORKING_SET
  entries, again and again, and sends back the ETag it got (If-None-Match).
- BENCH_OUT: where to write every request as `[kind, status, ok, start_s, ms]` (JSON) at the end.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

from locust import FastHttpUser, constant, events, task

PLAN: list[list[str]] = json.loads(open(os.environ["BENCH_PLAN"], encoding="utf-8").read())  # noqa: SIM115
PREFIX = os.environ["BENCH_PREFIX"]
TOKEN = os.environ.get("BENCH_TOKEN", "")
MODE = os.environ.get("BENCH_MODE", "plain")
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
WORKING_SET = int(os.environ.get("BENCH_WORKING_SET", "8"))
RECORDS: list[list[Any]] = []
_numbers = itertools.count()


@events.request.add_listener
def _record(
    name: str, response_time: float, response: Any = None, exception: Any = None, start_time: float = 0.0, **kwargs: Any
) -> None:
    status = getattr(response, "status_code", 0) or 0
    RECORDS.append([name, status, exception is None, start_time, response_time])


@events.quitting.add_listener
def _write(**kwargs: Any) -> None:
    with open(os.environ["BENCH_OUT"], "w", encoding="utf-8") as out:
        json.dump(RECORDS, out)


class CatalogClient(FastHttpUser):
    wait_time = constant(0)
    # One connection per client, kept alive, as a browser or an integrator would.
    concurrency = 1
    network_timeout = 120.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        number = next(_numbers)
        if MODE == "conditional":
            start = (number * WORKING_SET) % len(PLAN)
            self.sequence = [PLAN[(start + i) % len(PLAN)] for i in range(WORKING_SET)]
        else:
            start = number * len(PLAN) // CLIENTS
            self.sequence = PLAN[start:] + PLAN[:start]
        self.position = 0
        self.etags: dict[str, str] = {}

    @task
    def next_request(self) -> None:
        kind, path = self.sequence[self.position % len(self.sequence)]
        self.position += 1
        headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
        if MODE == "conditional" and path in self.etags:
            headers["If-None-Match"] = self.etags[path]
        with self.client.get(PREFIX + path, headers=headers, name=kind, catch_response=True) as response:
            if response.status_code == 200:
                if MODE == "conditional" and response.headers.get("ETag"):
                    self.etags[path] = response.headers["ETag"]
                response.success()
            elif response.status_code == 304 and MODE == "conditional":
                response.success()
            else:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
