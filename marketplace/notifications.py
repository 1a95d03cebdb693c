"""E-mail through Celery: a row per message, written with the change that causes it, sent by a
worker at most once (a redelivered task finds it sent and does nothing)."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from marketplace.models import OutgoingEmail
from marketplace.outbox import outbox_enqueue_batched

SEND_TASK = "notifications.send_emails"


def email_queue(*, to: str, subject: str, body: str) -> OutgoingEmail:
    """Record an e-mail and dispatch its sending after commit; the e-mails one atomic block writes
    (a notice to every member) go out in one task (up to 50 a task)."""
    email = OutgoingEmail.objects.create(to=to, subject=subject[:200], body=body)
    outbox_enqueue_batched(task_name=SEND_TASK, key="email_ids", item=email.pk, queue="notifications")
    return email


def emails_deliver(*, email_ids: list[int]) -> int:
    """Send queued e-mails not sent yet (ids without a row are skipped). One failing does not
    hold back the others: all are tried, then the first error is raised for the task to retry
    (those sent meanwhile are not sent again). Returns how many were sent now."""
    sent, failure = 0, None
    for email_id in email_ids:
        try:
            sent += email_deliver(email_id=email_id)
        except OSError as exc:  # SMTP errors are OSErrors: transient, the task retries
            failure = failure or exc
    if failure is not None:
        raise failure
    return sent


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
