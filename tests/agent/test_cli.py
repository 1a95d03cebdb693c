"""The agent's commands without a marketplace: one polling round against a fake marketplace (what
it installs, reports, removes, and does not fetch again), `verify`, and `install-offline` with the
signed receipt of an air-gapped site."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from marketplace_agent import cli, jose

from marketplace import signing
from tests.agent.bundles import ARTIFACTS, LISTING, SITE, VERSION, BundleParts, Signer, bundle_parts

SERVER = "https://marketplace.test"


class FakeMarketplace:
    """Answers the agent's calls from memory: bundles by id, a revocation list, reports."""

    def __init__(self, signer: Signer, folder: Path) -> None:
        self.signer = signer
        self.folder = folder
        self.bundles: dict[str, tuple[Path, dict[str, Any]]] = {}
        self.revoked: list[str] = []
        self.reports: list[tuple[str, str, str]] = []
        self.downloads: list[str] = []
        self.refuse_reports: set[str] = set()  # report kinds that do not get through

    def offer(self, parts: BundleParts, *, status: str = "awaiting_agent") -> str:
        path = parts.write(self.folder / f"{parts.bundle_id}.zip")
        digest = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
        self.bundles[parts.bundle_id] = (
            path,
            {
                "id": parts.bundle_id,
                "deployment": parts.manifest["deployment"],
                "deployment_status": status,
                "listing": LISTING,
                "version": VERSION,
                "sha256": digest,
                "manifest": parts.members["manifest.jws"].decode(),
                "download_url": f"/api/v1/agent/bundles/{parts.bundle_id}/download/",
            },
        )
        return parts.bundle_id

    def call(self, server: str, method: str, path: str, *, body: Any = None, credential: str = "", **_: Any) -> Any:
        assert server == SERVER and credential in ("", "mag_test")
        if path == "/api/v1/agent/heartbeat/":
            return {"revocations": self.signer.revocations(self.revoked), "bundles": len(self.bundles)}
        if path == "/api/v1/agent/bundles/":
            return [entry for _path, entry in self.bundles.values()]
        if path == "/api/v1/agent/reports/":
            if body["kind"] in self.refuse_reports:
                raise cli.AgentError(f"POST {path}: cannot reach {server}: timed out")
            self.reports.append((body["bundle"], body["kind"], body["reason"]))
            return {"bundle": body["bundle"], "kind": body["kind"]}
        if path == "/api/v1/licensing/public-key/":
            return self.signer.jwks()
        raise AssertionError(f"unexpected call {method} {path}")

    def download(self, server: str, path: str, credential: str, target: Path, expected_sha256: str) -> None:
        bundle_id = path.split("/")[-3]
        self.downloads.append(bundle_id)
        shutil.copyfile(self.bundles[bundle_id][0], target)

    def kinds(self, bundle_id: str) -> list[str]:
        return [kind for bundle, kind, _reason in self.reports if bundle == bundle_id]


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def market(signer: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMarketplace:
    (tmp_path / "served").mkdir()
    fake = FakeMarketplace(signer, tmp_path / "served")
    monkeypatch.setattr(cli, "_call", fake.call)
    monkeypatch.setattr(cli, "_download", fake.download)
    return fake


@pytest.fixture
def state(tmp_path: Path, signer: Signer) -> cli.State:
    state = cli.State(tmp_path / "state")
    state.data.update(
        {"server": SERVER, "credential": "mag_test", "site": SITE, "jwks": signer.jwks(), "installed": {}}
    )
    state.save()
    return state


def test_a_round_downloads_verifies_installs_and_reports(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    bundle_id = market.offer(bundle_parts(signer))
    counts = cli.run_once(state, tmp_path / "apps")
    assert counts == {"installed": 1, "failed": 0, "removed": 0}
    assert market.kinds(bundle_id) == ["downloaded", "verified", "installed"]
    target = tmp_path / "apps" / LISTING / VERSION
    for name, data in ARTIFACTS.items():
        assert (target / name.split("/")[-1]).read_bytes() == data
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    assert saved["installed"][bundle_id]["path"] == str(target)
    assert saved["installed"][bundle_id]["reported"] is True
    assert not list((tmp_path / "state" / "bundles").iterdir()), "the downloaded zip is removed"
    # The next round has nothing to do.
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 0, "failed": 0, "removed": 0}
    assert market.downloads == [bundle_id]


def test_a_bundle_no_longer_listed_is_removed(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    bundle_id = market.offer(bundle_parts(signer))
    cli.run_once(state, tmp_path / "apps")
    del market.bundles[bundle_id]
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 0, "failed": 0, "removed": 1}
    assert not (tmp_path / "apps" / LISTING / VERSION).exists()
    assert state.data["installed"] == {}


def test_a_revoked_license_removes_the_installation_and_is_not_fetched_again(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    parts = bundle_parts(signer)
    bundle_id = market.offer(parts, status="active")
    cli.run_once(state, tmp_path / "apps")
    market.revoked = [parts.license["jti"]]
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 0, "failed": 0, "removed": 1}
    assert not (tmp_path / "apps" / LISTING / VERSION).exists()
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 0, "failed": 0, "removed": 0}
    assert market.downloads == [bundle_id], "a bundle with a revoked license is not downloaded again"
    assert state.data["refused"] == {bundle_id: parts.license["jti"]}


def test_a_bundle_whose_license_is_already_revoked_is_refused_once(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    parts = bundle_parts(signer)
    bundle_id = market.offer(parts)
    market.revoked = [parts.license["jti"]]
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 0, "failed": 1, "removed": 0}
    assert market.kinds(bundle_id) == ["downloaded", "failed"]
    assert f"license {parts.license['jti']} is revoked" in market.reports[-1][2]
    cli.run_once(state, tmp_path / "apps")
    assert market.downloads == [bundle_id]
    # The refusal is forgotten when the marketplace stops listing the bundle.
    del market.bundles[bundle_id]
    cli.run_once(state, tmp_path / "apps")
    assert state.data["refused"] == {}


def test_a_bundle_that_does_not_verify_is_reported_failed_and_tried_again(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    parts = bundle_parts(signer)
    parts.members["artifacts/viewer-settings.json"] = b'{"dicom_port": 104}\n'
    bundle_id = market.offer(parts)
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 0, "failed": 1, "removed": 0}
    assert market.kinds(bundle_id) == ["downloaded", "failed"]
    assert "artifacts/viewer-settings.json does not match the manifest" in market.reports[-1][2]
    assert not (tmp_path / "apps").exists()
    cli.run_once(state, tmp_path / "apps")
    assert market.downloads == [bundle_id, bundle_id]


def test_an_installed_report_that_does_not_get_through_is_sent_again_not_turned_into_failed(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    bundle_id = market.offer(bundle_parts(signer))
    market.refuse_reports = {"installed"}
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 1, "failed": 0, "removed": 0}
    assert market.kinds(bundle_id) == ["downloaded", "verified"]
    assert state.data["installed"][bundle_id]["reported"] is False
    market.refuse_reports = set()
    cli.run_once(state, tmp_path / "apps")
    assert market.kinds(bundle_id) == ["downloaded", "verified", "installed"]
    assert market.downloads == [bundle_id]
    assert state.data["installed"][bundle_id]["reported"] is True


def test_a_suspended_deployment_is_not_installed_but_kept_when_installed(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    waiting = market.offer(bundle_parts(signer), status="suspended")
    assert cli.run_once(state, tmp_path / "apps")["installed"] == 0
    market.bundles[waiting][1]["deployment_status"] = "active"
    assert cli.run_once(state, tmp_path / "apps")["installed"] == 1
    market.bundles[waiting][1]["deployment_status"] = "suspended"
    assert cli.run_once(state, tmp_path / "apps") == {"installed": 0, "failed": 0, "removed": 0}
    assert (tmp_path / "apps" / LISTING / VERSION).is_dir()


def test_a_new_signing_key_is_fetched_when_a_bundle_names_it(
    market: FakeMarketplace, state: cli.State, signer: Signer, tmp_path: Path
) -> None:
    """After the marketplace rotates its key the agent fetches the JWKS again (and only then)."""
    rotated = Signer(kid="2027")
    market.signer = rotated
    bundle_id = market.offer(bundle_parts(rotated))
    assert cli.run_once(state, tmp_path / "apps")["installed"] == 1
    assert {key["kid"] for key in state.data["jwks"]["keys"]} == {"2027"}
    assert market.kinds(bundle_id)[-1] == "installed"


# --- the command line ----------------------------------------------------------------------------


def test_run_refuses_before_enrollment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--state-dir", str(tmp_path / "state"), "run", "--once", "--install-dir", str(tmp_path)])
    assert code == 2
    assert "Not enrolled" in capsys.readouterr().err


def test_enroll_needs_an_http_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--state-dir", str(tmp_path / "s"), "enroll", "--server", "ftp://x", "--token", "met_x"])
    assert code == 2
    assert "must be an http(s) address" in capsys.readouterr().err


def test_enroll_reports_an_unreachable_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["--state-dir", str(tmp_path / "s"), "enroll", "--server", "http://127.0.0.1:9", "--token", "met_x"]
    )
    assert code == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_verify_prints_the_checks(signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    good = bundle_parts(signer).write(tmp_path / "good.zip")
    assert cli.main(["--state-dir", str(tmp_path / "s"), "verify", str(good), "--jwks", str(jwks)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    parts = bundle_parts(signer)
    parts.members["artifacts/extra.bin"] = b"x"
    bad = parts.write(tmp_path / "bad.zip")
    assert cli.main(["--state-dir", str(tmp_path / "s"), "verify", str(bad), "--jwks", str(jwks)]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is False and answer["checksums"] is False


def test_verify_without_trusted_keys_is_an_error(
    signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = bundle_parts(signer).write(tmp_path / "b.zip")
    assert cli.main(["--state-dir", str(tmp_path / "s"), "verify", str(bundle)]) == 2
    assert "No trusted keys" in capsys.readouterr().err


def offline(tmp_path: Path, bundle: Path, signer: Signer, *extra: str) -> int:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    return cli.main(
        [
            "--state-dir",
            str(tmp_path / "agent-state"),
            "install-offline",
            str(bundle),
            "--jwks",
            str(jwks),
            "--install-dir",
            str(tmp_path / "apps"),
            "--receipt",
            str(tmp_path / "receipt.jws"),
            "--name",
            "pacs-gw-01",
            *extra,
        ]
    )


def receipt_of(tmp_path: Path) -> dict[str, Any]:
    """The receipt, verified the way the marketplace verifies it: with the key it carries."""
    token = (tmp_path / "receipt.jws").read_text()
    header = signing.jws_unverified_header(token)
    claimed = signing.jws_unverified_payload(token)["public_key"]
    assert header == {"alg": "EdDSA", "kid": jose.key_id(claimed), "typ": "receipt+jwt"}
    return signing.jws_verify(token, jwks={"keys": [{**claimed, "kid": header["kid"]}]})


def test_install_offline_installs_and_writes_a_signed_receipt(signer: Signer, tmp_path: Path) -> None:
    parts = bundle_parts(signer)
    assert offline(tmp_path, parts.write(tmp_path / "bundle.zip"), signer) == 0
    for name, data in ARTIFACTS.items():
        assert (tmp_path / "apps" / LISTING / VERSION / name.split("/")[-1]).read_bytes() == data
    receipt = receipt_of(tmp_path)
    assert receipt["type"] == "installation_receipt"
    assert receipt["bundle"] == parts.bundle_id
    assert receipt["deployment"] == parts.manifest["deployment"]
    assert receipt["enrollment_token"] == parts.token
    assert receipt["installed"] is True and receipt["installed_at"]
    assert receipt["results"] == {"manifest": True, "license": True, "checksums": True, "not_revoked": True}
    assert receipt["agent"]["name"] == "pacs-gw-01"
    assert set(receipt["public_key"]) == {"kty", "crv", "x"}
    # The agent's key stays private to it; the receipt is signed with it.
    key_file = tmp_path / "agent-state" / "agent-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "agent-state").stat().st_mode) == 0o700
    assert jose.public_jwk(jose.load_private_key(key_file.read_bytes())) == receipt["public_key"]


@pytest.mark.parametrize("as_json", [True, False])
def test_install_offline_applies_a_carried_in_revocation_list(signer: Signer, tmp_path: Path, as_json: bool) -> None:
    """The list saved from /api/v1/licensing/revocations/ (JSON) or just its token."""
    parts = bundle_parts(signer)
    token = signer.revocations([parts.license["jti"]])
    revocations = tmp_path / "revocations.json"
    revocations.write_text(json.dumps({"token": token, "revoked": [parts.license["jti"]]}) if as_json else token)
    bundle = parts.write(tmp_path / "bundle.zip")
    assert offline(tmp_path, bundle, signer, "--revocations", str(revocations)) == 1
    receipt = receipt_of(tmp_path)
    assert receipt["installed"] is False and receipt["installed_at"] is None
    assert receipt["results"]["not_revoked"] is False
    assert f"license {parts.license['jti']} is revoked" in receipt["problems"]
    assert not (tmp_path / "apps").exists()


def test_install_offline_of_a_tampered_bundle_writes_a_failed_receipt(signer: Signer, tmp_path: Path) -> None:
    parts = bundle_parts(signer)
    data = bytearray(parts.members["artifacts/radiant-viewer_2.1.0_amd64.deb"])
    data[0] ^= 0xFF
    parts.members["artifacts/radiant-viewer_2.1.0_amd64.deb"] = bytes(data)
    assert offline(tmp_path, parts.write(tmp_path / "bundle.zip"), signer) == 1
    receipt = receipt_of(tmp_path)
    assert receipt["installed"] is False
    assert receipt["results"]["checksums"] is False
    assert receipt["enrollment_token"] == parts.token
