"""Tests for marketplace.outbound.

Successful requests go to real HTTP(S) servers bound to 127.0.0.1 (hence
allow_private=True). Every refusal test installs ``no_connect``, which fails
the test if a socket connect is attempted, so refusals are proven to happen
before anything leaves the process. Nothing here talks to a non-loopback host.
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from marketplace import outbound
from marketplace.outbound import (
    USER_AGENT,
    OutboundError,
    OutboundRefused,
    OutboundResponse,
    OutboundResponseTooLarge,
    OutboundTransientError,
    outbound_request,
)

# --------------------------------------------------------------------------
# A real loopback server


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} sent {len(values)} times"
        return values[0] if values else None


class _Handler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(SeenRequest(self.command, self.path, list(self.headers.items()), body))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: bool = True) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()
        path = self.path.split("?")[0]
        if path == "/ok":
            self._send(200, b'{"ok": true}', {"Content-Type": "application/json", "X-Reply": "yes"})
        elif path == "/redirect":
            # A followed redirect would be the SSRF: it points at the metadata service.
            self._send(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/status/503":
            self._send(503, b"busy")
        elif path == "/big":
            self._send(200, b"x" * 5000)
        elif path == "/big-no-length":
            # HTTP/1.0 close-delimited body: the size is only known by reading.
            self._send(200, b"y" * 5000, length=False)
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b"late")
        elif path == "/truncated":
            # Promises 100 bytes, sends 10, then the connection closes.
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._send(404, b"no such path")

    def do_POST(self) -> None:
        self._record()
        self._send(201, self.server.seen[-1].body, {"Content-Type": "application/octet-stream"})

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _RecordingServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[SeenRequest] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients in the timeout tests hang up mid-response; that is expected.
        pass


def _serve(server: _RecordingServer) -> Iterator[_RecordingServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_RecordingServer]:
    yield from _serve(_RecordingServer())


def _port(server: _RecordingServer) -> int:
    return server.server_address[1]


def _base(server: _RecordingServer) -> str:
    return f"http://127.0.0.1:{_port(server)}"


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if outbound tries to open any connection."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("outbound_request tried to connect; it should have refused first")

    monkeypatch.setattr(outbound, "_connect_pinned", forbidden)


def _fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Make socket.getaddrinfo answer for the names in ``table`` (other names
    go to the real resolver). Returns the list of looked-up fake names."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in table:
            lookups.append(host)
            answers = []
            for ip in table[host]:
                if ":" in ip:
                    answers.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0)))
                else:
                    answers.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port)))
            return answers
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return lookups


# --------------------------------------------------------------------------
# Talking to a real server


def test_get_returns_status_headers_and_body(server: _RecordingServer) -> None:
    response = outbound_request("GET", f"{_base(server)}/ok?a=1&b=2#fragment", allow_private=True)

    assert isinstance(response, OutboundResponse)
    assert response.status == 200
    assert response.body == b'{"ok": true}'
    assert response.json() == {"ok": True}
    # Header names are lower-cased.
    assert response.headers["x-reply"] == "yes"
    assert response.headers["content-type"] == "application/json"

    (seen,) = server.seen
    assert seen.method == "GET"
    assert seen.path == "/ok?a=1&b=2"  # query kept, fragment never sent
    assert seen.header("Host") == f"127.0.0.1:{_port(server)}"
    assert seen.header("User-Agent") == USER_AGENT


def test_response_is_frozen(server: _RecordingServer) -> None:
    response = outbound_request("GET", f"{_base(server)}/ok", allow_private=True)
    with pytest.raises(AttributeError):
        response.status = 500  # type: ignore[misc]


def test_post_sends_body_headers_and_content_length(server: _RecordingServer) -> None:
    body = json.dumps({"order": 42}).encode()
    response = outbound_request(
        "post",
        f"{_base(server)}/hook",
        body=body,
        headers={"Content-Type": "application/json", "User-Agent": "custom/2", "X-Trace": "abc"},
        allow_private=True,
    )

    assert response.status == 201
    assert response.body == body
    (seen,) = server.seen
    assert seen.method == "POST"
    assert seen.body == body
    assert seen.header("Content-Length") == str(len(body))
    assert seen.header("Content-Type") == "application/json"
    assert seen.header("X-Trace") == "abc"
    # A caller-supplied User-Agent wins and is not duplicated.
    assert seen.header("User-Agent") == "custom/2"


def test_error_statuses_are_returned_not_raised(server: _RecordingServer) -> None:
    assert outbound_request("GET", f"{_base(server)}/status/503", allow_private=True).status == 503
    assert outbound_request("GET", f"{_base(server)}/missing", allow_private=True).status == 404


def test_redirect_is_not_followed(server: _RecordingServer) -> None:
    response = outbound_request("GET", f"{_base(server)}/redirect", allow_private=True)

    assert response.status == 302
    assert response.headers["location"] == "http://169.254.169.254/latest/meta-data/"
    assert [s.path for s in server.seen] == ["/redirect"]


def test_response_too_large_with_content_length(server: _RecordingServer) -> None:
    with pytest.raises(OutboundResponseTooLarge):
        outbound_request("GET", f"{_base(server)}/big", max_response_bytes=1000, allow_private=True)


def test_response_too_large_without_content_length(server: _RecordingServer) -> None:
    with pytest.raises(OutboundResponseTooLarge):
        outbound_request("GET", f"{_base(server)}/big-no-length", max_response_bytes=1000, allow_private=True)


def test_response_exactly_at_limit_is_accepted(server: _RecordingServer) -> None:
    for path in ("/big", "/big-no-length"):
        response = outbound_request("GET", f"{_base(server)}{path}", max_response_bytes=5000, allow_private=True)
        assert len(response.body) == 5000


def test_timeout_is_transient(server: _RecordingServer) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundTransientError, match="timed out"):
        outbound_request("GET", f"{_base(server)}/slow", timeout=0.3, allow_private=True)
    assert time.monotonic() - started < 1.2


def test_timeout_is_an_overall_deadline(server: _RecordingServer) -> None:
    # Each byte arrives well within the timeout, but the body as a whole does not.
    started = time.monotonic()
    with pytest.raises(OutboundTransientError, match="timed out"):
        outbound_request("GET", f"{_base(server)}/trickle", timeout=0.6, allow_private=True)
    assert time.monotonic() - started < 2.0


def test_slow_dns_counts_against_the_deadline(monkeypatch: pytest.MonkeyPatch, no_connect: None) -> None:
    def slow_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    with pytest.raises(OutboundTransientError, match="timed out"):
        outbound_request("GET", "http://slow-dns.test/", timeout=0.2, allow_private=True)


def test_truncated_body_is_transient(server: _RecordingServer) -> None:
    with pytest.raises(OutboundTransientError):
        outbound_request("GET", f"{_base(server)}/truncated", allow_private=True)


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(OutboundTransientError):
        outbound_request("GET", f"http://127.0.0.1:{port}/", allow_private=True)


def test_dns_failure_is_transient(monkeypatch: pytest.MonkeyPatch, no_connect: None) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(OutboundTransientError, match="could not resolve"):
        outbound_request("GET", "https://nxdomain.test/", allow_private=False)


def test_all_errors_share_a_base_class() -> None:
    for cls in (OutboundRefused, OutboundTransientError, OutboundResponseTooLarge):
        assert issubclass(cls, OutboundError)


# --------------------------------------------------------------------------
# DNS pinning


def test_connects_to_the_checked_address_with_original_host_header(
    server: _RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _port(server)
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding_dns(host: Any, p: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "vendor.test":
            lookups.append(host)
            if len(lookups) == 1:
                return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", p))]
            # A second lookup (e.g. by http.client) would get a rebound answer.
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.9.9.9", p))]
        return real(host, p, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)

    response = outbound_request("GET", f"http://vendor.test:{port}/ok", allow_private=True)

    assert response.status == 200
    assert lookups == ["vendor.test"]  # resolved exactly once
    (seen,) = server.seen
    assert seen.header("Host") == f"vendor.test:{port}"


def test_falls_back_to_next_checked_address(server: _RecordingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first answer is a loopback address where nothing listens; the second
    # is the real server. Both were checked, so trying both is safe.
    _fake_dns(monkeypatch, {"multi.test": ["127.0.0.2", "127.0.0.1"]})
    port = _port(server)
    try:
        with socket.create_connection(("127.0.0.2", port), timeout=0.5):
            pytest.skip("127.0.0.2 is served by the test server on this platform")
    except OSError:
        pass

    response = outbound_request("GET", f"http://multi.test:{port}/ok", allow_private=True)

    assert response.status == 200
    assert server.seen[-1].header("Host") == f"multi.test:{port}"


# --------------------------------------------------------------------------
# TLS: pinned address, but SNI and certificate checks use the host name


@dataclass
class _TLSMaterial:
    ca_pem: str
    cert_file: Path
    key_file: Path
    sni_seen: list[str | None] = field(default_factory=list)


def _make_tls_material(directory: Path) -> _TLSMaterial:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outbound test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor.test")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("vendor.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = directory / "leaf.pem"
    key_file = directory / "leaf.key"
    cert_file.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return _TLSMaterial(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(), cert_file=cert_file, key_file=key_file
    )


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_RecordingServer, _TLSMaterial]]:
    material = _make_tls_material(tmp_path)

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(material.cert_file, material.key_file)

    def remember_sni(sslobj: Any, server_name: str | None, ctx: Any) -> None:
        material.sni_seen.append(server_name)

    server_context.sni_callback = remember_sni

    server = _RecordingServer()
    server.socket = server_context.wrap_socket(server.socket, server_side=True)

    # Same verification settings as production (CERT_REQUIRED + hostname
    # check), but trusting only the throwaway test CA.
    client_context = ssl.create_default_context(cadata=material.ca_pem)
    monkeypatch.setattr(outbound, "_ssl_context", lambda: client_context)

    for running in _serve(server):
        yield running, material


def test_https_pinned_uses_sni_and_verifies_certificate_for_host(
    tls_server: tuple[_RecordingServer, _TLSMaterial], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, material = tls_server
    lookups = _fake_dns(monkeypatch, {"vendor.test": ["127.0.0.1"]})

    response = outbound_request("GET", f"https://vendor.test:{_port(server)}/ok", allow_private=True)

    assert response.status == 200
    assert lookups == ["vendor.test"]
    assert material.sni_seen == ["vendor.test"]
    assert server.seen[-1].header("Host") == f"vendor.test:{_port(server)}"


def test_https_certificate_for_other_host_is_rejected(
    tls_server: tuple[_RecordingServer, _TLSMaterial], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _material = tls_server
    _fake_dns(monkeypatch, {"other.test": ["127.0.0.1"]})

    with pytest.raises(OutboundTransientError, match="TLS"):
        outbound_request("GET", f"https://other.test:{_port(server)}/ok", allow_private=True)
    assert server.seen == []


def test_https_connecting_by_ip_does_not_match_hostname_certificate(
    tls_server: tuple[_RecordingServer, _TLSMaterial],
) -> None:
    # Proves the certificate is checked against the URL host: the same server
    # is not acceptable when addressed as 127.0.0.1.
    server, _material = tls_server
    with pytest.raises(OutboundTransientError, match="TLS"):
        outbound_request("GET", f"https://127.0.0.1:{_port(server)}/ok", allow_private=True)


def test_default_tls_context_verifies() -> None:
    context = outbound._ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


# --------------------------------------------------------------------------
# Refusals (nothing may be sent)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/", "scheme http is not allowed"),
        ("https://127.0.0.1/", "address 127.0.0.1 is loopback"),
        ("https://127.8.9.10:8443/x", "address 127.8.9.10 is loopback"),
        ("https://10.0.0.1/", "address 10.0.0.1 is private"),
        ("https://172.16.5.4/", "address 172.16.5.4 is private"),
        ("https://192.168.1.1/", "address 192.168.1.1 is private"),
        ("https://100.64.0.1/", "address 100.64.0.1 is private"),
        ("https://[::1]/", "address ::1 is loopback"),
        ("https://[fc00::1]/", "address fc00::1 is private"),
        ("https://[fd12:3456::1]/", "address fd12:3456::1 is private"),
        ("https://[::ffff:10.0.0.1]/", "(IPv4 10.0.0.1) is private"),
        ("https://[::ffff:127.0.0.1]/", "(IPv4 127.0.0.1) is loopback"),
        # Only the resolver understands these spellings of 127.0.0.1; the
        # check runs on what it returns.
        ("https://2130706433/", "address 127.0.0.1 is loopback"),
        ("https://127.1/", "address 127.0.0.1 is loopback"),
    ],
)
def test_private_targets_refused_by_default(url: str, reason: str, no_connect: None) -> None:
    with pytest.raises(OutboundRefused, match=re.escape(reason)):
        outbound_request("GET", url, allow_private=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://224.0.0.1/", "multicast"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://0.1.2.3/", "unspecified"),
        ("https://240.0.0.1/", "reserved"),
        ("https://255.255.255.255/", "reserved"),
        ("https://[::ffff:169.254.169.254]/", "link-local"),
        ("https://[::ffff:0.0.0.0]/", "unspecified"),
        ("https://[::ffff:224.0.0.1]/", "multicast"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[ff02::1]/", "multicast"),
        ("https://[::]/", "unspecified"),
        # NAT64 and 6to4 forms of the metadata address.
        ("https://[64:ff9b::a9fe:a9fe]/", "link-local"),
        ("https://[2002:a9fe:a9fe::1]/", "link-local"),
    ],
)
def test_dangerous_targets_refused_even_when_private_allowed(url: str, reason: str, no_connect: None) -> None:
    with pytest.raises(OutboundRefused, match=reason):
        outbound_request("GET", url, allow_private=True)


def test_hostname_resolving_to_private_address_is_refused(monkeypatch: pytest.MonkeyPatch, no_connect: None) -> None:
    _fake_dns(monkeypatch, {"internal.example": ["10.1.2.3"]})
    with pytest.raises(OutboundRefused, match=r"address 10\.1\.2\.3 is private \(resolved from 'internal.example'\)"):
        outbound_request("POST", "https://internal.example/hook", body=b"{}", allow_private=False)


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch, no_connect: None) -> None:
    # A public first answer must not hide an internal second one.
    _fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "169.254.169.254"]})
    with pytest.raises(OutboundRefused, match="link-local"):
        outbound_request("GET", "https://mixed.example/", allow_private=True)


def test_public_address_passes_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stop right after the policy check: the pinned address list is returned.
    _fake_dns(monkeypatch, {"vendor.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]})
    addresses = outbound._resolve_and_check("vendor.example", 443, allow_private=False)
    assert [sockaddr[0] for _family, sockaddr in addresses] == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/file", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme 'gopher' is not allowed"),
        ("example.com/path", "is not allowed"),
        ("https://user:pass@example.com/", "userinfo"),
        ("https://example.com@127.0.0.1/", "userinfo"),
        ("https:///path-only", "no host"),
        ("https://example.com:99999/", "invalid URL"),
        ("https://example.com:0/", "port 0"),
        ("https://example.com/a b", "whitespace or control"),
        ("https://example.com/a\r\nX-Injected: 1", "whitespace or control"),
    ],
)
def test_bad_urls_refused(url: str, reason: str, no_connect: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("should be refused before DNS resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(OutboundRefused, match=reason):
        outbound_request("GET", url, allow_private=True)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Host": "evil.example"}, "set by outbound_request"),
        ({"content-length": "5"}, "set by outbound_request"),
        ({"Transfer-Encoding": "chunked"}, "set by outbound_request"),
        ({"X-Evil": "a\r\nX-Injected: 1"}, "CR, LF or NUL"),
        ({"Bad Name": "x"}, "invalid header name"),
    ],
)
def test_bad_headers_refused(headers: dict[str, str], reason: str, no_connect: None) -> None:
    with pytest.raises(OutboundRefused, match=reason):
        outbound_request("GET", "https://127.0.0.1/", headers=headers, allow_private=True)


def test_bad_method_refused(no_connect: None) -> None:
    with pytest.raises(OutboundRefused, match="invalid HTTP method"):
        outbound_request("GET /x HTTP/1.1\r\n", "https://127.0.0.1/", allow_private=True)


# --------------------------------------------------------------------------
# allow_private=None reads the setting


def test_setting_false_refuses_private(settings: Any, no_connect: None) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False
    with pytest.raises(OutboundRefused, match="scheme http is not allowed"):
        outbound_request("GET", "http://127.0.0.1:1/")
    with pytest.raises(OutboundRefused, match="loopback"):
        outbound_request("GET", "https://127.0.0.1:1/")


def test_setting_missing_means_refuse(settings: Any, no_connect: None) -> None:
    if hasattr(settings, "MARKETPLACE_ALLOW_PRIVATE_OUTBOUND"):
        del settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND
    with pytest.raises(OutboundRefused, match="loopback"):
        outbound_request("GET", "https://127.0.0.1:1/")


def test_setting_true_allows_loopback(settings: Any, server: _RecordingServer) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = True
    assert outbound_request("GET", f"{_base(server)}/ok").status == 200


def test_explicit_argument_overrides_setting(settings: Any, no_connect: None) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = True
    with pytest.raises(OutboundRefused, match="loopback"):
        outbound_request("GET", "https://127.0.0.1:1/", allow_private=False)
