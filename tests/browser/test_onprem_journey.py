"""On premise in a real browser (Debian's Chromium via Playwright).

Hospital IT (an admin) creates an enrollment token for a site on the sites page: it appears once,
takes the focus, with the command line to run on the agent's server, and is gone after a reload
(only its hint stays). On the deployment page of an on-premise trial at an air-gapped site, the
same person downloads the installation bundle (its SHA-256 as shown), uploads first a forged
receipt (refused, the error summary takes the focus) and then the receipt the real agent wrote
offline, and the deployment is active with the agent's report listed.

A vendor admin opens "My listings", then the fulfillment settings of its hybrid offering: choosing
Hybrid without an endpoint is refused next to the field; choosing the site agent is saved.

Runs at a desktop and a tablet size and checks that nothing scrolls sideways. Screenshots go to
test-artifacts/screenshots/ for a human look."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.catalog.models import Offering
from apps.organizations.models import Site
from apps.provisioning.models import Deployment, EnrollmentToken, SiteAgent
from apps.provisioning.onprem import token_hash
from tests.browser.conftest import sign_in
from tests.catalog.factories import publish_listing
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, VendorFactory
from tests.provisioning.site_agent import (
    agent_key,
    bundle_of,
    offline_install,
    onprem_trial,
    receipt_payload,
    signed_receipt,
    site_of,
)

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(django_settings.BASE_DIR) / "test-artifacts" / "screenshots"
VIEWPORTS = pytest.mark.parametrize("viewport", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> dict[str, Any]:
    """A hospital group whose IT lead is an admin, with a connected site and an air-gapped one
    where an on-premise trial of Radiant's viewer waits for the site agent (its bundle built). The
    vendor's admin, and a published listing of the vendor with a hybrid offering."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0.05, "fail_step": "", "transient_failures": 0}
    hospital = OrganizationFactory(name="St. Mary's Hospital Group", slug="st-marys", kind="provider")
    hana = UserFactory(email="hana.it@st-marys.example", full_name="Hana IT")
    MembershipFactory(user=hana, organization=hospital, role="admin")
    site_of(hospital, "Main Campus")
    bunker = site_of(hospital, "Bunker Campus", network_posture=Site.NetworkPosture.AIR_GAPPED)
    radiant = VendorFactory(name="Radiant AI", slug="radiant-ai", verified_at=timezone.now())
    victor = UserFactory(email="victor@radiant.example", full_name="Victor Vendor")
    MembershipFactory(user=victor, organization=radiant, role="admin")
    trial = onprem_trial(hospital, radiant, bunker)
    hybrid = publish_listing(
        vendor=radiant, name="DoseWatch", slug="dosewatch", offerings=[(Offering.Mode.HYBRID, "subscription")]
    )
    Offering.objects.filter(listing=hybrid).update(name="Hospital and cloud")
    return {
        "hospital_it": hana,
        "vendor": victor,
        "site": bunker,
        "trial": trial,
        "deployment": trial.deployment,
        "offering": Offering.objects.get(listing=hybrid),
        "folder": tmp_path / "carried",
    }


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} scrolls sideways: {width}px content in a {viewport}px window"


def _open(browser: Any, viewport: tuple[int, int]) -> tuple[Any, Any, list[str]]:
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda message: problems.append(f"{page.url}: {message.text}") if message.type == "error" else None
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return context, page, problems


@VIEWPORTS
def test_hospital_it_enrolls_an_agent_and_installs_at_an_air_gapped_site(
    browser: Any, live_server: Any, world: dict[str, Any], viewport: tuple[int, int]
) -> None:
    from playwright.sync_api import expect

    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    context, page, problems = _open(browser, viewport)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)

    def shot(name: str, full_page: bool = True) -> None:
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-onprem-{name}.png"), full_page=full_page)

    try:
        # The sites page: each site with its agents and tokens.
        sign_in(page, base, world["hospital_it"].email, "/organization/sites/")
        bunker = page.locator(".site-agent-group", has=page.get_by_role("heading", name=re.compile("^Bunker Campus")))
        assert bunker.get_by_text("No agent at Bunker Campus yet.").is_visible()
        shot("01-sites")

        # A token, created through htmx: shown once, focused, with the command to run.
        bunker.get_by_role("button", name="Create enrollment token for Bunker Campus").click()
        box = page.locator("#new-enrollment-token")
        box.wait_for()
        assert page.evaluate("document.activeElement.id") == "new-enrollment-token"
        assert "it will not be shown again" in box.inner_text()
        raw = box.locator("#new-enrollment-token-value").inner_text().strip()
        token = EnrollmentToken.objects.get(token_hash=token_hash(raw))
        assert token.site == world["site"] and token.used_at is None
        command = box.locator("#new-enrollment-command").inner_text().strip()
        assert command == f"marketplace-agent enroll --server {django_settings.MARKETPLACE_BASE_URL} --token {raw}"
        box.get_by_role("button", name="Copy enroll command").click()
        expect(box.locator("button[data-copy='new-enrollment-command']")).to_have_text(re.compile("^Copied"))
        assert page.evaluate("navigator.clipboard.readText()") == command
        # The box is inside Bunker Campus's section, not another site's.
        assert bunker.locator("#new-enrollment-token").count() == 1
        shot("02-token-once", full_page=False)
        shot("03-token-once-full")

        # After a reload only the hint stays.
        page.reload()
        assert page.locator("#new-enrollment-token").count() == 0
        assert raw not in page.content()
        row = page.locator("table.enrollment-tokens tbody tr", has_text=token.hint)
        assert "Not used" in row.inner_text()
        shot("04-tokens-after-reload")

        # The trial's deployment at the air-gapped site: the bundle to carry in.
        deployment = world["deployment"]
        page.goto(f"{base}/organization/deployments/{deployment.public_id}/")
        facts = page.locator(".deployment-page > dl.facts")
        assert "Site agent (on premise)" in facts.inner_text() and "Bunker Campus" in facts.inner_text()
        installation = page.locator("#installation")
        assert "Bunker Campus is air-gapped" in installation.inner_text()
        bundle = bundle_of(world["trial"])
        assert installation.locator("#bundle-sha256").inner_text() == bundle.sha256
        shot("05-deployment-awaiting-agent")
        with page.expect_download() as download_info:
            installation.get_by_role("link", name="Download bundle").click()
        download = download_info.value
        assert download.suggested_filename == bundle.filename
        carried = world["folder"] / bundle.filename
        carried.parent.mkdir(parents=True, exist_ok=True)
        download.save_as(carried)
        assert hashlib.sha256(carried.read_bytes()).hexdigest() == bundle.sha256

        # A forged receipt first: refused, the summary takes the focus and links the field.
        forged = world["folder"] / "forged.jws"
        token_in_bundle = _shipped_token(carried)
        forged.write_text(
            signed_receipt(receipt_payload(bundle, token_in_bundle), key=agent_key(), carried=agent_key())
        )
        form = page.locator("form", has=page.get_by_role("button", name="Upload receipt"))
        form.get_by_label("Receipt file").set_input_files(str(forged))
        form.get_by_role("button", name="Upload receipt").click()
        page.wait_for_load_state()
        summary = page.locator(".receipt-upload .error-summary")
        assert "Receipt file: Not a valid signed receipt" in summary.inner_text()
        assert page.evaluate("document.activeElement.classList.contains('error-summary')")
        assert page.get_by_label("Receipt file").get_attribute("aria-invalid") == "true"
        shot("06-forged-receipt", full_page=False)

        # The receipt the real agent wrote after verifying and installing the carried bundle.
        receipt = world["folder"] / "receipt.jws"
        receipt.write_text(offline_install(bundle, world["folder"], path=carried, name="bunker-gw"))
        form = page.locator("form", has=page.get_by_role("button", name="Upload receipt"))
        form.get_by_label("Receipt file").set_input_files(str(receipt))
        form.get_by_role("button", name="Upload receipt").click()
        page.wait_for_url(f"{base}/organization/deployments/{deployment.public_id}/")
        assert "Receipt accepted: bunker-gw at Bunker Campus installed" in page.locator(".messages").inner_text()
        assert page.locator("#deployment-live .badge-large", has_text="Active").is_visible()
        reports = page.locator("table.agent-reports-table tbody tr")
        assert reports.count() == 1
        assert "Installed" in reports.inner_text() and "by signed receipt" in reports.inner_text()
        assert page.locator("form", has=page.get_by_role("button", name="Upload receipt")).count() == 0
        shot("07-deployment-active")
        deployment.refresh_from_db()
        assert deployment.status == Deployment.Status.ACTIVE
        assert SiteAgent.objects.get(site=world["site"]).air_gapped

        # The sites page lists the air-gapped agent.
        page.get_by_role("navigation", name="Organization").get_by_role("link", name="Sites").click()
        page.wait_for_url(f"{base}/organization/sites/")
        agents = page.locator(".site-agent-group", has_text="Bunker Campus").locator("table.site-agents-table")
        assert "bunker-gw" in agents.inner_text() and "Air-gapped" in agents.inner_text()
        shot("08-sites-with-agent")
        # The forged upload answers 400 on purpose; Chromium logs that as a console error.
        assert [problem for problem in problems if "status of 400" not in problem] == [], problems
    finally:
        context.close()


def _shipped_token(bundle_path: Path) -> str:
    import json
    import zipfile

    with zipfile.ZipFile(bundle_path) as archive:
        return json.loads(archive.read("enrollment.json"))["token"]


@VIEWPORTS
def test_vendor_admin_has_the_site_agent_deploy_its_offering(
    browser: Any, live_server: Any, world: dict[str, Any], viewport: tuple[int, int]
) -> None:
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    offering = world["offering"]
    context, page, problems = _open(browser, viewport)

    def shot(name: str, full_page: bool = True) -> None:
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-fulfillment-{name}.png"), full_page=full_page)

    try:
        sign_in(page, base, world["vendor"].email, "/organization/")
        page.get_by_role("navigation", name="Organization").get_by_role("link", name="My listings").click()
        page.wait_for_url(f"{base}/organization/listings/")
        row = page.locator("table.vendor-offerings tbody tr", has_text="Hospital and cloud")
        assert "Hybrid" in row.inner_text() and "Sandbox (simulated)" in row.inner_text()
        shot("01-my-listings")
        row.get_by_role("link", name="Fulfillment settings of DoseWatch: Hospital and cloud").click()
        page.wait_for_url(f"{base}/organization/offerings/{offering.public_id}/fulfillment/")
        form = page.locator("form", has=page.get_by_role("button", name="Save settings"))
        # What fits a hybrid offering, and nothing else.
        radios = form.get_by_role("radio")
        assert radios.count() == 3
        assert form.get_by_role("radio", name=re.compile("^Vendor's cloud")).count() == 0
        shot("02-settings")

        # Hybrid calls the vendor's endpoint: without one it is refused next to the field.
        form.get_by_role("radio", name=re.compile("^Hybrid")).check()
        form.get_by_role("button", name="Save settings").click()
        page.wait_for_load_state()
        summary = page.locator(".error-summary")
        assert "Fulfillment URL: This provisioner calls your fulfillment endpoint." in summary.inner_text()
        assert page.evaluate("document.activeElement.classList.contains('error-summary')")
        summary.get_by_role("link", name=re.compile("^Fulfillment URL")).click()
        assert page.evaluate("document.activeElement.id") == "id_fulfillment_url"
        assert page.get_by_label("Fulfillment URL").get_attribute("aria-invalid") == "true"
        shot("03-settings-error", full_page=False)

        # The site agent alone needs no endpoint.
        form = page.locator("form", has=page.get_by_role("button", name="Save settings"))
        form.get_by_role("radio", name=re.compile("^Site agent")).check()
        form.get_by_role("button", name="Save settings").click()
        page.wait_for_url(f"{base}/organization/offerings/{offering.public_id}/fulfillment/")
        assert "The settings of Hospital and cloud are saved." in page.locator(".messages").inner_text()
        facts = page.locator(".fulfillment-page > dl.facts")
        assert "Site agent (on premise)" in facts.inner_text()
        assert form.get_by_role("radio", name=re.compile("^Site agent")).is_checked()
        shot("04-settings-saved")
        offering.refresh_from_db()
        assert (offering.provisioner, offering.fulfillment_url) == ("site_agent", "")
        assert [problem for problem in problems if "status of 400" not in problem] == [], problems
    finally:
        context.close()
