"""Kernel models: base classes for domain models, and the audit log, events, outbox and
idempotency records every app shares."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class PublicIdModel(TimeStampedModel):
    """A model addressed from outside by a UUID, never by its integer key."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class OrganizationOwnedModel(PublicIdModel):
    """Belongs to exactly one organization; scoping gives other organizations 404."""

    tenant_fields: ClassVar[tuple[str, ...]] = ("organization",)

    organization = models.ForeignKey(
        settings.MARKETPLACE_ORGANIZATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        abstract = True


class AuditEntry(models.Model):
    """Who did what to which object, when, from where, with old and new values.

    Append-only: on PostgreSQL a row trigger refuses UPDATE and DELETE (migration 0002).
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=120, db_index=True)  # dotted: organizations.member.removed
    actor_kind = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=100)
    actor_label = models.CharField(max_length=200)
    # The organizations that may read this entry (the acting side and, for two-party objects,
    # the other side). No FK constraint: the log outlives what it describes.
    organization = models.ForeignKey(
        settings.MARKETPLACE_ORGANIZATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    counterparty = models.ForeignKey(
        settings.MARKETPLACE_ORGANIZATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=100)
    object_label = models.CharField(max_length=200, blank=True)
    old_values = models.JSONField(default=dict, blank=True)
    new_values = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["counterparty", "-created_at"]),
            models.Index(fields=["object_type", "object_id"]),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_label}"


class Event(models.Model):
    """A fact that happened; the source of notifications, webhooks and the feed.

    `sequence` is assigned after commit under a lock, so that it grows in commit order and a
    feed poller never skips an event whose transaction committed late.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=80, db_index=True)
    occurred_at = models.DateTimeField(auto_now_add=True)
    organization = models.ForeignKey(
        settings.MARKETPLACE_ORGANIZATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    counterparty = models.ForeignKey(
        settings.MARKETPLACE_ORGANIZATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    subject_type = models.CharField(max_length=80)
    subject_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict, blank=True)
    sequence = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ("sequence", "id")
        indexes = [models.Index(fields=["sequence"], name="event_unsequenced", condition=models.Q(sequence=None))]

    def __str__(self) -> str:
        return f"{self.type} {self.subject_type}:{self.subject_id}"


class EventSequence(models.Model):
    """A single-row counter; its row lock serializes sequence assignment."""

    last_value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"event sequence at {self.last_value}"


class OutboxMessage(models.Model):
    """Work to dispatch to Celery, written in the same transaction as the change that caused it.

    Sent on commit; the reconciler (beat) sends again what never reached the broker. Tasks are
    idempotent, so a second delivery is harmless.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    task_name = models.CharField(max_length=120)
    kwargs = models.JSONField(default=dict)
    queue = models.CharField(max_length=40, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["created_at"], name="outbox_pending", condition=models.Q(dispatched_at=None))]

    def __str__(self) -> str:
        return f"{self.task_name}({self.kwargs})"


class IdempotencyRecord(models.Model):
    """One Idempotency-Key per principal: the stored answer to the first request that used it."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        COMPLETED = "completed"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    principal_key = models.CharField(max_length=120)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal_key", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.principal_key}:{self.key}"


class OutgoingEmail(models.Model):
    """An e-mail waiting for (or done with) delivery by a worker. Carries ids and links only."""

    created_at = models.DateTimeField(auto_now_add=True)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.subject} -> {self.to}"


class AuditPseudonymization(models.Model):
    """While a row exists (only inside the erasure's own transaction), the audit log's trigger lets
    that transaction replace a person's name, e-mail and address in labels and values; nothing
    else about an entry can change, and no entry can be deleted."""

    created_at = models.DateTimeField(auto_now_add=True)
    pseudonym = models.CharField(max_length=40)

    def __str__(self) -> str:
        return self.pseudonym
