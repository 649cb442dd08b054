from django.urls import path

from tickets import views

urlpatterns = [
    path("api/me", views.ProfileView.as_view()),
    path("api/suggest", views.SuggestReplyView.as_view()),
    path("api/suggest/stream", views.StreamReplyView.as_view()),
]
