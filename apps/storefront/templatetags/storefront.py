"""Template helpers of the web store."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.middleware.csrf import get_token
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def htmx_csrf_headers(context: dict[str, Any]) -> str:
    """JSON for `hx-headers` on <body>: htmx sends the CSRF token with every request it makes.
    An attribute, not an inline script, so the CSP stays strict (simple_tag escapes it)."""
    request = context.get("request")
    if request is None:
        return "{}"
    return json.dumps({"X-CSRFToken": get_token(request)})


@register.simple_tag(takes_context=True)
def current(context: dict[str, Any], name: str) -> SafeString:
    """`aria-current="page"` on the link to the page being shown: `name` is compared with the
    context's `section` (tabs) and `nav` (main navigation)."""
    if name in (context.get("section"), context.get("nav")):
        return mark_safe('aria-current="page"')
    return mark_safe("")
