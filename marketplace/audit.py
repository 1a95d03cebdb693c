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
    entry = audit_entry_build(
        actor=actor,
        action=action,
        target=target,
        organization=organization,
        counterparty=counterparty,
        old=old,
        new=new,
    )
    entry.save(force_insert=True)
    return entry


def audit_entry_build(
    *,
    actor: Principal,
    action: str,
    target: models.Model,
    organization: Any = None,
    counterparty: Any = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> AuditEntry:
    """The unsaved entry `audit_record` writes, for writers that insert many in one statement."""
    context = current_request_context()
    return AuditEntry(
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


def audit_pseudonymize(*, actor_id: str, email: str, names: list[str], pseudonym: str) -> int:
    """Replace a person in the audit log without deleting or reordering anything: their label as
    actor, labels equal to their e-mail or name, their e-mail inside old/new values, and the client
    addresses of their own requests. Call inside the erasure's transaction. Returns the entries
    changed. The table's trigger allows exactly these columns to change while the marker row exists."""
    from django.db.models import Q, TextField
    from django.db.models.functions import Cast

    from marketplace.models import AuditPseudonymization

    marker = AuditPseudonymization.objects.create(pseudonym=pseudonym)
    labels = [label for label in [email, *names] if label]
    candidates = (
        AuditEntry.objects.annotate(old_text=Cast("old_values", TextField()), new_text=Cast("new_values", TextField()))
        .filter(
            Q(actor_id=actor_id)
            | Q(actor_label__in=labels)
            | Q(object_label__in=labels)
            | Q(old_text__icontains=email)
            | Q(new_text__icontains=email)
        )
        .order_by("id")
    )
    changed = 0
    for entry in candidates:
        updates: dict[str, Any] = {}
        if entry.actor_id == actor_id or entry.actor_label in labels:
            updates["actor_label"] = pseudonym
            if entry.actor_id == actor_id:
                updates["client_address"] = None
        if entry.object_label in labels:
            updates["object_label"] = pseudonym
        for field in ("old_values", "new_values"):
            replaced = _replace_in(getattr(entry, field), email, pseudonym)
            if replaced != getattr(entry, field):
                updates[field] = replaced
        if updates:
            AuditEntry.objects.filter(pk=entry.pk).update(**updates)
            changed += 1
    marker.delete()
    return changed


def _replace_in(value: Any, needle: str, replacement: str) -> Any:
    if isinstance(value, str):
        return value.replace(needle, replacement) if needle.lower() in value.lower() else value
    if isinstance(value, list):
        return [_replace_in(item, needle, replacement) for item in value]
    if isinstance(value, dict):
        return {key: _replace_in(item, needle, replacement) for key, item in value.items()}
    return value
