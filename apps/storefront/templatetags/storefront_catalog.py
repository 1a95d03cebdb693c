"""Template helpers of the catalog pages: Markdown, prices, facet labels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils.safestring import SafeString

from apps.catalog.models import Offering, Plan, RegulatoryClearance
from marketplace.markdown import render_markdown

register = template.Library()

MODE_LABELS = dict(Offering.Mode.choices)
PRICING_LABELS = dict(Plan.PricingModel.choices)
AUTHORITY_SHORT = {
    RegulatoryClearance.Authority.FDA: "FDA",
    RegulatoryClearance.Authority.EU_MDR: "CE (MDR)",
    RegulatoryClearance.Authority.EU_IVDR: "CE (IVDR)",
    RegulatoryClearance.Authority.UKCA: "UKCA",
    RegulatoryClearance.Authority.HEALTH_CANADA: "Health Canada",
    RegulatoryClearance.Authority.TGA: "TGA",
    RegulatoryClearance.Authority.PMDA: "PMDA",
}


@register.filter(name="markdown")
def markdown_filter(text: str, under: int = 2) -> SafeString:
    """Vendor Markdown rendered and sanitized (see marketplace/markdown.py); its headings
    nest under the page's <h{under}> (`|markdown:3` inside an <h3> section)."""
    return render_markdown(text or "", under=int(under))


@register.filter
def csv_labels(value: str, kind: str) -> list[str]:
    """Labels of a denormalized comma-separated column ("cloud,on_premise" -> Cloud, On premise)."""
    labels = MODE_LABELS if kind == "mode" else PRICING_LABELS
    return [labels.get(item, item) for item in (value or "").split(",") if item]


@register.filter
def authority_short(authority: str) -> str:
    return AUTHORITY_SHORT.get(authority, authority)


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.2f}".strip()


@register.filter
def plan_price(plan: Plan) -> str:
    """What a plan costs, in words: "Free", "EUR 1,200.00 per year", "EUR 4.50 per study", "On quote"."""
    if plan.pricing_model == Plan.PricingModel.FREE:
        return "Free"
    if plan.pricing_model == Plan.PricingModel.QUOTE_ONLY or plan.price is None:
        return "Price on quote"
    price = _money(plan.price, plan.currency)
    if plan.pricing_model == Plan.PricingModel.USAGE:
        return f"{price} per {plan.usage_unit}" if plan.usage_unit else price
    if plan.billing_period == Plan.BillingPeriod.MONTH:
        return f"{price} per month"
    if plan.billing_period == Plan.BillingPeriod.YEAR:
        return f"{price} per year"
    return price


@register.filter
def join_list(values: Any, separator: str = ", ") -> str:
    """A JSON list field as text (autoescaped by the template like any string)."""
    if not values:
        return ""
    if isinstance(values, str):
        return values
    return separator.join(str(value) for value in values)
