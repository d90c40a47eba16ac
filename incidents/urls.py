from django.urls import path, register_converter

from . import views
from .converters import ReferenceConverter

register_converter(ReferenceConverter, "reference")

app_name = "incidents"

urlpatterns = [
    path("", views.home, name="home"),
    path("incidents/", views.incident_list, name="list"),
    path("incidents/new/", views.incident_create, name="create"),
    path("incidents/<reference:reference>/", views.incident_detail, name="detail"),
    path("incidents/<reference:reference>/edit/", views.incident_edit, name="edit"),
    path("incidents/<reference:reference>/transition/", views.incident_transition, name="transition"),
    path("incidents/<reference:reference>/findings/", views.finding_add, name="finding-add"),
    path("incidents/<reference:reference>/tasks/", views.task_add, name="task-add"),
    path("incidents/<reference:reference>/tasks/<int:task_id>/toggle/", views.task_toggle, name="task-toggle"),
]
