"""Liveness (/healthz) and readiness (/readyz: database, broker, storage)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from marketplace.errors import error_body

logger = logging.getLogger(__name__)


def _reads_only(view: Callable[[HttpRequest], JsonResponse]) -> Callable[[HttpRequest], JsonResponse]:
    """Like Django's `require_safe`, but the 405 has the API's error shape (it had an empty body)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> JsonResponse:
        if request.method not in ("GET", "HEAD"):
            body = error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
            return JsonResponse(body, status=405, headers={"Allow": "GET, HEAD"})
        return view(request)

    return wrapper


@never_cache
@_reads_only
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    from config.celery_app import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            conn.default_channel  # noqa: B018 - opening the channel checks the folders


def _check_storage() -> None:
    default_storage.exists("readyz-probe")


CHECKS = {"database": _check_database, "broker": _check_broker, "storage": _check_storage}


@never_cache
@_reads_only
def readyz(request: HttpRequest) -> JsonResponse:
    """503 with the failing checks when a dependency is down."""
    results: dict[str, Any] = {}
    failed: dict[str, list[str]] = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = {"ok": False, "error": type(exc).__name__}
            failed[name] = [f"{name} is unavailable"]
        else:
            results[name] = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    if failed:
        body = error_body("dependency_unavailable", "Not ready: " + ", ".join(failed) + ".", failed, checks=results)
        return JsonResponse(body, status=503, headers={"Retry-After": "5"})
    return JsonResponse({"status": "ready", "checks": results})
