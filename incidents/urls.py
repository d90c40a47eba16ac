from django.urls import path, register_converter

from . import live, views
from .converters import ReferenceConverter

register_converter(ReferenceConverter, "reference")

app_name = "incidents"

urlpatterns = [
    path("", views.home, name="home"),
    path("incidents/", views.incident_list, name="list"),
    path("incidents/new/", views.incident_create, name="create"),
    path("incidents/live/", live.list_poll, name="list-live"),
    path("incidents/<reference:reference>/", views.incident_detail, name="detail"),
    path("incidents/<reference:reference>/edit/", views.incident_edit, name="edit"),
    path("incidents/<reference:reference>/live/", live.incident_poll, name="live"),
    path("incidents/<reference:reference>/transition/", views.incident_transition, name="transition"),
    path("incidents/<reference:reference>/close/", views.incident_close, name="close"),
    path("incidents/<reference:reference>/reopen/", views.incident_reopen, name="reopen"),
    path("incidents/<reference:reference>/findings/", views.finding_add, name="finding-add"),
    path("incidents/<reference:reference>/tasks/", views.task_add, name="task-add"),
    path("incidents/<reference:reference>/tasks/<int:task_id>/toggle/", views.task_toggle, name="task-toggle"),
    path("incidents/<reference:reference>/tasks/<int:task_id>/status/", views.task_status, name="task-status"),
    path("incidents/<reference:reference>/tasks/<int:task_id>/notes/", views.task_note_add, name="task-note-add"),
    path("incidents/<reference:reference>/members/", views.member_add, name="member-add"),
    path("incidents/<reference:reference>/members/<int:user_id>/role/", views.member_role_change, name="member-role"),
    path("incidents/<reference:reference>/members/<int:user_id>/remove/", views.member_remove, name="member-remove"),
]
