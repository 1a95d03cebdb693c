"""Accessibility of every main page in a real browser (Debian's Chromium via Playwright): axe-core,
pinned in tests/browser/package.json and installed with `npm ci --prefix tests/browser` (.ci/run
does it), is injected into each page and must report no serious or critical violation; and no
page scrolls sideways, at 1280x800 and at 768x1024.

The pages show real content: the demo data of `manage.py seed_demo` (catalog, quote requests,
listing views), plus a trial, a converted trial and an accepted quote made through the services,
so hospital IT sees trials, orders, subscriptions and deployments, the vendor its analytics, and
the operator the review queue.

Screenshots of every page go to test-artifacts/screenshots/ for a human look. With
README_SCREENSHOTS=1 the desktop run also writes the README's pictures to docs/screenshots/."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.models import User
from apps.analytics.demo import seed_analytics_demo
from apps.catalog.demo import seed_catalog_demo
from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.demo import seed_demo
from apps.organizations.models import Membership, Organization
from apps.organizations.principals import member_principal
from apps.procurement import services
from apps.procurement.demo import seed_procurement_demo
from apps.procurement.models import QuoteRequest, Subscription, Trial
from apps.provisioning.models import Deployment
from marketplace.principal import Role

pytestmark = pytest.mark.browser

BASE = Path(django_settings.BASE_DIR)
AXE = BASE / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = BASE / "test-artifacts" / "screenshots"
README_SCREENSHOTS = BASE / "docs" / "screenshots"
BLOCKING = ("moderate", "serious", "critical")  # minor findings are printed, not failing
VIEWPORTS = pytest.mark.parametrize("viewport", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])
# The listings the pages show (demo slugs): one with every kind of fact, and three to compare
# (hybrid with an FDA and a CE clearance, on-premise with a GPU, cloud priced per use).
LISTING = "radiant-lung-nodule-ct"
COMPARED = ("radiant-lung-nodule-ct", "radiant-stroke-triage", "radiant-ich-detect")
# The pictures of the README: page name -> file name, and what to scroll to the top (or None).
README_PAGES = {
    "search": ("store-search.png", None),
    "listing": ("store-listing.png", None),
    "compare": ("compare.png", None),
    "analytics": ("vendor-analytics.png", "nav.tabs"),
    "quotes": ("organization-quotes.png", None),
}


@pytest.fixture(scope="module")
def axe_source() -> Path:
    if not AXE.exists():
        message = f"{AXE} is missing: run `npm ci --prefix tests/browser`"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE


def _member(organization: Organization, role: Role) -> Membership:
    return (
        Membership.objects.select_related("user", "organization")
        .filter(organization=organization, role=role.value)
        .order_by("id")
        .first()
    )


def _trial_plan(vendor: Organization, *, exclude: tuple[int, ...] = ()) -> Plan:
    """A list-priced cloud plan with trial terms of one of `vendor`'s published listings."""
    return (
        Plan.objects.filter(
            offering__listing__vendor=vendor,
            offering__listing__status=Listing.Status.PUBLISHED,
            offering__mode=Offering.Mode.CLOUD,
            offering__is_active=True,
            is_active=True,
            trial_days__gt=0,
            pricing_model=Plan.PricingModel.SUBSCRIPTION,
        )
        .exclude(offering__listing_id__in=exclude)
        .select_related("offering__listing")
        .order_by("offering__listing__name", "id")
        .first()
    )


def _active_trial(plan: Plan, hospital: Organization, vendor: Organization) -> Trial:
    offering = plan.offering
    trial = services.trial_request(
        provider=hospital,
        actor=member_principal(_member(hospital, Role.MEMBER)),
        listing=offering.listing,
        offering=offering,
        plan=plan,
        site=None,
        region=offering.regions[0],
        notes="Stroke unit first.",
    )
    if trial.status == Trial.Status.REQUESTED:
        services.trial_approve(trial=trial, actor=member_principal(_member(vendor, Role.MEMBER)))
    return Trial.objects.get(pk=trial.pk)


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> dict[str, Any]:
    """The demo data, then (tasks run inline, the sandbox without delay): St. Mary's tries two
    of Radiant AI's apps and buys one of them, and accepts the demo's issued quote; Radiant AI
    proposes a new logo and a screenshot for its live listing in a revision."""
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0, "fail_step": "", "transient_failures": 0}
    settings.MEDIA_ROOT = tmp_path / "media"
    seed_demo()
    seed_catalog_demo()
    seed_procurement_demo()
    seed_analytics_demo()
    hospital = Organization.objects.get(slug="st-marys")
    radiant = Organization.objects.get(slug="radiant-ai")
    admin = _member(hospital, Role.ADMIN)

    bought_plan = _trial_plan(radiant)
    bought = _active_trial(bought_plan, hospital, radiant)
    assert bought.status == Trial.Status.ACTIVE, bought.status
    services.trial_convert(
        trial=bought,
        actor=member_principal(admin),
        accepted_terms=services.terms_required(bought.listing),
        purchase_order_number="PO-2026-0042",
    )
    running = _active_trial(_trial_plan(radiant, exclude=(bought.listing_id,)), hospital, radiant)

    issued, requested = QuoteRequest.objects.filter(provider=hospital).order_by("created_at", "id")
    services.quote_accept(
        quote_request=issued,
        actor=member_principal(admin),
        accepted_terms=services.terms_required(issued.listing),
        purchase_order_number="PO-2026-0043",
    )
    subscription = Subscription.objects.get(order__quote_request=issued)
    deployment = Deployment.objects.filter(entitlement__subscription=subscription).first()
    assert deployment is not None
    quote_vendor = _member(requested.vendor, Role.ADMIN)
    vendor_admin = _member(radiant, Role.ADMIN)
    _propose_pictures(Listing.objects.get(slug=LISTING), member_principal(vendor_admin))
    operator = User.objects.get(email="operator@marketplace.example")

    compare = "/compare/?" + "&".join(f"apps={slug}" for slug in COMPARED)
    return {
        "visitor": (
            None,
            [
                ("home", "/"),
                ("compare", compare),  # first: the search and listing pages show the selection
                ("search", "/apps/?q=radiant"),
                ("listing", f"/apps/{LISTING}/"),
                ("partners", "/partners/"),
                ("sign-in", "/accounts/login/"),
                ("sign-up", "/accounts/signup/"),
            ],
        ),
        "hospital": (
            admin.user,
            [
                ("listing-signed-in", f"/apps/{running.listing.slug}/"),
                ("profile", "/organization/"),
                ("members", "/organization/members/"),
                ("sites", "/organization/sites/"),
                ("trials", "/organization/trials/"),
                ("trial", f"/organization/trials/{running.public_id}/"),
                ("quotes", "/organization/quotes/"),
                ("quote", f"/organization/quotes/{requested.public_id}/"),
                ("quote-accepted", f"/organization/quotes/{issued.public_id}/"),
                ("orders", "/organization/orders/"),
                ("subscriptions", "/organization/subscriptions/"),
                ("subscription", f"/organization/subscriptions/{subscription.public_id}/"),
                ("deployments", "/organization/deployments/"),
                ("deployment", f"/organization/deployments/{deployment.public_id}/"),
            ],
        ),
        "vendor": (
            vendor_admin.user,
            [
                ("analytics", "/organization/analytics/?days=90"),
                ("my-listings", "/organization/listings/"),
                ("listing-editor", f"/organization/listings/{LISTING}/"),
                ("listing-offerings", f"/organization/listings/{LISTING}/offerings/"),
                ("listing-versions", f"/organization/listings/{LISTING}/versions/"),
                ("listing-documents", f"/organization/listings/{LISTING}/documents/"),
                ("listing-revision", f"/organization/listings/{LISTING}/revision/"),
                ("requests", "/organization/requests/"),
                ("fulfillment-settings", f"/organization/offerings/{_first_offering(LISTING)}/fulfillment/"),
            ],
        ),
        "quote-vendor": (
            quote_vendor.user,
            [("quote-vendor", f"/organization/quotes/{requested.public_id}/")],
        ),
        "operator": (operator, [("operator-review-queue", "/operator/catalog/listing/")]),
    }


def _propose_pictures(listing: Listing, actor: Any) -> None:
    """An open revision of a live listing with a new logo and one more screenshot."""
    from PIL import Image

    from apps.catalog import services as catalog

    def png(name: str, size: tuple[int, int], color: str) -> SimpleUploadedFile:
        buffer = io.BytesIO()
        Image.new("RGB", size, color).save(buffer, format="PNG")
        return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")

    revision = catalog.revision_create(listing=listing, actor=actor, data={})
    catalog.revision_set_logo(revision=revision, actor=actor, upload=png("logo.png", (96, 96), "teal"))
    catalog.revision_screenshot_add(
        revision=revision, actor=actor, caption="The nodule worklist", upload=png("worklist.png", (640, 400), "navy")
    )


def _first_offering(slug: str) -> str:
    from apps.catalog.models import Offering

    return str(Offering.objects.filter(listing__slug=slug).order_by("id").values_list("public_id", flat=True)[0])


def _sign_in(context: Any, base: str, user: Any) -> None:
    """The session cookie of a signed-in client, handed to the browser (signing in through the
    form is tested by the journeys)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])


def _axe(page: Any, axe_source: Path) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(axe_source))
    results = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return results["violations"]


def _describe(violation: dict[str, Any]) -> str:
    lines = [f"  [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"]
    for node in violation["nodes"][:5]:
        lines.append(f"      at {' '.join(str(part) for part in node['target'])}")
        lines.append(f"         {node['html'][:200]}")
        summary = (node.get("failureSummary") or "").replace("\n", " ")
        if summary:
            lines.append(f"         {summary[:300]}")
    if len(violation["nodes"]) > 5:
        lines.append(f"      … and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)


def _readme_picture(page: Any, name: str) -> None:
    """The page at the window's size (from its top, or from `top`), as a small palette PNG."""
    from PIL import Image

    README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    filename, top = README_PAGES[name]
    target = README_SCREENSHOTS / filename
    if top:
        page.locator(top).evaluate("element => element.scrollIntoView({block: 'start'})")
    else:
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(target), full_page=False)
    with Image.open(target) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(target, optimize=True)


@VIEWPORTS
def test_every_main_page_passes_axe_and_never_scrolls_sideways(
    browser: Any, live_server: Any, world: dict[str, Any], axe_source: Path, viewport: tuple[int, int]
) -> None:
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    readme = os.environ.get("README_SCREENSHOTS") == "1" and viewport == (1280, 800)
    base = live_server.url
    problems: list[str] = []
    checked: list[str] = []
    lesser: list[str] = []  # minor findings: printed, not failing
    for who, (user, pages) in world.items():
        # axe is injected as a script of its own: the strict CSP would refuse it, so this
        # context alone bypasses it (the journeys check the CSP holds).
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        try:
            if user is not None:
                _sign_in(context, base, user)
            page = context.new_page()
            for name, path in pages:
                response = page.goto(f"{base}{path}")
                assert response is not None and response.status == 200, (who, path, response and response.status)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-a11y-{name}.png"), full_page=True)
                if readme and name in README_PAGES:
                    _readme_picture(page, name)
                violations = _axe(page, axe_source)
                blocking = [v for v in violations if v["impact"] in BLOCKING]
                lesser += [f"{name}: [{v['impact']}] {v['id']}" for v in violations if v["impact"] not in BLOCKING]
                if blocking:
                    problems.append(f"{name} ({path}) as {who}:\n" + "\n".join(_describe(v) for v in blocking))
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                inner_width = page.evaluate("window.innerWidth")
                if scroll_width > inner_width:
                    problems.append(f"{name} ({path}) as {who}: scrolls sideways, {scroll_width}px in {inner_width}px")
                checked.append(name)
        finally:
            context.close()
    report = f"{len(problems)} problem(s) at {width}x{height} on {len(checked)} pages:\n\n" + "\n\n".join(problems)
    assert not problems, report
    print(json.dumps({"viewport": f"{width}x{height}", "pages": checked, "lesser_findings": lesser}, indent=1))
