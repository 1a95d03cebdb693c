"""The served OpenAPI schema is a product: valid, complete (every path and method of the URLconf
under /api/v1/), and honest about errors (every operation documents its success answer and the
error answers it can give, in the one error shape, which real error answers match)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec
from rest_framework.test import APIClient

from tests.conftest import Party

pytestmark = pytest.mark.django_db

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def schema(anonymous_api: APIClient) -> dict[str, Any]:
    response = anonymous_api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return response.json()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in sorted(schema["paths"].items())
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


# --- the URLconf, read independently of drf-spectacular ----------------------------------------


def _regex_to_template(regex: str) -> str:
    """`^trials/(?P<id>[^/.]+)/approve/$` -> `trials/{id}/approve/` (groups may nest braces)."""
    regex = regex.removeprefix("^").removesuffix("$").removesuffix("\\Z")
    out, i = [], 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            end_name = regex.index(">", i)
            name = regex[i + 4 : end_name]
            depth, j = 1, end_name + 1
            while depth:
                depth += {"(": 1, ")": -1}.get(regex[j], 0) if regex[j - 1] != "\\" else 0
                j += 1
            out.append("{" + name + "}")
            i = j
        else:
            out.append(regex[i].replace("\\", ""))
            i += 1
    return "".join(out)


def _route_to_template(route: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def _template(pattern: Any) -> str:
    regex = getattr(pattern, "_regex", None)
    if regex is not None and not hasattr(pattern, "_route"):
        return _regex_to_template(regex)
    return _route_to_template(str(pattern))


def _methods(callback: Any) -> set[str]:
    actions = getattr(callback, "actions", None)
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    allowed = set(getattr(view_class, "http_method_names", HTTP_METHODS))
    if actions is not None:  # a viewset route: method -> action, where the viewset has it
        return {m for m, action in actions.items() if m in allowed and hasattr(view_class, action)} & set(HTTP_METHODS)
    return {m for m in HTTP_METHODS if m in allowed and hasattr(view_class, m)}


def urlconf_api_paths() -> dict[str, set[str]]:
    """Every route of the URLconf under /api/v1/ as an OpenAPI path template and its methods."""
    found: dict[str, set[str]] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            here = prefix + _template(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, here)
            elif isinstance(entry, URLPattern) and here.startswith("/api/v1/"):
                assert "{format}" not in here, here  # no format-suffix routes
                found.setdefault(here, set()).update(_methods(entry.callback))

    walk(get_resolver().url_patterns, "/")
    return found


# --- validity ---------------------------------------------------------------------------------


def test_the_served_schema_validates_with_openapi_spec_validator(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.0")
    validate_spec(schema)  # raises OpenAPIValidationError on anything the specification refuses


def test_the_schema_generates_without_warnings(tmp_path: Any) -> None:
    """`manage.py spectacular --validate --fail-on-warn` stays clean."""
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.stat().st_size > 10_000


def test_operation_ids_are_unique_and_tagged_by_resource(schema: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if i.startswith("v1_")], "SCHEMA_PATH_PREFIX strips /api/v1"
    tags = {tag for _, _, operation in operations(schema) for tag in operation["tags"]}
    assert {"apps", "trials", "deployments", "webhooks", "events", "organizations"} <= tags


# --- completeness -----------------------------------------------------------------------------


def test_the_walker_reads_every_kind_of_route() -> None:
    paths = urlconf_api_paths()
    assert paths["/api/v1/trials/{id}/approve/"] == {"post"}  # a router action
    assert paths["/api/v1/organizations/{organization_slug}/sites/{id}/"] == {"get", "patch", "delete"}  # nested
    assert paths["/api/v1/agent/bundles/{id}/download/"] == {"get"}  # a path() with a converter
    assert "/api/v1/apps/{listing_slug}/versions/{id}/artifacts/{artifact}/download/" in paths  # braces in regex


def test_every_api_path_and_method_of_the_urlconf_is_in_the_schema(schema: dict[str, Any]) -> None:
    in_urlconf = urlconf_api_paths()
    assert len(in_urlconf) > 80
    documented = {path: {m for m in item if m in HTTP_METHODS} for path, item in schema["paths"].items()}
    missing = sorted(set(in_urlconf) - set(documented))
    assert not missing, f"paths served but not in the schema: {missing}"
    wrong = {p: (sorted(in_urlconf[p]), sorted(documented[p])) for p in in_urlconf if in_urlconf[p] != documented[p]}
    assert not wrong, f"methods served vs documented: {wrong}"
    extra = sorted(p for p in documented if p not in in_urlconf)
    assert not extra, f"documented but not served: {extra}"


# --- responses --------------------------------------------------------------------------------


def test_every_operation_documents_its_success_answer(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        successes = [code for code in operation["responses"] if code.startswith("2")]
        assert len(successes) == 1, (method, path, list(operation["responses"]))
        answer = operation["responses"][successes[0]]
        if successes[0] != "204":
            assert answer.get("content"), (method, path, "success without a body schema")


def _expected_errors(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    parameters = operation.get("parameters", [])
    public = {} in operation.get("security", [{}]) and not any(
        p["in"] == "header" and p["name"] == "Authorization" and p.get("required") for p in parameters
    )
    has_input = "requestBody" in operation or any(
        p["in"] == "query" or p["name"] == "Idempotency-Key" for p in parameters
    )
    writes = method in ("post", "put", "patch", "delete")
    expected = {"429"}
    if has_input or method in ("post", "put", "patch"):
        expected.add("400")
    if not public:
        expected |= {"401", "403"}
    elif writes:
        expected.add("403")
    if "{" in path or any(p["name"] == "page" for p in parameters):
        expected.add("404")
    if writes:
        expected.add("409")
    if any(p["name"] == "Idempotency-Key" for p in parameters):
        expected.add("422")
    return expected


def test_every_operation_documents_the_errors_it_can_give_in_the_error_shape(schema: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(schema):
        documented = {code for code in operation["responses"] if code[0] in "45"}
        expected = _expected_errors(path, method, operation)
        if not expected <= documented:
            problems.append((method, path, "missing", sorted(expected - documented)))
        for code in documented:
            content = operation["responses"][code].get("content", {})
            if content.get("application/json", {}).get("schema") != ERROR_REF:
                problems.append((method, path, code, "not the Error shape"))
        if "429" in documented:
            assert "Retry-After" in operation["responses"]["429"].get("headers", {}), (method, path)
    assert not problems, problems


def test_the_error_component_is_the_one_error_shape(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert components["Error"]["required"] == ["error"]
    assert components["Error"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    detail = components["ErrorDetail"]
    assert detail["required"] == ["code", "message", "fields"]
    assert detail["properties"]["fields"]["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_public_reads_need_no_credentials_and_the_rest_do(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    assert {} in paths["/api/v1/apps/"]["get"]["security"]
    assert {} in paths["/api/v1/apps/{slug}/"]["get"]["security"]
    assert {} not in paths["/api/v1/apps/"]["post"]["security"]
    assert {} not in paths["/api/v1/trials/"]["get"]["security"]
    assert "security" not in paths["/api/v1/licensing/public-key/"]["get"]  # no credentials at all
    assert "401" in paths["/api/v1/agent/heartbeat/"]["post"]["responses"]  # its own Agent credential


def test_idempotency_key_is_documented_exactly_where_it_is_honoured(schema: dict[str, Any]) -> None:
    with_key = sorted(
        f"{method} {path}"
        for path, method, operation in operations(schema)
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    )
    assert "post /api/v1/trials/" in with_key and "post /api/v1/quotes/{id}/accept/" in with_key
    assert "post /api/v1/trials/{id}/approve/" not in with_key
    assert all(entry.startswith("post ") for entry in with_key), with_key


def test_the_catalog_search_answer_is_one_page_with_facets(schema: dict[str, Any]) -> None:
    answer = schema["paths"]["/api/v1/apps/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/ListingSearchPage"}
    page = schema["components"]["schemas"]["ListingSearchPage"]
    assert {"count", "next", "previous", "results", "facets"} <= set(page["properties"])
    from apps.catalog.search import ORDERINGS

    ordering = next(p for p in schema["paths"]["/api/v1/apps/"]["get"]["parameters"] if p["name"] == "ordering")
    assert set(ordering["schema"]["enum"]) == set(ORDERINGS)  # `rating` was missing


# --- real answers match the documented shapes ----------------------------------------------------


def _validator(schema: dict[str, Any], ref: str) -> OAS30Validator:
    """A validator of one component, with the schema's components beside it for `$ref`s."""
    return OAS30Validator({"$ref": ref, "components": schema["components"]})


def test_real_error_answers_match_the_error_component(
    schema: dict[str, Any], st_mary: Party, anonymous_api: APIClient
) -> None:
    validator = _validator(schema, "#/components/schemas/Error")
    reader = st_mary.api("client:read_only")
    answers = {
        400: st_mary.api("client:admin").post("/api/v1/organizations/st-marys/sites/", {"name": ""}, format="json"),
        401: anonymous_api.get("/api/v1/trials/"),
        403: reader.post("/api/v1/organizations/st-marys/sites/", {"name": "X"}, format="json"),
        404: reader.get("/api/v1/trials/00000000-0000-4000-8000-000000000000/"),
        405: reader.delete("/api/v1/trials/"),
    }
    for status, response in answers.items():
        assert response.status_code == status, (status, response.content[:300])
        body = response.json()
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, (status, body, [e.message for e in errors])
    assert answers[400].json()["error"]["fields"]["name"]


# --- regressions: answers schemathesis found out of line with the schema --------------------------


def assert_conforms(schema: dict[str, Any], method: str, template: str, response: Any) -> None:
    """The answer's status and content type are documented for the operation, and a JSON body
    validates (formats included) against the documented schema."""
    operation = schema["paths"][template][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, (method, template, response.status_code, sorted(operation["responses"]))
    content_type = response["Content-Type"].split(";")[0]
    assert content_type in documented.get("content", {}), (method, template, content_type)
    if content_type == "application/json":
        body_schema = documented["content"][content_type]["schema"]
        validator = OAS30Validator(
            {**body_schema, "components": schema["components"]}, format_checker=OAS30Validator.FORMAT_CHECKER
        )
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(response.json())]
        assert not errors, (method, template, errors)


def test_blank_urls_emails_and_patterned_strings_conform(
    schema: dict[str, Any], st_mary: Party, anonymous_api: APIClient
) -> None:
    """A blank `website`, `country` or `currency` is "" in the answer: the schema must allow it
    (it said `format: uri` and `pattern: ^[A-Z]{2}$`, which refuse "")."""
    from apps.catalog.models import Plan
    from apps.organizations.models import Organization
    from tests.catalog.factories import publish_listing

    Organization.objects.filter(pk=st_mary.organization.pk).update(website="", contact_email="", country="")
    admin = st_mary.api("client:admin")
    assert_conforms(
        schema, "get", "/api/v1/organizations/{slug}/", anonymous_api.get("/api/v1/organizations/st-marys/")
    )
    assert_conforms(schema, "get", "/api/v1/organizations/{slug}/", admin.get("/api/v1/organizations/st-marys/"))
    site = admin.post("/api/v1/organizations/st-marys/sites/", {"name": "Annex", "country": ""}, format="json")
    assert_conforms(schema, "post", "/api/v1/organizations/{organization_slug}/sites/", site)
    listing = publish_listing(offerings=[("cloud", "quote_only")])
    Plan.objects.filter(offering__listing=listing).update(price=None, currency="")  # quote only: no price
    plans = anonymous_api.get(f"/api/v1/apps/{listing.slug}/plans/")
    assert plans.json()["results"][0]["currency"] == ""
    assert_conforms(schema, "get", "/api/v1/apps/{listing_slug}/plans/", plans)


def test_what_an_api_client_created_conforms(schema: dict[str, Any], st_mary: Party) -> None:
    """Invitations and API clients made by an API client have no person as `invited_by` /
    `created_by`: null, which the schema must allow."""
    admin = st_mary.api("client:admin")
    invitation = admin.post("/api/v1/organizations/st-marys/invitations/", {"email": "new@st-marys.example"})
    assert invitation.json()["invited_by"] is None
    assert_conforms(schema, "post", "/api/v1/organizations/{organization_slug}/invitations/", invitation)
    client = admin.post("/api/v1/organizations/st-marys/api-clients/", {"name": "Sync", "role": "member"})
    assert client.json()["created_by"] is None
    assert_conforms(schema, "post", "/api/v1/organizations/{organization_slug}/api-clients/", client)


def test_the_search_answer_and_a_page_past_the_end_conform(schema: dict[str, Any], anonymous_api: APIClient) -> None:
    """The search answer was documented as a page of pages; `?page=0` answers 404 (documented)."""
    assert_conforms(schema, "get", "/api/v1/apps/", anonymous_api.get("/api/v1/apps/"))
    assert_conforms(schema, "get", "/api/v1/apps/", anonymous_api.get("/api/v1/apps/", {"page": 0}))
    assert_conforms(schema, "get", "/api/v1/categories/", anonymous_api.get("/api/v1/categories/", {"page": 9}))


def test_a_trial_before_its_deployment_is_active_conforms(
    schema: dict[str, Any], st_mary: Party, radiant: Party
) -> None:
    """The trial's deployment has `tenant_url` "" until it is active (documented as a URL)."""
    from tests.procurement.factories import approve, request_trial, trial_listing

    trial = approve(request_trial(st_mary.organization, trial_listing(radiant.organization)))
    answer = st_mary.api("client:member").get(f"/api/v1/trials/{trial.public_id}/")
    assert answer.json()["deployment"]["tenant_url"] == ""
    assert_conforms(schema, "get", "/api/v1/trials/{id}/", answer)


def test_downloads_answer_with_a_documented_content_type(
    schema: dict[str, Any], radiant: Party, anonymous_api: APIClient
) -> None:
    """A document is served with its own type (application/pdf, ...), and a customer asking for an
    artifact from the catalog gets 403: both were undocumented."""
    from tests.catalog.factories import VersionFactory, add_document, publish_listing, upload, vendor_principal

    listing = publish_listing(vendor=radiant.organization)
    document = add_document(listing)
    download = anonymous_api.get(f"/api/v1/apps/{listing.slug}/documents/{document.public_id}/download/")
    assert download["Content-Type"] == "application/pdf"
    assert_conforms(schema, "get", "/api/v1/apps/{listing_slug}/documents/{id}/download/", download)
    from apps.catalog import services as catalog_services

    version = VersionFactory(listing=listing)
    artifact = catalog_services.artifact_add(
        version=version,
        actor=vendor_principal(radiant.organization),
        kind="installer",
        upload=upload("setup.zip", b"PK\x05\x06" + b"\x00" * 18),
    )
    url = f"/api/v1/apps/{listing.slug}/versions/{version.public_id}/artifacts/{artifact.public_id}/download/"
    template = "/api/v1/apps/{listing_slug}/versions/{id}/artifacts/{artifact}/download/"
    assert_conforms(schema, "get", template, anonymous_api.get(url))
    assert_conforms(schema, "get", template, radiant.api("client:member").get(url))
