"""Writing the audit log. Call inside the transaction of the change it records."""

from __future__ import annotations

from typing import Any

from django.db import models

from marketplace.context import current_request_context
from marketplace.models import AuditEntry
from marketplace.principal import Principal


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any]:
    if not values:
        return {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, models.Model):
            value = str(getattr(value, "public_id", value.pk))
        elif value is not None and not isinstance(value, str | int | float | bool | list | dict):
            value = str(value)
        out[key] = value
    return out


def audit_record(
    *,
    actor: Principal,
    action: str,
    target: models.Model,
    organization: Any = None,
    counterparty: Any = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry naming the principal, the object, old and new values, and the
    request id and client address of the current request (empty for workers and beat)."""
    context = current_request_context()
    return AuditEntry.objects.create(
        action=action,
        actor_kind=actor.kind.value,
        actor_id=actor.actor_id,
        actor_label=actor.label[:200],
        organization=organization if organization is not None else actor.organization,
        counterparty=counterparty,
        object_type=target._meta.label_lower,
        object_id=str(getattr(target, "public_id", None) or getattr(target, "slug", None) or target.pk),
        object_label=str(target)[:200],
        old_values=_jsonable(old),
        new_values=_jsonable(new),
        request_id=context.request_id,
        client_address=context.client_address,
    )
