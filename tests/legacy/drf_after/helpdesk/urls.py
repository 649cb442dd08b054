from django.urls import path

from tickets import views

urlpatterns = [
    path("api/me", views.ProfileView.as_view()),  # DRF, sync: CRUD needs nothing else
    path("api/suggest", views.SuggestReplyView.as_view()),  # adrf: DRF's classes, an async handler
    path("api/suggest/stream", views.stream_reply),  # a plain async Django view
]
