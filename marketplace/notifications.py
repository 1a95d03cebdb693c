"""E-mail through Celery: a row per message, written with the change that causes it, sent by a
worker at most once (a redelivered task finds it sent and does nothing)."""

from __future__ import annotations

from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.utils import timezone

from marketplace.models import OutgoingEmail
from marketplace.outbox import outbox_enqueue_batched

SEND_TASK = "notifications.send_emails"


def email_queue(*, to: str, subject: str, body: str) -> OutgoingEmail:
    """Record an e-mail and dispatch its sending after commit; the e-mails one atomic block writes
    (a notice to every member) go out in one task (up to 50 a task)."""
    [email] = emails_queue([(to, subject, body)])
    return email


def emails_queue(messages: list[tuple[str, str, str]]) -> list[OutgoingEmail]:
    """`email_queue` for many (to, subject, body) at once: one insert, one message per 50."""
    emails = OutgoingEmail.objects.bulk_create(
        OutgoingEmail(to=to, subject=subject[:200], body=body) for to, subject, body in messages
    )
    outbox_enqueue_batched(
        task_name=SEND_TASK, key="email_ids", items=[email.pk for email in emails], queue="notifications"
    )
    return emails


def emails_deliver(*, email_ids: list[int]) -> int:
    """Send queued e-mails not sent yet (ids without a row are skipped), over one connection to
    the mail server. One failing does not hold back the others: all are tried, then the first
    error is raised for the task to retry (those sent meanwhile are not sent again). Returns how
    many were sent now."""
    emails = list(OutgoingEmail.objects.filter(pk__in=email_ids, sent_at__isnull=True).order_by("pk"))
    if not emails:
        return 0
    sent, failure = 0, None
    with get_connection() as mail_server:
        for email in emails:  # read once; each is claimed below under its row lock
            try:
                sent += _deliver(email, mail_server)
            except OSError as exc:  # SMTP errors are OSErrors: transient, the task retries
                failure = failure or exc
    if failure is not None:
        raise failure
    return sent


def email_deliver(*, email_id: int) -> bool:
    """Send one queued e-mail unless it was already sent. Returns True when sent now."""
    email = OutgoingEmail.objects.filter(pk=email_id, sent_at__isnull=True).first()
    return email is not None and _deliver(email, get_connection())


def _deliver(email: OutgoingEmail, mail_server: BaseEmailBackend) -> bool:
    """Mark it sent and send it in one transaction: the update holds the row lock until the
    commit, so a duplicate delivery waits and then finds it sent (and updates nothing); a failed
    send rolls the mark back for the retry."""
    with transaction.atomic():
        if not OutgoingEmail.objects.filter(pk=email.pk, sent_at__isnull=True).update(sent_at=timezone.now()):
            return False
        EmailMessage(email.subject, email.body, None, [email.to], connection=mail_server).send()
    return True
