"""The allowed-transition check and the audit entry + event every state-changing service writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from marketplace.audit import audit_entry_build
from marketplace.bulk import bulk_insert_rows
from marketplace.errors import InvalidTransition
from marketplace.events import event_build, events_emit_many
from marketplace.principal import Principal


def transition_check(*, what: str, current: str, target: str, allowed: Mapping[str, set[str]]) -> None:
    """Raise InvalidTransition (409) unless `current -> target` is in `allowed`."""
    if target not in allowed.get(current, set()):
        raise InvalidTransition(
            f"Cannot move {what} from '{current}' to '{target}'.",
            extra={"current_status": current, "requested_status": target},
        )


@dataclass(frozen=True)
class TransitionEntry:
    """One object's transition, for `transition_record_many`."""

    obj: Model
    old_status: str
    organization: Any
    counterparty: Any = None
    data: dict[str, Any] | None = None


def transition_record(
    *,
    actor: Principal,
    obj: Model,
    action: str,
    event: str,
    old_status: str,
    new_status: str,
    organization: Any,
    counterparty: Any = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """The audit entry and the event of one transition, written in the caller's transaction
    (both name the reason when there is one)."""
    transition_record_many(
        actor=actor,
        action=action,
        event=event,
        new_status=new_status,
        reason=reason,
        entries=[TransitionEntry(obj, old_status, organization, counterparty, data)],
    )


def transition_record_many(
    *,
    actor: Principal,
    action: str,
    event: str,
    new_status: str,
    entries: Sequence[TransitionEntry],
    reason: str = "",
) -> None:
    """`transition_record` for many objects entering the same state: their audit entries in one
    statement, their events in another."""
    if not entries:
        return
    with_reason = {"reason": reason} if reason else {}
    bulk_insert_rows(
        [
            audit_entry_build(
                actor=actor,
                action=action,
                target=entry.obj,
                organization=entry.organization,
                counterparty=entry.counterparty,
                old={"status": entry.old_status},
                new={"status": new_status, **with_reason},
            )
            for entry in entries
        ]
    )
    events_emit_many(
        [
            event_build(
                type=event,
                subject=entry.obj,
                organization=entry.organization,
                counterparty=entry.counterparty,
                data={**(entry.data or {}), "status": new_status, **with_reason},
            )
            for entry in entries
        ]
    )
