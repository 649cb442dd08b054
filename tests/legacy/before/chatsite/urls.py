from django.urls import path

from chat import views

urlpatterns = [
    path("chat/complete", views.complete),
    path("chat/stream", views.stream),
    path("chat/last", views.last_answer),
]
