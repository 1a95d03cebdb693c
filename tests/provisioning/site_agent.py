"""On-premise helpers: a published listing whose on-premise offering the site agent installs (a
version with two artifacts), sites, trials brought to awaiting_agent through the real services,
and signing as the marketplace or as an air-gapped agent."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from apps.catalog import services as catalog
from apps.catalog.models import Listing, Offering
from apps.organizations.models import Organization, Site
from apps.procurement.models import Trial
from apps.provisioning.models import Bundle, Deployment
from apps.provisioning.services import deployment_advance
from marketplace.principal import Role
from tests.catalog.factories import upload, vendor_principal
from tests.factories import SiteFactory
from tests.procurement.factories import approve, request_trial, trial_listing

# The site agent's package (agent/src): imported from there, as it is not part of the marketplace.
AGENT_SRC = Path(__file__).resolve().parents[2] / "agent" / "src"
if str(AGENT_SRC) not in sys.path:
    sys.path.insert(0, str(AGENT_SRC))

VERSION = "2.1.0"
# The files the vendor ships with the version; the agent must install exactly these bytes.
ARTIFACTS: dict[str, bytes] = {
    "radiant-viewer_2.1.0_amd64.deb": b"!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n2.0\n"
    + bytes(range(256)) * 8,
    "viewer-settings.json": b'{"dicom_port": 11112, "ae_title": "RADIANT"}\n',
}


def onprem_listing(vendor: Organization, *, slug: str = "") -> Listing:
    """A published listing of `vendor` with one on-premise offering deployed by the site agent and
    one released version with ARTIFACTS (the same slug answers the same listing)."""
    listing = trial_listing(vendor, mode=Offering.Mode.ON_PREMISE, slug=slug or f"{vendor.slug}-onprem")
    Offering.objects.filter(listing=listing).update(provisioner="site_agent")
    if not listing.versions.exists():
        actor = vendor_principal(vendor, Role.ADMIN)
        version = catalog.version_create(listing=listing, actor=actor, data={"version": VERSION})
        for name, content in ARTIFACTS.items():
            catalog.artifact_add(version=version, actor=actor, kind="installer", upload=upload(name, content))
    listing.refresh_from_db()
    return listing


def site_of(provider: Organization, name: str = "St. Mary's Main Campus", **extra: Any) -> Site:
    return SiteFactory(organization=provider, name=name, **extra)


def run_worker(deployment: Deployment, *, until: tuple[str, ...] = ()) -> Deployment:
    """Advance a deployment as the worker would, until it waits or finishes."""
    until = until or (
        Deployment.Status.AWAITING_AGENT,
        Deployment.Status.ACTIVE,
        Deployment.Status.FAILED,
        Deployment.Status.DEPROVISIONED,
    )
    for _ in range(20):
        deployment.refresh_from_db()
        if deployment.status in until:
            return deployment
        deployment_advance(deployment_id=deployment.pk)
    raise AssertionError(f"the deployment is stuck in {deployment.status}")


def onprem_trial(provider: Organization, vendor: Organization, site: Site, *, listing: Listing | None = None) -> Trial:
    """An approved on-premise trial at `site` whose bundle is built: its deployment waits for the
    site agent (awaiting_agent)."""
    listing = listing or onprem_listing(vendor)
    trial = approve(request_trial(provider, listing, site=site))
    assert trial.deployment is not None
    deployment = run_worker(trial.deployment)
    assert deployment.status == Deployment.Status.AWAITING_AGENT, (deployment.status, deployment.failure_reason)
    return Trial.objects.select_related("deployment").get(pk=trial.pk)


def bundle_of(trial: Trial) -> Bundle:
    return Bundle.objects.select_related("deployment", "enrollment_token").get(deployment=trial.deployment)


# --- the agent's side ----------------------------------------------------------------------------


def bundle_file(bundle: Bundle, folder: Path) -> Path:
    """The bundle as a member would carry it: a file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / bundle.filename
    with bundle.file.open("rb") as stored:
        path.write_bytes(stored.read())
    return path


def offline_install(bundle: Bundle, folder: Path, *, path: Path | None = None, name: str = "pacs-gw-01") -> str:
    """Run the agent's `install-offline` on `bundle` (or the file at `path`) with the marketplace's
    JWKS, in-process; return the receipt it wrote."""
    from marketplace_agent import cli

    from apps.procurement.services.licenses import licensing_jwks

    path = path or bundle_file(bundle, folder)
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps(licensing_jwks()))
    receipt = folder / "receipt.jws"
    cli.main(
        [
            "--state-dir",
            str(folder / "agent-state"),
            "install-offline",
            str(path),
            "--jwks",
            str(jwks),
            "--install-dir",
            str(folder / "apps"),
            "--receipt",
            str(receipt),
            "--name",
            name,
        ]
    )
    return receipt.read_text()


def agent_key() -> Any:
    from marketplace_agent import jose

    return jose.load_private_key(jose.new_private_key_pem())


def signed_receipt(payload: dict[str, Any], *, key: Any = None, carried: Any = None, typ: str = "receipt+jwt") -> str:
    """A receipt signed with `key`, carrying the public key of `carried` (by default the same)."""
    from marketplace_agent import jose

    key = key or agent_key()
    public = jose.public_jwk(carried or key)
    return jose.sign({**payload, "public_key": public}, key, kid=jose.key_id(public), typ=typ)


def receipt_payload(bundle: Bundle, token: str, /, **overrides: Any) -> dict[str, Any]:
    """What the agent writes after a good offline installation of `bundle`."""
    payload = {
        "type": "installation_receipt",
        "iat": 1_800_000_000,
        "bundle": str(bundle.public_id),
        "deployment": str(bundle.deployment.public_id),
        "enrollment_token": token,
        "results": {"manifest": True, "license": True, "checksums": True, "not_revoked": True},
        "problems": [],
        "installed": True,
        "installed_at": "2027-01-15T10:00:00+00:00",
        "agent": {"name": "pacs-gw-01", "hostname": "pacs-gw-01.intra", "version": "1.0.0"},
    }
    payload.update(overrides)
    return payload
