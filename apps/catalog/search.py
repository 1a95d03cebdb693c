"""Catalog search: ranked full text, facet filters (OR within, AND across) and facet counts.

PostgreSQL: a generated, GIN-indexed tsvector weighted name (A) > vendor, tagline (B) >
categories, specialties, modalities, standards (C) > description (D); when full text finds
nothing, a trigram strict-word-similarity match on name, vendor and terms so small typos still
match (migration 0002).
SQLite: every word must appear in one of those columns; ranking prefers name matches.
Filters and facet counts read the ListingFacet table on both databases. The number of queries
per page is constant whatever its size: one count, one page, two prefetches, one facet query
for all facets without a selection plus one per selected facet (and on PostgreSQL one that
decides between the indexed full-text match and the typo-tolerant fallback).

The count and the facet counts of a search of the public catalog are the same for every caller
until the catalog changes: `catalog_summary` keeps them in the cache under the catalog's change
counter (apps/catalog/freshness.py), and `catalog_first_ids` the order of the first
CACHED_ORDER_LENGTH matches, so with 100,000 listings a repeated query costs one lookup of 25
rows by primary key, not a count, a grouping and a sort over every match.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Case, Count, F, FloatField, IntegerField, Max, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL

from apps.catalog.models import Listing, ListingFacet, Offering, Plan
from marketplace.pagination import KnownCount

FACETS = (
    "category",
    "specialty",
    "modality",
    "deployment_mode",
    "standard",
    "regulatory",
    "vendor",
    "pricing_model",
)
CLOSED_VALUES = {
    "deployment_mode": set(Offering.Mode.values),
    "pricing_model": set(Plan.PricingModel.values),
}
ORDERINGS = ("relevance", "name", "newest", "rating")
MAX_QUERY_LENGTH = 200
MAX_FUZZY_IDS = 20_000
# How many ids of a search's order are kept in the cache: the first 40 pages of 25.
CACHED_ORDER_LENGTH = 1000
# How long a search waits for another request computing the same counts or order.
COMPUTE_WAIT_SECONDS = 10.0


@dataclass
class SearchParams:
    query: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    ordering: str = ""
    # PostgreSQL: "fts" (the indexed full-text match) or "fuzzy" (typo-tolerant trigram match,
    # used only when full text finds nothing); decided once per request by resolve_text_mode.
    text_mode: str = ""
    # In fuzzy mode, the matching ids found once (trigram matching is too slow to repeat for the
    # count, the page and every facet).
    fuzzy_ids: list[int] | None = None


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


_SEARCH_SYNTAX = re.compile(r'"|(?:^|\s)-\S|(?:^|\s)or(?:\s|$)', re.IGNORECASE)


def _fuzzy_words(query: str) -> list[str]:
    """The words a typo-tolerant match needs, each on its own (a whole-query similarity let
    "lung radiant" match anything by Radiant). None when the query uses web-search syntax
    (quotes, `or`, `-word`), whose meaning a fuzzy match would undo."""
    if _SEARCH_SYNTAX.search(query):
        return []
    return [word.lower() for word in query.split()[:10]]


FTS_SQL = "search_vector @@ websearch_to_tsquery('english', %s)"
# Words typed so far also match as prefixes ("lung" finds "LungScan"); both use the GIN index.
FTS_PREFIX_SQL = f"({FTS_SQL} OR search_vector @@ to_tsquery('simple', %s))"


def _prefix_query(query: str) -> str:
    """`w1:* & w2:*` from the query's plain words (letters and digits only, so it is always
    valid tsquery syntax), or "" when the query uses web-search syntax."""
    if _SEARCH_SYNTAX.search(query):
        return ""
    words = re.findall(r"[^\W_]+", query.lower())[:10]
    return " & ".join(f"{word}:*" for word in words)


def _fts(query: str) -> RawSQL:
    prefix = _prefix_query(query)
    if prefix:
        return RawSQL(FTS_PREFIX_SQL, (query, prefix), output_field=BooleanField())  # noqa: S611 - constant SQL
    return RawSQL(FTS_SQL, (query,), output_field=BooleanField())  # noqa: S611 - constant SQL


def resolve_text_mode(base: QuerySet[Listing], params: SearchParams) -> str:
    """Full text when it finds anything (indexed and precise); otherwise the typo-tolerant
    trigram match. One query, once per request, so the ten queries of a search page each use
    one indexed condition instead of an OR that forces a scan."""
    if params.text_mode or not params.query or not _is_postgres():
        return params.text_mode
    found = base.alias(matches_fts=_fts(params.query)).filter(matches_fts=True).exists()
    params.text_mode = "fts" if found or not _fuzzy_words(params.query) else "fuzzy"
    if params.text_mode == "fuzzy":
        ids = list(_fuzzy_match(base, params.query).values_list("pk", flat=True)[: MAX_FUZZY_IDS + 1])
        params.fuzzy_ids = ids if len(ids) <= MAX_FUZZY_IDS else None
    return params.text_mode


def _fuzzy_match(queryset: QuerySet[Listing], query: str) -> QuerySet[Listing]:
    """Every word occurs in, or is close to a word of, the name, vendor or terms: substrings
    ("scan" in "LungScan") and small typos ("radiolgy"); strict word similarity (threshold 0.5)
    keeps "radiology" from matching "cardiology". Both use the trigram index. Only constant
    fragments and placeholders are joined; the words are parameters."""
    words = _fuzzy_words(query)
    sql = " AND ".join(["(search_text LIKE %s OR %s <<%% search_text)"] * len(words))
    values: list[str] = []
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        values += [f"%{escaped}%", word]
    matches = RawSQL(f"({sql})", tuple(values), output_field=BooleanField())  # noqa: S611
    return queryset.alias(matches_fuzzy=matches).filter(matches_fuzzy=True)


def _text_filter(queryset: QuerySet[Listing], params: SearchParams) -> QuerySet[Listing]:
    query = params.query
    if not query:
        return queryset
    if _is_postgres():
        if params.text_mode == "fuzzy":
            if params.fuzzy_ids is not None:
                return queryset.filter(pk__in=params.fuzzy_ids)
            return _fuzzy_match(queryset, query)
        return queryset.alias(matches_query=_fts(query)).filter(matches_query=True)
    condition = Q()
    for word in query.split()[:10]:
        condition &= (
            Q(name__icontains=word)
            | Q(tagline__icontains=word)
            | Q(search_vendor__icontains=word)
            | Q(search_terms__icontains=word)
            | Q(description__icontains=word)
        )
    return queryset.filter(condition)


def _facet_filter(queryset: QuerySet[Listing], facet: str, values: list[str]) -> QuerySet[Listing]:
    return queryset.filter(pk__in=ListingFacet.objects.filter(facet=facet, value__in=values).values("listing_id"))


def _filtered(base: QuerySet[Listing], params: SearchParams, *, skip: str | None = None) -> QuerySet[Listing]:
    queryset = _text_filter(base, params)
    for facet, values in params.filters.items():
        if facet != skip and values:
            queryset = _facet_filter(queryset, facet, values)
    return queryset


def _ordered(queryset: QuerySet[Listing], params: SearchParams) -> QuerySet[Listing]:
    ordering = params.ordering or ("relevance" if params.query else "name")
    if ordering == "relevance" and params.query:
        if _is_postgres():
            if params.text_mode == "fuzzy":
                rank = RawSQL(
                    "strict_word_similarity(%s, search_text)", (params.query.lower(),), output_field=FloatField()
                )
            else:
                rank = RawSQL(
                    "ts_rank_cd(search_vector, websearch_to_tsquery('english', %s))",
                    (params.query,),
                    output_field=FloatField(),
                )
            return queryset.annotate(rank=rank).order_by("-rank", "name", "id")
        whole = params.query.strip()
        rank = Case(
            When(name__iexact=whole, then=Value(4)),
            When(name__icontains=whole, then=Value(3)),
            When(tagline__icontains=whole, then=Value(2)),
            When(search_terms__icontains=whole, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
        return queryset.annotate(rank=rank).order_by("-rank", "name", "id")
    if ordering == "newest":
        return queryset.order_by(F("published_at").desc(nulls_last=True), "-created_at", "id")
    if ordering == "rating":
        return queryset.order_by(F("rating_average").desc(nulls_last=True), "-rating_count", "name", "id")
    return queryset.order_by("name", "id")


def catalog_search(*, base: QuerySet[Listing], params: SearchParams) -> QuerySet[Listing]:
    """The matching listings, ordered. `base` is what the caller may see."""
    resolve_text_mode(base, params)
    return _ordered(_filtered(base, params), params)


def catalog_facets(*, base: QuerySet[Listing], params: SearchParams) -> dict[str, list[dict[str, Any]]]:
    """Counts for every facet under the current query and the *other* filters (a facet's own
    selection does not shrink its own counts, so people can widen as well as narrow)."""
    resolve_text_mode(base, params)
    result: dict[str, list[dict[str, Any]]] = {facet: [] for facet in FACETS}
    missing: list[tuple[str, str]] = []
    selected = [facet for facet in FACETS if params.filters.get(facet)]
    unselected = [facet for facet in FACETS if facet not in selected]
    # Facets without a selection of their own all count under the same matches: one grouped
    # query for all of them; each selected facet needs its own (its selection is left out).
    groups: list[tuple[list[str], QuerySet[Listing]]] = []
    if unselected:
        groups.append((unselected, _filtered(base, params)))
    groups += [([facet], _filtered(base, params, skip=facet)) for facet in selected]
    for facets, matching in groups:
        rows = (
            ListingFacet.objects.filter(facet__in=facets, listing_id__in=matching.values("pk"))
            .values("facet", "value")  # by value alone: a renamed term never splits its count
            .annotate(count=Count("listing_id"), label=Max("label"))
            .order_by("facet", "-count", "label")
        )
        for row in rows:
            result[row["facet"]].append({"value": row["value"], "label": row["label"], "count": row["count"]})
    for facet in FACETS:
        shown = {entry["value"] for entry in result[facet]}
        missing += [(facet, value) for value in params.filters.get(facet, []) if value not in shown]
    if missing:
        # A selected value with no results stays visible (count 0) so people can unselect it;
        # one query finds the labels of all of them.
        condition = Q()
        for facet, value in missing:
            condition |= Q(facet=facet, value=value)
        labels = {
            (row["facet"], row["value"]): row["label"]
            for row in ListingFacet.objects.filter(condition).values("facet", "value").annotate(label=Max("label"))
        }
        for facet, value in missing:
            result[facet].append({"value": value, "label": labels.get((facet, value), value), "count": 0})
    return result


@dataclass
class SearchSummary:
    count: int
    facets: dict[str, list[dict[str, Any]]]


def _summary_key(scope: str, params: SearchParams, version: int, *, ordering: str | None = None) -> str:
    what = [scope, params.query, params.filters] + ([] if ordering is None else [ordering])
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"catalog:{'summary' if ordering is None else 'order'}:v{version}:{digest}"


def _cache_seconds(shared_scope: str) -> int:
    return settings.MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS if shared_scope else 0


def _cached(key: str, seconds: int, compute: Callable[[], Any]) -> Any:
    """The cached value, or compute it and keep it. One caller computes a missing value while
    others asking for the same key meanwhile wait for it (up to COMPUTE_WAIT_SECONDS, then they
    compute it themselves): a burst of the same search on a cold cache costs one computation."""
    value = cache.get(key)
    if value is not None:
        return value
    lock = f"{key}:computing"
    owner = cache.add(lock, 1, timeout=COMPUTE_WAIT_SECONDS)
    if not owner:
        deadline = time.monotonic() + COMPUTE_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if (value := cache.get(key)) is not None:
                return value
            if cache.get(lock) is None:  # the one computing gave up: do it here
                break
    try:
        value = compute()
        cache.set(key, value, seconds)
    finally:
        if owner:
            cache.delete(lock)
    return value


def catalog_summary(*, base: QuerySet[Listing], params: SearchParams, shared_scope: str = "") -> SearchSummary:
    """The number of matches and the facet counts of a search (and, on `params`, its text mode).

    `shared_scope` names a `base` that is the same for every caller (the public statuses): then
    the answer is cached for the catalog's current change counter (any change to a listing or
    what is shown with it moves the counter, so nothing stale is served), for
    MARKETPLACE_CATALOG_SUMMARY_CACHE_SECONDS at most. Ordering and page are not part of it."""
    from apps.catalog.freshness import catalog_version

    def compute() -> dict[str, Any]:
        resolve_text_mode(base, params)
        count, facets = _filtered(base, params).count(), catalog_facets(base=base, params=params)
        return {"count": count, "facets": facets, "text_mode": params.text_mode, "fuzzy_ids": params.fuzzy_ids}

    seconds = _cache_seconds(shared_scope)
    if seconds > 0:
        found = _cached(_summary_key(shared_scope, params, catalog_version()), seconds, compute)
    else:
        found = compute()
    params.text_mode, params.fuzzy_ids = found["text_mode"], found["fuzzy_ids"]
    return SearchSummary(count=found["count"], facets=found["facets"])


def catalog_first_ids(
    *, results: QuerySet[Any], params: SearchParams, shared_scope: str, page_size: int, page: str | None
) -> list[int] | None:
    """The ids of the first CACHED_ORDER_LENGTH matches of an ordered search, from the cache
    (keyed like `catalog_summary`, plus the ordering) or read once and kept; None when the
    search is not shared or the requested `page` (as sent; the paginator validates it) lies
    beyond them. Call after `catalog_summary`, which settles the text mode the order depends on."""
    from apps.catalog.freshness import catalog_version

    seconds = _cache_seconds(shared_scope)
    number = int(page) if page and page.isdigit() and 0 < int(page) < 10_000 else 1
    if seconds <= 0 or page_size * number > CACHED_ORDER_LENGTH:
        return None
    key = _summary_key(shared_scope, params, catalog_version(), ordering=params.ordering or "")
    return _cached(
        key, seconds, lambda: list(results.prefetch_related(None).values_list("pk", flat=True)[:CACHED_ORDER_LENGTH])
    )


class SearchResults(KnownCount):
    """What a paginator slices: the count from the summary and, for the pages within the cached
    order, the rows of those ids (one query by primary key, put back in order); past them, or
    without a cached order, the ordered queryset itself."""

    def __init__(self, queryset: QuerySet[Any], count: int, first_ids: list[int] | None) -> None:
        super().__init__(queryset, count)
        self.first_ids = first_ids

    def __getitem__(self, key: Any) -> Any:
        ids = self.first_ids
        if ids is None or not isinstance(key, slice) or key.step is not None:
            return self.queryset[key]
        start, stop = key.start or 0, key.stop if key.stop is not None else self._count
        if stop > len(ids) and len(ids) < self._count:
            return self.queryset[key]
        wanted = ids[start:stop]
        if not wanted:
            return []
        rows = {(row["pk"] if isinstance(row, dict) else row.pk): row for row in self.queryset.filter(pk__in=wanted)}
        return [rows[pk] for pk in wanted if pk in rows]
