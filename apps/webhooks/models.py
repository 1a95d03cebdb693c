"""Integrators' webhook endpoints, one delivery per (endpoint, event), and every attempt."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from apps.organizations.models import Organization
from marketplace.models import Event, PublicIdModel


class WebhookEndpoint(PublicIdModel):
    tenant_fields: ClassVar[tuple[str, ...]] = ("organization",)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Empty: every event; 'trial.*' patterns.")
    is_active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100)
    # During a rotation the previous secret signs too, until it expires.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(PublicIdModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    tenant_fields: ClassVar[tuple[str, ...]] = ("endpoint__organization",)

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=80)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The position in the retry schedule; a replay starts it again.
    schedule_index = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Handed to the broker until then: the sweep does not queue it again meanwhile.
    queued_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("attempted_at", "id")

    def __str__(self) -> str:
        return f"{self.delivery_id}: {self.status_code or self.error}"


class WebhookFanoutCursor(models.Model):
    """The last event sequence turned into deliveries (one row)."""

    last_sequence = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.last_sequence)


class WebhookFanoutRequest(models.Model):
    """One row: when a `webhooks.fan_out` task was queued that has not started yet. Events
    sequenced meanwhile queue no other (that task will see them), so a burst of commits costs one
    fan-out task, not one each. A request older than FANOUT_REQUEST_STALE_SECONDS counts as lost."""

    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"fan-out queued at {self.queued_at}" if self.queued_at else "no fan-out queued"
