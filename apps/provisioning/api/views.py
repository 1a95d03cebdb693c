"""Deployments: status, progress and step log for both parties; retry and deprovision."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.provisioning import selectors, services
from apps.provisioning.api.serializers import ActivateSerializer, DeploymentSerializer, DeprovisionSerializer
from apps.provisioning.models import Bundle, Deployment
from marketplace.audit import audit_record
from marketplace.errors import Conflict, Forbidden, NotFound
from marketplace.patient_data import guard_patient_data
from marketplace.principal import Role, get_principal
from marketplace.tenancy import party_side

# Statuses in which a deployment's bundle may still be installed (as the site agent sees them).
_BUNDLE_STATUSES = (Deployment.Status.AWAITING_AGENT, Deployment.Status.ACTIVE, Deployment.Status.SUSPENDED)


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deployments of the caller's organization, as provider or as vendor (404 for anyone else)."""

    serializer_class = DeploymentSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    queryset = Deployment.objects.none()
    filterset_fields = ("status", "region")

    def get_queryset(self) -> QuerySet[Deployment]:
        return selectors.deployments_visible_to(principal=get_principal(self.request)).select_related("trial")

    def _answer(self, deployment: Deployment) -> Response:
        return Response(DeploymentSerializer(self.get_queryset().get(pk=deployment.pk)).data)

    @extend_schema(request=None, responses=DeploymentSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, id: str) -> Response:
        """Start a failed deployment again from the failed step (provider or vendor member+)."""
        return self._answer(services.deployment_retry(deployment=self.get_object(), actor=get_principal(request)))

    @extend_schema(request=DeprovisionSerializer, responses=DeploymentSerializer)
    @action(detail=True, methods=["post"])
    def deprovision(self, request: Request, id: str, *args: Any) -> Response:
        """Remove the deployment (provider admins, operators)."""
        data = DeprovisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data.get("reason", "")
        guard_patient_data({"reason": reason})
        deployment = services.deployment_deprovision(
            deployment=self.get_object(), actor=get_principal(request), reason=reason
        )
        return self._answer(deployment)

    @extend_schema(request=ActivateSerializer, responses=DeploymentSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, id: str) -> Response:
        """The vendor's fulfillment callback (vendor member+, e.g. its fulfillment system's API
        client): the tenant is ready at `tenant_url`. Repeating it is harmless."""
        data = ActivateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = services.deployment_activate(
            deployment=self.get_object(),
            actor=get_principal(request),
            tenant_url=data.validated_data.get("tenant_url", ""),
        )
        return self._answer(deployment)

    @extend_schema(
        request=None,
        responses={
            (200, "application/zip"): OpenApiResponse(
                response=bytes, description="The bundle, as an attachment; X-Checksum-SHA256 carries its digest."
            )
        },
    )
    @action(detail=True, methods=["get"])
    def bundle(self, request: Request, id: str) -> FileResponse:
        """The installation bundle of an on-premise deployment, for a provider member (member+) who
        carries it into an air-gapped site. It holds the site's one-time enrollment token, so only
        the provider's members may fetch it (the vendor and read-only clients get 403)."""
        deployment = self.get_object()
        principal = get_principal(request)
        if party_side(deployment, principal) != "provider" or not principal.has_role(Role.MEMBER):
            raise Forbidden("Members of the provider organization download its installation bundles.")
        bundle = deployment.bundles.order_by("-created_at").first()
        if bundle is None:
            raise NotFound("This deployment has no installation bundle (yet).")
        if deployment.status not in _BUNDLE_STATUSES:
            raise Conflict(f"The bundle was withdrawn: the deployment is {deployment.status}.", code="bundle_withdrawn")
        audit_record(
            actor=principal,
            action="provisioning.bundle.downloaded",
            target=deployment,
            organization=deployment.provider,
            counterparty=deployment.vendor,
            new={"bundle": str(bundle.public_id), "sha256": bundle.sha256},
        )
        return bundle_response(bundle)


def bundle_response(bundle: Bundle) -> FileResponse:
    """A bundle streamed as a zip attachment, with its SHA-256 in X-Checksum-SHA256."""
    response = FileResponse(
        bundle.file.open("rb"), as_attachment=True, filename=bundle.filename, content_type="application/zip"
    )
    response["X-Checksum-SHA256"] = bundle.sha256
    response["X-Content-Type-Options"] = "nosniff"
    return response
