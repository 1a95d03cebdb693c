"""The "Add to compare" link of search results and listing pages: a plain link to the compare
page with the session's selection plus this app, so it works without JavaScript."""

from __future__ import annotations

from typing import Any

from django import template

from apps.catalog.models import Listing
from apps.storefront.views.compare import MAX_COMPARED, compare_url, remembered_selection

register = template.Library()


@register.inclusion_tag("storefront/compare/_add.html", takes_context=True)
def compare_add(context: dict[str, Any], listing: Listing) -> dict[str, Any]:
    request = context.get("request")
    selection = remembered_selection(request) if request is not None else []
    chosen = listing.slug in selection
    return {
        "listing": listing,
        "chosen": chosen,
        "count": len(selection),
        "full": len(selection) >= MAX_COMPARED,
        "url": compare_url(selection if chosen else [*selection, listing.slug]),
    }
