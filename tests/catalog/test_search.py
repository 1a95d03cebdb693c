"""Catalog search (API.md "Catalog search"): words, filters (OR within, AND across), facet
counts under the other filters, ordering, pagination, what each caller may see, a constant
number of queries per page; ranking and typo tolerance on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.catalog.models import Listing
from apps.catalog.search import FACETS
from apps.catalog.services import listing_refresh_index
from tests.catalog.factories import (
    CategoryFactory,
    ClearanceFactory,
    ListingFactory,
    ModalityFactory,
    SpecialtyFactory,
    StandardFactory,
    publish_listing,
)
from tests.conftest import Party, assert_error

pytestmark = pytest.mark.django_db

APPS = "/api/v1/apps/"
on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ranking and typo tolerance are PostgreSQL features"
)


@dataclass
class Catalog:
    """Four published listings of two vendors, plus unpublished ones that never show."""

    nodules: Listing  # Radiant; radiology; CT; DICOM; cloud subscription; FDA
    rhythm: Listing  # Orbit; cardiology; FHIR; on-premise quote only
    stroke: Listing  # Radiant; radiology + cardiology; hybrid usage
    slides: Listing  # Orbit; pathology; cloud free
    draft: Listing  # Radiant; radiology; draft
    queued: Listing  # Orbit; radiology; in review
    suspended: Listing  # Orbit; radiology; suspended


@pytest.fixture
def catalog(radiant: Party, orbit: Party) -> Catalog:
    radiology = CategoryFactory(name="Radiology AI", slug="radiology")
    cardiology = CategoryFactory(name="Cardiology", slug="cardiology")
    pathology = CategoryFactory(name="Digital Pathology", slug="pathology")
    ct = ModalityFactory(name="CT", slug="ct")
    neuro = SpecialtyFactory(name="Neurology", slug="neurology")
    dicom = StandardFactory(name="DICOM", slug="dicom")
    fhir = StandardFactory(name="FHIR R4", slug="fhir-r4")
    now = timezone.now()
    maker, rival = radiant.organization, orbit.organization
    published = Listing.Status.PUBLISHED

    nodules = ListingFactory(
        vendor=maker, name="Lung Nodule Finder", tagline="Measures pulmonary findings on chest scans.",
        description="Volumetric measurement.", status=published, published_at=now - timedelta(days=30),
        categories=[radiology], modalities=[ct], standards=[dicom], offerings=[("cloud", "subscription")],
    )  # fmt: skip
    ClearanceFactory(listing=nodules, authority="fda")
    rhythm = ListingFactory(
        vendor=rival, name="Heart Rhythm Monitor", tagline="Arrhythmia alerts from wearable ECG.",
        description="Continuous monitoring.", status=published, published_at=now - timedelta(days=20),
        categories=[cardiology], standards=[fhir], offerings=[("on_premise", "quote_only")],
    )  # fmt: skip
    stroke = ListingFactory(
        vendor=maker, name="Stroke Triage", tagline="Detects large vessel occlusion in minutes.",
        description="Notifies the stroke team.", status=published, published_at=now - timedelta(days=10),
        categories=[radiology, cardiology], specialties=[neuro], offerings=[("hybrid", "usage")],
    )  # fmt: skip
    slides = ListingFactory(
        vendor=rival, name="Slide Scanner Assistant", tagline="Quality control for scanned slides.",
        description="Flags blurry gigapixel images before a pathologist sees them.", status=published,
        published_at=now - timedelta(days=1), categories=[pathology], offerings=[("cloud", "free")],
    )  # fmt: skip
    draft = ListingFactory(vendor=maker, name="Lung Draft Tool", categories=[radiology], offerings=[("cloud", "free")])
    queued = ListingFactory(
        vendor=rival, name="Lung Queue Tool", status=Listing.Status.IN_REVIEW, categories=[radiology]
    )
    suspended = ListingFactory(
        vendor=rival, name="Lung Paused Tool", status=Listing.Status.SUSPENDED, categories=[radiology]
    )
    listing_refresh_index(listing=nodules)  # its clearance came after the factory indexed it
    return Catalog(nodules, rhythm, stroke, slides, draft, queued, suspended)


def search(api: Any, params: dict[str, Any] | list[tuple[str, str]] | None = None) -> dict[str, Any]:
    response = api.get(APPS, params or {})
    assert response.status_code == 200, response.content
    return response.json()


def slugs(body: dict[str, Any]) -> list[str]:
    return [result["slug"] for result in body["results"]]


def counts(body: dict[str, Any], facet: str) -> dict[str, int]:
    return {row["value"]: row["count"] for row in body["facets"][facet]}


# --- words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("nodule", {"nodules"}),  # name
        ("occlusion", {"stroke"}),  # tagline
        ("gigapixel", {"slides"}),  # description
        ("Orbit", {"rhythm", "slides"}),  # vendor
        ("cardiology", {"rhythm", "stroke"}),  # category
        ("DICOM", {"nodules"}),  # standard
        ("neurology", {"stroke"}),  # specialty
        ("lung radiant", {"nodules"}),  # every word must match somewhere
        ("xylophone", set()),
    ],
)
def test_words_match_name_tagline_description_vendor_and_terms(
    q: str, expected: set[str], catalog: Catalog, anonymous_api: Any
) -> None:
    found = slugs(search(anonymous_api, {"q": q}))
    assert set(found) == {getattr(catalog, name).slug for name in expected}
    assert len(found) == len(set(found))


def test_an_empty_query_lists_every_published_listing_by_name(catalog: Catalog, anonymous_api: Any) -> None:
    body = search(anonymous_api, {"q": "  "})
    assert slugs(body) == [catalog.rhythm.slug, catalog.nodules.slug, catalog.slides.slug, catalog.stroke.slug]
    assert body["count"] == 4


# --- filters and facets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("category", "radiology")], {"nodules", "stroke"}),
        ([("category", "radiology"), ("category", "pathology")], {"nodules", "stroke", "slides"}),
        ([("category", "radiology"), ("deployment_mode", "cloud")], {"nodules"}),
        ([("deployment_mode", "cloud"), ("deployment_mode", "hybrid")], {"nodules", "stroke", "slides"}),
        (
            [("category", "cardiology"), ("pricing_model", "usage"), ("pricing_model", "quote_only")],
            {"rhythm", "stroke"},
        ),
        ([("category", "cardiology"), ("vendor", "radiant-ai")], {"stroke"}),
        ([("pricing_model", "free")], {"slides"}),
        ([("regulatory", "fda")], {"nodules"}),
        ([("standard", "dicom"), ("standard", "fhir-r4")], {"nodules", "rhythm"}),
        ([("modality", "ct")], {"nodules"}),
        ([("specialty", "neurology")], {"stroke"}),
        ([("vendor", "orbit-health"), ("q", "slides")], {"slides"}),
        ([("category", "no-such-category")], set()),
    ],
)
def test_filters_or_within_and_across(
    params: list[tuple[str, str]], expected: set[str], catalog: Catalog, anonymous_api: Any
) -> None:
    assert set(slugs(search(anonymous_api, params))) == {getattr(catalog, name).slug for name in expected}


def test_every_filter_has_facet_counts_under_the_other_filters(catalog: Catalog, anonymous_api: Any) -> None:
    everything = search(anonymous_api)
    assert set(everything["facets"]) == set(FACETS) == {
        "category", "specialty", "modality", "deployment_mode", "standard", "regulatory", "vendor", "pricing_model",
    }  # fmt: skip
    assert counts(everything, "category") == {"radiology": 2, "cardiology": 2, "pathology": 1}
    assert counts(everything, "vendor") == {"radiant-ai": 2, "orbit-health": 2}
    assert counts(everything, "deployment_mode") == {"cloud": 2, "on_premise": 1, "hybrid": 1}
    assert counts(everything, "pricing_model") == {"subscription": 1, "quote_only": 1, "usage": 1, "free": 1}
    assert counts(everything, "regulatory") == {"fda": 1}
    assert counts(everything, "standard") == {"dicom": 1, "fhir-r4": 1}
    labels = {row["value"]: row["label"] for row in everything["facets"]["category"]}
    assert labels["radiology"] == "Radiology AI"
    assert {row["value"]: row["label"] for row in everything["facets"]["vendor"]}["orbit-health"] == "Orbit Health"

    # Choosing a category keeps the other categories' counts (to widen), narrows the rest.
    narrowed = search(anonymous_api, {"category": "radiology"})
    assert counts(narrowed, "category") == {"radiology": 2, "cardiology": 2, "pathology": 1}
    assert counts(narrowed, "deployment_mode") == {"cloud": 1, "hybrid": 1}
    assert counts(narrowed, "vendor") == {"radiant-ai": 2}

    # Across two filters each facet is counted under the other one only.
    both = search(anonymous_api, [("category", "radiology"), ("deployment_mode", "cloud")])
    assert slugs(both) == [catalog.nodules.slug]
    assert counts(both, "category") == {"radiology": 1, "pathology": 1}  # cloud listings by category
    assert counts(both, "deployment_mode") == {"cloud": 1, "hybrid": 1}  # radiology listings by mode
    assert counts(both, "pricing_model") == {"subscription": 1}

    # The query applies to every facet.
    worded = search(anonymous_api, {"q": "Orbit", "category": "pathology"})
    assert counts(worded, "category") == {"cardiology": 1, "pathology": 1}
    assert counts(worded, "vendor") == {"orbit-health": 1}


def test_a_selected_value_without_results_stays_in_its_facet(catalog: Catalog, anonymous_api: Any) -> None:
    body = search(anonymous_api, [("category", "pathology"), ("deployment_mode", "on_premise")])
    assert body["count"] == 0
    assert {"value": "on_premise", "label": "On premise", "count": 0} in body["facets"]["deployment_mode"]


def test_unpublished_listings_count_in_no_facet(catalog: Catalog, anonymous_api: Any) -> None:
    body = search(anonymous_api, {"q": "lung"})
    assert slugs(body) == [catalog.nodules.slug]
    assert counts(body, "category") == {"radiology": 1}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"deployment_mode": "moon"}, "deployment_mode"),
        ([("deployment_mode", "cloud"), ("deployment_mode", "saas")], "deployment_mode"),
        ({"pricing_model": "barter"}, "pricing_model"),
        ({"ordering": "price"}, "ordering"),
        ({"ordering": "popularity"}, "ordering"),
        ({"status": "sold"}, "status"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_invalid_parameters_are_400_naming_them(
    params: dict[str, str] | list[tuple[str, str]], field: str, anonymous_api: Any
) -> None:
    assert_error(anonymous_api.get(APPS, params), 400, code="validation_error", field=field)


# --- ordering ----------------------------------------------------------------------------------


def test_ordering_by_name_and_newest(catalog: Catalog, anonymous_api: Any) -> None:
    assert slugs(search(anonymous_api, {"ordering": "name"})) == [
        catalog.rhythm.slug, catalog.nodules.slug, catalog.slides.slug, catalog.stroke.slug,
    ]  # fmt: skip
    assert slugs(search(anonymous_api, {"ordering": "newest"})) == [
        catalog.slides.slug, catalog.stroke.slug, catalog.rhythm.slug, catalog.nodules.slug,
    ]  # fmt: skip
    # Ordering applies to a query's matches too.
    assert slugs(search(anonymous_api, {"q": "Radiant", "ordering": "newest"})) == [
        catalog.stroke.slug, catalog.nodules.slug,
    ]  # fmt: skip


def test_relevance_puts_name_matches_first(radiant: Party, anonymous_api: Any) -> None:
    """Default ordering with a query is relevance: a listing named for the words comes before
    one that only mentions them in its description, whatever the alphabet says."""
    vendor = radiant.organization
    mention = ListingFactory(
        vendor=vendor, name="Aardvark Reporting", status=Listing.Status.PUBLISHED, tagline="Structured reports.",
        description="Integrates with any sepsis pathway.",
    )  # fmt: skip
    named = ListingFactory(
        vendor=vendor, name="Sepsis Early Warning", status=Listing.Status.PUBLISHED, tagline="Scores every patient.",
        description="Hourly scores.",
    )  # fmt: skip
    assert slugs(search(anonymous_api, {"q": "sepsis"})) == [named.slug, mention.slug]
    assert slugs(search(anonymous_api, {"q": "sepsis", "ordering": "relevance"})) == [named.slug, mention.slug]
    assert slugs(search(anonymous_api, {"q": "sepsis", "ordering": "name"})) == [mention.slug, named.slug]


@on_postgres
def test_postgres_ranks_name_above_tagline_above_description(radiant: Party, anonymous_api: Any) -> None:
    vendor = radiant.organization
    in_description = ListingFactory(
        vendor=vendor, name="Alpha Worklist", status="published", tagline="Sorts studies.",
        description="Prioritises mammography studies with suspicious findings.",
    )  # fmt: skip
    in_tagline = ListingFactory(
        vendor=vendor, name="Beta Screening", status="published", tagline="Mammography double reading.",
        description="Second reader.",
    )  # fmt: skip
    in_name = ListingFactory(
        vendor=vendor, name="Mammography Assistant", status="published", tagline="Breast imaging.",
        description="Reads screening exams.",
    )  # fmt: skip
    assert slugs(search(anonymous_api, {"q": "mammography"})) == [in_name.slug, in_tagline.slug, in_description.slug]


@on_postgres
@pytest.mark.parametrize("typo", ["radiolgy", "radiologgy", "Radiolagy"])
def test_postgres_tolerates_small_typos(typo: str, catalog: Catalog, anonymous_api: Any, radiant: Party) -> None:
    named = ListingFactory(vendor=radiant.organization, name="Emergency Radiology Reader", status="published")
    found = set(slugs(search(anonymous_api, {"q": typo})))
    # Listings in the "Radiology AI" category, and the one named "...Radiology...".
    assert {catalog.nodules.slug, catalog.stroke.slug, named.slug} <= found
    assert catalog.draft.slug not in found and catalog.rhythm.slug not in found
    # Several words: each may carry a typo, and each must match.
    assert slugs(search(anonymous_api, {"q": f"{typo} nodul"})) == [catalog.nodules.slug]


@on_postgres
def test_postgres_understands_web_search_syntax(catalog: Catalog, anonymous_api: Any) -> None:
    assert set(slugs(search(anonymous_api, {"q": "nodule or arrhythmia"}))) == {
        catalog.nodules.slug,
        catalog.rhythm.slug,
    }
    assert slugs(search(anonymous_api, {"q": '"vessel occlusion"'})) == [catalog.stroke.slug]
    assert catalog.stroke.slug not in slugs(search(anonymous_api, {"q": "radiology -stroke"}))


# --- who sees what ---------------------------------------------------------------------------


def test_anonymous_callers_see_published_listings_only(catalog: Catalog, anonymous_api: Any) -> None:
    assert search(anonymous_api)["count"] == 4
    for status in ("draft", "in_review", "suspended", "retired"):
        assert search(anonymous_api, {"status": status})["count"] == 0
    for hidden in (catalog.draft, catalog.queued, catalog.suspended):
        assert_error(anonymous_api.get(f"{APPS}{hidden.slug}/"), 404)


def test_a_vendor_sees_its_own_unpublished_listings_only(catalog: Catalog, radiant: Party, orbit: Party) -> None:
    for who in ("client:read_only", "member"):
        assert slugs(search(radiant.api(who), {"status": "draft"})) == [catalog.draft.slug]
    assert slugs(search(orbit.api(), {"status": "draft"})) == []
    assert slugs(search(orbit.api(), {"status": "in_review"})) == [catalog.queued.slug]
    assert slugs(search(radiant.api(), {"status": "in_review"})) == []
    mine = search(orbit.api(), [("status", "in_review"), ("status", "suspended"), ("status", "published")])
    assert set(slugs(mine)) == {
        catalog.queued.slug, catalog.suspended.slug, catalog.rhythm.slug, catalog.slides.slug,
        catalog.nodules.slug, catalog.stroke.slug,
    }  # fmt: skip
    # Without `status`, everyone's default is the store itself.
    assert search(radiant.api())["count"] == 4


def test_operators_see_the_review_queue(catalog: Catalog, operator_api: Any) -> None:
    assert slugs(search(operator_api, {"status": "in_review"})) == [catalog.queued.slug]
    assert slugs(search(operator_api, {"status": "draft"})) == [catalog.draft.slug]
    queue = search(operator_api, {"status": "in_review", "category": "radiology"})
    assert counts(queue, "vendor") == {"orbit-health": 1}


# --- pages and queries -------------------------------------------------------------------------


def test_pages_are_capped_at_100(radiant: Party, anonymous_api: Any) -> None:
    for _ in range(105):
        ListingFactory(vendor=radiant.organization, status=Listing.Status.PUBLISHED, index=False)
    first = search(anonymous_api)
    assert first["count"] == 105 and len(first["results"]) == 25 and first["previous"] is None
    assert "page=2" in first["next"]
    capped = search(anonymous_api, {"page_size": 1000})
    assert len(capped["results"]) == 100 and "page=2" in capped["next"]
    rest = search(anonymous_api, {"page_size": 100, "page": 2})
    assert len(rest["results"]) == 5 and rest["next"] is None
    assert not set(slugs(capped)) & set(slugs(rest))
    kept = search(anonymous_api, {"page_size": 10, "q": "imaging", "ordering": "name"})
    assert "q=imaging" in kept["next"] and "ordering=name" in kept["next"] and "page_size=10" in kept["next"]
    assert_error(anonymous_api.get(APPS, {"page": 99}), 404)


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "imaging"}, {"category": ["radiology", "cardiology"], "deployment_mode": "cloud", "ordering": "newest"}],
)
def test_queries_per_page_do_not_grow_with_the_page(
    params: dict[str, Any], radiant: Party, orbit: Party, anonymous_api: Any
) -> None:
    radiology = CategoryFactory(name="Radiology AI", slug="radiology")
    cardiology = CategoryFactory(name="Cardiology", slug="cardiology")
    for number in range(60):
        listing = ListingFactory(
            vendor=radiant.organization if number % 2 else orbit.organization,
            status=Listing.Status.PUBLISHED,
            categories=[radiology, cardiology] if number % 3 else [radiology],
            offerings=[("cloud", "subscription"), ("on_premise", "quote_only")],
        )
        ClearanceFactory(listing=listing)

    def queries_for(page_size: int) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            body = search(anonymous_api, {**params, "page_size": page_size})
        return len(captured), len(body["results"])

    small, shown_small = queries_for(5)
    large, shown_large = queries_for(50)
    assert (shown_small, shown_large) == (5, 50)
    assert small == large, f"{small} queries for 5 results, {large} for 50"
    # count, page, two prefetches, one per facet, and on PostgreSQL one to choose the text match
    assert large <= 5 + len(FACETS)


# --- renames and vocabularies ---------------------------------------------------------------


def test_a_vendor_rename_updates_search(catalog: Catalog, radiant: Party, anonymous_api: Any) -> None:
    response = radiant.api("admin").patch(f"/api/v1/organizations/{radiant.organization.slug}/", {"name": "Lumen Dx"})
    assert response.status_code == 200, response.content
    assert set(slugs(search(anonymous_api, {"q": "Lumen"}))) == {catalog.nodules.slug, catalog.stroke.slug}
    assert slugs(search(anonymous_api, {"q": "Radiant"})) == []
    body = search(anonymous_api, {"vendor": "radiant-ai"})
    assert {row["value"]: row["label"] for row in body["facets"]["vendor"]}["radiant-ai"] == "Lumen Dx"
    assert body["results"][0]["vendor"]["name"] == "Lumen Dx"


def test_categories_count_published_listings_only(catalog: Catalog, anonymous_api: Any) -> None:
    response = anonymous_api.get("/api/v1/categories/")
    assert response.status_code == 200
    body = response.json()
    assert {c["slug"]: c["listing_count"] for c in body["results"]} == {
        "cardiology": 2, "pathology": 1, "radiology": 2,
    }  # fmt: skip
    assert [c["name"] for c in body["results"]] == ["Cardiology", "Digital Pathology", "Radiology AI"]
    detail = anonymous_api.get("/api/v1/categories/radiology/").json()
    assert detail["listing_count"] == 2  # not the draft, the queued or the suspended one
    for vocabulary, slug, count in (
        ("standards", "dicom", 1),
        ("modalities", "ct", 1),
        ("specialties", "neurology", 1),
    ):
        found = {t["slug"]: t["listing_count"] for t in anonymous_api.get(f"/api/v1/{vocabulary}/").json()["results"]}
        assert found[slug] == count


def test_publishing_and_retiring_move_a_listing_in_and_out_of_search(
    radiant: Party, operator_api: Any, anonymous_api: Any
) -> None:
    listing = publish_listing(vendor=radiant.organization, name="Fracture Finder")
    assert slugs(search(anonymous_api, {"q": "fracture"})) == [listing.slug]
    assert anonymous_api.get("/api/v1/categories/radiology/").json()["listing_count"] == 1
    operator_api.post(f"{APPS}{listing.slug}/suspend/", {"reason": "Recall."})
    assert slugs(search(anonymous_api, {"q": "fracture"})) == []
    assert anonymous_api.get("/api/v1/categories/radiology/").json()["listing_count"] == 0
    operator_api.post(f"{APPS}{listing.slug}/reinstate/")
    assert slugs(search(anonymous_api, {"q": "fracture"})) == [listing.slug]
    radiant.api("admin").post(f"{APPS}{listing.slug}/retire/")
    assert slugs(search(anonymous_api, {"q": "fracture"})) == []


@pytest.mark.parametrize(
    "q", ["!!!", "-", '"', "or", "a & b | !c", "'; drop table catalog_listing; --", "(", ":*", "ünïcødé", "-nodule"]
)
def test_odd_queries_are_answered(q: str, catalog: Catalog, anonymous_api: Any) -> None:
    body = search(anonymous_api, {"q": q})
    assert catalog.draft.slug not in slugs(body)
    assert set(body["facets"]) == set(FACETS)


def test_renaming_a_term_relabels_its_facet_without_splitting_it(anonymous_api: Any) -> None:
    from apps.catalog.models import Category

    category = CategoryFactory(name="CT", slug="ct-imaging")
    publish_listing(categories=[category])
    publish_listing(categories=[category])
    category.name = "Computed tomography"
    category.save()
    facet = anonymous_api.get("/api/v1/apps/").json()["facets"]["category"]
    assert {"value": "ct-imaging", "label": "Computed tomography", "count": 2} in facet
    assert Category.objects.get(slug="ct-imaging").listings.count() == 2
    assert anonymous_api.get("/api/v1/apps/", {"q": "tomography"}).json()["count"] == 2


def test_rating_ordering_is_accepted_and_orders_by_name_until_reviews_exist(anonymous_api: Any) -> None:
    for name in ("Zeta Scan", "Alpha Scan"):
        publish_listing(name=name)
    body = anonymous_api.get("/api/v1/apps/", {"ordering": "rating"}).json()
    assert [r["name"] for r in body["results"]] == ["Alpha Scan", "Zeta Scan"]


def test_a_bad_status_filter_names_the_field_with_a_message(anonymous_api: Any) -> None:
    error = assert_error(anonymous_api.get("/api/v1/apps/", {"status": "bogus"}), 400, field="status")
    assert "bogus" in " ".join(error["fields"]["status"])
