"""How my apps do (a vendor's analytics page) and Compare (up to three apps side by side for
hospital IT), through the Django test client.

The analytics page shows the figures of GET /api/v1/analytics/listings/ as a table and as charts
drawn on the server (SVG, no script, no style attribute), each with its numbers in words and in
a table; only vendors have it. The compare page works from a query string and remembers the
selection in the session, so "Add to compare" is a plain link."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.analytics.models import ListingViewDay
from apps.catalog.models import Listing, Offering, Plan, RegulatoryClearance
from apps.procurement.services import terms_required, trial_convert
from apps.storefront.charts import HEIGHT, LEFT, PLOT_HEIGHT, TOP, bar_chart, line_chart, nice_top
from apps.storefront.views.insights import conversion_rate
from marketplace.principal import Role
from tests.catalog.factories import ClearanceFactory, ListingFactory, StandardFactory, publish_listing
from tests.factories import MembershipFactory
from tests.procurement.factories import approve, principal_of, request_trial, trial_listing
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db

ANALYTICS = "/organization/analytics/"
API = "/api/v1/analytics/listings/"
COMPARE = "/compare/"


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _summary_cells(html: str, name: str) -> list[str]:
    """The cells of the totals table's row of the app called `name`."""
    table = re.search(r'<table class="analytics-summary">.*?</table>', html, re.S)
    assert table, "no totals table"
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S):
        cells = [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        if cells and cells[0].startswith(name):
            return cells[1:]
    raise AssertionError(f"no row for {name}")


def _views(listing: Listing, **per_day: int) -> None:
    """`_views(listing, d0=5, d3=2)`: 5 views today, 2 three days ago."""
    today = timezone.now().date()
    for key, views in per_day.items():
        ListingViewDay.objects.create(listing=listing, day=today - timedelta(days=int(key[1:])), views=views)


# --- How my apps do ---------------------------------------------------------------------------


def test_the_vendor_sees_the_same_figures_as_the_api_in_a_table_and_in_charts(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = trial_listing(radiant.organization)
    _views(listing, d0=7, d1=3, d12=40)
    with django_capture_on_commit_callbacks(execute=True):
        approve(request_trial(st_mary.organization, listing))

    response = signed_in(radiant.member).get(ANALYTICS)
    assert response.status_code == 200
    html = assert_csp_clean(response)  # no inline script or style: the charts are plain SVG
    api = radiant.api("member").get(API).json()
    [entry] = [item for item in api["results"] if item["listing"] == listing.slug]
    totals = entry["totals"]
    assert (totals["views"], totals["trial_requests"], totals["active_deployments"]) == (50, 1, 1)
    cells = _summary_cells(html, listing.name)
    assert cells == [
        str(totals["views"]),
        str(totals["trial_requests"]),
        str(totals["subscriptions"]),
        f"{totals['conversions']} (0 %)",  # one trial request, no conversion yet
        str(totals["active_deployments"]),
    ]
    # The tab is current; the default period is the API's: 30 days up to today.
    assert 'href="/organization/analytics/" aria-current="page"' in html
    assert '<option value="30" selected>' in html
    assert len(entry["series"]) == 30

    # Four charts, each an image named by its caption (the numbers in words) and focusable.
    section = html[html.index(f'id="insight-app-{listing.slug}"') :]
    svgs = re.findall(r"<svg[^>]*>", section)
    assert len(svgs) == 4
    for svg in svgs:
        assert 'role="img"' in svg and 'tabindex="0"' in svg
        caption_id = re.search(r'aria-labelledby="([^"]+)"', svg).group(1)
        assert f'id="{caption_id}"' in section
    text = _text(section)
    assert "Views per day 50 views; the most, 40 views, on " in text
    assert "Trial requests per day 1 trial request; the most, 1 request, on " in text
    assert "Active deployments at the end of each day 1 at the end of " in text
    # Every day is in the data table too.
    table = re.search(r'<table class="analytics-days">.*?</table>', section, re.S).group(0)
    assert table.count('<th scope="row">') == 30
    today = timezone.now().date()
    assert f'<time datetime="{(today - timedelta(days=12)).isoformat()}">' in table
    # A bar per day with views, each with its number for the mouse.
    views_svg = section[section.index("chart-app-") : section.index("</svg>")]
    assert views_svg.count("<rect") == 3
    assert f"<title>{today.day} {today:%b}: 7 views</title>" in views_svg


@pytest.mark.parametrize(("asked", "days"), [("7", 7), ("90", 90), ("30", 30), ("365", 30), ("x", 30), ("", 30)])
def test_the_period_is_7_30_or_90_days(radiant: Any, asked: str, days: int) -> None:
    listing = trial_listing(radiant.organization)
    response = signed_in(radiant.member).get(ANALYTICS, {"days": asked})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<option value="{days}" selected>' in html
    section = html[html.index(f'id="insight-app-{listing.slug}"') :]
    assert section.count('<th scope="row"><time') == days
    start = timezone.now().date() - timedelta(days=days - 1)
    assert f'From <time datetime="{start.isoformat()}">' in html


def test_a_conversion_counts_in_the_rate(st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any) -> None:
    listing = trial_listing(radiant.organization)
    other = trial_listing(radiant.organization, slug="radiant-second")
    with django_capture_on_commit_callbacks(execute=True):
        trial = approve(request_trial(st_mary.organization, listing))
        approve(request_trial(st_mary.organization, other))
    with django_capture_on_commit_callbacks(execute=True):
        trial_convert(
            trial=trial, actor=principal_of(st_mary.organization, Role.ADMIN), accepted_terms=terms_required(listing)
        )
    html = signed_in(radiant.member).get(ANALYTICS).content.decode()
    assert _summary_cells(html, listing.name)[2:4] == ["1", "1 (100 %)"]
    assert _summary_cells(html, other.name)[2:4] == ["0", "0 (0 %)"]
    # Two apps: a row for all of them, and charts of all of them together first.
    assert _summary_cells(html, "All apps")[1:4] == ["2", "1", "1 (50 %)"]
    assert 'id="insight-all"' in html
    assert "1 new subscription, 1 of them after a trial." in _text(html)


def test_a_vendor_sees_only_its_own_apps_in_every_status(radiant: Any, st_mary: Any) -> None:
    mine = trial_listing(radiant.organization)
    draft = ListingFactory(vendor=radiant.organization, name="Radiant Draft", status=Listing.Status.DRAFT)
    theirs = publish_listing(name="Someone Else's App", slug="someone-elses-app")
    _views(theirs, d0=9)
    html = signed_in(radiant.member).get(ANALYTICS).content.decode()
    assert mine.name in html and draft.name in html and "Draft" in html
    assert theirs.name not in html


def test_only_vendors_have_the_page(st_mary: Any, radiant: Any, operator: Any) -> None:
    # A provider: no tab, and the page does not exist for it.
    hospital = signed_in(st_mary.admin)
    assert hospital.get(ANALYTICS).status_code == 404
    assert "/organization/analytics/" not in hospital.get("/organization/").content.decode()
    # Anonymous visitors sign in first; operators work in their console.
    response = Client().get(ANALYTICS)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert signed_in(operator).get(ANALYTICS).status_code == 302
    # Every vendor member, read-only ones too, sees the tab.
    reader = MembershipFactory(organization=radiant.organization, role="read_only").user
    assert 'href="/organization/analytics/"' in signed_in(reader).get("/organization/").content.decode()
    assert signed_in(reader).get(ANALYTICS).status_code == 200


def test_a_vendor_without_apps_is_told_so(radiant: Any) -> None:
    html = signed_in(radiant.member).get(ANALYTICS).content.decode()
    assert "Radiant AI has no app yet." in _text(html)
    assert "<svg" not in html


def test_ten_apps_are_drawn_a_page(radiant: Any) -> None:
    for number in range(12):
        ListingFactory(vendor=radiant.organization, name=f"App {number:02d}", status=Listing.Status.PUBLISHED)
    client = signed_in(radiant.member)
    first = client.get(ANALYTICS, {"days": 7}).content.decode()
    assert first.count('class="insight subsection"') == 10
    assert first.count('<th scope="row"><a href=') == 12  # the table has every app
    assert 'href="?days=7&amp;page=2#insight-app-app-11"' in first  # its charts are on page 2
    assert 'href="?days=7&amp;page=2">Next' in first
    second = client.get(ANALYTICS, {"days": 7, "page": 2}).content.decode()
    assert second.count('class="insight subsection"') == 2 and 'id="insight-app-app-11"' in second


def test_the_conversion_rate() -> None:
    assert conversion_rate(0, 0) is None
    assert conversion_rate(1, 3) == Decimal("33")
    assert conversion_rate(2, 3) == Decimal("67")
    assert conversion_rate(3, 3) == Decimal("100")


# --- the charts' geometry -------------------------------------------------------------------


def test_the_scale_ends_on_a_round_number() -> None:
    assert [nice_top(value) for value in (0, 1, 2, 3, 6, 11, 37, 379, 1000, 1001)] == [
        1,
        1,
        2,
        5,
        10,
        20,
        50,
        500,
        1000,
        2000,
    ]


def test_bars_stand_on_the_baseline_and_reach_their_value() -> None:
    days = [date(2026, 5, 1) + timedelta(days=n) for n in range(4)]
    chart = bar_chart(days, [0, 5, 10, 2], unit="views", overlay=[0, 1, 0, 0], overlay_unit="after a trial")
    assert chart.top == 10 and [line.label for line in chart.grid] == ["0", "5", "10"]
    assert len(chart.bars) == 3  # no bar for a day with none
    tallest = chart.bars[1]
    assert tallest.y == TOP and tallest.y + tallest.height == TOP + PLOT_HEIGHT
    assert chart.bars[0].height == PLOT_HEIGHT / 2
    assert tallest.title == "3 May: 10 views"
    assert [bar.title for bar in chart.overlay] == ["2 May: 1 after a trial"]
    assert [label.label for label in chart.dates] == ["1 May", "3 May", "4 May"]
    assert all(bar.x >= LEFT and bar.x + bar.width <= 480 - 8 for bar in chart.bars)


def test_a_line_holds_each_days_level() -> None:
    days = [date(2026, 5, 1) + timedelta(days=n) for n in range(3)]
    chart = line_chart(days, [0, 2, 1], unit="active deployments")
    assert chart.kind == "line" and chart.top == 2
    points = [tuple(float(v) for v in pair.split(",")) for pair in chart.points.split()]
    assert len(points) == 6 and points[0][1] == points[1][1] == TOP + PLOT_HEIGHT
    assert points[2][1] == points[3][1] == TOP
    assert chart.area.startswith(f"{LEFT},{TOP + PLOT_HEIGHT}")
    assert [bar.title for bar in chart.bars] == [
        "1 May: 0 active deployments",
        "2 May: 2 active deployments",
        "3 May: 1 active deployments",
    ]
    assert chart.height == HEIGHT
    assert line_chart([], [], unit="x").points == ""


# --- Compare ------------------------------------------------------------------------------------


@pytest.fixture
def three(radiant: Any) -> list[Listing]:
    """Three published apps with different facts (and a draft nobody may compare)."""
    dicom = StandardFactory(name="DICOM", slug="dicom")
    fhir = StandardFactory(name="FHIR R4", slug="fhir-r4")
    cloud = publish_listing(
        vendor=radiant.organization,
        name="Cloud Reader",
        slug="cloud-reader",
        offerings=[("cloud", "subscription")],
        standards=[dicom, fhir],
    )
    Listing.objects.filter(pk=cloud.pk).update(
        processes_patient_data=True,
        deidentified_before_leaving_site=True,
        data_residency=["EU"],
        security_certifications=["ISO 27001", "SOC 2"],
    )
    ClearanceFactory(listing=cloud, authority=RegulatoryClearance.Authority.FDA, identifier="K201234")
    onprem = publish_listing(
        vendor=radiant.organization,
        name="Onsite Reader",
        slug="onsite-reader",
        offerings=[("on_premise", "quote_only")],
    )
    Offering.objects.filter(listing=onprem).update(
        requirement_os="Ubuntu 22.04 LTS",
        requirement_cpu_cores=16,
        requirement_memory_gb=64,
        requirement_gpu="NVIDIA L4",
    )
    usage = publish_listing(
        vendor=radiant.organization, name="Usage Reader", slug="usage-reader", offerings=[("hybrid", "usage")]
    )
    ListingFactory(vendor=radiant.organization, name="Secret Draft", slug="secret-draft")
    return [cloud, onprem, usage]


def _compare(client: Client, *slugs: str) -> Any:
    return client.get(COMPARE, {"apps": list(slugs)})


def _column_headers(html: str) -> list[str]:
    thead = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    return [_text(cell) for cell in re.findall(r'<th scope="col">(.*?)</th>', thead, re.S)]


def _row(html: str, header: str) -> list[str]:
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        match = re.search(r'<th scope="row">(.*?)</th>', row, re.S)
        if match and _text(match.group(1)) == header:
            return [_text(cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
    raise AssertionError(f"no row {header}")


def test_anyone_compares_three_apps_side_by_side(three: list[Listing]) -> None:
    response = _compare(Client(), *(listing.slug for listing in three))
    assert response.status_code == 200
    html = assert_csp_clean(response)
    assert _column_headers(html) == [
        "Cloud Reader by Radiant AI · verified",
        "Onsite Reader by Radiant AI · verified",
        "Usage Reader by Radiant AI · verified",
    ]
    assert "<caption" in html and "Cloud Reader, Onsite Reader and Usage Reader compared" in _text(html)
    assert html.count('scope="rowgroup"') == 4
    assert _row(html, "Regulatory clearances")[0] == "FDA class II K201234"
    assert _row(html, "Regulatory clearances")[1:] == ["None listed", "None listed"]
    assert _row(html, "Standards")[0] == "DICOM, FHIR R4"
    assert _row(html, "Processes patient data") == ["Yes", "No", "No"]
    assert _row(html, "De-identified before leaving the site") == ["Yes", "No", "No"]
    assert _row(html, "Data residency") == ["EU", "Not stated", "Not stated"]
    assert _row(html, "Security certifications")[0] == "ISO 27001, SOC 2"
    assert _row(html, "Deployment modes") == ["Cloud Regions: eu-central", "On premise", "Hybrid"]
    requirements = _row(html, "On-premise requirements")
    assert requirements[0] == "No on-premise offering"
    assert requirements[1] == "On premise edition: Ubuntu 22.04 LTS, 16 CPU cores, 64 GB memory, GPU: NVIDIA L4"
    assert requirements[2].startswith("Hybrid edition: Ubuntu 22.04")
    assert _row(html, "Price models") == ["Subscription", "Quote only", "Usage-based"]
    plans = _row(html, "Plans")
    assert plans[0] == "Subscription (cloud): EUR 1,200.00 per month 30-day trial"
    assert plans[1] == "Quote Only (on premise): Price on quote 30-day trial"
    assert plans[2] == "Usage (hybrid): EUR 4.50 per study 30-day trial"
    # The table scrolls inside a labelled, focusable frame, never the page.
    assert 'role="region" aria-labelledby="compare-caption"' in html and 'tabindex="0"' in html


def test_more_than_three_compares_the_first_three_and_offers_a_swap(three: list[Listing], radiant: Any) -> None:
    fourth = publish_listing(vendor=radiant.organization, name="Fourth Reader", slug="fourth-reader")
    response = _compare(Client(), *(listing.slug for listing in three), fourth.slug)
    assert response.status_code == 200
    html = response.content.decode()
    text = _text(html)
    assert "You can compare up to three apps at a time" in text
    assert "Fourth Reader was not added." in text
    assert [header.split(" by ")[0] for header in _column_headers(html)] == [listing.name for listing in three]
    assert 'role="alert"' in html
    assert (
        'href="/compare/?apps=fourth-reader&amp;apps=onsite-reader&amp;apps=usage-reader">'
        "Compare Fourth Reader instead of Cloud Reader</a>"
    ) in html


def test_drafts_and_unknown_apps_are_left_out_without_naming_them(three: list[Listing]) -> None:
    html = _compare(Client(), "secret-draft", three[0].slug, "no-such-app", three[0].slug).content.decode()
    assert [header.split(" by ")[0] for header in _column_headers(html)] == ["Cloud Reader"]
    assert "2 apps in this link are not in the store and left out." in _text(html)
    assert "Secret Draft" not in html and "no-such-app" not in html


def test_nothing_to_compare_points_to_the_store() -> None:
    html = Client().get(COMPARE).content.decode()
    assert "Nothing to compare yet." in _text(html) and "<table" not in html
    assert 'href="/apps/"' in html


def test_add_to_compare_links_carry_the_selection_remembered_in_the_session(three: list[Listing]) -> None:
    cloud, onprem, _usage = three
    client = Client()
    # Nothing chosen yet: the search results link each app on its own.
    results = client.get("/apps/").content.decode()
    assert f'href="/compare/?apps={onprem.slug}">Add to compare' in results
    # Compare one: the results and the listing pages now add to it.
    _compare(client, cloud.slug)
    results = client.get("/apps/").content.decode()
    assert f'href="/compare/?apps={cloud.slug}">In your comparison' in results
    add = f'href="/compare/?apps={cloud.slug}&amp;apps={onprem.slug}">Add to compare'
    assert add in results and "(1 of 3 chosen)" in results
    listing_page = client.get(f"/apps/{onprem.slug}/").content.decode()
    assert add in listing_page
    # Following it compares both; /compare/ alone shows the remembered selection.
    _compare(client, cloud.slug, onprem.slug)
    assert [h.split(" by ")[0] for h in _column_headers(client.get(COMPARE).content.decode())] == [
        "Cloud Reader",
        "Onsite Reader",
    ]
    # Remove one, then clear.
    html = client.get(COMPARE).content.decode()
    assert f'href="/compare/?apps={onprem.slug}">Remove' in html
    assert 'href="/compare/?apps=">Clear the comparison' in html
    assert "Nothing to compare yet." in _text(_compare(client, "").content.decode())
    assert "Nothing to compare yet." in _text(client.get(COMPARE).content.decode())
    # A draft's preview page (the vendor's) has no link to compare it.
    draft = Listing.objects.get(slug="secret-draft")
    assert "Add to compare" not in signed_in_vendor(draft).get(f"/apps/{draft.slug}/").content.decode()


def signed_in_vendor(listing: Listing) -> Client:
    member = MembershipFactory(organization=listing.vendor, role="member").user
    return signed_in(member)


def test_plans_are_listed_per_offering_with_their_trial(three: list[Listing]) -> None:
    cloud = three[0]
    Plan.objects.filter(offering__listing=cloud).update(trial_days=14)
    html = _compare(Client(), cloud.slug).content.decode()
    assert _row(html, "Plans") == ["Subscription (cloud): EUR 1,200.00 per month 14-day trial"]
