"""Catalog search on PostgreSQL: GET /api/v1/apps/ against a same-work raw-SQL baseline.

Usage: .venv/bin/python bench/catalog.py [--listings 10000 | --full] [--requests 20] [--warmup 2] [--keep]
                                         [--show-sql]

Creates (and at the end drops) its own database, `marketplace_bench` on the local PostgreSQL
unless DATABASE_URL names another one (its name must contain "bench": it is dropped first),
fills it with N published listings through bulk_create, runs ANALYZE, and then measures a fixed
mix of searches two ways in the same run, alternating request by request:

- endpoint: Django's test Client against the real URL (middleware, principal, throttling,
  DRF, search services, serializers, JSON rendering);
- baseline: the same SQL work (count, page, categories and clearances of the page, the eight
  facet counts) on a plain psycopg connection, encoded with orjson.

It checks that both give the same count, page and facet counts, then prints p50/p95 of each and
the ratio endpoint/baseline.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DIR = ROOT / "var" / "bench-catalog"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/marketplace_bench"
PAGE_SIZE = 25
FACETS = ("category", "specialty", "modality", "deployment_mode", "standard", "regulatory", "vendor", "pricing_model")


@dataclass(frozen=True)
class Search:
    label: str
    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    ordering: str = ""
    page: int = 1

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.filters}
        if self.q:
            out["q"] = self.q
        if self.ordering:
            out["ordering"] = self.ordering
        if self.page > 1:
            out["page"] = self.page
        return out


SEARCHES = [
    Search("q=radiology", q="radiology"),
    Search("q=radiolgy (typo)", q="radiolgy"),
    Search("q='ct triage' category=radiology-ai", q="ct triage", filters={"category": ["radiology-ai"]}),
    Search("cloud + subscription, no q", filters={"deployment_mode": ["cloud"], "pricing_model": ["subscription"]}),
    Search("no q, newest, page 3", ordering="newest", page=3),
]


# --- the database -------------------------------------------------------------------------------


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"bench/catalog.py drops and re-creates its database; {name!r} does not look like a bench database.")
    return url


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- generating listings ------------------------------------------------------------------------

# category, name words, specialties, modalities, standards
THEMES = [
    (
        "radiology-ai",
        ["CT", "Chest CT", "Head CT", "Brain MR", "Chest X-ray", "Fracture", "Lung", "Stroke", "Spine", "Breast"],
        ["radiology", "neurology", "emergency-medicine"],
        ["ct", "mr", "xr", "mg"],
        ["dicom", "dicomweb", "ihe-aiw-i", "hl7-v2"],
    ),
    (
        "cardiology",
        ["ECG", "Echo", "Cardiac CT", "Rhythm", "Holter", "Coronary"],
        ["cardiology", "internal-medicine"],
        ["ecg", "us", "ct"],
        ["hl7-v2", "fhir-r4", "dicom"],
    ),
    (
        "pathology",
        ["Slide", "Biopsy", "Cytology", "HER2", "Frozen Section", "Histology"],
        ["pathology", "oncology"],
        ["wsi"],
        ["dicom", "dicomweb"],
    ),
    (
        "laboratory",
        ["Lab", "QC", "Chemistry", "Hematology", "Sample", "Microbiology"],
        ["laboratory-medicine", "internal-medicine"],
        ["lab-analyzer"],
        ["hl7-v2", "fhir-r4"],
    ),
    (
        "oncology",
        ["Tumor", "PET", "Oncology", "Radiotherapy", "Lesion"],
        ["oncology", "radiology"],
        ["pet", "ct", "mr"],
        ["dicom", "fhir-r4"],
    ),
    (
        "operations",
        ["Worklist", "Capacity", "Scheduling", "Bed", "Staffing", "Scanner Fleet"],
        ["emergency-medicine", "internal-medicine", "radiology"],
        [],
        ["hl7-v2", "fhir-r4"],
    ),
    (
        "remote-monitoring",
        ["Home Care", "Heart Failure", "COPD", "Diabetes", "Blood Pressure", "Virtual Ward"],
        ["internal-medicine", "cardiology"],
        ["ecg"],
        ["fhir-r4", "smart-on-fhir", "hl7-v2"],
    ),
    (
        "dose-management",
        ["Dose", "CT Dose", "Radiation", "Contrast", "Dosimetry"],
        ["radiology"],
        ["ct", "xr", "mg", "pet"],
        ["dicom", "ihe-xds-i", "hl7-v2"],
    ),
    (
        "clinical-decision-support",
        ["Sepsis", "Antibiotic", "Triage", "Early Warning", "Order Set"],
        ["internal-medicine", "emergency-medicine"],
        ["lab-analyzer"],
        ["fhir-r4", "smart-on-fhir"],
    ),
]
BRANDS = (  # noqa: SIM905
    "Nova Apex Clario Medi Vita Lumen Aurora Helix Quanta Orion Sigma Vector Zenith Kairo Pulse Cedar Atlas Beacon "
    "Cortex Delta Ember Fjord Granite Harbor Iris Juniper Kestrel Lattice Meridian Nimbus Onyx Prism Quartz Radian "
    "Solace Tessera Umbra Vantage Willow Xenon Yarrow Zephyr"
).split()
VENDOR_SUFFIXES = ("Health", "Medical", "AI", "Imaging", "Diagnostics", "Labs", "Systems", "Digital")
PRODUCTS = (  # noqa: SIM905
    "Triage Assist Detect Monitor Insight Analytics Navigator Companion Workbench Viewer Tracker Planner Score "
    "Reader Sentinel Hub Pilot Guard"
).split()
SENTENCES = [
    "{name} helps {audience} with {area} work, every day and at every site.",
    "It reads data from the systems you already run and returns results within seconds.",
    "Validated at {sites} hospitals on {cases} cases; the evaluation report is available on request.",
    "Works with {standards}.",
    "Results arrive where clinicians already work: the worklist, the viewer and the EHR.",
    "Thresholds are configurable per site, and every change is audited.",
    "Our team supports the installation and trains your staff.",
    "Dashboards show volumes, turnaround and findings per department.",
]
AUDIENCES = ("radiologists", "cardiologists", "pathologists", "lab teams", "care teams", "hospital managers")
DEPLOYMENTS = [["cloud"], ["cloud"], ["on_premise"], ["hybrid"], ["cloud", "on_premise"]]
PRICINGS = [
    ["subscription"],
    ["subscription"],
    ["free"],
    ["usage"],
    ["quote_only"],
    ["free", "subscription"],
    ["subscription", "quote_only"],
    ["usage", "subscription"],
]
REGULATORY = [[], [], ["fda"], ["eu_mdr"], ["fda", "eu_mdr"], ["eu_mdr"]]


def generate(count: int, *, seed: int = 42) -> None:
    from django.db import transaction
    from django.utils import timezone
    from django.utils.text import slugify

    from apps.catalog.demo import _vocabularies
    from apps.catalog.models import (
        Category,
        Listing,
        ListingFacet,
        Modality,
        Offering,
        Plan,
        RegulatoryClearance,
        Specialty,
        Standard,
    )
    from apps.organizations.models import Organization

    rng = random.Random(seed)  # deterministic data
    _vocabularies()
    terms = {
        "category": {t.slug: t for t in Category.objects.all()},
        "specialty": {t.slug: t for t in Specialty.objects.all()},
        "modality": {t.slug: t for t in Modality.objects.all()},
        "standard": {t.slug: t for t in Standard.objects.all()},
    }
    now = timezone.now()
    vendor_names = [f"{brand} {suffix}" for brand in BRANDS for suffix in VENDOR_SUFFIXES]
    rng.shuffle(vendor_names)
    vendor_count = max(20, min(300, count // 30))
    vendors = Organization.objects.bulk_create(
        Organization(name=name, slug=slugify(name), kind=Organization.Kind.VENDOR, country="DE", verified_at=now)
        for name in vendor_names[:vendor_count]
    )
    mode_labels = dict(Offering.Mode.choices)
    price_labels = dict(Plan.PricingModel.choices)
    authority_labels = dict(RegulatoryClearance.Authority.choices)
    category_through = Listing.categories.through
    batch = 5000
    started = time.perf_counter()
    for start in range(0, count, batch):
        listings: list[Any] = []
        details: list[tuple[dict[str, list[str]], list[str], list[str], list[str], Any]] = []
        for index in range(start, min(count, start + batch)):
            category, areas, specialties, modalities, standards = rng.choice(THEMES)
            categories = [category]
            if rng.random() < 0.3:
                categories.append(rng.choice(THEMES)[0])
            categories = list(dict.fromkeys(categories))
            chosen = {
                "category": categories,
                "specialty": rng.sample(specialties, k=min(len(specialties), rng.randint(1, 2))),
                "modality": rng.sample(modalities, k=min(len(modalities), rng.randint(1, 2))),
                "standard": rng.sample(standards, k=min(len(standards), rng.randint(1, 3))),
            }
            vendor = vendors[int(len(vendors) * rng.random() ** 2)]  # a few large vendors, a long tail
            area, product = rng.choice(areas), rng.choice(PRODUCTS)
            name = f"{rng.choice(BRANDS)} {area} {product}"
            standards_text = ", ".join(terms["standard"][s].name for s in chosen["standard"])
            sentences = rng.sample(SENTENCES, k=rng.randint(3, 5))
            description = " ".join(
                s.format(
                    name=name,
                    audience=rng.choice(AUDIENCES),
                    area=area,
                    sites=rng.randint(3, 40),
                    cases=f"{rng.randint(2, 90) * 1000:,}",
                    standards=standards_text,
                )
                for s in sentences
            )
            modes = rng.choice(DEPLOYMENTS)
            pricing = rng.choice(PRICINGS)
            authorities = rng.choice(REGULATORY)
            term_names = [
                terms[f][slug].name for f in ("category", "specialty", "modality", "standard") for slug in chosen[f]
            ]
            listings.append(
                Listing(
                    vendor=vendor,
                    slug=f"{slugify(name)}-{index}",
                    name=name,
                    tagline=f"{product} for {area.lower()}: {rng.choice(AUDIENCES)} save time on every case.",
                    description=description,
                    intended_use=f"{name} is intended to support {rng.choice(AUDIENCES)}.",
                    processes_patient_data=rng.random() < 0.7,
                    status=Listing.Status.PUBLISHED,
                    submitted_at=now,
                    published_at=now - datetime.timedelta(seconds=rng.randint(0, 2 * 365 * 86400)),
                    search_vendor=vendor.name,
                    search_terms=" ".join(term_names),
                    deployment_modes=",".join(sorted(modes)),
                    pricing_models=",".join(sorted(pricing)),
                )
            )
            details.append((chosen, sorted(modes), sorted(pricing), sorted(authorities), vendor))
        with transaction.atomic():
            Listing.objects.bulk_create(listings, batch_size=1000)
            facets: list[Any] = []
            through: list[Any] = []
            clearances: list[Any] = []
            for listing, (chosen, modes, pricing, authorities, vendor) in zip(listings, details, strict=True):
                for facet, slugs in chosen.items():
                    facets += [
                        ListingFacet(listing_id=listing.pk, facet=facet, value=s, label=terms[facet][s].name)
                        for s in slugs
                    ]
                through += [
                    category_through(listing_id=listing.pk, category_id=terms["category"][s].pk)
                    for s in chosen["category"]
                ]
                for authority in authorities:
                    facets.append(
                        ListingFacet(
                            listing_id=listing.pk,
                            facet="regulatory",
                            value=authority,
                            label=authority_labels[authority],
                        )
                    )
                    clearances.append(
                        RegulatoryClearance(
                            listing_id=listing.pk,
                            authority=authority,
                            device_class="II" if authority == "fda" else "IIa",
                            identifier=f"K{200000 + listing.pk}" if authority == "fda" else "",
                        )
                    )
                facets += [
                    ListingFacet(listing_id=listing.pk, facet="deployment_mode", value=m, label=mode_labels[m])
                    for m in modes
                ]
                facets += [
                    ListingFacet(listing_id=listing.pk, facet="pricing_model", value=p, label=price_labels[p])
                    for p in pricing
                ]
                facets.append(ListingFacet(listing_id=listing.pk, facet="vendor", value=vendor.slug, label=vendor.name))
            ListingFacet.objects.bulk_create(facets, batch_size=5000)
            category_through.objects.bulk_create(through, batch_size=5000)
            RegulatoryClearance.objects.bulk_create(clearances, batch_size=5000)
        done = min(count, start + batch)
        print(f"  {done:>7} listings  {time.perf_counter() - started:6.1f}s", flush=True)


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- the baseline: the same SQL on a plain connection, orjson ------------------------------------


# Mirrors apps/catalog/search.py: full text when it finds anything, otherwise each word must be
# close (strict word similarity) to a word of the name, vendor or terms, unless the query uses
# web-search syntax. `compare` notices when they drift.
_SEARCH_SYNTAX = re.compile(r'"|(?:^|\s)-\S|(?:^|\s)or(?:\s|$)', re.IGNORECASE)


def _words(search: Search) -> list[str]:
    return [] if _SEARCH_SYNTAX.search(search.q) else [w.lower() for w in search.q.split()[:10]]


def _text_mode(cursor: Any, search: Search) -> str:
    if not search.q:
        return ""
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM catalog_listing l WHERE l.status = %s"
        " AND l.search_vector @@ websearch_to_tsquery('english', %s))",
        ["published", search.q],
    )
    return "fts" if cursor.fetchone()[0] or not _words(search) else "fuzzy"


def _where(search: Search, mode: str, *, skip: str | None = None) -> tuple[str, list[Any]]:
    clauses, params = ["l.status = %s"], ["published"]
    if search.q and mode == "fuzzy":
        words = _words(search)
        clauses.append("(" + " AND ".join(["%s <<%% l.search_text"] * len(words)) + ")")
        params += words
    elif search.q:
        clauses.append("l.search_vector @@ websearch_to_tsquery('english', %s)")
        params.append(search.q)
    for facet, values in search.filters.items():
        if facet != skip and values:
            marks = ", ".join(["%s"] * len(values))
            clauses.append(
                f"l.id IN (SELECT listing_id FROM catalog_listingfacet WHERE facet = %s AND value IN ({marks}))"
            )
            params += [facet, *values]
    return " AND ".join(clauses), params


def _order(search: Search, mode: str) -> tuple[str, list[Any]]:
    ordering = search.ordering or ("relevance" if search.q else "name")
    if ordering == "relevance" and search.q and mode == "fuzzy":
        return "strict_word_similarity(%s, l.search_text) DESC, l.name ASC, l.id ASC", [search.q.lower()]
    if ordering == "relevance" and search.q:
        return (
            "ts_rank_cd(l.search_vector, websearch_to_tsquery('english', %s)) DESC, l.name ASC, l.id ASC",
            [search.q],
        )
    if ordering == "newest":
        return "l.published_at DESC NULLS LAST, l.created_at DESC, l.id ASC", []
    return "l.name ASC, l.id ASC", []


def _page_url(search: Search, page: int) -> str:
    params = {**search.params(), "page": page}
    if page == 1:
        params.pop("page")
    return "http://testserver/api/v1/apps/?" + urlencode(params, doseq=True)


def baseline(cursor: Any, search: Search) -> bytes:
    import orjson

    mode = _text_mode(cursor, search)
    where, params = _where(search, mode)
    cursor.execute(f"SELECT count(*) FROM catalog_listing l WHERE {where}", params)
    count = cursor.fetchone()[0]
    order, order_params = _order(search, mode)
    cursor.execute(
        "SELECT l.id, l.slug, l.name, l.tagline, l.status, o.slug, o.name, o.verified_at IS NOT NULL,"
        " l.deployment_modes, l.pricing_models, l.processes_patient_data, l.logo, l.published_at"
        " FROM catalog_listing l JOIN organizations_organization o ON o.id = l.vendor_id"
        f" WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
        [*params, *order_params, PAGE_SIZE, (search.page - 1) * PAGE_SIZE],
    )
    rows = cursor.fetchall()
    ids = [row[0] for row in rows]
    categories: dict[int, list[dict[str, str]]] = {i: [] for i in ids}
    authorities: dict[int, set[str]] = {i: set() for i in ids}
    if ids:
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(
            "SELECT lc.listing_id, c.slug, c.name FROM catalog_category c"
            f" JOIN catalog_listing_categories lc ON lc.category_id = c.id WHERE lc.listing_id IN ({marks})"
            " ORDER BY c.name",
            ids,
        )
        for listing_id, slug, name in cursor.fetchall():
            categories[listing_id].append({"slug": slug, "name": name})
        cursor.execute(
            f"SELECT listing_id, authority FROM catalog_regulatoryclearance WHERE listing_id IN ({marks})", ids
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
            "published_at": r[12],
        }
        for r in rows
    ]
    facets: dict[str, list[dict[str, Any]]] = {}
    for facet in FACETS:
        where, params = _where(search, mode, skip=facet)
        cursor.execute(
            "SELECT value, max(label) AS label, count(listing_id) AS n FROM catalog_listingfacet"
            f" WHERE facet = %s AND listing_id IN (SELECT l.id FROM catalog_listing l WHERE {where})"
            " GROUP BY value ORDER BY n DESC, label ASC",
            [facet, *params],
        )
        facets[facet] = [{"value": v, "label": lbl, "count": n} for v, lbl, n in cursor.fetchall()]
        shown = {item["value"] for item in facets[facet]}
        facets[facet] += [{"value": v, "label": v, "count": 0} for v in search.filters.get(facet, []) if v not in shown]
    last = max(1, -(-count // PAGE_SIZE))
    return orjson.dumps(
        {
            "count": count,
            "next": _page_url(search, search.page + 1) if search.page < last else None,
            "previous": _page_url(search, search.page - 1) if search.page > 1 else None,
            "results": results,
            "facets": facets,
        }
    )


# --- measuring ----------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 2 else samples[0]


def compare(search: Search, endpoint: dict[str, Any], base: dict[str, Any]) -> list[str]:
    problems = []
    if endpoint["count"] != base["count"]:
        problems.append(f"count {endpoint['count']} != {base['count']}")
    if [r["slug"] for r in endpoint["results"]] != [r["slug"] for r in base["results"]]:
        problems.append("the page differs")
    for facet in FACETS:
        ours = {(f["value"], f["count"]) for f in endpoint["facets"].get(facet, [])}
        theirs = {(f["value"], f["count"]) for f in base["facets"][facet]}
        if ours != theirs:
            problems.append(f"facet {facet} differs")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--full", action="store_true", help="100,000 listings")
    parser.add_argument("--requests", type=int, default=20, help="measured requests per search and side")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests per search and side first")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--show-sql", action="store_true", help="print the SQL the endpoint runs for each search")
    args = parser.parse_args()
    listings = 100_000 if args.full else args.listings

    url = database_url()
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=url,
        MARKETPLACE_VAR_DIR=str(BENCH_DIR),
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only",
        MARKETPLACE_THROTTLE_ADDRESS_RATE="1000000/min",
        MARKETPLACE_THROTTLE_PRINCIPAL_RATE="1000000/min",
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    recreate_database(url)
    try:
        run(url, listings, args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(url, drop_only=True)


def run(url: str, listings: int, args: argparse.Namespace) -> None:
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: static files are not collected
    django.setup()
    import orjson
    import psycopg
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    print(f"generating {listings:,} published listings")
    started = time.perf_counter()
    generate(listings)
    analyze()
    print(f"generated and analyzed in {time.perf_counter() - started:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(" on ")[0]

    client = Client()
    plain = psycopg.connect(url, autocommit=True, prepare_threshold=None, cursor_factory=psycopg.ClientCursor)
    cursor = plain.cursor()

    def endpoint_call(search: Search) -> Callable[[], Any]:
        params = search.params()

        def call() -> Any:
            response = client.get("/api/v1/apps/", params)
            assert response.status_code == 200, (response.status_code, response.content[:500])
            return response

        return call

    rows = []
    for search in SEARCHES:
        call_endpoint = endpoint_call(search)
        if args.show_sql:
            with CaptureQueriesContext(connection) as captured:
                call_endpoint()
            print(f"\n--- {search.label}: {len(captured.captured_queries)} queries")
            for query in captured.captured_queries:
                print(f"[{float(query['time']) * 1000:7.1f} ms] {query['sql']}")
        problems = compare(search, call_endpoint().json(), orjson.loads(baseline(cursor, search)))
        for _ in range(args.warmup):  # warm both
            call_endpoint()
            baseline(cursor, search)
        full: list[float] = []
        base: list[float] = []
        for _ in range(args.requests):  # alternate, so drift and noise hit both sides alike
            t0 = time.perf_counter()
            call_endpoint()
            t1 = time.perf_counter()
            baseline(cursor, search)
            t2 = time.perf_counter()
            full.append(t1 - t0)
            base.append(t2 - t1)
        count = orjson.loads(baseline(cursor, search))["count"]
        rows.append((search, count, full, base, problems))

    plain.close()
    print(
        f"\ncatalog search, {listings:,} listings, {args.requests} requests per search and side (after {args.warmup})"
    )
    print(f"{server}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    header = f"{'search':<38} {'hits':>7}  {'endpoint p50/p95 ms':>19}  {'baseline p50/p95 ms':>19}  ratio p50/p95"
    print(header)
    print("-" * len(header))
    for search, count, full, base, problems in rows:
        e50, e95 = statistics.median(full) * 1000, p95(full) * 1000
        b50, b95 = statistics.median(base) * 1000, p95(base) * 1000
        print(
            f"{search.label:<38} {count:>7}  {e50:8.1f} / {e95:8.1f}  {b50:8.1f} / {b95:8.1f}  "
            f"{e50 / b50:5.2f}x / {e95 / b95:5.2f}x"
        )
        for problem in problems:
            print(f"    !! endpoint and baseline disagree: {problem}")


if __name__ == "__main__":
    main()
