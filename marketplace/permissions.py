"""Permission classes that work on the principal, never on `request.user` alone."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from marketplace.principal import get_principal


class IsAuthenticatedPrincipal(BasePermission):
    message = "Authentication credentials were not provided."

    def has_permission(self, request: Any, view: Any) -> bool:
        return get_principal(request).is_authenticated


class PublicReadOrAuthenticated(BasePermission):
    """Anyone may read; writing needs an authenticated principal."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or get_principal(request).is_authenticated

