"""The on-premise site agent's API (`Authorization: Agent <credential>`), the receipts of
air-gapped sites (provider members), and a site's enrollment tokens and agents (provider admins)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.organizations.models import Organization, Site
from apps.provisioning import agents
from apps.provisioning.api import serializers as s
from apps.provisioning.api.views import bundle_response
from apps.provisioning.hooks import require
from apps.provisioning.models import EnrollmentToken, SiteAgent
from apps.provisioning.onprem import enrollment_token_issue
from marketplace.errors import Forbidden, NotFound
from marketplace.idempotency import idempotent_create
from marketplace.permissions import IsAuthenticatedPrincipal
from marketplace.principal import Role, get_principal

AGENT_AUTH = OpenApiParameter(
    "Authorization", str, OpenApiParameter.HEADER, required=True, description="Agent <credential from enroll>"
)


class AgentView(APIView):
    """Agents authenticate with their own credential, not OAuth or a session."""

    permission_classes = (AllowAny,)
    authentication_classes = ()

    def agent(self, request: Request) -> SiteAgent:
        return agents.agent_authenticate(request.headers.get("Authorization", ""))


class EnrollView(AgentView):
    @extend_schema(request=s.EnrollSerializer, responses={201: s.EnrolledSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        """Exchange a one-time enrollment token (from "My organization → Sites" or shipped in a
        bundle) for the agent's credential, shown once."""
        data = s.EnrollSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agent, credential = agents.agent_enroll(
            token=values["token"],
            name=values["name"],
            hostname=values.get("hostname", ""),
            agent_version=values.get("agent_version", ""),
            public_key=values.get("public_key"),
        )
        body = {
            "agent": agent.public_id,
            "site": agent.site.public_id,
            "organization": agent.organization.slug,
            "credential": credential,
        }
        return Response(s.EnrolledSerializer(body).data, status=status.HTTP_201_CREATED)


class HeartbeatView(AgentView):
    @extend_schema(
        request=s.HeartbeatSerializer, responses=s.HeartbeatAnswerSerializer, parameters=[AGENT_AUTH], auth=[]
    )
    def post(self, request: Request) -> Response:
        """The agent is alive; the answer carries the newest signed revocation list."""
        agent = self.agent(request)
        data = s.HeartbeatSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = agents.agent_heartbeat(agent=agent, **data.validated_data)
        body = {
            "agent": agent.public_id,
            "site": agent.site.public_id,
            "time": timezone.now(),
            "bundles": len(agents.bundles_for_agent(agent=agent)),
            "revocations": require("revocations")()["token"],
        }
        return Response(s.HeartbeatAnswerSerializer(body).data)


class BundleListView(AgentView):
    @extend_schema(responses=s.AgentBundleSerializer(many=True), parameters=[AGENT_AUTH], auth=[])
    def get(self, request: Request) -> Response:
        """The bundles this site is entitled to: deployments waiting for the agent or running."""
        agent = self.agent(request)
        return Response(s.AgentBundleSerializer(agents.bundles_for_agent(agent=agent), many=True).data)


class BundleDownloadView(AgentView):
    @extend_schema(responses={(200, "application/zip"): bytes}, parameters=[AGENT_AUTH], auth=[])
    def get(self, request: Request, id: str) -> FileResponse:
        """The bundle itself, streamed (X-Checksum-SHA256 carries its digest)."""
        agent = self.agent(request)
        bundle = agents.bundle_for_agent(agent=agent, bundle_id=id)
        return bundle_response(bundle)


class ReportView(AgentView):
    @extend_schema(
        request=s.AgentReportSerializer, responses=s.ReportAnswerSerializer, parameters=[AGENT_AUTH], auth=[]
    )
    def post(self, request: Request) -> Response:
        """downloaded, verified, installed (activates the deployment) or failed (with a reason)."""
        agent = self.agent(request)
        data = s.AgentReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        report = agents.agent_report(
            agent=agent, bundle_id=values["bundle"], kind=values["kind"], reason=values.get("reason", "")
        )
        deployment = report.bundle.deployment
        deployment.refresh_from_db()
        body = {
            "bundle": report.bundle.public_id,
            "kind": report.kind,
            "deployment": deployment.public_id,
            "deployment_status": deployment.status,
        }
        return Response(s.ReportAnswerSerializer(body).data)


class ReceiptView(APIView):
    permission_classes = (IsAuthenticatedPrincipal,)

    @extend_schema(request=s.ReceiptSerializer, responses={201: s.ReceiptAnswerSerializer})
    def post(self, request: Request) -> Response:
        """A provider member uploads the signed receipt of an air-gapped site's agent: the agent is
        enrolled (with the key it signed with) and the deployment marked active."""
        principal = get_principal(request)
        if principal.organization is None:
            raise Forbidden("Act for the provider organization whose site wrote the receipt.")

        def _accept() -> Response:
            data = s.ReceiptSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            agent, bundle = agents.receipt_accept(
                provider=principal.organization, actor=principal, receipt=data.validated_data["receipt"]
            )
            bundle.deployment.refresh_from_db()
            body = {
                "agent": agent.public_id,
                "bundle": bundle.public_id,
                "deployment": bundle.deployment.public_id,
                "deployment_status": bundle.deployment.status,
            }
            return Response(s.ReceiptAnswerSerializer(body).data, status=status.HTTP_201_CREATED)

        return idempotent_create(request, _accept)


def _site_of(request: Request, slug: str, site_id: str) -> tuple[Any, Site]:
    """The principal and the site; another organization's sites are 404 (operators read all)."""
    principal = get_principal(request)
    organization = get_object_or_404(Organization, slug=slug)
    if not principal.is_operator and (principal.organization is None or principal.organization.pk != organization.pk):
        raise NotFound("No such site.")
    site = get_object_or_404(Site, public_id=site_id, organization=organization)
    return principal, site


class EnrollmentTokenListView(APIView):
    permission_classes = (IsAuthenticatedPrincipal,)

    @extend_schema(responses=s.EnrollmentTokenSerializer(many=True))
    def get(self, request: Request, slug: str, site_id: str) -> Response:
        """A site's enrollment tokens (never the tokens themselves)."""
        principal, site = _site_of(request, slug, site_id)
        if not (principal.is_operator or principal.has_role(Role.ADMIN)):
            raise Forbidden("Organization admins manage enrollment tokens.")
        tokens = EnrollmentToken.objects.filter(site=site).select_related("site")[:100]
        return Response(s.EnrollmentTokenSerializer(tokens, many=True).data)

    @extend_schema(request=None, responses={201: s.EnrollmentTokenSerializer})
    def post(self, request: Request, slug: str, site_id: str) -> Response:
        """A new one-time enrollment token for an agent at this site (shown once, valid 30 days)."""
        principal, site = _site_of(request, slug, site_id)
        token, raw = enrollment_token_issue(site=site, actor=principal)
        body = {**s.EnrollmentTokenSerializer(token).data, "token": raw}
        return Response(body, status=status.HTTP_201_CREATED)


class SiteAgentListView(APIView):
    permission_classes = (IsAuthenticatedPrincipal,)

    @extend_schema(responses=s.SiteAgentSerializer(many=True))
    def get(self, request: Request, slug: str, site_id: str) -> Response:
        """The agents enrolled for a site, with when each was last seen."""
        _principal, site = _site_of(request, slug, site_id)
        return Response(
            s.SiteAgentSerializer(SiteAgent.objects.filter(site=site).select_related("site"), many=True).data
        )


def _agent_of(request: Request, slug: str, site_id: str, agent_id: str) -> tuple[Any, SiteAgent]:
    principal, site = _site_of(request, slug, site_id)
    agent = get_object_or_404(SiteAgent.objects.select_related("site"), public_id=agent_id, site=site)
    return principal, agent


class SiteAgentDetailView(APIView):
    permission_classes = (IsAuthenticatedPrincipal,)

    @extend_schema(responses=s.SiteAgentSerializer)
    def get(self, request: Request, slug: str, site_id: str, agent_id: str) -> Response:
        """One agent of a site: what it reported of itself, when it was last seen, whether revoked."""
        _principal, agent = _agent_of(request, slug, site_id, agent_id)
        return Response(s.SiteAgentSerializer(agent).data)


class SiteAgentRevokeView(APIView):
    permission_classes = (IsAuthenticatedPrincipal,)

    @extend_schema(request=None, responses=s.SiteAgentSerializer)
    def post(self, request: Request, slug: str, site_id: str, agent_id: str) -> Response:
        """Revoke the agent (organization admins): its credential answers 401 from now on; what it
        installed keeps running. Revoking a revoked agent answers it unchanged."""
        principal, agent = _agent_of(request, slug, site_id, agent_id)
        return Response(s.SiteAgentSerializer(agents.agent_revoke(agent=agent, actor=principal)).data)
