"""Organizations, their members, invitations, sites and API clients."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication

from marketplace.models import OrganizationOwnedModel, PublicIdModel

country_code = RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO 3166-1 country code, e.g. DE.")


class Organization(PublicIdModel):
    """A legal party on the platform: a vendor, a provider, or both."""

    class Kind(models.TextChoices):
        VENDOR = "vendor", "Vendor"
        PROVIDER = "provider", "Provider"
        BOTH = "both", "Vendor and provider"

    class Sector(models.TextChoices):
        BUSINESS = "business", "Business"
        GOVERNMENT = "government", "Government"
        CIVIL_SOCIETY = "civil_society", "Civil society"
        ACADEMIA = "academia", "Academia"
        IMPACT_INVESTOR = "impact_investor", "Impact investor"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    sector = models.CharField(max_length=20, choices=Sector.choices, default=Sector.BUSINESS)
    description = models.TextField(blank=True, max_length=5000)
    country = models.CharField(max_length=2, blank=True, validators=[country_code])
    website = models.URLField(blank=True)
    partnership_offer = models.TextField(
        blank=True, max_length=2000, help_text="What this organization brings to partnerships."
    )
    # Vendor verification (an operator checks these before the vendor may submit listings).
    legal_name = models.CharField(max_length=200, blank=True)
    registration_number = models.CharField(max_length=100, blank=True)
    contact_email = models.EmailField(blank=True)
    partner_terms_version = models.CharField(max_length=20, blank=True)
    partner_terms_accepted_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    tenant_fields: ClassVar[tuple[str, ...]] = ("pk",)

    class Meta:
        ordering = ("name",)
        indexes = [models.Index(fields=["kind", "sector"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_vendor(self) -> bool:
        return self.kind in (self.Kind.VENDOR, self.Kind.BOTH)

    @property
    def is_provider(self) -> bool:
        return self.kind in (self.Kind.PROVIDER, self.Kind.BOTH)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class MemberRole(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(PublicIdModel):
    tenant_fields: ClassVar[tuple[str, ...]] = ("organization",)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=MemberRole.choices, default=MemberRole.MEMBER)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Invitation(PublicIdModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REVOKED = "revoked"
        EXPIRED = "expired"

    tenant_fields: ClassVar[tuple[str, ...]] = ("organization",)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=MemberRole.choices, default=MemberRole.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING


class Site(OrganizationOwnedModel):
    """A provider's place where software runs."""

    class Kind(models.TextChoices):
        HOSPITAL = "hospital", "Hospital"
        CLINIC = "clinic", "Clinic"
        DATA_CENTRE = "data_centre", "Data centre"

    class NetworkPosture(models.TextChoices):
        CLOUD_CONNECTED = "cloud_connected", "Cloud-connected"
        AIR_GAPPED = "air_gapped", "Air-gapped"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.HOSPITAL)
    network_posture = models.CharField(
        max_length=20, choices=NetworkPosture.choices, default=NetworkPosture.CLOUD_CONNECTED
    )
    country = models.CharField(max_length=2, blank=True, validators=[country_code])
    city = models.CharField(max_length=120, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="site_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization})"


class ApiClient(AbstractApplication):
    """An OAuth2 client-credentials application owned by an organization, with a role."""

    class Role(models.TextChoices):
        READ_ONLY = "read_only", "Read-only"
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    tenant_fields: ClassVar[tuple[str, ...]] = ("organization",)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_clients")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ADMIN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        ordering = ("-created",)

    def __str__(self) -> str:
        return f"{self.name} ({self.organization})"

    def is_usable(self, request: Any) -> bool:
        # Refused at /o/token/ and for existing tokens once revoked.
        return self.revoked_at is None
