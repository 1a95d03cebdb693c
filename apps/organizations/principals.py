"""The one place a request becomes a Principal (settings.MARKETPLACE_PRINCIPAL_RESOLVER)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.organizations.models import ApiClient, Membership, Organization
from marketplace.authentication import ApiClientIdentity
from marketplace.errors import Forbidden
from marketplace.principal import ANONYMOUS, Principal, PrincipalKind, Role, operator_principal

ACTIVE_ORGANIZATION_SESSION_KEY = "active_organization"


def api_client_principal(client: ApiClient) -> Principal:
    return Principal(
        kind=PrincipalKind.API_CLIENT,
        label=f"api client {client.name} ({client.client_id})",
        organization=client.organization,
        role=Role(client.role),
        api_client=client,
    )


def member_principal(membership: Membership) -> Principal:
    return Principal(
        kind=PrincipalKind.MEMBER,
        label=membership.user.email,
        organization=membership.organization,
        role=Role(membership.role),
        user=membership.user,
    )


def _memberships(user: Any):
    return Membership.objects.select_related("organization", "user").filter(user=user)


def resolve_principal(request: Any) -> Principal:
    """Member (with the role of the organization they act for), API client, operator or anonymous.

    People in several organizations choose with the `X-Organization: <slug>` header (API) or
    the organization switcher (web UI, kept in the session); otherwise their first one."""
    user = getattr(request, "user", None)
    if isinstance(user, ApiClientIdentity):
        return api_client_principal(user.api_client)
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    if user.is_staff:
        if settings.MARKETPLACE_OPERATOR_2FA and not (hasattr(user, "is_verified") and user.is_verified()):
            # Signed in with a password only: no operator powers until the second factor.
            return Principal(kind=PrincipalKind.MEMBER, label=user.email, user=user)
        return operator_principal(user)
    wanted = request.headers.get("X-Organization") if hasattr(request, "headers") else None
    memberships = _memberships(user)
    if wanted:
        membership = memberships.filter(organization__slug=wanted).first()
        if membership is None:
            raise Forbidden(f"You are not a member of organization '{wanted}'.", code="not_a_member")
        return member_principal(membership)
    session = getattr(request, "session", None)
    slug = session.get(ACTIVE_ORGANIZATION_SESSION_KEY) if session is not None else None
    membership = (memberships.filter(organization__slug=slug).first() if slug else None) or memberships.first()
    if membership is None:
        return Principal(kind=PrincipalKind.MEMBER, label=user.email, user=user)
    return member_principal(membership)


def principal_for_organization(principal: Principal, organization: Organization) -> Principal | None:
    """The principal acting for `organization` (a person may belong to several), or None when
    it has no standing there. Operators keep their own principal."""
    if principal.is_operator:
        return principal
    if principal.organization is not None and principal.organization.pk == organization.pk:
        return principal
    if principal.kind == PrincipalKind.MEMBER and principal.user is not None:
        membership = _memberships(principal.user).filter(organization=organization).first()
        return member_principal(membership) if membership else None
    return None
