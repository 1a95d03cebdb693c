"""Bundles as the marketplace builds them (apps/provisioning/onprem.py), signed with a test key, so
the agent's verification can be tested without a server: build the members, change what a test
needs (a byte, a missing or extra file), then write the zip."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from marketplace_agent import jose

SITE = "6f1c2b9e-3d4a-4c1e-9b7a-2f8e5d4c3b2a"
OTHER_SITE = "0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
LISTING = "radiant-viewer"
VERSION = "2.1.0"
ARTIFACTS = {
    "artifacts/radiant-viewer_2.1.0_amd64.deb": b"!<arch>\n" + bytes(range(256)) * 4,
    "artifacts/viewer-settings.json": b'{"dicom_port": 11112}\n',
}


@dataclass
class Signer:
    """A signing key of the marketplace, as its JWKS publishes it."""

    kid: str = "test-key-1"
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def jwk(self) -> dict[str, str]:
        return {"kid": self.kid, **jose.public_jwk(self.key)}

    def jwks(self, *others: Signer) -> dict[str, Any]:
        return {"keys": [self.jwk, *(other.jwk for other in others)]}

    def sign(self, payload: dict[str, Any], typ: str) -> str:
        return jose.sign(payload, self.key, kid=self.kid, typ=typ)

    def revocations(self, revoked: list[str], *, iat: int | None = None) -> str:
        iat = int(time.time()) if iat is None else iat
        return self.sign({"iss": "https://marketplace.test", "iat": iat, "revoked": revoked}, "revocations+jwt")


def license_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "jti": str(uuid.uuid4()),
        "sub": "st-marys",
        "listing": LISTING,
        "offering": str(uuid.uuid4()),
        "site": SITE,
        "region": None,
        "seats": None,
        "features": ["trial"],
        "nbf": now - 60,
        "exp": now + 30 * 86400,
    }
    claims.update(overrides)
    return claims


@dataclass
class BundleParts:
    """The members of a bundle (name -> bytes, in zip order) and what they were made from."""

    members: dict[str, bytes]
    license: dict[str, Any]
    manifest: dict[str, Any]
    bundle_id: str
    token: str

    def write(self, path: Path) -> Path:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.members.items():
                archive.writestr(name, data)
        return path


def bundle_parts(
    signer: Signer,
    *,
    license: dict[str, Any] | None = None,
    license_signer: Signer | None = None,
    manifest: dict[str, Any] | None = None,
    artifacts: dict[str, bytes] | None = None,
    revoked_in_bundle: list[str] | None = None,
    revocations_iat: int | None = None,
) -> BundleParts:
    """A well-formed bundle's members signed by `signer` (the license by `license_signer`)."""
    bundle_id = str(uuid.uuid4())
    token = "met_" + uuid.uuid4().hex
    claims = license or license_claims()
    license_token = (license_signer or signer).sign(claims, "license+jwt")
    enrollment = {
        "server": "https://marketplace.test",
        "site": SITE,
        "deployment": str(uuid.uuid4()),
        "bundle": bundle_id,
        "token": token,
    }
    listed: dict[str, bytes] = {
        "license.jwt": license_token.encode(),
        "enrollment.json": json.dumps(enrollment, indent=2).encode(),
        **(ARTIFACTS if artifacts is None else artifacts),
    }
    payload = {
        "iss": "https://marketplace.test",
        "iat": int(time.time()),
        "bundle": bundle_id,
        "deployment": enrollment["deployment"],
        "provider": "st-marys",
        "site": SITE,
        "listing": LISTING,
        "version": VERSION,
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in listed.items()
        ],
    }
    payload.update(manifest or {})
    members = {
        "manifest.jws": signer.sign(payload, "manifest+jwt").encode(),
        "revocations.jws": signer.revocations(
            revoked_in_bundle or [],
            iat=revocations_iat if revocations_iat is not None else int(time.time()) - 3600,
        ).encode(),
        "jwks.json": json.dumps(signer.jwks()).encode(),
        **listed,
    }
    return BundleParts(members=members, license=claims, manifest=payload, bundle_id=bundle_id, token=token)


def with_payload(token: str, changes: dict[str, Any]) -> str:
    """`token` with its payload changed and its signature kept (a tampered document)."""
    header, payload, signature = token.split(".")
    claims = json.loads(jose.b64url_decode(payload))
    claims.update(changes)
    forged = jose.b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{forged}.{signature}"


def with_header(token: str, changes: dict[str, Any], *, signature: str | None = None) -> str:
    header, payload, original = token.split(".")
    values = json.loads(jose.b64url_decode(header))
    values.update(changes)
    values = {key: value for key, value in values.items() if value is not None}
    forged = jose.b64url_encode(json.dumps(values, separators=(",", ":")).encode())
    return f"{forged}.{payload}.{original if signature is None else signature}"
