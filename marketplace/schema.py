"""OpenAPI extensions for the kernel's authentication classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
