"""URL map: pages by app, the API under /api/v1/, the Django admin for superusers."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from billing import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("billing.api_urls")),
    path("", include("groups.urls")),
    path("", include("pricing.urls")),
    path("", include("background.views")),
    path("", include("billing.events.views")),
]

# JSON under /api/, the usual pages elsewhere.
handler404 = "billing.api_urls.not_found"
handler500 = "billing.api_urls.server_error"
