"""Register pages (browser); included in incidents/urls.py (namespace ``incidents``), after the
``reference`` converter is registered there."""

from __future__ import annotations

from django.urls import URLPattern, path, register_converter

from . import views


class NoticeFormatConverter:
    """The export formats of a notice (``exports.CONTENT_TYPES``)."""

    regex = "md|html|pdf"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NoticeFormatConverter, "notice_format")

REGISTER = "incidents/<reference:reference>/register"
NOTICE = f"{REGISTER}/notices/<int:notice_id>"

urlpatterns: list[URLPattern] = [
    path(f"{REGISTER}/<slug:regime>/decide/", views.decide, name="regulatory-decide"),
    path(f"{REGISTER}/<slug:regime>/clock/", views.clock_set, name="regulatory-clock"),
    path(f"{REGISTER}/<slug:regime>/notices/", views.notice_draft, name="regulatory-notice-draft"),
    path(f"{NOTICE}/", views.notice_detail, name="regulatory-notice"),
    path(f"{NOTICE}/versions/<int:number>/", views.notice_version, name="regulatory-notice-version"),
    path(f"{NOTICE}/approve/", views.notice_approve, name="regulatory-notice-approve"),
    path(f"{NOTICE}/send/", views.notice_send, name="regulatory-notice-send"),
    path(f"{NOTICE}/export.<notice_format:format>", views.notice_export, name="regulatory-notice-export"),
]
