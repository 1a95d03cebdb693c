"""Hospital IT finds an app in a real browser (Debian's Chromium via Playwright): search by a
word, narrow by two facets without a page reload (htmx), open the listing and read its facts.
Without JavaScript the same form works with its "Apply filters" button.

Runs at a desktop and a tablet size and checks that nothing scrolls sideways. Screenshots go
to test-artifacts/screenshots/ for a human look."""

from __future__ import annotations

import datetime
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from apps.catalog.models import (
    Category,
    Document,
    Listing,
    Modality,
    Offering,
    Plan,
    RegulatoryClearance,
    Specialty,
    Standard,
    Version,
)
from apps.catalog.services import listing_refresh_index
from tests.factories import VendorFactory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
VIEWPORTS = pytest.mark.parametrize("viewport", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])


def _listing(
    vendor: Any,
    name: str,
    tagline: str,
    *,
    terms: dict[str, list[Any]],
    modes: dict[str, list[dict]],
    clearances: tuple[tuple[str, str, str], ...] = (),
    days_ago: int = 0,
    **facts: Any,
) -> Listing:
    listing = Listing.objects.create(
        vendor=vendor,
        slug=name.lower().replace(" ", "-"),
        name=name,
        tagline=tagline,
        description=facts.pop("description", f"{name} helps hospital teams. **Validated** in three sites."),
        intended_use=facts.pop("intended_use", "For use by qualified clinicians."),
        status=Listing.Status.PUBLISHED,
        published_at=timezone.now() - datetime.timedelta(days=days_ago),
        **facts,
    )
    for field, values in terms.items():
        getattr(listing, field).set(values)
    for authority, device_class, identifier in clearances:
        RegulatoryClearance.objects.create(
            listing=listing,
            authority=authority,
            device_class=device_class,
            identifier=identifier,
            cleared_on=datetime.date(2024, 5, 2),
        )
    for mode, plans in modes.items():
        offering = Offering.objects.create(
            listing=listing,
            mode=mode,
            name={"cloud": "Cloud service", "on_premise": "On-premise server", "hybrid": "Hybrid"}[mode],
            regions=["eu-central", "us-east"] if mode == "cloud" else [],
            requirement_os="Ubuntu 22.04 LTS" if mode != "cloud" else "",
            requirement_cpu_cores=8 if mode != "cloud" else None,
            requirement_memory_gb=32 if mode != "cloud" else None,
        )
        for plan in plans:
            Plan.objects.create(offering=offering, **plan)
    listing_refresh_index(listing=listing)
    return listing


@pytest.fixture
def store(transactional_db: None) -> dict[str, Listing]:
    radiant = VendorFactory(name="Radiant AI", slug="radiant-ai", verified_at=timezone.now())
    dosimetrix = VendorFactory(name="Dosimetrix", slug="dosimetrix", verified_at=timezone.now())
    labwise = VendorFactory(name="Labwise", slug="labwise")
    imaging = Category.objects.create(slug="imaging-ai", name="Imaging AI")
    dose = Category.objects.create(slug="dose-monitoring", name="Dose monitoring")
    lab = Category.objects.create(slug="lab-analytics", name="Lab analytics")
    scheduling = Category.objects.create(slug="scheduling", name="Scheduling")
    radiology = Specialty.objects.create(slug="radiology", name="Radiology")
    neurology = Specialty.objects.create(slug="neurology", name="Neurology")
    ct = Modality.objects.create(slug="ct", name="CT")
    mr = Modality.objects.create(slug="mr", name="MR")
    dicom = Standard.objects.create(slug="dicom", name="DICOM")
    fhir = Standard.objects.create(slug="fhir-r4", name="FHIR R4")
    subscription = {
        "name": "Subscription",
        "pricing_model": "subscription",
        "price": Decimal("900"),
        "currency": "EUR",
        "billing_period": "month",
        "trial_days": 30,
        "trial_auto_approve": True,
    }
    quote = {"name": "Site licence", "pricing_model": "quote_only"}
    free = {"name": "Community", "pricing_model": "free"}
    usage = {
        "name": "Per study",
        "pricing_model": "usage",
        "price": Decimal("4.50"),
        "currency": "EUR",
        "usage_unit": "study",
        "trial_days": 14,
    }
    listings = {
        "stroke": _listing(
            radiant,
            "StrokeFinder",
            "Flags large-vessel occlusion on CT angiography within minutes",
            terms={
                "categories": [imaging],
                "specialties": [neurology, radiology],
                "modalities": [ct],
                "standards": [dicom, fhir],
            },
            modes={"cloud": [subscription], "on_premise": [quote]},
            clearances=(("fda", "II", "K201234"), ("eu_mdr", "IIa", "CE 0123")),
            processes_patient_data=True,
            deidentified_before_leaving_site=True,
            data_residency=["EU"],
            security_certifications=["ISO 27001", "SOC 2 Type II"],
            support_email="support@radiant.example",
            support_url="https://radiant.example/support",
            description="## How it works\n\nStrokeFinder reads **CT angiography** and alerts the stroke team.\n\n"
            "- Results in under 3 minutes\n- Works with any DICOM-compliant PACS\n\n"
            "[Clinical evidence](https://radiant.example/evidence)",
        ),
        "lung": _listing(
            radiant,
            "LungScan",
            "Pulmonary nodule detection and tracking for chest CT",
            terms={"categories": [imaging], "specialties": [radiology], "modalities": [ct], "standards": [dicom]},
            modes={"on_premise": [usage]},
            clearances=(("eu_mdr", "IIa", "CE 0456"),),
            days_ago=3,
        ),
        "brain": _listing(
            radiant,
            "BrainVolume",
            "MR brain volumetry with age-matched reference curves",
            terms={"categories": [imaging], "specialties": [neurology], "modalities": [mr], "standards": [dicom]},
            modes={"cloud": [subscription]},
            days_ago=10,
        ),
        "dose": _listing(
            dosimetrix,
            "DoseWatch",
            "Radiation dose monitoring across every CT scanner in the group",
            terms={"categories": [dose], "specialties": [radiology], "modalities": [ct], "standards": [dicom]},
            modes={"hybrid": [subscription]},
            clearances=(("fda", "II", "K190001"),),
            days_ago=5,
        ),
        "lab": _listing(
            labwise,
            "LabTrend",
            "Trends and alerts for laboratory results",
            terms={"categories": [lab], "standards": [fhir]},
            modes={"cloud": [free]},
            days_ago=1,
        ),
        "slots": _listing(
            labwise,
            "SlotPlanner",
            "Scanner scheduling that fills gaps automatically",
            terms={"categories": [scheduling], "standards": [fhir]},
            modes={"cloud": [subscription]},
            days_ago=20,
        ),
    }
    stroke = listings["stroke"]
    version = Version.objects.create(
        listing=stroke,
        version="3.2.0",
        release_notes="Faster *triage* and a new worklist view.",
        released_on=datetime.date(2025, 2, 1),
    )
    version.artifacts.create(
        kind="image",
        file="catalog/strokefinder-3.2.0.tar.gz",
        filename="strokefinder-3.2.0.tar.gz",
        content_type="application/gzip",
        size=734_003_200,
        sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    )
    for kind, title, visibility in (("ifu", "Instructions for use", "public"), ("mds2", "MDS2 form", "on_request")):
        Document.objects.create(
            listing=stroke,
            kind=kind,
            title=title,
            visibility=visibility,
            file=f"catalog/{kind}.pdf",
            filename=f"{kind}.pdf",
            content_type="application/pdf",
            size=120_000,
            sha256="0" * 64,
        )
    return listings


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} scrolls sideways: {width}px content in a {viewport}px window"


def _results(page: Any) -> list[str]:
    return [name.strip() for name in page.locator("#catalog-results .result-title a").all_inner_texts()]


def _open(browser: Any, viewport: tuple[int, int], **options: Any) -> tuple[Any, Any, list[str]]:
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return context, page, problems


@VIEWPORTS
def test_find_an_app_by_word_and_facets_then_read_its_facts(
    browser: Any, live_server: Any, store: dict[str, Listing], viewport: tuple[int, int]
) -> None:
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
    width, height = viewport
    context, page, problems = _open(browser, viewport)

    def shot(name: str, full_page: bool = True) -> None:
        _no_horizontal_scroll(page)
        # caret="initial": hiding the caret leaves style="" on inputs, which htmx's settle step
        # would then copy onto the swapped-in checkboxes (a CSP report caused by the test).
        page.screenshot(
            path=str(SCREENSHOTS / f"{width}x{height}-catalog-{name}.png"), full_page=full_page, caret="initial"
        )

    try:
        page.goto(f"{live_server.url}/")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Find apps").click()
        page.wait_for_url(f"{live_server.url}/apps/")
        assert page.evaluate("typeof window.htmx") == "object"
        assert _results(page) == ["BrainVolume", "DoseWatch", "LabTrend", "LungScan", "SlotPlanner", "StrokeFinder"]
        assert page.get_by_role("button", name="Apply filters").is_hidden()  # htmx applies them as people click
        page.evaluate("window.__sameDocument = 'yes'")  # survives only if the page is never reloaded
        shot("01-all")

        # A word: Enter submits through htmx.
        search = page.get_by_label("Search apps")
        search.fill("imaging")
        search.press("Enter")
        page.wait_for_url(re.compile(r"/apps/\?.*q=imaging"))
        page.locator("#result-count", has_text="3 apps for “imaging”").wait_for()
        assert _results(page) == ["BrainVolume", "LungScan", "StrokeFinder"]

        # Two facets, by clicking their checkboxes.
        deployment = page.get_by_role("group", name="Deployment")
        deployment.get_by_role("checkbox", name=re.compile(r"^Cloud")).check()
        page.wait_for_url(re.compile(r"deployment_mode=cloud"))
        page.locator("#result-count", has_text="2 apps").wait_for()
        assert _results(page) == ["BrainVolume", "StrokeFinder"]
        modality = page.get_by_role("group", name="Modality")
        assert modality.get_by_role("checkbox", name=re.compile(r"^CT\b")).get_attribute("id") == "facet-modality-ct"
        assert "1" in modality.locator("label[for='facet-modality-ct'] .count").inner_text()  # count under cloud
        modality.get_by_role("checkbox", name=re.compile(r"^CT\b")).check()
        page.wait_for_url(re.compile(r"modality=ct"))
        page.locator("#result-count", has_text="1 app").wait_for()
        assert _results(page) == ["StrokeFinder"]
        assert "q=imaging" in page.url and "deployment_mode=cloud" in page.url
        assert page.evaluate("window.__sameDocument") == "yes", "the page reloaded instead of swapping results"
        # The swap keeps the clicked checkbox (and its state) and the keyboard focus on it.
        assert page.evaluate("document.activeElement && document.activeElement.id") == "facet-modality-ct"
        assert (
            page.locator("#facet-modality-ct").is_checked()
            and page.locator("#facet-deployment-mode-cloud").is_checked()
        )
        assert page.title().startswith("“imaging” · Find apps")
        shot("02-narrowed")

        # The listing page shows its facts.
        page.get_by_role("link", name="StrokeFinder", exact=True).click()  # not "Add to compare: StrokeFinder"
        page.wait_for_url(f"{live_server.url}/apps/strokefinder/")
        assert page.get_by_role("heading", level=1).inner_text() == "StrokeFinder"
        main = page.locator("main")
        for fact in (
            "Radiant AI",
            "Verified vendor",
            "Flags large-vessel occlusion on CT angiography within minutes",
            "FDA (United States)",
            "K201234",
            "EU MDR (CE mark)",
            "Processes patient data",
            "ISO 27001, SOC 2 Type II",
            "EUR 900.00 per month",
            "30 days, approved at once",
            "Price on quote",
            "Ubuntu 22.04 LTS",
            "Version 3.2.0",
            "strokefinder-3.2.0.tar.gz",
            "Instructions for use",
            "Available to verified providers",
            "support@radiant.example",
        ):
            assert main.get_by_text(fact, exact=False).first.is_visible(), fact
        assert main.get_by_role("heading", name="How it works").is_visible()  # Markdown rendered
        assert main.get_by_role("link", name="Clinical evidence").get_attribute("rel") == "noopener noreferrer nofollow"
        shot("03-listing")
        page.get_by_role("navigation", name="On this page").get_by_role("link", name="Offerings and plans").click()
        shot("04-listing-offerings", full_page=False)

        # Back (past the in-page link): the narrowed results come back.
        page.go_back()
        page.wait_for_url(f"{live_server.url}/apps/strokefinder/")
        page.go_back()
        page.wait_for_url(re.compile(r"modality=ct"))
        page.locator("#catalog-results .result-title").first.wait_for()
        assert _results(page) == ["StrokeFinder"]

        assert not problems, problems  # no CSP violation, no script error
    finally:
        context.close()


@VIEWPORTS
def test_facets_work_without_javascript(
    browser: Any, live_server: Any, store: dict[str, Listing], viewport: tuple[int, int]
) -> None:
    width, height = viewport
    context, page, problems = _open(browser, viewport, java_script_enabled=False)
    try:
        page.goto(f"{live_server.url}/apps/")
        apply = page.get_by_role("button", name="Apply filters")
        assert apply.is_visible()
        page.get_by_role("group", name="Pricing").get_by_role("checkbox", name=re.compile(r"^Free")).check()
        page.get_by_role("group", name="Pricing").get_by_role("checkbox", name=re.compile(r"^Usage-based")).check()
        apply.click()
        page.wait_for_url(
            re.compile(r"pricing_model=free.*pricing_model=usage|pricing_model=usage.*pricing_model=free")
        )
        assert _results(page) == ["LabTrend", "LungScan"]
        page.get_by_label("Sort by").select_option("newest")
        apply.click()
        page.wait_for_url(re.compile(r"ordering=newest"))
        assert _results(page) == ["LabTrend", "LungScan"]  # LabTrend is 1 day old, LungScan 3
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-catalog-05-no-js.png"), full_page=True)
        assert not problems, problems
    finally:
        context.close()
