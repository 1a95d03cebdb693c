"""The beat sweep of trials: reminders 7 and 1 days before the end (once each), expiry of ended
trials with their deployment removed, and nothing twice when it runs again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail

from apps.procurement.models import Trial
from apps.procurement.services import trial_cancel, trials_sweep
from apps.procurement.tasks import trials_sweep as trials_sweep_task
from apps.provisioning.models import Deployment
from marketplace.models import AuditEntry, Event
from tests.conftest import Party
from tests.procurement.factories import principal_of, trial_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_trial(st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any) -> Trial:
    trial = trial_in_state(
        "active", provider=st_mary.organization, vendor=radiant.organization, capture=django_capture_on_commit_callbacks
    )
    assert trial.ends_at is not None
    mail.outbox.clear()
    return trial


@pytest.fixture
def sweep(django_capture_on_commit_callbacks: Any) -> Any:
    """Run the sweep at a given time, with what it queues (e-mails, removal) run after commit."""

    def run(now: datetime) -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return trials_sweep(now=now)

    return run


def _expiring(trial: Trial) -> list[Event]:
    return list(Event.objects.filter(type="trial.expiring", subject_id=str(trial.public_id)).order_by("id"))


def _reminders(party: Party) -> list[Any]:
    emails = {party.admin.email, party.member.email}
    return [m for m in mail.outbox if "ends in" in m.subject and m.to[0] in emails]


def test_reminders_go_out_7_and_1_days_before_the_end_once_each(
    active_trial: Trial, st_mary: Party, radiant: Party, sweep: Any
) -> None:
    ends = active_trial.ends_at
    assert sweep(ends - timedelta(days=8)) == {"reminded": 0, "expired": 0}
    assert not _expiring(active_trial)

    assert sweep(ends - timedelta(days=6, hours=23)) == {"reminded": 1, "expired": 0}
    assert sweep(ends - timedelta(days=6, hours=22)) == {"reminded": 0, "expired": 0}  # once
    assert sweep(ends - timedelta(days=3)) == {"reminded": 0, "expired": 0}
    (seven,) = _expiring(active_trial)
    assert seven.data == {"trial": str(active_trial.public_id), "ends_at": ends.isoformat(), "days_left": 7}
    assert (seven.organization_id, seven.counterparty_id) == (st_mary.organization.pk, radiant.organization.pk)
    assert len(_reminders(st_mary)) == 2 and "7 day(s)" in _reminders(st_mary)[0].subject  # admin and member
    assert not _reminders(radiant)

    assert sweep(ends - timedelta(hours=20)) == {"reminded": 1, "expired": 0}
    assert sweep(ends - timedelta(hours=1)) == {"reminded": 0, "expired": 0}
    assert [e.data["days_left"] for e in _expiring(active_trial)] == [7, 1]
    assert len(_reminders(st_mary)) == 4
    active_trial.refresh_from_db()
    assert active_trial.reminders_sent == [1, 7] and active_trial.status == Trial.Status.ACTIVE
    # A reminder is a fact, not a transition: no audit entry.
    assert not AuditEntry.objects.filter(action__contains="expiring").exists()


def test_a_trial_first_swept_on_its_last_day_gets_one_reminder_not_two(active_trial: Trial, sweep: Any) -> None:
    assert sweep(active_trial.ends_at - timedelta(hours=10)) == {"reminded": 1, "expired": 0}
    assert [e.data["days_left"] for e in _expiring(active_trial)] == [1]
    active_trial.refresh_from_db()
    assert active_trial.reminders_sent == [1, 7]
    assert sweep(active_trial.ends_at - timedelta(hours=9)) == {"reminded": 0, "expired": 0}


def test_the_reminder_days_are_a_setting(active_trial: Trial, sweep: Any, settings: Any) -> None:
    settings.MARKETPLACE_TRIAL_REMINDER_DAYS = [3]
    assert sweep(active_trial.ends_at - timedelta(days=6)) == {"reminded": 0, "expired": 0}
    assert sweep(active_trial.ends_at - timedelta(days=2)) == {"reminded": 1, "expired": 0}
    assert [e.data["days_left"] for e in _expiring(active_trial)] == [3]


def test_an_ended_trial_expires_and_its_deployment_is_removed_once(
    active_trial: Trial, st_mary: Party, radiant: Party, sweep: Any
) -> None:
    now = active_trial.ends_at + timedelta(minutes=1)
    assert sweep(now) == {"reminded": 0, "expired": 1}
    active_trial.refresh_from_db()
    assert active_trial.status == Trial.Status.EXPIRED and active_trial.ended_at == now
    deployment = active_trial.deployment
    assert deployment.status == Deployment.Status.DEPROVISIONED and deployment.deprovisioned_at is not None
    assert not _expiring(active_trial)  # no reminder for a trial that has already ended
    expired = Event.objects.get(type="trial.expired")
    assert (expired.organization_id, expired.counterparty_id) == (st_mary.organization.pk, radiant.organization.pk)
    entry = AuditEntry.objects.get(action="procurement.trial.expired")
    assert entry.actor_kind == "system" and entry.old_values == {"status": "active"}
    assert any("has ended" in m.subject for m in mail.outbox)
    assert list(
        Event.objects.filter(subject_id=str(deployment.public_id)).values_list("type", flat=True).order_by("id")
    )[-2:] == ["deployment.deprovisioning", "deployment.deprovisioned"]

    counts = (Event.objects.count(), AuditEntry.objects.count(), len(mail.outbox))
    assert sweep(now + timedelta(minutes=5)) == {"reminded": 0, "expired": 0}
    assert sweep(now + timedelta(days=30)) == {"reminded": 0, "expired": 0}
    assert (Event.objects.count(), AuditEntry.objects.count(), len(mail.outbox)) == counts
    # The API answers the same for both parties.
    for party in (st_mary, radiant):
        body = party.api("member").get(f"/api/v1/trials/{active_trial.public_id}/").json()
        assert body["status"] == "expired" and body["deployment"]["status"] == "deprovisioned"


def test_only_active_trials_are_swept(active_trial: Trial, st_mary: Party, sweep: Any,
                                      django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        trial_cancel(trial=active_trial, actor=principal_of(st_mary.organization))
    assert sweep(active_trial.ends_at - timedelta(hours=1)) == {"reminded": 0, "expired": 0}
    assert sweep(active_trial.ends_at + timedelta(days=1)) == {"reminded": 0, "expired": 0}
    active_trial.refresh_from_db()
    assert active_trial.status == Trial.Status.CANCELLED
    assert not Event.objects.filter(type__in=["trial.expiring", "trial.expired"]).exists()


def test_the_beat_task_sweeps_now(active_trial: Trial, django_capture_on_commit_callbacks: Any) -> None:
    Trial.objects.filter(pk=active_trial.pk).update(ends_at=active_trial.started_at)  # ended already
    with django_capture_on_commit_callbacks(execute=True):
        result = trials_sweep_task.apply().result
    assert result == {"reminded": 0, "expired": 1}
    active_trial.refresh_from_db()
    assert active_trial.status == Trial.Status.EXPIRED
    assert active_trial.deployment.status == Deployment.Status.DEPROVISIONED
