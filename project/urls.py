from django.contrib import admin
from django.contrib.auth import views as auth
from django.urls import include, path

from llm_app.dashboard import views as dashboard

urlpatterns = [
    # Before admin.site.urls, whose catch-all would answer 404; admin_view makes it staff-only like the admin.
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard), name="llm_app_dashboard"),
    path("admin/", admin.site.urls),
    # For every user when LLM_REQUIRE_AUTH is on: the admin's login form admits staff accounts only.
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
    path("", include("llm_app.urls")),
]
