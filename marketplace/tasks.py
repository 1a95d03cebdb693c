"""Kernel housekeeping run by beat. Thin wrappers around services."""

from typing import Any

from celery import shared_task

from marketplace.events import events_assign_sequence as _events_assign_sequence
from marketplace.idempotency import idempotency_purge as _idempotency_purge
from marketplace.outbox import outbox_reconcile as _outbox_reconcile
from marketplace.retention import sent_messages_purge as _sent_messages_purge


@shared_task(name="marketplace.outbox_reconcile", acks_late=True, soft_time_limit=50, time_limit=60)
def outbox_reconcile() -> int:
    return _outbox_reconcile()


@shared_task(name="marketplace.events_assign_sequence", acks_late=True, soft_time_limit=50, time_limit=60)
def events_assign_sequence() -> int:
    return _events_assign_sequence()


@shared_task(name="marketplace.clear_expired_credentials", acks_late=True, soft_time_limit=540, time_limit=600)
def clear_expired_credentials() -> str:
    """Beat, daily: remove expired OAuth2 tokens and grants and expired sessions (what
    `manage.py cleartokens` and `manage.py clearsessions` do). Safe to run twice."""
    from django.core.management import call_command

    call_command("cleartokens")
    call_command("clearsessions")
    return "cleared"


@shared_task(name="marketplace.idempotency_purge", acks_late=True, soft_time_limit=240, time_limit=300)
def idempotency_purge() -> int:
    return _idempotency_purge()


@shared_task(name="marketplace.sent_messages_purge", acks_late=True, soft_time_limit=540, time_limit=600)
def sent_messages_purge() -> dict[str, int]:
    return _sent_messages_purge()



# SMTP errors are OSErrors: transient, retried with back-off; a sent e-mail is never sent again.
_EMAIL_RETRIES: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (OSError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="notifications.send_email", soft_time_limit=50, time_limit=60, **_EMAIL_RETRIES)
def send_email(*, email_id: int) -> bool:
    """One e-mail: messages queued before e-mails were sent in batches (kept for them)."""
    from marketplace.notifications import email_deliver

    return email_deliver(email_id=email_id)


@shared_task(name="notifications.send_emails", soft_time_limit=240, time_limit=300, **_EMAIL_RETRIES)
def send_emails(*, email_ids: list[int]) -> int:
    from marketplace.notifications import emails_deliver

    return emails_deliver(email_ids=email_ids)
