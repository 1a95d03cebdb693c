"""How my apps do: a vendor's figures per listing over the last 7, 30 or 90 days, the same
figures as GET /api/v1/analytics/listings/ (apps.analytics.selectors.listing_figures), as a
table and as charts drawn on the server (apps.storefront.charts) with the numbers per day in a
table next to them. Only vendors have the page; for other organizations it does not exist."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.analytics.selectors import listing_figures
from apps.catalog.models import Listing
from apps.organizations.models import Organization
from apps.storefront.charts import bar_chart, line_chart
from apps.storefront.views.organization import acting_organization
from marketplace.principal import Principal, Role

RANGES = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_LISTINGS = 200  # as many as the API answers for at once
LISTINGS_PER_PAGE = 10  # listings drawn per page; the summary table has them all
FIGURES = ("views", "trial_requests", "subscriptions", "conversions", "active_deployments")


def conversion_rate(conversions: int, trial_requests: int) -> Decimal | None:
    """Subscriptions that followed a trial, per 100 trial requests, in the same range; None
    without trial requests. (A trial requested near the end of the range may convert later.)"""
    if not trial_requests:
        return None
    return (Decimal(100) * conversions / trial_requests).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def _days(request: HttpRequest) -> int:
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS))
    except ValueError:
        return DEFAULT_DAYS
    return days if days in RANGES else DEFAULT_DAYS


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"


def _short(day: date) -> str:
    return f"{day.day} {day:%B}"


def _most(series: list[dict[str, Any]], name: str, one: str, many: str) -> str:
    """The busiest day in words ("; the most, 31 views, on 12 May"), or nothing on no activity."""
    best = max(series, key=lambda point: point[name], default=None)
    if not best or not best[name]:
        return ""
    return f"; the most, {_count(best[name], one, many)}, on {_short(best['date'])}"


def _charts(key: str, series: list[dict[str, Any]], totals: dict[str, int]) -> list[dict[str, Any]]:
    """The four charts of a listing (or of all of them together), each with a caption that says
    what it shows in words."""
    days: list[date] = [point["date"] for point in series]

    def values(name: str) -> list[int]:
        return [point[name] for point in series]

    active = values("active_deployments")
    return [
        {
            "id": f"chart-{key}-views",
            "title": "Views per day",
            "summary": _count(totals["views"], "view", "views") + _most(series, "views", "view", "views") + ".",
            "chart": bar_chart(days, values("views"), unit="views"),
        },
        {
            "id": f"chart-{key}-trials",
            "title": "Trial requests per day",
            "summary": _count(totals["trial_requests"], "trial request", "trial requests")
            + _most(series, "trial_requests", "request", "requests")
            + ".",
            "chart": bar_chart(days, values("trial_requests"), unit="trial requests"),
        },
        {
            "id": f"chart-{key}-subscriptions",
            "title": "New subscriptions per day",
            "summary": f"{_count(totals['subscriptions'], 'new subscription', 'new subscriptions')}, "
            f"{totals['conversions']:,} of them after a trial.",
            "chart": bar_chart(
                days,
                values("subscriptions"),
                unit="new subscriptions",
                overlay=values("conversions"),
                overlay_unit="after a trial",
            ),
            "legend": True,
        },
        {
            "id": f"chart-{key}-deployments",
            "title": "Active deployments at the end of each day",
            "summary": f"{active[-1] if active else 0:,} at the end of {_short(days[-1]) if days else 'the period'}; "
            f"at most {max(active, default=0):,}.",
            "chart": line_chart(days, active, unit="active deployments"),
        },
    ]


def _row(entry: dict[str, Any], index: int) -> dict[str, Any]:
    totals = entry["totals"]
    return {
        "listing": entry["listing"],
        "totals": totals,
        "rate": conversion_rate(totals["conversions"], totals["trial_requests"]),
        "series": entry["series"],
        "page_number": index // LISTINGS_PER_PAGE + 1,
    }


@acting_organization
def analytics_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    """Every listing of the vendor (any status, by name) with its totals in one table, the charts
    of all of them together, then each listing's charts, ten listings a page."""
    if not organization.is_vendor:
        raise Http404("Only vendors have analytics.")
    days = _days(request)
    end = timezone.now().date()
    start = end - timedelta(days=days - 1)
    listings = Listing.objects.filter(vendor=organization).order_by("name", "id")[:MAX_LISTINGS]
    figures = listing_figures(listings=listings, start=start, end=end)
    rows = [_row(entry, index) for index, entry in enumerate(figures)]
    page = Paginator(rows, LISTINGS_PER_PAGE).get_page(request.GET.get("page"))
    for row in page.object_list:  # drawn only for the listings on this page
        row["charts"] = _charts(f"app-{row['listing'].slug}", row["series"], row["totals"])
    all_totals = {name: sum(row["totals"][name] for row in rows) for name in FIGURES}
    # Every app together, day by day (drawn when there is more than one).
    combined = [
        {"date": points[0]["date"], **{name: sum(point[name] for point in points) for name in FIGURES}}
        for points in zip(*(row["series"] for row in rows), strict=True)
    ]
    context = {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "section": "analytics",
        "nav": "organization",
        "notice": "",
        "error": "",
        "days": days,
        "ranges": RANGES,
        "start": start,
        "end": end,
        "rows": rows,
        "page": page,
        "page_query": f"days={days}&",
        "all_totals": all_totals,
        "all_rate": conversion_rate(all_totals["conversions"], all_totals["trial_requests"]),
        "all_charts": _charts("all", combined, all_totals) if len(rows) > 1 else [],
        "capped": len(rows) == MAX_LISTINGS,
    }
    return render(request, "storefront/organization/analytics.html", context)
