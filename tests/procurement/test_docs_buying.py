"""docs/buying.md's license verification example is run here, so it stays true: it accepts a
real license, and refuses a tampered one and a revoked one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jwt
import pytest

from apps.procurement.models import License
from apps.procurement.services import license_revoke
from marketplace.principal import SYSTEM
from tests.procurement.factories import approve, request_trial, trial_listing

pytestmark = pytest.mark.django_db
DOC = Path(__file__).resolve().parents[2] / "docs" / "buying.md"


def _example() -> dict[str, Any]:
    text = DOC.read_text()
    match = re.search(r"<!-- example: verify-license[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/buying.md lost its verification example"
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)  # our own docs
    return namespace


def test_the_documented_verification_accepts_tampered_and_revoked_licenses_fail(
    st_mary: Any, radiant: Any, anonymous_api: Any
) -> None:
    verify = _example()["verify_license"]
    trial = approve(request_trial(st_mary.organization, trial_listing(radiant.organization)))
    license = License.objects.get(trial=trial)
    jwks = anonymous_api.get("/api/v1/licensing/public-key/").json()
    revocations = anonymous_api.get("/api/v1/licensing/revocations/").json()["token"]

    claims = verify(license.token, jwks, revocations)
    assert claims["jti"] == str(license.public_id) and claims["sub"] == st_mary.organization.slug

    header, payload, signature = license.token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(jwt.InvalidTokenError):
        verify(f"{header}.{flipped}.{signature}", jwks, revocations)

    license_revoke(license=license, actor=SYSTEM, reason="Test revocation.")
    fresh = anonymous_api.get("/api/v1/licensing/revocations/").json()["token"]
    with pytest.raises(jwt.InvalidTokenError, match="revoked"):
        verify(license.token, jwks, fresh)
