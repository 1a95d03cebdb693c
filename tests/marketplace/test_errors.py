"""One error shape for every status the API answers, and never a traceback."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from rest_framework.test import APIClient

from apps.organizations.api import views as organization_views
from apps.organizations.models import Site
from marketplace import health
from marketplace.throttling import AddressRateThrottle, PrincipalRateThrottle
from tests.conftest import Party, assert_error

pytestmark = pytest.mark.django_db


def sites_url(party: Party) -> str:
    return f"/api/v1/organizations/{party.organization.slug}/sites/"


# A test-only URLconf: the project's URLs plus a plain Django view that fails.
def _plain_view_that_fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret-internal-detail: password=hunter2")


def _urlpatterns() -> list[Any]:
    from config.urls import urlpatterns

    return [path("api/v1/test-only/boom/", _plain_view_that_fails), *urlpatterns]


urlpatterns = _urlpatterns()
handler404 = "marketplace.errors.json_or_html_404"
handler500 = "marketplace.errors.json_or_html_500"


def test_400_names_the_field(st_mary: Party) -> None:
    error = assert_error(
        st_mary.api("admin").post(sites_url(st_mary), {"kind": "castle"}), 400, code="validation_error"
    )
    assert set(error["fields"]) == {"name", "kind"}
    assert "kind" in error["message"] and "name" in error["message"]


def test_400_for_malformed_json(st_mary: Party) -> None:
    response = st_mary.api("admin").post(sites_url(st_mary), '{"name": ', content_type="application/json")
    assert_error(response, 400, code="parse_error")


def test_null_characters_are_refused_before_any_lookup(st_mary: Party, anonymous_api: APIClient) -> None:
    """PostgreSQL text cannot hold NUL: looking one up was a 500 there (a slug, a client_id)."""
    assert_error(anonymous_api.get("/api/v1/organizations/st%00marys/"), 400, code="validation_error")
    assert_error(anonymous_api.get("/api/v1/organizations/", {"q": "st\x00mary"}), 400, code="validation_error")
    client, secret = st_mary.clients["admin"]
    body = urlencode(
        {"grant_type": "client_credentials", "client_id": f"{client.client_id}\x00", "client_secret": secret}
    )
    response = anonymous_api.post("/o/token/", body, content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, code="validation_error")
    # JSON bodies are checked field by field.
    response = st_mary.api("admin").post(sites_url(st_mary), {"name": "Cent\x00ral"}, format="json")
    assert_error(response, 400, field="name")


def test_401_for_nobody_signed_in(anonymous_api: APIClient, st_mary: Party) -> None:
    response = anonymous_api.get(sites_url(st_mary))
    assert_error(response, 401, code="not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_401_for_an_unknown_bearer_token(st_mary: Party) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_error(api.get(sites_url(st_mary)), 401)


def test_403_for_the_wrong_role(st_mary: Party) -> None:
    assert_error(st_mary.api("member").post(sites_url(st_mary), {"name": "Central"}), 403, code="permission_denied")


def test_403_for_a_session_write_without_the_csrf_token(st_mary: Party) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(st_mary.admin)
    assert_error(browser.post(sites_url(st_mary), {"name": "Central"}, format="json"), 403, code="permission_denied")
    assert not Site.objects.exists()
    # Bearer tokens are not cookies: no CSRF token is needed.
    assert st_mary.api("client:admin").post(sites_url(st_mary), {"name": "Central"}).status_code == 201


def test_404_for_an_unknown_api_path(st_mary: Party, anonymous_api: APIClient) -> None:
    assert_error(anonymous_api.get("/api/v1/no-such-thing/"), 404, code="not_found")
    assert_error(st_mary.api("admin").post("/api/v1/no-such-thing/", {"a": 1}), 404, code="not_found")


def test_404_for_an_unknown_object(st_mary: Party) -> None:
    api = st_mary.api("admin")
    assert_error(api.get(f"{sites_url(st_mary)}00000000-0000-4000-8000-000000000000/"), 404, code="not_found")
    assert_error(api.get(f"{sites_url(st_mary)}not-a-uuid/"), 404, code="not_found")
    assert_error(api.get("/api/v1/organizations/no-such-org/sites/"), 404, code="not_found")


def test_405_for_a_method_the_endpoint_does_not_offer(st_mary: Party) -> None:
    response = st_mary.api("admin").put("/api/v1/organizations/st-marys/", {"name": "x"})
    assert_error(response, 405, code="method_not_allowed")
    assert_error(st_mary.api("admin").post("/api/v1/audit-log/", {}), 405, code="method_not_allowed")


def test_406_for_an_unsupported_accept_header(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/api/v1/organizations/", HTTP_ACCEPT="application/xml")
    assert_error(response, 406, code="not_acceptable")


def test_413_for_a_body_over_the_limit(st_mary: Party, settings: Any) -> None:
    body = json.dumps({"name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = st_mary.api("admin").post(sites_url(st_mary), body, content_type="application/json")
    assert_error(response, 413, code="request_too_large")
    assert not Site.objects.exists()


def test_413_even_before_authentication(anonymous_api: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = anonymous_api.post("/api/v1/organizations/", {"name": "x" * 2048}, format="json")
    assert_error(response, 413, code="request_too_large")


def test_415_for_a_body_that_is_not_json(st_mary: Party) -> None:
    response = st_mary.api("admin").post(sites_url(st_mary), "name=Central", content_type="text/plain")
    assert_error(response, 415, code="unsupported_media_type")
    assert not Site.objects.exists()


@pytest.fixture
def tiny_rate(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two requests a minute per address (DRF reads rates when the class is created)."""
    monkeypatch.setattr(AddressRateThrottle, "rate", "2/min", raising=False)
    cache.clear()
    yield
    cache.clear()


def test_429_with_retry_after(anonymous_api: APIClient, tiny_rate: None) -> None:
    assert anonymous_api.get("/api/v1/organizations/").status_code == 200
    assert anonymous_api.get("/api/v1/organizations/").status_code == 200
    response = anonymous_api.get("/api/v1/organizations/")
    error = assert_error(response, 429, code="throttled")
    assert 0 < int(response["Retry-After"]) <= 61  # the window is a minute (rounded up)
    assert error["retry_after_seconds"] == int(response["Retry-After"])


def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(anonymous_api: APIClient, tiny_rate: None) -> None:
    # No trusted proxy is configured: the header is the caller's own claim, not its address.
    for forged in ("198.51.100.1", "198.51.100.2"):
        assert anonymous_api.get("/api/v1/organizations/", HTTP_X_FORWARDED_FOR=forged).status_code == 200
    response = anonymous_api.get("/api/v1/organizations/", HTTP_X_FORWARDED_FOR="198.51.100.3")
    assert_error(response, 429, code="throttled")


def test_429_per_principal(st_mary: Party, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PrincipalRateThrottle, "rate", "1/min", raising=False)
    cache.clear()
    try:
        api = st_mary.api("client:read_only")
        assert api.get(sites_url(st_mary)).status_code == 200
        assert_error(api.get(sites_url(st_mary)), 429, code="throttled")
        # Another principal from the same address is not held back by it.
        assert st_mary.api("client:member").get(sites_url(st_mary)).status_code == 200
    finally:
        cache.clear()


def test_exempt_clients_are_not_throttled(st_mary: Party, monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setattr(PrincipalRateThrottle, "rate", "1/min", raising=False)
    monkeypatch.setattr(AddressRateThrottle, "rate", "1/min", raising=False)
    client, _secret = st_mary.clients["read_only"]
    settings.MARKETPLACE_THROTTLE_EXEMPT_CLIENTS = [client.client_id]
    cache.clear()
    try:
        api = st_mary.api("client:read_only")
        assert all(api.get(sites_url(st_mary)).status_code == 200 for _ in range(3))
    finally:
        cache.clear()


def test_503_when_readiness_fails(anonymous_api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broker_down() -> None:
        raise ConnectionRefusedError("redis://broker:6379 refused the connection")

    monkeypatch.setitem(health.CHECKS, "broker", broker_down)
    response = anonymous_api.get("/readyz")
    error = assert_error(response, 503, code="dependency_unavailable", field="broker")
    assert response["Retry-After"]
    assert error["checks"]["broker"] == {"ok": False, "error": "ConnectionRefusedError"}
    assert error["checks"]["database"]["ok"] is True
    assert "6379" not in response.content.decode()  # no connection details leak


def test_503_when_the_readiness_broker_setting_is_broken(
    anonymous_api: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from config.celery_app import app

    broken = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", broken)
    monkeypatch.setitem(app.conf, "broker_url", broken)
    settings.CELERY_BROKER_URL = broken
    assert_error(anonymous_api.get("/readyz"), 503, code="dependency_unavailable", field="broker")


def test_503_when_the_database_fails_inside_a_request(st_mary: Party, monkeypatch: pytest.MonkeyPatch) -> None:
    def database_gone(**kwargs: Any) -> Any:
        raise OperationalError("could not connect to server at 10.0.0.5")

    monkeypatch.setattr(organization_views.services, "site_create", database_gone)
    response = st_mary.api("admin").post(sites_url(st_mary), {"name": "Central"})
    assert_error(response, 503, code="dependency_unavailable")
    assert response["Retry-After"]
    assert "10.0.0.5" not in response.content.decode()


def test_500_in_an_api_view_shows_no_traceback(st_mary: Party, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(**kwargs: Any) -> Any:
        raise KeyError("secret-internal-detail")

    monkeypatch.setattr(organization_views.services, "site_create", crash)
    response = st_mary.api("admin").post(sites_url(st_mary), {"name": "Central"})
    assert_error(response, 500, code="server_error")
    text = response.content.decode()
    assert "Traceback" not in text and "secret-internal-detail" not in text and "KeyError" not in text


@pytest.mark.urls(__name__)
def test_500_outside_drf_shows_no_traceback(db: None) -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/test-only/boom/")
    assert_error(response, 500, code="server_error")
    text = response.content.decode()
    assert "Traceback" not in text and "hunter2" not in text and "RuntimeError" not in text


def test_request_id_is_echoed(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/api/v1/organizations/", HTTP_X_REQUEST_ID="integrator-trace-42")
    assert response["X-Request-ID"] == "integrator-trace-42"
    # On errors too.
    assert anonymous_api.get("/api/v1/nothing/", HTTP_X_REQUEST_ID="trace-43")["X-Request-ID"] == "trace-43"


def test_request_id_is_generated_when_missing_or_unsafe(anonymous_api: APIClient) -> None:
    generated = anonymous_api.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    unsafe = anonymous_api.get("/healthz", HTTP_X_REQUEST_ID="evil\r\nSet-Cookie: x=1")["X-Request-ID"]
    assert unsafe != "evil\r\nSet-Cookie: x=1" and len(unsafe) == 32
    assert anonymous_api.get("/healthz", HTTP_X_REQUEST_ID="x" * 65)["X-Request-ID"] != "x" * 65
