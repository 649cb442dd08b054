from django.contrib import admin
from django.urls import include, path

from llm_app.dashboard import views as dashboard

urlpatterns = [
    # Before admin.site.urls, whose catch-all would answer 404; admin_view makes it staff-only like the admin.
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard), name="llm_app_dashboard"),
    path("admin/", admin.site.urls),
    path("", include("llm_app.urls")),
]
