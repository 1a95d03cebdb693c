"""The WSGI application bench/catalog.py serves with gunicorn: the project, plus a baseline.

`application` hands every request to the project's own WSGI application (config/wsgi.py), except
`/bench-baseline/apps/...`, which it answers itself: the same work as `GET /api/v1/apps/` (the
text-mode decision, the count, one page with its categories and clearances, the facet counts)
and `GET /api/v1/apps/<slug>/` (the listing with its terms, clearances, offerings and plans,
versions and artifacts, public documents, screenshots, rendered description, and the view
count), in raw SQL on one psycopg connection per gunicorn worker, encoded with orjson. No
middleware, no principal, no DRF, no ORM.

It exists only here: the baseline is never mounted in config/urls.py, and production serves
config.wsgi:application.

The SQL mirrors apps/catalog/search.py; bench/catalog.py compares both answers (count, page,
facet counts) before it measures, and says so when they drift apart.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson

from config.wsgi import application as project_application

PREFIX = "/bench-baseline/apps/"
PAGE_SIZE = 25
MAX_FUZZY_IDS = 20_000
FACETS = ("category", "specialty", "modality", "deployment_mode", "standard", "regulatory", "vendor", "pricing_model")
CLOSED_VALUES = {
    "deployment_mode": {"cloud", "on_premise", "hybrid"},
    "pricing_model": {"free", "subscription", "usage", "quote_only"},
}
ORDERINGS = ("relevance", "name", "newest", "rating")
AUTHORITY_LABELS = {"fda": "FDA", "eu_mdr": "EU MDR"}
_SEARCH_SYNTAX = re.compile(r'"|(?:^|\s)-\S|(?:^|\s)or(?:\s|$)', re.IGNORECASE)
FTS = "l.search_vector @@ websearch_to_tsquery('english', %s)"
FTS_PREFIX = f"({FTS} OR l.search_vector @@ to_tsquery('simple', %s))"

_connection: Any = None


def _cursor() -> Any:
    """One connection per gunicorn worker process, opened after the fork, like Django's."""
    global _connection
    import psycopg

    if _connection is None or _connection.closed:
        _connection = psycopg.connect(
            os.environ["DATABASE_URL"], autocommit=True, prepare_threshold=None, cursor_factory=psycopg.ClientCursor
        )
    return _connection.cursor()


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


# --- search -------------------------------------------------------------------------------------


def _fuzzy_words(query: str) -> list[str]:
    return [] if _SEARCH_SYNTAX.search(query) else [w.lower() for w in query.split()[:10]]


def _prefix_query(query: str) -> str:
    if _SEARCH_SYNTAX.search(query):
        return ""
    return " & ".join(f"{w}:*" for w in re.findall(r"[^\W_]+", query.lower())[:10])


class Search:
    def __init__(self, args: dict[str, list[str]]) -> None:
        self.query = (args.get("q") or [""])[0].strip()
        if len(self.query) > 200:
            raise BadRequest("q")
        self.ordering = (args.get("ordering") or [""])[0]
        if self.ordering and self.ordering not in ORDERINGS:
            raise BadRequest("ordering")
        try:
            self.page = int((args.get("page") or ["1"])[0])
        except ValueError as exc:
            raise NotFound("page") from exc
        if self.page < 1:
            raise NotFound("page")
        self.filters: dict[str, list[str]] = {}
        for facet in FACETS:
            values = [v.strip() for v in args.get(facet, []) if v.strip()][:50]
            if facet in CLOSED_VALUES and set(values) - CLOSED_VALUES[facet]:
                raise BadRequest(facet)
            if values:
                self.filters[facet] = values
        self.args = args
        self.mode = ""
        self.fuzzy_ids: list[int] | None = None

    def text(self) -> tuple[str, list[Any]]:
        if not self.query:
            return "", []
        if self.mode == "fuzzy":
            if self.fuzzy_ids is not None:
                return "l.id = ANY(%s)", [self.fuzzy_ids]
            return self._fuzzy()
        prefix = _prefix_query(self.query)
        return (FTS_PREFIX, [self.query, prefix]) if prefix else (FTS, [self.query])

    def _fuzzy(self) -> tuple[str, list[Any]]:
        words = _fuzzy_words(self.query)
        params: list[Any] = []
        for word in words:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params += [f"%{escaped}%", word]
        return "(" + " AND ".join(["(l.search_text LIKE %s OR %s <<%% l.search_text)"] * len(words)) + ")", params

    def resolve(self, cursor: Any) -> None:
        """Full text when it finds anything, else the typo-tolerant match, ids fetched once."""
        if not self.query:
            return
        self.mode = "fts"
        condition, params = self.text()
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM catalog_listing l WHERE l.status = 'published' AND {condition})", params
        )
        if cursor.fetchone()[0] or not _fuzzy_words(self.query):
            return
        self.mode = "fuzzy"
        condition, params = self._fuzzy()
        cursor.execute(
            f"SELECT l.id FROM catalog_listing l WHERE l.status = 'published' AND {condition} LIMIT %s",
            [*params, MAX_FUZZY_IDS + 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
        self.fuzzy_ids = ids if len(ids) <= MAX_FUZZY_IDS else None

    def where(self, *, skip: str | None = None) -> tuple[str, list[Any]]:
        clauses, params = ["l.status = 'published'"], []
        condition, text_params = self.text()
        if condition:
            clauses.append(condition)
            params += text_params
        for facet, values in self.filters.items():
            if facet != skip:
                clauses.append(
                    "l.id IN (SELECT listing_id FROM catalog_listingfacet WHERE facet = %s AND value = ANY(%s))"
                )
                params += [facet, values]
        return " AND ".join(clauses), params

    def order(self) -> tuple[str, list[Any]]:
        ordering = self.ordering or ("relevance" if self.query else "name")
        if ordering == "relevance" and self.query:
            if self.mode == "fuzzy":
                return "strict_word_similarity(%s, l.search_text) DESC, l.name ASC, l.id ASC", [self.query.lower()]
            return "ts_rank_cd(l.search_vector, websearch_to_tsquery('english', %s)) DESC, l.name ASC, l.id ASC", [
                self.query
            ]
        if ordering == "newest":
            return "l.published_at DESC NULLS LAST, l.created_at DESC, l.id ASC", []
        if ordering == "rating":
            return "l.rating_average DESC NULLS LAST, l.rating_count DESC, l.name ASC, l.id ASC", []
        return "l.name ASC, l.id ASC", []

    def page_url(self, base: str, page: int) -> str:
        args = {k: v for k, v in self.args.items() if k != "page"}
        if page > 1:
            args["page"] = [str(page)]
        return base + ("?" + urlencode(args, doseq=True) if args else "")


def search(cursor: Any, search: Search, base_url: str) -> bytes:
    search.resolve(cursor)
    where, params = search.where()
    cursor.execute(f"SELECT count(*) FROM catalog_listing l WHERE {where}", params)
    count = cursor.fetchone()[0]
    last = max(1, -(-count // PAGE_SIZE))
    if search.page > last:
        raise NotFound("page")
    order, order_params = search.order()
    cursor.execute(
        "SELECT l.id, l.slug, l.name, l.tagline, l.status, o.slug, o.name, o.verified_at IS NOT NULL,"
        " l.deployment_modes, l.pricing_models, l.processes_patient_data, l.logo, l.published_at,"
        " l.rating_average, l.rating_count"
        " FROM catalog_listing l JOIN organizations_organization o ON o.id = l.vendor_id"
        f" WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
        [*params, *order_params, PAGE_SIZE, (search.page - 1) * PAGE_SIZE],
    )
    rows = cursor.fetchall()
    ids = [row[0] for row in rows]
    categories: dict[int, list[dict[str, str]]] = {i: [] for i in ids}
    authorities: dict[int, set[str]] = {i: set() for i in ids}
    if ids:
        cursor.execute(
            "SELECT lc.listing_id, c.slug, c.name FROM catalog_category c"
            " JOIN catalog_listing_categories lc ON lc.category_id = c.id"
            " WHERE lc.listing_id = ANY(%s) ORDER BY c.name",
            [ids],
        )
        for listing_id, slug, name in cursor.fetchall():
            categories[listing_id].append({"slug": slug, "name": name})
        cursor.execute(
            "SELECT listing_id, authority FROM catalog_regulatoryclearance WHERE listing_id = ANY(%s)", [ids]
        )
        for listing_id, authority in cursor.fetchall():
            authorities[listing_id].add(authority)
    results = [
        {
            "slug": r[1],
            "name": r[2],
            "tagline": r[3],
            "status": r[4],
            "vendor": {"slug": r[5], "name": r[6], "verified": r[7]},
            "categories": categories[r[0]],
            "deployment_modes": [m for m in r[8].split(",") if m],
            "pricing_models": [p for p in r[9].split(",") if p],
            "regulatory": sorted(authorities[r[0]]),
            "processes_patient_data": r[10],
            "logo_url": f"/media/{r[11]}" if r[11] else None,
            "rating": {"average": f"{r[13]:.2f}" if r[13] is not None else None, "count": r[14]},
            "published_at": r[12],
        }
        for r in rows
    ]
    return orjson.dumps(
        {
            "count": count,
            "next": search.page_url(base_url, search.page + 1) if search.page < last else None,
            "previous": search.page_url(base_url, search.page - 1) if search.page > 1 else None,
            "results": results,
            "facets": facets(cursor, search),
        }
    )


def facets(cursor: Any, search: Search) -> dict[str, list[dict[str, Any]]]:
    """One grouped query for the facets without a selection of their own, one per selected facet
    (its own selection left out), and the labels of selected values that match nothing."""
    result: dict[str, list[dict[str, Any]]] = {facet: [] for facet in FACETS}
    unselected = [facet for facet in FACETS if facet not in search.filters]
    groups: list[tuple[list[str], str | None]] = [(unselected, None)] if unselected else []
    groups += [([facet], facet) for facet in FACETS if facet in search.filters]
    for names, skip in groups:
        where, params = search.where(skip=skip)
        cursor.execute(
            "SELECT facet, value, count(listing_id) AS n, max(label) AS label FROM catalog_listingfacet"
            f" WHERE facet = ANY(%s) AND listing_id IN (SELECT l.id FROM catalog_listing l WHERE {where})"
            " GROUP BY facet, value ORDER BY facet, n DESC, label ASC",
            [names, *params],
        )
        for facet, value, n, label in cursor.fetchall():
            result[facet].append({"value": value, "label": label, "count": n})
    missing = [
        (facet, value)
        for facet, values in search.filters.items()
        for value in values
        if value not in {entry["value"] for entry in result[facet]}
    ]
    if missing:
        cursor.execute(
            "SELECT facet, value, max(label) FROM catalog_listingfacet WHERE (facet, value) IN ("
            + ", ".join(["(%s, %s)"] * len(missing))
            + ") GROUP BY facet, value",
            [item for pair in missing for item in pair],
        )
        labels = {(f, v): label for f, v, label in cursor.fetchall()}
        for facet, value in missing:
            result[facet].append({"value": value, "label": labels.get((facet, value), value), "count": 0})
    return result


# --- one listing ---------------------------------------------------------------------------------


def detail(cursor: Any, slug: str) -> bytes:
    from apps.catalog.markdown import render_markdown  # the same renderer: it is the work, not the stack

    cursor.execute(
        "SELECT l.id, l.slug, l.name, l.tagline, l.status, o.slug, o.name, o.verified_at IS NOT NULL,"
        " l.deployment_modes, l.pricing_models, l.processes_patient_data, l.logo, l.published_at,"
        " l.rating_average, l.rating_count, l.description, l.intended_use, l.deidentified_before_leaving_site,"
        " l.data_residency, l.security_certifications, l.support_email, l.support_url, l.eula_version,"
        " l.submitted_at, l.created_at, l.updated_at"
        " FROM catalog_listing l JOIN organizations_organization o ON o.id = l.vendor_id"
        " WHERE l.slug = %s AND l.status = 'published'",
        [slug],
    )
    r = cursor.fetchone()
    if r is None:
        raise NotFound(slug)
    listing_id = r[0]
    terms: dict[str, list[dict[str, str]]] = {}
    for name, table, column in (
        ("categories", "catalog_category", "category_id"),
        ("specialties", "catalog_specialty", "specialty_id"),
        ("modalities", "catalog_modality", "modality_id"),
        ("standards", "catalog_standard", "standard_id"),
    ):
        cursor.execute(
            f"SELECT t.slug, t.name FROM {table} t JOIN catalog_listing_{name} x ON x.{column} = t.id"
            " WHERE x.listing_id = %s ORDER BY t.name",
            [listing_id],
        )
        terms[name] = [{"slug": s, "name": n} for s, n in cursor.fetchall()]
    cursor.execute(
        "SELECT authority, device_class, identifier, cleared_on FROM catalog_regulatoryclearance"
        " WHERE listing_id = %s ORDER BY authority, cleared_on",
        [listing_id],
    )
    clearances = [
        {
            "authority": a,
            "authority_label": AUTHORITY_LABELS.get(a, a),
            "device_class": c,
            "identifier": i,
            "cleared_on": d,
        }
        for a, c, i, d in cursor.fetchall()
    ]
    cursor.execute(
        "SELECT id, public_id, mode, name, regions, requirement_os, requirement_cpu_cores, requirement_memory_gb,"
        " requirement_gpu, requirement_disk_gb, is_active, created_at FROM catalog_offering"
        " WHERE listing_id = %s AND is_active ORDER BY created_at, id",
        [listing_id],
    )
    offerings = [
        {
            "id": str(o[1]),
            "mode": o[2],
            "name": o[3],
            "regions": o[4],
            "requirements": {"os": o[5], "cpu_cores": o[6], "memory_gb": o[7], "gpu": o[8], "disk_gb": o[9]},
            "is_active": o[10],
            "plans": [],
            "created_at": o[11],
            "_id": o[0],
        }
        for o in cursor.fetchall()
    ]
    if offerings:
        by_id = {o["_id"]: o for o in offerings}
        cursor.execute(
            "SELECT offering_id, public_id, name, pricing_model, price, currency, billing_period, usage_unit,"
            " trial_days, trial_auto_approve, is_active, created_at FROM catalog_plan"
            " WHERE offering_id = ANY(%s) AND is_active ORDER BY created_at, id",
            [list(by_id)],
        )
        for p in cursor.fetchall():
            offering = by_id[p[0]]
            offering["plans"].append(
                {
                    "id": str(p[1]),
                    "offering": offering["id"],
                    "name": p[2],
                    "pricing_model": p[3],
                    "price": None if p[4] is None else f"{p[4]:.2f}",
                    "currency": p[5],
                    "billing_period": p[6],
                    "usage_unit": p[7],
                    "trial_days": p[8],
                    "trial_auto_approve": p[9],
                    "is_active": p[10],
                    "created_at": p[11],
                }
            )
        for offering in offerings:
            del offering["_id"]
    cursor.execute(
        "SELECT id, public_id, version, release_notes, released_on, created_at FROM catalog_version"
        " WHERE listing_id = %s ORDER BY released_on DESC NULLS FIRST, created_at DESC",
        [listing_id],
    )
    versions = [
        {
            "id": str(v[1]),
            "version": v[2],
            "release_notes": v[3],
            "released_on": v[4],
            "artifacts": [],
            "created_at": v[5],
            "_id": v[0],
        }
        for v in cursor.fetchall()
    ]
    if versions:
        by_id = {v["_id"]: v for v in versions}
        cursor.execute(
            "SELECT version_id, public_id, kind, filename, content_type, size, sha256, created_at FROM catalog_artifact"
            " WHERE version_id = ANY(%s) ORDER BY created_at, id",
            [list(by_id)],
        )
        for a in cursor.fetchall():
            by_id[a[0]]["artifacts"].append(
                {
                    "id": str(a[1]),
                    "kind": a[2],
                    "filename": a[3],
                    "content_type": a[4],
                    "size": a[5],
                    "sha256": a[6],
                    "created_at": a[7],
                }
            )
        for version in versions:
            del version["_id"]
    cursor.execute(
        "SELECT public_id, kind, title, visibility, filename, content_type, size, sha256, created_at"
        " FROM catalog_document WHERE listing_id = %s AND visibility = 'public' ORDER BY kind, title",
        [listing_id],
    )
    documents = [
        {
            "id": str(d[0]),
            "kind": d[1],
            "title": d[2],
            "visibility": d[3],
            "filename": d[4],
            "content_type": d[5],
            "size": d[6],
            "sha256": d[7],
            "download_url": f"/api/v1/apps/{r[1]}/documents/{d[0]}/download/",
            "created_at": d[8],
        }
        for d in cursor.fetchall()
    ]
    cursor.execute(
        "SELECT public_id, caption, position, file, sha256 FROM catalog_screenshot WHERE listing_id = %s"
        " ORDER BY position, id",
        [listing_id],
    )
    screenshots = [
        {"id": str(s[0]), "caption": s[1], "position": s[2], "url": f"/media/{s[3]}", "sha256": s[4]}
        for s in cursor.fetchall()
    ]
    # The view count the endpoint keeps (apps/analytics): one row per listing and day.
    cursor.execute(
        "INSERT INTO analytics_listingviewday (listing_id, day, views) VALUES (%s, %s, 1)"
        " ON CONFLICT (listing_id, day) DO UPDATE SET views = analytics_listingviewday.views + 1",
        [listing_id, datetime.datetime.now(datetime.UTC).date()],
    )
    agreements = [
        {"kind": "eula", "title": f"{r[2]} end-user license agreement", "version": r[22]},
        {
            "kind": "dpa",
            "title": "Data processing agreement",
            "version": os.environ.get("MARKETPLACE_DPA_VERSION", "2026-01"),
        },
    ]
    if r[10]:
        agreements.append(
            {
                "kind": "baa",
                "title": "Business associate agreement",
                "version": os.environ.get("MARKETPLACE_BAA_VERSION", "2026-01"),
            }
        )
    return orjson.dumps(
        {
            "slug": r[1],
            "name": r[2],
            "tagline": r[3],
            "status": r[4],
            "vendor": {"slug": r[5], "name": r[6], "verified": r[7]},
            "categories": terms["categories"],
            "deployment_modes": [m for m in r[8].split(",") if m],
            "pricing_models": [p for p in r[9].split(",") if p],
            "regulatory": sorted({c["authority"] for c in clearances}),
            "processes_patient_data": r[10],
            "logo_url": f"/media/{r[11]}" if r[11] else None,
            "rating": {"average": f"{r[13]:.2f}" if r[13] is not None else None, "count": r[14]},
            "published_at": r[12],
            "description": r[15],
            "description_html": render_markdown(r[15]),
            "intended_use": r[16],
            "specialties": terms["specialties"],
            "modalities": terms["modalities"],
            "standards": terms["standards"],
            "clearances": clearances,
            "deidentified_before_leaving_site": r[17],
            "data_residency": r[18],
            "security_certifications": r[19],
            "support_email": r[20],
            "support_url": r[21],
            "eula_version": r[22],
            "terms": agreements,
            "offerings": offerings,
            "versions": versions,
            "documents": documents,
            "screenshots": screenshots,
            "review_reason": None,
            "submitted_at": r[23],
            "created_at": r[24],
            "updated_at": r[25],
        }
    )


# --- WSGI ---------------------------------------------------------------------------------------


def _answer(start_response: Callable[..., Any], status: str, body: bytes) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def baseline(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    rest = environ.get("PATH_INFO", "")[len(PREFIX) :]
    base_url = f"http://{environ.get('HTTP_HOST', 'localhost')}{PREFIX}"
    try:
        with _cursor() as cursor:
            if rest:
                body = detail(cursor, rest.rstrip("/"))
            else:
                body = search(cursor, Search(parse_qs(environ.get("QUERY_STRING", ""))), base_url)
    except BadRequest as exc:
        return _answer(
            start_response, "400 Bad Request", orjson.dumps({"error": {"code": "invalid", "field": str(exc)}})
        )
    except NotFound:
        return _answer(start_response, "404 Not Found", b'{"error": {"code": "not_found"}}')
    return _answer(start_response, "200 OK", body)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "").startswith(PREFIX):
        return baseline(environ, start_response)
    return project_application(environ, start_response)
