"""Deployments: one running (or being set up) instance of an offering for a provider."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from marketplace.models import PublicIdModel


class Deployment(PublicIdModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROVISIONING = "provisioning"
        AWAITING_AGENT = "awaiting_agent"
        ACTIVE = "active"
        SUSPENDED = "suspended"
        FAILED = "failed"
        DEPROVISIONING = "deprovisioning"
        DEPROVISIONED = "deprovisioned"

    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="deployments")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_deployments")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="deployments")
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="deployments")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="deployments")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="deployments")
    region = models.CharField(max_length=40, blank=True)
    backend = models.CharField(max_length=40)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    failure_reason = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, blank=True, help_text="The backend's id, recorded first.")
    tenant_url = models.URLField(blank=True)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    current_step = models.CharField(max_length=60, blank=True)
    estimated_ready_at = models.DateTimeField(null=True, blank=True)
    # The reconciler re-dispatches work with no progress past this and fails it past `deadline_at`.
    last_progress_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    redispatches = models.PositiveSmallIntegerField(default=0)
    activated_at = models.DateTimeField(null=True, blank=True)
    deprovisioned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["status", "last_progress_at"])]

    def __str__(self) -> str:
        return f"{self.listing.name} for {self.provider.name} ({self.status})"

    @property
    def target(self) -> str:
        return self.site.name if self.site_id else self.region


class DeploymentStep(models.Model):
    """One line of a deployment's step log."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Phase(models.TextChoices):
        PROVISION = "provision"
        DEPROVISION = "deprovision"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="steps")
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.PROVISION)
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=60)
    title = models.CharField(max_length=120)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ("phase", "position")
        constraints = [
            models.UniqueConstraint(fields=["deployment", "phase", "position"], name="deployment_step_unique")
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}:{self.phase}:{self.name} ({self.status})"


class SandboxCall(models.Model):
    """Every effective call the sandbox backend made, once per idempotency key."""

    created_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    operation = models.CharField(max_length=60)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="sandbox_calls")
    attempts = models.PositiveIntegerField(default=0, help_text="Calls seen, including transient failures.")

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.idempotency_key


class EnrollmentToken(PublicIdModel):
    """A one-time token that lets a site agent enroll for a site. Stored hashed; shown once (to
    the provider admin who made it, or inside the installation bundle it was made for)."""

    tenant_fields: ClassVar[tuple[str, ...]] = ("organization",)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="enrollment_tokens")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="enrollment_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12, help_text="The first characters, to recognise it.")
    created_by = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    agent = models.ForeignKey("SiteAgent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"enrollment token {self.hint}… for {self.site.name}"


class SiteAgent(PublicIdModel):
    """A site agent enrolled for one site: it pulls the bundles that site is entitled to."""

    tenant_fields: ClassVar[tuple[str, ...]] = ("organization",)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="site_agents")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=120)
    credential_hash = models.CharField(max_length=64, blank=True, help_text="Empty for air-gapped agents.")
    public_key = models.JSONField(null=True, blank=True, help_text="The agent's Ed25519 JWK (signs receipts).")
    air_gapped = models.BooleanField(default=False)
    agent_version = models.CharField(max_length=40, blank=True)
    hostname = models.CharField(max_length=200, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} at {self.site.name}"


class Bundle(PublicIdModel):
    """An installation bundle built for an on-premise deployment: the version's artifacts, the
    signed license, the revocation list and a signed manifest with the SHA-256 of every file."""

    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="bundles")
    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="bundles")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_bundles")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="bundles")
    version = models.CharField(max_length=60)
    file = models.FileField(upload_to="bundles/%Y/%m/", max_length=300)
    filename = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    manifest = models.TextField(help_text="The signed manifest (compact JWS).")
    license_sha256 = models.CharField(max_length=64, blank=True, help_text="Of the license inside.")
    enrollment_token = models.ForeignKey(
        EnrollmentToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="bundles"
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.filename


class AgentReport(models.Model):
    """What a site agent (or an air-gapped receipt) said about a bundle."""

    class Kind(models.TextChoices):
        DOWNLOADED = "downloaded"
        VERIFIED = "verified"
        INSTALLED = "installed"
        FAILED = "failed"

    created_at = models.DateTimeField(auto_now_add=True)
    agent = models.ForeignKey(SiteAgent, on_delete=models.CASCADE, related_name="reports")
    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="reports")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField(blank=True, max_length=2000)
    via_receipt = models.BooleanField(default=False)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.kind} {self.bundle_id}"
