"""End to end, on premise: a trial approved through the API, its bundle built by the step runner,
and the REAL site agent (a separate process, `python -m marketplace_agent`) enrolling against a
running server, downloading, verifying and installing it, then removing it when the trial ends
or its license is revoked. And the air-gapped path: a provider member carries the bundle, the
keys and the revocation list in, the agent installs offline and writes a receipt, the member
uploads it. Last, the agent package builds and runs on its own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from apps.organizations.models import Site
from apps.procurement.models import License, Trial
from apps.provisioning.models import AgentReport, Bundle, Deployment, SiteAgent
from tests.conftest import Party
from tests.procurement.factories import trial_payload
from tests.provisioning.site_agent import AGENT_SRC, ARTIFACTS, VERSION, onprem_listing, site_of

REPO = AGENT_SRC.parents[1]
transactional = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def agent(state: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the site agent as a hospital would: its own process, only its own package on the path
    (plus the interpreter's cryptography), started outside the repository."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    env["PYTHONPATH"] = str(AGENT_SRC)
    return subprocess.run(
        [sys.executable, "-m", "marketplace_agent", "--state-dir", str(state), *args],
        env=env,
        cwd=cwd or state.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def counts_of(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The counts `run --once` prints: `<time> {"installed": n, "failed": n, "removed": n}`."""
    assert result.returncode == 0, (result.stdout, result.stderr)
    line = result.stdout.strip().splitlines()[-1]
    return json.loads(line.split(" ", 1)[1])


def approved_trial(st_mary: Party, radiant: Party, site: Site) -> Trial:
    """A trial requested by a provider member and approved by a vendor member through the API; the
    step runner (eager tasks after commit) builds the bundle, then the deployment waits."""
    listing = onprem_listing(radiant.organization)
    requested = st_mary.api("member").post("/api/v1/trials/", trial_payload(listing, site=site), format="json")
    assert requested.status_code == 201, requested.content
    trial_id = requested.json()["id"]
    approved = radiant.api("member").post(f"/api/v1/trials/{trial_id}/approve/")
    assert approved.status_code == 200, approved.content
    trial = Trial.objects.select_related("deployment", "site").get(public_id=trial_id)
    assert trial.deployment is not None
    assert trial.deployment.status == Deployment.Status.AWAITING_AGENT, trial.deployment.failure_reason
    assert trial.deployment.backend == "site_agent"
    bundle = Bundle.objects.get(deployment=trial.deployment)
    assert Path(bundle.file.path).is_relative_to(Path(django_settings.MEDIA_ROOT))  # the test's own folder
    return trial


def enrollment_token(admin: APIClient, site: Site) -> str:
    created = admin.post(f"/api/v1/organizations/{site.organization.slug}/sites/{site.public_id}/enrollment-tokens/")
    assert created.status_code == 201, created.content
    return created.json()["token"]


def installed_folder(install_dir: Path, trial: Trial) -> Path:
    return install_dir / trial.listing.slug / VERSION


def assert_installed(folder: Path, trial: Trial) -> None:
    for name, content in ARTIFACTS.items():
        assert (folder / name).read_bytes() == content
    license = License.objects.get(trial=trial)
    assert (folder / "license.jwt").read_text() == license.token
    assert json.loads((folder / "bundle.json").read_text()) == {
        "bundle": str(Bundle.objects.get(deployment=trial.deployment).public_id),
        "deployment": str(trial.deployment.public_id),
        "license": str(license.public_id),
    }


def enroll_and_install(live_server: Any, st_mary: Party, trial: Trial, tmp_path: Path) -> tuple[Path, Path]:
    state, apps = tmp_path / "agent-state", tmp_path / "apps"
    state.mkdir()
    token = enrollment_token(st_mary.api("admin"), trial.site)
    enrolled = agent(state, "enroll", "--server", live_server.url, "--token", token, "--name", "pacs-gw-01")
    assert enrolled.returncode == 0, (enrolled.stdout, enrolled.stderr)
    site_agent = SiteAgent.objects.get(site=trial.site)
    assert f"Enrolled as agent {site_agent.public_id}" in enrolled.stdout
    assert site_agent.name == "pacs-gw-01" and site_agent.public_key is not None

    assert counts_of(agent(state, "run", "--once", "--install-dir", str(apps))) == {
        "installed": 1,
        "failed": 0,
        "removed": 0,
    }
    trial.refresh_from_db()
    trial.deployment.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.ACTIVE
    assert trial.status == Trial.Status.ACTIVE
    assert list(AgentReport.objects.filter(agent=site_agent).values_list("kind", flat=True)) == [
        "downloaded",
        "verified",
        "installed",
    ]
    assert_installed(installed_folder(apps, trial), trial)
    return state, apps


@transactional
def test_the_agent_installs_an_on_premise_trial_and_removes_it_when_the_trial_is_cancelled(
    live_server: Any, st_mary: Party, radiant: Party, tmp_path: Path
) -> None:
    trial = approved_trial(st_mary, radiant, site_of(st_mary.organization))
    state, apps = enroll_and_install(live_server, st_mary, trial, tmp_path)
    folder = installed_folder(apps, trial)

    # Nothing new: nothing downloaded again.
    assert counts_of(agent(state, "run", "--once", "--install-dir", str(apps))) == {
        "installed": 0,
        "failed": 0,
        "removed": 0,
    }
    assert AgentReport.objects.count() == 3

    cancelled = st_mary.api("member").post(
        f"/api/v1/trials/{trial.public_id}/cancel/", {"reason": "Evaluation finished."}, format="json"
    )
    assert cancelled.status_code == 200, cancelled.content
    trial.deployment.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.DEPROVISIONED
    assert folder.is_dir()
    assert counts_of(agent(state, "run", "--once", "--install-dir", str(apps))) == {
        "installed": 0,
        "failed": 0,
        "removed": 1,
    }
    assert not folder.exists()
    saved = json.loads((state / "state.json").read_text())
    assert saved["installed"] == {}
    # The agent keeps only its key, its state and no bundle lying around.
    assert sorted(path.name for path in state.iterdir()) == ["agent-key.pem", "bundles", "state.json"]
    assert list((state / "bundles").iterdir()) == []


@transactional
def test_a_revoked_license_makes_the_agent_remove_the_installation(
    live_server: Any, st_mary: Party, radiant: Party, operator_api: APIClient, tmp_path: Path
) -> None:
    trial = approved_trial(st_mary, radiant, site_of(st_mary.organization))
    state, apps = enroll_and_install(live_server, st_mary, trial, tmp_path)
    license = License.objects.get(trial=trial)
    revoked = operator_api.post(
        f"/api/v1/licenses/{license.public_id}/revoke/", {"reason": "Export control finding."}, format="json"
    )
    assert revoked.status_code == 200, revoked.content

    assert counts_of(agent(state, "run", "--once", "--install-dir", str(apps))) == {
        "installed": 0,
        "failed": 0,
        "removed": 1,
    }
    assert not installed_folder(apps, trial).exists()
    # It is not downloaded and refused again at every round.
    assert counts_of(agent(state, "run", "--once", "--install-dir", str(apps))) == {
        "installed": 0,
        "failed": 0,
        "removed": 0,
    }
    assert not installed_folder(apps, trial).exists()
    assert list(AgentReport.objects.values_list("kind", flat=True)) == ["downloaded", "verified", "installed"]


def bearer_token(live_server: Any, party: Party, role: str) -> str:
    """An OAuth2 client-credentials token of `party`'s API client with `role`, from the server."""
    client, secret = party.clients[role]
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    ).encode()
    with urllib.request.urlopen(f"{live_server.url}/o/token/", data=form, timeout=30) as response:
        return json.loads(response.read())["access_token"]


def fetch(live_server: Any, path: str, target: Path, *, token: str = "") -> dict[str, str]:
    """GET `path` from the server into `target` (as curl -o would); returns the headers."""
    request = urllib.request.Request(f"{live_server.url}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        target.write_bytes(response.read())
        return dict(response.headers.items())


@transactional
def test_an_air_gapped_site_installs_offline_and_the_member_uploads_the_receipt(
    live_server: Any, st_mary: Party, radiant: Party, tmp_path: Path
) -> None:
    site = site_of(st_mary.organization, "St. Mary's Radiotherapy Bunker", network_posture="air_gapped")
    trial = approved_trial(st_mary, radiant, site)
    bundle = Bundle.objects.get(deployment=trial.deployment)

    # On a connected machine: a provider member fetches what to carry in.
    carried = tmp_path / "usb-stick"
    carried.mkdir()
    token = bearer_token(live_server, st_mary, "member")
    headers = fetch(
        live_server, f"/api/v1/deployments/{trial.deployment.public_id}/bundle/", carried / "bundle.zip", token=token
    )
    assert headers["X-Checksum-SHA256"] == bundle.sha256
    assert hashlib.sha256((carried / "bundle.zip").read_bytes()).hexdigest() == bundle.sha256
    assert bundle.filename in headers["Content-Disposition"]
    fetch(live_server, "/api/v1/licensing/public-key/", carried / "jwks.json")
    fetch(live_server, "/api/v1/licensing/revocations/", carried / "revocations.json")

    # Inside the site: no server, only what was carried in.
    inside = tmp_path / "inside"
    inside.mkdir()
    installed = agent(
        inside / "agent-state",
        "install-offline",
        str(carried / "bundle.zip"),
        "--jwks",
        str(carried / "jwks.json"),
        "--revocations",
        str(carried / "revocations.json"),
        "--install-dir",
        str(inside / "apps"),
        "--receipt",
        str(carried / "receipt.jws"),
        "--name",
        "bunker-gw",
        cwd=inside,
    )
    assert installed.returncode == 0, (installed.stdout, installed.stderr)
    answer = json.loads(installed.stdout)
    assert answer["installed"] is True and answer["problems"] == []
    assert_installed(installed_folder(inside / "apps", trial), trial)
    assert trial.deployment.status == Deployment.Status.AWAITING_AGENT

    # Back on the connected machine: the member uploads the receipt.
    receipt = (carried / "receipt.jws").read_text()
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/agent/receipts/",
        data=json.dumps({"receipt": receipt}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        body = json.loads(response.read())
    assert body["deployment"] == str(trial.deployment.public_id)
    assert body["deployment_status"] == "active"
    trial.refresh_from_db()
    trial.deployment.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.ACTIVE
    assert trial.status == Trial.Status.ACTIVE
    site_agent = SiteAgent.objects.get(public_id=body["agent"])
    assert site_agent.air_gapped and site_agent.name == "bunker-gw" and site_agent.site == site
    assert AgentReport.objects.get().via_receipt is True


# --- the package on its own ----------------------------------------------------------------------


def test_the_agent_imports_nothing_of_the_marketplace(tmp_path: Path) -> None:
    """Only the standard library and cryptography: the marketplace's own packages never load."""
    script = (
        "import sys, marketplace_agent.cli, marketplace_agent.bundle, marketplace_agent.jose\n"
        "top = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(top & {'django', 'rest_framework', 'apps', 'marketplace', 'config', 'joserfc', 'requests'}))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env["PYTHONPATH"] = str(AGENT_SRC)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    version = agent(tmp_path / "state", "--version")
    assert version.returncode == 0 and version.stdout.strip() == "1.0.0"


def _wheel_support() -> str:
    """Why a wheel cannot be built without the network here, or '' when it can."""
    try:
        import setuptools
    except ImportError:
        return "setuptools is not installed in this environment"
    major_minor = tuple(int(part) for part in setuptools.__version__.split(".")[:2])
    if major_minor < (68, 0):
        return f"agent/pyproject.toml needs setuptools>=68; this environment has {setuptools.__version__}"
    if major_minor < (70, 1):
        try:
            import wheel  # noqa: F401
        except ImportError:
            return f"setuptools {setuptools.__version__} needs the 'wheel' package to build wheels"
    return ""


@pytest.mark.skipif(bool(_wheel_support()), reason=f"cannot build the agent's wheel offline: {_wheel_support()}")
def test_the_agent_package_builds_as_a_wheel_and_runs_from_it(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    source = tmp_path / "agent"
    shutil.copytree(REPO / "agent", source, ignore=shutil.ignore_patterns(".ruff_cache", "__pycache__", "build"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("marketplace_site_agent-1.0.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"marketplace_agent/cli.py", "marketplace_agent/bundle.py", "marketplace_agent/jose.py"} <= names
        metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
        assert "Requires-Dist: cryptography>=41" in archive.read(metadata).decode()
        entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
        assert "marketplace-agent = marketplace_agent.cli:main" in archive.read(entry_points).decode()
    target = tmp_path / "site-packages"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    version = subprocess.run(
        [sys.executable, "-m", "marketplace_agent", "--version"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert version.returncode == 0 and version.stdout.strip() == "1.0.0", version.stderr
