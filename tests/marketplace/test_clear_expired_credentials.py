"""Beat's daily clean-up of expired OAuth2 tokens and sessions (marketplace.clear_expired_credentials)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone
from oauth2_provider.models import AccessToken

from apps.organizations.services import api_client_create
from marketplace.principal import SYSTEM
from marketplace.tasks import clear_expired_credentials
from tests.conftest import Party
from tests.organizations.test_api_api_clients import request_token

pytestmark = pytest.mark.django_db


def test_expired_tokens_and_sessions_are_removed_and_live_ones_kept(st_mary: Party, client: object) -> None:
    api, secret = api_client_create(organization=st_mary.organization, name="ITSM", role="member", actor=SYSTEM)
    expired = request_token(api.client_id, secret).json()["access_token"]
    live = request_token(api.client_id, secret).json()["access_token"]
    AccessToken.objects.filter(token=expired).update(expires=timezone.now() - timedelta(seconds=1))
    Session.objects.create(session_key="old" * 8, session_data="", expire_date=timezone.now() - timedelta(days=1))
    Session.objects.create(session_key="new" * 8, session_data="", expire_date=timezone.now() + timedelta(days=1))

    assert clear_expired_credentials.apply().result == "cleared"
    assert clear_expired_credentials.apply().result == "cleared"  # twice: nothing left to do, no error

    assert not AccessToken.objects.filter(token=expired).exists()
    assert AccessToken.objects.filter(token=live).exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["new" * 8]


def test_beat_runs_it_daily() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE.values()
    assert [e["schedule"] for e in schedule if e["task"] == "marketplace.clear_expired_credentials"] == [86400.0]
