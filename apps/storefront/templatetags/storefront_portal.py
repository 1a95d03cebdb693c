"""Template helpers of the vendor portal: listing and revision statuses in words and badges."""

from __future__ import annotations

from django import template

register = template.Library()

# Colour carries no meaning alone: every badge also says the status in words.
LISTING_BADGES = {
    "draft": "",
    "in_review": "badge-pending",
    "changes_requested": "badge-warning",
    "published": "badge-verified",
    "suspended": "badge-warning",
    "retired": "",
    "approved": "badge-verified",
    "withdrawn": "",
}
LISTING_LABELS = {
    "draft": "Draft",
    "in_review": "In review",
    "changes_requested": "Changes requested",
    "published": "Published",
    "suspended": "Suspended",
    "retired": "Retired",
    "approved": "Approved",
    "withdrawn": "Withdrawn",
}


@register.filter
def listing_badge(status: str) -> str:
    """The badge class for a listing's or a revision's status."""
    return LISTING_BADGES.get(str(status), "")


@register.filter
def listing_status(status: str) -> str:
    """`changes_requested` -> `Changes requested`."""
    return LISTING_LABELS.get(str(status), str(status).replace("_", " ").capitalize())
