"""The "Buy" journey in a real browser (Debian's Chromium via Playwright): hospital IT (an admin)
requests a quote on the listing page; the vendor, in a second browser, issues it with two line
items from its quotes inbox; hospital IT reads the version (the server computed the total),
accepts it with the listing's terms and a purchase order number, and lands on the subscription
page with the deployment active and a license to download. Meanwhile the vendor watches the same
subscription's page follow the set-up by itself (htmx polling).

The live server runs Celery tasks eagerly, and on_commit callbacks run in its requests (real
transactions), so the acceptance runs the sandbox's steps inline in hospital IT's request, 0.6 s
each, after the order is committed: the vendor's page sees the subscription being set up.

Runs at a desktop and a tablet size and checks that nothing scrolls sideways. Screenshots go to
test-artifacts/screenshots/ for a human look."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django.utils import timezone

from apps.catalog.models import Listing, Offering, Plan
from apps.procurement.models import Order, Quote, QuoteRequest, Subscription
from apps.provisioning.models import Deployment
from tests.browser.conftest import sign_in
from tests.catalog.factories import publish_listing
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(django_settings.BASE_DIR) / "test-artifacts" / "screenshots"
VIEWPORTS = pytest.mark.parametrize("viewport", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])
PO = "PO-2026-0042"


@pytest.fixture
def world(transactional_db: None, settings: Any) -> dict[str, Any]:
    """A verified vendor with a published cloud app that processes patient data (so buyers also
    accept a business associate agreement): a list-priced plan and a quote-only one. A hospital
    group whose IT lead is an admin (admins accept quotes)."""
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0.6, "fail_step": "", "transient_failures": 0}
    radiant = VendorFactory(name="Radiant AI", slug="radiant-ai", verified_at=timezone.now())
    listing = publish_listing(vendor=radiant, name="StrokeFinder", slug="strokefinder")
    Listing.objects.filter(pk=listing.pk).update(processes_patient_data=True, eula_version="2.1")
    offering = Offering.objects.get(listing=listing)
    Offering.objects.filter(pk=offering.pk).update(name="Cloud service", regions=["eu-central", "us-east"])
    Plan.objects.filter(offering=offering).update(name="Department", trial_days=0)
    Plan.objects.create(offering=offering, name="Enterprise", pricing_model=Plan.PricingModel.QUOTE_ONLY)
    hospital = OrganizationFactory(name="St. Mary's Hospital Group", slug="st-marys", kind="provider")
    hana = UserFactory(email="hana.it@st-marys.example", full_name="Hana IT")
    MembershipFactory(user=hana, organization=hospital, role="admin")
    victor = UserFactory(email="victor@radiant.example", full_name="Victor Vendor")
    MembershipFactory(user=victor, organization=radiant, role="member")
    return {"listing": Listing.objects.get(pk=listing.pk), "hospital_it": hana, "vendor": victor}


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} scrolls sideways: {width}px content in a {viewport}px window"


def _open(browser: Any, viewport: tuple[int, int]) -> tuple[Any, Any, list[str]]:
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return context, page, problems


def _wait_for(condition: Any, timeout: float = 15.0) -> Any:
    """Poll the database (another thread's committed work) until `condition()` is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OperationalError:  # SQLite's shared test database: the server's write holds the table
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the server")


@VIEWPORTS
def test_hospital_it_requests_a_quote_the_vendor_issues_it_and_accepting_sets_it_up(
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
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-quote-{name}.png"), full_page=full_page)

    try:
        # Hospital IT opens the listing and goes to "Request a quote".
        sign_in(hospital, base, world["hospital_it"].email, f"/apps/{listing.slug}/")
        buy = hospital.locator("#buy form")
        assert buy.get_by_label("Offering and plan").locator("option:checked").inner_text() == (
            "Cloud service (cloud) — Department: EUR 1,200.00 per month"
        )  # the quote-only plan is not bought directly
        assert hospital.locator("#reviews").get_by_text("No reviews yet.").is_visible()
        shot(hospital, "00-listing")
        hospital.locator(".listing-head").get_by_role("link", name="Request a quote").click()
        form = hospital.locator("#request-quote form")
        form.get_by_label("Offering and plan").select_option(label="Cloud service (cloud) — Enterprise")
        # A cloud offering: the script shows the region and hides the sites.
        assert form.get_by_label("Region").is_visible()
        assert not form.locator("[data-target-mode='site']").is_visible()
        form.get_by_label("Seats").fill("25")
        form.get_by_label("Studies per month").fill("4000")
        form.get_by_label("Desired start").fill((timezone.now().date() + timedelta(days=45)).isoformat())
        form.get_by_label("Notes for the vendor").fill("Both campuses; stroke unit first.")
        # Forgot the region: the summary on top names it, links it, and takes the focus.
        form.get_by_role("button", name="Request quote").click()
        hospital.wait_for_load_state()
        form = hospital.locator("#request-quote form")
        summary = form.locator(".error-summary")
        assert "Region: Choose one of this offering's regions" in summary.inner_text()
        assert hospital.evaluate("document.activeElement.classList.contains('error-summary')")
        assert form.get_by_label("Region").get_attribute("aria-invalid") == "true"
        assert form.get_by_label("Seats").input_value() == "25"  # what was typed stays
        shot(hospital, "01-request-error", full_page=False)
        summary.get_by_role("link", name=re.compile("^Region")).click()
        assert hospital.evaluate("document.activeElement.id") == "id_quote-region"
        form.get_by_label("Region").select_option("eu-central")
        form.scroll_into_view_if_needed()
        shot(hospital, "02-request-form", full_page=False)
        form.get_by_role("button", name="Request quote").click()
        hospital.wait_for_url(re.compile(r"/organization/quotes/[0-9a-f-]{36}/$"))
        quote_request = QuoteRequest.objects.get()
        assert (quote_request.region, quote_request.seats, quote_request.plan.name) == ("eu-central", 25, "Enterprise")
        assert "Waiting for Radiant AI to quote." in hospital.locator(".trial-status").inner_text()
        shot(hospital, "03-requested")

        # The vendor finds it in its quotes inbox and issues it with two line items.
        sign_in(vendor, base, world["vendor"].email, "/organization/quotes/")
        row = vendor.locator("table.quotes tbody tr", has_text="St. Mary's Hospital Group")
        assert "Requested" in row.inner_text() and "eu-central" in row.inner_text()
        vendor.get_by_label("Status").select_option("open")
        vendor.get_by_role("button", name="Show").click()
        vendor.wait_for_url(f"{base}/organization/quotes/?status=open")
        shot(vendor, "04-vendor-inbox")
        vendor.locator("table.quotes").get_by_role("link", name="StrokeFinder").click()
        vendor.wait_for_url(f"{base}/organization/quotes/{quote_request.public_id}/")
        issue = vendor.locator("form.issue-form")
        assert issue.get_by_label("Currency").input_value() == "EUR"
        issue.get_by_label("Line 1 description").fill("Enterprise license, two campuses")
        issue.get_by_label("Line 1 quantity").fill("1")
        issue.get_by_label("Line 1 unit price").fill("24000")
        issue.get_by_label("Line 2 description").fill("Onboarding and PACS integration (days)")
        issue.get_by_label("Line 2 quantity").fill("3")
        issue.get_by_label("Line 2 unit price").fill("1500.50")
        issue.get_by_label("Terms").fill("Invoiced yearly in advance; net 30.")
        issue.scroll_into_view_if_needed()
        shot(vendor, "05-issue-form")
        issue.get_by_role("button", name="Issue quote").click()
        vendor.wait_for_url(f"{base}/organization/quotes/{quote_request.public_id}/")
        assert "Version 1 issued: EUR 28,501.50" in vendor.locator(".messages").inner_text()
        version = vendor.locator("article.quote-version").first
        assert "EUR 4,501.50" in version.inner_text()  # 3 × 1,500.50, computed by the server
        assert "Issue version 2" in vendor.locator("#issue-title").inner_text()
        shot(vendor, "06-issued")

        # Hospital IT reads the version and accepts it with every term and a purchase order number.
        hospital.reload()
        assert "Radiant AI quotes EUR 28,501.50" in hospital.locator(".trial-status").inner_text()
        lines = hospital.locator("article.quote-version table.line-items tbody tr")
        assert lines.count() == 2
        assert "Total EUR 28,501.50" in " ".join(hospital.locator("article.quote-version tfoot").inner_text().split())
        accept = hospital.locator("form", has=hospital.get_by_role("button", name="Accept and place the order"))
        accept.get_by_label("Purchase order number").fill(PO)
        terms = accept.get_by_role("checkbox")
        assert terms.count() == 3  # EULA, data processing and business associate agreements
        for label in (
            "I accept the StrokeFinder end-user license agreement, version 2.1",
            "I accept the Data processing agreement, version 2026-01",
            "I accept the Business associate agreement, version 2026-01",
        ):
            accept.get_by_label(label).check()
        accept.scroll_into_view_if_needed()
        shot(hospital, "07-accept", full_page=False)
        # Do not wait for the answer: it comes once the set-up steps have run.
        accept.get_by_role("button", name="Accept and place the order").click(no_wait_after=True)

        # The order is committed before the steps run: the vendor opens the subscription's page
        # and watches it follow the set-up by itself.
        subscription = _wait_for(lambda: Subscription.objects.first())
        vendor.goto(f"{base}/organization/subscriptions/{subscription.public_id}/")
        live = vendor.locator("#subscription-live")
        if live.get_attribute("hx-trigger"):
            assert vendor.get_by_text("This page updates by itself").is_visible()
            shot(vendor, "08-vendor-setting-up")
        live.locator(".badge-large", has_text="Active").wait_for(timeout=20_000)
        assert live.get_attribute("hx-trigger") is None  # settled: polling stopped
        assert vendor.locator("#live-announcer").text_content().startswith("Subscription active")
        shot(vendor, "09-vendor-active")

        # Hospital IT lands on the subscription: active, its deployment active, a license to download.
        hospital.wait_for_url(f"{base}/organization/subscriptions/{subscription.public_id}/", timeout=20_000)
        assert "Quote accepted: order placed." in hospital.locator(".messages").inner_text()
        live = hospital.locator("#subscription-live")
        assert "Active until" in live.locator(".trial-status").inner_text()
        entitlement = live.locator("article.entitlement")
        assert "Region eu-central" in entitlement.inner_text() and "Seats 25" in " ".join(
            entitlement.inner_text().split()
        )
        assert entitlement.locator(".badge", has_text="Active").count() >= 1
        license_row = entitlement.locator("table.licenses tbody tr")
        assert license_row.count() == 1 and "Valid" in license_row.inner_text()
        shot(hospital, "10-subscription")
        with hospital.expect_download() as download_info:
            license_row.get_by_role("link", name=re.compile("^Download")).click()
        download = download_info.value
        license = subscription.entitlements.get().licenses.get()
        assert download.suggested_filename == f"license-{license.public_id}.jwt"
        assert Path(download.path()).read_text() == license.token

        # The deployment's own page shows every step done.
        entitlement.get_by_role("link", name=re.compile("^Set-up details")).click()
        hospital.wait_for_url(re.compile(r"/organization/deployments/[0-9a-f-]{36}/$"))
        steps = hospital.locator("table.step-log tbody tr")
        assert steps.count() == 4 and steps.locator(".badge", has_text="Done").count() == 4
        assert hospital.locator("#deployment-progress").get_attribute("value") == "100"
        shot(hospital, "11-deployment")

        # The order records the terms with their versions and the purchase order number.
        hospital.get_by_role("navigation", name="Organization").get_by_role("link", name="Orders").click()
        hospital.wait_for_url(f"{base}/organization/orders/")
        hospital.locator("table.orders").get_by_role("link", name="StrokeFinder").click()
        order = _wait_for(lambda: Order.objects.first())
        hospital.wait_for_url(f"{base}/organization/orders/{order.public_id}/")
        text = " ".join(hospital.locator(".order-page").inner_text().split())
        assert f"Purchase order number {PO}" in text and "Total EUR 28,501.50" in text
        assert "Business associate agreement 2026-01" in text
        shot(hospital, "12-order")

        # Having subscribed, hospital IT may review the app on its page.
        hospital.goto(f"{base}/apps/{listing.slug}/#reviews")
        review = hospital.locator("#reviews form")
        review.get_by_label("5 stars: excellent").check()
        review.get_by_label("Title").fill("Fast reads, smooth set-up")
        review.get_by_label("Review").fill("Running in eu-central within minutes of accepting the quote.")
        review.get_by_role("button", name="Publish review").click()
        hospital.wait_for_url(f"{base}/apps/{listing.slug}/#reviews")
        reviews = hospital.locator("#reviews")
        assert "5 out of 5 from 1 review" in " ".join(reviews.locator(".rating-summary").inner_text().split())
        assert "Fast reads, smooth set-up" in reviews.inner_text()
        assert reviews.locator("form").count() == 0  # one review per organization
        reviews.scroll_into_view_if_needed()
        shot(hospital, "13-reviewed", full_page=False)

        assert _wait_for(lambda: Quote.objects.first()).total == order.total
        assert subscription.entitlements.get().deployment.status == Deployment.Status.ACTIVE
        # No CSP violation, no script error. The refused request answers 400 on purpose; Chromium
        # logs that as a console error.
        assert [problem for problem in hospital_problems if "status of 400" not in problem] == [], hospital_problems
        assert not vendor_problems, vendor_problems
    finally:
        hospital_context.close()
        vendor_context.close()
