"""Scoping in one place: every API queryset starts from what the principal may see.

Organization-owned models declare `tenant_fields = ("organization",)`; two-party models
(trials, quotes, orders, subscriptions, licenses, deployments) declare
`tenant_fields = ("provider", "vendor")`. Anyone else's object answers 404.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.db.models import Model, Q, QuerySet

from marketplace.principal import Principal, get_principal


def scope_queryset(queryset: QuerySet, principal: Principal) -> QuerySet:
    """Restrict `queryset` to the rows the principal's organization is a party to.

    Operators see everything; a principal without an organization sees nothing."""
    if principal.is_operator:
        return queryset
    if principal.organization is None:
        return queryset.none()
    fields: tuple[str, ...] = getattr(queryset.model, "tenant_fields", ())
    if not fields:
        raise TypeError(f"{queryset.model.__name__} declares no tenant_fields; it cannot be scoped")
    condition = Q()
    for field in fields:
        condition |= Q(**{field: principal.organization})
    return queryset.filter(condition)


def party_side(obj: Model, principal: Principal) -> str | None:
    """Which tenant field of `obj` the principal's organization fills ("provider", "vendor",
    "organization"), or None."""
    if principal.organization is None:
        return None
    for field in getattr(obj, "tenant_fields", ()):
        if getattr(obj, f"{field}_id", None) == principal.organization.pk:
            return field
    return None


class ScopedViewSetMixin:
    """For viewsets: `get_queryset()` = `scope_queryset(get_base_queryset())`; lookups by public id."""

    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    request: Any

    @cached_property
    def principal(self) -> Principal:
        return get_principal(self.request)

    def get_base_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        return scope_queryset(self.get_base_queryset(), self.principal)
