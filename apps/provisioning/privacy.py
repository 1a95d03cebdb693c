"""Answers to the personal-data signals: who made enrollment tokens."""

from typing import Any

from django.dispatch import receiver

from apps.accounts.signals import person_data_erase
from apps.provisioning.models import EnrollmentToken


@receiver(person_data_erase, dispatch_uid="provisioning.person_erase")
def _erase(sender: Any, user: Any, email: str, pseudonym: str, **kwargs: Any) -> int:
    return EnrollmentToken.objects.filter(created_by=email).update(created_by=pseudonym)
