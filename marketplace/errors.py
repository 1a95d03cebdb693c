"""One application error type and one error shape for the whole API.

Every API error, whatever raised it, leaves as
`{"error": {"code": "<machine_code>", "message": "<for people>", "fields": {"<field>": ["..."]}}}`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Base of every error a service raises on purpose. The API maps it to `status_code`."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code: str = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "validation_error"

    @classmethod
    def for_field(cls, field: str, message: str, *, code: str | None = None) -> ValidationFailed:
        return cls(message, code=code, fields={field: [message]})


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class InvalidTransition(Conflict):
    default_code = "invalid_transition"


class DependencyUnavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "dependency_unavailable"


def error_body(code: str, message: str, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    body.update(extra)
    return {"error": body}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"a.b.0.c": ["message", ...]}."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            fields.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, value in enumerate(detail):
                if value:
                    fields.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def flatten_errors(detail: Any) -> dict[str, list[str]]:
    """Serializer errors as {"dotted.field": ["message", ...]} (the API's `fields`)."""
    return _flatten(detail)


def _validation_message(fields: dict[str, list[str]]) -> str:
    names = [name for name in fields if name != "non_field_errors"]
    if names:
        return f"Invalid input in: {', '.join(sorted(names))}."
    first = next(iter(fields.values()), ["Invalid input."])
    return first[0] if first else "Invalid input."


_DRF_CODES: dict[type[Exception], str] = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ParseError: "parse_error",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception becomes the one error shape; never a traceback."""
    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.code, exc.message, exc.fields, **exc.extra), status=exc.status_code)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        fields = _flatten(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        return Response(error_body("validation_error", _validation_message(fields), fields), status=400)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "The request body is too large."), status=413)

    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten(exc.detail)
        return Response(error_body("validation_error", _validation_message(fields), fields), status=400)

    if isinstance(exc, drf_exceptions.APIException):
        response = drf_default_handler(exc, context)  # keeps WWW-Authenticate and Retry-After
        if response is None:  # pragma: no cover - DRF handles every APIException
            response = Response(status=exc.status_code)
        code = _DRF_CODES.get(type(exc)) or (exc.get_codes() if isinstance(exc.get_codes(), str) else "error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        extra: dict[str, Any] = {}
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            extra["retry_after_seconds"] = int(exc.wait) + 1
            response["Retry-After"] = str(int(exc.wait) + 1)
        response.data = error_body(str(code), str(message), **extra)
        return response

    if isinstance(exc, OperationalError) or _is_broker_error(exc):
        logger.warning("dependency unavailable: %s", exc)
        return Response(
            error_body("dependency_unavailable", "A service this request needs is unavailable; try again shortly."),
            status=503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
    else:
        logger.exception("unhandled error in API view")
    return Response(error_body("server_error", "An unexpected error occurred. It has been logged."), status=500)


def _is_broker_error(exc: Exception) -> bool:
    try:
        from kombu.exceptions import OperationalError as KombuOperationalError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, KombuOperationalError | ConnectionError)


def wants_json(request: HttpRequest) -> bool:
    path = request.path
    if path.startswith(("/api/", "/o/")):
        return True
    return "application/json" in request.headers.get("Accept", "") and "text/html" not in request.headers.get(
        "Accept", ""
    )


def json_or_html_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django-level 400s (a bad Host header, too many form fields) outside DRF views."""
    if wants_json(request):
        return JsonResponse(error_body("bad_request", "The request is malformed."), status=400)
    return HttpResponse("Bad request.", status=400, content_type="text/plain")


def json_or_html_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "storefront/errors/404.html", status=404)


def json_or_html_500(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return JsonResponse(error_body("server_error", "An unexpected error occurred. It has been logged."), status=500)
    # No request context: context processors may need the database that just failed.
    return HttpResponse(loader.get_template("storefront/errors/500.html").render(), status=500)
