"""Who is acting. Every request resolves to exactly one Principal, in one place.

A client-credentials token has no user, so permissions and the audit log work on the
principal, never on `request.user` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"
    MEMBER = "member"
    API_CLIENT = "api_client"
    OPERATOR = "operator"
    SITE_AGENT = "site_agent"
    SYSTEM = "system"


class Role(StrEnum):
    """Rights inside an organization, in increasing order."""

    READ_ONLY = "read_only"
    MEMBER = "member"
    ADMIN = "admin"


ROLE_RANK = {Role.READ_ONLY: 0, Role.MEMBER: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    label: str
    organization: Any = None  # the organization acted for (None for operators, system, anonymous)
    role: Role | None = None
    user: Any = None
    api_client: Any = None
    agent: Any = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != PrincipalKind.ANONYMOUS

    @property
    def is_operator(self) -> bool:
        return self.kind == PrincipalKind.OPERATOR

    @property
    def organization_id(self) -> int | None:
        return self.organization.pk if self.organization is not None else None

    @property
    def actor_id(self) -> str:
        """A stable identifier for the audit log."""
        if self.api_client is not None:
            return str(self.api_client.client_id)
        if self.user is not None:
            return str(self.user.public_id)
        if self.agent is not None:
            return str(getattr(self.agent, "public_id", self.agent.pk))
        return self.kind.value

    def has_role(self, minimum: Role) -> bool:
        """True when the principal acts for an organization with at least `minimum` rights."""
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[minimum]


ANONYMOUS = Principal(kind=PrincipalKind.ANONYMOUS, label="anonymous")
SYSTEM = Principal(kind=PrincipalKind.SYSTEM, label="system")


def operator_principal(user: Any) -> Principal:
    return Principal(kind=PrincipalKind.OPERATOR, label=f"operator {user.email}", user=user)


def get_principal(request: Any) -> Principal:
    """Resolve (once per request) who is acting. The resolver lives in the organizations app,
    named by settings.MARKETPLACE_PRINCIPAL_RESOLVER, so the kernel stays free of domain imports."""
    cached = getattr(request, "_marketplace_principal", None)
    if cached is not None:
        return cached
    resolver = import_string(settings.MARKETPLACE_PRINCIPAL_RESOLVER)
    principal: Principal = resolver(request)
    request._marketplace_principal = principal
    return principal
