"""Answers to the personal-data signals: who registered webhook endpoints."""

from typing import Any

from django.dispatch import receiver

from apps.accounts.signals import person_data_erase
from apps.webhooks.models import WebhookEndpoint


@receiver(person_data_erase, dispatch_uid="webhooks.person_erase")
def _erase(sender: Any, user: Any, email: str, pseudonym: str, **kwargs: Any) -> int:
    return WebhookEndpoint.objects.filter(created_by=email).update(created_by=pseudonym)
