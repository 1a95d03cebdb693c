"""Vendor-written Markdown (listing descriptions, release notes) rendered to safe HTML.

Python-Markdown passes raw HTML through, so its output is never trusted: nh3 (ammonia) keeps
only a small allowlist of tags and attributes, only http(s) and mailto links, drops <script>
and <style> together with their content, and gives every link rel="noopener noreferrer
nofollow". Headings start at <h3> so a description cannot break the page's outline."""

from __future__ import annotations

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
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"
EXTENSIONS = ["sane_lists", "fenced_code", "toc"]
EXTENSION_CONFIGS = {"toc": {"baselevel": 3, "marker": ""}}


def render_markdown(text: str) -> SafeString:
    """Markdown in, sanitized HTML out (safe to put in a template as is)."""
    if not text:
        return mark_safe("")
    html = python_markdown.markdown(text, extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitized by nh3 just above
