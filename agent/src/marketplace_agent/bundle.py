"""Offline verification and installation of a marketplace bundle (a zip)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from marketplace_agent import jose

MANIFEST_TYP = "manifest+jwt"
LICENSE_TYP = "license+jwt"
REVOCATIONS_TYP = "revocations+jwt"


@dataclass
class Verification:
    """What was checked; `ok` only when every check passed."""

    manifest: bool = False
    license: bool = False
    checksums: bool = False
    not_revoked: bool = False
    problems: list[str] = field(default_factory=list)
    manifest_claims: dict[str, Any] = field(default_factory=dict)
    license_claims: dict[str, Any] = field(default_factory=dict)
    enrollment: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.manifest and self.license and self.checksums and self.not_revoked

    def results(self) -> dict[str, bool]:
        return {
            "manifest": self.manifest,
            "license": self.license,
            "checksums": self.checksums,
            "not_revoked": self.not_revoked,
        }


def newest_revocations(tokens: list[str], jwks: dict[str, Any]) -> tuple[int, set[str]]:
    """The verified revocation list with the largest `iat` among `tokens` (others are ignored)."""
    best: tuple[int, set[str]] = (-1, set())
    for token in tokens:
        try:
            payload = jose.verify(token, jwks, typ=REVOCATIONS_TYP)
        except jose.VerificationError:
            continue
        iat = int(payload.get("iat", 0))
        if iat > best[0]:
            best = (iat, {str(item) for item in payload.get("revoked", [])})
    return best


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def verify_bundle(
    path: Path,
    *,
    jwks: dict[str, Any],
    revocation_tokens: list[str],
    site: str | None = None,
    now: float | None = None,
) -> Verification:
    """Check the manifest's signature, every file's SHA-256 and size against it, the license's
    signature, validity and site, and that the license is not revoked (newest list wins)."""
    result = Verification()
    now = now or time.time()
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if not all(_safe_member(name) for name in names):
            result.problems.append("the bundle contains unsafe paths")
            return result
        try:
            manifest = jose.verify(archive.read("manifest.jws").decode(), jwks, typ=MANIFEST_TYP)
            result.manifest, result.manifest_claims = True, manifest
        except (KeyError, jose.VerificationError, UnicodeDecodeError) as exc:
            result.problems.append(f"manifest: {exc}")
            return result
        mismatches = []
        for entry in manifest.get("files", []):
            name = str(entry.get("path"))
            if name not in names:
                mismatches.append(f"{name} is missing")
                continue
            digest, size = hashlib.sha256(), 0
            with archive.open(name) as handle:
                for chunk in iter(lambda h=handle: h.read(1024 * 1024), b""):
                    digest.update(chunk)
                    size += len(chunk)
            if digest.hexdigest() != entry.get("sha256") or size != entry.get("size"):
                mismatches.append(f"{name} does not match the manifest")
        unlisted = (
            names
            - {str(e.get("path")) for e in manifest.get("files", [])}
            - {"manifest.jws", "revocations.jws", "jwks.json"}
        )
        if unlisted:
            mismatches.append(f"files not in the manifest: {', '.join(sorted(unlisted))}")
        result.checksums = not mismatches
        result.problems.extend(mismatches)
        try:
            claims = jose.verify(archive.read("license.jwt").decode().strip(), jwks, typ=LICENSE_TYP)
            problems = []
            if not claims.get("nbf", 0) <= now < claims.get("exp", 0):
                problems.append("the license is not valid now")
            if site and claims.get("site") and claims.get("site") != site:
                problems.append("the license is for another site")
            if claims.get("site") and claims.get("site") != manifest.get("site"):
                problems.append("the license and the manifest name different sites")
            result.license_claims = claims
            result.license = not problems
            result.problems.extend(problems)
        except (KeyError, jose.VerificationError, UnicodeDecodeError) as exc:
            result.problems.append(f"license: {exc}")
        tokens = list(revocation_tokens)
        if "revocations.jws" in names:
            tokens.append(archive.read("revocations.jws").decode())
        _iat, revoked = newest_revocations(tokens, jwks)
        jti = str(result.license_claims.get("jti", ""))
        result.not_revoked = bool(jti) and jti not in revoked
        if jti and jti in revoked:
            result.problems.append(f"license {jti} is revoked")
        if "enrollment.json" in names:
            try:
                result.enrollment = json.loads(archive.read("enrollment.json"))
            except ValueError:
                result.problems.append("enrollment.json is not JSON")
    return result


def install_bundle(path: Path, verification: Verification, install_dir: Path) -> Path:
    """Unpack the verified artifacts to <install_dir>/<listing>/<version>/ (replacing an earlier
    copy of the same version) with the license beside them. Returns the folder."""
    if not verification.ok:
        raise jose.VerificationError("refusing to install a bundle that did not verify")
    claims = verification.manifest_claims
    target = install_dir / str(claims["listing"]) / str(claims["version"])
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with zipfile.ZipFile(path) as archive:
        for entry in claims.get("files", []):
            name = str(entry["path"])
            if name.startswith("artifacts/") or name == "license.jwt":
                destination = staging / PurePosixPath(name).name
                with archive.open(name) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
    (staging / "bundle.json").write_text(
        json.dumps(
            {
                "bundle": claims["bundle"],
                "deployment": claims["deployment"],
                "license": verification.license_claims.get("jti"),
            },
            indent=2,
        )
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
