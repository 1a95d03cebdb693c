"""An integrator's webhook receiver for tests: a real HTTP server on 127.0.0.1 (a free port) in a
thread, so deliveries go through the platform's outbound helper and signing over a real socket.
Reaching it needs `settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND` (loopback, plain http; on in the
test settings).

    with Receiver() as receiver:
        ... receiver.url is the endpoint's URL ...
        receiver.received        # every request, in order
        receiver.verified(secret)  # the payloads, each checked with `standardwebhooks`

Behaviour, all changeable while it runs:

- `answer`: the status it answers (200 by default; 500, 410, ...);
- `script`: statuses answered first, one per request, before `answer` applies;
- `delay`: seconds to wait before answering (a slow endpoint);
- `padding`: bytes of filler in each answer (an endpoint that answers with a big page);
- `stop()` / `start()`: down (connections refused) and back on the same port.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it (header names lower-cased)."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float  # time.monotonic() when it arrived

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return str(self.json.get("type"))

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def signatures(self) -> list[str]:
        return self.headers["webhook-signature"].split(" ")

    def verify(self, secret: str) -> dict[str, Any]:
        """The payload, verified by the independent Standard Webhooks implementation (raises
        `WebhookVerificationError` when `secret` did not sign it)."""
        return Webhook(secret).verify(self.body, self.headers)


class _CountingServer(ThreadingHTTPServer):
    on_connection: Any = None

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self.on_connection is not None:
            self.on_connection()
        return True


@dataclass
class Receiver:
    answer: int = 200
    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    padding: int = 0  # bytes of filler added to each answer (a chatty endpoint)
    path: str = "/hooks"
    received: list[Received] = field(default_factory=list)
    connections: int = 0  # TCP connections accepted (also those that never sent a request)
    _port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Receiver:
        """Listen on 127.0.0.1 (a free port the first time, the same port again afterwards)."""
        assert self._server is None, "already running"
        self._server = _CountingServer(("127.0.0.1", self._port), self._handler())
        self._server.on_connection = self._connected
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: until `start()` again, connections to the port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = self._thread = None

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._port, "start the receiver first"
        return f"http://127.0.0.1:{self._port}{self.path}"

    # --- what it saw ---------------------------------------------------------------------------

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def types(self) -> list[str]:
        return [request.type for request in self.requests()]

    def of_type(self, kind: str) -> list[Received]:
        return [request for request in self.requests() if request.type == kind]

    def accepted(self) -> list[Received]:
        """The requests answered 2xx."""
        return [request for request in self.requests() if 200 <= request.answered < 300]

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's payload, each one's signature verified with `secret`."""
        return [request.verify(secret) for request in self.requests()]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    # --- the endpoint --------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.answer
                    receiver.received.append(
                        Received(
                            path=self.path,
                            headers={name.lower(): value for name, value in self.headers.items()},
                            body=body,
                            answered=status,
                            at=arrived,
                        )
                    )
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = {"status": status, "note": "receiver says " + str(status)}
                if receiver.padding:
                    answer["filler"] = "x" * receiver.padding
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet tests

        return Handler
