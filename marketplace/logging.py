"""Structured logs: one JSON object per line with the request id, which follows a request into
the Celery tasks it starts (a task header set when the task is published, restored in the
worker before the task runs)."""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from marketplace.context import RequestContext, current_request_context, reset_request_context, set_request_context

REQUEST_ID_HEADER = "marketplace_request_id"
_TOKENS: dict[str, Any] = {}  # task id -> the context token to reset after the task


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (empty outside a request or a task started by one) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_context().request_id
        return True


class MarketplaceJsonFormatter(JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)


def connect_celery_signals() -> None:
    """Carry the request id from the publishing process into the task (called by config.celery_app)."""
    from celery.signals import before_task_publish, task_postrun, task_prerun

    tokens = _TOKENS

    @before_task_publish.connect(weak=False, dispatch_uid="marketplace.request_id.publish")
    def _add_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
        request_id = current_request_context().request_id
        if headers is not None and request_id and not headers.get(REQUEST_ID_HEADER):
            headers[REQUEST_ID_HEADER] = request_id

    @task_prerun.connect(weak=False, dispatch_uid="marketplace.request_id.prerun")
    def _restore(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
        request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
        if request_id is None and task is not None:
            request_id = (getattr(task.request, "headers", None) or {}).get(REQUEST_ID_HEADER)
        if request_id:
            tokens[task_id] = set_request_context(RequestContext(request_id=str(request_id)))

    @task_postrun.connect(weak=False, dispatch_uid="marketplace.request_id.postrun")
    def _forget(task_id: str = "", **kwargs: Any) -> None:
        token = tokens.pop(task_id, None)
        if token is not None:
            reset_request_context(token)
