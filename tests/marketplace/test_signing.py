"""Tests for marketplace.signing (Standard Webhooks HMAC and Ed25519 JWS)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from marketplace.signing import (
    MAX_JWS_PAYLOAD_BYTES,
    SignatureError,
    generate_ed25519_private_key_pem,
    generate_webhook_secret,
    jws_sign,
    jws_unverified_header,
    jws_verify,
    public_jwk,
    standard_webhook_headers,
    verify_standard_webhook,
)

# --------------------------------------------------------------------------
# Standard Webhooks

# The test vector published with the Standard Webhooks specification: matching
# it means receivers can verify our webhooks with any of its libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = 1_700_000_000


def test_generate_webhook_secret_format() -> None:
    secret = generate_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert generate_webhook_secret() != secret


def test_headers_match_the_specification_vector() -> None:
    headers = standard_webhook_headers(
        secret=VECTOR_SECRET, message_id=VECTOR_ID, body=VECTOR_BODY, timestamp=VECTOR_TIMESTAMP
    )
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_headers_match_an_independent_hmac() -> None:
    secret = generate_webhook_secret()
    body = b'{"event": "order.paid"}'
    headers = standard_webhook_headers(secret=secret, message_id="msg_1", body=body, timestamp=NOW)

    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"msg_1.{NOW}.".encode() + body, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


def test_timestamp_defaults_to_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("marketplace.signing.time.time", lambda: NOW + 0.7)
    headers = standard_webhook_headers(secret=generate_webhook_secret(), message_id="m", body=b"")
    assert headers["webhook-timestamp"] == str(NOW)


def test_verify_spec_vector() -> None:
    verify_standard_webhook(
        secrets=VECTOR_SECRET,
        headers={
            "webhook-id": VECTOR_ID,
            "webhook-timestamp": str(VECTOR_TIMESTAMP),
            "webhook-signature": VECTOR_SIGNATURE,
        },
        body=VECTOR_BODY,
        now=VECTOR_TIMESTAMP + 10,
    )


def test_round_trip_and_header_names_are_case_insensitive() -> None:
    secret = generate_webhook_secret()
    body = b'{"a": 1}'
    headers = standard_webhook_headers(secret=secret, message_id="msg_2", body=body, timestamp=NOW)
    verify_standard_webhook(secrets=secret, headers=headers, body=body, now=NOW)

    title_case = {name.title(): value for name, value in headers.items()}
    verify_standard_webhook(secrets=[secret], headers=title_case, body=body, now=NOW)


def test_secret_without_prefix_is_accepted() -> None:
    secret = generate_webhook_secret()
    headers = standard_webhook_headers(secret=secret, message_id="m", body=b"x", timestamp=NOW)
    verify_standard_webhook(secrets=secret.removeprefix("whsec_"), headers=headers, body=b"x", now=NOW)


def test_rotation_any_secret_and_any_signature_entry() -> None:
    old, new = generate_webhook_secret(), generate_webhook_secret()
    body = b"payload"
    signed_old = standard_webhook_headers(secret=old, message_id="m", body=body, timestamp=NOW)
    signed_new = standard_webhook_headers(secret=new, message_id="m", body=body, timestamp=NOW)

    # Receiver knows both secrets (rotation on the receiving side).
    verify_standard_webhook(secrets=[new, old], headers=signed_old, body=body, now=NOW)

    # Sender signs with several secrets; unknown versions and junk are skipped.
    headers = dict(signed_new)
    headers["webhook-signature"] = " ".join(
        ["v1a,c29tZXRoaW5nIGVsc2U=", "garbage", "v1,AAAA", signed_old["webhook-signature"]]
    )
    verify_standard_webhook(secrets=old, headers=headers, body=body, now=NOW)


def _signed(body: bytes = b'{"ok":true}', timestamp: int = NOW) -> tuple[str, dict[str, str]]:
    secret = generate_webhook_secret()
    return secret, standard_webhook_headers(secret=secret, message_id="msg_x", body=body, timestamp=timestamp)


def test_tampered_body_fails() -> None:
    secret, headers = _signed()
    with pytest.raises(SignatureError, match="no matching"):
        verify_standard_webhook(secrets=secret, headers=headers, body=b'{"ok":false}', now=NOW)


def test_tampered_id_or_timestamp_fails() -> None:
    secret, headers = _signed()
    with pytest.raises(SignatureError):
        verify_standard_webhook(
            secrets=secret, headers={**headers, "webhook-id": "msg_y"}, body=b'{"ok":true}', now=NOW
        )
    with pytest.raises(SignatureError):
        verify_standard_webhook(
            secrets=secret, headers={**headers, "webhook-timestamp": str(NOW + 1)}, body=b'{"ok":true}', now=NOW
        )


def test_wrong_secret_fails() -> None:
    _secret, headers = _signed()
    with pytest.raises(SignatureError, match="no matching"):
        verify_standard_webhook(secrets=generate_webhook_secret(), headers=headers, body=b'{"ok":true}', now=NOW)


def test_expired_and_future_timestamps_fail() -> None:
    secret, headers = _signed(timestamp=NOW)
    body = b'{"ok":true}'
    verify_standard_webhook(secrets=secret, headers=headers, body=body, now=NOW + 300)  # edge: still valid
    with pytest.raises(SignatureError, match="too old"):
        verify_standard_webhook(secrets=secret, headers=headers, body=body, now=NOW + 301)
    with pytest.raises(SignatureError, match="future"):
        verify_standard_webhook(secrets=secret, headers=headers, body=body, now=NOW - 301)
    with pytest.raises(SignatureError, match="too old"):
        verify_standard_webhook(secrets=secret, headers=headers, body=body, now=NOW + 61, tolerance_seconds=60)


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-id": ""},
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": " 1700000000"},
        {"webhook-timestamp": "+1700000000"},
        {"webhook-timestamp": "1700000000.5"},
        {"webhook-signature": ""},
        {"webhook-signature": "v1,"},
        {"webhook-signature": "v1,ünïcödé"},
    ],
)
def test_malformed_headers_fail(change: dict[str, str]) -> None:
    secret, headers = _signed()
    with pytest.raises(SignatureError):
        verify_standard_webhook(secrets=secret, headers={**headers, **change}, body=b'{"ok":true}', now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails(missing: str) -> None:
    secret, headers = _signed()
    del headers[missing]
    with pytest.raises(SignatureError, match="missing"):
        verify_standard_webhook(secrets=secret, headers=headers, body=b'{"ok":true}', now=NOW)


def test_malformed_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        standard_webhook_headers(secret="whsec_not base64!", message_id="m", body=b"")
    _secret, headers = _signed()
    with pytest.raises(ValueError):
        verify_standard_webhook(secrets="whsec_%%%", headers=headers, body=b"", now=NOW)
    with pytest.raises(ValueError):
        verify_standard_webhook(secrets=[], headers=headers, body=b"", now=NOW)


# --------------------------------------------------------------------------
# Ed25519 JWS


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _craft(header: dict[str, Any], payload: bytes, private_pem: str) -> str:
    """Sign an arbitrary header/payload with Ed25519, bypassing jws_sign."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(payload)
    return signing_input + "." + _b64url(key.sign(signing_input.encode()))


@pytest.fixture(scope="module")
def private_pem() -> str:
    return generate_ed25519_private_key_pem()


@pytest.fixture(scope="module")
def jwks(private_pem: str) -> dict[str, Any]:
    return {"keys": [public_jwk(generate_ed25519_private_key_pem(), "other"), public_jwk(private_pem, "k1")]}


def test_generated_key_is_ed25519_pkcs8_pem(private_pem: str) -> None:
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert generate_ed25519_private_key_pem() != private_pem


def test_public_jwk_has_only_public_members(private_pem: str) -> None:
    jwk = public_jwk(private_pem, "k1")
    assert set(jwk) == {"kid", "kty", "crv", "x"}
    assert jwk["kid"] == "k1" and jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert _b64url_decode(jwk["x"]) == raw_public

    # The same JWK comes out of the public PEM.
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_jwk(public_pem.decode(), "k1") == jwk


def test_public_jwk_refuses_non_ed25519() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(ValueError):
        public_jwk(ec_pem, "k")
    with pytest.raises(ValueError):
        public_jwk("not a pem", "k")


def test_sign_verify_round_trip(private_pem: str, jwks: dict[str, Any]) -> None:
    payload = {"order": "ord_1", "amount": 1299, "items": [1, 2], "note": "café"}
    token = jws_sign(payload, private_key_pem=private_pem, kid="k1", typ="fulfillment+jws")

    assert jws_unverified_header(token) == {"alg": "EdDSA", "kid": "k1", "typ": "fulfillment+jws"}
    assert jws_verify(token, jwks=jwks) == payload


def test_header_without_typ(private_pem: str, jwks: dict[str, Any]) -> None:
    token = jws_sign({"a": 1}, private_key_pem=private_pem, kid="k1")
    assert jws_unverified_header(token) == {"alg": "EdDSA", "kid": "k1"}
    assert jws_verify(token, jwks=jwks) == {"a": 1}


def test_signature_verifies_with_cryptography_directly(private_pem: str, jwks: dict[str, Any]) -> None:
    """Independent check: RFC 7515/8037 say the signature is Ed25519 over
    ASCII(header_b64 "." payload_b64) under the key whose x is in the JWKS."""
    payload = {"hello": "world"}
    token = jws_sign(payload, private_key_pem=private_pem, kid="k1")
    header_b64, payload_b64, signature_b64 = token.split(".")

    (jwk,) = [k for k in jwks["keys"] if k["kid"] == "k1"]
    public_key = Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"]))
    public_key.verify(_b64url_decode(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii"))

    assert json.loads(_b64url_decode(header_b64)) == {"alg": "EdDSA", "kid": "k1"}
    assert json.loads(_b64url_decode(payload_b64)) == payload
    # And it really is specific to the signing input.
    with pytest.raises(InvalidSignature):
        public_key.verify(_b64url_decode(signature_b64), f"{header_b64}.{payload_b64}x".encode("ascii"))


def test_token_crafted_independently_verifies(private_pem: str, jwks: dict[str, Any]) -> None:
    token = _craft({"alg": "EdDSA", "kid": "k1"}, b'{"from":"elsewhere"}', private_pem)
    assert jws_verify(token, jwks=jwks) == {"from": "elsewhere"}


def test_tampered_payload_fails(private_pem: str, jwks: dict[str, Any]) -> None:
    token = jws_sign({"amount": 100}, private_key_pem=private_pem, kid="k1")
    header_b64, _payload_b64, signature_b64 = token.split(".")
    forged_payload = _b64url(b'{"amount":1}')
    forged = f"{header_b64}.{forged_payload}.{signature_b64}"
    with pytest.raises(SignatureError):
        jws_verify(forged, jwks=jwks)


def test_tampered_signature_fails(private_pem: str, jwks: dict[str, Any]) -> None:
    token = jws_sign({"amount": 100}, private_key_pem=private_pem, kid="k1")
    header_b64, payload_b64, signature_b64 = token.split(".")
    signature = bytearray(_b64url_decode(signature_b64))
    signature[0] ^= 1
    with pytest.raises(SignatureError):
        jws_verify(f"{header_b64}.{payload_b64}.{_b64url(bytes(signature))}", jwks=jwks)


def test_tampered_header_fails(private_pem: str, jwks: dict[str, Any]) -> None:
    token = jws_sign({"a": 1}, private_key_pem=private_pem, kid="k1", typ="a")
    _header_b64, payload_b64, signature_b64 = token.split(".")
    new_header = _b64url(json.dumps({"alg": "EdDSA", "kid": "k1", "typ": "b"}).encode())
    with pytest.raises(SignatureError):
        jws_verify(f"{new_header}.{payload_b64}.{signature_b64}", jwks=jwks)


def test_unknown_kid_fails(private_pem: str, jwks: dict[str, Any]) -> None:
    token = jws_sign({"a": 1}, private_key_pem=private_pem, kid="nope")
    with pytest.raises(SignatureError, match="unknown kid"):
        jws_verify(token, jwks=jwks)


def test_kid_of_another_key_fails(private_pem: str, jwks: dict[str, Any]) -> None:
    # Signed by k1's key but claiming to be "other": the other key must not verify it.
    token = jws_sign({"a": 1}, private_key_pem=private_pem, kid="other")
    with pytest.raises(SignatureError):
        jws_verify(token, jwks=jwks)


def test_missing_kid_fails(private_pem: str, jwks: dict[str, Any]) -> None:
    token = _craft({"alg": "EdDSA"}, b"{}", private_pem)
    with pytest.raises(SignatureError, match="kid"):
        jws_verify(token, jwks=jwks)


def test_hs256_with_public_key_as_secret_is_refused(private_pem: str, jwks: dict[str, Any]) -> None:
    # Classic algorithm confusion: HMAC keyed with the (public) x value.
    header_b64 = _b64url(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    payload_b64 = _b64url(b'{"admin":true}')
    x = public_jwk(private_pem, "k1")["x"]
    for secret in (x.encode(), _b64url_decode(x)):
        mac = hmac.new(secret, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
        with pytest.raises(SignatureError, match="not allowed"):
            jws_verify(f"{header_b64}.{payload_b64}.{_b64url(mac)}", jwks=jwks)


@pytest.mark.parametrize("alg", ["none", "ES256", "RS256", "eddsa", "Ed25519", None])
def test_other_algs_are_refused(alg: str | None, private_pem: str, jwks: dict[str, Any]) -> None:
    header: dict[str, Any] = {"kid": "k1"}
    if alg is not None:
        header["alg"] = alg
    token = _craft(header, b'{"a":1}', private_pem)  # a valid Ed25519 signature, wrong label
    with pytest.raises(SignatureError, match="not allowed"):
        jws_verify(token, jwks=jwks)
    unsigned = ".".join(token.split(".")[:2]) + "."
    with pytest.raises(SignatureError):
        jws_verify(unsigned, jwks=jwks)


def test_crit_and_b64_headers_are_refused(private_pem: str, jwks: dict[str, Any]) -> None:
    for extra in ({"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]}):
        token = _craft({"alg": "EdDSA", "kid": "k1", **extra}, b'{"a":1}', private_pem)
        with pytest.raises(SignatureError):
            jws_verify(token, jwks=jwks)


def test_non_object_payload_fails(private_pem: str, jwks: dict[str, Any]) -> None:
    for payload in (b"[1,2]", b'"text"', b"not json"):
        token = _craft({"alg": "EdDSA", "kid": "k1"}, payload, private_pem)
        with pytest.raises(SignatureError, match="payload"):
            jws_verify(token, jwks=jwks)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.AAAA",
        _b64url(b"not json") + ".e30.AAAA",
        _b64url(b"[1]") + ".e30.AAAA",
    ],
)
def test_malformed_tokens_fail(token: str, jwks: dict[str, Any]) -> None:
    with pytest.raises(SignatureError):
        jws_verify(token, jwks=jwks)


def test_unverified_header_on_malformed_token() -> None:
    with pytest.raises(SignatureError):
        jws_unverified_header("only.two")


@pytest.mark.parametrize(
    "bad_jwks",
    [
        {},
        {"keys": "nope"},
        {"keys": [{"kid": "k1", "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]},
        {"keys": [{"kid": "k1", "kty": "OKP", "crv": "Ed448", "x": "AAAA"}]},
        {"keys": [{"kid": "k1", "kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]},
        {"keys": [{"kid": "k1", "kty": "OKP", "crv": "Ed25519"}]},
    ],
)
def test_unusable_jwks_fail(bad_jwks: dict[str, Any], private_pem: str) -> None:
    token = jws_sign({"a": 1}, private_key_pem=private_pem, kid="k1")
    with pytest.raises(SignatureError):
        jws_verify(token, jwks=bad_jwks)


def test_private_member_in_jwks_is_ignored(private_pem: str) -> None:
    # A JWKS that wrongly carries "d" still verifies; only "x" is used.
    jwk = {**public_jwk(private_pem, "k1"), "d": _b64url(b"\x00" * 32)}
    token = jws_sign({"a": 1}, private_key_pem=private_pem, kid="k1")
    assert jws_verify(token, jwks={"keys": [jwk]}) == {"a": 1}


def test_sign_needs_private_key(private_pem: str) -> None:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError):
        jws_sign({"a": 1}, private_key_pem=public_pem.decode(), kid="k1")


def test_large_payloads_round_trip_up_to_the_limit(private_pem: str, jwks: dict[str, Any]) -> None:
    # joserfc's default registry would refuse anything over 8000 base64 chars.
    payload = {"blob": "x" * (MAX_JWS_PAYLOAD_BYTES - 20)}
    token = jws_sign(payload, private_key_pem=private_pem, kid="k1")
    assert jws_verify(token, jwks=jwks) == payload

    with pytest.raises(ValueError):
        jws_sign({"blob": "x" * MAX_JWS_PAYLOAD_BYTES}, private_key_pem=private_pem, kid="k1")
