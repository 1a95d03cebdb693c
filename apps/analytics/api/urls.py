from django.urls import path

from apps.analytics.api.views import ListingAnalyticsView

urlpatterns = [path("analytics/listings/", ListingAnalyticsView.as_view(), name="analytics-listings")]
