from django.urls import path

from apps.storefront import views

app_name = "storefront"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.home, name="login"),
    path("accounts/confirm/<str:token>/", views.home, name="confirm-email"),
    path("invitations/<str:token>/", views.home, name="invitation"),
]
