"""Compare up to three published listings side by side, for hospital IT: regulatory clearances,
standards, data handling, deployment modes, on-premise requirements, pricing and plans.

The selection lives in the query string (`/compare/?apps=a&apps=b&apps=c`, so a comparison can
be bookmarked and shared) and is remembered in the session, so the "Add to compare" links of the
search results and listing pages add to it without any script."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.catalog.models import Listing, Offering, Plan

MAX_COMPARED = 3
SESSION_KEY = "storefront.compare"
MAX_SLUG_LENGTH = 100
MAX_ASKED = 20  # query values read at most; the rest are ignored


def compare_url(slugs: list[str]) -> str:
    """The compare page for `slugs`; `?apps=` (nothing chosen) for an empty list."""
    query = urlencode([("apps", slug) for slug in slugs]) if slugs else "apps="
    return f"{reverse('storefront:compare')}?{query}"


def remembered_selection(request: HttpRequest) -> list[str]:
    """The slugs last shown on the compare page in this session (at most three)."""
    value = request.session.get(SESSION_KEY, []) if hasattr(request, "session") else []
    if not isinstance(value, list):
        return []
    return [slug for slug in value if isinstance(slug, str)][:MAX_COMPARED]


def _asked(request: HttpRequest) -> list[str]:
    """The slugs of the query string in order, without blanks, repeats and over-long values."""
    slugs: list[str] = []
    for raw in request.GET.getlist("apps")[:MAX_ASKED]:
        slug = raw.strip().lower()
        if slug and len(slug) <= MAX_SLUG_LENGTH and slug not in slugs:
            slugs.append(slug)
    return slugs


def _compared_listings(slugs: list[str]) -> dict[str, Listing]:
    """The published listings among `slugs`, with every fact the table shows prefetched."""
    queryset: QuerySet[Listing] = (
        Listing.objects.filter(status=Listing.Status.PUBLISHED, slug__in=slugs)
        .select_related("vendor")
        .prefetch_related(
            "categories",
            "standards",
            "clearances",
            Prefetch(
                "offerings",
                queryset=Offering.objects.filter(is_active=True)
                .order_by("mode", "name", "id")
                .prefetch_related(
                    Prefetch(
                        "plans", queryset=Plan.objects.filter(is_active=True).order_by("id"), to_attr="active_plans"
                    )
                ),
                to_attr="active_offerings",
            ),
        )
    )
    return {listing.slug: listing for listing in queryset}


def _requirements(offering: Offering) -> list[str]:
    """An on-premise (or hybrid) offering's requirements in words."""
    parts = []
    if offering.requirement_os:
        parts.append(offering.requirement_os)
    if offering.requirement_cpu_cores:
        parts.append(f"{offering.requirement_cpu_cores} CPU core{'s' if offering.requirement_cpu_cores != 1 else ''}")
    if offering.requirement_memory_gb:
        parts.append(f"{offering.requirement_memory_gb} GB memory")
    if offering.requirement_gpu:
        parts.append(f"GPU: {offering.requirement_gpu}")
    if offering.requirement_disk_gb:
        parts.append(f"{offering.requirement_disk_gb} GB disk")
    return parts


def _column(listing: Listing, selection: list[str]) -> dict[str, Any]:
    offerings = listing.active_offerings
    return {
        "listing": listing,
        "remove_url": compare_url([slug for slug in selection if slug != listing.slug]),
        "offerings": offerings,
        "on_premise": [
            {"offering": offering, "requirements": _requirements(offering)}
            for offering in offerings
            if offering.mode != Offering.Mode.CLOUD
        ],
        "plans": [(offering, plan) for offering in offerings for plan in offering.active_plans],
    }


def compare(request: HttpRequest) -> HttpResponse:
    """The comparison of the apps in the query string, or of the session's selection when the
    query names none. More than three: the first three are compared and the page says which
    were left out, with links to swap one in."""
    asked = _asked(request) if "apps" in request.GET else remembered_selection(request)
    found = _compared_listings(asked)
    unknown = [slug for slug in asked if slug not in found]
    available = [slug for slug in asked if slug in found]
    selection, left_out = available[:MAX_COMPARED], available[MAX_COMPARED:]
    request.session[SESSION_KEY] = selection
    swaps = [
        {
            "listing": found[extra],
            "options": [
                {
                    "replaced": found[slug],
                    "url": compare_url([extra if item == slug else item for item in selection]),
                }
                for slug in selection
            ],
        }
        for extra in left_out
    ]
    context = {
        "nav": "catalog",
        "columns": [_column(found[slug], selection) for slug in selection],
        "selection": selection,
        "left_out": swaps,
        "unknown": unknown,
        "max_compared": MAX_COMPARED,
        "clear_url": compare_url([]),
    }
    return render(request, "storefront/compare/compare.html", context)
