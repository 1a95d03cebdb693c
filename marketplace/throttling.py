"""Per-principal and per-address rate limits (429 with Retry-After).

Benchmarks and load tests are exempted by listing their client ids in
MARKETPLACE_THROTTLE_EXEMPT_CLIENTS (docs/configuration.md), never by turning throttling off.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from marketplace.principal import get_principal


def _exempt(request: Any) -> bool:
    principal = get_principal(request)
    client = principal.api_client
    return client is not None and client.client_id in settings.MARKETPLACE_THROTTLE_EXEMPT_CLIENTS


class PrincipalRateThrottle(SimpleRateThrottle):
    """Limits each authenticated principal (member, API client, operator, agent)."""

    scope = "principal"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        principal = get_principal(request)
        if not principal.is_authenticated or _exempt(request):
            return None
        ident = hashlib.sha256(f"{principal.kind.value}:{principal.actor_id}".encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AddressRateThrottle(SimpleRateThrottle):
    """Limits each client address, authenticated or not."""

    scope = "address"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if _exempt(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
