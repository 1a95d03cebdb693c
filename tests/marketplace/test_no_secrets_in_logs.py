"""No secret, token or password reaches a log line: the logs of a whole journey (sign-up and
sign-in, an API client and its token, a webhook endpoint and its rotation, an enrollment token
and the agent credential, a trial with its license) are captured at DEBUG and searched."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.procurement.models import License
from tests.factories import SiteFactory
from tests.procurement.factories import trial_listing, trial_payload

pytestmark = pytest.mark.django_db
PASSWORD = "Correct-Horse-Battery-Staple-2026"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        # Arguments and extra fields too: a formatter elsewhere might print them.
        self.lines.append(f"{text} {record.args!r} {record.__dict__!r}")


@pytest.fixture
def logs() -> Any:
    handler = _Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_whole_journey_logs_no_secret(
    logs: Any, st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = True
    secrets: list[str] = [PASSWORD]
    browser = Client()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(
            reverse("storefront:signup"),
            {"email": "dana@clinic.example", "full_name": "Dana", "password1": PASSWORD, "password2": PASSWORD},
        )
    browser.post(reverse("storefront:login"), {"username": "dana@clinic.example", "password": PASSWORD})
    browser.post(reverse("storefront:login"), {"username": "dana@clinic.example", "password": PASSWORD + "x"})

    admin = st_mary.api("admin")
    created = admin.post(
        f"/api/v1/organizations/{st_mary.organization.slug}/api-clients/",
        {"name": "ITSM", "role": "admin"},
        format="json",
    ).json()
    secrets.append(created["client_secret"])
    token_answer = (
        APIClient()
        .post(
            "/o/token/",
            urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": created["client_id"],
                    "client_secret": created["client_secret"],
                }
            ),
            content_type="application/x-www-form-urlencoded",
        )
        .json()
    )
    secrets.append(token_answer["access_token"])
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token_answer['access_token']}")
    bearer.get("/api/v1/trials/")
    APIClient(HTTP_AUTHORIZATION="Bearer not-a-real-token-but-secret-looking").get("/api/v1/trials/")
    secrets.append("not-a-real-token-but-secret-looking")

    endpoint = admin.post("/api/v1/webhooks/endpoints/", {"url": "http://127.0.0.1:9/hook"}, format="json").json()
    secrets.append(endpoint["secret"])
    rotated = admin.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret/", {}, format="json").json()
    secrets.append(rotated["secret"])

    site = SiteFactory(organization=st_mary.organization)
    made = admin.post(f"/api/v1/organizations/{st_mary.organization.slug}/sites/{site.public_id}/enrollment-tokens/")
    raw = made.json()["token"]
    secrets.append(raw)
    enrolled = APIClient().post("/api/v1/agent/enroll/", {"token": raw, "name": "gw"}, format="json").json()
    secrets.append(enrolled["credential"])
    APIClient(HTTP_AUTHORIZATION=f"Agent {enrolled['credential']}").post("/api/v1/agent/heartbeat/", {}, format="json")

    listing = trial_listing(radiant.organization, auto=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert st_mary.api("member").post("/api/v1/trials/", trial_payload(listing), format="json").status_code == 201
    secrets.extend(License.objects.values_list("token", flat=True))

    assert len(logs.lines) > 10, "the journey should have logged something"
    text = "\n".join(logs.lines)
    leaked = [secret[:12] + "…" for secret in secrets if secret and secret in text]
    assert not leaked, leaked
