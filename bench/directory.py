"""Partner directory: API request time as a ratio of a same-work baseline.

Usage: .venv/bin/python bench/directory.py [--organizations N] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DIR = ROOT / "var" / "bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--organizations", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        MARKETPLACE_VAR_DIR=str(BENCH_DIR),
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only",
        MARKETPLACE_THROTTLE_ADDRESS_RATE="1000000/min",
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from apps.organizations.api.serializers import OrganizationOutputSerializer
    from apps.organizations.models import Organization

    call_command("migrate", verbosity=0)
    kinds = ["vendor", "provider", "both"]
    Organization.objects.bulk_create(
        Organization(name=f"Org {i:06d}", slug=f"org-{i:06d}", kind=kinds[i % 3], country="DE")
        for i in range(args.organizations)
    )

    client = Client()

    def api() -> None:
        response = client.get("/api/v1/organizations/", {"kind": "vendor", "page": 3})
        assert response.status_code == 200, response.status_code

    def baseline() -> None:
        queryset = Organization.objects.filter(kind__in=["vendor", "both"]).order_by("name")
        count = queryset.count()
        page = list(queryset[50:75])
        json.dumps({"count": count, "results": OrganizationOutputSerializer(page, many=True).data}, default=str)

    def measure(func) -> list[float]:  # type: ignore[no-untyped-def]
        for _ in range(10):
            func()
        samples = []
        for _ in range(args.requests):
            started = time.perf_counter()
            func()
            samples.append(time.perf_counter() - started)
        return samples

    base = measure(baseline)
    full = measure(api)
    p50 = statistics.median(full) / statistics.median(base)
    p95 = statistics.quantiles(full, n=20)[18] / statistics.quantiles(base, n=20)[18]
    print(f"directory, {args.organizations} organizations, {args.requests} requests")
    print(f"  api/baseline ratio  p50 {p50:.2f}x   p95 {p95:.2f}x")


if __name__ == "__main__":
    main()
