"""The count and facet counts of public searches are cached per catalog change counter
(apps/catalog/search.py, catalog_summary): a repeated search runs no COUNT and no facet
grouping, any change to the catalog is seen by the next search, and callers whose view of the
catalog differs (a vendor's own drafts) are never served someone else's numbers."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.models import Listing
from tests.catalog import test_search
from tests.catalog.factories import CategoryFactory, ListingFactory
from tests.catalog.test_search import Catalog, counts, search, slugs
from tests.conftest import Party

catalog = test_search.catalog  # the same four published listings (and unpublished ones) as test_search

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def summary_cache(settings: Any) -> None:
    settings.MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = 600  # the test settings turn it off


def _aggregate_queries(api: Any, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The answer, and the SQL of its COUNT and GROUP BY queries."""
    with CaptureQueriesContext(connection) as captured:
        body = search(api, params)
    sql = [q["sql"] for q in captured.captured_queries]
    return body, [q for q in sql if "COUNT(" in q.upper()]


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "lung"}, {"category": "radiology"}, {"q": "triage", "category": ["radiology", "cardiology"]}],
)
def test_a_repeated_public_search_answers_the_same_without_counting_again(
    params: dict[str, Any], catalog: Catalog, anonymous_api: Any, st_mary: Party
) -> None:
    first, first_counts = _aggregate_queries(anonymous_api, params)
    assert first_counts, "the first search counts"
    # Another caller, another page and ordering: the same matches, so the same numbers.
    again, again_counts = _aggregate_queries(st_mary.api("member"), {**params, "ordering": "name", "page_size": 1})
    assert again_counts == []
    assert again["count"] == first["count"] and again["facets"] == first["facets"]
    assert len(again["results"]) == min(1, first["count"])
    assert (again["next"] is not None) == (first["count"] > 1)


def test_every_change_is_seen_by_the_next_search(
    catalog: Catalog, anonymous_api: Any, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    before = search(anonymous_api, {"category": "radiology"})
    assert before["count"] == 2 and counts(before, "vendor") == {"radiant-ai": 2}

    with django_capture_on_commit_callbacks(execute=True):  # the counter moves after commit
        ListingFactory(
            vendor=radiant.organization,
            name="Lung Second Opinion",
            status=Listing.Status.PUBLISHED,
            categories=[catalog.nodules.categories.get(slug="radiology")],
            offerings=[("cloud", "free")],
        )
    after = search(anonymous_api, {"category": "radiology"})
    assert after["count"] == 3 and counts(after, "vendor") == {"radiant-ai": 3}
    assert "lung-second-opinion" in slugs(after)

    with django_capture_on_commit_callbacks(execute=True):
        catalog.stroke.delete()
    assert search(anonymous_api, {"category": "radiology"})["count"] == 2

    # A vendor rename writes with .update() (no save signal): the facet label still follows.
    with django_capture_on_commit_callbacks(execute=True):
        renamed = radiant.api("admin").patch(f"/api/v1/organizations/{radiant.organization.slug}/", {"name": "Lumen"})
    assert renamed.status_code == 200, renamed.content
    vendors = search(anonymous_api, {"category": "radiology"})["facets"]["vendor"]
    labels = {row["value"]: row["label"] for row in vendors}
    assert labels == {"radiant-ai": "Lumen"}


def test_a_vendor_searching_its_own_drafts_is_never_served_shared_numbers(
    catalog: Catalog, radiant: Party, orbit: Party
) -> None:
    CategoryFactory(name="Unused", slug="unused")
    every_status = {"status": ["draft", "in_review", "published", "suspended"], "category": "radiology"}
    radiant_view = search(radiant.api("member"), every_status)
    orbit_view = search(orbit.api("member"), every_status)
    # Each sees the published ones and its own unpublished ones, not the other's.
    assert "lung-draft-tool" in slugs(radiant_view) and "lung-draft-tool" not in slugs(orbit_view)
    assert "lung-queue-tool" in slugs(orbit_view) and "lung-queue-tool" not in slugs(radiant_view)
    assert radiant_view["count"] == len(slugs(radiant_view)) and orbit_view["count"] == len(slugs(orbit_view))
    # And the public search right after is not the vendor's count either.
    assert search(radiant.api("member"), {"category": "radiology"})["count"] == 2


def test_the_store_page_shows_the_cached_numbers_of_the_same_search(
    catalog: Catalog, client: Any, anonymous_api: Any
) -> None:
    api_body = search(anonymous_api, {"q": "lung"})
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/apps/", {"q": "lung"})
    assert page.status_code == 200
    assert not [q for q in captured.captured_queries if "GROUP BY" in q["sql"].upper()]
    assert f"{api_body['count']} app" in page.content.decode()


def test_zero_seconds_turns_the_cache_off(catalog: Catalog, anonymous_api: Any, settings: Any) -> None:
    settings.MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = 0
    search(anonymous_api, {"q": "lung"})
    _, counted = _aggregate_queries(anonymous_api, {"q": "lung"})
    assert counted


SEARCHES: list[dict[str, Any]] = [
    {},
    {"ordering": "newest"},
    {"ordering": "rating"},
    {"ordering": "name", "page": 2, "page_size": 2},
    {"page": 3, "page_size": 2},  # past the (shortened) cached order: read from the database
    {"page_size": 100},
    {"q": "lung"},
    {"q": "tool", "ordering": "newest"},
    {"category": "radiology", "page_size": 1, "page": 2},
    {"category": ["radiology", "cardiology"], "deployment_mode": "cloud"},
    {"q": "xylophone"},
]


def test_cached_answers_equal_uncached_ones_for_every_page_and_ordering(
    catalog: Catalog, anonymous_api: Any, radiant: Party, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import cache

    from apps.catalog import search as search_module

    for number in range(6):  # enough for several pages
        ListingFactory(
            vendor=radiant.organization,
            name=f"Lung Helper {number}",
            status=Listing.Status.PUBLISHED,
            categories=[catalog.nodules.categories.get(slug="radiology")],
            offerings=[("cloud", "free")],
        )
    monkeypatch.setattr(search_module, "CACHED_ORDER_LENGTH", 4)  # so some pages lie past it
    settings.MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = 0
    expected = [search(anonymous_api, params) for params in SEARCHES]
    settings.MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = 600
    cache.clear()
    for _ in range(2):  # the first fills the cache, the second reads it
        for params, answer in zip(SEARCHES, expected, strict=True):
            assert search(anonymous_api, params) == answer, params


def test_a_repeated_search_reads_its_page_by_primary_key(catalog: Catalog, anonymous_api: Any) -> None:
    search(anonymous_api, {"q": "lung", "ordering": "name"})
    with CaptureQueriesContext(connection) as captured:
        body = search(anonymous_api, {"q": "lung", "ordering": "name"})
    listing_queries = [q["sql"] for q in captured.captured_queries if 'FROM "catalog_listing"' in q["sql"]]
    assert len(listing_queries) == 1 and "IN (" in listing_queries[0], listing_queries
    assert slugs(body) == ["lung-nodule-finder"]


def test_the_store_lists_the_same_apps_in_the_same_order_from_the_cache(
    catalog: Catalog, client: Any, settings: Any
) -> None:
    from django.core.cache import cache

    def names(params: dict[str, Any]) -> list[str]:
        html = client.get("/apps/", params).content.decode()
        shown = [listing.name for listing in Listing.objects.all() if listing.name in html]
        return sorted(shown, key=html.index)  # in the order the page shows them

    settings.MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = 0
    plain = {str(p): names(p) for p in ({}, {"ordering": "newest"}, {"category": "radiology"})}
    settings.MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS = 600
    cache.clear()
    for _ in range(2):
        for key, params in zip(plain, ({}, {"ordering": "newest"}, {"category": "radiology"}), strict=True):
            assert names(params) == plain[key]


def test_a_search_being_counted_elsewhere_waits_for_that_answer(
    catalog: Catalog, anonymous_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another web process computes the same cold search: this one waits and uses its answer."""
    import threading

    from django.core.cache import cache

    from apps.catalog import search as search_module

    expected = search(anonymous_api, {"q": "lung"})
    keys = [key for key in cache._cache if "catalog:summary:" in key]  # locmem's own dict
    assert len(keys) == 1
    summary_key = keys[0].split(":", 2)[-1]  # strip the locmem prefix and version
    value = cache.get(summary_key)
    cache.delete(summary_key)
    cache.add(f"{summary_key}:computing", 1, timeout=30)  # held by the other process
    threading.Timer(0.3, lambda: cache.set(summary_key, value, 60)).start()

    _, counted = _aggregate_queries(anonymous_api, {"q": "lung"})
    assert counted == []  # it waited and counted nothing itself
    assert search(anonymous_api, {"q": "lung"}) == expected

    # The other process dies without an answer: after the wait, this one counts for itself.
    monkeypatch.setattr(search_module, "COMPUTE_WAIT_SECONDS", 0.3)
    cache.delete(summary_key)
    cache.set(f"{summary_key}:computing", 1, timeout=30)
    body, counted = _aggregate_queries(anonymous_api, {"q": "lung"})
    assert counted and body == expected
