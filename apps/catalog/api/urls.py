from django.urls import include, path
from rest_framework.routers import SimpleRouter

from apps.catalog.api import views

router = SimpleRouter(trailing_slash=True)
router.register("apps", views.ListingViewSet, basename="listing")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("specialties", views.SpecialtyViewSet, basename="specialty")
router.register("modalities", views.ModalityViewSet, basename="modality")
router.register("standards", views.StandardViewSet, basename="standard")

listing_router = SimpleRouter(trailing_slash=True)
listing_router.register("offerings", views.OfferingViewSet, basename="listing-offering")
listing_router.register("plans", views.PlanViewSet, basename="listing-plan")
listing_router.register("versions", views.VersionViewSet, basename="listing-version")
listing_router.register("documents", views.DocumentViewSet, basename="listing-document")
listing_router.register("screenshots", views.ScreenshotViewSet, basename="listing-screenshot")
listing_router.register("revisions", views.RevisionViewSet, basename="listing-revision")
listing_router.register("reviews", views.ReviewViewSet, basename="listing-review")

urlpatterns = [
    *router.urls,
    path("apps/<slug:listing_slug>/", include(listing_router.urls)),
]
