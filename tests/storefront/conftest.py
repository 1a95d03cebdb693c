"""Helpers for the web store's tests: HTML checks that hold for every page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def assert_csp_clean(response: Any) -> str:
    """No inline script, <style>, style="" or on*="" handler: the strict CSP would block them."""
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert "<style" not in html.lower()
    assert not STYLE_ATTRIBUTE.search(html), STYLE_ATTRIBUTE.search(html)
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html)
    return html


@pytest.fixture
def browser_client() -> Client:
    return Client()


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
