"""Authentication: OAuth2 client-credentials tokens act for the organization owning the client.

django-oauth-toolkit leaves `request.user` as None for client-credentials tokens; here the token
becomes an `ApiClientIdentity`, so `IsAuthenticated` holds and nothing dereferences None.
"""

from __future__ import annotations

from typing import Any

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import authentication
from rest_framework.request import Request


class ApiClientIdentity:
    """Stands in for `request.user` when an API client (no person) is calling."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def __str__(self) -> str:
        return f"api client {self.api_client.name}"

    def has_perm(self, *args: Any, **kwargs: Any) -> bool:
        return False


class ApiClientAuthentication(OAuth2Authentication):
    """Bearer tokens from `POST /o/token/` (client credentials)."""

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        application = token.application
        if application is None or not application.is_usable(request):
            return None
        if user is None:
            return ApiClientIdentity(application), token
        return user, token


class SessionAuthentication(authentication.SessionAuthentication):
    """People in the web UI and the API, with CSRF protection on unsafe methods."""
