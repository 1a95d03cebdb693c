"""Shared fixtures: named example organizations and people, API clients for every role."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.organizations.models import ApiClient, Organization
from apps.organizations.services import api_client_create
from marketplace.principal import SYSTEM
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, VendorFactory


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Every test starts with an empty cache: throttling, lock-out and limit counters must not
    carry over from one test to the next."""
    from django.core.cache import cache

    cache.clear()


SERVICES = bool(os.environ.get("DATABASE_URL")) and os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_services = pytest.mark.skip(reason="needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis)")
    require_browser = os.environ.get("REQUIRE_BROWSER") == "1"
    skip_browser = pytest.mark.skip(reason="chromium is not installed (set REQUIRE_BROWSER=1 to fail instead)")
    for item in items:
        if "services" in item.keywords and not SERVICES:
            item.add_marker(skip_services)
        if "browser" in item.keywords and not shutil.which("chromium") and not require_browser:
            item.add_marker(skip_browser)


@dataclass
class Party:
    """An organization with an admin, a member and API clients of each role."""

    organization: Organization
    admin: Any
    member: Any
    clients: dict[str, tuple[ApiClient, str]]

    def api(self, who: str = "admin") -> APIClient:
        """An API client authenticated as `admin`/`member` (session) or `client:<role>` (token)."""
        api = APIClient()
        if who.startswith("client:"):
            client, _secret = self.clients[who.split(":", 1)[1]]
            api.force_authenticate(user=None)
            token = _token_for(client)
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        else:
            api.force_login(getattr(self, who))
        return api


def _token_for(client: ApiClient) -> str:
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model
    from oauthlib.common import generate_token

    token = get_access_token_model().objects.create(
        application=client, token=generate_token(), expires=timezone.now() + timedelta(hours=1), scope="api"
    )
    return token.token


def _party(organization: Organization) -> Party:
    admin = MembershipFactory(organization=organization, role="admin").user
    member = MembershipFactory(organization=organization, role="member").user
    clients = {
        role: api_client_create(organization=organization, name=f"{role} client", role=role, actor=SYSTEM)
        for role in ("read_only", "member", "admin")
    }
    return Party(organization=organization, admin=admin, member=member, clients=clients)


@pytest.fixture
def st_mary(db: None) -> Party:
    """A provider: St. Mary's hospital group."""
    return _party(OrganizationFactory(name="St. Mary's Hospital Group", slug="st-marys", kind="provider"))


@pytest.fixture
def northside(db: None) -> Party:
    """Another provider that must never see St. Mary's data."""
    return _party(OrganizationFactory(name="Northside Clinics", slug="northside", kind="provider"))


@pytest.fixture
def radiant(db: None) -> Party:
    """A vendor: Radiant AI, maker of imaging software."""
    return _party(VendorFactory(name="Radiant AI", slug="radiant-ai"))


@pytest.fixture
def operator(db: None) -> Any:
    return UserFactory(email="operator@platform.example", is_staff=True)


@pytest.fixture
def operator_api(operator: Any) -> APIClient:
    api = APIClient()
    api.force_login(operator)
    return api


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


@pytest.fixture
def user_factory() -> Callable[..., Any]:
    return UserFactory


def assert_error(response: Any, status: int, *, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    """Assert the one error shape, the status, and optionally the code and a named field."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "fields"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert field in error["fields"], error
    return error
