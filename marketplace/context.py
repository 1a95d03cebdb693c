"""Per-request facts the audit log needs, without passing the request into services."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    client_address: str | None = None


_EMPTY = RequestContext()  # frozen, so sharing it as the default is safe
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "marketplace_request_context",
    default=_EMPTY,
)


def current_request_context() -> RequestContext:
    return _current.get()


def set_request_context(context: RequestContext) -> contextvars.Token[RequestContext]:
    return _current.set(context)


def reset_request_context(token: contextvars.Token[RequestContext]) -> None:
    _current.reset(token)
