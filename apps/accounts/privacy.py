"""Personal data of people: export on request, and erasure that keeps the records (and the audit
log's integrity) by pseudonymizing instead of deleting rows."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import user_end_sessions
from apps.accounts.signals import person_data_erase, person_data_export
from marketplace.audit import audit_pseudonymize, audit_record
from marketplace.errors import Forbidden
from marketplace.models import AuditEntry, OutgoingEmail
from marketplace.principal import Principal


def pseudonym_for(user: User) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{user.public_id}".encode()).hexdigest()[:10]
    return f"erased-person-{digest}"


def person_export(*, user: User) -> dict[str, Any]:
    """Everything the platform holds about one person, as JSON-ready data."""
    data: dict[str, Any] = {
        "person": {
            "id": str(user.public_id),
            "email": user.email,
            "full_name": user.full_name,
            "date_joined": user.date_joined.isoformat(),
            "email_confirmed_at": user.email_confirmed_at.isoformat() if user.email_confirmed_at else None,
            "is_operator": user.is_staff,
            "is_active": user.is_active,
        },
        "audit_log": [
            {
                "time": e.created_at.isoformat(),
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "client_address": e.client_address,
            }
            for e in AuditEntry.objects.filter(actor_id=str(user.public_id)).order_by("id")
        ],
    }
    for _receiver, section in person_data_export.send(sender=User, user=user, email=user.email):
        if isinstance(section, dict):
            data.update(section)
    return data


def person_erase(*, user: User, actor: Principal) -> dict[str, Any]:
    """Operators erase a person on request: the account is closed, its e-mail and name replaced by
    a pseudonym everywhere the platform recorded them (audit entries keep their rows, order and
    meaning), sessions end. Returns what changed per place."""
    if not actor.is_operator:
        raise Forbidden("Operators erase personal data.")
    pseudonym = pseudonym_for(user)
    email, names = user.email, [user.full_name] if user.full_name else []
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        counts: dict[str, Any] = {}
        for receiver, changed in person_data_erase.send(
            sender=User, user=user, email=email, names=names, pseudonym=pseudonym
        ):
            counts[getattr(receiver, "__module__", str(receiver))] = changed
        counts["emails_sent"] = OutgoingEmail.objects.filter(to__iexact=email).update(
            to=f"{pseudonym}@erased.invalid", subject="(erased)", body="(erased)"
        )
        counts["audit_entries"] = audit_pseudonymize(
            actor_id=str(user.public_id), email=email, names=names, pseudonym=pseudonym
        )
        user.email = f"{pseudonym}@erased.invalid"
        user.full_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()
        user_end_sessions(user=user)
        audit_record(
            actor=actor,
            action="accounts.person.erased",
            target=user,
            new={"pseudonym": pseudonym, "erased_at": timezone.now().isoformat()},
        )
    return {"pseudonym": pseudonym, "changed": counts}
