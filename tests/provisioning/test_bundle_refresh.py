"""A new license for an on-premise deployment (a converted trial, a renewal) reaches the site as a
new bundle; the superseded trial license is revoked only once that bundle exists."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from apps.procurement import services as procurement
from apps.procurement.models import License
from apps.provisioning.agents import agent_report, bundles_for_agent
from apps.provisioning.models import Bundle
from apps.provisioning.onprem import enrollment_token_create
from marketplace.principal import Role
from marketplace.signing import jws_verify
from tests.procurement.factories import principal_of
from tests.provisioning.site_agent import onprem_trial, site_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _license_in(bundle: Bundle) -> dict[str, Any]:
    with bundle.file.open("rb") as stored, zipfile.ZipFile(io.BytesIO(stored.read())) as archive:
        return jws_verify(archive.read("license.jwt").decode(), jwks=procurement.licensing_jwks())


def test_converting_an_on_premise_trial_ships_a_new_bundle_then_revokes_the_trial_license(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    site = site_of(st_mary.organization)
    trial = onprem_trial(st_mary.organization, radiant.organization, site)
    _token, raw = enrollment_token_create(site=site, created_by="test")
    from apps.provisioning.agents import agent_enroll

    agent, _credential = agent_enroll(token=raw, name="gw")
    [first] = bundles_for_agent(agent=agent)
    agent_report(agent=agent, bundle_id=first.public_id, kind="installed")
    trial_license = License.objects.get(trial=trial)
    assert _license_in(first)["jti"] == str(trial_license.public_id)

    accepted = [{"kind": t["kind"], "version": t["version"]} for t in procurement.terms_required(trial.listing)]
    with django_capture_on_commit_callbacks(execute=True):
        order = procurement.trial_convert(
            trial=trial, actor=principal_of(st_mary.organization, Role.ADMIN), accepted_terms=accepted
        )
    [second] = bundles_for_agent(agent=agent)
    assert second.pk != first.pk and second.deployment_id == first.deployment_id
    entitlement_license = License.objects.get(entitlement__subscription__order=order)
    assert _license_in(second)["jti"] == str(entitlement_license.public_id)
    trial_license.refresh_from_db()
    assert trial_license.revoked_at is not None  # only after the new bundle was there
    assert order.subscription.status == "active"
