"""Browser views for evidence: upload (one or many files), text excerpts, transfers, downloads,
manifests and legal holds. Thin: parse, call a service or selector, answer.

Answers follow the other in-place forms of the incident page: htmx gets the evidence panel back
(and the activity panel out of band after a write), a plain form POST is redirected to the
incident (or, when refused, shown the incident page again with the form's errors, with 400/413).
The upload view also answers JSON (``Accept: application/json``), so a script can send each file
in its own request: 201 ``{"evidence": [...]}``, or 400/403/413 ``{"errors": {field: [...]}}``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFilesSent, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from accounts.audit import record_download

from .. import live
from .. import views as case_views
from ..forms import add_service_errors, form_error_messages
from ..models import Evidence, Incident
from ..permissions import REFUSALS, Action, case_permissions, may, require
from . import downloads, manifest, selectors, services
from .forms import EvidenceTextForm, EvidenceTransferForm, EvidenceUploadForm, LegalHoldForm
from .panel import panel_context
from .uploads import REQUEST_OVERHEAD_BYTES, EvidenceUploadHandler, close_uploads


def _wants_json(request: HttpRequest) -> bool:
    return not request.htmx and "application/json" in request.headers.get("Accept", "")


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _json_errors(form: Any) -> dict[str, list[str]]:
    return {field: [str(error) for error in errors] for field, errors in form.errors.items()}


def _panel(request: HttpRequest, incident: Incident, *, status: int = 200, **forms: Any) -> HttpResponse:
    context = {"incident": incident, "can": case_permissions(request.user, incident)}
    context.update(panel_context(request, incident, **forms))
    return render(request, "incidents/_evidence.html", context, status=status)


def _with_activity(request: HttpRequest, response: HttpResponse, incident: Incident) -> HttpResponse:
    """After a write, the activity panel (and whatever others changed since the page's token)
    comes along out of band, as after the other in-place writes."""
    return live.with_updates(request, response, incident, changed="evidence")


def _answer(
    request: HttpRequest,
    incident: Incident,
    *,
    form_name: str,
    form: Any,
    saved: str | None,
    status: int = 400,
    created: list[Evidence] | None = None,
) -> HttpResponseBase:
    """The answer to an upload or a text excerpt: ``saved`` is the success message (None when
    ``form`` holds the errors, answered with ``status``)."""
    if _wants_json(request):
        if saved is None:
            return JsonResponse({"errors": _json_errors(form)}, status=status)
        rows = [
            {
                "id": item.pk,
                "name": item.name,
                "size": item.size,
                "content_type": item.content_type,
                "sha256": item.sha256,
            }
            for item in created or []
        ]
        return JsonResponse({"evidence": rows}, status=201)
    if request.htmx:
        if saved is None:
            # Like the other in-place forms: errors come back in the panel (200, so htmx swaps
            # it), except what is too large, which stays a 413.
            return _panel(request, incident, status=413 if status == 413 else 200, **{form_name: form})
        return _with_activity(request, _panel(request, incident, notice=saved), incident)
    if saved is None:
        return case_views.detail_response(request, incident.reference, status=status, **{form_name: form})
    messages.success(request, saved)
    return redirect(incident)


def _too_large(request: HttpRequest, incident: Incident, message: str) -> HttpResponseBase:
    form = EvidenceUploadForm(incident=incident, viewer=request.user)
    form.refuse(message)
    return _answer(request, incident, form_name="upload_form", form=form, saved=None, status=413)


@csrf_exempt  # checked by _upload_checked, once the upload handler is in place (Django's docs' pattern)
@login_required
@require_POST
def evidence_upload(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/evidence/``: one or many files under ``file``, with the fields of
    ``EvidenceForm``. Files stream to disk through ``EvidenceUploadHandler`` (hashed on the way);
    a file over ``EVIDENCE_MAX_BYTES`` is a 413 and leaves nothing behind.

    The CSRF check (``csrf_protect`` below) reads the form, so the handler must be installed
    before it: Django's middleware would otherwise parse the body with the default handlers.
    """
    incident = case_views._visible_or_404(request.user, reference)
    if not may(request.user, Action.CONTRIBUTE, incident):
        # Refused before a byte of the body is read.
        if _wants_json(request):
            return JsonResponse({"errors": {"__all__": [REFUSALS[Action.CONTRIBUTE]]}}, status=403)
        raise PermissionDenied(REFUSALS[Action.CONTRIBUTE])
    limit = settings.EVIDENCE_MAX_BYTES
    if _content_length(request) > limit + REQUEST_OVERHEAD_BYTES:
        return _too_large(
            request,
            incident,
            f"This upload is larger than the {filesizeformat(limit)} limit ({limit:,} bytes per request): "
            "nothing was saved.",
        )
    handler = EvidenceUploadHandler(request, max_bytes=limit)
    request.upload_handlers = [handler]
    try:
        try:
            request.FILES  # noqa: B018 - parses the body through the handler
        except (MultiPartParserError, TooManyFilesSent) as exc:
            form = EvidenceUploadForm(incident=incident, viewer=request.user)
            form.refuse(f"The upload could not be read: {exc}")
            return _answer(request, incident, form_name="upload_form", form=form, saved=None, status=400)
        except RequestDataTooBig:
            return _too_large(request, incident, "The form's fields are too large.")
        if handler.too_large:
            name = handler.file_name or "The file"
            return _too_large(
                request,
                incident,
                f"“{name}” is larger than the {filesizeformat(limit)} limit ({limit:,} bytes): nothing was saved.",
            )
        return _upload_checked(request, incident)
    finally:
        close_uploads(request)


@csrf_protect
def _upload_checked(request: HttpRequest, incident: Incident) -> HttpResponseBase:
    form = EvidenceUploadForm(request.POST, request.FILES, incident=incident, viewer=request.user)
    created = None
    if form.is_valid():
        try:
            created = services.evidence_files_add(
                incident=incident, actor=request.user, files=form.cleaned_data["file"], **form.metadata()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
    if created is None:
        return _answer(request, incident, form_name="upload_form", form=form, saved=None)
    saved = f"Added {len(created)} evidence file{'' if len(created) == 1 else 's'}."
    return _answer(
        request,
        incident,
        form_name="upload_form",
        form=EvidenceUploadForm(incident=incident, viewer=request.user),
        saved=saved,
        created=created,
    )


@login_required
@require_POST
def evidence_text_add(request: HttpRequest, reference: str) -> HttpResponseBase:
    incident = case_views._visible_or_404(request.user, reference, needs=Action.CONTRIBUTE)
    form = EvidenceTextForm(request.POST, incident=incident, viewer=request.user)
    created = None
    if form.is_valid():
        try:
            created = services.evidence_text_add(
                incident=incident,
                actor=request.user,
                name=form.cleaned_data["name"],
                text=form.cleaned_data["text"],
                **form.metadata(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
    if created is None:
        return _answer(request, incident, form_name="text_form", form=form, saved=None)
    saved = f"Added the excerpt “{created.name}”."
    return _answer(request, incident, form_name="text_form", form=form, saved=saved, created=[created])


def _evidence_or_404(
    request: HttpRequest, reference: str, evidence_id: int, *, needs: Action | None = None
) -> Evidence:
    """The evidence item the viewer sees (else 404) and, with ``needs``, the rule (else 403)
    before the body is looked at, as ``incidents.views._visible_or_404``."""
    evidence = selectors.evidence_get(viewer=request.user, reference=reference, evidence_id=evidence_id)
    if evidence is None:
        raise Http404("No such evidence.")
    if needs is not None:
        require(request.user, evidence.incident, needs)
    return evidence


@login_required
@require_POST
def evidence_transfer(request: HttpRequest, reference: str, evidence_id: int) -> HttpResponseBase:
    evidence = _evidence_or_404(request, reference, evidence_id, needs=Action.TRANSFER_EVIDENCE)
    incident = evidence.incident
    form = EvidenceTransferForm(request.POST)
    errors: list[str] = []
    if form.is_valid():
        try:
            services.evidence_transfer(evidence=evidence, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors = exc.messages
    else:
        errors = form_error_messages(form)
    if request.htmx:
        if errors:
            return _panel(request, incident, transfer_error=(evidence.pk, errors))
        notice = f"Recorded the transfer of “{evidence.name}” to {form.cleaned_data['recipient']}."
        return _with_activity(request, _panel(request, incident, notice=notice), incident)
    if errors:
        messages.error(request, f"The transfer was not recorded: {' '.join(errors)}")
    else:
        messages.success(request, f"Recorded the transfer of “{evidence.name}”.")
    return redirect(incident)


@login_required
@require_GET
def evidence_download(request: HttpRequest, reference: str, evidence_id: int) -> HttpResponseBase:
    """The file (or text excerpt) as an attachment, after the rule table allowed it and the
    access was recorded in its chain of custody. 404 for what the viewer may not see, 403 for
    executives, 410 for a purged file."""
    evidence = _evidence_or_404(request, reference, evidence_id)
    try:
        services.evidence_access(evidence=evidence, actor=request.user)
    except services.EvidencePurged as exc:
        return render(request, "incidents/evidence_gone.html", {"evidence": evidence, "message": str(exc)}, status=410)
    record_download(request=request, evidence=evidence)
    return downloads.evidence_response(evidence)


@login_required
@require_GET
def evidence_manifest(request: HttpRequest, reference: str, format: str) -> HttpResponse:
    """The evidence manifest as a .csv or .json file; each item exported gets an ``export``
    custody event."""
    incident = case_views._visible_or_404(request.user, reference)
    items = services.evidence_export(incident=incident, actor=request.user, format=format)
    return manifest.manifest_response(incident=incident, items=items, actor=request.user, format=format)


@login_required
@require_POST
def legal_hold(request: HttpRequest, reference: str) -> HttpResponseBase:
    """Place (``action=set``) or release (``action=clear``) the incident's legal hold."""
    incident = case_views._visible_or_404(request.user, reference, needs=Action.LEGAL_HOLD)
    form = LegalHoldForm(request.POST)
    placing = request.POST.get("action") != "clear"
    notice = ""
    if form.is_valid():
        change = services.legal_hold_set if placing else services.legal_hold_clear
        try:
            change(incident=incident, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            notice = "Placed a legal hold: evidence cannot be purged." if placing else "Released the legal hold."
    if request.htmx:
        if not notice:
            return _panel(request, incident, hold_form=form)
        return _with_activity(request, _panel(request, incident, notice=notice), incident)
    if notice:
        messages.success(request, notice)
    else:
        errors = " ".join(form_error_messages(form))
        messages.error(request, f"The legal hold was not changed: {errors}")
    return redirect(incident)
