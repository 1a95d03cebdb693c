"""The allowed-transition check every state-changing service uses."""

from __future__ import annotations

from collections.abc import Mapping

from marketplace.errors import InvalidTransition


def transition_check(*, what: str, current: str, target: str, allowed: Mapping[str, set[str]]) -> None:
    """Raise InvalidTransition (409) unless `current -> target` is in `allowed`."""
    if target not in allowed.get(current, set()):
        raise InvalidTransition(
            f"Cannot move {what} from '{current}' to '{target}'.",
            extra={"current_status": current, "requested_status": target},
        )
