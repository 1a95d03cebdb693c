"""Webhook endpoints and at-least-once delivery of events (Standard Webhooks).

Events become deliveries after they get their feed sequence (`webhooks_fan_out`, idempotent: one
delivery per endpoint and event). A delivery is attempted by the `webhooks.deliver` task on its own
queue; failures are retried on the Standard Webhooks schedule, kept in the database and swept by
beat (never long Celery countdowns). 410 Gone disables the endpoint. After the last retry the
delivery is failed and can be replayed.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.organizations.models import Organization
from apps.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFanoutCursor,
    WebhookFanoutRequest,
)
from marketplace.audit import audit_record
from marketplace.errors import Forbidden, ValidationFailed
from marketplace.events import event_emit
from marketplace.models import Event
from marketplace.outbound import (
    OutboundError,
    OutboundRefused,
    OutboundResponseTooLarge,
    check_outbound_url,
    outbound_request,
)
from marketplace.principal import Principal, Role
from marketplace.retention import purge_in_batches, retention_cutoff
from marketplace.signing import generate_webhook_secret, standard_webhook_headers

logger = logging.getLogger(__name__)
DELIVER_TASK = "webhooks.deliver"
# Standard Webhooks' schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE_SECONDS = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
TIMEOUT_SECONDS = 10.0
LEASE_SECONDS = 60
QUEUED_SECONDS = 120  # after this a queued delivery that no worker took is queued again
FANOUT_REQUEST_STALE_SECONDS = 60  # a queued fan-out task not started by then counts as lost
FANOUT_BATCH_SIZE = 500
FANOUT_MAX_BATCHES = 20  # per task; beat's fan-out every 10 s takes any rest
MAX_ENDPOINTS = 20
OBJECTS = ("listing", "trial", "quote", "order", "subscription", "deployment", "license", "review", "webhook")
EVENT_TYPE = re.compile(rf"^({'|'.join(OBJECTS)})\.([a-z_]+|\*)$")
# Facts that are not transitions (DOMAIN.md), beside `<object>.<state entered>`.
_FACTS = {
    "trial.expiring",
    "subscription.renewed",
    "listing.revision_submitted",
    "listing.revision_approved",
    "listing.revision_changes_requested",
    "listing.reinstated",
    "quote.issued",
    "license.issued",
    "license.revoked",
    "review.posted",
    "webhook.test",
    "order.placed",
}


def known_event_types() -> set[str]:
    """Every event type the platform emits: the states of each object's machine, and the facts."""
    from django.apps import apps

    states = {
        "listing": apps.get_model("catalog", "Listing").Status.values,
        "trial": apps.get_model("procurement", "Trial").Status.values,
        "quote": [s for s in apps.get_model("procurement", "QuoteRequest").Status.values if s != "quoted"],
        "order": apps.get_model("procurement", "Order").Status.values,
        "subscription": apps.get_model("procurement", "Subscription").Status.values,
        "deployment": apps.get_model("provisioning", "Deployment").Status.values,
    }
    return {f"{obj}.{state}" for obj, values in states.items() for state in values} | _FACTS


# Paths integrators fetch the object from.
_LINKS = {
    "procurement.trial": "/api/v1/trials/{id}/",
    "procurement.quoterequest": "/api/v1/quotes/{id}/",
    "procurement.order": "/api/v1/orders/{id}/",
    "procurement.subscription": "/api/v1/subscriptions/{id}/",
    "procurement.license": "/api/v1/licenses/{id}/",
    "provisioning.deployment": "/api/v1/deployments/{id}/",
    "catalog.listing": "/api/v1/apps/{id}/",
}
# Free text never leaves in a webhook: payloads carry ids, states and links.
_FREE_TEXT = {"reason", "notes", "message"}


def _require_admin(organization: Organization, actor: Principal) -> None:
    if actor.organization is None or actor.organization.pk != organization.pk or not actor.has_role(Role.ADMIN):
        raise Forbidden("Organization admins manage webhook endpoints.")


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    try:
        check_outbound_url(url)
    except OutboundRefused as exc:
        raise ValidationFailed.for_field("url", f"This address cannot receive webhooks: {exc}") from None
    return url


def _clean_types(event_types: list[str] | None) -> list[str]:
    types = sorted({str(t).strip() for t in (event_types or []) if str(t).strip()})
    known = known_event_types()
    unknown = [t for t in types if not EVENT_TYPE.match(t) or (not t.endswith(".*") and t not in known)]
    if unknown:
        raise ValidationFailed.for_field(
            "event_types", f"Unknown event types: {', '.join(unknown)} (e.g. 'trial.active', 'quote.*')."
        )
    return types


def endpoint_create(
    *,
    organization: Organization,
    actor: Principal,
    url: str,
    event_types: list[str] | None = None,
    description: str = "",
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (`whsec_...`, shown once)."""
    _require_admin(organization, actor)
    url, types = _clean_url(url), _clean_types(event_types)
    if WebhookEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS:
        raise ValidationFailed.for_field("url", f"At most {MAX_ENDPOINTS} endpoints per organization.")
    secret = generate_webhook_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=url,
            event_types=types,
            description=description.strip()[:200],
            is_active=is_active,
            secret=secret,
            created_by=actor.label[:200],
        )
        audit_record(
            actor=actor,
            action="webhooks.endpoint.created",
            target=endpoint,
            organization=organization,
            new={"url": url, "event_types": types, "is_active": is_active},
        )
    return endpoint, secret


def endpoint_update(*, endpoint: WebhookEndpoint, actor: Principal, data: dict[str, Any]) -> WebhookEndpoint:
    _require_admin(endpoint.organization, actor)
    changes: dict[str, Any] = {}
    if "url" in data:
        changes["url"] = _clean_url(data["url"])
    if "event_types" in data:
        changes["event_types"] = _clean_types(data["event_types"])
    if "description" in data:
        changes["description"] = str(data["description"]).strip()[:200]
    if "is_active" in data:
        changes["is_active"] = bool(data["is_active"])
        if changes["is_active"]:
            changes["disabled_reason"] = ""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        old = {key: getattr(endpoint, key) for key in changes}
        for key, value in changes.items():
            setattr(endpoint, key, value)
        endpoint.save()
        audit_record(
            actor=actor,
            action="webhooks.endpoint.updated",
            target=endpoint,
            organization=endpoint.organization,
            old=old,
            new=changes,
        )
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint, actor: Principal) -> None:
    _require_admin(endpoint.organization, actor)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="webhooks.endpoint.deleted",
            target=endpoint,
            organization=endpoint.organization,
            old={"url": endpoint.url},
        )
        endpoint.delete()


def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, actor: Principal, overlap_hours: int = 24
) -> tuple[WebhookEndpoint, str]:
    """A new secret signs from now on; the previous one also signs for `overlap_hours` (0-168)."""
    _require_admin(endpoint.organization, actor)
    if not 0 <= overlap_hours <= 168:
        raise ValidationFailed.for_field("overlap_hours", "From 0 to 168 hours.")
    secret = generate_webhook_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret if overlap_hours else ""
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=overlap_hours) if overlap_hours else None
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        audit_record(
            actor=actor,
            action="webhooks.endpoint.secret_rotated",
            target=endpoint,
            organization=endpoint.organization,
            new={"overlap_hours": overlap_hours},
        )
    return endpoint, secret


def endpoint_send_test(*, endpoint: WebhookEndpoint, actor: Principal) -> WebhookDelivery:
    """Send a `webhook.test` event to this endpoint only (it need not subscribe to it)."""
    _require_admin(endpoint.organization, actor)
    with transaction.atomic():
        event = event_emit(
            type="webhook.test",
            subject=endpoint,
            organization=endpoint.organization,
            data={"endpoint": str(endpoint.public_id)},
        )
        delivery = _delivery_for(endpoint, event)
    return delivery


# --- fan-out -----------------------------------------------------------------------------------


def _matches(endpoint: WebhookEndpoint, event_type: str) -> bool:
    if not endpoint.event_types:
        return True
    return any(t == event_type or (t.endswith(".*") and event_type.startswith(t[:-1])) for t in endpoint.event_types)


def webhook_payload(event: Event) -> dict[str, Any]:
    """Thin: the event's id, type and time, the ids and states it names, and links to fetch them."""
    data = {key: value for key, value in (event.data or {}).items() if key not in _FREE_TEXT}
    link = _LINKS.get(event.subject_type)
    base = settings.MARKETPLACE_BASE_URL
    links = {"self": f"{base}{link.format(id=event.subject_id)}"} if link else {}
    return {
        "id": str(event.public_id),
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "sequence": event.sequence,
        "data": {**data, "links": links} if links else data,
    }


def _delivery_for(endpoint: WebhookEndpoint, event: Event) -> WebhookDelivery:
    """The one delivery of `event` to `endpoint` (created once), dispatched after commit."""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint,
                event=event,
                event_type=event.type,
                payload=webhook_payload(event),
                next_attempt_at=timezone.now(),
                queued_until=timezone.now() + timedelta(seconds=QUEUED_SECONDS),
            )
    except IntegrityError:
        return WebhookDelivery.objects.get(endpoint=endpoint, event=event)
    transaction.on_commit(lambda: _dispatch(delivery.pk))
    return delivery


def _dispatch(delivery_id: int) -> None:
    from apps.webhooks.tasks import deliver

    try:
        deliver.apply_async(kwargs={"delivery_id": delivery_id}, queue="webhooks")
    except Exception:  # the broker is down: beat's sweep sends it later
        logger.warning("could not queue webhook delivery %s; the sweep will", delivery_id, exc_info=True)


def webhooks_request_fan_out() -> bool:
    """After events were sequenced: queue a fan-out task, unless one is queued and has not
    started yet (it will see these events too). True when this call queued one."""
    from apps.webhooks.tasks import fan_out

    now = timezone.now()
    stale = now - timedelta(seconds=FANOUT_REQUEST_STALE_SECONDS)
    requests = WebhookFanoutRequest.objects.filter(pk=1)
    if not requests.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale)).update(queued_at=now):
        _, created = WebhookFanoutRequest.objects.get_or_create(pk=1, defaults={"queued_at": now})
        if not created:
            return False  # one is queued
    try:
        fan_out.apply_async(queue="webhooks")
    except Exception:  # the broker is down: beat's fan-out runs it later
        requests.filter(queued_at=now).update(queued_at=None)
        logger.warning("could not queue webhooks.fan_out; beat will run it", exc_info=True)
        return False
    return True


def webhooks_fan_out_started() -> None:
    """A fan-out task starts: events sequenced from now on need another one."""
    WebhookFanoutRequest.objects.filter(pk=1).update(queued_at=None)


def webhooks_fan_out(*, batch_size: int = FANOUT_BATCH_SIZE, max_batches: int = FANOUT_MAX_BATCHES) -> int:
    """Turn sequenced events into deliveries for the active endpoints of the organizations that
    may see them, batch after batch until none is left (or `max_batches`). Resumes from a cursor;
    safe to run concurrently and again. Returns the deliveries made."""
    created = 0
    for _ in range(max_batches):
        events, made = _fan_out_batch(batch_size)
        created += made
        if events < batch_size:
            break
    return created


def _fan_out_batch(batch_size: int) -> tuple[int, int]:
    """One batch of events after the cursor: (events read, deliveries made)."""
    created = 0
    with transaction.atomic():
        cursor, _ = WebhookFanoutCursor.objects.select_for_update().get_or_create(pk=1)
        events = list(Event.objects.filter(sequence__gt=cursor.last_sequence).order_by("sequence")[:batch_size])
        if not events:
            return 0, 0
        org_ids = {e.organization_id for e in events} | {e.counterparty_id for e in events}
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        for endpoint in WebhookEndpoint.objects.filter(organization_id__in=org_ids - {None}, is_active=True):
            endpoints.setdefault(endpoint.organization_id, []).append(endpoint)
        for event in events:
            for org_id in {event.organization_id, event.counterparty_id} - {None}:
                for endpoint in endpoints.get(org_id, []):
                    if event.type == "webhook.test":
                        continue  # only to the endpoint it tests (made by endpoint_send_test)
                    if _matches(endpoint, event.type):
                        _delivery_for(endpoint, event)
                        created += 1
        cursor.last_sequence = events[-1].sequence
        cursor.save(update_fields=["last_sequence"])
    return len(events), created


def webhooks_deliveries_purge() -> int:
    """Beat, daily: finished deliveries (succeeded, or failed after their last retry) created
    longer ago than MARKETPLACE_RETENTION_WEBHOOK_DELIVERY_DAYS, with their attempts. Pending
    ones stay, however old. Returns the deliveries removed."""
    before = retention_cutoff(settings.MARKETPLACE_RETENTION_WEBHOOK_DELIVERY_DAYS)
    if before is None:
        return 0
    finished = WebhookDelivery.objects.filter(created_at__lt=before).exclude(status=WebhookDelivery.Status.PENDING)
    return purge_in_batches(finished)


# --- delivery ----------------------------------------------------------------------------------


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Lease a due delivery (so a concurrent duplicate task does not send it twice)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        now = timezone.now()
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return None
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return None
        if not delivery.endpoint.is_active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "The endpoint is disabled."
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at", "updated_at"])
            return None
        delivery.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
        delivery.queued_until = None  # taken: from now on the lease decides when it may go again
        delivery.save(update_fields=["next_attempt_at", "queued_until", "updated_at"])
        return delivery


def _signing_secrets(endpoint: WebhookEndpoint) -> tuple[str, tuple[str, ...]]:
    previous = ()
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > timezone.now()
    ):
        previous = (endpoint.previous_secret,)
    return endpoint.secret, previous


def webhook_deliver(*, delivery_id: int) -> str:
    """Attempt one delivery now (if it is due). Returns its status."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    secret, previous = _signing_secrets(endpoint)
    headers = {
        "Content-Type": "application/json",
        **standard_webhook_headers(
            secret=secret, message_id=f"msg_{delivery.public_id.hex}", body=body, also_signed_by=previous
        ),
    }
    started = time.monotonic()
    status_code, excerpt, error = None, "", ""
    try:
        response = outbound_request(
            "POST", endpoint.url, body=body, headers=headers, timeout=TIMEOUT_SECONDS, max_response_bytes=64 * 1024
        )
        status_code, excerpt = response.status, response.body[:500].decode("utf-8", "replace")
    except OutboundResponseTooLarge as exc:  # it answered; only its body is over the limit
        status_code, excerpt = exc.status, f"({exc})"
        error = "" if exc.status is not None else str(exc)[:300]
    except OutboundError as exc:
        error = str(exc)[:300]
    duration = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery.pk)
            .first()
        )
        if delivery is None:  # the endpoint was deleted while it was being sent
            return "deleted"
        WebhookAttempt.objects.create(
            delivery=delivery, status_code=status_code, duration_ms=duration, response_excerpt=excerpt, error=error
        )
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error or ("" if status_code and 200 <= status_code < 300 else f"HTTP {status_code}")
        now = timezone.now()
        if status_code is not None and 200 <= status_code < 300:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                WebhookDelivery.Status.SUCCEEDED,
                now,
                None,
            )
        elif status_code == 410:
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                is_active=False, disabled_reason="The receiver answered 410 Gone.", updated_at=now
            )
        else:
            delivery.schedule_index += 1
            if delivery.schedule_index >= len(RETRY_SCHEDULE_SECONDS):
                delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
            else:
                wait = RETRY_SCHEDULE_SECONDS[delivery.schedule_index]
                jitter = wait * random.uniform(-0.1, 0.1)  # noqa: S311 - spreading retries, not security
                delivery.next_attempt_at = now + timedelta(seconds=max(wait + jitter, 0))
        due_soon = delivery.status == WebhookDelivery.Status.PENDING and delivery.next_attempt_at - now <= timedelta(
            seconds=30
        )
        # The next attempt is the sweep's again (a short wait is also queued below with a countdown;
        # if both arrive, the lease lets only one of them send).
        delivery.queued_until = None
        delivery.save()
    if due_soon:  # short waits are sent again directly (well under the visibility timeout)
        from apps.webhooks.tasks import deliver

        try:
            deliver.apply_async(
                kwargs={"delivery_id": delivery.pk},
                queue="webhooks",
                countdown=(delivery.next_attempt_at - timezone.now()).total_seconds(),
            )
        except Exception:  # the sweep picks it up
            logger.warning("could not queue the retry of delivery %s; the sweep will", delivery.pk, exc_info=True)
    return delivery.status


def webhooks_sweep(*, limit: int = 500) -> int:
    """Beat: hand due deliveries (retries, expired leases, lost dispatches) to the workers. A
    delivery handed over is not queued again for QUEUED_SECONDS, so a backlog never grows by
    repeated sweeps."""
    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(queued_until__isnull=True) | Q(queued_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    WebhookDelivery.objects.filter(pk__in=due).update(queued_until=now + timedelta(seconds=QUEUED_SECONDS))
    for delivery_id in due:
        _dispatch(delivery_id)
    return len(due)


def delivery_replay(*, delivery: WebhookDelivery, actor: Principal) -> WebhookDelivery:
    """Send a delivery again from the start of the schedule (same message id, so receivers that
    deduplicate still can)."""
    _require_admin(delivery.endpoint.organization, actor)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=delivery.pk)
        )
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.schedule_index = 0
        delivery.next_attempt_at = timezone.now()
        delivery.queued_until = timezone.now() + timedelta(seconds=QUEUED_SECONDS)
        delivery.save(update_fields=["status", "schedule_index", "next_attempt_at", "queued_until", "updated_at"])
        audit_record(
            actor=actor,
            action="webhooks.delivery.replayed",
            target=delivery,
            organization=delivery.endpoint.organization,
            new={"event": delivery.event_type},
        )
        transaction.on_commit(lambda: _dispatch(delivery.pk))
    return delivery


def deliveries_visible_to(*, principal: Principal) -> Any:
    from marketplace.tenancy import scope_queryset

    return scope_queryset(
        WebhookDelivery.objects.select_related("endpoint", "event").prefetch_related("attempt_log"), principal
    )
