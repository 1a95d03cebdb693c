"""E-mail through Celery: a row per message, written with the change that causes it, sent by a
worker at most once (a redelivered task finds it sent and does nothing)."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from marketplace.models import OutgoingEmail
from marketplace.outbox import outbox_enqueue


def email_queue(*, to: str, subject: str, body: str) -> OutgoingEmail:
    """Record an e-mail and dispatch its sending after commit."""
    email = OutgoingEmail.objects.create(to=to, subject=subject[:200], body=body)
    outbox_enqueue(task_name="notifications.send_email", kwargs={"email_id": email.pk}, queue="notifications")
    return email


def email_deliver(*, email_id: int) -> bool:
    """Send one queued e-mail unless it was already sent. Returns True when sent now."""
    with transaction.atomic():
        email = OutgoingEmail.objects.select_for_update().filter(pk=email_id).first()
        if email is None or email.sent_at is not None:
            return False
        send_mail(email.subject, email.body, None, [email.to])
        email.sent_at = timezone.now()
        email.save(update_fields=["sent_at"])
    return True
