"""A vendor's fulfillment endpoint for tests: a real HTTP server on 127.0.0.1 (a free port) in a
thread, so the platform's outbound helper, signing and the step runner are exercised over a real
socket. Reaching it needs `settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND` (loopback, plain http).

    with VendorServer(answer=200) as vendor:
        ... vendor.url is the offering's fulfillment URL ...
        vendor.received   # every request, in order
        vendor.tenants    # idempotency key -> tenant URL: what the vendor actually did

Behaviour, all changeable while it runs:

- `answer`: the status for provision requests once it is up: 200 (`{"tenant_url"}` at once),
  202 (accepted; the test calls activate later), or any error status;
- `fail_first` requests are answered with `failure` (503 by default, or "drop": the connection
  is closed without an answer) before it behaves;
- `delay`: seconds to wait before answering (for timeouts);
- suspend, resume and deprovision are answered `other_answer` (200 by default).

The vendor acts once per idempotency key: a repeated request gets the first answer back and
does nothing new, as API.md asks of every fulfillment endpoint.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACTING = 200, 202  # the answers that mean the vendor did (or started) the work


@dataclass(frozen=True)
class Received:
    """One request as the vendor's endpoint saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | str  # the status sent back, or "drop"

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return str(self.json.get("type"))

    @property
    def key(self) -> str:
        return str(self.json.get("idempotency_key"))


@dataclass
class VendorServer:
    answer: int = 200
    fail_first: int = 0
    failure: int | str = 503
    delay: float = 0.0
    other_answer: int = 200
    tenant_host: str = "tenants.vendor.example"
    received: list[Received] = field(default_factory=list)
    tenants: dict[str, str] = field(default_factory=dict)
    _port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, port: int | None = None) -> VendorServer:
        """Listen on 127.0.0.1 (a free port, or `port` to come back where it was)."""
        assert self._server is None, "already running"
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port if port is None else port), self._handler())
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: until `start()` again, connections to the port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = self._thread = None

    def __enter__(self) -> VendorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._port, "start the server first"
        return f"http://127.0.0.1:{self._port}/fulfillment"

    # --- what it saw ---------------------------------------------------------------------------

    def of_type(self, kind: str) -> list[Received]:
        with self._lock:
            return [request for request in self.received if request.type == kind]

    def acted(self, kind: str) -> list[Received]:
        """The requests of `kind` that had an effect (the first accepted one per key)."""
        seen: set[str] = set()
        out = []
        for request in self.of_type(kind):
            if request.answered in ACTING and request.key not in seen:
                seen.add(request.key)
                out.append(request)
        return out

    # --- the endpoint --------------------------------------------------------------------------

    def _respond(self, body: bytes) -> tuple[int | str, dict[str, Any]]:
        """Decide the answer (under the lock: concurrent requests are counted one by one)."""
        if len(self.received) < self.fail_first:
            return self.failure, {"error": "down for maintenance"}
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"error": "not JSON"}
        key = str(data.get("idempotency_key") or "")
        if data.get("type") != "provision":
            return self.other_answer, {}
        if self.answer == 200:
            # Acts once per key: the same key gets the same tenant back.
            tenant = self.tenants.setdefault(key, f"https://t{len(self.tenants) + 1}.{self.tenant_host}/")
            return 200, {"tenant_url": tenant, "tenant_id": f"tenant-{len(self.tenants)}"}
        if self.answer == 202:
            self.tenants.setdefault(key, "")
            return 202, {"tenant_id": f"tenant-{len(self.tenants)}"}
        return self.answer, {"error": f"The vendor refuses this request ({self.answer})."}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with vendor._lock:
                    status, answer = vendor._respond(body)
                    vendor.received.append(
                        Received(
                            method="POST",
                            path=self.path,
                            headers={name.lower(): value for name, value in self.headers.items()},
                            body=body,
                            answered=status,
                        )
                    )
                if vendor.delay:
                    time.sleep(vendor.delay)
                if status == "drop":
                    self.close_connection = True
                    return  # closes without an answer
                payload = json.dumps(answer).encode()
                self.send_response(int(status))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet tests

        return Handler
