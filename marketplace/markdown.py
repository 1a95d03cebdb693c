"""Vendor-written Markdown (listing descriptions, release notes) rendered to safe HTML, the same
way for the API's `description_html` and the store.

Python-Markdown passes raw HTML through, so its output is never trusted: nh3 (ammonia) keeps
only a small allowlist of tags and attributes (no images, forms, frames, styles or event
handlers), only http(s) and mailto links, drops <script> and <style> together with their
content, and gives every link rel="noopener noreferrer nofollow".

The store nests headings under the page section they appear in (`under=2`: the first is an
<h3>, and none is more than one level deeper than the one before), so a description starting
with "## Features", or jumping from "#" to "####", does not skip levels of the page's outline.
The API keeps the levels as written (`under=None`): its clients place the HTML themselves."""

from __future__ import annotations

import re

import markdown as python_markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"
EXTENSIONS = ["tables", "sane_lists", "fenced_code"]


def render_markdown(text: str | None, *, under: int | None = None) -> SafeString:
    """Markdown in, sanitized HTML out (safe to put in a template as is); with `under`, its
    headings nested under an <h{under}>."""
    if not text:
        return mark_safe("")
    html = python_markdown.markdown(text, extensions=EXTENSIONS, output_format="html")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
    if under is not None:
        cleaned = nest_headings(cleaned, under=under)
    return mark_safe(cleaned)  # noqa: S308 - sanitized by nh3 just above


_HEADING_TAG = re.compile(r"<(/?)h([1-6])>")


def nest_headings(html: str, *, under: int = 2) -> str:
    """Renumber the (attribute-free, sanitized) headings of `html` so they nest under an
    <h{under}>: the levels used keep their order but become consecutive from under + 1, and no
    heading is more than one level deeper than the one before it."""
    used = sorted({int(level) for level in re.findall(r"<h([1-6])>", html)})
    rank = {level: min(under + 1 + index, 6) for index, level in enumerate(used)}
    previous = under
    open_level = under + 1

    def renumber(match: re.Match[str]) -> str:
        nonlocal previous, open_level
        if match.group(1):  # closes the heading just opened (headings do not nest)
            return f"</h{open_level}>"
        open_level = previous = min(rank[int(match.group(2))], previous + 1)
        return f"<h{open_level}>"

    return _HEADING_TAG.sub(renumber, html)
