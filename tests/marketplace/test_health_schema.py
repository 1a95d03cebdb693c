"""Health endpoints, the OpenAPI schema and the browsable docs (served without a CDN)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

ORGANIZATIONS_PATHS = {
    "/api/v1/organizations/": {"get", "post"},
    "/api/v1/organizations/{slug}/": {"get", "patch"},
    "/api/v1/organizations/{slug}/verify/": {"post"},
    "/api/v1/organizations/{organization_slug}/members/": {"get"},
    "/api/v1/organizations/{organization_slug}/members/{id}/": {"get", "patch", "delete"},
    "/api/v1/organizations/{organization_slug}/invitations/": {"get", "post"},
    "/api/v1/organizations/{organization_slug}/invitations/{id}/": {"get", "delete"},
    "/api/v1/organizations/{organization_slug}/sites/": {"get", "post"},
    "/api/v1/organizations/{organization_slug}/sites/{id}/": {"get", "patch", "delete"},
    "/api/v1/organizations/{organization_slug}/api-clients/": {"get", "post"},
    "/api/v1/organizations/{organization_slug}/api-clients/{id}/": {"get", "delete"},
    "/api/v1/organizations/{organization_slug}/api-clients/{id}/revoke/": {"post"},
    "/api/v1/audit-log/": {"get"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def schema(anonymous_api: APIClient) -> dict[str, Any]:
    response = anonymous_api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_healthz_answers(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ready_on_the_embedded_defaults(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "storage": True,
    }


def test_health_endpoints_only_answer_reads(anonymous_api: APIClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = anonymous_api.post(path)
        assert_error(response, 405, code="method_not_allowed")
        assert response["Allow"] == "GET, HEAD"
        assert anonymous_api.head(path).status_code == 200


def test_the_schema_is_valid_openapi_3(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on anything the OpenAPI 3 JSON schema refuses
    assert schema["info"]["version"] == "1.0.0"


def test_the_schema_has_every_path_of_the_organizations_api(schema: dict[str, Any]) -> None:
    for path, methods in ORGANIZATIONS_PATHS.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]) & HTTP_METHODS, (path, set(schema["paths"][path]))


def test_the_schema_declares_oauth2_client_credentials(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    flow = schemes["oauth2"]["flows"]["clientCredentials"]
    assert schemes["oauth2"]["type"] == "oauth2" and flow["tokenUrl"] == "/o/token/"
    assert schemes["session"] == {"type": "apiKey", "in": "cookie", "name": "sessionid"}
    operation = schema["paths"]["/api/v1/organizations/{organization_slug}/sites/"]["get"]
    assert {"oauth2": ["api"]} in operation["security"] or {"oauth2": []} in operation["security"]


def test_the_schema_does_not_show_the_secret_outside_the_create_answer(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    listed = [name for name, component in components.items() if "client_secret" in component.get("properties", {})]
    assert listed and all("Created" in name for name in listed), listed


def test_the_docs_load_nothing_from_a_cdn(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for cdn in ("cdn", "unpkg", "jsdelivr", "cloudflare", "googleapis"):
        assert cdn not in html.lower(), cdn

    sources = re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"([^\"]+)\"", html)
    assert sources, html
    for source in sources:
        assert source.startswith("/") and not source.startswith("//"), source  # same origin
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline scripts would need 'unsafe-inline'"

    script = anonymous_api.get("/api/docs/", {"script": ""})
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/?format=json", "/api/v1/organizations/", "/healthz"])
def test_responses_carry_a_strict_content_security_policy(anonymous_api: APIClient, path: str) -> None:
    response = anonymous_api.get(path)
    policy = response["Content-Security-Policy"]
    directives = dict([*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip())
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
