from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.provisioning.api import agent_views
from apps.provisioning.api.views import DeploymentViewSet

router = SimpleRouter(trailing_slash=True)
router.register("deployments", DeploymentViewSet, basename="deployment")
urlpatterns = [
    *router.urls,
    path("agent/enroll/", agent_views.EnrollView.as_view(), name="agent-enroll"),
    path("agent/heartbeat/", agent_views.HeartbeatView.as_view(), name="agent-heartbeat"),
    path("agent/bundles/", agent_views.BundleListView.as_view(), name="agent-bundles"),
    path("agent/bundles/<uuid:id>/download/", agent_views.BundleDownloadView.as_view(), name="agent-bundle-download"),
    path("agent/reports/", agent_views.ReportView.as_view(), name="agent-reports"),
    path("agent/receipts/", agent_views.ReceiptView.as_view(), name="agent-receipts"),
    path(
        "organizations/<slug:slug>/sites/<uuid:site_id>/enrollment-tokens/",
        agent_views.EnrollmentTokenListView.as_view(),
        name="site-enrollment-tokens",
    ),
    path(
        "organizations/<slug:slug>/sites/<uuid:site_id>/agents/",
        agent_views.SiteAgentListView.as_view(),
        name="site-agents",
    ),
    path(
        "organizations/<slug:slug>/sites/<uuid:site_id>/agents/<uuid:agent_id>/",
        agent_views.SiteAgentDetailView.as_view(),
        name="site-agent-detail",
    ),
    path(
        "organizations/<slug:slug>/sites/<uuid:site_id>/agents/<uuid:agent_id>/revoke/",
        agent_views.SiteAgentRevokeView.as_view(),
        name="site-agent-revoke",
    ),
]
