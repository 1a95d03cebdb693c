"""On premise and vendor fulfillment in the store: a site's enrollment tokens (made by admins,
shown once) and agents (read by members); an on-premise deployment's bundle for an air-gapped
site, the receipt its agent wrote, and the agents' reports; the vendor's fulfillment settings per
offering; and listing views counted from the listing page. Another organization's objects are
404 everywhere."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from apps.analytics.models import ListingViewDay
from apps.catalog.models import Listing, Offering
from apps.organizations.models import Site
from apps.procurement.models import Trial
from apps.provisioning.agents import AgentNotAuthenticated, agent_authenticate, agent_enroll
from apps.provisioning.models import Bundle, Deployment, EnrollmentToken, SiteAgent
from apps.provisioning.onprem import enrollment_token_create, token_hash
from marketplace.models import AuditEntry
from tests.conftest import Party
from tests.factories import MembershipFactory
from tests.procurement.conftest import orbit
from tests.procurement.factories import offering_of, trial_listing
from tests.provisioning.site_agent import (
    agent_key,
    bundle_of,
    offline_install,
    onprem_trial,
    receipt_payload,
    signed_receipt,
    site_of,
)
from tests.storefront.conftest import assert_csp_clean, signed_in

__all__ = ["orbit"]

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
SITES = reverse("storefront:organization-sites")


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def site(st_mary: Party) -> Site:
    return site_of(st_mary.organization)


@pytest.fixture
def trial(st_mary: Party, radiant: Party, site: Site) -> Trial:
    """An approved on-premise trial whose bundle is built: its deployment waits for the agent."""
    return onprem_trial(st_mary.organization, radiant.organization, site)


def agent_revoke_url(agent: SiteAgent) -> str:
    return reverse("storefront:site-agent-revoke", kwargs={"public_id": agent.public_id})


def token_url(site: Site) -> str:
    return reverse("storefront:enrollment-token-create", kwargs={"public_id": site.public_id})


def deployment_url(deployment: Deployment, name: str = "deployment") -> str:
    return reverse(f"storefront:{name}", kwargs={"public_id": deployment.public_id})


def fulfillment_url(offering: Offering, name: str = "offering-fulfillment") -> str:
    return reverse(f"storefront:{name}", kwargs={"public_id": offering.public_id})


def shipped_token(bundle: Bundle) -> str:
    """The one-time enrollment token inside the bundle (enrollment.json)."""
    with bundle.file.open("rb") as stored, zipfile.ZipFile(stored) as archive:
        return json.loads(archive.read("enrollment.json"))["token"]


def read_only(party: Party) -> Client:
    return signed_in(MembershipFactory(organization=party.organization, role="read_only").user)


# --- sites: enrollment tokens and agents ---------------------------------------------------------


class TestEnrollmentTokens:
    def test_admin_creates_a_token_shown_once_with_the_enroll_command(self, st_mary: Party, site: Site) -> None:
        client = signed_in(st_mary.admin)
        response = client.post(token_url(site))
        assert response.status_code == 200
        html = assert_csp_clean(response)
        token = EnrollmentToken.objects.get(site=site)
        raw = re.search(r'id="new-enrollment-token-value">(met_[^<]+)<', html).group(1)
        assert token.token_hash == token_hash(raw) and raw.startswith(token.hint)
        command = f"marketplace-agent enroll --server {django_settings.MARKETPLACE_BASE_URL} --token {raw}"
        assert f'<code id="new-enrollment-command">{command}</code>' in html
        assert "it will not be shown again" in html
        assert "no-store" in response["Cache-Control"]
        entry = AuditEntry.objects.get(action="provisioning.enrollment_token.created")
        assert entry.organization == st_mary.organization and entry.actor_kind == "member"

        # Listed afterwards by its hint; the token itself never again.
        again = client.get(SITES).content.decode()
        assert raw not in again and f"<code>{token.hint}…</code>" in again
        assert "Not used" in again and "Create enrollment token" in again

    def test_with_htmx_the_answer_is_the_panel(self, st_mary: Party, site: Site) -> None:
        response = signed_in(st_mary.admin).post(token_url(site), **HTMX)
        html = response.content.decode()
        assert response.status_code == 200 and html.startswith('<div id="sites-panel"')
        assert "data-focus-after-swap" in html and "<html" not in html

    def test_a_used_token_names_its_agent(self, st_mary: Party, site: Site) -> None:
        _token, raw = enrollment_token_create(site=site, created_by="test admin")
        agent_enroll(token=raw, name="pacs-gw-01", hostname="pacs-gw-01.intra", agent_version="1.0.0")
        html = signed_in(st_mary.admin).get(SITES).content.decode()
        table = html.split('class="enrollment-tokens"', 1)[1].split("</table>", 1)[0]
        assert "Used" in table and "by pacs-gw-01" in table

    def test_members_see_agents_read_only(self, st_mary: Party, site: Site) -> None:
        _token, raw = enrollment_token_create(site=site, created_by="test admin")
        agent_enroll(token=raw, name="pacs-gw-01", hostname="pacs-gw-01.intra", agent_version="1.0.0")
        for client in (signed_in(st_mary.member), read_only(st_mary)):
            response = client.get(SITES)
            html = assert_csp_clean(response)
            agents = html.split('class="site-agents-table"', 1)[1].split("</table>", 1)[0]
            assert "pacs-gw-01" in agents and "pacs-gw-01.intra" in agents and "1.0.0" in agents
            assert "Online" in agents
            assert "enrollment-tokens" not in html and "Create enrollment token" not in html
            assert client.post(token_url(site)).status_code == 403
        assert EnrollmentToken.objects.count() == 1

    def test_another_organizations_site_is_404(self, st_mary: Party, northside: Party, site: Site) -> None:
        assert signed_in(northside.admin).post(token_url(site)).status_code == 404
        assert "St. Mary's Main Campus" not in signed_in(northside.admin).get(SITES).content.decode()
        assert not EnrollmentToken.objects.exists()

    def test_an_archived_site_gets_no_token(self, st_mary: Party, site: Site) -> None:
        Site.objects.filter(pk=site.pk).update(archived_at="2026-01-01T00:00:00Z")
        assert signed_in(st_mary.admin).post(token_url(site)).status_code == 404
        assert not EnrollmentToken.objects.exists()

    def test_admin_revokes_an_agent_from_the_sites_page(self, st_mary: Party, site: Site) -> None:
        _token, raw = enrollment_token_create(site=site, created_by="test admin")
        agent, credential = agent_enroll(token=raw, name="pacs-gw-01", hostname="pacs-gw-01.intra")
        client = signed_in(st_mary.admin)
        revoke = agent_revoke_url(agent)
        assert f'action="{revoke}"' in client.get(SITES).content.decode()
        response = client.post(revoke, **HTMX)
        html = response.content.decode()
        assert response.status_code == 200 and html.startswith('<div id="sites-panel"')
        assert "pacs-gw-01 at St. Mary" in html and "is revoked" in html
        agents = html.split('class="site-agents-table"', 1)[1].split("</table>", 1)[0]
        assert "Revoked" in agents and f'action="{revoke}"' not in agents
        agent.refresh_from_db()
        assert agent.revoked_at is not None
        with pytest.raises(AgentNotAuthenticated):
            agent_authenticate(f"Agent {credential}")
        # Without htmx: back to the sites page with the notice.
        assert client.post(revoke).status_code == 302

    def test_members_and_other_organizations_cannot_revoke(
        self, st_mary: Party, northside: Party, site: Site
    ) -> None:
        _token, raw = enrollment_token_create(site=site, created_by="test admin")
        agent, _credential = agent_enroll(token=raw, name="pacs-gw-01")
        assert 'class="site-agents-table"' in signed_in(st_mary.member).get(SITES).content.decode()
        assert agent_revoke_url(agent) not in signed_in(st_mary.member).get(SITES).content.decode()
        assert signed_in(st_mary.member).post(agent_revoke_url(agent)).status_code == 403
        assert signed_in(northside.admin).post(agent_revoke_url(agent)).status_code == 404
        agent.refresh_from_db()
        assert agent.revoked_at is None

    def test_a_vendor_has_no_site_agents(self, radiant: Party) -> None:
        html = signed_in(radiant.admin).get(SITES).content.decode()
        assert "Site agents" not in html


# --- an on-premise deployment's page, bundle and receipt -----------------------------------------


class TestDeploymentPage:
    def test_provider_member_sees_the_target_the_bundle_and_the_receipt_form(self, st_mary: Party, trial: Trial):
        bundle = bundle_of(trial)
        response = signed_in(st_mary.member).get(deployment_url(trial.deployment))
        html = assert_csp_clean(response)
        facts = " ".join(html.split('class="facts"', 1)[1].split("</dl>", 1)[0].split())
        assert "<dt>Runs on</dt><dd>Site agent (on premise)</dd>" in facts
        assert "<dt>Site</dt><dd>St. Mary&#x27;s Main Campus</dd>" in facts
        assert f'href="{deployment_url(trial.deployment, "deployment-bundle")}" download>Download bundle</a>' in html
        assert bundle.sha256 in html and f"({bundle.size} bytes)" in html
        assert 'href="/api/v1/licensing/public-key/" download="jwks.json"' in html
        assert 'href="/api/v1/licensing/revocations/" download="revocations.json"' in html
        assert 'enctype="multipart/form-data"' in html and 'name="receipt_file"' in html
        assert '<label for="id_receipt_text">Or paste the receipt</label>' in html
        assert "No reports yet." in html

    def test_the_vendor_sees_the_target_and_reports_but_no_bundle(self, radiant: Party, trial: Trial) -> None:
        html = signed_in(radiant.admin).get(deployment_url(trial.deployment)).content.decode()
        assert "Site agent (on premise)" in html and "What the site agents reported" in html
        assert "Download bundle" not in html and "receipt_file" not in html

    def test_a_read_only_member_gets_no_bundle(self, st_mary: Party, trial: Trial) -> None:
        html = read_only(st_mary).get(deployment_url(trial.deployment)).content.decode()
        assert "Download bundle" not in html and "receipt_file" not in html

    def test_a_cloud_deployment_names_its_target(self, st_mary: Party, radiant: Party) -> None:
        from tests.procurement.factories import approve, request_trial

        cloud = approve(request_trial(st_mary.organization, trial_listing(radiant.organization)))
        html = signed_in(st_mary.member).get(deployment_url(cloud.deployment)).content.decode()
        assert "<dt>Runs on</dt><dd>Sandbox (simulated)</dd>" in html and "<dt>Region</dt><dd>eu-central</dd>" in html
        assert 'id="installation"' not in html


class TestBundleDownload:
    def test_provider_member_downloads_the_bundle(self, st_mary: Party, trial: Trial) -> None:
        bundle = bundle_of(trial)
        response = signed_in(st_mary.member).get(deployment_url(trial.deployment, "deployment-bundle"))
        assert response.status_code == 200
        content = b"".join(response.streaming_content)
        assert response["Content-Disposition"] == f'attachment; filename="{bundle.filename}"'
        assert response["Content-Type"] == "application/zip"
        assert response["X-Checksum-SHA256"] == bundle.sha256 == hashlib.sha256(content).hexdigest()
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response["Cache-Control"]
        assert int(response["Content-Length"]) == bundle.size
        entry = AuditEntry.objects.get(action="provisioning.bundle.downloaded")
        assert entry.organization == st_mary.organization and entry.counterparty == trial.vendor

    def test_everyone_else_gets_404(self, st_mary: Party, radiant: Party, northside: Party, trial: Trial) -> None:
        url = deployment_url(trial.deployment, "deployment-bundle")
        for client in (signed_in(radiant.admin), signed_in(northside.admin), read_only(st_mary)):
            assert client.get(url).status_code == 404
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
        assert not AuditEntry.objects.filter(action="provisioning.bundle.downloaded").exists()

    def test_a_withdrawn_bundle_is_404(self, st_mary: Party, trial: Trial) -> None:
        Deployment.objects.filter(pk=trial.deployment.pk).update(status=Deployment.Status.DEPROVISIONED)
        client = signed_in(st_mary.member)
        assert client.get(deployment_url(trial.deployment, "deployment-bundle")).status_code == 404
        assert "Download bundle" not in client.get(deployment_url(trial.deployment)).content.decode()


class TestReceiptUpload:
    def test_an_uploaded_receipt_enrolls_the_agent_and_activates_the_deployment(
        self, st_mary: Party, trial: Trial, tmp_path: Path
    ) -> None:
        bundle = bundle_of(trial)
        receipt = offline_install(bundle, tmp_path, name="bunker-gw")  # the real agent, offline
        client = signed_in(st_mary.member)
        upload = _file("receipt.jws", receipt.encode())
        response = client.post(deployment_url(trial.deployment, "deployment-receipt"), {"receipt_file": upload})
        assert response.status_code == 302 and response["Location"] == deployment_url(trial.deployment)
        trial.deployment.refresh_from_db()
        assert trial.deployment.status == Deployment.Status.ACTIVE
        agent = SiteAgent.objects.get(site=bundle.site)
        assert agent.air_gapped and agent.name == "bunker-gw"

        page = client.get(response["Location"])
        html = assert_csp_clean(page)
        assert "Receipt accepted: bunker-gw at St. Mary&#x27;s Main Campus installed" in html
        reports = html.split('class="agent-reports-table"', 1)[1].split("</table>", 1)[0]
        assert "Installed" in reports and "by signed receipt" in reports and "bunker-gw" in reports
        assert "receipt_file" not in html  # nothing left to upload

        # The sites page lists the agent as air-gapped.
        agents = signed_in(st_mary.member).get(SITES).content.decode()
        assert "bunker-gw" in agents and "Air-gapped" in agents

    def test_a_pasted_receipt_works_too(self, st_mary: Party, trial: Trial) -> None:
        bundle = bundle_of(trial)
        receipt = signed_receipt(receipt_payload(bundle, shipped_token(bundle)))
        response = signed_in(st_mary.member).post(
            deployment_url(trial.deployment, "deployment-receipt"), {"receipt_text": f"\n{receipt}\n"}
        )
        assert response.status_code == 302
        trial.deployment.refresh_from_db()
        assert trial.deployment.status == Deployment.Status.ACTIVE

    def test_a_forged_receipt_is_refused_next_to_the_field(self, st_mary: Party, trial: Trial) -> None:
        bundle = bundle_of(trial)
        # Signed by one key while carrying another's public key: the signature does not verify.
        forged = signed_receipt(receipt_payload(bundle, shipped_token(bundle)), key=agent_key(), carried=agent_key())
        response = signed_in(st_mary.member).post(
            deployment_url(trial.deployment, "deployment-receipt"), {"receipt_file": _file("receipt.jws", forged)}
        )
        assert response.status_code == 400
        html = assert_csp_clean(response)
        summary = html.split('class="form-errors error-summary"', 1)[1].split("</div>", 1)[0]
        assert 'href="#id_receipt_file"' in summary and "Receipt file: Not a valid signed receipt" in summary
        field = html.split('for="id_receipt_file"', 1)[1].split('id="id_receipt_file"', 1)[0]
        assert "Not a valid signed receipt" in field
        trial.deployment.refresh_from_db()
        assert trial.deployment.status == Deployment.Status.AWAITING_AGENT
        assert not SiteAgent.objects.exists()
        assert EnrollmentToken.objects.get(pk=bundle.enrollment_token_id).used_at is None

    def test_a_receipt_whose_checks_failed_fails_the_deployment(self, st_mary: Party, trial: Trial) -> None:
        bundle = bundle_of(trial)
        results = {"manifest": True, "license": True, "checksums": False, "not_revoked": True}
        receipt = signed_receipt(receipt_payload(bundle, shipped_token(bundle), results=results, installed=False))
        client = signed_in(st_mary.member)
        response = client.post(deployment_url(trial.deployment, "deployment-receipt"), {"receipt_text": receipt})
        assert response.status_code == 302
        trial.deployment.refresh_from_db()
        assert trial.deployment.status == Deployment.Status.FAILED
        html = client.get(response["Location"]).content.decode()
        assert "did not install it" in html and "checksums" in html
        reports = html.split('class="agent-reports-table"', 1)[1].split("</table>", 1)[0]
        assert "Failed" in reports and "The air-gapped agent&#x27;s checks failed: checksums." in reports

    def test_a_receipt_used_twice_says_why(self, st_mary: Party, trial: Trial) -> None:
        bundle = bundle_of(trial)
        receipt = signed_receipt(receipt_payload(bundle, shipped_token(bundle)))
        client = signed_in(st_mary.member)
        url = deployment_url(trial.deployment, "deployment-receipt")
        assert client.post(url, {"receipt_text": receipt}).status_code == 302
        Deployment.objects.filter(pk=trial.deployment.pk).update(status=Deployment.Status.AWAITING_AGENT)
        again = client.post(url, {"receipt_text": receipt})
        assert again.status_code == 403
        assert "This enrollment token is not valid (unknown, used or expired)." in again.content.decode()
        assert SiteAgent.objects.count() == 1

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({}, "receipt_file", "Choose the receipt file, or paste the receipt below."),
            ({"receipt_text": "a", "receipt_file": "x"}, "receipt_text", "Give the receipt once"),
            ({"receipt_file": b"\xff\xfe\x00binary"}, "receipt_file", "This is not a receipt"),
            ({"receipt_text": "not-a-jws"}, "receipt_text", "Not a valid signed receipt"),
        ],
    )
    def test_bad_input_names_the_field(
        self, st_mary: Party, trial: Trial, data: dict[str, Any], field: str, message: str
    ) -> None:
        if "receipt_file" in data:
            data = {**data, "receipt_file": _file("receipt.jws", data["receipt_file"])}
        response = signed_in(st_mary.member).post(deployment_url(trial.deployment, "deployment-receipt"), data)
        assert response.status_code == 400
        html = response.content.decode()
        assert f'href="#id_{field}"' in html and message in html
        widget = next(tag for tag in re.findall(r"<(?:input|textarea)\b[^>]*>", html) if f'id="id_{field}"' in tag)
        assert 'aria-invalid="true"' in widget

    def test_the_vendor_and_read_only_members_may_not_upload(self, st_mary: Party, radiant: Party, trial: Trial):
        bundle = bundle_of(trial)
        receipt = signed_receipt(receipt_payload(bundle, shipped_token(bundle)))
        url = deployment_url(trial.deployment, "deployment-receipt")
        assert signed_in(radiant.admin).post(url, {"receipt_text": receipt}).status_code == 403
        assert read_only(st_mary).post(url, {"receipt_text": receipt}).status_code == 403

    def test_another_organization_gets_404(self, northside: Party, trial: Trial) -> None:
        bundle = bundle_of(trial)
        receipt = signed_receipt(receipt_payload(bundle, shipped_token(bundle)))
        url = deployment_url(trial.deployment, "deployment-receipt")
        assert signed_in(northside.admin).post(url, {"receipt_text": receipt}).status_code == 404
        assert signed_in(northside.admin).get(deployment_url(trial.deployment)).status_code == 404
        assert not SiteAgent.objects.exists()


def _file(name: str, content: bytes | str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content, "text/plain")


# --- the vendor's listings and fulfillment settings ----------------------------------------------


@pytest.fixture
def cloud_listing(radiant: Party) -> Listing:
    return trial_listing(radiant.organization)


@pytest.fixture
def onprem_listing(radiant: Party) -> Listing:
    return trial_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)


class TestFulfillmentSettings:
    def test_my_listings_links_each_offerings_settings(self, radiant: Party, cloud_listing: Listing) -> None:
        response = signed_in(radiant.member).get(reverse("storefront:vendor-listings"))
        html = assert_csp_clean(response)
        offering = offering_of(cloud_listing)
        assert cloud_listing.name in html and offering.name in html and "Sandbox (simulated)" in html
        assert f'href="{fulfillment_url(offering)}">Fulfillment settings' in html
        tabs = html.split('class="tabs"', 1)[1].split("</nav>", 1)[0]
        assert 'aria-current="page">My listings</a>' in tabs

    def test_a_provider_has_no_listings_tab(self, st_mary: Party) -> None:
        html = signed_in(st_mary.admin).get(reverse("storefront:organization")).content.decode()
        assert reverse("storefront:vendor-listings") not in html

    def test_admin_sets_the_vendors_cloud_and_sees_the_secret_once(
        self, radiant: Party, cloud_listing: Listing
    ) -> None:
        offering = offering_of(cloud_listing)
        client = signed_in(radiant.admin)
        page = assert_csp_clean(client.get(fulfillment_url(offering)))
        # Only what fits a cloud offering is offered.
        assert 'value="sandbox"' in page and 'value="vendor"' in page
        assert 'value="site_agent"' not in page and 'value="hybrid"' not in page
        assert "<legend>Deployed by</legend>" in page

        endpoint = "https://127.0.0.1:8443/fulfil"
        response = client.post(fulfillment_url(offering), {"provisioner": "vendor", "fulfillment_url": endpoint})
        assert response.status_code == 200
        html = assert_csp_clean(response)
        offering.refresh_from_db()
        assert (offering.provisioner, offering.fulfillment_url) == ("vendor", endpoint)
        secret = re.search(r'id="new-secret-value">(whsec_[^<]+)<', html).group(1)
        assert secret == offering.fulfillment_secret
        assert "no-store" in response["Cache-Control"]
        again = client.get(fulfillment_url(offering)).content.decode()
        assert secret not in again and "<dd>Vendor&#x27;s cloud</dd>" in again and "Rotate secret" in again

        # Saving again keeps the secret: a redirect with a message, no secret.
        saved = client.post(fulfillment_url(offering), {"provisioner": "vendor", "fulfillment_url": endpoint})
        assert saved.status_code == 302
        offering.refresh_from_db()
        assert offering.fulfillment_secret == secret

        rotated = client.post(fulfillment_url(offering, "offering-secret-rotate"))
        assert rotated.status_code == 200
        new_secret = re.search(r'id="new-secret-value">(whsec_[^<]+)<', rotated.content.decode()).group(1)
        offering.refresh_from_db()
        assert new_secret != secret and offering.fulfillment_secret == new_secret
        assert offering.fulfillment_previous_secret == secret  # signs too, for 24 hours
        assert "The previous secret signs requests too until" in rotated.content.decode()
        assert "with the previous one too for 24 hours" in rotated.content.decode()
        assert "no-store" in rotated["Cache-Control"]
        assert AuditEntry.objects.filter(action="catalog.offering.fulfillment_changed").count() == 3

    def test_service_errors_are_shown_next_to_the_fields(self, radiant: Party, cloud_listing: Listing) -> None:
        offering = offering_of(cloud_listing)
        client = signed_in(radiant.admin)
        response = client.post(fulfillment_url(offering), {"provisioner": "vendor", "fulfillment_url": ""})
        assert response.status_code == 400
        html = assert_csp_clean(response)
        assert 'href="#id_fulfillment_url"' in html
        field = html.split('for="id_fulfillment_url"', 1)[1].split("<input", 1)[0]
        assert "This provisioner calls your fulfillment endpoint." in field
        assert "autofocus" in html.split('class="form-errors error-summary"', 1)[1].split(">", 1)[0]

        refused = client.post(
            fulfillment_url(offering), {"provisioner": "vendor", "fulfillment_url": "ftp://radiant.example/x"}
        )
        assert refused.status_code == 400
        assert "Enter a valid URL." in refused.content.decode() or "https only" in refused.content.decode()

        unfit = client.post(fulfillment_url(offering), {"provisioner": "site_agent"})
        assert unfit.status_code == 400 and 'href="#id_provisioner_0"' in unfit.content.decode()
        offering.refresh_from_db()
        assert (offering.provisioner, offering.fulfillment_url, offering.fulfillment_secret) == ("sandbox", "", "")

    def test_an_on_premise_offering_is_deployed_by_the_site_agent(
        self, radiant: Party, onprem_listing: Listing
    ) -> None:
        offering = offering_of(onprem_listing)
        client = signed_in(radiant.admin)
        page = client.get(fulfillment_url(offering)).content.decode()
        assert 'value="site_agent"' in page and 'value="vendor"' not in page
        assert "fulfillment_url" not in page and "Rotate secret" not in page
        response = client.post(fulfillment_url(offering), {"provisioner": "site_agent"})
        assert response.status_code == 302 and response["Location"] == fulfillment_url(offering)
        offering.refresh_from_db()
        assert offering.provisioner == "site_agent" and offering.fulfillment_secret == ""
        html = client.get(response["Location"]).content.decode()
        assert "The settings of" in html and "<dd>Site agent (on premise)</dd>" in html

    def test_members_read_the_settings(self, radiant: Party, cloud_listing: Listing) -> None:
        offering = offering_of(cloud_listing)
        for client in (signed_in(radiant.member), read_only(radiant)):
            html = assert_csp_clean(client.get(fulfillment_url(offering)))
            assert "<dd>Sandbox (simulated)</dd>" in html and "Only admins of Radiant AI change" in html
            assert "<form" not in html.split('class="panel fulfillment-page"', 1)[1]
            denied = client.post(fulfillment_url(offering), {"provisioner": "vendor", "fulfillment_url": "https://x"})
            assert denied.status_code == 403
            assert client.post(fulfillment_url(offering, "offering-secret-rotate")).status_code == 403
        offering.refresh_from_db()
        assert (offering.provisioner, offering.fulfillment_secret) == ("sandbox", "")

    def test_another_vendor_and_providers_get_404(
        self, orbit: Party, st_mary: Party, radiant: Party, cloud_listing: Listing
    ) -> None:
        offering = offering_of(cloud_listing)
        for client in (signed_in(orbit.admin), signed_in(st_mary.admin)):
            assert client.get(fulfillment_url(offering)).status_code == 404
            assert client.post(fulfillment_url(offering), {"provisioner": "vendor"}).status_code == 404
            assert client.post(fulfillment_url(offering, "offering-secret-rotate")).status_code == 404
        their_listings = signed_in(orbit.admin).get(reverse("storefront:vendor-listings")).content.decode()
        assert cloud_listing.name not in their_listings
        offering.refresh_from_db()
        assert offering.provisioner == "sandbox"


# --- listing views counted from the store --------------------------------------------------------


class TestListingViews:
    def test_the_listing_page_counts_a_view_except_for_its_vendor(
        self, st_mary: Party, radiant: Party, cloud_listing: Listing
    ) -> None:
        url = reverse("storefront:listing", kwargs={"slug": cloud_listing.slug})
        assert Client().get(url).status_code == 200
        assert signed_in(st_mary.member).get(url).status_code == 200
        assert signed_in(radiant.member).get(url).status_code == 200  # the vendor's own look
        assert ListingViewDay.objects.get(listing=cloud_listing).views == 2
