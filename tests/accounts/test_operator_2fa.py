"""Operators need a second factor (TOTP) when MARKETPLACE_OPERATOR_2FA is on (always in
production): the console asks for it, and a password-only session has no operator powers."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db
PASSWORD = "operator-password-2026"


@pytest.fixture
def two_factor(settings: Any) -> None:
    settings.MARKETPLACE_OPERATOR_2FA = True


def _operator_with_password(operator: Any) -> Any:
    operator.set_password(PASSWORD)
    operator.save()
    return operator


def test_production_settings_force_it_on() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SECRET_KEY": "x" * 60, "MARKETPLACE_OPERATOR_2FA": "false"}
    out = subprocess.run(
        [sys.executable, "-c", "import config.settings.production as p; print(p.MARKETPLACE_OPERATOR_2FA)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_without_the_second_factor_the_console_asks_for_it(operator: Any, two_factor: None) -> None:
    _operator_with_password(operator)
    client = Client()
    client.force_login(operator)  # password only
    page = client.get("/operator/")
    assert page.status_code == 302 and "/operator/login/" in page["Location"]
    form = client.get(page["Location"])
    assert b"otp_token" in form.content
    # Acting as an operator through the API needs the second factor too.
    assert client.get("/api/v1/audit-log/").status_code in (401, 403)


def test_a_totp_code_opens_the_console(operator: Any, two_factor: None) -> None:
    _operator_with_password(operator)
    out = StringIO()
    call_command("add_operator_totp", "--email", operator.email, stdout=out)
    assert "otpauth://totp/" in out.getvalue()
    device = TOTPDevice.objects.get(user=operator)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"
    client = Client()
    response = client.post(
        "/operator/login/?next=/operator/",
        {"username": operator.email, "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": code},
    )
    assert response.status_code == 302, response.content[:500]
    assert client.get("/operator/").status_code == 200
    assert client.get("/api/v1/audit-log/").status_code == 200


def test_locally_it_is_off_by_default(operator: Any) -> None:
    client = Client()
    client.force_login(operator)
    assert client.get("/operator/").status_code == 200
