from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from batches.health import healthz
from batches.logins import ThrottledLoginView

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("batches.urls")),
]
