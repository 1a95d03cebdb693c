"""A person's data is exported and erased on request; erasure pseudonymizes (the audit log keeps
every row, in order, and stays append-only for everything else)."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, transaction

from apps.accounts.models import User
from apps.procurement.models import Trial
from marketplace.models import AuditEntry
from tests.procurement.factories import trial_listing, trial_payload

pytestmark = pytest.mark.django_db


def test_export_then_erase(st_mary: Any, radiant: Any, operator: Any, django_capture_on_commit_callbacks: Any) -> None:
    person = st_mary.member
    email = person.email
    with django_capture_on_commit_callbacks(execute=True):
        st_mary.api("member").post("/api/v1/trials/", trial_payload(trial_listing(radiant.organization)), format="json")
    out = StringIO()
    call_command("export_personal_data", "--email", email, stdout=out)
    exported = json.loads(out.getvalue())
    assert exported["person"]["email"] == email and exported["memberships"] and exported["trials_requested"]
    assert any(entry["action"] == "procurement.trial.requested" for entry in exported["audit_log"])

    entries_before = list(AuditEntry.objects.order_by("id").values_list("id", "action", "object_id"))
    out = StringIO()
    call_command("erase_personal_data", "--email", email, "--operator", operator.email, "--yes", stdout=out)
    pseudonym = json.loads(out.getvalue())["pseudonym"]
    person.refresh_from_db()
    assert not person.is_active and email not in person.email and not person.has_usable_password()
    assert Trial.objects.get().requested_by == pseudonym
    # Every entry is still there, in order, with the same meaning; none names the person.
    after = list(AuditEntry.objects.order_by("id").values_list("id", "action", "object_id"))
    assert after[: len(entries_before)] == entries_before
    assert after[-1][1] == "accounts.person.erased"
    for entry in AuditEntry.objects.all():
        assert email not in f"{entry.actor_label} {entry.object_label} {entry.old_values} {entry.new_values}"
    assert AuditEntry.objects.filter(actor_label=pseudonym).exists()
    assert not User.objects.filter(email=email).exists()


def test_outside_an_erasure_the_audit_log_stays_append_only(st_mary: Any) -> None:
    from marketplace.audit import audit_record
    from marketplace.principal import SYSTEM

    entry = audit_record(actor=SYSTEM, action="test.recorded", target=st_mary.organization)
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(actor_label="someone else")
    from marketplace.models import AuditPseudonymization

    # Even during an erasure, only labels, values and addresses may change.
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditPseudonymization.objects.create(pseudonym="x")
        AuditEntry.objects.filter(pk=entry.pk).update(action="test.rewritten")


def test_erasing_needs_confirmation_and_an_operator(st_mary: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("erase_personal_data", "--email", st_mary.member.email, "--operator", "nobody@x.org")
    with pytest.raises(CommandError):
        call_command("erase_personal_data", "--email", st_mary.member.email, "--operator", st_mary.admin.email, "--yes")
