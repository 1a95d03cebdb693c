"""The "Publish" journey in a real browser (Debian's Chromium via Playwright): a vendor member
creates a listing in the vendor portal, fills in its facts (an error shown next to its field and
summarized first), adds an offering and a plan, uploads its instructions for use through the
form (htmx sends it and the form's progress bar follows the upload) and submits it for review;
an operator publishes it in the operator console; hospital IT finds it in the store's search,
reads its document and requests a trial, which the vendor approves in its requests inbox.

Runs at a desktop and a tablet size and checks that nothing scrolls sideways; when axe-core is
installed (`npm ci --prefix tests/browser`) the portal's pages are also checked for serious and
critical accessibility violations. Screenshots go to test-artifacts/screenshots/ for a human look."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.catalog.models import Document, Listing
from apps.procurement.models import Trial
from tests.browser.conftest import PASSWORD, sign_in
from tests.catalog.factories import PDF_BYTES, CategoryFactory, StandardFactory
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.browser

BASE = Path(django_settings.BASE_DIR)
SCREENSHOTS = BASE / "test-artifacts" / "screenshots"
AXE = BASE / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = pytest.mark.parametrize("viewport", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])
NAME = "NeuroFlow"
# Reports, after an upload form's last byte, the value its progress bar shows (or -1 when the bar
# is not shown). Playwright evaluates it in every page without going through the page's CSP.
UPLOAD_WATCH = """
document.addEventListener("htmx:beforeSend", function (event) {
  var xhr = event.detail.xhr;
  var form = event.detail.elt.closest("form[data-upload]");
  if (!form || !xhr || !xhr.upload) { return; }
  xhr.upload.addEventListener("load", function () {
    setTimeout(function () {
      var bar = form.querySelector("[data-upload-meter]:not([hidden]) [data-upload-progress]");
      window.reportUpload(bar ? Number(bar.value) : -1);
    }, 0);
  });
});
"""


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> dict[str, Any]:
    """A verified vendor with a member, a hospital group with an IT member, an operator, and the
    vocabularies the listing is classified by."""
    settings.MEDIA_ROOT = tmp_path / "media"
    CategoryFactory(name="Radiology AI", slug="radiology-ai")
    CategoryFactory(name="Cardiology", slug="cardiology")
    StandardFactory(name="DICOM", slug="dicom")
    StandardFactory(name="FHIR R4", slug="fhir-r4")
    radiant = VendorFactory(name="Radiant AI", slug="radiant-ai", verified_at=timezone.now())
    victor = UserFactory(email="victor@radiant.example", full_name="Victor Vendor")
    MembershipFactory(user=victor, organization=radiant, role="member")
    hospital = OrganizationFactory(name="St. Mary's Hospital Group", slug="st-marys", kind="provider")
    hana = UserFactory(email="hana.it@st-marys.example", full_name="Hana IT")
    MembershipFactory(user=hana, organization=hospital, role="member")
    olga = UserFactory(email="olga@platform.example", full_name="Olga Operator", is_staff=True)
    ifu = tmp_path / "NeuroFlow IFU.pdf"
    ifu.write_bytes(PDF_BYTES + b"%" + b"0" * 300_000 + b"\n")  # big enough to report progress
    return {"vendor": victor, "hospital_it": hana, "operator": olga, "ifu": ifu}


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} scrolls sideways: {width}px content in a {viewport}px window"


def _open(browser: Any, viewport: tuple[int, int]) -> tuple[Any, Any, list[str]]:
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(f"{message.text} ({message.location.get('url')} on {page.url})")
        if message.type == "error"
        else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda response: problems.append(f"{response.status} {response.url}") if response.status >= 404 else None,
    )
    return context, page, problems


def _axe(browser: Any, page: Any, viewport: tuple[int, int]) -> list[str]:
    """Serious and critical violations on the page (none checked without axe-core). The page is
    opened again in a context that lets Playwright inject axe despite the CSP (the journey's own
    pages keep the CSP, so a violation there shows as a console error)."""
    if not AXE.exists():
        return []
    width, height = viewport
    context = browser.new_context(
        viewport={"width": width, "height": height}, bypass_csp=True, storage_state=page.context.storage_state()
    )
    try:
        checked = context.new_page()
        checked.goto(page.url)
        checked.add_script_tag(path=str(AXE))
        results = checked.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    finally:
        context.close()
    return [
        f"{page.url} [{violation['impact']}] {violation['id']}: "
        + "; ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:3])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@VIEWPORTS
def test_a_vendor_publishes_a_listing_an_operator_approves_it_and_hospital_it_finds_it(
    browser: Any, live_server: Any, world: dict[str, Any], viewport: tuple[int, int]
) -> None:
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    vendor_context, vendor, vendor_problems = _open(browser, viewport)
    operator_context, operator, operator_problems = _open(browser, viewport)
    hospital_context, hospital, hospital_problems = _open(browser, viewport)
    uploads: list[float] = []
    vendor_context.expose_function("reportUpload", lambda value: uploads.append(value))
    vendor_context.add_init_script(UPLOAD_WATCH)
    accessibility: list[str] = []

    def shot(page: Any, name: str, full_page: bool = True, check: bool = False) -> None:
        _no_horizontal_scroll(page)
        if check:
            accessibility.extend(_axe(browser, page, viewport))
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-portal-{name}.png"), full_page=full_page)

    try:
        # The vendor creates a draft from "My listings".
        sign_in(vendor, base, world["vendor"].email, "/organization/listings/")
        tabs = vendor.get_by_role("navigation", name="Organization")
        assert tabs.get_by_role("link", name="My listings").get_attribute("aria-current") == "page"
        assert vendor.get_by_text("No listings yet.").is_visible()
        shot(vendor, "00-my-listings", check=True)
        vendor.get_by_label("Name of the app").fill(NAME)
        vendor.get_by_role("button", name="Create draft").click()
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/")
        listing = Listing.objects.get(name=NAME)
        assert "NeuroFlow is created as a draft" in vendor.locator(".messages").inner_text()
        editor = vendor.get_by_role("navigation", name="Listing editor")
        assert editor.get_by_role("link", name="Facts").get_attribute("aria-current") == "page"

        # Its facts: a mistyped e-mail is named next to the field and in the summary, which
        # takes the focus and links to it; what was typed stays.
        form = vendor.locator("form.facts-form")
        form.get_by_label("Tagline").fill("Finds intracranial haemorrhage on non-contrast head CT")
        form.get_by_label("Description").fill(
            "## How it works\n\nNeuroFlow reads **non-contrast CT** and alerts the stroke team.\n\n- Under 2 minutes"
        )
        form.get_by_label("Intended use").fill("Triage of adult head CT studies by qualified clinicians.")
        form.get_by_label("Radiology AI").check()
        form.get_by_label("DICOM").check()
        form.get_by_label("Clearance 1 authority").select_option(label="FDA (United States)")
        form.get_by_label("Clearance 1 device class").fill("II")
        form.get_by_label("Clearance 1 identifier").fill("K241234")
        form.get_by_label("It processes patient data").check()
        form.get_by_label("Data residency").fill("EU")
        form.get_by_label("Support e-mail").fill("support@radiant")
        form.get_by_role("button", name="Preview the description").click()  # htmx: no reload
        preview = vendor.locator("#description-preview")
        preview.locator("strong", has_text="non-contrast CT").wait_for()
        assert preview.get_by_role("heading", name="How it works").count() == 1
        shot(vendor, "01-facts-preview", full_page=False)
        form.get_by_role("button", name="Save facts").click()
        vendor.wait_for_load_state()
        summary = vendor.locator(".error-summary")
        assert "Support e-mail: Enter a valid email address." in summary.inner_text()
        assert vendor.evaluate("document.activeElement.classList.contains('error-summary')")
        email = vendor.locator("form.facts-form").get_by_label("Support e-mail")
        assert email.get_attribute("aria-invalid") == "true" and email.input_value() == "support@radiant"
        assert vendor.locator("form.facts-form").get_by_label("Radiology AI").is_checked()
        shot(vendor, "02-facts-error", full_page=False)
        summary.get_by_role("link", name=re.compile("^Support e-mail")).click()
        assert vendor.evaluate("document.activeElement.id") == "id_facts-support_email"
        email.fill("support@radiant.example")
        email.press("Enter")  # Enter saves (not "Preview", the first button in the form)
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/")
        assert "The facts are saved." in vendor.locator(".messages").inner_text()
        listing.refresh_from_db()
        assert listing.support_email == "support@radiant.example" and listing.clearances.get().identifier == "K241234"
        shot(vendor, "03-facts-saved", check=True)

        # An offering (the script shows only the cloud fields) and a plan with a trial.
        editor.get_by_role("link", name="Offerings and plans").click()
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/offerings/")
        form = vendor.locator("#new-offering form")
        form.get_by_label("Deployment mode").select_option("cloud")
        assert not form.get_by_label("Operating system").is_visible()
        form.get_by_label("Deployment mode").select_option("hybrid")
        assert form.get_by_label("Operating system").is_visible() and form.get_by_label("Cloud regions").is_visible()
        form.get_by_label("Deployment mode").select_option("cloud")
        form.get_by_label("Name").fill("EU cloud")
        form.get_by_label("Cloud regions").fill("eu-central")
        shot(vendor, "04-offering-form", full_page=False)
        form.get_by_role("button", name="Add the offering").click()
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/offerings/")
        assert "The offering EU cloud is added." in vendor.locator(".messages").inner_text()
        form = vendor.locator("details.add-plan form")
        form.get_by_label("Name").fill("Department")
        form.get_by_label("Pricing model").select_option("subscription")
        form.get_by_label("Price").fill("900")
        form.get_by_label("Currency code").fill("EUR")
        form.get_by_label("Billing period").select_option("month")
        form.get_by_label("Trial days").fill("14")
        form.get_by_role("button", name="Add the plan").click()
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/offerings/")
        plans = vendor.locator("table.portal-plans tbody tr")
        assert plans.count() == 1 and "EUR 900.00 per month" in plans.inner_text()
        shot(vendor, "05-offerings", check=True)

        # The instructions for use, uploaded through the form with its progress bar.
        editor.get_by_role("link", name="Documents and images").click()
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/documents/")
        form = vendor.locator("#document-upload form")
        form.get_by_label("Kind").select_option(label="Instructions for use")
        form.get_by_label("Title").fill("NeuroFlow instructions for use")
        assert form.get_by_label("Everyone (public)").is_checked()
        form.get_by_label("File").set_input_files(str(world["ifu"]))
        shot(vendor, "06-document-form", full_page=False, check=True)
        form.get_by_role("button", name="Upload the document").click()
        vendor.locator(".messages").wait_for()
        assert (
            "NeuroFlow instructions for use (NeuroFlow_IFU.pdf) is uploaded."
            in vendor.locator(".messages").inner_text()
        )
        assert uploads == [100], uploads  # the bar was shown and followed the upload to its end
        document = Document.objects.get(listing=listing)
        assert document.size == world["ifu"].stat().st_size and document.kind == "ifu"
        assert vendor.locator("table.documents").get_by_role("link", name="NeuroFlow instructions for use").count() == 1
        shot(vendor, "07-documents")

        # Submit for review.
        editor.get_by_role("link", name="Review").click()
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/review/")
        shot(vendor, "08-review", check=True)
        vendor.get_by_role("button", name="Submit for review").click()
        vendor.wait_for_url(f"{base}/organization/listings/neuroflow/review/")
        assert "NeuroFlow is submitted for review" in vendor.locator(".messages").inner_text()
        assert vendor.locator(".editor-head .badge").inner_text() == "In review"
        shot(vendor, "09-submitted")
        listing.refresh_from_db()
        assert listing.status == Listing.Status.IN_REVIEW

        # The operator publishes it from the review queue of the operator console.
        queue = "/operator/catalog/listing/?status__exact=in_review"
        operator.goto(f"{base}/operator/login/?next={queue}")
        operator.locator("#id_username").fill(world["operator"].email)
        operator.locator("#id_password").fill(PASSWORD)
        operator.locator("input[type='submit'], button[type='submit']").first.click()
        operator.wait_for_url(f"{base}{queue}")
        row = operator.locator("#result_list tbody tr", has_text=NAME)
        assert "Instructions for use" in row.inner_text() and "Offering with a plan" in row.inner_text()
        row.locator("input[name='_selected_action']").check()
        operator.locator("select[name='action']").select_option("approve")
        shot(operator, "10-operator-queue")
        operator.locator("button[name='index'], input[name='index']").first.click()
        operator.wait_for_load_state()
        assert "1 published." in operator.locator(".messagelist").inner_text()
        listing.refresh_from_db()
        assert listing.status == Listing.Status.PUBLISHED

        # Hospital IT finds it by a word of its description, reads its document and asks for a trial.
        sign_in(hospital, base, world["hospital_it"].email, "/apps/")
        hospital.get_by_label("Search apps").fill("haemorrhage")
        hospital.get_by_label("Search apps").press("Enter")
        hospital.wait_for_url(re.compile(r"/apps/\?.*q=haemorrhage"))
        result = hospital.locator(".results").get_by_role("link", name=NAME, exact=True)
        assert result.count() == 1
        shot(hospital, "11-search")
        result.click()
        hospital.wait_for_url(f"{base}/apps/neuroflow/")
        documents = hospital.locator("#documents")
        assert documents.get_by_role("link", name="Download NeuroFlow instructions for use").count() == 1
        assert "FDA" in hospital.locator(".glance").inner_text()
        shot(hospital, "12-listing")
        trial = hospital.locator("#request-trial form")
        trial.get_by_label("Notes for the vendor").fill("For the neuro ICU.")
        trial.get_by_role("button", name="Request trial").click()
        hospital.wait_for_url(re.compile(r"/organization/trials/[0-9a-f-]{36}/$"))
        requested = Trial.objects.get()
        assert requested.status == Trial.Status.REQUESTED

        # The vendor answers it in its requests inbox.
        vendor.get_by_role("navigation", name="Organization").get_by_role("link", name="Requests").click()
        vendor.wait_for_url(f"{base}/organization/requests/")
        item = vendor.locator(f"#request-{requested.public_id}").locator("xpath=ancestor::article")
        assert "For the neuro ICU." in item.inner_text() and "St. Mary's Hospital Group" in item.inner_text()
        vendor.get_by_label("Kind").select_option("trial")
        vendor.get_by_role("button", name="Show").click()  # htmx swaps the results, the address follows
        vendor.wait_for_url(f"{base}/organization/requests/?kind=trial&status=")
        shot(vendor, "13-requests", check=True)
        item = vendor.locator(f"#request-{requested.public_id}").locator("xpath=ancestor::article")
        item.get_by_role("button", name=re.compile("^Approve")).click()
        vendor.wait_for_url(f"{base}/organization/requests/?kind=trial")
        assert "is approved" in vendor.locator(".messages").inner_text()
        requested.refresh_from_db()
        assert requested.status != Trial.Status.REQUESTED
        shot(vendor, "14-approved")

        assert not accessibility, "\n".join(accessibility)
        # No CSP violation, no script error. The refused form answers 400 on purpose; Chromium
        # logs that as a console error.
        assert [problem for problem in vendor_problems if "status of 400" not in problem] == [], vendor_problems
        assert not hospital_problems, hospital_problems
        # Django's admin has no icon: Chromium asks for /favicon.ico there.
        assert [problem for problem in operator_problems if "favicon.ico" not in problem] == [], operator_problems
    finally:
        vendor_context.close()
        operator_context.close()
        hospital_context.close()
