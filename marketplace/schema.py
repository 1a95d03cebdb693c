"""OpenAPI: the kernel's authentication schemes, and the schema class that documents, on every
operation, the error answers it can give in the one error shape (marketplace/errors.py).

`AutoSchema` (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS) adds to each operation under /api/, next to
its success answer, the `Error` component for:

- 400 when the operation takes a body or query parameters, and on every POST, PUT or PATCH
  (services validate; a bad Idempotency-Key is a 400 too);
- 401 and 403 unless anyone may call it (public reads, the licensing keys, agent enrollment);
  403 also on every write (a public endpoint may still refuse a write);
- 404 on paths with a parameter (an object, or a parent such as an organization or a listing,
  that the caller cannot see is a 404) and on paginated lists (`?page=` past the end);
- 409 on POST, PUT, PATCH and DELETE (invalid transitions, conflicts, a key still in flight);
- 422 where the operation honours `Idempotency-Key` (the key reused with another body), and
  the `Idempotency-Key` header parameter itself;
- 429 with `Retry-After` everywhere a throttle applies (all of the API).

An answer these rules cannot infer (a public read that refuses some callers) is declared on the
view with `extend_schema(responses={..., **error_responses(403)})`.

Public reads also get the empty security requirement (`{}`), so clients and fuzzers know that
no credentials are needed. A URL or e-mail field that may be blank loses its `format`, and a
pattern of one also matches "" (the API sends "" there, which they would refuse).
tests/api/test_schema.py holds the schema to all of this; schemathesis holds the server to it.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import SAFE_METHODS, AllowAny

from marketplace.permissions import PublicReadOrAuthenticated


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "marketplace.authentication.ApiClientAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": {"api": "Act for the organization"}}},
        }


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "marketplace.authentication.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


ERROR_DETAIL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What went wrong. Some errors add context (e.g. `trial` naming the open trial).",
    "properties": {
        "code": {"type": "string", "description": "Machine-readable, e.g. `validation_error`, `not_found`."},
        "message": {"type": "string", "description": "For people."},
        "fields": {
            "type": "object",
            "description": "The fields at fault and their messages (dotted paths); empty when no field is.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "retry_after_seconds": {"type": "integer", "description": "On 429: how long to wait (as `Retry-After`)."},
    },
    "required": ["code", "message", "fields"],
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": 'The one error shape of the API: `{"error": {"code", "message", "fields"}}`.',
    "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
    "required": ["error"],
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `fields` names each field at fault.",
    "401": "No valid credentials.",
    "403": "The caller may not do this.",
    "404": "Not found, or not visible to the caller (on a list: a page past the last).",
    "409": "Conflict: an invalid state transition, a duplicate, or the same Idempotency-Key still in flight.",
    "422": "The Idempotency-Key was used before with another request body.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
}
RETRY_AFTER_HEADER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Your unique key for this request: repeating the same request with the same key within 24 hours "
        "returns the stored answer instead of doing it again."
    ),
)


BLANKABLE_FORMATS = {"uri": "A URL", "email": "An e-mail address"}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """For `extend_schema(responses=...)`: error answers this schema class would not infer (say a
    public read that refuses some callers: `**error_responses(403)`)."""
    return {code: OpenApiResponse(response=ERROR_REF, description=ERROR_DESCRIPTIONS[str(code)]) for code in codes}


@cache
def _uses_idempotency(handler: Any) -> bool:
    """Whether a view handler runs through `idempotent_create` (read from its source, so a new
    idempotent endpoint is documented without anyone remembering to)."""
    try:
        return "idempotent_create(" in inspect.getsource(handler)
    except (OSError, TypeError):  # pragma: no cover - built-ins have no source
        return False


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema plus the error answers and the Idempotency-Key header."""

    def _handler(self) -> Any:
        name = getattr(self.view, "action", None) or self.method.lower()
        return getattr(type(self.view), name, None)

    def is_idempotent(self) -> bool:
        from marketplace.idempotency import IdempotentCreateMixin

        if self.method != "POST":
            return False
        if isinstance(self.view, IdempotentCreateMixin) and getattr(self.view, "action", None) == "create":
            return True
        handler = self._handler()
        return handler is not None and _uses_idempotency(handler)

    def _permission_classes(self) -> list[type]:
        return [permission.__class__ for permission in self.view.get_permissions()]

    def is_public(self) -> bool:
        """Anyone may call it without credentials (it may still refuse a write: 403)."""
        permissions = self._permission_classes()
        if PublicReadOrAuthenticated in permissions:
            return self.method in SAFE_METHODS
        return AllowAny in permissions and not self._needs_own_credentials()

    def _needs_own_credentials(self) -> bool:
        """Views that check an `Authorization` header themselves (the site agent's)."""
        return any(
            isinstance(parameter, OpenApiParameter)
            and parameter.location == OpenApiParameter.HEADER
            and parameter.name.lower() == "authorization"
            and parameter.required
            for parameter in self.get_override_parameters()
        )

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.is_idempotent():
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    def get_auth(self) -> list[dict[str, Any]]:
        auths = super().get_auth()
        if self.is_public() and {} not in auths:
            auths.append({})
        return auths

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        """A URL or e-mail field that may be blank is a string that is a URL (e-mail) *or empty*:
        JSON Schema's `format` (and a `pattern`) would refuse the empty string the API sends."""
        super()._insert_field_validators(field, schema)
        if not getattr(field, "allow_blank", False) or schema.get("type") != "string":
            return
        if schema.get("format") in BLANKABLE_FORMATS:
            what = BLANKABLE_FORMATS[schema.pop("format")]
            schema["description"] = " ".join(filter(None, [schema.get("description", ""), f"{what}, or empty."]))
        if "pattern" in schema and not schema["pattern"].startswith("^$|"):
            schema["pattern"] = f"^$|{schema['pattern']}"  # the pattern, or empty

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None or not self.path.startswith("/api/"):
            return operation
        paginated = any(parameter.get("name") == "page" for parameter in operation.get("parameters", []))
        has_input = "requestBody" in operation or any(
            parameter.get("in") == "query" or parameter.get("name") == IDEMPOTENCY_KEY.name
            for parameter in operation.get("parameters", [])
        )
        error_ref = self._register_error_components()
        responses = operation["responses"]
        for code in self._error_codes(has_input=has_input, paginated=paginated):
            if code in responses:
                continue
            response: dict[str, Any] = {
                "description": ERROR_DESCRIPTIONS[code],
                "content": {"application/json": {"schema": error_ref}},
            }
            if code == "429":
                response["headers"] = RETRY_AFTER_HEADER
            responses[code] = response
        return operation

    def _error_codes(self, *, has_input: bool, paginated: bool) -> list[str]:
        writes = self.method in ("POST", "PUT", "PATCH", "DELETE")
        codes: list[str] = []
        if has_input or self.method in ("POST", "PUT", "PATCH"):
            codes.append("400")
        if not self.is_public():
            codes += ["401", "403"]
        elif writes:
            codes.append("403")
        if "{" in self.path or paginated:
            codes.append("404")
        if writes:
            codes.append("409")
        if self.is_idempotent():
            codes.append("422")
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _register_error_components(self) -> dict[str, str]:
        detail = ResolvedComponent(
            name="ErrorDetail", type=ResolvedComponent.SCHEMA, object="marketplace.errors.ErrorDetail"
        )
        detail.schema = ERROR_DETAIL_SCHEMA
        self.registry.register_on_missing(detail)
        error = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="marketplace.errors.Error")
        error.schema = ERROR_SCHEMA
        self.registry.register_on_missing(error)
        return error.ref
