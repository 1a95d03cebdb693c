"""The e-mails one transaction writes go out in one task (up to 50 a task): a bulk approval or a
notice to every member sends a few tasks, not one per e-mail, and loses or doubles none."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from django.core import mail
from django.db import transaction

from apps.organizations.models import Membership
from apps.procurement.services.common import notify_members
from config.celery_app import app
from marketplace import notifications
from marketplace.models import OutboxMessage, OutgoingEmail
from marketplace.notifications import email_queue
from tests.conftest import Party
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def queue(count: int, start: int = 0) -> list[OutgoingEmail]:
    return [email_queue(to=f"person{n}@example.org", subject="Hello", body="Hi") for n in range(start, start + count)]


def sent_to() -> list[str]:
    return sorted(message.to[0] for message in mail.outbox)


def test_one_transaction_sends_its_emails_in_one_task_per_fifty(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emails = queue(120)
    messages = list(OutboxMessage.objects.order_by("id"))
    assert [len(m.kwargs["email_ids"]) for m in messages] == [50, 50, 20]
    assert {m.task_name for m in messages} == {"notifications.send_emails"}
    assert all(m.dispatched_at is not None for m in messages)
    assert [pk for m in messages for pk in m.kwargs["email_ids"]] == [e.pk for e in emails]
    assert sent_to() == sorted(e.to for e in emails)
    assert not OutgoingEmail.objects.filter(sent_at__isnull=True).exists()


def test_a_savepoint_batches_its_own_emails_and_a_rolled_back_one_takes_them_along(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        [first] = queue(1, start=0)
        with transaction.atomic():  # a nested service: a message of its own, kept when it succeeds
            [nested] = queue(1, start=1)
        try:
            with transaction.atomic():
                queue(2, start=2)
                raise RuntimeError("this change failed")
        except RuntimeError:
            pass
        [last] = queue(1, start=4)
    batches = sorted(message.kwargs["email_ids"] for message in OutboxMessage.objects.all())
    assert batches == sorted([[first.pk, last.pk], [nested.pk]])
    assert sent_to() == ["person0@example.org", "person1@example.org", "person4@example.org"]


def test_a_notice_to_every_member_is_one_task(st_mary: Party, django_capture_on_commit_callbacks: Any) -> None:
    for n in range(4):
        MembershipFactory(organization=st_mary.organization, user=UserFactory(email=f"it{n}@st-marys.example"))
    members = Membership.objects.filter(organization=st_mary.organization).count()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify_members(st_mary.organization, subject="Your trial is ready", body="It runs until Friday.")
    [message] = OutboxMessage.objects.all()
    assert len(message.kwargs["email_ids"]) == members >= 6
    assert len(mail.outbox) == members


def test_a_message_created_inside_a_rolled_back_savepoint_is_not_reused(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                queue(1, start=0)
                raise RuntimeError("this change failed")
        except RuntimeError:
            pass
        queue(1, start=1)
    [message] = OutboxMessage.objects.all()
    assert message.kwargs["email_ids"] == [OutgoingEmail.objects.get().pk]
    assert sent_to() == ["person1@example.org"]


def test_a_failing_address_holds_back_none_of_the_others_and_a_retry_sends_each_once(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        emails = queue(3)
    real_send = notifications.EmailMessage.send

    def flaky(message: Any, fail_silently: bool = False) -> int:
        if message.to == [emails[0].to]:
            raise smtplib.SMTPServerDisconnected("connection lost")
        return real_send(message, fail_silently)

    monkeypatch.setattr(notifications.EmailMessage, "send", flaky)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        notifications.emails_deliver(email_ids=[e.pk for e in emails])
    assert sent_to() == ["person1@example.org", "person2@example.org"]  # the others went out
    assert OutgoingEmail.objects.get(pk=emails[0].pk).sent_at is None  # its mark was rolled back

    monkeypatch.setattr(notifications.EmailMessage, "send", real_send)
    assert notifications.emails_deliver(email_ids=[e.pk for e in emails]) == 1  # the retry
    assert sent_to() == ["person0@example.org", "person1@example.org", "person2@example.org"]
    assert notifications.emails_deliver(email_ids=[*(e.pk for e in emails), 987654]) == 0  # once; unknown skipped


def test_the_task_of_one_email_still_sends_messages_queued_before_batches(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        [email] = queue(1)
    assert app.tasks["notifications.send_email"].apply(kwargs={"email_id": email.pk}).get() is True
    assert app.tasks["notifications.send_emails"].apply(kwargs={"email_ids": [email.pk]}).get() == 0
    assert sent_to() == ["person0@example.org"]
