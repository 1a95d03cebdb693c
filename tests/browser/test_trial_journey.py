"""The "Try" journey in a real browser (Debian's Chromium via Playwright): hospital IT signs in,
opens a published listing and requests a cloud trial; the vendor, in a second browser, approves
it in its inbox; hospital IT watches the trial page become active by itself (htmx polling).

The live server runs Celery tasks eagerly, and on_commit callbacks run in its requests (real
transactions), so the approval's outbox dispatch runs the sandbox steps inline in the vendor's
request, 0.3 s each, while the hospital's page polls from another thread.

Runs at a desktop and a tablet size and checks that nothing scrolls sideways. Screenshots go to
test-artifacts/screenshots/ for a human look."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.catalog.models import Offering, Plan
from apps.organizations.principals import member_principal
from apps.procurement.models import Trial
from apps.procurement.services import trial_approve, trial_request
from tests.browser.conftest import sign_in
from tests.catalog.factories import publish_listing
from tests.factories import MembershipFactory, OrganizationFactory, SiteFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(django_settings.BASE_DIR) / "test-artifacts" / "screenshots"
VIEWPORTS = pytest.mark.parametrize("viewport", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])


@pytest.fixture
def world(transactional_db: None, settings: Any) -> dict[str, Any]:
    """A verified vendor with a published cloud app whose plan needs the vendor's approval, and a
    hospital group with an IT member."""
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0.3, "fail_step": "", "transient_failures": 0}
    radiant = VendorFactory(name="Radiant AI", slug="radiant-ai", verified_at=timezone.now())
    listing = publish_listing(vendor=radiant, name="StrokeFinder", slug="strokefinder")
    Offering.objects.filter(listing=listing).update(name="Cloud service", regions=["eu-central", "us-east"])
    Plan.objects.filter(offering__listing=listing).update(name="Subscription", trial_days=30, trial_auto_approve=False)
    hospital = OrganizationFactory(name="St. Mary's Hospital Group", slug="st-marys", kind="provider")
    hana = UserFactory(email="hana.it@st-marys.example", full_name="Hana IT")
    MembershipFactory(user=hana, organization=hospital, role="member")
    victor = UserFactory(email="victor@radiant.example", full_name="Victor Vendor")
    MembershipFactory(user=victor, organization=radiant, role="member")
    return {"listing": listing, "hospital_it": hana, "vendor": victor}


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} scrolls sideways: {width}px content in a {viewport}px window"


def _open(browser: Any, viewport: tuple[int, int]) -> tuple[Any, Any, list[str]]:
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return context, page, problems


@VIEWPORTS
def test_hospital_it_requests_a_trial_the_vendor_approves_and_the_page_follows_it(
    browser: Any, live_server: Any, world: dict[str, Any], viewport: tuple[int, int]
) -> None:
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    listing = world["listing"]
    hospital_context, hospital, hospital_problems = _open(browser, viewport)
    vendor_context, vendor, vendor_problems = _open(browser, viewport)

    def shot(page: Any, name: str, full_page: bool = True) -> None:
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-trial-{name}.png"), full_page=full_page)

    # What the hospital's page hears from each poll, in order.
    polled: list[str] = []

    def on_response(response: Any) -> None:
        if response.url.endswith("/live/") and response.status == 200:
            match = re.search(r'class="badge badge-large[^"]*">([^<]+)<', response.text())
            polled.append(match.group(1) if match else "?")

    hospital.on("response", on_response)
    hospital.clock.install()  # time flows as usual; the test may jump to the next poll
    try:
        # Hospital IT signs in and opens the listing.
        sign_in(hospital, base, world["hospital_it"].email, f"/apps/{listing.slug}/")
        assert hospital.get_by_role("heading", level=1).inner_text() == "StrokeFinder"
        hospital.locator(".listing-head").get_by_role("link", name="Request a trial").click()
        form = hospital.locator("#request-trial form")
        plan = form.get_by_label("Offering and plan")
        assert "30-day trial, the vendor approves" in plan.locator("option:checked").inner_text()
        # A cloud offering: the script shows the region and hides the site (the hospital has none).
        assert form.get_by_label("Region").is_visible()
        assert form.locator("[data-target-mode='site']").count() == 0
        form.get_by_label("Region").select_option("eu-central")
        form.get_by_label("Notes for the vendor").fill("Pilot with the stroke unit at the main campus.")
        form.scroll_into_view_if_needed()
        shot(hospital, "01-request-form", full_page=False)
        form.get_by_role("button", name="Request trial").click()
        hospital.wait_for_url(re.compile(r"/organization/trials/[0-9a-f-]{36}/$"))
        trial = Trial.objects.get()
        assert trial.status == Trial.Status.REQUESTED and trial.region == "eu-central"
        live = hospital.locator("#trial-live")
        assert "Waiting for Radiant AI to approve or decline." in live.inner_text()
        assert live.get_attribute("hx-trigger") == "every 5s"
        assert live.get_by_text("This page updates by itself while the vendor decides.").is_visible()
        hospital.evaluate("window.__sameDocument = 'yes'")  # survives only if the page never reloads
        shot(hospital, "02-requested")

        # The vendor signs in (a second browser) and approves in its inbox.
        sign_in(vendor, base, world["vendor"].email, "/organization/trials/")
        card = vendor.locator(".inbox-item", has_text="StrokeFinder for St. Mary's Hospital Group")
        assert "Pilot with the stroke unit" in card.inner_text()
        assert "eu-central" in card.inner_text()
        shot(vendor, "03-vendor-inbox")
        # Do not wait for the answer: it comes once the steps have run.
        card.get_by_role("button", name=re.compile(r"^Approve")).click(no_wait_after=True)
        vendor.wait_for_timeout(400)

        # The vendor's request runs the worker's steps (0.3 s each) while hospital IT's page polls.
        # Its clock is fast-forwarded to the next poll, so the test need not wait out the 5 s
        # between polls while a decision is awaited; the 2 s polls while it is set up run on their own.
        with hospital.expect_response(lambda response: response.url.endswith("/live/")):
            hospital.clock.fast_forward(5_000)
        if polled[-1] in ("Approved", "Provisioning"):
            shot(hospital, "05-provisioning")
        live.locator(".badge-large", has_text="Active").wait_for(timeout=20_000)
        vendor.wait_for_url(f"{base}/organization/trials/")
        assert "is approved" in vendor.locator(".messages").inner_text()
        assert "waiting for your decision (0)" in vendor.locator("#inbox-title").inner_text()
        shot(vendor, "04-vendor-after-approval")

        # Hospital IT's page followed by itself: active, four steps done, the tenant linked.
        assert hospital.evaluate("window.__sameDocument") == "yes", "the page reloaded instead of polling"
        assert polled and polled[-1] == "Active", polled
        assert live.get_attribute("hx-trigger") is None  # settled: polling stopped
        # Screen readers hear the change through a live region that stays in place.
        assert hospital.locator("#trial-announcer").text_content() == "Trial active."
        count = len(polled)
        hospital.clock.fast_forward(10_000)
        hospital.wait_for_timeout(500)
        assert len(polled) == count, "the page still polls after the trial settled"
        steps = live.locator("table.step-log tbody tr")
        assert steps.count() == 4
        assert steps.locator(".badge", has_text="Done").count() == 4
        assert live.locator("#deployment-progress").get_attribute("value") == "100"
        assert live.get_by_role("link", name=re.compile(r"sandbox\.marketplace\.invalid")).is_visible()
        shot(hospital, "06-active")

        # Both see the deployment in their lists.
        hospital.get_by_role("navigation", name="Organization").get_by_role("link", name="Deployments").click()
        hospital.wait_for_url(f"{base}/organization/deployments/")
        row = hospital.locator("table.deployments tbody tr").first
        assert "From Radiant AI" in row.inner_text() and "Active" in row.inner_text()
        shot(hospital, "07-deployments")
        hospital.get_by_role("navigation", name="Organization").get_by_role("link", name="Trials").click()
        hospital.wait_for_url(f"{base}/organization/trials/")
        assert "Active" in hospital.locator("table.trials").inner_text()
        shot(hospital, "08-trials")
        vendor.get_by_role("link", name="StrokeFinder").first.click()
        vendor.wait_for_url(re.compile(r"/organization/trials/[0-9a-f-]{36}/$"))
        assert "St. Mary's Hospital Group" in vendor.locator("#trial-title").inner_text()
        shot(vendor, "09-vendor-trial")

        assert not hospital_problems, hospital_problems  # no CSP violation, no script error
        assert not vendor_problems, vendor_problems
        print(f"statuses seen by polling at {width}x{height}: {polled}")
    finally:
        hospital_context.close()
        vendor_context.close()


@pytest.fixture
def mixed(world: dict[str, Any]) -> dict[str, Any]:
    """The listing also comes on premise, and the hospital has a site to install it at."""
    listing = world["listing"]
    offering = Offering.objects.create(listing=listing, mode="on_premise", name="On-premise server")
    world["on_premise_plan"] = str(
        Plan.objects.create(offering=offering, name="Site licence", pricing_model="quote_only", trial_days=14).public_id
    )
    world["cloud_plan"] = str(Plan.objects.get(offering__listing=listing, offering__mode="cloud").public_id)
    hospital = world["hospital_it"].memberships.get().organization
    world["site"] = SiteFactory(organization=hospital, name="Main Campus", city="Berlin")
    return world


def test_the_form_shows_only_the_target_the_chosen_offering_needs(
    browser: Any, live_server: Any, mixed: dict[str, Any]
) -> None:
    context, page, problems = _open(browser, (1280, 800))
    try:
        sign_in(page, live_server.url, mixed["hospital_it"].email, f"/apps/{mixed['listing'].slug}/")
        form = page.locator("#request-trial form")
        plan = form.get_by_label("Offering and plan")
        assert form.get_by_label("Region").is_visible() and form.get_by_label("Site").is_visible()  # none chosen
        plan.select_option(mixed["on_premise_plan"])
        assert form.get_by_label("Site").is_visible() and not form.get_by_label("Region").is_visible()
        assert form.get_by_label("Site").input_value() == str(mixed["site"].public_id)  # the only site
        plan.select_option(mixed["cloud_plan"])
        assert form.get_by_label("Region").is_visible() and not form.get_by_label("Site").is_visible()
        assert not problems, problems
    finally:
        context.close()


@VIEWPORTS
def test_without_javascript_the_form_names_the_missing_site_and_the_trial_page_says_to_reload(
    browser: Any, live_server: Any, mixed: dict[str, Any], viewport: tuple[int, int]
) -> None:
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server.url, mixed["hospital_it"].email, f"/apps/{mixed['listing'].slug}/")
        form = page.locator("#request-trial form")
        form.get_by_label("Offering and plan").select_option(mixed["on_premise_plan"])
        form.get_by_label("Region").select_option("us-east")  # shown without JavaScript; not used
        form.get_by_label("Site").select_option("")
        form.get_by_role("button", name="Request trial").click()
        page.wait_for_load_state()
        site = page.locator("#request-trial").get_by_label("Site")
        assert site.get_attribute("aria-invalid") == "true"
        assert "Choose one of your sites." in page.locator("#id_site_error").inner_text()
        assert page.evaluate("document.activeElement && document.activeElement.id") == "id_site"
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-trial-10-no-js-error.png"), full_page=False)

        site.select_option(str(mixed["site"].public_id))
        page.locator("#request-trial").get_by_role("button", name="Request trial").click()
        page.wait_for_url(re.compile(r"/organization/trials/[0-9a-f-]{36}/$"))
        trial = Trial.objects.get()
        assert trial.site == mixed["site"] and trial.region == ""
        live = page.locator("#trial-live")
        assert "Site Main Campus" in " ".join(live.inner_text().split())
        assert page.get_by_role("link", name="Reload this page").is_visible()  # <noscript> says how to follow
        assert not page.get_by_text("This page updates by itself").is_visible()
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-trial-11-no-js-requested.png"), full_page=True)
    finally:
        context.close()


def _requested_trial(world: dict[str, Any]) -> Trial:
    """A trial hospital IT requested (through the service, as the web form does)."""
    membership = world["hospital_it"].memberships.get()
    listing = world["listing"]
    plan = Plan.objects.get(offering__listing=listing, offering__mode="cloud")
    return trial_request(
        provider=membership.organization,
        actor=member_principal(membership),
        listing=listing,
        offering=plan.offering,
        plan=plan,
        region="us-east",
    )


@VIEWPORTS
def test_the_vendor_must_say_why_it_declines(
    browser: Any, live_server: Any, world: dict[str, Any], viewport: tuple[int, int]
) -> None:
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    trial = _requested_trial(world)
    context, page, problems = _open(browser, viewport)
    try:
        sign_in(page, live_server.url, world["vendor"].email, "/organization/trials/")
        card = page.locator(".inbox-item", has_text="StrokeFinder for St. Mary's Hospital Group")
        card.locator("summary", has_text="Decline").click()
        card.get_by_role("button", name=re.compile(r"^Decline the trial")).click()
        page.wait_for_load_state()
        card = page.locator(".inbox-item", has_text="StrokeFinder for St. Mary's Hospital Group")
        reason = card.get_by_label("Reason")
        assert reason.is_visible() and reason.get_attribute("aria-invalid") == "true"  # still open, with the error
        assert "Say why, so the hospital knows what to do next." in card.inner_text()
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-trial-12-decline-needs-reason.png"), full_page=True)
        reason.fill("We cannot host in us-east yet; eu-central works.")
        card.get_by_role("button", name=re.compile(r"^Decline the trial")).click()
        page.wait_for_url(f"{live_server.url}/organization/trials/")
        assert "is declined" in page.locator(".messages").inner_text()
        trial.refresh_from_db()
        assert trial.status == Trial.Status.DECLINED
        assert trial.decision_reason == "We cannot host in us-east yet; eu-central works."
        # The refused form answers 400 on purpose; Chromium logs that as a console error.
        assert [problem for problem in problems if "status of 400" not in problem] == [], problems
    finally:
        context.close()


@VIEWPORTS
def test_a_failed_set_up_shows_why_and_hospital_it_retries_it(
    browser: Any, live_server: Any, world: dict[str, Any], settings: Any, viewport: tuple[int, int]
) -> None:
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0.05, "fail_step": "configure", "transient_failures": 0}
    trial = _requested_trial(world)
    vendor_membership = world["vendor"].memberships.get()
    trial_approve(trial=trial, actor=member_principal(vendor_membership))  # the steps run after commit, here
    trial.refresh_from_db()
    assert trial.status == Trial.Status.FAILED
    context, page, problems = _open(browser, viewport)
    try:
        sign_in(page, live_server.url, world["hospital_it"].email, f"/organization/trials/{trial.public_id}/")
        live = page.locator("#trial-live")
        assert "Setting it up failed" in live.inner_text()
        assert "Why it failed: Configure integrations" in live.inner_text()
        assert live.get_attribute("hx-trigger") is None  # failed is settled: no polling
        assert live.locator("table.step-log .badge", has_text="Failed").count() == 1
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-trial-13-failed.png"), full_page=True)

        settings.MARKETPLACE_SANDBOX = {"step_seconds": 0.05, "fail_step": "", "transient_failures": 0}
        live.get_by_role("button", name=re.compile(r"^Retry")).click()
        page.wait_for_url(f"{live_server.url}/organization/trials/{trial.public_id}/")
        live.locator(".badge-large", has_text="Active").wait_for()
        assert "starts again" in page.locator(".messages").inner_text()
        assert live.locator("table.step-log .badge", has_text="Done").count() == 4
        trial.refresh_from_db()
        assert trial.status == Trial.Status.ACTIVE
        _no_horizontal_scroll(page)
        assert not problems, problems
    finally:
        context.close()
