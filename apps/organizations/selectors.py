"""Reads for organizations and people."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.organizations.models import ApiClient, Invitation, Membership, Organization, Site


def organization_directory(*, query: str = "") -> QuerySet[Organization]:
    organizations = Organization.objects.all()
    if query:
        organizations = organizations.filter(
            Q(name__icontains=query) | Q(description__icontains=query) | Q(partnership_offer__icontains=query)
        )
    return organizations.order_by("name")


def organization_members(*, organization: Organization) -> QuerySet[Membership]:
    return organization.memberships.select_related("user").order_by("created_at", "id")


def organization_invitations(*, organization: Organization) -> QuerySet[Invitation]:
    return organization.invitations.select_related("invited_by").order_by("-created_at")


def organization_sites(*, organization: Organization, include_archived: bool = False) -> QuerySet[Site]:
    sites = organization.sites.all()
    if not include_archived:
        sites = sites.filter(archived_at__isnull=True)
    return sites.order_by("name")


def organization_api_clients(*, organization: Organization) -> QuerySet[ApiClient]:
    return organization.api_clients.select_related("created_by").order_by("-created")


def user_memberships(*, user: object) -> QuerySet[Membership]:
    return Membership.objects.select_related("organization").filter(user=user).order_by("organization__name")
