"""Operations: /metrics for operators and internal addresses only; structured logs carry the
request id, which follows a request into the tasks it starts."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from marketplace.context import RequestContext, current_request_context, reset_request_context, set_request_context
from marketplace.logging import REQUEST_ID_HEADER, MarketplaceJsonFormatter, RequestIdFilter, connect_celery_signals

pytestmark = pytest.mark.django_db


def test_metrics_for_internal_addresses_and_operators(operator: Any, st_mary: Any, settings: Any) -> None:
    Client().get("/api/v1/apps/")
    inside = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert inside.status_code == 200
    text = inside.content.decode()
    requests = [line for line in text.splitlines() if line.startswith("marketplace_http_requests_total{")]
    assert any("apps" in line and 'status="200"' in line for line in requests), requests
    assert "marketplace_deployments" in text and "marketplace_outbox_pending" in text
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 404
    outside.force_login(st_mary.admin)  # an organization's admin is not an operator
    assert outside.get("/metrics").status_code == 404
    staff = Client(REMOTE_ADDR="203.0.113.9")
    staff.force_login(operator)
    assert staff.get("/metrics").status_code == 200


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    token = set_request_context(RequestContext(request_id="abc123"))
    try:
        RequestIdFilter().filter(record)
    finally:
        reset_request_context(token)
    line = json.loads(MarketplaceJsonFormatter().format(record))
    assert line["message"] == "hello world" and line["request_id"] == "abc123" and line["level"] == "INFO"


def test_the_request_id_follows_a_request_into_its_tasks() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    connect_celery_signals()
    headers: dict[str, Any] = {}
    token = set_request_context(RequestContext(request_id="req-42"))
    try:
        before_task_publish.send(sender="provisioning.advance_deployment", headers=headers, body=None)
    finally:
        reset_request_context(token)
    assert headers[REQUEST_ID_HEADER] == "req-42"
    # In the worker: the header comes back as an attribute of the task's request.
    task = SimpleNamespace(request=SimpleNamespace(**{REQUEST_ID_HEADER: "req-42"}))
    task_prerun.send(sender=None, task_id="t1", task=task)
    assert current_request_context().request_id == "req-42"
    task_postrun.send(sender=None, task_id="t1", task=task)
    assert current_request_context().request_id == ""
