from django.urls import path, register_converter

from . import dashboard_views, live, views
from .converters import CsvOrJsonConverter, ReferenceConverter
from .evidence import views as evidence_views
from .indicators import views as indicator_views
from .reports import views as report_views
from .vendors import views as vendor_views

register_converter(ReferenceConverter, "reference")


class ExportFormatConverter(CsvOrJsonConverter):
    regex = "stix|csv"


# Registered here for every app's URLs (the timeline's export uses csv_or_json too).
register_converter(CsvOrJsonConverter, "csv_or_json")
register_converter(ExportFormatConverter, "export_format")

app_name = "incidents"

urlpatterns = [
    path("", views.home, name="home"),
    path("incidents/", views.incident_list, name="list"),
    path("incidents/new/", views.incident_create, name="create"),
    path("incidents/live/", live.list_poll, name="list-live"),
    path("incidents/export.csv", views.incident_list_export, name="list-export"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("incidents/<reference:reference>/", views.incident_detail, name="detail"),
    path("incidents/<reference:reference>/edit/", views.incident_edit, name="edit"),
    path("incidents/<reference:reference>/report/", report_views.report, name="report"),
    path("incidents/<reference:reference>/report.pdf", report_views.report, {"format": "pdf"}, name="report-pdf"),
    path("incidents/<reference:reference>/brief/", report_views.brief, name="brief"),
    path("incidents/<reference:reference>/brief.pdf", report_views.brief, {"format": "pdf"}, name="brief-pdf"),
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
    path("incidents/<reference:reference>/evidence/", evidence_views.evidence_upload, name="evidence-upload"),
    path("incidents/<reference:reference>/evidence/text/", evidence_views.evidence_text_add, name="evidence-text"),
    path(
        "incidents/<reference:reference>/evidence/manifest.<csv_or_json:format>",
        evidence_views.evidence_manifest,
        name="evidence-manifest",
    ),
    path(
        "incidents/<reference:reference>/evidence/<int:evidence_id>/download/",
        evidence_views.evidence_download,
        name="evidence-download",
    ),
    path(
        "incidents/<reference:reference>/evidence/<int:evidence_id>/transfer/",
        evidence_views.evidence_transfer,
        name="evidence-transfer",
    ),
    path("incidents/<reference:reference>/legal-hold/", evidence_views.legal_hold, name="legal-hold"),
    path("incidents/<reference:reference>/indicators/", indicator_views.indicator_add, name="indicator-add"),
    path(
        "incidents/<reference:reference>/indicators/extract/",
        indicator_views.indicator_extract,
        name="indicator-extract",
    ),
    path(
        "incidents/<reference:reference>/indicators/from-alerts/",
        indicator_views.indicator_from_alerts,
        name="indicator-from-alerts",
    ),
    path(
        "incidents/<reference:reference>/indicators/confirm/",
        indicator_views.indicator_confirm,
        name="indicator-confirm",
    ),
    path(
        "incidents/<reference:reference>/indicators/<int:indicator_id>/edit/",
        indicator_views.indicator_edit,
        name="indicator-edit",
    ),
    path(
        "incidents/<reference:reference>/indicators/export.<export_format:format>",
        indicator_views.indicator_export,
        name="indicator-export",
    ),
    # Vendors (incidents/vendors/): the registry and the incident page's vendors panel.
    path("vendors/", vendor_views.vendor_list, name="vendor-list"),
    path("vendors/access/", vendor_views.open_access, name="vendor-open-access"),
    path("incidents/<reference:reference>/contain/", vendor_views.containment_override, name="contain"),
    path(
        "incidents/<reference:reference>/vendors/<int:involvement_id>/access/",
        vendor_views.access_add,
        name="vendor-access-add",
    ),
    path(
        "incidents/<reference:reference>/vendors/<int:involvement_id>/access/fill/",
        vendor_views.access_fill,
        name="vendor-access-fill",
    ),
    path(
        "incidents/<reference:reference>/vendors/<int:involvement_id>/access/<int:access_id>/step/",
        vendor_views.access_step,
        name="vendor-access-step",
    ),
    path(
        "incidents/<reference:reference>/vendors/<int:involvement_id>/questions/",
        vendor_views.question_ask,
        name="vendor-question-ask",
    ),
    path(
        "incidents/<reference:reference>/vendors/<int:involvement_id>/questions/<int:question_id>/answer/",
        vendor_views.question_answer,
        name="vendor-question-answer",
    ),
    path("incidents/<reference:reference>/scope/", vendor_views.scope_add, name="scope-add"),
    path(
        "incidents/<reference:reference>/scope/<int:scope_id>/remove/", vendor_views.scope_remove, name="scope-remove"
    ),
    path("vendors/new/", vendor_views.vendor_create, name="vendor-create"),
    path("vendors/<int:vendor_id>/", vendor_views.vendor_detail, name="vendor-detail"),
    path("vendors/<int:vendor_id>/known-access/", vendor_views.known_access_add, name="vendor-known-access"),
    path("vendors/<int:vendor_id>/edit/", vendor_views.vendor_edit, name="vendor-edit"),
    path("incidents/<reference:reference>/vendors/", vendor_views.involvement_add, name="vendor-add"),
    path(
        "incidents/<reference:reference>/vendors/choices/",
        vendor_views.involvement_choices,
        name="vendor-choices",
    ),
    path(
        "incidents/<reference:reference>/vendors/<int:involvement_id>/",
        vendor_views.involvement_change,
        name="vendor-involvement",
    ),
    path(
        "incidents/<reference:reference>/vendors/<int:involvement_id>/remove/",
        vendor_views.involvement_remove,
        name="vendor-remove",
    ),
]

# The notification register's pages (incidents/regulatory/urls.py), under the same namespace;
# imported here, once the path converters above are registered.
from .regulatory.urls import urlpatterns as regulatory_urlpatterns  # noqa: E402

urlpatterns += regulatory_urlpatterns
