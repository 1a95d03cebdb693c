from django.urls import include, path
from rest_framework.routers import SimpleRouter

from apps.organizations.api import views

router = SimpleRouter(trailing_slash=True)
router.register("organizations", views.OrganizationViewSet, basename="organization")

room_router = SimpleRouter(trailing_slash=True)
room_router.register("members", views.MemberViewSet, basename="organization-member")
room_router.register("invitations", views.InvitationViewSet, basename="organization-invitation")
room_router.register("sites", views.SiteViewSet, basename="organization-site")
room_router.register("api-clients", views.ApiClientViewSet, basename="organization-api-client")

urlpatterns = [
    *router.urls,
    path("organizations/<slug:organization_slug>/", include(room_router.urls)),
]
