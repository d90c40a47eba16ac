"""Notification pages (browser): the bell, the inbox, the log, channels and acknowledging."""

from django.urls import path

import incidents.urls  # noqa: F401 - registers the ``reference`` path converter

from . import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.inbox, name="inbox"),
    path("notifications/bell/", views.bell, name="bell"),
    path("notifications/read/", views.mark_read, name="mark-read"),
    path("notifications/log/", views.log, name="log"),
    path("notifications/channels/", views.channels, name="channels"),
    path("notifications/channels/<int:channel_id>/test/", views.channel_test, name="channel-test"),
    path("incidents/<reference:reference>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("ack/<str:token>/", views.acknowledge_link, name="acknowledge-link"),
]
