from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.webhooks.api.views import DeliveryViewSet, EndpointViewSet, EventFeedView

router = SimpleRouter(trailing_slash=True)
router.register("webhooks/endpoints", EndpointViewSet, basename="webhook-endpoint")
router.register("webhooks/deliveries", DeliveryViewSet, basename="webhook-delivery")
urlpatterns = [*router.urls, path("events/", EventFeedView.as_view(), name="event-feed")]
