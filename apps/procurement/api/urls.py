from rest_framework.routers import SimpleRouter

from apps.procurement.api.views import TrialViewSet

router = SimpleRouter(trailing_slash=True)
router.register("trials", TrialViewSet, basename="trial")
urlpatterns = router.urls
