"""The event feed: what an organization may see, after a cursor, in sequence order."""

from __future__ import annotations

import base64
import binascii

from django.db.models import Q, QuerySet

from marketplace.errors import ValidationFailed
from marketplace.models import Event
from marketplace.principal import Principal


def encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{int(sequence)}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "seq" or not number.isdigit():
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.for_field("cursor", "Not a cursor this feed gave out.") from None


def feed_events(*, principal: Principal, after: int, types: list[str]) -> QuerySet[Event]:
    events = Event.objects.filter(sequence__isnull=False, sequence__gt=after).order_by("sequence")
    if not principal.is_operator:
        if principal.organization is None:
            return events.none()
        org = principal.organization
        events = events.filter(Q(organization=org) | Q(counterparty=org))
    if types:
        condition = Q()
        for name in types:
            condition |= Q(type__startswith=name[:-1]) if name.endswith(".*") else Q(type=name)
        events = events.filter(condition)
    return events
