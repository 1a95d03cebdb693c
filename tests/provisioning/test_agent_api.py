"""The site agent's API: enrollment with a one-time token, `Authorization: Agent <credential>` on
every other call, only the agent's own site's bundles, reports that activate or fail the
deployment; a site's enrollment tokens (provider admins); the provider's download of a bundle;
and the signed receipts of air-gapped sites."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from apps.organizations.models import Site
from apps.procurement.models import License, Trial
from apps.procurement.services.licenses import licensing_jwks
from apps.procurement.services.trials import trial_cancel
from apps.provisioning.models import AgentReport, Bundle, Deployment, DeploymentStep, EnrollmentToken, SiteAgent
from apps.provisioning.onprem import enrollment_token_create, token_hash
from marketplace.models import AuditEntry, Event
from marketplace.signing import jws_verify
from tests.conftest import Party, assert_error
from tests.procurement.factories import PATIENT_DATA, principal_of, trial_in_state
from tests.provisioning.site_agent import (
    ARTIFACTS,
    agent_key,
    bundle_file,
    bundle_of,
    offline_install,
    onprem_listing,
    onprem_trial,
    receipt_payload,
    run_worker,
    signed_receipt,
    site_of,
)

pytestmark = pytest.mark.django_db

ENROLL = "/api/v1/agent/enroll/"
HEARTBEAT = "/api/v1/agent/heartbeat/"
BUNDLES = "/api/v1/agent/bundles/"
REPORTS = "/api/v1/agent/reports/"
RECEIPTS = "/api/v1/agent/receipts/"


def download_url(bundle: Bundle | str) -> str:
    return f"/api/v1/agent/bundles/{getattr(bundle, 'public_id', bundle)}/download/"


def tokens_url(site: Site) -> str:
    return f"/api/v1/organizations/{site.organization.slug}/sites/{site.public_id}/enrollment-tokens/"


def agents_url(site: Site) -> str:
    return f"/api/v1/organizations/{site.organization.slug}/sites/{site.public_id}/agents/"


def provider_bundle_url(deployment: Deployment) -> str:
    return f"/api/v1/deployments/{deployment.public_id}/bundle/"


def agent_api(credential: str = "") -> APIClient:
    api = APIClient()
    if credential:
        api.credentials(HTTP_AUTHORIZATION=f"Agent {credential}")
    return api


def content_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def site(st_mary: Party) -> Site:
    return site_of(st_mary.organization)


@pytest.fixture
def trial(st_mary: Party, radiant: Party, site: Site) -> Trial:
    return onprem_trial(st_mary.organization, radiant.organization, site)


@pytest.fixture
def enroll(st_mary: Party) -> Callable[..., tuple[SiteAgent, str]]:
    """Enroll an agent for a site through the API, with a token its provider's admin made."""

    def _enroll(site: Site, name: str = "pacs-gw-01") -> tuple[SiteAgent, str]:
        _token, raw = enrollment_token_create(site=site, created_by="test admin")
        response = agent_api().post(ENROLL, {"token": raw, "name": name}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        return SiteAgent.objects.get(public_id=body["agent"]), body["credential"]

    return _enroll


# --- enrollment ----------------------------------------------------------------------------------


def test_a_valid_token_enrolls_the_agent_and_the_credential_is_shown_once(st_mary: Party, site: Site) -> None:
    created = st_mary.api("admin").post(tokens_url(site))
    assert created.status_code == 201, created.content
    raw = created.json()["token"]
    key = agent_key()
    from marketplace_agent import jose

    response = agent_api().post(
        ENROLL,
        {
            "token": raw,
            "name": "pacs-gw-01",
            "hostname": "pacs-gw-01.intra",
            "agent_version": "1.0.0",
            "public_key": jose.public_jwk(key),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"agent", "site", "organization", "credential"}
    assert body["site"] == str(site.public_id)
    assert body["organization"] == st_mary.organization.slug
    assert body["credential"].startswith("mag_")

    agent = SiteAgent.objects.get(public_id=body["agent"])
    assert agent.site == site and agent.organization == st_mary.organization
    assert agent.credential_hash == token_hash(body["credential"])
    assert body["credential"] not in str(SiteAgent.objects.filter(pk=agent.pk).values().get())
    assert agent.public_key == jose.public_jwk(key)
    assert (agent.hostname, agent.agent_version, agent.air_gapped) == ("pacs-gw-01.intra", "1.0.0", False)
    token = EnrollmentToken.objects.get(site=site)
    assert token.used_at is not None and token.agent == agent

    # The admin sees the agent afterwards, never its credential.
    listed = st_mary.api("admin").get(agents_url(site))
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [str(agent.public_id)]
    assert "credential" not in listed.json()[0] and body["credential"] not in listed.content.decode()
    entry = AuditEntry.objects.get(action="provisioning.agent.enrolled")
    assert entry.actor_kind == "site_agent"


def test_the_token_is_single_use(site: Site) -> None:
    _token, raw = enrollment_token_create(site=site, created_by="test admin")
    assert agent_api().post(ENROLL, {"token": raw, "name": "first"}, format="json").status_code == 201
    second = agent_api().post(ENROLL, {"token": raw, "name": "second"}, format="json")
    assert_error(second, 403, code="invalid_enrollment_token")
    assert SiteAgent.objects.filter(site=site).count() == 1


def test_an_expired_token_is_refused(site: Site) -> None:
    token, raw = enrollment_token_create(site=site, created_by="test admin")
    EnrollmentToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(
        agent_api().post(ENROLL, {"token": raw, "name": "x"}, format="json"), 403, code="invalid_enrollment_token"
    )
    assert not SiteAgent.objects.exists()


def test_a_token_of_an_archived_site_is_refused(site: Site) -> None:
    _token, raw = enrollment_token_create(site=site, created_by="test admin")
    Site.objects.filter(pk=site.pk).update(archived_at=timezone.now())
    assert_error(
        agent_api().post(ENROLL, {"token": raw, "name": "x"}, format="json"), 403, code="invalid_enrollment_token"
    )


@pytest.mark.parametrize("token", ["met_not-a-real-token", "", "   "])
def test_an_unknown_token_is_refused(site: Site, token: str) -> None:
    response = agent_api().post(ENROLL, {"token": token, "name": "x"}, format="json")
    assert response.status_code in (400, 403)
    assert_error(response, response.status_code)
    if token.strip():
        assert_error(response, 403, code="invalid_enrollment_token")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (DATABASE_URL)"
)
def test_agents_racing_for_one_token_enroll_once(site: Site) -> None:
    """Four hosts present the same token at the same moment: exactly one gets a credential."""
    from apps.provisioning.agents import agent_enroll
    from marketplace.errors import Forbidden

    _token, raw = enrollment_token_create(site=site, created_by="test admin")
    barrier = threading.Barrier(4, timeout=30)
    results: list[Any] = [None] * 4

    def enroll_as(index: int) -> None:
        try:
            barrier.wait()
            results[index] = agent_enroll(token=raw, name=f"host-{index}")
        except Exception as exc:  # reported to the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enroll_as, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [result for result in results if isinstance(result, tuple)]
    assert len(winners) == 1, results
    assert all(isinstance(result, Forbidden) for result in results if not isinstance(result, tuple)), results
    assert SiteAgent.objects.filter(site=site).count() == 1


def test_enrollment_validates_its_fields(site: Site) -> None:
    _token, raw = enrollment_token_create(site=site, created_by="test admin")
    assert_error(agent_api().post(ENROLL, {"token": raw}, format="json"), 400, field="name")
    with_private = {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "secret"}
    response = agent_api().post(ENROLL, {"token": raw, "name": "x", "public_key": with_private}, format="json")
    assert_error(response, 400, field="public_key")
    # The token was not spent by the refused attempts.
    assert agent_api().post(ENROLL, {"token": raw, "name": "x"}, format="json").status_code == 201


def test_the_token_shipped_in_a_bundle_enrolls_a_connected_agent(trial: Trial) -> None:
    bundle = bundle_of(trial)
    with bundle.file.open("rb") as stored, zipfile.ZipFile(io.BytesIO(stored.read())) as archive:
        shipped = json.loads(archive.read("enrollment.json"))
    assert shipped["bundle"] == str(bundle.public_id) and shipped["site"] == str(trial.site.public_id)
    response = agent_api().post(ENROLL, {"token": shipped["token"], "name": "from-bundle"}, format="json")
    assert response.status_code == 201
    assert response.json()["site"] == str(trial.site.public_id)


# --- authentication ------------------------------------------------------------------------------

AGENT_CALLS = [
    ("post", HEARTBEAT, {}),
    ("get", BUNDLES, None),
    ("get", "download", None),
    ("post", REPORTS, {"kind": "downloaded"}),
]


def _call(api: APIClient, method: str, path: str, body: Any, bundle: Bundle) -> Any:
    if path == "download":
        return getattr(api, method)(download_url(bundle))
    if path == REPORTS:
        body = {**body, "bundle": str(bundle.public_id)}
    return getattr(api, method)(path, body, format="json") if body is not None else getattr(api, method)(path)


@pytest.mark.parametrize(("method", "path", "body"), AGENT_CALLS)
@pytest.mark.parametrize(
    "authorization", ["", "Agent ", "Agent mag_wrong", "Bearer {credential}", "agent {credential}", "Agent{credential}"]
)
def test_agent_calls_without_the_credential_are_401(
    trial: Trial, enroll: Callable[..., tuple[SiteAgent, str]], method: str, path: str, body: Any, authorization: str
) -> None:
    _agent, credential = enroll(trial.site)
    api = APIClient()
    if authorization:
        api.credentials(HTTP_AUTHORIZATION=authorization.format(credential=credential))
    assert_error(_call(api, method, path, body, bundle_of(trial)), 401, code="not_authenticated")


@pytest.mark.parametrize(("method", "path", "body"), AGENT_CALLS)
def test_a_revoked_agent_or_an_archived_site_is_401(
    trial: Trial, enroll: Callable[..., tuple[SiteAgent, str]], method: str, path: str, body: Any
) -> None:
    agent, credential = enroll(trial.site)
    api = agent_api(credential)
    assert _call(api, method, path, body, bundle_of(trial)).status_code in (200, 201)
    SiteAgent.objects.filter(pk=agent.pk).update(revoked_at=timezone.now())
    assert_error(_call(api, method, path, body, bundle_of(trial)), 401, code="not_authenticated")
    _other, other_credential = enroll(trial.site, "second")
    Site.objects.filter(pk=trial.site_id).update(archived_at=timezone.now())
    assert_error(_call(agent_api(other_credential), method, path, body, bundle_of(trial)), 401)


def agent_url(agent: SiteAgent, verb: str = "") -> str:
    return f"{agents_url(agent.site)}{agent.public_id}/" + (f"{verb}/" if verb else "")


def test_an_admin_revokes_one_agent_and_its_credential_stops_working(
    st_mary: Party, trial: Trial, enroll: Callable[..., tuple[SiteAgent, str]]
) -> None:
    agent, credential = enroll(trial.site)
    _other, other_credential = enroll(trial.site, "second")
    assert agent_api(credential).post(HEARTBEAT, {}, format="json").status_code == 200

    for who in ("admin", "client:admin"):
        response = st_mary.api(who).post(agent_url(agent, "revoke"))
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["id"] == str(agent.public_id) and body["revoked_at"] is not None  # again: unchanged
    assert_error(agent_api(credential).post(HEARTBEAT, {}, format="json"), 401, code="not_authenticated")
    assert agent_api(other_credential).post(HEARTBEAT, {}, format="json").status_code == 200  # only that one
    (entry,) = AuditEntry.objects.filter(action="provisioning.agent.revoked")  # audited once
    assert entry.organization == st_mary.organization and entry.object_id == str(agent.public_id)
    detail = st_mary.api("member").get(agent_url(agent)).json()
    assert detail["revoked_at"] == body["revoked_at"] and detail["name"] == "pacs-gw-01"
    listed = {a["id"]: a["revoked_at"] for a in st_mary.api("member").get(agents_url(trial.site)).json()}
    assert listed[str(agent.public_id)] is not None and listed[str(_other.public_id)] is None


@pytest.mark.parametrize("who", ["member", "client:member", "client:read_only"])
def test_only_admins_revoke_agents(
    st_mary: Party, site: Site, enroll: Callable[..., tuple[SiteAgent, str]], who: str
) -> None:
    agent, credential = enroll(site)
    assert_error(st_mary.api(who).post(agent_url(agent, "revoke")), 403)
    assert SiteAgent.objects.get(pk=agent.pk).revoked_at is None
    assert agent_api(credential).post(HEARTBEAT, {}, format="json").status_code == 200


def test_operators_read_agents_but_do_not_revoke_them(
    operator_api: APIClient, site: Site, enroll: Callable[..., tuple[SiteAgent, str]]
) -> None:
    agent, _credential = enroll(site)
    assert operator_api.get(agent_url(agent)).status_code == 200
    assert_error(operator_api.post(agent_url(agent, "revoke")), 403)
    assert SiteAgent.objects.get(pk=agent.pk).revoked_at is None


def test_another_organizations_agent_is_404(
    northside: Party, site: Site, enroll: Callable[..., tuple[SiteAgent, str]]
) -> None:
    agent, _credential = enroll(site)
    for who in ("admin", "client:admin"):
        assert_error(northside.api(who).get(agent_url(agent)), 404)
        assert_error(northside.api(who).post(agent_url(agent, "revoke")), 404)
        # Its own organization in the path does not reach another's site either.
        foreign = f"/api/v1/organizations/northside/sites/{site.public_id}/agents/{agent.public_id}/revoke/"
        assert_error(northside.api(who).post(foreign), 404)
    assert SiteAgent.objects.get(pk=agent.pk).revoked_at is None


@pytest.mark.parametrize(("method", "path", "body"), AGENT_CALLS)
def test_a_signed_in_member_is_not_an_agent(st_mary: Party, trial: Trial, method: str, path: str, body: Any) -> None:
    """Sessions and OAuth tokens do not reach the agent API, not even the provider admin's."""
    for who in ("admin", "client:admin"):
        assert_error(_call(st_mary.api(who), method, path, body, bundle_of(trial)), 401, code="not_authenticated")


# --- what an agent sees --------------------------------------------------------------------------


def test_an_agent_sees_and_downloads_only_its_own_sites_bundles(
    st_mary: Party, northside: Party, radiant: Party, trial: Trial, enroll: Callable[..., tuple[SiteAgent, str]]
) -> None:
    listing = onprem_listing(radiant.organization)
    other_site = site_of(st_mary.organization, "St. Mary's North Wing")
    same_org_other_site = onprem_trial(st_mary.organization, radiant.organization, other_site, listing=listing)
    other_org = onprem_trial(
        northside.organization,
        radiant.organization,
        site_of(northside.organization, "Northside Clinic"),
        listing=listing,
    )
    _agent, credential = enroll(trial.site)
    api = agent_api(credential)
    mine = bundle_of(trial)

    listed = api.get(BUNDLES)
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [str(mine.public_id)]
    row = listed.json()[0]
    assert row["deployment"] == str(trial.deployment.public_id)
    assert row["deployment_status"] == "awaiting_agent"
    assert row["listing"] == listing.slug and row["version"] == "2.1.0"
    assert row["download_url"] == download_url(mine)
    assert (row["sha256"], row["size"]) == (mine.sha256, mine.size)
    assert jws_verify(row["manifest"], jwks=licensing_jwks())["bundle"] == str(mine.public_id)

    download = api.get(download_url(mine))
    assert download.status_code == 200
    data = content_of(download)
    assert hashlib.sha256(data).hexdigest() == mine.sha256 == download["X-Checksum-SHA256"]
    assert download["Content-Type"] == "application/zip"
    assert (
        download["Content-Disposition"].startswith("attachment;") and mine.filename in download["Content-Disposition"]
    )
    assert download["X-Content-Type-Options"] == "nosniff"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name, content in ARTIFACTS.items():
            assert archive.read(f"artifacts/{name}") == content

    for foreign in (bundle_of(same_org_other_site), bundle_of(other_org)):
        assert_error(api.get(download_url(foreign)), 404)
        report = api.post(REPORTS, {"bundle": str(foreign.public_id), "kind": "installed"}, format="json")
        assert_error(report, 404)
        assert foreign.deployment.status == Deployment.Status.AWAITING_AGENT
    assert_error(api.get(download_url("7d1e2f3a-0000-4000-8000-000000000000")), 404)
    heartbeat = api.post(HEARTBEAT, {}, format="json")
    assert heartbeat.json()["bundles"] == 1


def test_a_removed_deployments_bundle_is_withdrawn(
    st_mary: Party, trial: Trial, enroll: Callable[..., tuple[SiteAgent, str]]
) -> None:
    _agent, credential = enroll(trial.site)
    api = agent_api(credential)
    trial_cancel(trial=trial, actor=principal_of(st_mary.organization), reason="Evaluation stopped.")
    assert run_worker(trial.deployment).status == Deployment.Status.DEPROVISIONED
    assert api.get(BUNDLES).json() == []
    assert_error(api.get(download_url(bundle_of(trial))), 404)


def test_the_heartbeat_answers_with_the_signed_revocation_list(
    trial: Trial, enroll: Callable[..., tuple[SiteAgent, str]], operator_api: APIClient
) -> None:
    agent, credential = enroll(trial.site)
    SiteAgent.objects.filter(pk=agent.pk).update(last_seen_at=timezone.now() - timedelta(hours=2))
    license = License.objects.get(trial=trial)
    assert (
        operator_api.post(f"/api/v1/licenses/{license.public_id}/revoke/", {"reason": "Audit finding."}).status_code
        == 200
    )
    response = agent_api(credential).post(HEARTBEAT, {"agent_version": "1.0.1", "hostname": "gw-02"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"agent", "site", "time", "bundles", "revocations"}
    assert body["agent"] == str(agent.public_id) and body["site"] == str(trial.site.public_id)
    revocations = jws_verify(body["revocations"], jwks=licensing_jwks())
    assert str(license.public_id) in revocations["revoked"]
    agent.refresh_from_db()
    assert agent.last_seen_at > timezone.now() - timedelta(minutes=1)
    assert (agent.agent_version, agent.hostname) == ("1.0.1", "gw-02")


# --- reports -------------------------------------------------------------------------------------


@pytest.fixture
def agent_of_site(trial: Trial, enroll: Callable[..., tuple[SiteAgent, str]]) -> APIClient:
    _agent, credential = enroll(trial.site)
    return agent_api(credential)


def report(api: APIClient, trial: Trial, kind: str, reason: str | None = None) -> Any:
    body = {"bundle": str(bundle_of(trial).public_id), "kind": kind}
    if reason is not None:
        body["reason"] = reason
    return api.post(REPORTS, body, format="json")


@pytest.mark.parametrize("kind", ["removed", "INSTALLED", "", "installed; drop table"])
def test_report_kinds_are_validated(agent_of_site: APIClient, trial: Trial, kind: str) -> None:
    assert_error(report(agent_of_site, trial, kind), 400, field="kind")


def test_a_report_names_a_bundle(agent_of_site: APIClient) -> None:
    assert_error(agent_of_site.post(REPORTS, {"kind": "downloaded"}, format="json"), 400, field="bundle")
    assert_error(
        agent_of_site.post(REPORTS, {"kind": "downloaded", "bundle": "nope"}, format="json"), 400, field="bundle"
    )


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_failed_needs_a_reason(agent_of_site: APIClient, trial: Trial, reason: str | None) -> None:
    assert_error(report(agent_of_site, trial, "failed", reason), 400, field="reason")
    trial.deployment.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.AWAITING_AGENT


@pytest.mark.parametrize("kind", sorted(PATIENT_DATA))
def test_patient_identifiers_in_a_reason_are_refused(agent_of_site: APIClient, trial: Trial, kind: str) -> None:
    assert_error(report(agent_of_site, trial, "failed", PATIENT_DATA[kind]), 400, code="patient_data", field="reason")
    assert not AgentReport.objects.exists()
    trial.deployment.refresh_from_db()
    assert trial.deployment.status == Deployment.Status.AWAITING_AGENT


def test_downloaded_and_verified_are_recorded_and_change_nothing(agent_of_site: APIClient, trial: Trial) -> None:
    for kind in ("downloaded", "verified"):
        response = report(agent_of_site, trial, kind)
        assert response.status_code == 200
        assert response.json() == {
            "bundle": str(bundle_of(trial).public_id),
            "kind": kind,
            "deployment": str(trial.deployment.public_id),
            "deployment_status": "awaiting_agent",
        }
    assert list(AgentReport.objects.values_list("kind", flat=True)) == ["downloaded", "verified"]


def test_installed_activates_the_deployment_and_the_trial(agent_of_site: APIClient, trial: Trial) -> None:
    response = report(agent_of_site, trial, "installed")
    assert response.status_code == 200
    assert response.json()["deployment_status"] == "active"
    deployment = Deployment.objects.get(pk=trial.deployment_id)
    assert deployment.status == Deployment.Status.ACTIVE and deployment.activated_at is not None
    assert set(deployment.steps.filter(phase=DeploymentStep.Phase.PROVISION).values_list("status", flat=True)) == {
        DeploymentStep.Status.DONE
    }
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE and trial.ends_at is not None
    assert Event.objects.filter(type="deployment.active").count() == 1
    assert Event.objects.filter(type="trial.active").count() == 1
    assert AuditEntry.objects.get(action="provisioning.agent.installed").actor_kind == "site_agent"
    # Reporting it again is harmless.
    again = report(agent_of_site, trial, "installed")
    assert again.status_code == 200 and again.json()["deployment_status"] == "active"
    assert Event.objects.filter(type="deployment.active").count() == 1


def test_failed_fails_the_deployment_with_the_reason(agent_of_site: APIClient, trial: Trial) -> None:
    reason = "artifacts/radiant-viewer_2.1.0_amd64.deb does not match the manifest"
    response = report(agent_of_site, trial, "failed", reason)
    assert response.status_code == 200
    assert response.json()["deployment_status"] == "failed"
    deployment = Deployment.objects.get(pk=trial.deployment_id)
    assert deployment.status == Deployment.Status.FAILED
    assert reason in deployment.failure_reason
    assert deployment.steps.get(name="site_installation").status == DeploymentStep.Status.FAILED
    trial.refresh_from_db()
    assert trial.status == Trial.Status.FAILED
    # A failed deployment's bundle is no longer offered to the agent.
    assert agent_of_site.get(BUNDLES).json() == []


def test_after_a_retry_the_agent_gets_the_bundle_again_and_installs_it(
    st_mary: Party, agent_of_site: APIClient, trial: Trial
) -> None:
    assert report(agent_of_site, trial, "failed", "disk full on /opt").status_code == 200
    retried = st_mary.api("member").post(f"/api/v1/deployments/{trial.deployment.public_id}/retry/")
    assert retried.status_code == 200, retried.content
    deployment = run_worker(trial.deployment)
    assert deployment.status == Deployment.Status.AWAITING_AGENT
    assert deployment.failure_reason == ""
    assert [row["id"] for row in agent_of_site.get(BUNDLES).json()] == [str(bundle_of(trial).public_id)]
    assert Bundle.objects.filter(deployment=deployment).count() == 1, "the bundle is not built twice"
    assert report(agent_of_site, trial, "installed").json()["deployment_status"] == "active"
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE


# --- enrollment tokens (provider admins) ---------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "client:admin"])
def test_a_provider_admin_creates_a_token_shown_once_and_lists_them(st_mary: Party, site: Site, who: str) -> None:
    api = st_mary.api(who)
    created = api.post(tokens_url(site))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["token"].startswith("met_") and body["hint"] == body["token"][:10]
    assert body["site"] == str(site.public_id) and body["used_at"] is None
    expires = timezone.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=29) < expires - timezone.now() <= timedelta(days=30)
    assert EnrollmentToken.objects.get(public_id=body["id"]).token_hash == token_hash(body["token"])
    listed = api.get(tokens_url(site))
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [body["id"]]
    assert "token" not in listed.json()[0] and body["token"] not in listed.content.decode()
    assert AuditEntry.objects.filter(action="provisioning.enrollment_token.created").count() == 1


@pytest.mark.parametrize("who", ["member", "client:member", "client:read_only"])
def test_members_may_not_manage_tokens(st_mary: Party, site: Site, who: str) -> None:
    assert_error(st_mary.api(who).post(tokens_url(site)), 403)
    assert_error(st_mary.api(who).get(tokens_url(site)), 403)
    assert not EnrollmentToken.objects.exists()


@pytest.mark.parametrize("who", ["admin", "client:admin", "member"])
def test_another_organization_gets_404(northside: Party, radiant: Party, site: Site, who: str) -> None:
    for party in (northside, radiant):
        assert_error(party.api(who).post(tokens_url(site)), 404)
        assert_error(party.api(who).get(tokens_url(site)), 404)
        assert_error(party.api(who).get(agents_url(site)), 404)
    # Another organization's slug with this site's id is 404 too, even for this site's admins.
    wrong_slug = f"/api/v1/organizations/{northside.organization.slug}/sites/{site.public_id}/enrollment-tokens/"
    assert_error(northside.api("admin").post(wrong_slug), 404)


def test_anonymous_callers_get_401(anonymous_api: APIClient, site: Site) -> None:
    assert_error(anonymous_api.post(tokens_url(site)), 401)
    assert_error(anonymous_api.get(tokens_url(site)), 401)
    assert_error(anonymous_api.get(agents_url(site)), 401)


def test_operators_read_tokens_but_do_not_make_them(operator_api: APIClient, site: Site) -> None:
    enrollment_token_create(site=site, created_by="test admin")
    assert operator_api.get(tokens_url(site)).status_code == 200
    assert_error(operator_api.post(tokens_url(site)), 403)


def test_an_archived_site_gets_no_new_tokens(st_mary: Party, site: Site) -> None:
    Site.objects.filter(pk=site.pk).update(archived_at=timezone.now())
    assert_error(st_mary.api("admin").post(tokens_url(site)), 403, code="site_archived")


# --- the provider's download of a bundle (air-gapped sites) ----------------------------------------


@pytest.mark.parametrize("who", ["member", "client:member", "admin", "client:admin"])
def test_provider_members_download_the_bundle(st_mary: Party, trial: Trial, who: str) -> None:
    bundle = bundle_of(trial)
    response = st_mary.api(who).get(provider_bundle_url(trial.deployment))
    assert response.status_code == 200
    data = content_of(response)
    assert hashlib.sha256(data).hexdigest() == bundle.sha256 == response["X-Checksum-SHA256"]
    assert response["Content-Type"] == "application/zip"
    assert (
        response["Content-Disposition"].startswith("attachment;") and bundle.filename in response["Content-Disposition"]
    )
    entry = AuditEntry.objects.get(action="provisioning.bundle.downloaded")
    assert entry.new_values["bundle"] == str(bundle.public_id)
    assert entry.organization_id == st_mary.organization.pk


def test_the_bundle_is_not_for_the_vendor_read_only_clients_operators_or_strangers(
    st_mary: Party,
    radiant: Party,
    northside: Party,
    orbit: Party,
    operator_api: APIClient,
    anonymous_api: APIClient,
    trial: Trial,
) -> None:
    url = provider_bundle_url(trial.deployment)
    # The vendor and read-only clients see the deployment but may not fetch its bundle (it holds the
    # site's enrollment token); operators neither.
    for api in (radiant.api("admin"), radiant.api("client:member"), st_mary.api("client:read_only"), operator_api):
        assert_error(api.get(url), 403)
    for party in (northside, orbit):
        assert_error(party.api("admin").get(url), 404)
    assert_error(anonymous_api.get(url), 401)


def test_a_deployment_without_a_bundle_has_none_to_download(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    cloud = trial_in_state(
        Trial.Status.ACTIVE,
        provider=st_mary.organization,
        vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks,
    )
    assert_error(st_mary.api("member").get(provider_bundle_url(cloud.deployment)), 404)


def test_a_removed_deployments_bundle_is_not_handed_out(st_mary: Party, trial: Trial) -> None:
    trial_cancel(trial=trial, actor=principal_of(st_mary.organization), reason="Evaluation stopped.")
    run_worker(trial.deployment)
    assert_error(st_mary.api("member").get(provider_bundle_url(trial.deployment)), 409, code="bundle_withdrawn")


# --- air-gapped receipts -------------------------------------------------------------------------


def damaged_copy(bundle: Bundle, folder: Path) -> Path:
    """The bundle with one bit of its installer flipped, as a bad USB stick might deliver it."""
    original = bundle_file(bundle, folder / "carried")
    damaged = folder / "damaged.zip"
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith(".deb"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.writestr(item, data)
    return damaged


def upload(api: APIClient, receipt: str, **headers: str) -> Any:
    return api.post(RECEIPTS, {"receipt": receipt}, format="json", **headers)


def test_a_valid_receipt_enrolls_the_air_gapped_agent_and_activates_the_deployment(
    st_mary: Party, trial: Trial, tmp_path: Path
) -> None:
    bundle = bundle_of(trial)
    receipt = offline_install(bundle, tmp_path)
    response = upload(st_mary.api("member"), receipt)
    assert response.status_code == 201, response.content
    body = response.json()
    agent = SiteAgent.objects.get(public_id=body["agent"])
    assert body == {
        "agent": str(agent.public_id),
        "bundle": str(bundle.public_id),
        "deployment": str(trial.deployment.public_id),
        "deployment_status": "active",
    }
    assert agent.air_gapped and agent.credential_hash == "" and agent.site == trial.site
    assert agent.name == "pacs-gw-01"
    from marketplace_agent import jose

    key = jose.load_private_key((tmp_path / "agent-state" / "agent-key.pem").read_bytes())
    assert agent.public_key == jose.public_jwk(key)
    bundle.enrollment_token.refresh_from_db()
    assert bundle.enrollment_token.used_at is not None and bundle.enrollment_token.agent == agent
    assert AgentReport.objects.get().via_receipt is True
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE
    assert Deployment.objects.get(pk=trial.deployment_id).status == Deployment.Status.ACTIVE
    audit = AuditEntry.objects.get(action="provisioning.agent.receipt_accepted")
    assert audit.actor_kind == "member"
    # An air-gapped agent has no credential: it cannot call the agent API.
    assert_error(agent_api("").get(BUNDLES), 401)


def test_the_same_receipt_twice_is_refused(st_mary: Party, trial: Trial, tmp_path: Path) -> None:
    receipt = offline_install(bundle_of(trial), tmp_path)
    assert upload(st_mary.api("member"), receipt).status_code == 201
    assert_error(upload(st_mary.api("member"), receipt), 403, code="invalid_enrollment_token")
    assert SiteAgent.objects.count() == 1


def test_the_same_receipt_with_the_same_idempotency_key_answers_the_same(
    st_mary: Party, trial: Trial, tmp_path: Path
) -> None:
    receipt = offline_install(bundle_of(trial), tmp_path)
    first = upload(st_mary.api("member"), receipt, HTTP_IDEMPOTENCY_KEY="receipt-1")
    second = upload(st_mary.api("member"), receipt, HTTP_IDEMPOTENCY_KEY="receipt-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert SiteAgent.objects.count() == 1


def test_a_token_already_used_by_a_connected_agent_is_refused(st_mary: Party, trial: Trial, tmp_path: Path) -> None:
    receipt = offline_install(bundle_of(trial), tmp_path)
    with zipfile.ZipFile(bundle_file(bundle_of(trial), tmp_path / "copy")) as archive:
        token = json.loads(archive.read("enrollment.json"))["token"]
    assert agent_api().post(ENROLL, {"token": token, "name": "connected"}, format="json").status_code == 201
    assert_error(upload(st_mary.api("member"), receipt), 403, code="invalid_enrollment_token")
    assert Deployment.objects.get(pk=trial.deployment_id).status == Deployment.Status.AWAITING_AGENT


def test_a_forged_signature_is_refused(st_mary: Party, trial: Trial, tmp_path: Path) -> None:
    header, payload, signature = offline_install(bundle_of(trial), tmp_path).split(".")
    flipped = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    assert_error(upload(st_mary.api("member"), f"{header}.{payload}.{flipped}"), 400, field="receipt")
    assert not SiteAgent.objects.exists()
    assert Deployment.objects.get(pk=trial.deployment_id).status == Deployment.Status.AWAITING_AGENT


def test_a_changed_receipt_is_refused(st_mary: Party, trial: Trial, tmp_path: Path) -> None:
    """Turning a failed installation into a successful one breaks the signature."""
    from marketplace_agent import jose

    receipt = offline_install(bundle_of(trial), tmp_path, path=damaged_copy(bundle_of(trial), tmp_path))
    header, payload, signature = receipt.split(".")
    claims = json.loads(jose.b64url_decode(payload))
    assert claims["installed"] is False and claims["results"]["checksums"] is False
    claims["installed"] = True
    claims["results"]["checksums"] = True
    forged = jose.b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    assert_error(upload(st_mary.api("member"), f"{header}.{forged}.{signature}"), 400, field="receipt")
    assert Deployment.objects.get(pk=trial.deployment_id).status == Deployment.Status.AWAITING_AGENT


def test_a_receipt_signed_by_another_key_than_the_one_it_carries_is_refused(st_mary: Party, trial: Trial) -> None:
    bundle = bundle_of(trial)
    _token, raw = enrollment_token_create(site=trial.site, created_by="test")
    Bundle.objects.filter(pk=bundle.pk).update(enrollment_token=_token)
    receipt = signed_receipt(receipt_payload(bundle, raw), key=agent_key(), carried=agent_key())
    assert_error(upload(st_mary.api("member"), receipt), 400, field="receipt")
    _token.refresh_from_db()
    assert _token.used_at is None


@pytest.mark.parametrize(
    "receipt",
    [
        "not a receipt",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJ0eXBlIjoiaW5zdGFsbGF0aW9uX3JlY2VpcHQifQ.",
    ],
)
def test_malformed_receipts_are_refused(st_mary: Party, trial: Trial, receipt: str) -> None:
    assert_error(upload(st_mary.api("member"), receipt), 400, field="receipt")


def test_alg_none_and_private_keys_are_refused(st_mary: Party, trial: Trial) -> None:
    from marketplace_agent import jose

    bundle = bundle_of(trial)
    token = bundle.enrollment_token
    key = agent_key()
    public = jose.public_jwk(key)
    header = jose.b64url_encode(b'{"alg":"none","kid":"x"}')
    body = jose.b64url_encode(json.dumps({**receipt_payload(bundle, "met_x"), "public_key": public}).encode())
    assert_error(upload(st_mary.api("member"), f"{header}.{body}."), 400, field="receipt")
    leaked = {**public, "d": "c2VjcmV0"}
    signed = jose.sign(
        {**receipt_payload(bundle, "met_x"), "public_key": leaked}, key, kid=jose.key_id(public), typ="t"
    )
    assert_error(upload(st_mary.api("member"), signed), 400, field="receipt")
    token.refresh_from_db()
    assert token.used_at is None


def test_a_signed_document_that_is_not_a_receipt_is_refused(st_mary: Party, trial: Trial) -> None:
    bundle = bundle_of(trial)
    receipt = signed_receipt(receipt_payload(bundle, "met_x", type="license"))
    assert_error(upload(st_mary.api("member"), receipt), 400, field="receipt")


def test_a_wrong_enrollment_token_is_refused(st_mary: Party, trial: Trial) -> None:
    bundle = bundle_of(trial)
    receipt = signed_receipt(receipt_payload(bundle, "met_guessed-token"))
    assert_error(upload(st_mary.api("member"), receipt), 403, code="invalid_enrollment_token")
    receipt = signed_receipt(receipt_payload(bundle, ""))
    assert_error(upload(st_mary.api("member"), receipt), 403, code="invalid_enrollment_token")


def test_another_bundles_token_is_refused(st_mary: Party, trial: Trial) -> None:
    """A valid, unused token of the same site that was not shipped in this bundle."""
    _token, raw = enrollment_token_create(site=trial.site, created_by="test admin")
    receipt = signed_receipt(receipt_payload(bundle_of(trial), raw))
    assert_error(upload(st_mary.api("member"), receipt), 400, field="receipt")
    _token.refresh_from_db()
    assert _token.used_at is None and not SiteAgent.objects.exists()


def test_another_organizations_bundle_is_refused(
    northside: Party, radiant: Party, trial: Trial, tmp_path: Path
) -> None:
    receipt = offline_install(bundle_of(trial), tmp_path)
    for party in (northside, radiant):
        assert_error(upload(party.api("member"), receipt), 400, field="receipt")
    assert not SiteAgent.objects.exists()
    bundle_of(trial).enrollment_token.refresh_from_db()
    assert bundle_of(trial).enrollment_token.used_at is None


def test_a_receipt_naming_no_bundle_is_refused(st_mary: Party, trial: Trial) -> None:
    for bundle_id in (None, "not-a-uuid", "7d1e2f3a-0000-4000-8000-000000000000"):
        receipt = signed_receipt(receipt_payload(bundle_of(trial), "met_x", bundle=bundle_id))
        assert_error(upload(st_mary.api("member"), receipt), 400, field="receipt")


def test_failed_checks_in_the_receipt_fail_the_deployment(st_mary: Party, trial: Trial, tmp_path: Path) -> None:
    """The agent verified a bundle whose artifact changed on the way in: it installs nothing and
    says so in its receipt; uploading it enrolls the agent and fails the deployment."""
    bundle = bundle_of(trial)
    receipt = offline_install(bundle, tmp_path, path=damaged_copy(bundle, tmp_path))
    response = upload(st_mary.api("member"), receipt)
    assert response.status_code == 201
    assert response.json()["deployment_status"] == "failed"
    deployment = Deployment.objects.get(pk=trial.deployment_id)
    assert deployment.status == Deployment.Status.FAILED
    assert "checksums" in deployment.failure_reason
    assert not (tmp_path / "apps").exists()
    trial.refresh_from_db()
    assert trial.status == Trial.Status.FAILED


def test_after_a_failed_receipt_a_retry_lets_the_same_agent_report_success(
    st_mary: Party, trial: Trial, tmp_path: Path
) -> None:
    """The failed receipt does not spend the bundle's one-time token: the deployment's retry hands
    out the same bundle, and the agent's good receipt after it enrolls and activates."""
    bundle = bundle_of(trial)
    failed = upload(st_mary.api("member"), offline_install(bundle, tmp_path, path=damaged_copy(bundle, tmp_path)))
    assert failed.status_code == 201 and failed.json()["deployment_status"] == "failed"
    assert EnrollmentToken.objects.get(pk=bundle.enrollment_token_id).used_at is None

    retried = st_mary.api("member").post(f"/api/v1/deployments/{trial.deployment.public_id}/retry/")
    assert retried.status_code == 200, retried.content
    run_worker(trial.deployment)
    assert bundle_of(trial) == bundle  # the same license: the same bundle, the same token

    good = upload(st_mary.api("member"), offline_install(bundle, tmp_path))  # the same agent key
    assert good.status_code == 201, good.content
    assert good.json()["deployment_status"] == "active"
    assert good.json()["agent"] == failed.json()["agent"]  # one agent, not one per receipt
    assert SiteAgent.objects.filter(site=trial.site).count() == 1
    token = EnrollmentToken.objects.get(pk=bundle.enrollment_token_id)
    assert token.used_at is not None and token.agent.public_id == UUID(good.json()["agent"])
    # Spent now: the good receipt again is refused.
    again = upload(st_mary.api("member"), offline_install(bundle, tmp_path))
    assert_error(again, 403, code="invalid_enrollment_token")


def test_a_revoked_air_gapped_agents_receipts_are_refused(st_mary: Party, trial: Trial, tmp_path: Path) -> None:
    bundle = bundle_of(trial)
    failed = upload(st_mary.api("member"), offline_install(bundle, tmp_path, path=damaged_copy(bundle, tmp_path)))
    agent = SiteAgent.objects.get(public_id=failed.json()["agent"])
    assert st_mary.api("admin").post(agent_url(agent, "revoke")).status_code == 200
    st_mary.api("member").post(f"/api/v1/deployments/{trial.deployment.public_id}/retry/")
    run_worker(trial.deployment)
    refused = upload(st_mary.api("member"), offline_install(bundle, tmp_path))
    assert_error(refused, 403, code="agent_revoked")
    assert Deployment.objects.get(pk=trial.deployment_id).status != Deployment.Status.ACTIVE


@pytest.mark.parametrize(
    "overrides",
    [
        {"installed": False},
        {"results": {"manifest": True, "license": True, "checksums": True}},
        {"results": {"manifest": True, "license": "yes", "checksums": True, "not_revoked": True}},
        {"results": "all good"},
    ],
)
def test_a_receipt_without_every_check_passed_fails_the_deployment(
    st_mary: Party, trial: Trial, overrides: dict[str, Any]
) -> None:
    bundle = bundle_of(trial)
    with zipfile.ZipFile(io.BytesIO(bundle.file.open("rb").read())) as archive:
        token = json.loads(archive.read("enrollment.json"))["token"]
    response = upload(st_mary.api("member"), signed_receipt(receipt_payload(bundle, token, **overrides)))
    assert response.status_code == 201
    assert response.json()["deployment_status"] == "failed"


@pytest.mark.parametrize("who", ["client:read_only"])
def test_read_only_clients_may_not_upload_receipts(st_mary: Party, trial: Trial, tmp_path: Path, who: str) -> None:
    receipt = offline_install(bundle_of(trial), tmp_path)
    assert_error(upload(st_mary.api(who), receipt), 403)


def test_anonymous_callers_and_operators_may_not_upload_receipts(
    anonymous_api: APIClient, operator_api: APIClient, trial: Trial, tmp_path: Path
) -> None:
    receipt = offline_install(bundle_of(trial), tmp_path)
    assert_error(upload(anonymous_api, receipt), 401)
    assert_error(upload(operator_api, receipt), 403)
    assert Deployment.objects.get(pk=trial.deployment_id).status == Deployment.Status.AWAITING_AGENT


# --- known gaps ----------------------------------------------------------------------------------


def test_converting_an_on_premise_trial_gives_the_site_a_bundle_with_a_valid_license(
    st_mary: Party, trial: Trial, agent_of_site: APIClient
) -> None:
    from apps.procurement import services as procurement
    from marketplace.principal import Role

    assert report(agent_of_site, trial, "installed").status_code == 200
    trial.refresh_from_db()
    accepted = [{"kind": t["kind"], "version": t["version"]} for t in procurement.terms_required(trial.listing)]
    procurement.trial_convert(
        trial=trial, actor=principal_of(st_mary.organization, Role.ADMIN), accepted_terms=accepted
    )
    (offered,) = agent_of_site.get(BUNDLES).json()
    bundle = Bundle.objects.get(public_id=offered["id"])
    with bundle.file.open("rb") as stored, zipfile.ZipFile(io.BytesIO(stored.read())) as archive:
        license_id = jws_verify(archive.read("license.jwt").decode(), jwks=licensing_jwks())["jti"]
    heartbeat = agent_of_site.post(HEARTBEAT, {}, format="json").json()
    assert license_id not in jws_verify(heartbeat["revocations"], jwks=licensing_jwks())["revoked"]
