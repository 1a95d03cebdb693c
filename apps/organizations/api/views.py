"""Organizations API: the public partner directory and each organization's own rooms."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from apps.organizations import selectors, services
from apps.organizations.api import serializers as s
from apps.organizations.models import ApiClient, Invitation, Membership, Organization, Site
from apps.organizations.principals import principal_for_organization
from marketplace.errors import Forbidden, NotFound
from marketplace.idempotency import idempotent_create
from marketplace.permissions import PublicReadOrAuthenticated
from marketplace.principal import Principal, PrincipalKind, Role, get_principal
from marketplace.tenancy import scope_queryset


class OrganizationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Words in the name, description or partnership offer")
    kind = django_filters.MultipleChoiceFilter(
        choices=Organization.Kind.choices, method="filter_kind", label="vendor, provider (both counts as either)"
    )
    sector = django_filters.MultipleChoiceFilter(choices=Organization.Sector.choices)
    country = django_filters.CharFilter()
    verified = django_filters.BooleanFilter(field_name="verified_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Organization
        fields = ("q", "kind", "sector", "country", "verified")

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset & selectors.organization_directory(query=value)

    def filter_kind(self, queryset: QuerySet, name: str, values: list[str]) -> QuerySet:
        kinds = set(values)
        if kinds & {Organization.Kind.VENDOR, Organization.Kind.PROVIDER}:
            kinds.add(Organization.Kind.BOTH)
        return queryset.filter(kind__in=kinds)


class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The partner directory (public read). Creating one makes the caller its admin."""

    lookup_field = "slug"
    lookup_url_kwarg = "slug"
    permission_classes = (PublicReadOrAuthenticated,)
    filterset_class = OrganizationFilter
    queryset = Organization.objects.all()
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Organization]:
        return selectors.organization_directory()

    def get_serializer_class(self) -> type:
        if self.action == "create":
            return s.OrganizationCreateSerializer
        if self.action in ("update", "partial_update"):
            return s.OrganizationUpdateSerializer
        return s.OrganizationOutputSerializer

    def _output(self, organization: Organization) -> dict[str, Any]:
        principal = get_principal(self.request)
        acting = principal_for_organization(principal, organization) if principal.is_authenticated else None
        serializer = s.OrganizationPrivateOutputSerializer if acting is not None else s.OrganizationOutputSerializer
        return serializer(organization).data

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._output(self.get_object()))

    @extend_schema(request=s.OrganizationCreateSerializer, responses={201: s.OrganizationPrivateOutputSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        principal = get_principal(request)
        if principal.kind != PrincipalKind.MEMBER or principal.user is None:
            raise Forbidden("Only people create organizations; sign in with your account.")

        def _create() -> Response:
            data = s.OrganizationCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            organization = services.organization_create(user=principal.user, actor=principal, **data.validated_data)
            return Response(s.OrganizationPrivateOutputSerializer(organization).data, status=status.HTTP_201_CREATED)

        return idempotent_create(request, _create)

    @extend_schema(request=s.OrganizationUpdateSerializer, responses=s.OrganizationPrivateOutputSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        organization = self.get_object()
        actor = principal_for_organization(get_principal(request), organization)
        if actor is None or actor.is_operator:
            raise Forbidden("Only admins of this organization may change it.")
        data = s.OrganizationUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        organization = services.organization_update(organization=organization, actor=actor, data=data.validated_data)
        return Response(s.OrganizationPrivateOutputSerializer(organization).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses=s.OrganizationPrivateOutputSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, slug: str) -> Response:
        """An operator verifies a vendor organization (legal name, registration number, contact,
        accepted partner terms must be present)."""
        organization = self.get_object()
        principal = get_principal(request)
        if not principal.is_operator:
            raise Forbidden("Only operators verify organizations.")
        organization = services.organization_verify(organization=organization, actor=principal)
        return Response(s.OrganizationPrivateOutputSerializer(organization).data)


class OrganizationRoomMixin:
    """Nested under /organizations/{slug}/: the caller must act for that organization (404
    otherwise). `read_role` and `write_role` set who may read and who may change."""

    read_role: Role = Role.READ_ONLY
    write_role: Role = Role.ADMIN
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    request: Request
    kwargs: dict[str, Any]

    @cached_property
    def organization(self) -> Organization:
        return get_object_or_404(Organization, slug=self.kwargs["organization_slug"])

    @cached_property
    def actor(self) -> Principal:
        acting = principal_for_organization(get_principal(self.request), self.organization)
        if acting is None:
            raise NotFound("Not found.")
        return acting

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        actor = self.actor
        if actor.is_operator:
            if request.method not in SAFE_METHODS:
                raise Forbidden("Operators may read this, not change it.")
            return
        needed = self.read_role if request.method in SAFE_METHODS else self.write_role
        if not actor.has_role(needed):
            raise Forbidden(f"This needs the {needed.value} role in {self.organization.name}.")


class MemberViewSet(
    OrganizationRoomMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Members and their roles. Admins change roles and remove members (which ends their sessions)."""

    serializer_class = s.MemberOutputSerializer
    queryset = Membership.objects.none()
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Membership]:
        return selectors.organization_members(organization=self.organization)

    @extend_schema(request=s.MemberUpdateSerializer, responses=s.MemberOutputSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=self.get_object(), role=data.validated_data["role"], actor=self.actor
        )
        return Response(s.MemberOutputSerializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.membership_remove(membership=instance, actor=self.actor)


class InvitationViewSet(
    OrganizationRoomMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Invitations by e-mail (org admins). DELETE revokes a pending invitation."""

    read_role = Role.ADMIN
    serializer_class = s.InvitationOutputSerializer
    queryset = Invitation.objects.none()

    def get_queryset(self) -> QuerySet[Invitation]:
        return selectors.organization_invitations(organization=self.organization)

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationOutputSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        def _create() -> Response:
            data = s.InvitationCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            invitation, _token = services.invitation_create(
                organization=self.organization, actor=self.actor, **data.validated_data
            )
            return Response(s.InvitationOutputSerializer(invitation).data, status=status.HTTP_201_CREATED)

        return idempotent_create(request, _create)

    def perform_destroy(self, instance: Invitation) -> None:
        services.invitation_revoke(invitation=instance, actor=self.actor)


class SiteViewSet(
    OrganizationRoomMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A provider's sites (hospitals, data centres) that deployments target. Members read; admins
    change. DELETE archives the site (deployments and licenses keep naming it)."""

    serializer_class = s.SiteOutputSerializer
    queryset = Site.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_fields = ("kind", "network_posture")

    def get_queryset(self) -> QuerySet[Site]:
        sites = scope_queryset(Site.objects.all(), self.actor).filter(organization=self.organization)
        if self.action == "list" and self.request.query_params.get("include_archived") != "true":
            sites = sites.filter(archived_at__isnull=True)
        return sites.order_by("name")

    @extend_schema(request=s.SiteInputSerializer, responses={201: s.SiteOutputSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        def _create() -> Response:
            data = s.SiteInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            site = services.site_create(organization=self.organization, actor=self.actor, data=data.validated_data)
            return Response(s.SiteOutputSerializer(site).data, status=status.HTTP_201_CREATED)

        return idempotent_create(request, _create)

    @extend_schema(request=s.SiteInputSerializer, responses=s.SiteOutputSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.SiteInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        site = services.site_update(site=self.get_object(), actor=self.actor, data=data.validated_data)
        return Response(s.SiteOutputSerializer(site).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    def perform_destroy(self, instance: Site) -> None:
        services.site_archive(site=instance, actor=self.actor)


class ApiClientViewSet(
    OrganizationRoomMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """OAuth2 client-credentials clients. The secret is in the create answer only. DELETE and
    `POST .../revoke/` both revoke."""

    read_role = Role.ADMIN
    serializer_class = s.ApiClientOutputSerializer
    queryset = ApiClient.objects.none()

    def get_queryset(self) -> QuerySet[ApiClient]:
        return selectors.organization_api_clients(organization=self.organization)

    @extend_schema(request=s.ApiClientCreateSerializer, responses={201: s.ApiClientCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        def _create() -> Response:
            data = s.ApiClientCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            client, secret = services.api_client_create(
                organization=self.organization, actor=self.actor, **data.validated_data
            )
            body = s.ApiClientCreatedSerializer(client, context={"client_secret": secret}).data
            return Response(body, status=status.HTTP_201_CREATED)

        # A replay (same Idempotency-Key) answers with `client_secret: null`: it is shown once.
        return idempotent_create(request, _create, secret_fields=("client_secret",))

    @extend_schema(request=None, responses=s.ApiClientOutputSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = services.api_client_revoke(client=self.get_object(), actor=self.actor)
        return Response(s.ApiClientOutputSerializer(client).data)

    def perform_destroy(self, instance: ApiClient) -> None:
        services.api_client_revoke(client=instance, actor=self.actor)

