"""Idempotency-Key for POSTs that create things (API.md): same key and body within 24 hours
returns the stored status and body; the same key still in flight is a 409; reused with
another body is a 422."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.errors import ApplicationError, Conflict, ValidationFailed
from marketplace.models import IdempotencyRecord
from marketplace.principal import get_principal

IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(ApplicationError):
    status_code = 422
    default_code = "idempotency_key_reused"


def _principal_key(request: Request) -> str:
    principal = get_principal(request)
    return f"{principal.kind.value}:{principal.actor_id}:{principal.organization_id or '-'}"


def _request_hash(request: Request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, default=str)
    except Exception:  # unparseable bodies are refused by the view itself
        body = ""
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


def _storable(data: Any, secret_fields: tuple[str, ...]) -> Any:
    body = json.loads(json.dumps(data, default=str))
    if isinstance(body, dict):
        for field in secret_fields:
            if field in body:
                body[field] = None
    return body


def idempotent_create(request: Request, create: Any, *, secret_fields: tuple[str, ...] = ()) -> Response:
    """Run `create()` at most once per (principal, Idempotency-Key).

    `secret_fields` of the answer (a secret shown once) are never stored: a replay answers with
    them null, since keeping them for 24 hours would undo storing the secret hashed."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return create()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed.for_field("Idempotency-Key", f"Must be 1 to {MAX_KEY_LENGTH} characters.")
    principal_key = _principal_key(request)
    request_hash = _request_hash(request)
    IdempotencyRecord.objects.filter(
        principal_key=principal_key, key=key, created_at__lt=timezone.now() - IDEMPOTENCY_TTL
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                principal_key=principal_key,
                key=key,
                method=request.method,
                path=request.path,
                request_hash=request_hash,
            )
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(principal_key=principal_key, key=key).first()
        if existing is None:  # the request holding the key failed and freed it just now: retry
            raise Conflict(
                "A request with this Idempotency-Key was still in progress; retry.", code="idempotency_in_flight"
            ) from None
        if existing.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request.", fields={"Idempotency-Key": ["Reused."]}
            ) from None
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            raise Conflict(
                "A request with this Idempotency-Key is still in progress.", code="idempotency_in_flight"
            ) from None
        response = Response(existing.response_body, status=existing.response_status)
        response["Idempotent-Replayed"] = "true"
        return response

    try:
        response = create()
    except BaseException:
        record.delete()  # nothing was created: the client may retry with the same key
        raise
    if 200 <= response.status_code < 300:
        record.state = IdempotencyRecord.State.COMPLETED
        record.response_status = response.status_code
        record.response_body = _storable(response.data, secret_fields)
        record.save(update_fields=["state", "response_status", "response_body"])
    else:
        record.delete()
    return response


class IdempotentCreateMixin:
    """For viewsets: `create` honours the Idempotency-Key header."""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return idempotent_create(request, lambda: super(IdempotentCreateMixin, self).create(request, *args, **kwargs))


def idempotency_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_TTL).delete()
    return deleted
