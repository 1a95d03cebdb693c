"""Template helpers of the buying pages: amounts of money and star ratings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "") -> str:
    """`EUR 2,500.50`; an empty string for no amount."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    return f"{currency} {value:,.2f}".strip()


@register.filter
def stars(rating: Any) -> str:
    """ "★★★★☆" for 4 (or 4.2): decoration only; templates say the number in words next to it."""
    try:
        full = max(0, min(5, int(Decimal(str(rating)).quantize(Decimal("1")))))
    except (InvalidOperation, ValueError, TypeError):
        return ""
    return "★" * full + "☆" * (5 - full)


@register.filter
def rating_number(average: Any) -> str:
    """4.50 -> "4.5", 4.00 -> "4"."""
    if average is None:
        return ""
    return f"{Decimal(str(average)).quantize(Decimal('0.1')).normalize():f}"
