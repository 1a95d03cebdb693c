"""The store's catalog pages: search with facets (also through htmx), and the listing page with
every fact, safe Markdown and who may see what."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import (
    Artifact,
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
from apps.catalog.search import FACETS
from apps.catalog.services import (
    listing_approve,
    listing_create,
    listing_refresh_index,
    listing_retire,
    listing_submit,
    listing_suspend,
    offering_create,
    plan_create,
)
from apps.organizations.models import Membership
from apps.organizations.principals import member_principal
from marketplace.principal import operator_principal
from tests.factories import MembershipFactory, OrganizationFactory, VendorFactory
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db

CATALOG = reverse("storefront:catalog")


# --- data -----------------------------------------------------------------------------------


@pytest.fixture
def terms(db: None) -> dict[str, Any]:
    return {
        "ai": Category.objects.create(slug="imaging-ai", name="Imaging AI"),
        "lab": Category.objects.create(slug="lab-analytics", name="Lab analytics"),
        "sched": Category.objects.create(slug="scheduling", name="Scheduling"),
        "radiology": Specialty.objects.create(slug="radiology", name="Radiology"),
        "neuro": Specialty.objects.create(slug="neurology", name="Neurology"),
        "ct": Modality.objects.create(slug="ct", name="CT"),
        "mr": Modality.objects.create(slug="mr", name="MR"),
        "fhir": Standard.objects.create(slug="fhir-r4", name="FHIR R4"),
        "dicom": Standard.objects.create(slug="dicom", name="DICOM"),
    }


def _admin_principal(party_organization: Any) -> Any:
    membership = Membership.objects.filter(organization=party_organization, role="admin").first()
    return member_principal(membership)


def publish(
    vendor: Any,
    operator: Any,
    *,
    name: str,
    tagline: str = "A useful app",
    description: str = "Does useful things.",
    categories: tuple[str, ...] = ("imaging-ai",),
    offerings: tuple[dict[str, Any], ...] = (),
    approve: bool = True,
    **facts: Any,
) -> Listing:
    """A listing made the way vendors make them: create, offerings and plans, submit, approve."""
    actor = _admin_principal(vendor)
    listing = listing_create(
        vendor=vendor,
        actor=actor,
        data={
            "name": name,
            "tagline": tagline,
            "description": description,
            "intended_use": facts.pop("intended_use", "For qualified clinicians."),
            "categories": list(categories),
            **facts,
        },
    )
    for spec in offerings or ({"mode": "cloud", "name": "Cloud", "regions": ["eu-central"], "plans": ({},)},):
        spec = dict(spec)
        plans = spec.pop("plans", ({},))
        offering = offering_create(listing=listing, actor=actor, data=spec)
        for plan in plans:
            plan_create(
                offering=offering,
                actor=actor,
                data={
                    "name": "Standard",
                    "pricing_model": "subscription",
                    "price": Decimal("100"),
                    "currency": "EUR",
                    "billing_period": "month",
                    **plan,
                },
            )
    if approve:
        listing_submit(listing=listing, actor=actor)
        listing_approve(listing=listing, actor=operator_principal(operator))
    listing.refresh_from_db()
    return listing


@pytest.fixture
def radiant_verified(radiant: Any) -> Any:
    radiant.organization.verified_at = timezone.now()
    radiant.organization.save(update_fields=["verified_at"])
    return radiant


@pytest.fixture
def labwise(db: None) -> Any:
    vendor = VendorFactory(name="Labwise", slug="labwise", verified_at=timezone.now())
    MembershipFactory(organization=vendor, role="admin")
    return vendor


@pytest.fixture
def store(terms: dict[str, Any], radiant_verified: Any, labwise: Any, operator: Any) -> dict[str, Listing]:
    """Four published apps from two vendors."""
    radiant = radiant_verified.organization
    return {
        "stroke": publish(
            radiant,
            operator,
            name="StrokeFinder",
            tagline="Flags large-vessel occlusion on CT angiography",
            categories=("imaging-ai",),
            specialties=["neurology", "radiology"],
            modalities=["ct"],
            standards=["dicom"],
            clearances=[{"authority": "fda", "device_class": "II", "identifier": "K201234"}],
            offerings=(
                {"mode": "cloud", "name": "Cloud", "regions": ["eu-central"], "plans": ({},)},
                {
                    "mode": "on_premise",
                    "name": "On premise",
                    "requirement_os": "Ubuntu 22.04",
                    "plans": ({"name": "Site licence", "pricing_model": "quote_only"},),
                },
            ),
        ),
        "lung": publish(
            radiant,
            operator,
            name="LungScan",
            tagline="Nodule detection for chest CT",
            categories=("imaging-ai",),
            specialties=["radiology"],
            modalities=["ct"],
            standards=["dicom", "fhir-r4"],
            clearances=[{"authority": "eu_mdr", "device_class": "IIa"}],
            offerings=(
                {
                    "mode": "on_premise",
                    "name": "On premise",
                    "requirement_os": "Windows Server 2022",
                    "plans": (
                        {
                            "name": "Per study",
                            "pricing_model": "usage",
                            "price": Decimal("3.50"),
                            "usage_unit": "study",
                        },
                    ),
                },
            ),
        ),
        "brain": publish(
            radiant,
            operator,
            name="BrainVolume",
            tagline="MR brain volumetry",
            categories=("imaging-ai",),
            specialties=["neurology"],
            modalities=["mr"],
            offerings=({"mode": "cloud", "name": "Cloud", "regions": ["us-east"], "plans": ({},)},),
        ),
        "lab": publish(
            labwise,
            operator,
            name="LabTrend",
            tagline="Trends and alerts for lab results",
            categories=("lab-analytics",),
            standards=["fhir-r4"],
            offerings=(
                {
                    "mode": "cloud",
                    "name": "Cloud",
                    "regions": ["eu-central"],
                    "plans": ({"name": "Community", "pricing_model": "free"},),
                },
            ),
        ),
    }


def result_names(html: str) -> list[str]:
    return re.findall(r'<h3 class="result-title"><a href="[^"]+">([^<]+)</a></h3>', html)


def facet_count(html: str, facet: str, value: str) -> int | None:
    """The count shown next to a facet value's checkbox, or None when it is not shown."""
    match = re.search(
        rf'name="{facet}" value="{re.escape(value)}"[^>]*>\s*<label for="[^"]+">[^<]*<span class="count">(\d+)',
        html,
    )
    return int(match.group(1)) if match else None


def checked(html: str, facet: str, value: str) -> bool:
    return bool(re.search(rf'name="{facet}" value="{re.escape(value)}" checked>', html))


def get(path: str, params: Any = None, client: Client | None = None, **headers: Any) -> tuple[Any, str]:
    response = (client or Client()).get(path, params or {}, **headers)
    return response, response.content.decode()


# --- search page ----------------------------------------------------------------------------


class TestSearchPage:
    def test_renders_every_facet_with_labels_landmarks_and_no_inline_code(self, store) -> None:
        response, _ = get(CATALOG)
        assert response.status_code == 200
        html = assert_csp_clean(response)
        assert '<form id="catalog-form"' in html and 'role="search"' in html and 'method="get"' in html
        assert '<label for="catalog-q">Search apps</label>' in html and 'id="catalog-q"' in html
        assert '<label for="catalog-ordering">Sort by</label>' in html
        assert html.count('<fieldset class="facet">') == len(FACETS)
        for facet in FACETS:
            assert f'id="facet-options-{facet}"' in html
        for legend in (
            "Category",
            "Specialty",
            "Modality",
            "Deployment",
            "Standard",
            "Regulatory clearance",
            "Vendor",
            "Pricing",
        ):
            assert f"<legend>{legend}</legend>" in html
        # Every checkbox has its label.
        for input_id in re.findall(r'<input type="checkbox" id="([^"]+)"', html):
            assert f'<label for="{input_id}">' in html
        assert 'id="result-count" class="result-count" role="status"' in html
        assert f'href="{CATALOG}" aria-current="page">Find apps</a>' in html
        assert "/static/storefront/catalog.js" in html
        assert result_names(html) == ["BrainVolume", "LabTrend", "LungScan", "StrokeFinder"]
        assert "4 apps" in html

    def test_only_published_listings_are_found(self, store, radiant_verified, operator) -> None:
        publish(radiant_verified.organization, operator, name="Draft Thing", approve=False)
        listing_suspend(listing=store["brain"], actor=operator_principal(operator), reason="Unsafe")
        _, html = get(CATALOG)
        assert result_names(html) == ["LabTrend", "LungScan", "StrokeFinder"]
        assert "Draft Thing" not in html

    def test_results_show_vendor_tagline_categories_deployment_pricing_and_badges(self, store) -> None:
        _, html = get(CATALOG, {"q": "StrokeFinder"})
        card = html[html.index('<li class="card result">') : html.index("</ol>")]
        assert f'href="{reverse("storefront:listing", args=["strokefinder"])}">StrokeFinder</a>' in card
        assert "by Radiant AI" in card and "Verified vendor" in card
        assert "Flags large-vessel occlusion on CT angiography" in card
        assert "<dt>Categories</dt><dd>Imaging AI</dd>" in card
        assert "<dt>Deployment</dt><dd>Cloud, On premise</dd>" in card
        assert "<dt>Pricing</dt><dd>Quote only, Subscription</dd>" in card
        assert '<li class="badge badge-regulatory">FDA class II</li>' in card

    def test_search_by_word(self, store) -> None:
        _, html = get(CATALOG, {"q": "nodule"})
        assert result_names(html) == ["LungScan"]
        assert "1 app for “nodule”" in unescape(html)
        _, html = get(CATALOG, {"q": "labwise"})  # the vendor's name
        assert result_names(html) == ["LabTrend"]
        _, html = get(CATALOG, {"q": "neurology ct"})  # every word, across columns
        assert result_names(html) == ["StrokeFinder"]
        _, html = get(CATALOG, {"q": "nothing-like-this"})
        assert result_names(html) == [] and "No apps for" in unescape(html) and "No app matches" in html

    def test_facets_or_within_and_across(self, store) -> None:
        _, html = get(CATALOG, {"modality": ["ct", "mr"]})
        assert result_names(html) == ["BrainVolume", "LungScan", "StrokeFinder"]
        _, html = get(CATALOG, {"modality": ["ct", "mr"], "deployment_mode": "cloud"})
        assert result_names(html) == ["BrainVolume", "StrokeFinder"]
        _, html = get(CATALOG, {"modality": "ct", "deployment_mode": "cloud", "regulatory": "fda"})
        assert result_names(html) == ["StrokeFinder"]
        _, html = get(CATALOG, {"standard": "fhir-r4", "vendor": "labwise"})
        assert result_names(html) == ["LabTrend"]
        _, html = get(CATALOG, {"pricing_model": ["free", "usage"]})
        assert result_names(html) == ["LabTrend", "LungScan"]
        assert checked(html, "pricing_model", "free") and checked(html, "pricing_model", "usage")

    def test_counts_follow_the_query_and_the_other_filters(self, store) -> None:
        _, html = get(CATALOG)
        assert facet_count(html, "category", "imaging-ai") == 3
        assert facet_count(html, "category", "lab-analytics") == 1
        assert facet_count(html, "modality", "ct") == 2
        assert facet_count(html, "deployment_mode", "cloud") == 3
        assert facet_count(html, "deployment_mode", "on_premise") == 2
        assert facet_count(html, "vendor", "radiant-ai") == 3
        assert facet_count(html, "regulatory", "eu_mdr") == 1
        assert "Health Canada" not in html  # no listing has it: values without results are not offered
        assert facet_count(html, "category", "scheduling") is None
        # Narrowing by deployment changes the other facets' counts, not its own.
        _, html = get(CATALOG, {"deployment_mode": "cloud"})
        assert facet_count(html, "deployment_mode", "cloud") == 3
        assert facet_count(html, "deployment_mode", "on_premise") == 2
        assert facet_count(html, "modality", "ct") == 1
        assert facet_count(html, "vendor", "labwise") == 1
        assert facet_count(html, "pricing_model", "usage") is None  # only LungScan, on premise
        # A query narrows the counts too.
        _, html = get(CATALOG, {"q": "brain"})
        assert facet_count(html, "modality", "mr") == 1 and facet_count(html, "modality", "ct") is None

    def test_a_selected_value_without_results_stays_so_it_can_be_unselected(self, store) -> None:
        _, html = get(CATALOG, {"q": "LabTrend", "modality": "ct"})
        assert result_names(html) == []
        assert checked(html, "modality", "ct") and facet_count(html, "modality", "ct") == 0

    def test_ordering(self, store) -> None:
        Listing.objects.filter(pk=store["lab"].pk).update(published_at=timezone.now() + datetime.timedelta(days=2))
        Listing.objects.filter(pk=store["stroke"].pk).update(published_at=timezone.now() + datetime.timedelta(days=1))
        _, html = get(CATALOG, {"ordering": "name"})
        assert result_names(html) == ["BrainVolume", "LabTrend", "LungScan", "StrokeFinder"]
        _, html = get(CATALOG, {"ordering": "newest"})
        assert result_names(html)[:2] == ["LabTrend", "StrokeFinder"]
        assert '<option value="newest" selected>' in html
        # Relevance puts name matches first.
        _, html = get(CATALOG, {"q": "ct", "ordering": "relevance"})
        assert result_names(html) == ["LungScan", "StrokeFinder"]  # both mention CT only outside the name
        _, html = get(CATALOG, {"q": "lung"})
        assert result_names(html) == ["LungScan"] and '<option value="relevance" selected>' in html
        # Nonsense is ignored, not an error.
        response, html = get(CATALOG, {"ordering": "price; drop table", "page": "x", "deployment_mode": "moon"})
        assert response.status_code == 200 and len(result_names(html)) == 4
        assert 'value="moon"' not in html

    def test_pagination_keeps_query_and_filters(self, store, labwise) -> None:
        category = Category.objects.get(slug="lab-analytics")
        for number in range(30):
            listing = Listing.objects.create(
                vendor=labwise,
                slug=f"lab-tool-{number:02d}",
                name=f"Lab tool {number:02d}",
                tagline="Lab helper",
                status=Listing.Status.PUBLISHED,
                published_at=timezone.now(),
            )
            listing.categories.add(category)
            listing_refresh_index(listing=listing)
        params = {"q": "lab", "category": "lab-analytics"}
        _, first = get(CATALOG, params)
        assert len(result_names(first)) == 25
        assert "31 apps" in first and "showing 1–25" in unescape(first)
        assert "Page 1 of 2" in first
        next_link = unescape(re.search(r'rel="next" href="([^"]+)"', first).group(1))
        assert "q=lab" in next_link and "category=lab-analytics" in next_link and "page=2" in next_link
        _, second = get(CATALOG + next_link)
        assert len(result_names(second)) == 6 and "Page 2 of 2" in second
        assert 'rel="prev"' in second and '<ol class="results" start="26">' in second
        assert result_names(second)[-1] == "LabTrend"  # name matches first, then by name

    def test_query_count_is_constant(self, store, labwise, django_assert_max_num_queries) -> None:
        for number in range(20):
            listing = Listing.objects.create(
                vendor=labwise, slug=f"extra-{number}", name=f"Extra {number}", status=Listing.Status.PUBLISHED
            )
            listing_refresh_index(listing=listing)
        # session/user-free anonymous request: count + page + 2 prefetches + 8 facets, and no N+1.
        with django_assert_max_num_queries(14):
            response = Client().get(CATALOG)
        assert len(result_names(response.content.decode())) == 24


class TestHtmx:
    def test_htmx_request_gets_the_results_partial_with_out_of_band_counts(self, store) -> None:
        response, html = get(CATALOG, {"modality": "ct", "deployment_mode": "cloud"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert "<html" not in html and "<header" not in html and 'id="catalog-form"' not in html
        assert result_names(html) == ["StrokeFinder"]
        assert '<p id="result-count" hx-swap-oob="innerHTML">1 app with the chosen filters</p>' in html
        for facet in FACETS:
            assert f'<div id="facet-options-{facet}" hx-swap-oob="innerHTML">' in html
        assert checked(html, "modality", "ct") and checked(html, "deployment_mode", "cloud")
        assert facet_count(html, "modality", "ct") == 1
        assert "<title>" in html and "Find apps" in html
        assert "HX-Request" in response["Vary"]
        assert_csp_clean(response)

    def test_full_page_without_htmx_and_for_history_restore(self, store) -> None:
        response, html = get(CATALOG, {"modality": "ct"})
        assert "<html" in html and "HX-Request" in response["Vary"]
        _, html = get(CATALOG, {"modality": "ct"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
        assert "<html" in html and 'id="catalog-form"' in html

    def test_form_is_wired_for_htmx(self, store) -> None:
        _, html = get(CATALOG)
        form = re.search(r'<form id="catalog-form"[^>]*>', html).group(0)
        assert f'hx-get="{CATALOG}"' in form and 'hx-target="#catalog-results"' in form
        assert 'hx-push-url="true"' in form and "change" in form and "submit" in form


class TestWithoutJavaScript:
    def test_the_form_submits_as_a_plain_get_and_keeps_its_state(self, store) -> None:
        _, html = get(CATALOG)
        form = re.search(r'<form id="catalog-form"[^>]*>', html).group(0)
        assert 'method="get"' in form and f'action="{CATALOG}"' in form
        assert '<button type="submit" class="button">Apply filters</button>' in html
        assert 'name="modality" value="ct"' in html and 'name="ordering"' in html
        # What the browser sends when someone ticks two boxes and presses "Apply filters".
        _, html = get(CATALOG, {"q": "scan", "modality": ["ct"], "standard": ["fhir-r4"], "ordering": "name"})
        assert result_names(html) == ["LungScan"]
        assert 'value="scan"' in html and checked(html, "modality", "ct") and checked(html, "standard", "fhir-r4")
        assert '<option value="name" selected>' in html
        assert "Clear all filters" in html and f'href="{CATALOG}?q=scan"' in html


class TestLinks:
    def test_header_and_home_link_to_the_catalog(self, db) -> None:
        html = Client().get(reverse("storefront:home")).content.decode()
        assert html.count(f'href="{CATALOG}"') >= 2  # main navigation and the call to action

    def test_signed_in_home_links_to_the_catalog(self, st_mary) -> None:
        html = signed_in(st_mary.admin).get(reverse("storefront:home")).content.decode()
        assert f'<h3><a href="{CATALOG}">Find apps</a></h3>' in html


# --- listing page ---------------------------------------------------------------------------


@pytest.fixture
def full_listing(store: dict[str, Listing]) -> Listing:
    """StrokeFinder with every fact: terms, clearances, data handling, versions, documents."""
    listing = store["stroke"]
    Listing.objects.filter(pk=listing.pk).update(
        description="## What it does\n\nFlags **LVO** in minutes. See [the study](https://example.org/study).",
        intended_use="Triage support for stroke teams.\nNot for diagnosis.",
        processes_patient_data=True,
        deidentified_before_leaving_site=True,
        data_residency=["EU", "CH"],
        security_certifications=["ISO 27001", "SOC 2"],
        support_email="support@radiant.example",
        support_url="https://radiant.example/support",
    )
    RegulatoryClearance.objects.create(
        listing=listing,
        authority="eu_mdr",
        device_class="IIb",
        identifier="CE 0123",
        cleared_on=datetime.date(2024, 3, 5),
    )
    version = Version.objects.create(
        listing=listing, version="2.4.1", release_notes="Faster *triage*.", released_on=datetime.date(2025, 1, 20)
    )
    Artifact.objects.create(
        version=version,
        kind="installer",
        file="catalog/strokefinder-2.4.1.zip",
        filename="strokefinder-2.4.1.zip",
        content_type="application/zip",
        size=52_428_800,
        sha256="a" * 64,
    )
    Version.objects.create(listing=listing, version="2.3.0", released_on=datetime.date(2024, 10, 1))
    for kind, title, visibility in (
        ("ifu", "Instructions for use", "public"),
        ("mds2", "MDS2 form", "on_request"),
    ):
        Document.objects.create(
            listing=listing,
            kind=kind,
            title=title,
            visibility=visibility,
            file=f"catalog/{kind}.pdf",
            filename=f"{kind}.pdf",
            content_type="application/pdf",
            size=1024,
            sha256="b" * 64,
        )
    offering = listing.offerings.get(mode="cloud")
    Plan.objects.create(
        offering=offering,
        name="Yearly",
        pricing_model="subscription",
        price=Decimal("1200"),
        currency="EUR",
        billing_period="year",
        trial_days=30,
        trial_auto_approve=True,
    )
    Plan.objects.create(offering=offering, name="Old plan", pricing_model="free", is_active=False)
    Offering.objects.create(listing=listing, mode="hybrid", name="Retired hybrid", is_active=False)
    on_premise = listing.offerings.get(mode="on_premise")
    Offering.objects.filter(pk=on_premise.pk).update(
        requirement_cpu_cores=8, requirement_memory_gb=32, requirement_gpu="NVIDIA T4", requirement_disk_gb=500
    )
    listing_refresh_index(listing=listing)
    return Listing.objects.get(pk=listing.pk)


def listing_url(listing: Listing) -> str:
    return reverse("storefront:listing", args=[listing.slug])


class TestListingPage:
    def test_shows_every_fact(self, full_listing: Listing) -> None:
        response = Client().get(listing_url(full_listing))
        assert response.status_code == 200
        html = unescape(assert_csp_clean(response))
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
        assert "<h1>StrokeFinder</h1>" in html
        assert f'href="{reverse("storefront:partners")}?q=Radiant%20AI">Radiant AI</a>' in html
        assert "Verified vendor" in html
        assert "Flags large-vessel occlusion on CT angiography" in html
        assert "<strong>LVO</strong>" in html and "<h3>What it does</h3>" in html  # its first heading nests under h2
        assert "Triage support for stroke teams.<br>Not for diagnosis." in html
        for term in ("Imaging AI", "Neurology, Radiology", "CT", "DICOM"):
            assert term in text
        # Regulatory table.
        assert "FDA (United States)" in text and "K201234" in text
        assert "EU MDR (CE mark)" in text and "IIb" in text and "CE 0123" in text and "5 March 2024" in text
        # Data handling and security.
        assert "Processes patient data Yes" in text
        assert "De-identified before leaving the site Yes" in text
        assert "Data residency EU, CH" in text
        assert "Security certifications ISO 27001, SOC 2" in text
        # Support.
        assert 'href="mailto:support@radiant.example"' in html
        assert 'href="https://radiant.example/support" rel="noopener noreferrer nofollow"' in html
        # Offerings (active only) with regions or requirements, and their active plans.
        assert "eu-central" in text and "Ubuntu 22.04" in text
        assert "CPU 8 cores" in text and "Memory 32 GB" in text and "GPU NVIDIA T4" in text and "Disk 500 GB" in text
        assert "Retired hybrid" not in html and "Old plan" not in html
        assert "Standard Subscription EUR 100.00 per month No trial" in text
        assert "Yearly Subscription EUR 1,200.00 per year 30 days, approved at once" in text
        assert "Site licence Quote only Price on quote" in text
        # Versions, release notes and artifacts.
        assert text.index("Version 2.4.1") < text.index("Version 2.3.0")
        assert "released 20 January 2025" in text and "Faster <em>triage</em>." in html
        assert "strokefinder-2.4.1.zip Installer 50.0 MB" in text and "a" * 64 in html
        # Documents: the public one links to the download, the other waits for verified providers.
        ifu = Document.objects.get(listing=full_listing, kind="ifu")
        mds2 = Document.objects.get(listing=full_listing, kind="mds2")
        assert f'href="/api/v1/apps/strokefinder/documents/{ifu.public_id}/download/"' in html
        assert f"/documents/{mds2.public_id}/" not in html
        assert "MDS2 form MDS2 security form On request Available to verified providers" in text
        # Landmarks and links back.
        assert 'aria-label="Breadcrumb"' in html and f'href="{CATALOG}?vendor=radiant-ai"' in html

    def test_markdown_is_sanitized(self, store) -> None:
        listing = store["lab"]
        Listing.objects.filter(pk=listing.pk).update(
            description=(
                "Hello <script>alert('x')</script> <img src=x onerror=alert(1)> "
                '<a href="javascript:alert(2)">bad</a> [good](https://labwise.example) '
                '<iframe src="https://evil.example"></iframe> <span style="color:red">styled</span>'
            )
        )
        response = Client().get(listing_url(listing))
        html = assert_csp_clean(response)  # no <script>, no style="", no on*="" survived
        assert "alert('x')" not in html and "<img" not in html and "<iframe" not in html
        assert "javascript:" not in html
        assert '<a href="https://labwise.example" rel="noopener noreferrer nofollow">good</a>' in html
        assert "styled" in html

    def test_on_request_documents_link_for_verified_providers_only(self, full_listing, st_mary) -> None:
        mds2 = Document.objects.get(listing=full_listing, kind="mds2")
        download = f"/api/v1/apps/strokefinder/documents/{mds2.public_id}/download/"
        assert download not in signed_in(st_mary.member).get(listing_url(full_listing)).content.decode()
        st_mary.organization.verified_at = timezone.now()
        st_mary.organization.save(update_fields=["verified_at"])
        html = signed_in(st_mary.member).get(listing_url(full_listing)).content.decode()
        assert download in html and "Available to verified providers" not in html
        # A verified vendor is not a provider.
        labwise_admin = Membership.objects.filter(organization__slug="labwise").first().user
        assert download not in signed_in(labwise_admin).get(listing_url(full_listing)).content.decode()

    def test_unknown_slug_is_404(self, db) -> None:
        response = Client().get(reverse("storefront:listing", args=["no-such-app"]))
        assert response.status_code == 404
        assert "We cannot find that page" in response.content.decode()


class TestWhoSeesWhat:
    @pytest.fixture
    def draft(self, terms, radiant_verified, operator) -> Listing:
        listing = publish(radiant_verified.organization, operator, name="Secret Draft", approve=False)
        listing_submit(listing=listing, actor=_admin_principal(radiant_verified.organization))  # in review
        return listing

    def test_draft_is_404_to_the_public_and_to_other_organizations(self, draft, st_mary, labwise) -> None:
        assert Client().get(listing_url(draft)).status_code == 404
        assert signed_in(st_mary.admin).get(listing_url(draft)).status_code == 404
        labwise_admin = Membership.objects.filter(organization=labwise).first().user
        assert signed_in(labwise_admin).get(listing_url(draft)).status_code == 404

    def test_draft_is_visible_to_its_vendor_and_operators(self, draft, radiant_verified, operator) -> None:
        for person in (radiant_verified.member, radiant_verified.admin, operator):
            response = signed_in(person).get(listing_url(draft))
            assert response.status_code == 200, person
            html = assert_csp_clean(response)
            assert "<h1>Secret Draft</h1>" in html and "Not in the store: in review." in html

    def test_vendor_member_acting_for_another_organization_gets_404_like_the_api(self, draft, radiant_verified):
        other = OrganizationFactory(name="Aaa Clinic", slug="aaa-clinic")
        MembershipFactory(user=radiant_verified.member, organization=other, role="admin")
        client = signed_in(radiant_verified.member)
        session = client.session
        session["active_organization"] = "aaa-clinic"
        session.save()
        assert client.get(listing_url(draft)).status_code == 404
        session["active_organization"] = radiant_verified.organization.slug
        session.save()
        assert client.get(listing_url(draft)).status_code == 200

    def test_suspended_and_retired_are_404_to_the_public(self, store, radiant_verified, operator) -> None:
        listing_suspend(listing=store["lung"], actor=operator_principal(operator), reason="Safety notice")
        listing_retire(listing=store["brain"], actor=operator_principal(operator))
        for listing in (store["lung"], store["brain"]):
            assert Client().get(listing_url(listing)).status_code == 404
            assert signed_in(radiant_verified.member).get(listing_url(listing)).status_code == 200
        html = signed_in(radiant_verified.member).get(listing_url(store["lung"])).content.decode()
        assert "Safety notice" in html

    def test_published_is_visible_to_everyone(self, store, st_mary) -> None:
        assert Client().get(listing_url(store["lab"])).status_code == 200
        html = signed_in(st_mary.member).get(listing_url(store["lab"])).content.decode()
        assert "Not in the store" not in html and "LabTrend" in html


class TestLongFacets:
    def test_values_beyond_eight_fold_away_and_open_when_one_is_selected(self, labwise) -> None:
        for number in range(11):
            category = Category.objects.create(slug=f"cat-{number:02d}", name=f"Category {number:02d}")
            listing = Listing.objects.create(
                vendor=labwise, slug=f"app-{number:02d}", name=f"App {number:02d}", status=Listing.Status.PUBLISHED
            )
            listing.categories.add(category)
            listing_refresh_index(listing=listing)
        _, html = get(CATALOG)
        fieldset = html[html.index('id="facet-options-category"') : html.index('id="facet-options-specialty"')]
        assert '<details class="facet-more">' in fieldset and "3 more" in fieldset
        assert fieldset.count('type="checkbox"') == 11
        _, html = get(CATALOG, {"category": "cat-10"})  # sorted by label, so among the folded ones
        fieldset = html[html.index('id="facet-options-category"') : html.index('id="facet-options-specialty"')]
        assert '<details class="facet-more" open>' in fieldset and checked(fieldset, "category", "cat-10")


class TestDocumentLinks:
    def test_the_public_link_downloads_through_the_api(self, store) -> None:
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        listing = store["lab"]
        name = default_storage.save("catalog/test/labtrend-ifu.pdf", ContentFile(b"%PDF-1.4 instructions"))
        try:
            Document.objects.create(
                listing=listing,
                kind="ifu",
                title="Instructions for use",
                visibility="public",
                file=name,
                filename="labtrend-ifu.pdf",
                content_type="application/pdf",
                size=21,
                sha256="c" * 64,
            )
            html = Client().get(listing_url(listing)).content.decode()
            link = re.search(r'href="(/api/v1/apps/labtrend/documents/[0-9a-f-]+/download/)"', html).group(1)
            response = Client().get(link)
            assert response.status_code == 200
            assert b"".join(response.streaming_content) == b"%PDF-1.4 instructions"
        finally:
            default_storage.delete(name)

    def test_the_vendor_sees_links_to_its_on_request_documents(self, full_listing, radiant_verified) -> None:
        mds2 = Document.objects.get(listing=full_listing, kind="mds2")
        html = signed_in(radiant_verified.member).get(listing_url(full_listing)).content.decode()
        assert f"/api/v1/apps/strokefinder/documents/{mds2.public_id}/download/" in html


def test_a_renamed_term_is_offered_once(store) -> None:
    """Renaming a term leaves old labels on listings not re-indexed yet; the page still shows
    one checkbox per value, with the summed count."""
    category = Category.objects.get(slug="imaging-ai")
    category.name = "Imaging and AI"
    category.save()
    listing_refresh_index(listing=store["stroke"])
    _, html = get(CATALOG)
    assert html.count('name="category" value="imaging-ai"') == 1
    assert facet_count(html, "category", "imaging-ai") == 3
