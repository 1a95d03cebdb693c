"""An organization admin's first journey in a real browser (Debian's Chromium via Playwright):
sign in, invite a colleague, create an API client and see its secret exactly once.

Runs at a desktop and a tablet size and checks that nothing scrolls sideways. Screenshots go
to test-artifacts/screenshots/ for a human look."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.browser.conftest import PASSWORD
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


@pytest.fixture
def admin(transactional_db: None) -> Any:
    organization = OrganizationFactory(name="St. Mary's Hospital Group", slug="st-marys", kind="provider")
    person = UserFactory(email="alex.admin@st-marys.example", full_name="Alex Admin")
    MembershipFactory(user=person, organization=organization, role="admin")
    MembershipFactory(user__email="maria.member@st-marys.example", organization=organization, role="member")
    return person


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} scrolls sideways: {width}px content in a {viewport}px window"


@pytest.mark.parametrize("viewport", [(1280, 800), (768, 1024)], ids=["desktop", "tablet"])
def test_admin_invites_a_colleague_and_creates_an_api_client(
    browser: Any, live_server: Any, admin: Any, viewport: tuple[int, int]
) -> None:
    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
    width, height = viewport
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    def shot(name: str) -> None:
        _no_horizontal_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{width}x{height}-{name}.png"), full_page=True)

    try:
        # Sign in.
        page.goto(f"{live_server.url}/accounts/login/")
        shot("01-sign-in")
        page.get_by_label("E-mail address").fill(admin.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.locator("main").get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")
        assert "Welcome back" in page.content()
        shot("02-home")

        # Invite a colleague: htmx replaces the members panel in place.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Organization").click()
        page.get_by_role("navigation", name="Organization").get_by_role("link", name="Members").click()
        page.wait_for_url("**/organization/members/")
        assert page.evaluate("typeof window.htmx") == "object"
        page.get_by_label("E-mail address").fill("new.colleague@st-marys.example")
        page.get_by_label("Role", exact=True).select_option("member")
        page.get_by_role("button", name="Send invitation").click()
        pending = page.locator("#pending-invitations")
        pending.get_by_role("cell", name="new.colleague@st-marys.example", exact=True).wait_for()
        assert page.url.endswith("/organization/members/")
        assert "Invitation sent to new.colleague@st-marys.example." in page.content()
        shot("03-invitation-pending")

        # Create an API client: the secret appears once, in a marked box.
        page.get_by_role("navigation", name="Organization").get_by_role("link", name="API clients").click()
        page.wait_for_url("**/organization/api-clients/")
        page.get_by_label("Name").fill("ITSM connector")
        page.get_by_label("Role", exact=True).select_option("member")
        page.get_by_role("button", name="Create client").click()
        box = page.locator("#new-secret")
        box.wait_for()
        assert "will not be shown again" in box.inner_text()
        secret = page.locator("#new-client-secret").inner_text().strip()
        assert len(secret) > 40
        assert page.evaluate("document.activeElement && document.activeElement.id") == "new-secret"
        shot("04-api-client-secret")

        # Reload: the client is listed, the secret is gone for good.
        page.reload()
        assert page.locator("#new-secret").count() == 0
        assert page.locator("#api-clients").get_by_role("cell", name="ITSM connector", exact=True).count() == 1
        assert secret not in page.content()
        shot("05-api-clients-after-reload")

        assert not problems, problems  # no CSP violation, no script error
    finally:
        context.close()
