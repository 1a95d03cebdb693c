"""Template helpers of the trial, quote, order, subscription and deployment pages: status badges
and durations."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()

# Colour carries no meaning alone: every badge also says the status in words.
STATUS_BADGES = {
    "requested": "badge-pending",
    "approved": "badge-pending",
    "provisioning": "badge-pending",
    "awaiting_agent": "badge-pending",
    "deprovisioning": "badge-warning",
    "active": "badge-verified",
    "done": "badge-verified",
    "running": "badge-pending",
    "failed": "badge-danger",
    "declined": "badge-danger",
    "suspended": "badge-warning",
    # quotes, orders, subscriptions, licenses
    "quoted": "badge-pending",
    "accepted": "badge-verified",
    "withdrawn": "badge-warning",
    "placed": "badge-pending",
    "fulfilled": "badge-verified",
    "pending_fulfillment": "badge-pending",
    "valid": "badge-verified",
    "revoked": "badge-danger",
}


@register.filter
def status_badge(status: str) -> str:
    """The badge class for the status of a trial, quote, order, subscription, license,
    deployment or step."""
    return STATUS_BADGES.get(str(status), "")


@register.filter
def status_label(status: str) -> str:
    """`awaiting_agent` -> `awaiting agent`."""
    return str(status).replace("_", " ")


@register.filter
def eta(moment: datetime | None) -> str:
    """How long until `moment`, in words people read at a glance ("in about 40 seconds")."""
    if moment is None:
        return ""
    seconds = int((moment - timezone.now()).total_seconds())
    if seconds <= 5:
        return "any moment now"
    if seconds < 90:
        return f"in about {seconds} seconds"
    return f"in about {round(seconds / 60)} minutes"
