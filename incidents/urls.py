from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.home, name="home"),
    path("incidents/", views.incident_list, name="list"),
    path("incidents/new/", views.incident_create, name="create"),
    path("incidents/<str:reference>/", views.incident_detail, name="detail"),
    path("incidents/<str:reference>/edit/", views.incident_edit, name="edit"),
    path("incidents/<str:reference>/transition/", views.incident_transition, name="transition"),
    path("incidents/<str:reference>/findings/", views.finding_add, name="finding-add"),
    path("incidents/<str:reference>/tasks/", views.task_add, name="task-add"),
    path("incidents/<str:reference>/tasks/<int:task_id>/toggle/", views.task_toggle, name="task-toggle"),
]
