"""A vendor's markdown description is rendered through an allowlist: no scripts, no images,
no event handlers, no script URLs; links cannot reach back to the opener or pass ranking."""

from __future__ import annotations

import re
from typing import Any

import pytest

from marketplace.markdown import render_markdown
from tests.catalog.factories import publish_listing, ready_listing, verify
from tests.conftest import Party

pytestmark = pytest.mark.django_db

HOSTILE = """\
# Chest X-ray Triage

Reads **every** study. See [the study](https://example.org/study) or
[mail us](mailto:team@example.org).

<script>alert('owned')</script>
<img src="x" onerror="alert('img')">
![tracking pixel](https://tracker.example/pixel.png)
[click me](javascript:alert('link'))
<a href="javascript:alert('raw')">raw link</a>
<a href="JaVaScRiPt:alert('case')">mixed case</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>
<a href="https://example.org" onclick="alert('click')" target="_blank">handler</a>
<iframe src="https://evil.example"></iframe>
<style>body { display: none }</style>
<svg onload="alert('svg')"><circle r="1"/></svg>
<p style="background:url(javascript:alert(1))">styled</p>
<form action="https://evil.example"><input name="password"></form>

| Model | AUC |
|-------|-----|
| v2    | 0.97 |
"""


def assert_safe(html: str) -> None:
    lowered = html.lower()
    for needle in ("<script", "<img", "<iframe", "<style", "<svg", "<form", "<input", "onerror", "onload", "onclick",
                   "javascript:", "data:text", "style=", "alert('owned')"):  # fmt: skip
        assert needle not in lowered, (needle, html)


def test_rendering_drops_everything_that_could_run(radiant: Party) -> None:
    html = render_markdown(HOSTILE)
    assert_safe(html)
    # What markdown is for survives.
    assert "<h1>Chest X-ray Triage</h1>" in html
    assert "<strong>every</strong>" in html
    assert "<table>" in html and "<td>0.97</td>" in html


def test_links_get_nofollow_and_noopener() -> None:
    html = render_markdown("[the study](https://example.org/study) and [mail](mailto:team@example.org)")
    links = re.findall(r"<a [^>]*>", html)
    assert len(links) == 2
    for link in links:
        rel = re.search(r'rel="([^"]*)"', link)
        assert rel is not None, link
        assert {"nofollow", "noopener"} <= set(rel.group(1).split()), link
    assert 'href="https://example.org/study"' in html and 'href="mailto:team@example.org"' in html


def test_script_links_lose_their_target_but_keep_their_text() -> None:
    html = render_markdown("[click me](javascript:alert(1)) and <a href='vbscript:msgbox(1)'>vb</a>")
    assert "click me" in html and "vb" in html
    assert "javascript:" not in html.lower() and "vbscript:" not in html.lower()


def test_empty_and_missing_descriptions_render_empty() -> None:
    assert render_markdown("") == ""
    assert render_markdown(None) == ""  # type: ignore[arg-type]


def test_the_api_serves_the_safe_html(radiant: Party, anonymous_api: Any) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization)
    response = radiant.api("member").patch(f"/api/v1/apps/{listing.slug}/", {"description": HOSTILE})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == HOSTILE.strip()  # the source is kept as written
    assert_safe(body["description_html"])
    assert 'rel="' in body["description_html"] and "nofollow" in body["description_html"]

    published = publish_listing(listing)
    public = anonymous_api.get(f"/api/v1/apps/{published.slug}/").json()
    assert public["description_html"] == body["description_html"]
