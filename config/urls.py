from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from oauth2_provider import views as oauth2_views

from apps.catalog.views import listing_image
from marketplace import health
from marketplace.admin import OperatorAdminSite
from marketplace.errors import json_or_html_400, json_or_html_404, json_or_html_500
from marketplace.metrics import metrics_view

api_v1 = [
    path("", include("marketplace.api.urls")),
    path("", include("apps.organizations.api.urls")),
    path("", include("apps.catalog.api.urls")),
    path("", include("apps.procurement.api.urls")),
    path("", include("apps.provisioning.api.urls")),
    path("", include("apps.analytics.api.urls")),
    path("", include("apps.webhooks.api.urls")),
]

admin.site.__class__ = OperatorAdminSite  # the console asks operators for a second factor

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    # Only the token endpoint: integrators use client credentials, nothing else.
    path("o/token/", oauth2_views.TokenView.as_view(), name="oauth2-token"),
    path("o/revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="oauth2-revoke-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("operator/", admin.site.urls),
    path("media/listings/<path:path>", listing_image, name="listing-image"),
    path("", include("apps.storefront.urls")),
]

handler400 = json_or_html_400
handler404 = json_or_html_404
handler500 = json_or_html_500
