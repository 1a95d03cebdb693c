"""Catalog load test: GET /api/v1/apps/ under gunicorn at 16 clients, against a raw-SQL baseline.

Usage: .venv/bin/python bench/catalog.py [--listings 10000 | --full] [--seconds 30] [--full-seconds 60]
                                         [--rounds 2] [--clients 16] [--workers 3] [--explain] [--keep]

1. Creates its own PostgreSQL database (`bench_catalog` on 127.0.0.1:5432 as postgres, or the one
   BENCH_DATABASE_URL names; its name must contain "bench": it is dropped first and at the end),
   migrates it and generates N published listings (deterministic text, facets, offerings, plans,
   versions), then VACUUM ANALYZE. Its cache is Redis database 12 (BENCH_CACHE_URL), emptied before
   each size is measured.
2. Serves the project with gunicorn as docs/deployment.md describes (production settings,
   `-c config/gunicorn.conf.py --workers 3`), through bench/catalog_baseline.py, which also answers
   `/bench-baseline/apps/` with the same work in raw SQL and orjson (never mounted in production).
   Calls authenticate as an API client whose id is listed in MARKETPLACE_THROTTLE_EXEMPT_CLIENTS
   (the documented benchmark exemption: throttling stays on for everyone else).
3. Checks that endpoint and baseline give the same count, page and facet counts.
4. Runs locust headless (bench/catalog_locustfile.py) with 16 clients and no think time, over a
   fixed plan of full-text searches, facet filters, browsing and listing details: endpoint and
   baseline alternately, `--rounds` times `--seconds` each (`--full-seconds` at 100,000); then a
   conditional run in which every client repeats its requests with the ETag it got (If-None-Match).
5. Prints requests per second, p50 and p95 of both, the ratio ours/baseline, the 304 share; with
   `--full` it then grows the catalog to 100,000 listings, prints EXPLAIN (ANALYZE, BUFFERS) of
   the search queries, measures again and prints p95 at 100,000 over p95 at 10,000.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DIR = ROOT / "var" / "bench-catalog"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_catalog"
DEFAULT_CACHE = "redis://127.0.0.1:6379/12"
VENV_BIN = Path(sys.executable).parent
ENDPOINT = "/api/v1/apps/"
BASELINE = "/bench-baseline/apps/"
FACETS = ("category", "specialty", "modality", "deployment_mode", "standard", "regulatory", "vendor", "pricing_model")
KINDS = ("search", "facets", "browse", "detail")
GIN_INDEX = "catalog_listing_search_vector"


# --- the database -------------------------------------------------------------------------------


def database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
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


REGIONS = ["eu-central", "eu-west", "us-east", "us-west", "uk-south"]
OSES = ["Ubuntu 22.04", "Ubuntu 24.04", "RHEL 9", "Windows Server 2022"]
GPUS = ["", "", "NVIDIA T4", "NVIDIA L4", "NVIDIA A10"]


class Generator:
    """Deterministic (seeded) listings, written with bulk_create in batches; `grow(n)` adds
    listings until there are n, so one run can measure 10,000 and then 100,000."""

    def __init__(self, *, seed: int = 42) -> None:
        from django.utils import timezone
        from django.utils.text import slugify

        from apps.catalog.demo import _vocabularies
        from apps.catalog.models import Category, Modality, Specialty, Standard
        from apps.organizations.models import Organization

        self.rng = random.Random(seed)  # deterministic data
        self.now = timezone.now()
        self.count = 0
        _vocabularies()
        self.terms = {
            "category": {t.slug: t for t in Category.objects.all()},
            "specialty": {t.slug: t for t in Specialty.objects.all()},
            "modality": {t.slug: t for t in Modality.objects.all()},
            "standard": {t.slug: t for t in Standard.objects.all()},
        }
        vendor_names = [f"{brand} {suffix}" for brand in BRANDS for suffix in VENDOR_SUFFIXES]
        self.rng.shuffle(vendor_names)
        self.vendors = Organization.objects.bulk_create(
            Organization(
                name=name, slug=slugify(name), kind=Organization.Kind.VENDOR, country="DE", verified_at=self.now
            )
            for name in vendor_names[:300]
        )

    def grow(self, total: int, *, batch: int = 5000) -> None:
        started = time.perf_counter()
        while self.count < total:
            size = min(batch, total - self.count)
            self._batch(self.count, size)
            self.count += size
            print(f"  {self.count:>7,} listings  {time.perf_counter() - started:6.1f}s", flush=True)

    def _batch(self, first: int, size: int) -> None:
        from django.db import transaction
        from django.utils.text import slugify

        from apps.catalog.models import Listing, ListingFacet, Offering, Plan, RegulatoryClearance, Version

        rng, terms, now = self.rng, self.terms, self.now
        mode_labels = dict(Offering.Mode.choices)
        price_labels = dict(Plan.PricingModel.choices)
        authority_labels = dict(RegulatoryClearance.Authority.choices)
        listings: list[Any] = []
        details: list[tuple[dict[str, list[str]], list[str], list[str], list[str], Any]] = []
        for index in range(first, first + size):
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
            vendor = self.vendors[int(len(self.vendors) * rng.random() ** 2)]  # a few large vendors, a long tail
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
                    data_residency=rng.choice([["EU"], ["EU"], ["US"], ["EU", "US"]]),
                    security_certifications=rng.choice([[], ["ISO 27001"], ["ISO 27001", "SOC 2"]]),
                    support_email=f"support@{vendor.slug}.example",
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
            through: dict[str, list[Any]] = {"category": [], "specialty": [], "modality": [], "standard": []}
            relation = {
                "category": "categories",
                "specialty": "specialties",
                "modality": "modalities",
                "standard": "standards",
            }
            clearances: list[Any] = []
            offerings: list[Any] = []
            offering_pricing: list[list[str]] = []
            versions: list[Any] = []
            for listing, (chosen, modes, pricing, authorities, vendor) in zip(listings, details, strict=True):
                for facet, slugs in chosen.items():
                    facets += [
                        ListingFacet(listing_id=listing.pk, facet=facet, value=s, label=terms[facet][s].name)
                        for s in slugs
                    ]
                    model = getattr(Listing, relation[facet]).through
                    through[facet] += [
                        model(**{"listing_id": listing.pk, f"{facet}_id": terms[facet][s].pk}) for s in slugs
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
                for mode in modes:
                    on_site = mode != Offering.Mode.CLOUD
                    offerings.append(
                        Offering(
                            listing_id=listing.pk,
                            mode=mode,
                            name=f"{listing.name} ({mode_labels[mode]})",
                            regions=[]
                            if mode == Offering.Mode.ON_PREMISE
                            else rng.sample(REGIONS, k=rng.randint(1, 3)),
                            requirement_os=rng.choice(OSES) if on_site else "",
                            requirement_cpu_cores=rng.choice([4, 8, 16]) if on_site else None,
                            requirement_memory_gb=rng.choice([8, 16, 32, 64]) if on_site else None,
                            requirement_gpu=rng.choice(GPUS) if on_site else "",
                            requirement_disk_gb=rng.choice([100, 250, 500]) if on_site else None,
                        )
                    )
                    offering_pricing.append(pricing)
                versions.append(
                    Version(
                        listing_id=listing.pk,
                        version=f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
                        release_notes="Faster analysis; new integrations; fixes.",
                        released_on=(now - datetime.timedelta(days=rng.randint(0, 400))).date(),
                    )
                )
            ListingFacet.objects.bulk_create(facets, batch_size=5000)
            for facet, rows in through.items():
                getattr(Listing, relation[facet]).through.objects.bulk_create(rows, batch_size=5000)
            RegulatoryClearance.objects.bulk_create(clearances, batch_size=5000)
            Offering.objects.bulk_create(offerings, batch_size=2000)
            Version.objects.bulk_create(versions, batch_size=5000)
            plans = []
            for offering, pricing in zip(offerings, offering_pricing, strict=True):
                for model in pricing:
                    paid = model in ("subscription", "usage")
                    plans.append(
                        Plan(
                            offering_id=offering.pk,
                            name=f"{price_labels[model]} plan",
                            pricing_model=model,
                            price=rng.choice([99, 490, 1200, 4900]) if paid else None,
                            currency="EUR" if paid else "",
                            billing_period=rng.choice(["month", "year"]) if model == "subscription" else "",
                            usage_unit="study" if model == "usage" else "",
                            trial_days=rng.choice([0, 14, 30]) if model != "quote_only" else 0,
                        )
                    )
            Plan.objects.bulk_create(plans, batch_size=5000)


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- the request plan ---------------------------------------------------------------------------

TEXT_QUERIES = [
    "radiology",
    "stroke",
    "ct triage",
    "ecg",
    "chest x-ray",
    "pathology",
    "sepsis",
    "heart failure",
    "dose",
    "worklist",
    "lung",
    "fracture",
    "fhir",
    "dicom",
    "biopsy",
    "copd",
    "brain mr",
    "tumor",
    "capacity",
    "holter",
    "radiolgy",
    "pathlogy",  # typos: the typo-tolerant fallback
]
PLAN_SIZE = 400
MIX = {"search": 0.35, "facets": 0.25, "browse": 0.25, "detail": 0.15}


def build_plan(*, seed: int = 7) -> list[list[str]]:
    """A fixed, seeded list of requests: [kind, path relative to the API prefix]. Listing details
    name listings among the first 10,000, so the plan is the same at every catalog size."""
    from apps.catalog.models import Listing, ListingFacet

    rng = random.Random(seed)
    values: dict[str, list[str]] = {}
    for facet in FACETS:
        rows = ListingFacet.objects.filter(facet=facet).values_list("value", flat=True).distinct().order_by("value")
        values[facet] = list(rows)[:40]
    slugs = list(Listing.objects.order_by("id").values_list("slug", flat=True)[:10_000])
    details = rng.sample(slugs, k=min(len(slugs), 200))

    def query(params: dict[str, Any]) -> str:
        return "?" + urlencode(params, doseq=True) if params else ""

    def facet_filters(count: int) -> dict[str, list[str]]:
        chosen = rng.sample(
            [
                "category",
                "deployment_mode",
                "pricing_model",
                "regulatory",
                "modality",
                "specialty",
                "standard",
                "vendor",
            ],
            k=count,
        )
        return {
            facet: rng.sample(values[facet], k=1 if facet != "category" or rng.random() < 0.7 else 2)
            for facet in chosen
        }

    plan: list[list[str]] = []
    for kind, share in MIX.items():
        for _ in range(round(PLAN_SIZE * share)):
            params: dict[str, Any] = {}
            if kind == "search":
                params["q"] = rng.choice(TEXT_QUERIES)
                if rng.random() < 0.2:
                    params["ordering"] = rng.choice(["newest", "name"])
                if rng.random() < 0.15:
                    params["page"] = 2
                plan.append([kind, query(params)])
            elif kind == "facets":
                params.update(facet_filters(rng.choice([1, 1, 2])))
                if rng.random() < 0.3:
                    params["q"] = rng.choice(TEXT_QUERIES[:12])
                plan.append([kind, query(params)])
            elif kind == "browse":
                params["ordering"] = rng.choice(["name", "newest", "newest"])
                if rng.random() < 0.3:
                    params["category"] = rng.choice(values["category"])
                    page = rng.randint(1, 5)
                else:
                    page = rng.randint(1, 20)
                if page > 1:
                    params["page"] = page
                plan.append([kind, query(params)])
            else:
                plan.append([kind, rng.choice(details) + "/"])
    rng.shuffle(plan)
    return [[kind, _existing_page(path)] if "page=" in path else [kind, path] for kind, path in plan]


def _existing_page(path: str) -> str:
    """The path with its page lowered to the last page there is (a small catalog has fewer)."""
    from urllib.parse import parse_qs

    from apps.catalog.models import Listing
    from apps.catalog.search import SearchParams, catalog_search

    args = parse_qs(path.lstrip("?"))
    params = SearchParams(
        query=args.get("q", [""])[0],
        filters={f: args[f] for f in FACETS if f in args},
        ordering=args.get("ordering", [""])[0],
    )
    count = catalog_search(base=Listing.objects.filter(status=Listing.Status.PUBLISHED), params=params).count()
    last = max(1, -(-count // 25))
    page = min(int(args["page"][0]), last)
    if page > 1:
        args["page"] = [str(page)]
    else:
        del args["page"]
    return "?" + urlencode(args, doseq=True) if args else ""


# --- the server, the client, locust ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(
    url: str,
    *,
    token: str = "",
    data: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 300,
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if auth:
        headers["Authorization"] = "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Server:
    """gunicorn as docs/deployment.md runs it (config/gunicorn.conf.py, --workers 3), serving
    bench/catalog_baseline.py:application (the project plus the baseline)."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = BENCH_DIR / "gunicorn.log"
        command = [
            str(VENV_BIN / "gunicorn"),
            "-c",
            "config/gunicorn.conf.py",
            "bench.catalog_baseline:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited ({self.process.returncode}); see {self.log}")
            try:
                if http(self.url + "/healthz", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        sys.exit(f"gunicorn did not answer /healthz within 120 s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


def run_locust(
    server: Server,
    *,
    prefix: str,
    mode: str,
    seconds: int,
    clients: int,
    token: str,
    plan_file: Path,
    label: str,
    working_set: int = 8,
) -> dict[str, Any]:
    out = BENCH_DIR / f"records-{label}.json"
    env = {
        **os.environ,
        "BENCH_PLAN": str(plan_file),
        "BENCH_PREFIX": prefix,
        "BENCH_TOKEN": token,
        "BENCH_MODE": mode,
        "BENCH_CLIENTS": str(clients),
        "BENCH_WORKING_SET": str(working_set),
        "BENCH_OUT": str(out),
    }
    command = [
        str(VENV_BIN / "locust"),
        "-f",
        str(ROOT / "bench" / "catalog_locustfile.py"),
        "--headless",
        "-u",
        str(clients),
        "-r",
        str(clients),
        "-t",
        f"{seconds}s",
        "-H",
        server.url,
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "600",
    ]
    load_before = os.getloadavg()[0]
    with (BENCH_DIR / "locust.log").open("ab") as log:
        log.write(f"\n=== {label}\n".encode())
        log.flush()
        subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    records = json.loads(out.read_text()) if out.exists() else []
    return {"records": records, "load": (load_before, os.getloadavg()[0])}


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) >= 2 else samples[0]


def summarize(phases: list[dict[str, Any]], *, statuses: tuple[int, ...] = (200,)) -> dict[str, Any]:
    records = [r for phase in phases for r in phase["records"]]
    wall = 0.0
    for phase in phases:
        if phase["records"]:
            start = min(r[3] for r in phase["records"])
            end = max(r[3] + r[4] / 1000 for r in phase["records"])
            wall += end - start
    ok = [r for r in records if r[2] and r[1] in statuses]
    times = [r[4] for r in ok]
    result: dict[str, Any] = {
        "requests": len(records),
        "errors": len(records) - len(ok),
        "rps": len(ok) / wall if wall else 0.0,
        "p50": statistics.median(times) if times else float("nan"),
        "p95": p95(times) if times else float("nan"),
        "kinds": {},
        "load": [phase["load"] for phase in phases],
        "error_samples": sorted({f"{r[0]}: {r[1]}" for r in records if not (r[2] and r[1] in statuses)})[:5],
    }
    for kind in KINDS:
        kind_times = [r[4] for r in ok if r[0] == kind]
        if kind_times:
            result["kinds"][kind] = (len(kind_times), statistics.median(kind_times), p95(kind_times))
    return result


# --- checking both sides agree ------------------------------------------------------------------


def compare(server: Server, token: str, plan: list[list[str]], limit: int) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    checked = 0
    for kind, path in plan:
        if path in seen or checked >= limit:
            continue
        seen.add(path)
        checked += 1
        s1, _, b1 = http(server.url + ENDPOINT + path, token=token)
        s2, _, b2 = http(server.url + BASELINE + path, token=token)
        if s1 != 200 or s2 != 200:
            problems.append(f"{kind} {path}: endpoint {s1}, baseline {s2}: {b1[:200]!r}")
            continue
        ours, theirs = json.loads(b1), json.loads(b2)
        if kind == "detail":
            for key in ("slug", "name", "description_html"):
                if ours[key] != theirs[key]:
                    problems.append(f"{path}: {key} differs")
            if set(ours) != set(theirs):
                problems.append(f"{path}: fields differ: {sorted(set(ours) ^ set(theirs))}")
            if [[p["id"] for p in o["plans"]] for o in ours["offerings"]] != [
                [p["id"] for p in o["plans"]] for o in theirs["offerings"]
            ]:
                problems.append(f"{path}: offerings or plans differ")
            continue
        if ours["count"] != theirs["count"]:
            problems.append(f"{path}: count {ours['count']} != {theirs['count']}")
        if [r["slug"] for r in ours["results"]] != [r["slug"] for r in theirs["results"]]:
            problems.append(f"{path}: the page differs")
        if set(ours["results"][0]) != set(theirs["results"][0]) if ours["results"] and theirs["results"] else False:
            problems.append(f"{path}: result fields differ")
        for facet in FACETS:
            mine = {(f["value"], f["count"]) for f in ours["facets"].get(facet, [])}
            other = {(f["value"], f["count"]) for f in theirs["facets"][facet]}
            if mine != other:
                problems.append(f"{path}: facet {facet} differs")
    return problems


# --- query plans ---------------------------------------------------------------------------------


def explain(query: str, client: Any) -> list[tuple[str, bool]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the queries the endpoint runs for `q=query`, as the bench's
    API client sees the catalog (apps/catalog/api/views.py, ListingViewSet.list): the text-mode
    decision, the count, the page, its categories and clearances, and the facets."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.catalog import selectors
    from apps.catalog.api.serializers import SUMMARY_VALUES, listing_summaries
    from apps.catalog.models import Listing
    from apps.catalog.search import SearchParams, catalog_facets, catalog_search
    from marketplace.principal import Principal, PrincipalKind, Role

    principal = Principal(
        kind=PrincipalKind.API_CLIENT,
        label=client.name,
        organization=client.organization,
        role=Role(client.role),
        api_client=client,
    )
    base = selectors.listings_visible_to(principal=principal).filter(status__in=[Listing.Status.PUBLISHED])
    params = SearchParams(query=query)
    with CaptureQueriesContext(connection) as captured:
        results = catalog_search(base=base, params=params).values(*SUMMARY_VALUES)
        results.count()
        listing_summaries(list(results[:25]))
        catalog_facets(base=base, params=params)
    plans = []
    with connection.cursor() as cursor:
        for item in captured.captured_queries:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + item["sql"])
            plans.append((item["sql"], "\n".join(row[0] for row in cursor.fetchall())))
    return [(f"{sql}\n{plan}", GIN_INDEX in plan) for sql, plan in plans]


# --- the run --------------------------------------------------------------------------------------


def flush_cache(url: str) -> None:
    """Empty the bench's own Redis database, so every measurement starts with a cold cache."""
    import redis

    redis.Redis.from_url(url).flushdb()


def machine() -> dict[str, str]:
    free = subprocess.run(["free", "-g"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpus": str(os.cpu_count()),
        "memory": free.splitlines()[1].split()[1] + " GiB" if free else "?",
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def measure(
    size: int, server: Server, token: str, plan_file: Path, plan: list[list[str]], args: argparse.Namespace
) -> dict[str, Any]:
    seconds = args.seconds if size < 100_000 else args.full_seconds
    check = args.check if size < 100_000 else min(args.check, 12)  # each takes seconds there
    problems = compare(server, token, plan, check)
    print(
        f"checked {min(check, len({p for _, p in plan}))} requests: endpoint and baseline "
        + ("agree" if not problems else f"DISAGREE ({len(problems)})"),
        flush=True,
    )
    for problem in problems[:10]:
        print(f"    !! {problem}")
    common = {"clients": args.clients, "token": token, "plan_file": plan_file}
    if args.warmup:
        run_locust(server, prefix=ENDPOINT, mode="plain", seconds=args.warmup, label=f"{size}-warm-e", **common)
        run_locust(server, prefix=BASELINE, mode="plain", seconds=args.warmup, label=f"{size}-warm-b", **common)
    phases: dict[str, list[dict[str, Any]]] = {"endpoint": [], "baseline": []}
    for round_number in range(args.rounds):
        order = ("endpoint", "baseline") if round_number % 2 == 0 else ("baseline", "endpoint")
        for side in order:
            prefix = ENDPOINT if side == "endpoint" else BASELINE
            print(f"  round {round_number + 1}/{args.rounds}: {side} for {seconds} s", flush=True)
            phases[side].append(
                run_locust(
                    server,
                    prefix=prefix,
                    mode="plain",
                    seconds=seconds,
                    label=f"{size}-{side}-{round_number}",
                    **common,
                )
            )
    print(f"  conditional: endpoint with If-None-Match for {seconds} s", flush=True)
    conditional = run_locust(
        server,
        prefix=ENDPOINT,
        mode="conditional",
        seconds=seconds,
        label=f"{size}-conditional",
        working_set=args.working_set,
        **common,
    )
    return {
        "size": size,
        "seconds": seconds,
        "problems": problems,
        "endpoint": summarize(phases["endpoint"]),
        "baseline": summarize(phases["baseline"]),
        "conditional": summarize([conditional], statuses=(200, 304)),
        "conditional_304": summarize([conditional], statuses=(304,)),
        "conditional_200": summarize([conditional], statuses=(200,)),
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    e, b = result["endpoint"], result["baseline"]
    print(
        f"\ncatalog under load: {result['size']:,} listings, {args.clients} clients, gunicorn --workers "
        f"{args.workers}, {args.rounds} x {result['seconds']} s per side"
    )
    header = f"{'side':<10} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8}   load (1-min avg)"
    print(header)
    print("-" * len(header))
    for name, side in (("endpoint", e), ("baseline", b)):
        loads = ", ".join(f"{x:.1f}-{y:.1f}" for x, y in side["load"])
        print(
            f"{name:<10} {side['requests']:>8} {side['errors']:>6} {side['rps']:7.1f} {side['p50']:8.0f} "
            f"{side['p95']:8.0f}   {loads}"
        )
        for sample in side["error_samples"]:
            print(f"    !! error: {sample}")
    if not (e["rps"] and b["rps"]):
        print("!! too few requests finished to compare: run longer (--seconds)")
        return
    print(
        f"ratio ours/baseline: throughput {e['rps'] / b['rps']:.2f}x, p50 {e['p50'] / b['p50']:.2f}x, "
        f"p95 {e['p95'] / b['p95']:.2f}x"
    )
    print(f"{'kind':<10} {'endpoint n, p50/p95 ms':>26} {'baseline n, p50/p95 ms':>26}")
    for kind in KINDS:
        cells = []
        for side in (e, b):
            n, k50, k95 = side["kinds"].get(kind, (0, float("nan"), float("nan")))
            cells.append(f"{n:>6}, {k50:6.0f} / {k95:6.0f}")
        print(f"{kind:<10} {cells[0]:>26} {cells[1]:>26}")
    c, c304, c200 = result["conditional"], result["conditional_304"], result["conditional_200"]
    share = c304["requests"] and (sum(n for n, _, _ in c304["kinds"].values()) / c["requests"])
    print(
        f"conditional (each client repeats {args.working_set} requests with If-None-Match): {c['requests']} requests, "
        f"{c['errors']} errors, {share:.0%} answered 304, {c['rps']:.1f} req/s "
        f"({c['rps'] / e['rps']:.1f}x the plain endpoint run); 304 p50/p95 {c304['p50']:.0f} / {c304['p95']:.0f} ms, "
        f"200 p50/p95 {c200['p50']:.0f} / {c200['p95']:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--full", action="store_true", help="measure at 10,000, then grow to 100,000 and measure again")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes (docs/deployment.md: 3)")
    parser.add_argument("--seconds", type=int, default=30, help="length of each measured locust run")
    parser.add_argument("--full-seconds", type=int, default=60, help="the same at 100,000 listings (slower requests)")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per side, alternating")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of unmeasured load per side first")
    parser.add_argument(
        "--working-set", type=int, default=8, help="requests each client repeats in the conditional run"
    )
    parser.add_argument(
        "--check", type=int, default=40, help="distinct requests compared between endpoint and baseline"
    )
    parser.add_argument("--explain", action="store_true", help="print query plans at every size (always with --full)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.full else [args.listings]

    url = database_url()
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DATABASE_URL": url,
        # As docs/deployment.md runs it: the cache (rate-limit counters, cached search counts) in
        # Redis, shared by the gunicorn workers; database 12, emptied before every measurement.
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", DEFAULT_CACHE),
        "MARKETPLACE_VAR_DIR": str(BENCH_DIR),
        "MARKETPLACE_MEDIA_ROOT": str(BENCH_DIR / "media"),
        "MARKETPLACE_LIMIT_TRIAL_REQUESTS_PER_DAY": "0",
        "MARKETPLACE_LIMIT_QUOTE_REQUESTS_PER_DAY": "0",
        "MARKETPLACE_LIMIT_INVITATIONS_PER_DAY": "0",
        "MARKETPLACE_LIMIT_FAILED_ENROLLMENTS_PER_HOUR": "0",
    }
    os.environ.update(env)
    recreate_database(url)
    server: Server | None = None
    try:
        import warnings

        import django

        warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: static files are not collected
        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        from apps.organizations.models import ApiClient, Organization
        from apps.organizations.services import api_client_create
        from marketplace.principal import SYSTEM

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
        hospital = Organization.objects.create(
            name="Bench Load Hospital", slug="bench-load-hospital", kind=Organization.Kind.PROVIDER, country="DE"
        )
        client, secret = api_client_create(
            organization=hospital, name="catalog load test", role=ApiClient.Role.READ_ONLY, actor=SYSTEM
        )
        generator = Generator()
        results = []
        plan: list[list[str]] = []
        plan_file = BENCH_DIR / "plan.json"
        info = machine()
        for size in sizes:
            print(f"generating {size:,} published listings", flush=True)
            started = time.perf_counter()
            generator.grow(size)
            analyze()
            print(f"generated and analyzed in {time.perf_counter() - started:.0f} s", flush=True)
            if not plan:
                plan = build_plan()
                plan_file.write_text(json.dumps(plan))
            if args.explain or size >= 100_000:
                for query in ("heart failure", "radiology"):
                    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of what GET /api/v1/apps/?q={query} runs, {size:,} listings:")
                    for text, uses_gin in explain(query, client):
                        print(f"--- {'uses' if uses_gin else 'does not use'} the GIN index {GIN_INDEX}\n{text}\n")
            connections.close_all()
            flush_cache(env["CACHE_URL"])
            # The documented benchmark exemption: this client id only, for this server only.
            server = Server({**os.environ, "MARKETPLACE_THROTTLE_EXEMPT_CLIENTS": client.client_id}, args.workers)
            status, _, body = http(
                server.url + "/o/token/", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
            )
            if status != 200:
                sys.exit(f"no token: {status} {body[:300]!r}")
            token = json.loads(body)["access_token"]
            print(f"gunicorn on {server.url} ({args.workers} workers); measuring", flush=True)
            result = measure(size, server, token, plan_file, plan, args)
            server.stop()
            server = None
            results.append(result)
            print(
                f"\nmachine: {info['cpus']} CPUs, {info['memory']} RAM, {info['system']}, Python {info['python']}, "
                f"PostgreSQL {pg_version}"
            )
            report(result, args)
            sys.stdout.flush()
        if len(results) == 2:
            small, large = results[0]["endpoint"], results[1]["endpoint"]
            print(
                f"\np95 at {results[1]['size']:,} over p95 at {results[0]['size']:,}: "
                f"{large['p95']:.0f} / {small['p95']:.0f} ms = {large['p95'] / small['p95']:.2f}x "
                "(target: 2x at most); "
                f"p50 {large['p50'] / small['p50']:.2f}x; throughput {large['rps'] / small['rps']:.2f}x"
            )
            for kind in KINDS:
                if kind in small["kinds"] and kind in large["kinds"]:
                    print(
                        f"  {kind:<8} p95 {large['kinds'][kind][2]:6.0f} / {small['kinds'][kind][2]:6.0f} ms = "
                        f"{large['kinds'][kind][2] / small['kinds'][kind][2]:.2f}x"
                    )
    finally:
        if server is not None:
            server.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if not args.keep:
            recreate_database(url, drop_only=True)


if __name__ == "__main__":
    main()
