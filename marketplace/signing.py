"""Signing helpers.

Two schemes are used by the platform:

* Standard Webhooks (https://www.standardwebhooks.com) HMAC-SHA256 signatures
  for webhooks, so receivers can use any off-the-shelf verifier;
* Ed25519 compact JWS (RFC 7515 + RFC 8037, ``alg: EdDSA``) for signed
  documents whose public keys are published as a JWKS.

Verification failures raise :class:`SignatureError`; misuse by our own code
(a malformed secret or key passed in) raises ``ValueError`` so that
configuration bugs are loud instead of looking like a forged request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets as _secrets
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

__all__ = [
    "JWS_ALG",
    "MAX_JWS_PAYLOAD_BYTES",
    "SignatureError",
    "generate_ed25519_private_key_pem",
    "generate_webhook_secret",
    "jws_sign",
    "jws_unverified_header",
    "jws_unverified_payload",
    "jws_verify",
    "public_jwk",
    "standard_webhook_headers",
    "verify_standard_webhook",
]


class SignatureError(Exception):
    """A signature or signed message is invalid: bad signature, expired
    timestamp, unknown key id, disallowed algorithm or malformed input."""


# --------------------------------------------------------------------------
# Standard Webhooks

WEBHOOK_SECRET_PREFIX = "whsec_"
# Decimal seconds only; int() alone would also accept " 12", "+12" or "1_2".
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")


def generate_webhook_secret() -> str:
    """Return a new secret: "whsec_" + base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def _webhook_key(secret: str) -> bytes:
    raw = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _webhook_signature(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def standard_webhook_headers(
    *,
    secret: str,
    message_id: str,
    body: bytes,
    timestamp: int | None = None,
    also_signed_by: tuple[str, ...] = (),
) -> dict[str, str]:
    """Return the ``webhook-id``, ``webhook-timestamp`` (unix seconds, now by
    default) and ``webhook-signature`` ("v1,<base64 HMAC-SHA256>") headers
    for ``body``. ``also_signed_by`` adds a signature per extra secret
    (space-separated, as the spec allows), so a receiver that still has the
    previous secret during a rotation keeps verifying. Raises ValueError for a
    malformed secret."""
    if timestamp is None:
        timestamp = int(time.time())
    ts = str(int(timestamp))
    signatures = [
        "v1," + _webhook_signature(_webhook_key(one), message_id, ts, body) for one in (secret, *also_signed_by)
    ]
    return {"webhook-id": message_id, "webhook-timestamp": ts, "webhook-signature": " ".join(signatures)}


def verify_standard_webhook(
    *,
    secrets: list[str] | str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_seconds: int = 300,
    now: int | None = None,
) -> None:
    """Return None if ``body`` carries a valid Standard Webhooks signature by
    any of ``secrets`` (several are accepted for key rotation) and a timestamp
    within ``tolerance_seconds`` of ``now`` in either direction.

    Header names are matched case-insensitively. Raises SignatureError on
    missing/malformed headers, an out-of-tolerance timestamp or no matching
    ``v1`` signature; ValueError for a malformed secret.
    """
    secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
    if not secret_list:
        raise ValueError("at least one secret is required")
    keys = [_webhook_key(secret) for secret in secret_list]

    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signature_header = lowered.get("webhook-signature")
    if not message_id or not timestamp or not signature_header:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise SignatureError("malformed webhook-timestamp")

    # The timestamp is checked before the HMAC so a replayed (old but
    # correctly signed) message is refused.
    current = int(time.time()) if now is None else now
    sent_at = int(timestamp)
    if sent_at < current - tolerance_seconds:
        raise SignatureError("webhook timestamp is too old")
    if sent_at > current + tolerance_seconds:
        raise SignatureError("webhook timestamp is too far in the future")

    # Sign with the timestamp string exactly as received: that is what the
    # sender signed.
    expected = [_webhook_signature(key, message_id, timestamp, body).encode("ascii") for key in keys]
    for entry in signature_header.split(" "):
        version, _, candidate = entry.partition(",")
        # Other versions (e.g. "v1a" asymmetric) are skipped, not rejected,
        # as the spec allows senders to send several.
        if version != "v1" or not candidate:
            continue
        candidate_bytes = candidate.encode("utf-8")
        if any(hmac.compare_digest(candidate_bytes, want) for want in expected):
            return
    raise SignatureError("no matching webhook signature")


# --------------------------------------------------------------------------
# Ed25519 compact JWS

JWS_ALG = "EdDSA"
#: Largest JSON payload (in bytes) jws_sign/jws_verify accept. joserfc's
#: default registry stops at 8000 base64 characters, which is too small for
#: some documents; we set our own limit and apply it on both sides so that
#: everything we can sign we can also verify.
MAX_JWS_PAYLOAD_BYTES = 256 * 1024

# Only EdDSA is allowed: joserfc does not enable EdDSA by default (it is not
# in its "recommended" list), and an allow-list of one also rules out
# algorithm-confusion attacks ("none", HS256 keyed with the public key).
_JWS_REGISTRY = jws.JWSRegistry(algorithms=[JWS_ALG])
_JWS_REGISTRY.max_payload_length = (MAX_JWS_PAYLOAD_BYTES * 4) // 3 + 4


def generate_ed25519_private_key_pem() -> str:
    """Return a new Ed25519 private key as unencrypted PKCS#8 PEM."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


def _load_ed25519_pem(pem: str) -> OKPKey:
    try:
        key = OKPKey.import_key(pem)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("not an Ed25519 PEM key") from exc
    if key.curve_name != "Ed25519":
        raise ValueError(f"expected an Ed25519 key, got {key.curve_name}")
    return key


def public_jwk(private_or_public_pem: str, kid: str) -> dict[str, str]:
    """Return the public JWK {"kid", "kty": "OKP", "crv": "Ed25519", "x"} for
    a PEM key. Never includes the private part ("d")."""
    key = _load_ed25519_pem(private_or_public_pem)
    x = key.as_dict(private=False)["x"]
    return {"kid": kid, "kty": "OKP", "crv": "Ed25519", "x": x}


def jws_sign(payload: dict[str, Any], *, private_key_pem: str, kid: str, typ: str | None = None) -> str:
    """Return a compact JWS of ``payload`` (serialised as JSON) with the
    protected header {"alg": "EdDSA", "kid": kid[, "typ": typ]}."""
    key = _load_ed25519_pem(private_key_pem)
    if not key.is_private:
        raise ValueError("jws_sign needs a private key")
    header: dict[str, Any] = {"alg": JWS_ALG, "kid": kid}
    if typ is not None:
        header["typ"] = typ
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(data) > MAX_JWS_PAYLOAD_BYTES:
        raise ValueError(f"payload is larger than {MAX_JWS_PAYLOAD_BYTES} bytes")
    return jws.serialize_compact(header, data, key, registry=_JWS_REGISTRY)


def _b64url_decode(segment: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", segment):
        raise SignatureError("malformed JWS: not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("malformed JWS: not base64url") from exc


def jws_unverified_header(token: str) -> dict[str, Any]:
    """Return the protected header of a compact JWS WITHOUT verifying it.
    Only for routing (e.g. which kid); never trust its content. Raises
    SignatureError if the token is malformed."""
    if not isinstance(token, str):
        raise SignatureError("malformed JWS: not a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureError("malformed JWS: expected three segments")
    try:
        header = json.loads(_b64url_decode(parts[0]))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise SignatureError("malformed JWS: header is not JSON") from exc
    if not isinstance(header, dict):
        raise SignatureError("malformed JWS: header is not an object")
    return header


def jws_unverified_payload(token: str) -> dict[str, Any]:
    """Return the JSON payload of a compact JWS WITHOUT verifying it: only to find the key a
    self-signed document (an agent's receipt) says it is signed with, which is then verified."""
    jws_unverified_header(token)
    try:
        payload = json.loads(_b64url_decode(token.split(".")[1]))
    except ValueError as exc:
        raise SignatureError("malformed JWS: payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignatureError("malformed JWS: payload is not an object")
    return payload


def _find_jwk(jwks: Mapping[str, Any], kid: str) -> dict[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise SignatureError("JWKS has no 'keys' list")
    for jwk in keys:
        if isinstance(jwk, Mapping) and jwk.get("kid") == kid:
            return dict(jwk)
    raise SignatureError(f"unknown kid {kid!r}")


def jws_verify(token: str, *, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify a compact JWS against the key in ``jwks`` ({"keys": [...]})
    whose kid equals the header's kid, and return the JSON payload (an
    object). Raises SignatureError for a malformed token, an alg other than
    EdDSA, an unknown kid, an unusable key, a bad signature or a non-object
    payload."""
    header = jws_unverified_header(token)
    alg = header.get("alg")
    if alg != JWS_ALG:
        raise SignatureError(f"alg {alg!r} is not allowed")
    # We never produce these, and "crit"/"b64" change how the token must be
    # processed; refusing them keeps the accepted format exactly ours.
    if "crit" in header or "b64" in header:
        raise SignatureError("unsupported JWS header parameter (crit/b64)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SignatureError("JWS header has no kid")

    jwk = _find_jwk(jwks, kid)
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise SignatureError(f"key {kid!r} is not an Ed25519 public key")
    try:
        # Only the public coordinates are imported: a JWKS that wrongly
        # contains "d" must not turn into a signing key here.
        key = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]})
    except (JoseError, ValueError, TypeError) as exc:
        raise SignatureError(f"key {kid!r} is not a valid Ed25519 public key") from exc

    try:
        obj = jws.deserialize_compact(token, key, registry=_JWS_REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        reason = str(exc).strip().rstrip(":").replace("_", " ") or "bad signature"
        raise SignatureError(f"invalid JWS ({reason})") from exc

    try:
        payload = json.loads(obj.payload)
    except ValueError as exc:
        raise SignatureError("JWS payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignatureError("JWS payload is not a JSON object")
    return payload
