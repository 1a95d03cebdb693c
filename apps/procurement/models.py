"""Trials (and, later, quotes, orders, subscriptions, entitlements, licenses)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from apps.provisioning.models import Deployment
from marketplace.models import PublicIdModel


class Trial(PublicIdModel):
    """A provider's time-limited use of an offering under a plan, for evaluation."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        APPROVED = "approved"
        DECLINED = "declined"
        PROVISIONING = "provisioning"
        ACTIVE = "active"
        FAILED = "failed"
        EXPIRED = "expired"
        CONVERTED = "converted"
        CANCELLED = "cancelled"

    OPEN = (Status.REQUESTED, Status.APPROVED, Status.PROVISIONING, Status.ACTIVE, Status.FAILED)
    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="trials")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_trials")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="trials")
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="trials")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="trials")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="trials")
    region = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    notes = models.TextField(blank=True, max_length=2000)
    decision_reason = models.TextField(blank=True, max_length=2000)
    days = models.PositiveSmallIntegerField()
    requested_by = models.CharField(max_length=200, blank=True)
    deployment = models.OneToOneField(Deployment, on_delete=models.PROTECT, null=True, blank=True, related_name="trial")
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.JSONField(default=list, blank=True, help_text="Days-before-end already reminded.")

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["provider", "offering", "status"])]

    def __str__(self) -> str:
        return f"Trial of {self.listing.name} by {self.provider.name} ({self.status})"

    @property
    def target(self) -> str:
        return self.site.name if self.site_id else self.region


class QuoteRequest(PublicIdModel):
    """A provider's request for quotation (RFQ) and, once quoted, the vendor's versioned answers."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        QUOTED = "quoted"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        EXPIRED = "expired"
        WITHDRAWN = "withdrawn"
        CANCELLED = "cancelled"

    OPEN = (Status.REQUESTED, Status.QUOTED)
    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="quote_requests")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_quote_requests")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="quote_requests")
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="quote_requests")
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="quote_requests", help_text="Empty: custom."
    )
    region = models.CharField(max_length=40, blank=True)
    sites = models.ManyToManyField(Site, blank=True, related_name="quote_requests")
    seats = models.PositiveIntegerField(null=True, blank=True)
    studies_per_month = models.PositiveIntegerField(null=True, blank=True)
    desired_start = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True, max_length=4000)
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="quote_requests")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    reason = models.TextField(blank=True, max_length=2000, help_text="Why it was withdrawn, cancelled or declined.")
    requested_by = models.CharField(max_length=200, blank=True)
    quoted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Quote request for {self.listing.name} by {self.provider.name} ({self.status})"


class Quote(PublicIdModel):
    """One version of the vendor's priced answer; issuing again adds a version, old ones stay."""

    quote_request = models.ForeignKey(QuoteRequest, on_delete=models.CASCADE, related_name="quotes")
    version = models.PositiveSmallIntegerField()
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    valid_until = models.DateField()
    term_months = models.PositiveSmallIntegerField(default=12)
    auto_renew = models.BooleanField(default=True)
    terms = models.TextField(blank=True, max_length=8000)
    issued_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-version",)
        constraints = [models.UniqueConstraint(fields=["quote_request", "version"], name="quote_version_unique")]

    def __str__(self) -> str:
        return f"Quote v{self.version} {self.total} {self.currency}"


class QuoteLineItem(models.Model):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="line_items")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=12, decimal_places=2)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ("position",)

    def __str__(self) -> str:
        return self.description


class Order(PublicIdModel):
    """The commitment to buy: from an accepted quote, a converted trial or a direct purchase."""

    class Status(models.TextChoices):
        PLACED = "placed"
        FULFILLED = "fulfilled"
        CANCELLED = "cancelled"

    class Source(models.TextChoices):
        QUOTE = "quote"
        TRIAL = "trial"
        DIRECT = "direct"

    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="orders")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_orders")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="orders")
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="orders")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    source = models.CharField(max_length=10, choices=Source.choices)
    # One order per quote request and per trial: the database refuses a second one even if two
    # acceptances raced past the row lock.
    quote_request = models.OneToOneField(
        QuoteRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="order"
    )
    quote = models.ForeignKey(Quote, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    trial = models.OneToOneField(Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="order")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLACED, db_index=True)
    purchase_order_number = models.CharField(max_length=60, blank=True)
    accepted_terms = models.JSONField(default=list, help_text="[{kind, title, version}] as accepted.")
    accepted_by = models.CharField(max_length=200)
    accepted_at = models.DateTimeField()
    currency = models.CharField(max_length=3, blank=True)
    total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    seats = models.PositiveIntegerField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Order of {self.listing.name} by {self.provider.name} ({self.status})"


class Subscription(PublicIdModel):
    """The running commercial agreement an order created."""

    class Status(models.TextChoices):
        PENDING_FULFILLMENT = "pending_fulfillment"
        ACTIVE = "active"
        SUSPENDED = "suspended"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="subscription")
    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="subscriptions")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_subscriptions")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="subscriptions")
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_FULFILLMENT, db_index=True)
    term_months = models.PositiveSmallIntegerField(default=12)
    auto_renew = models.BooleanField(default=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True, db_index=True)
    renewals = models.PositiveSmallIntegerField(default=0)
    reason = models.TextField(blank=True, max_length=2000, help_text="Of the last suspension or cancellation.")
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Subscription to {self.listing.name} by {self.provider.name} ({self.status})"


class Entitlement(PublicIdModel):
    """What exactly the provider may run, where, how many, until when; one per target."""

    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="entitlements")
    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="entitlements")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_entitlements")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="entitlements")
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="entitlements")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="entitlements")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="entitlements")
    region = models.CharField(max_length=40, blank=True)
    seats = models.PositiveIntegerField(null=True, blank=True)
    features = models.JSONField(default=list, blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    deployment = models.OneToOneField(
        Deployment, on_delete=models.PROTECT, null=True, blank=True, related_name="entitlement"
    )

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.listing.name} at {self.target} for {self.provider.name}"

    @property
    def target(self) -> str:
        return self.site.name if self.site_id else self.region


class LicenseSigningKey(models.Model):
    """An Ed25519 key that signs licenses, bundle manifests and revocation lists. The private
    key is encrypted at rest (settings.MARKETPLACE_LICENSE_KEY_ENCRYPTION_KEY); retired keys
    stay published in the JWKS so the licenses they signed still verify."""

    created_at = models.DateTimeField(auto_now_add=True)
    kid = models.CharField(max_length=64, unique=True)
    public_jwk = models.JSONField()
    private_key_encrypted = models.TextField()
    is_active = models.BooleanField(default=False)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_license_key"
            )
        ]

    def __str__(self) -> str:
        return self.kid


class License(PublicIdModel):
    """A signed, offline-verifiable document of an entitlement or a trial. `public_id` is the
    token's `jti`."""

    tenant_fields: ClassVar[tuple[str, ...]] = ("provider", "vendor")

    provider = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="licenses")
    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vendor_licenses")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="licenses")
    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, null=True, blank=True, related_name="licenses"
    )
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="licenses")
    kid = models.CharField(max_length=64)
    token = models.TextField()
    claims = models.JSONField()
    not_before = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revocation_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"License {self.public_id}"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        from django.utils import timezone

        return "expired" if self.expires_at <= timezone.now() else "valid"
