"""Answers to the accounts app's personal-data export and erasure signals."""

from typing import Any

from django.dispatch import receiver

from apps.accounts.signals import person_data_erase, person_data_export
from apps.organizations.models import Invitation, Membership


@receiver(person_data_export, dispatch_uid="organizations.person_export")
def _export(sender: Any, user: Any, email: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "memberships": [
            {"organization": m.organization.slug, "role": m.role, "since": m.created_at.isoformat()}
            for m in Membership.objects.filter(user=user).select_related("organization")
        ],
        "invitations": [
            {"organization": i.organization.slug, "email": i.email, "role": i.role, "sent": i.created_at.isoformat()}
            for i in Invitation.objects.filter(email__iexact=email).select_related("organization")
        ],
    }


@receiver(person_data_erase, dispatch_uid="organizations.person_erase")
def _erase(sender: Any, user: Any, email: str, pseudonym: str, **kwargs: Any) -> int:
    removed, _ = Membership.objects.filter(user=user).delete()
    changed = Invitation.objects.filter(email__iexact=email).update(email=f"{pseudonym}@erased.invalid")
    return removed + changed
