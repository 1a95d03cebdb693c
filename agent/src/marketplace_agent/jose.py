"""Just enough JOSE for the agent: verify and sign compact JWS with EdDSA over Ed25519
(RFC 7515, RFC 8037), with nothing but `cryptography`. Only EdDSA is accepted."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class VerificationError(Exception):
    """A signature, key or document is not what it must be."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, TypeError) as exc:
        raise VerificationError("malformed base64url") from exc


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    pieces = token.strip().split(".")
    if len(pieces) != 3:
        raise VerificationError("not a compact JWS")
    try:
        header = json.loads(b64url_decode(pieces[0]))
        payload = json.loads(b64url_decode(pieces[1]))
    except ValueError as exc:
        raise VerificationError("header or payload is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise VerificationError("header or payload is not an object")
    return header, payload, f"{pieces[0]}.{pieces[1]}".encode("ascii"), b64url_decode(pieces[2])


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise VerificationError("not an Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


def verify(token: str, jwks: dict[str, Any], *, typ: str | None = None) -> dict[str, Any]:
    """Verify `token` with the key of `jwks` its `kid` names; return the payload."""
    header, payload, signing_input, signature = _parts(token)
    if header.get("alg") != "EdDSA":
        raise VerificationError(f"algorithm {header.get('alg')!r} is not allowed")
    if "crit" in header or "b64" in header:
        raise VerificationError("unsupported JWS header")
    if typ is not None and header.get("typ") != typ:
        raise VerificationError(f"expected a {typ} document, got {header.get('typ')!r}")
    keys = {key.get("kid"): key for key in jwks.get("keys", []) if isinstance(key, dict)}
    if header.get("kid") not in keys:
        raise VerificationError(f"unknown signing key {header.get('kid')!r}")
    try:
        public_key_from_jwk(keys[header["kid"]]).verify(signature, signing_input)
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("bad signature") from exc
    return payload


def unverified_header(token: str) -> dict[str, Any]:
    return _parts(token)[0]


def new_private_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise VerificationError("the agent key is not Ed25519")
    return key


def public_jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def key_id(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of an OKP key."""
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def sign(payload: dict[str, Any], private_key: Ed25519PrivateKey, *, kid: str, typ: str) -> str:
    header = {"alg": "EdDSA", "kid": kid, "typ": typ}
    signing_input = (
        b64url_encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    )
    return signing_input + "." + b64url_encode(private_key.sign(signing_input.encode("ascii")))
