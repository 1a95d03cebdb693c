"""On-premise delivery: installation bundles, enrollment tokens, and the site-agent backend.

A bundle is a zip with the version's artifacts, the signed license, a signed manifest (the
SHA-256 and size of every file, signed like a license), the signed revocation list, the JWKS and
`enrollment.json` (a one-time enrollment token for the site). It is stored through
django-storages. The deployment then waits in `awaiting_agent` until the site's agent reports it
installed (or an air-gapped site's receipt is uploaded).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
import uuid
import zipfile
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from apps.organizations.models import Site
from apps.provisioning.backends import PermanentProvisioningError, StepResult, StepSpec
from apps.provisioning.fulfillment import VendorFulfillmentBackend
from apps.provisioning.hooks import require
from apps.provisioning.models import Bundle, Deployment, EnrollmentToken
from marketplace.audit import audit_record
from marketplace.errors import Forbidden, NotFound
from marketplace.principal import Principal, Role
from marketplace.tenancy import party_side

MANIFEST_TYP = "manifest+jwt"
ENROLLMENT_TOKEN_DAYS = 30
# A deployment's bundle may be installed (and is handed out) while the deployment waits for the
# site agent, runs or is suspended; afterwards it is withdrawn.
BUNDLE_STATUSES = (Deployment.Status.AWAITING_AGENT, Deployment.Status.ACTIVE, Deployment.Status.SUSPENDED)
_CHUNK = 1024 * 1024


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def enrollment_token_create(
    *, site: Site, created_by: str, days: int = ENROLLMENT_TOKEN_DAYS
) -> tuple[EnrollmentToken, str]:
    """A new one-time token for `site`; returns the row and the token (never stored in clear)."""
    raw = "met_" + secrets.token_urlsafe(32)
    token = EnrollmentToken.objects.create(
        organization_id=site.organization_id,
        site=site,
        token_hash=token_hash(raw),
        hint=raw[:10],
        created_by=created_by[:200],
        expires_at=timezone.now() + timedelta(days=days),
    )
    return token, raw


def enrollment_token_issue(*, site: Site, actor: Principal) -> tuple[EnrollmentToken, str]:
    """A provider admin makes a one-time enrollment token for an agent at `site` (valid
    ENROLLMENT_TOKEN_DAYS, returned once, audited). Raises Forbidden for anyone but an admin of
    the site's organization, and (site_archived) for an archived site."""
    if actor.organization is None or actor.organization.pk != site.organization_id or not actor.has_role(Role.ADMIN):
        raise Forbidden("Organization admins create enrollment tokens.")
    if site.archived_at is not None:
        raise Forbidden("This site is archived.", code="site_archived")
    with transaction.atomic():
        token, raw = enrollment_token_create(site=site, created_by=actor.label)
        audit_record(
            actor=actor,
            action="provisioning.enrollment_token.created",
            target=token,
            organization=site.organization,
            new={"site": site.name, "hint": token.hint},
        )
    return token, raw


def _latest_version(deployment: Deployment) -> Any:
    version = (
        deployment.listing.versions.filter(artifacts__isnull=False)
        .distinct()
        .order_by("-released_on", "-created_at")
        .first()
    )
    if version is None:
        raise PermanentProvisioningError("The vendor has published no version with files to install.")
    return version


def _sha256_of(stored: Any) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with stored.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def bundle_build(deployment: Deployment) -> Bundle:
    """Build the bundle of an on-premise deployment for its current license. Idempotent: the
    newest bundle is returned while it carries that license; a new license (a converted trial, a
    renewal) gets a new bundle, which the site agent installs in place of the old one."""
    if not deployment.site_id:
        raise PermanentProvisioningError("An on-premise deployment needs a site.")
    license_token = require("license_for")(deployment)
    if not license_token:
        raise PermanentProvisioningError("No license was issued for this deployment.")
    existing = deployment.bundles.order_by("-created_at").first()
    if existing is not None and existing.license_sha256 in ("", hashlib.sha256(license_token.encode()).hexdigest()):
        return existing
    version = _latest_version(deployment)
    bundle_id = uuid.uuid4()
    enrollment, raw_token = enrollment_token_create(site=deployment.site, created_by="installation bundle")
    enrollment_doc = {
        "server": settings.MARKETPLACE_BASE_URL,
        "site": str(deployment.site.public_id),
        "deployment": str(deployment.public_id),
        "bundle": str(bundle_id),
        "token": raw_token,
        "expires_at": enrollment.expires_at.isoformat(),
    }
    members: list[tuple[str, bytes | Any]] = [
        ("license.jwt", license_token.encode()),
        ("enrollment.json", json.dumps(enrollment_doc, indent=2).encode()),
    ]
    files: list[dict[str, Any]] = []
    for name, data in members:
        files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    artifacts = list(version.artifacts.order_by("created_at", "id"))
    for artifact in artifacts:
        sha, size = _sha256_of(artifact.file)
        if sha != artifact.sha256:
            raise PermanentProvisioningError(f"The stored file {artifact.filename} does not match its checksum.")
        files.append({"path": f"artifacts/{artifact.filename}", "sha256": sha, "size": size})
    manifest_payload = {
        "iss": settings.MARKETPLACE_BASE_URL,
        "iat": int(timezone.now().timestamp()),
        "bundle": str(bundle_id),
        "deployment": str(deployment.public_id),
        "provider": deployment.provider.slug,
        "site": str(deployment.site.public_id),
        "listing": deployment.listing.slug,
        "version": version.version,
        "files": files,
    }
    manifest = require("sign")(manifest_payload, MANIFEST_TYP)
    revocations = require("revocations")()["token"]
    jwks = require("jwks")()
    with tempfile.TemporaryFile() as archive_file:
        with zipfile.ZipFile(archive_file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.jws", manifest)
            archive.writestr("revocations.jws", revocations)
            archive.writestr("jwks.json", json.dumps(jwks, indent=2))
            for name, data in members:
                archive.writestr(name, data)
            for artifact in artifacts:
                with artifact.file.open("rb") as source, archive.open(f"artifacts/{artifact.filename}", "w") as target:
                    for chunk in iter(lambda: source.read(_CHUNK), b""):
                        target.write(chunk)
        archive_file.seek(0)
        digest, size = hashlib.sha256(), 0
        for chunk in iter(lambda: archive_file.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        archive_file.seek(0)
        filename = f"{deployment.listing.slug}-{version.version}-{str(bundle_id)[:8]}.zip"
        with transaction.atomic():
            bundle = Bundle(
                public_id=bundle_id,
                deployment=deployment,
                provider=deployment.provider,
                vendor=deployment.vendor,
                site=deployment.site,
                version=version.version,
                filename=filename,
                size=size,
                sha256=digest.hexdigest(),
                manifest=manifest,
                license_sha256=hashlib.sha256(license_token.encode()).hexdigest(),
                enrollment_token=enrollment,
            )
            bundle.file.save(f"{deployment.public_id}/{filename}", File(archive_file), save=False)
            bundle.save()
    return bundle


def bundle_for_provider(*, deployment: Deployment, actor: Principal) -> Bundle:
    """The newest bundle of `deployment` for a provider member to carry into an air-gapped site;
    the download is audited. It holds the site's one-time enrollment token, so the vendor and
    read-only members get Forbidden; NotFound when there is none, or it was withdrawn (the
    deployment no longer waits, runs or is suspended)."""
    if party_side(deployment, actor) != "provider" or not actor.has_role(Role.MEMBER):
        raise Forbidden("Members of the provider organization download its installation bundles.")
    bundle = deployment.bundles.order_by("-created_at").first()
    if bundle is None or deployment.status not in BUNDLE_STATUSES:
        raise NotFound("This deployment has no installation bundle to download.")
    audit_record(
        actor=actor,
        action="provisioning.bundle.downloaded",
        target=deployment,
        organization=deployment.provider,
        counterparty=deployment.vendor,
        new={"bundle": str(bundle.public_id), "sha256": bundle.sha256},
    )
    return bundle


class SiteAgentBackend:
    """On premise: build the bundle, then wait for the site agent (or an air-gapped receipt)."""

    name = "site_agent"

    def provision_steps(self, deployment: Deployment) -> list[StepSpec]:
        return [
            StepSpec("build_bundle", "Build and sign the installation bundle", 3),
            StepSpec("site_installation", "Wait for the site agent to install it", 60),
        ]

    def deprovision_steps(self, deployment: Deployment) -> list[StepSpec]:
        return [StepSpec("withdraw_bundle", "Withdraw the bundle from the site", 1)]

    def run_step(self, deployment: Deployment, step: str, *, idempotency_key: str) -> StepResult:
        if step == "build_bundle":
            bundle = bundle_build(deployment)
            return StepResult(
                message=f"Bundle {bundle.filename} ({bundle.size} bytes) is ready for the site.",
                external_id=f"bundle-{bundle.public_id}",
            )
        if step == "site_installation":
            return StepResult(
                message="Waiting for the site agent to report the installation.",
                wait=True,
                wait_in=Deployment.Status.AWAITING_AGENT,
            )
        if step == "withdraw_bundle":
            return StepResult(message="The site agent no longer receives this bundle.")
        raise PermanentProvisioningError(f"Unknown step '{step}'.")

    def check(self, deployment: Deployment) -> bool:
        return deployment.status == Deployment.Status.ACTIVE

    def suspend(self, deployment: Deployment, *, idempotency_key: str) -> None:
        """The agent learns it at its next heartbeat (the bundle list says suspended)."""

    def resume(self, deployment: Deployment, *, idempotency_key: str) -> None:
        """As suspend."""


class HybridBackend:
    """Both: the vendor sets up the cloud part, the site agent installs the on-site part; active
    when the agent reports the installation."""

    name = "hybrid"

    def __init__(self) -> None:
        self.vendor = VendorFulfillmentBackend()
        self.site = SiteAgentBackend()

    def provision_steps(self, deployment: Deployment) -> list[StepSpec]:
        return [self.vendor.provision_steps(deployment)[0], *self.site.provision_steps(deployment)]

    def deprovision_steps(self, deployment: Deployment) -> list[StepSpec]:
        return [*self.vendor.deprovision_steps(deployment), *self.site.deprovision_steps(deployment)]

    def run_step(self, deployment: Deployment, step: str, *, idempotency_key: str) -> StepResult:
        if step in ("request_tenant", "request_removal"):
            return self.vendor.run_step(deployment, step, idempotency_key=idempotency_key)
        return self.site.run_step(deployment, step, idempotency_key=idempotency_key)

    def check(self, deployment: Deployment) -> bool:
        return deployment.status == Deployment.Status.ACTIVE

    def suspend(self, deployment: Deployment, *, idempotency_key: str) -> None:
        self.vendor.suspend(deployment, idempotency_key=idempotency_key)

    def resume(self, deployment: Deployment, *, idempotency_key: str) -> None:
        self.vendor.resume(deployment, idempotency_key=idempotency_key)


REFRESH_TASK = "provisioning.refresh_bundle"
_SERVED = (Deployment.Status.AWAITING_AGENT, Deployment.Status.ACTIVE, Deployment.Status.SUSPENDED)


def bundle_refresh_dispatch(deployment: Deployment) -> None:
    """After a deployment's license changed (inside that transaction): build its new bundle
    after commit, if it has one already (on premise)."""
    if deployment.bundles.exists():
        from marketplace.outbox import outbox_enqueue

        outbox_enqueue(task_name=REFRESH_TASK, kwargs={"deployment_id": deployment.pk}, queue="provisioning")


def bundle_refresh(*, deployment_id: int) -> str:
    """Build the bundle for the deployment's current license; then licenses it superseded (a
    converted trial's) are revoked, so the site never holds only a revoked license."""
    deployment = Deployment.objects.select_related("listing", "provider", "vendor", "site").get(pk=deployment_id)
    if deployment.status not in _SERVED or not deployment.bundles.exists():
        return "skipped"
    before = deployment.bundles.order_by("-created_at").first()
    bundle = bundle_build(deployment)
    require("revoke_superseded")(deployment)
    return "rebuilt" if before is None or bundle.pk != before.pk else "current"
