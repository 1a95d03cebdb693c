"""The browser tests' shared harness: Debian's Chromium driven by Playwright with the flags this
machine needs (DEVELOPERS.md), one browser per test module, and signing in through the form."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

PASSWORD = "correct horse battery staple"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module", autouse=True)
def _allow_sync_orm_next_to_playwright() -> Iterator[None]:
    # Playwright's sync API runs an event loop in this thread, which trips Django's async
    # guard when the test touches the ORM. Only the browser tests need the escape hatch.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_allow_sync_orm_next_to_playwright: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_in(page: Any, base: str, email: str, next_path: str) -> None:
    """Sign in with the login form (every test user has PASSWORD) and land on `next_path`."""
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{next_path}")
