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
