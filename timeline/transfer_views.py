"""Import into and export from the timeline, in the browser. Thin: parse, call a service or
selector, answer. Every page starts from ``incident_get`` (404 for an incident the viewer may
not see); importing is ``Action.IMPORT_TIMELINE`` (403 otherwise, before a byte of an upload
is read). Exporting is for whoever sees the timeline: the events they may see.

- ``timeline:import``: GET the upload form and the incident's recent imports; POST a file →
  303 to its ``import-detail`` page (the form again with its errors: 400, 413 when too large).
- ``timeline:import-detail``: the import's state, its progress while checked or imported (htmx
  polls the ``#timeline-import-status`` part every second meanwhile), the preview and the
  errors; the confirm and cancel forms when it may still be confirmed or cancelled.
- ``timeline:import-confirm`` / ``timeline:import-cancel``: POST → 303 back to the import (the
  page again: 400 with the error, 409 when it was confirmed or cancelled already).
- ``timeline:export`` (format ``csv`` or ``json``): the events, streamed, filtered by the
  page's GET filters (``kind`` (repeatable), ``key``, ``vendor``, ``technique``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent, ValidationError
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.forms.utils import ErrorDict
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents.evidence.uploads import close_uploads
from incidents.forms import add_service_errors
from incidents.models import Incident
from incidents.permissions import Action, require
from incidents.selectors import incident_get

from . import exports, imports, selectors
from .models import ImportStatus, TimelineImport
from .transfer_forms import ConfirmForm, ImportForm

# Form fields travel beside the file in one request.
REQUEST_OVERHEAD_BYTES = 64 * 1024
RECENT_IMPORTS = 10
_TRUE = ("1", "true", "on", "yes")


class _CappedUploadHandler(TemporaryFileUploadHandler):
    """Streams the file to disk and stops past ``max_bytes`` (``too_large`` set): a file over
    the limit is never kept whole, nor held in memory."""

    def __init__(self, request: Any = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes, self.received, self.too_large = max_bytes, 0, False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        return super().receive_data_chunk(raw_data, start)


def _incident(request: HttpRequest, reference: str) -> Incident:
    incident = incident_get(viewer=request.user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _importer(request: HttpRequest, reference: str) -> Incident:
    incident = _incident(request, reference)
    require(request.user, incident, Action.IMPORT_TIMELINE)
    return incident


def _form_page(request: HttpRequest, incident: Incident, form: ImportForm, *, status: int = 200) -> HttpResponse:
    context = {
        "incident": incident,
        "form": form,
        "imports": imports.imports_of(incident)[:RECENT_IMPORTS],
        "max_bytes": settings.TIMELINE_IMPORT_MAX_BYTES,
    }
    return render(request, "timeline/import_form.html", context, status=status)


def _refused(request: HttpRequest, incident: Incident, message: str, *, status: int) -> HttpResponse:
    form = ImportForm(incident=incident, viewer=request.user)
    # An unbound form showing one error: the request's body was not (or could not be) read.
    form.cleaned_data, form._errors = {}, ErrorDict()
    form.add_error(None, message)
    return _form_page(request, incident, form, status=status)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt  # checked by _upload, once the upload handler is in place (it must be before the body is read)
@login_required
@require_http_methods(["GET", "POST"])
def import_view(request: HttpRequest, reference: str) -> HttpResponseBase:
    incident = _importer(request, reference)
    if request.method == "GET":
        return csrf_protect(_form_get)(request, incident)
    limit = settings.TIMELINE_IMPORT_MAX_BYTES
    too_large = f"The file is larger than the {filesizeformat(limit)} limit ({limit:,} bytes): nothing was kept."
    if _content_length(request) > limit + REQUEST_OVERHEAD_BYTES:
        return _refused(request, incident, too_large, status=413)
    handler = _CappedUploadHandler(request, max_bytes=limit)
    request.upload_handlers = [handler]
    try:
        try:
            request.FILES  # noqa: B018 - parses the body through the handler
        except (MultiPartParserError, TooManyFilesSent, RequestDataTooBig) as exc:
            return _refused(request, incident, f"The upload could not be read: {exc}", status=400)
        if handler.too_large:
            return _refused(request, incident, too_large, status=413)
        return csrf_protect(_upload)(request, incident)
    finally:
        close_uploads(request)  # the temporary file goes now, not when the response is closed


def _form_get(request: HttpRequest, incident: Incident) -> HttpResponse:
    return _form_page(request, incident, ImportForm(incident=incident, viewer=request.user))


def _upload(request: HttpRequest, incident: Incident) -> HttpResponseBase:
    form = ImportForm(request.POST, request.FILES, incident=incident, viewer=request.user)
    if form.is_valid():
        try:
            created = imports.import_start(incident=incident, actor=request.user, **form.for_service())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect("timeline:import-detail", reference=incident.reference, import_id=created.pk)
    return _form_page(request, incident, form, status=400)


def _import_or_404(request: HttpRequest, reference: str, import_id: int) -> TimelineImport:
    incident = _importer(request, reference)
    found = imports.import_get(incident=incident, import_id=import_id)
    if found is None:
        raise Http404("No such import.")
    return found


def _detail(
    request: HttpRequest, found: TimelineImport, *, status: int = 200, form: ConfirmForm | None = None, error: str = ""
) -> HttpResponse:
    good = found.rows_total - found.rows_bad
    context = {
        "incident": found.incident,
        "imp": found,
        "working": found.status in (ImportStatus.VALIDATING, ImportStatus.IMPORTING),
        "confirmable": found.status in (ImportStatus.READY, ImportStatus.INVALID) and good > 0,
        "cancellable": found.status in (ImportStatus.VALIDATING, ImportStatus.READY, ImportStatus.INVALID),
        "good": good,
        "percent": min(100, found.rows_checked * 100 // found.rows_total) if found.rows_total else None,
        "errors_shown": len(found.errors),
        "confirm_form": form or ConfirmForm(),
        "error": error,
    }
    template = "timeline/_import_status.html" if request.htmx else "timeline/import.html"
    return render(request, template, context, status=status)


@login_required
@require_GET
def import_detail(request: HttpRequest, reference: str, import_id: int) -> HttpResponse:
    return _detail(request, _import_or_404(request, reference, import_id))


@login_required
@require_POST
def import_confirm(request: HttpRequest, reference: str, import_id: int) -> HttpResponseBase:
    found = _import_or_404(request, reference, import_id)
    form = ConfirmForm(request.POST)
    form.is_valid()
    try:
        imports.import_confirm(
            timeline_import=found, actor=request.user, skip_bad_rows=form.cleaned_data.get("skip_bad_rows", False)
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _detail(request, found, status=400, form=form)
    except imports.ImportConflict as exc:
        found.refresh_from_db()
        return _detail(request, found, status=409, error=str(exc))
    return redirect("timeline:import-detail", reference=found.incident.reference, import_id=found.pk)


@login_required
@require_POST
def import_cancel(request: HttpRequest, reference: str, import_id: int) -> HttpResponseBase:
    found = _import_or_404(request, reference, import_id)
    try:
        imports.import_cancel(timeline_import=found, actor=request.user)
    except imports.ImportConflict as exc:
        found.refresh_from_db()
        return _detail(request, found, status=409, error=str(exc))
    return redirect("timeline:import-detail", reference=found.incident.reference, import_id=found.pk)


def _filters(request: HttpRequest) -> dict[str, Any]:
    """The timeline page's GET filters, as ``selectors.filtered`` takes them."""
    vendor = request.GET.get("vendor", "")
    return {
        "kinds": [kind for kind in request.GET.getlist("kind") if kind],
        "key_only": request.GET.get("key", "").lower() in _TRUE,
        "vendor_id": int(vendor) if vendor.isdigit() else None,
        "technique": request.GET.get("technique", "")[:20],
    }


@login_required
@require_GET
def export(request: HttpRequest, reference: str, format: str) -> StreamingHttpResponse:
    incident = _incident(request, reference)
    # viewer: a vendor collaborator filtering by another company finds nothing (as on the API).
    events = selectors.filtered(selectors.events_for(request.user, incident), **_filters(request), viewer=request.user)
    if format == "csv":
        body, content_type = exports.csv_chunks(events, request.user), "text/csv; charset=utf-8"
    else:
        body, content_type = exports.json_chunks(events, request.user), "application/json"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(incident, format)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


urlpatterns: list[URLPattern] = [
    path("incidents/<reference:reference>/timeline/import/", import_view, name="import"),
    path("incidents/<reference:reference>/timeline/imports/<int:import_id>/", import_detail, name="import-detail"),
    path(
        "incidents/<reference:reference>/timeline/imports/<int:import_id>/confirm/",
        import_confirm,
        name="import-confirm",
    ),
    path(
        "incidents/<reference:reference>/timeline/imports/<int:import_id>/cancel/", import_cancel, name="import-cancel"
    ),
    path("incidents/<reference:reference>/timeline/export.<csv_or_json:format>", export, name="export"),
]
