"""The triage pages (browser). The intake API lives in ``config/urls.py`` under ``/api/v1/``."""

from django.urls import path

from . import views

app_name = "intake"

urlpatterns = [
    path("alerts/", views.queue, name="queue"),
    path("alerts/<int:alert_id>/", views.detail, name="detail"),
]
