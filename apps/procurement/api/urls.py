from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.procurement.api import views

router = SimpleRouter(trailing_slash=True)
router.register("trials", views.TrialViewSet, basename="trial")
router.register("quotes", views.QuoteViewSet, basename="quote")
router.register("orders", views.OrderViewSet, basename="order")
router.register("subscriptions", views.SubscriptionViewSet, basename="subscription")
router.register("entitlements", views.EntitlementViewSet, basename="entitlement")
router.register("licenses", views.LicenseViewSet, basename="license")
urlpatterns = [
    *router.urls,
    path("licensing/public-key/", views.LicensingPublicKeyView.as_view(), name="licensing-public-key"),
    path("licensing/revocations/", views.LicensingRevocationsView.as_view(), name="licensing-revocations"),
]
