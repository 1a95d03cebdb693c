"""The single helper for every HTTP request the platform sends to the outside world.

Vendor fulfillment endpoints and webhook receivers are URLs typed in by third
parties, so every call goes through :func:`outbound_request`, which guards
against server-side request forgery (SSRF):

* only ``https`` (plain ``http`` only when private targets are allowed, i.e. in
  development and tests);
* the host is resolved once and *every* resolved address is checked; the
  connection then goes to one of those checked addresses (DNS pinning), so a
  second, different DNS answer ("DNS rebinding") can never be used;
* link-local (cloud metadata at 169.254.169.254), multicast, reserved and
  unspecified addresses are always refused; loopback and private ranges are
  refused unless explicitly allowed;
* redirects are never followed, the response body is size-limited and the
  whole exchange is bounded by ``timeout``.

Only the standard library (``http.client``, ``ssl``, ``socket``) is used:
a higher-level client would re-resolve the host (defeating the pin) or honour
proxy environment variables.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

__all__ = [
    "USER_AGENT",
    "OutboundError",
    "OutboundRefused",
    "OutboundResponse",
    "OutboundResponseTooLarge",
    "OutboundTransientError",
    "check_outbound_url",
    "outbound_request",
]

USER_AGENT = "marketplace-outbound/1"

_READ_CHUNK = 64 * 1024

# RFC 9110 token: method names and header field names.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Header values may not carry CR/LF/NUL (header injection / request smuggling).
_BAD_HEADER_VALUE_RE = re.compile(r"[\r\n\x00]")
# Headers this module owns: a caller-supplied Host would break the pinning
# contract, and the framing headers are computed from ``body``.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

# "This network" (RFC 791): on Linux a connect to 0.x.x.x reaches the local host.
_THIS_NETWORK_V4 = ipaddress.IPv4Network("0.0.0.0/8")
# Shared address space (RFC 6598, carrier-grade NAT): not in ``is_private``
# on every Python version, so it is listed explicitly.
_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")
# Well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4 target.
_NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundError(Exception):
    """Base class for every failure of :func:`outbound_request`."""


class OutboundRefused(OutboundError):
    """Permanent: the request was not sent because the URL, address or
    arguments are not acceptable. Retrying the same request cannot succeed."""


class OutboundTransientError(OutboundError):
    """The request may succeed later: DNS failure, connection refused/reset,
    timeout, TLS failure, malformed response from the peer."""


class OutboundResponseTooLarge(OutboundError):
    """The response body is larger than ``max_response_bytes``. The peer did answer: ``status``
    is the status code it sent (a webhook receiver's 2xx is a success whatever its body)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OutboundResponse:
    """An HTTP response. ``headers`` has lower-cased names; repeated headers
    are joined with ", "."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self.body)


def outbound_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    max_response_bytes: int = 1_000_000,
    allow_private: bool | None = None,
) -> OutboundResponse:
    """Send one HTTP request to ``url`` and return the response.

    ``timeout`` is an overall deadline in seconds for connecting, sending and
    reading the response (every socket operation gets the time that is left).
    ``allow_private=None`` reads ``settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND``
    (default False). Redirects are returned as is, never followed, and 4xx/5xx
    responses are returned too: the caller decides what a status means.

    Raises ``OutboundRefused`` (nothing was sent), ``OutboundTransientError``,
    or ``OutboundResponseTooLarge``.
    """
    if allow_private is None:
        allow_private = bool(getattr(settings, "MARKETPLACE_ALLOW_PRIVATE_OUTBOUND", False))
    if timeout <= 0:
        raise OutboundRefused("timeout must be positive")
    deadline = time.monotonic() + timeout

    method = _check_method(method)
    scheme, host, port, target = _parse_url(url, allow_private=allow_private)
    request_headers = _build_headers(headers)
    addresses = _resolve_and_check(host, port, allow_private=allow_private)

    conn: http.client.HTTPConnection | None = None
    try:
        if scheme == "https":
            conn = _PinnedHTTPSConnection(host, port, addresses=addresses, deadline=deadline, context=_ssl_context())
        else:
            conn = _PinnedHTTPConnection(host, port, addresses=addresses, deadline=deadline)
        conn.connect()
        _set_remaining_timeout(conn, deadline)
        # http.client adds Host (original host[:port]), Accept-Encoding:
        # identity and Content-Length (for bodies, and 0 for an empty POST/PUT).
        conn.request(method, target, body=body, headers=request_headers)
        _set_remaining_timeout(conn, deadline)
        response = conn.getresponse()
        response_headers = _collect_headers(response)
        payload = _read_body(conn, response, max_response_bytes, deadline)
        return OutboundResponse(status=response.status, headers=response_headers, body=payload)
    except OutboundError:
        raise
    except TimeoutError as exc:  # socket.timeout is TimeoutError since 3.10
        raise OutboundTransientError(f"timed out talking to {host}") from exc
    except ssl.SSLError as exc:
        # Includes certificate verification failures. They are treated as
        # transient: the remote side can fix (e.g. renew) its certificate
        # without anything changing on our side.
        raise OutboundTransientError(f"TLS error talking to {host}: {exc}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundTransientError(f"connection error talking to {host}: {exc!r}") from exc
    finally:
        if conn is not None:
            conn.close()


# --------------------------------------------------------------------------
# Validation of the request


def check_outbound_url(url: str, *, allow_private: bool | None = None) -> None:
    """Check a URL a third party registers (a fulfillment endpoint, a webhook) against the same
    rules `outbound_request` applies when sending: scheme, no userinfo, and every address the
    host resolves to now. Raises OutboundRefused with a message for people; a name that does not
    resolve is refused too (it could not be called either)."""
    if allow_private is None:
        allow_private = bool(getattr(settings, "MARKETPLACE_ALLOW_PRIVATE_OUTBOUND", False))
    _scheme, host, port, _target = _parse_url(url, allow_private=allow_private)
    try:
        _resolve_and_check(host, port, allow_private=allow_private)
    except OutboundTransientError as exc:
        raise OutboundRefused(str(exc)) from exc


def _check_method(method: str) -> str:
    upper = method.upper()
    if not _TOKEN_RE.fullmatch(upper):
        raise OutboundRefused(f"invalid HTTP method {method!r}")
    return upper


def _parse_url(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """Return (scheme, ascii host, port, request target) or raise OutboundRefused."""
    # Whitespace/control characters are how request-line injection starts, and
    # urlsplit silently strips some of them.
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise OutboundRefused("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"invalid URL: {exc}") from exc

    scheme = parts.scheme.lower()
    if scheme == "http":
        if not allow_private:
            raise OutboundRefused("scheme http is not allowed (https only)")
    elif scheme != "https":
        raise OutboundRefused(f"scheme {scheme or '(none)'!r} is not allowed (https only)")

    # Userinfo is never needed for our integrations and is a classic way to
    # disguise the real host ("https://trusted.example@evil.example/").
    if "@" in parts.netloc:
        raise OutboundRefused("URL must not contain userinfo")

    hostname = parts.hostname
    if not hostname:
        raise OutboundRefused("URL has no host")
    try:
        # IDNA-encode once so the name we resolve, send as Host and verify
        # the certificate against is exactly the same ASCII string.
        host = hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise OutboundRefused(f"invalid host name {hostname!r}") from exc

    if port is None:
        port = 443 if scheme == "https" else 80
    if port == 0:
        raise OutboundRefused("port 0 is not allowed")

    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    # The fragment is client-side only and never sent.
    return scheme, host, port, target


def _build_headers(headers: dict[str, str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not _TOKEN_RE.fullmatch(name):
            raise OutboundRefused(f"invalid header name {name!r}")
        if name.lower() in _RESERVED_HEADERS:
            raise OutboundRefused(f"header {name!r} is set by outbound_request and may not be passed")
        if _BAD_HEADER_VALUE_RE.search(value):
            raise OutboundRefused(f"header {name!r} contains CR, LF or NUL")
        result[name] = value
    if not any(name.lower() == "user-agent" for name in result):
        result["User-Agent"] = USER_AGENT
    return result


# --------------------------------------------------------------------------
# Address policy


def _classify(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> tuple[str, bool] | None:
    """Return (reason, always_refused) if ``ip`` is not a public unicast
    address, None if it is. ``always_refused`` means even allow_private does
    not permit it."""
    # An IPv6 address that carries an IPv4 destination is judged by that
    # IPv4 address: ::ffff:169.254.169.254 reaches the metadata service just
    # like 169.254.169.254 does.
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return _classify(embedded)

    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK_V4):
        return "unspecified", True
    if ip.is_link_local:
        return "link-local", True
    if ip.is_multicast:
        return "multicast", True
    # Loopback before reserved: ::1 lies inside the reserved ::/8 block.
    if ip.is_loopback:
        return "loopback", False
    if ip.is_reserved:
        return "reserved", True
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_V4):
        return "private", False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "private", False
    # Anything else that is not globally routable (documentation ranges,
    # benchmarking, ...) is internal from our point of view.
    if not ip.is_global:
        return "private", False
    return None


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 destination inside an IPv4-mapped, 6to4 or NAT64 address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    embedded = ip.ipv4_mapped or ip.sixtofour
    if embedded is None and ip in _NAT64_V6:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return embedded


def _check_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, host: str, allow_private: bool) -> None:
    verdict = _classify(ip)
    if verdict is None:
        return
    reason, always = verdict
    if always or not allow_private:
        embedded = _embedded_ipv4(ip)
        shown = f"{ip} (IPv4 {embedded})" if embedded is not None else str(ip)
        suffix = "" if _is_ip_literal(host) else f" (resolved from {host!r})"
        raise OutboundRefused(f"address {shown} is {reason}{suffix}")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve_and_check(host: str, port: int, *, allow_private: bool) -> list[tuple[int, Any]]:
    """Resolve ``host`` and return [(family, sockaddr)] to connect to.

    Every resolved address must pass the policy, not just the first: an
    attacker controlling DNS could otherwise mix a public and an internal
    address and hope the connect picks the internal one.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise OutboundTransientError(f"could not resolve {host!r}: {exc}") from exc
    except UnicodeError as exc:
        raise OutboundRefused(f"invalid host name {host!r}") from exc

    addresses: list[tuple[int, Any]] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise OutboundRefused(f"unexpected address family for {host!r}")
        # sockaddr[0] may carry an IPv6 zone ("fe80::1%eth0"); ipaddress
        # accepts that on 3.9+, and link-local is refused anyway.
        try:
            ip = ipaddress.ip_address(sockaddr[0])
        except ValueError as exc:
            raise OutboundRefused(f"unparseable address {sockaddr[0]!r} for {host!r}") from exc
        _check_address(ip, host=host, allow_private=allow_private)
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise OutboundTransientError(f"no addresses for {host!r}")
    return addresses


# --------------------------------------------------------------------------
# Pinned connections


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline exceeded")
    return remaining


def _connect_pinned(addresses: list[tuple[int, Any]], deadline: float) -> socket.socket:
    """Connect to the first reachable of the already-checked addresses.

    Connecting by sockaddr (never by name) is what pins the request to the
    addresses that passed the policy check. All attempts share the deadline.
    """
    last_error: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        # Not supported everywhere; it is only a latency optimisation.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    assert last_error is not None  # addresses is never empty
    raise last_error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection that connects to pre-checked addresses; ``host`` is
    only used for the Host header."""

    def __init__(self, host: str, port: int, *, addresses: list[tuple[int, Any]], deadline: float) -> None:
        super().__init__(host, port, timeout=_remaining(deadline))
        self._pinned_addresses = addresses
        self._deadline = deadline

    def connect(self) -> None:
        self.sock = _connect_pinned(self._pinned_addresses, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPSConnection that connects to pre-checked addresses while SNI and
    certificate verification use the original host name."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: list[tuple[int, Any]],
        deadline: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=_remaining(deadline), context=context)
        self._pinned_addresses = addresses
        self._pinned_context = context
        self._deadline = deadline

    def connect(self) -> None:
        sock = _connect_pinned(self._pinned_addresses, self._deadline)
        try:
            # The handshake runs here (do_handshake_on_connect) within the
            # remaining time; check_hostname verifies the cert against host.
            sock.settimeout(_remaining(self._deadline))
            self.sock = self._pinned_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """The default verifying context (CERT_REQUIRED + check_hostname), built
    once because loading the CA store is comparatively slow."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


# --------------------------------------------------------------------------
# Response handling


def _set_remaining_timeout(conn: http.client.HTTPConnection, deadline: float) -> None:
    remaining = _remaining(deadline)
    if conn.sock is not None:
        conn.sock.settimeout(remaining)


def _collect_headers(response: http.client.HTTPResponse) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result


def _read_body(
    conn: http.client.HTTPConnection,
    response: http.client.HTTPResponse,
    limit: int,
    deadline: float,
) -> bytes:
    declared = response.getheader("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise OutboundResponseTooLarge(
            f"response declares {int(declared)} bytes, limit is {limit}", status=response.status
        )

    chunks: list[bytes] = []
    received = 0
    while True:
        # Refreshing the socket timeout before every read turns the per-read
        # timeout into an overall deadline: a peer trickling one byte at a
        # time cannot hold a worker forever.
        _set_remaining_timeout(conn, deadline)
        # read1, not read: read(n) blocks until n bytes arrive (each recv
        # getting the full timeout), read1 does at most one recv.
        chunk = response.read1(min(_READ_CHUNK, limit + 1 - received))
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
        if received > limit:
            raise OutboundResponseTooLarge(f"response body exceeds {limit} bytes", status=response.status)
    # read1 reports a peer that closes early as a plain EOF; a body shorter
    # than its Content-Length must not pass as complete.
    if response.length:
        raise http.client.IncompleteRead(b"".join(chunks), response.length)
    return b"".join(chunks)
