"""Request context (request id, client address) and API-level error mapping."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from marketplace.context import RequestContext, reset_request_context, set_request_context
from marketplace.errors import error_body, wants_json

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def client_address(request: HttpRequest) -> str | None:
    """The caller's address. Behind a proxy set MARKETPLACE_TRUSTED_PROXY_COUNT (docs)."""
    trusted_hops = getattr(settings, "MARKETPLACE_TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted_hops and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops]
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID) that the audit log records."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_context(RequestContext(request_id=request_id, client_address=client_address(request)))
        try:
            response = self.get_response(request)
        finally:
            reset_request_context(token)
        response["X-Request-ID"] = request_id
        return response


class ApiErrorMiddleware:
    """Refuses oversized bodies with 413 before anything reads them, and maps the errors Django
    raises outside DRF views to the API error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self._limit_for(request):
            return self._too_large(request)
        if self._carries_nul(request):
            if wants_json(request):
                body = error_body("validation_error", "Null characters are not allowed in the request.")
                return JsonResponse(body, status=400)
            return HttpResponse("Null characters are not allowed.", status=400, content_type="text/plain")
        return self.get_response(request)

    @staticmethod
    def _carries_nul(request: HttpRequest) -> bool:
        """PostgreSQL text cannot hold NUL, so a lookup with one (a slug in the path, the token
        endpoint's client_id) was a 500 there. JSON bodies are checked by the serializers; the
        path, query string and form bodies are refused here, before any view queries with them."""
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return True
        if request.content_type == "application/x-www-form-urlencoded":
            return b"%00" in request.body or b"\x00" in request.body
        return False

    @staticmethod
    def _limit_for(request: HttpRequest) -> int:
        if request.content_type == "multipart/form-data":
            return getattr(settings, "MARKETPLACE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    @staticmethod
    def _too_large(request: HttpRequest) -> HttpResponse:
        if wants_json(request):
            return JsonResponse(error_body("request_too_large", "The request body is too large."), status=413)
        return HttpResponse("The request body is too large.", status=413, content_type="text/plain")

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return self._too_large(request)
        return None
