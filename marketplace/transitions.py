"""The allowed-transition check and the audit entry + event every state-changing service writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Model

from marketplace.audit import audit_record
from marketplace.errors import InvalidTransition
from marketplace.events import event_emit
from marketplace.principal import Principal


def transition_check(*, what: str, current: str, target: str, allowed: Mapping[str, set[str]]) -> None:
    """Raise InvalidTransition (409) unless `current -> target` is in `allowed`."""
    if target not in allowed.get(current, set()):
        raise InvalidTransition(
            f"Cannot move {what} from '{current}' to '{target}'.",
            extra={"current_status": current, "requested_status": target},
        )


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
    with_reason = {"reason": reason} if reason else {}
    audit_record(
        actor=actor,
        action=action,
        target=obj,
        organization=organization,
        counterparty=counterparty,
        old={"status": old_status},
        new={"status": new_status, **with_reason},
    )
    event_emit(
        type=event,
        subject=obj,
        organization=organization,
        counterparty=counterparty,
        data={**(data or {}), "status": new_status, **with_reason},
    )
