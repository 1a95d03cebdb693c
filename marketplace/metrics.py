"""Prometheus metrics at /metrics: requests (by method, route and status), task outcomes,
deployment states, webhook deliveries and the outbox, for operators or internal addresses.

Counters of requests and tasks live in each process (set PROMETHEUS_MULTIPROC_DIR to a shared,
empty folder to add them up across gunicorn and Celery processes on one machine); states are
read from the database at scrape time, so every process answers the same."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter("marketplace_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("marketplace_http_request_seconds", "Time to answer HTTP requests", ["method", "route"])
TASKS = Counter("marketplace_task_outcomes_total", "Celery task outcomes", ["task", "outcome"])


class StateCollector:
    """Deployment states, webhook deliveries by status, and outbox messages still waiting."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from django.apps import apps
        from django.db.models import Count

        deployments = GaugeMetricFamily("marketplace_deployments", "Deployments by status", labels=["status"])
        Deployment = apps.get_model("provisioning", "Deployment")
        for row in Deployment.objects.values("status").annotate(n=Count("id")):
            deployments.add_metric([row["status"]], row["n"])
        yield deployments
        deliveries = GaugeMetricFamily(
            "marketplace_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
        )
        Delivery = apps.get_model("webhooks", "WebhookDelivery")
        for row in Delivery.objects.values("status").annotate(n=Count("id")):
            deliveries.add_metric([row["status"]], row["n"])
        yield deliveries
        OutboxMessage = apps.get_model("marketplace", "OutboxMessage")
        yield GaugeMetricFamily(
            "marketplace_outbox_pending",
            "Outbox messages not yet accepted by the broker",
            value=OutboxMessage.objects.filter(dispatched_at__isnull=True).count(),
        )


def _registry() -> CollectorRegistry:
    from prometheus_client import REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    if not getattr(registry, "_marketplace_states", False):
        registry.register(StateCollector())
        registry._marketplace_states = True  # type: ignore[attr-defined]
    return registry


def _internal(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in settings.MARKETPLACE_METRICS_ALLOWED_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Operators (signed in) or callers from MARKETPLACE_METRICS_ALLOWED_NETWORKS; others 404."""
    from marketplace.middleware import client_address

    user = getattr(request, "user", None)
    operator = (
        user is not None
        and user.is_authenticated
        and user.is_staff
        and (not settings.MARKETPLACE_OPERATOR_2FA or (hasattr(user, "is_verified") and user.is_verified()))
    )
    if not (_internal(client_address(request)) or operator):
        return HttpResponse("Not found.", status=404, content_type="text/plain")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts every answered request by its route pattern (never the raw path: no ids in labels)."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        import time

        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response


def connect_task_metrics() -> None:
    from celery.signals import task_failure, task_retry, task_success

    @task_success.connect(weak=False, dispatch_uid="marketplace.metrics.success")
    def _ok(sender: Any = None, **kwargs: Any) -> None:
        TASKS.labels(getattr(sender, "name", "?"), "success").inc()

    @task_failure.connect(weak=False, dispatch_uid="marketplace.metrics.failure")
    def _failed(sender: Any = None, **kwargs: Any) -> None:
        TASKS.labels(getattr(sender, "name", "?"), "failure").inc()

    @task_retry.connect(weak=False, dispatch_uid="marketplace.metrics.retry")
    def _retry(sender: Any = None, **kwargs: Any) -> None:
        TASKS.labels(getattr(sender, "name", "?"), "retry").inc()
