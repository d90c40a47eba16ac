"""Browser views of the notification register: the incident page's panel (decisions, deadline
clocks, drafting a notice) and the notice page (edit, versions, approve, record as sent, export).
Thin: parse, call a service or selector, answer.

Every view starts from the visibility selector (``incidents.views._visible_or_404``), then
``may_read_regulatory``: vendor collaborators get the same 404 as for an incident they are not
on, on every URL here. Then the services decide: ValidationError → the form again with its
errors (400, or 200 inside an htmx swap), PermissionDenied → 403, ConflictError (a stale version
of a notice) → the page with the conflict message (409).

The panel's forms answer htmx with the panel (and the activity panel out of band, as the other
in-place writes); a plain POST is redirected to the incident, or shown the incident page again
with the refused form (400).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import ConflictError

from .. import live
from .. import views as case_views
from ..evidence.downloads import PRIVILEGE_HEADER, PRIVILEGE_HEADER_VALUE
from ..forms import add_service_errors, form_error_messages
from ..markdown import render_markdown
from ..models import PRIVILEGE_MARKING, Applicability, Incident, Notice, NoticeStatus, NoticeVersion, Regime
from ..permissions import Action, case_permissions, require
from . import exports, services
from .forms import ApproveForm, ClockForm, DecideForm, DraftForm, ReviseForm, SendForm
from .panel import form_ids, panel_context
from .selectors import may_read_regulatory


def _incident(request: HttpRequest, reference: str, *, needs: Action | None = None) -> Incident:
    """The incident, if the viewer sees it and may read its register; else 404 (the same 404).
    With ``needs``, then the rule (else 403) before the body is looked at. Counsel's extra
    actions come from the rule table (``permissions.COUNSEL_ACTIONS``) through ``require``."""
    incident = case_views._visible_or_404(request.user, reference)
    if not may_read_regulatory(request.user):
        raise Http404("No such incident.")
    if needs is not None:
        require(request.user, incident, needs)
    return incident


def _regime(slug: str) -> Regime:
    regime = Regime.objects.filter(slug=slug).first()
    if regime is None:
        raise Http404("No such regime.")
    return regime


def _service_errors(form: forms.Form, exc: ValidationError, rename: dict[str, str] | None = None) -> None:
    """``add_service_errors`` with the service's field names mapped to the form's."""
    if rename and hasattr(exc, "error_dict"):
        exc = ValidationError({rename.get(field, field): errors for field, errors in exc.error_dict.items()})
    add_service_errors(form, exc)


def _register_url(incident: Incident) -> str:
    return f"{incident.get_absolute_url()}#register-panel"


# --- The incident page's panel ----------------------------------------------------------------
def _panel(request: HttpRequest, incident: Incident, **parts: Any) -> HttpResponse:
    context = {"incident": incident, "can": case_permissions(request.user, incident)}
    context.update(panel_context(request, incident, **parts))
    return render(request, "incidents/_register.html", context)


def _answer(
    request: HttpRequest,
    incident: Incident,
    *,
    saved: str | None,
    error: str = "",
    form_key: str = "",
    form: forms.Form | None = None,
) -> HttpResponseBase:
    """``saved`` is the success message; None when refused (``form`` holds the errors, or
    ``error`` says why)."""
    if request.htmx:
        if saved is None:
            return _panel(request, incident, form_key=form_key, form=form, register_notice=error)
        response = _panel(request, incident, register_notice=saved)
        return live.with_updates(request, response, incident, changed="register")
    if saved is None:
        if form is None:
            messages.error(request, error)
            return redirect(_register_url(incident))
        parts = {"form_key": form_key, "form": form, "register_notice": error}
        return case_views.detail_response(request, incident.reference, status=400, register_parts=parts)
    messages.success(request, saved)
    return redirect(_register_url(incident))


@login_required
@require_POST
def decide(request: HttpRequest, reference: str, regime: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/register/<regime>/decide/``: ``decision``, ``reason``."""
    found = _regime(regime)
    incident = _incident(request, reference, needs=Action.DECIDE_REGULATORY)
    key = f"decide-{found.slug}"
    form = DecideForm(request.POST, auto_id=form_ids(key))
    if form.is_valid():
        try:
            services.assessment_decide(incident=incident, regime=found, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            label = Applicability(form.cleaned_data["decision"]).label.lower()
            return _answer(request, incident, saved=f"{found.name}: {label}.")
    return _answer(request, incident, saved=None, form_key=key, form=form, error="The decision was not recorded.")


@login_required
@require_POST
def clock_set(request: HttpRequest, reference: str, regime: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/register/<regime>/clock/``: ``stage``, ``start_event``,
    ``started_at`` (local time), ``reason``."""
    found = _regime(regime)
    incident = _incident(request, reference, needs=Action.DECIDE_REGULATORY)
    key = f"clock-{found.slug}"
    form = ClockForm(request.POST, stages=services.stages_of(found), auto_id=form_ids(key))
    if form.is_valid():
        data = form.cleaned_data
        try:
            clock = services.clock_set(
                incident=incident,
                regime=found,
                stage=data["stage"],
                start_event=data["start_event"],
                started_at=data["started_at"],
                reason=data["reason"],
                actor=request.user,
            )
        except ValidationError as exc:
            _service_errors(form, exc, rename={"start_reason": "reason"})
        else:
            label = services.stage_of(found, clock.stage).label
            return _answer(request, incident, saved=f"{found.name}, {label}: due {_local(clock.due_at)}.")
    return _answer(request, incident, saved=None, form_key=key, form=form, error="The clock was not set.")


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


@login_required
@require_POST
def notice_draft(request: HttpRequest, reference: str, regime: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/register/<regime>/notices/``: ``stage`` (optional). Opens the
    new draft's page."""
    found = _regime(regime)
    incident = _incident(request, reference, needs=Action.DRAFT_NOTICE)
    form = DraftForm(request.POST)
    form.is_valid()
    try:
        notice = services.notice_draft(
            incident=incident, regime=found, stage=form.cleaned_data.get("stage", ""), actor=request.user
        )
    except ValidationError as exc:
        return _answer(request, incident, saved=None, error="No notice was drafted: " + " ".join(exc.messages))
    messages.success(request, f"Drafted “{notice.title}” from the {found.name} template.")
    response = redirect(_notice_url(notice))
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = _notice_url(notice)
    return response


# --- The notice page ----------------------------------------------------------------------------
def _notice_url(notice: Notice) -> str:
    return reverse("incidents:regulatory-notice", args=[notice.incident.reference, notice.pk])


def _notice(request: HttpRequest, reference: str, notice_id: int, *, needs: Action | None = None) -> Notice:
    """The notice (404 as for the incident, or when it is not this incident's), then with
    ``needs`` the rule (else 403) before the body is looked at."""
    incident = _incident(request, reference)
    notice = (
        Notice.objects.filter(incident=incident, pk=notice_id)
        .select_related("regime", "approved_by", "sent_by", "created_by")
        .first()
    )
    if notice is None:
        raise Http404("No such notice.")
    notice.incident = incident
    if needs is not None:
        require(request.user, incident, needs)
    return notice


def _page(
    request: HttpRequest,
    notice: Notice,
    *,
    shown: NoticeVersion | None = None,
    revise_form: ReviseForm | None = None,
    send_form: SendForm | None = None,
    errors: list[str] | None = None,
    conflict: str = "",
    status: int = 200,
) -> HttpResponse:
    """The notice page: ``shown`` is an older version being read (None: the current text)."""
    can = case_permissions(request.user, notice.incident)
    versions = list(notice.versions.select_related("author").order_by("-number"))
    shown_number = shown.number if shown is not None else notice.version
    body = shown.body if shown is not None else notice.body
    editable = can["draft_notice"] and notice.status != NoticeStatus.SENT
    if editable and revise_form is None:
        revise_form = ReviseForm(initial={"body": notice.body, "version": notice.version}, auto_id="notice-%s")
    if can["record_notice_sent"] and notice.status == NoticeStatus.APPROVED and send_form is None:
        send_form = SendForm(auto_id="send-%s")
    stage = services.stage_of(notice.regime, notice.stage) if notice.stage else None
    context = {
        "incident": notice.incident,
        "notice": notice,
        "can": can,
        "stage": stage,
        "marking": PRIVILEGE_MARKING if notice.privileged else "",
        "versions": versions,
        "shown_number": shown_number,
        "showing_old": shown is not None and shown.number != notice.version,
        "shown": shown,
        "body_html": render_markdown(body),
        "revise_form": revise_form if editable else None,
        "may_approve": can["approve_notice"] and notice.status == NoticeStatus.DRAFT,
        "send_form": send_form if notice.status == NoticeStatus.APPROVED and can["record_notice_sent"] else None,
        "errors": errors or [],
        "conflict": conflict,
        "formats": [("md", "Markdown"), ("html", "HTML"), ("pdf", "PDF")],
    }
    return render(request, "regulatory/notice.html", context, status=status)


@login_required
@require_http_methods(case_views.FORM_METHODS)
def notice_detail(request: HttpRequest, reference: str, notice_id: int) -> HttpResponseBase:
    """``GET``: the notice. ``POST``: ``body`` and ``version`` (the one the editor loaded) save a
    new version; a stale version is a 409 that keeps what was typed."""
    # Reading the notice is for whoever reads the register; saving a version is drafting.
    notice = _notice(request, reference, notice_id, needs=Action.DRAFT_NOTICE if request.method == "POST" else None)
    if request.method != "POST":
        return _page(request, notice)
    form = ReviseForm(request.POST, auto_id="notice-%s")
    if form.is_valid():
        try:
            saved = services.notice_revise(
                notice=notice, body=form.cleaned_data["body"], actor=request.user, version=form.cleaned_data["version"]
            )
        except ConflictError as exc:
            return _conflict(request, notice, exc, revise_form=form)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            if saved.version == form.cleaned_data["version"]:
                messages.info(request, "Nothing changed.")
            else:
                messages.success(request, f"Saved version {saved.version}.")
            return redirect(_notice_url(notice))
    return _page(request, notice, revise_form=form, status=400)


def _conflict(request: HttpRequest, notice: Notice, exc: ConflictError, **forms_: Any) -> HttpResponse:
    """409: the page as it is now, the message, and the refused form with what was typed (its
    version moved on, so saving again is a deliberate overwrite of what the reader now sees)."""
    fresh = _notice(request, notice.incident.reference, notice.pk)
    form = forms_.get("revise_form")
    if form is not None:
        data = form.data.copy()
        data["version"] = str(fresh.version)
        forms_["revise_form"] = ReviseForm(data, auto_id="notice-%s")
    return _page(request, fresh, conflict=str(exc), status=409, **forms_)


@login_required
@require_GET
def notice_version(request: HttpRequest, reference: str, notice_id: int, number: int) -> HttpResponse:
    """``GET …/notices/<id>/versions/<n>/``: an earlier (or the current) text."""
    notice = _notice(request, reference, notice_id)
    shown = NoticeVersion.objects.filter(notice=notice, number=number).select_related("author").first()
    if shown is None:
        raise Http404("No such version.")
    return _page(request, notice, shown=shown)


@login_required
@require_POST
def notice_approve(request: HttpRequest, reference: str, notice_id: int) -> HttpResponseBase:
    """``POST …/notices/<id>/approve/``: ``version``, the one the approver read."""
    notice = _notice(request, reference, notice_id, needs=Action.APPROVE_NOTICE)
    form = ApproveForm(request.POST)
    if not form.is_valid():
        return _page(request, notice, errors=["Say which version you approve."], status=400)
    try:
        services.notice_approve(notice=notice, actor=request.user, version=form.cleaned_data["version"])
    except ConflictError as exc:
        return _conflict(request, notice, exc)
    except ValidationError as exc:
        return _page(request, notice, errors=exc.messages, status=400)
    messages.success(request, f"Approved version {form.cleaned_data['version']}.")
    return redirect(_notice_url(notice))


@login_required
@require_POST
def notice_send(request: HttpRequest, reference: str, notice_id: int) -> HttpResponseBase:
    """``POST …/notices/<id>/send/``: ``sent_at`` (local time), ``channel``, ``recipient``,
    ``authority_reference``. Stops the clock the notice answers."""
    notice = _notice(request, reference, notice_id, needs=Action.RECORD_NOTICE_SENT)
    form = SendForm(request.POST, auto_id="send-%s")
    if form.is_valid():
        try:
            services.notice_send(notice=notice, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, f"Recorded “{notice.title}” as sent to {form.cleaned_data['recipient']}.")
            return redirect(_notice_url(notice))
    if notice.status != NoticeStatus.APPROVED:  # the page has no form to show them on: at the top
        return _page(request, notice, errors=form_error_messages(form), status=400)
    return _page(request, notice, send_form=form, status=400)


@login_required
@require_GET
def notice_export(request: HttpRequest, reference: str, notice_id: int, format: str) -> HttpResponse:
    """``GET …/notices/<id>/export.<md|html|pdf>``: the notice as a file (an attachment, never
    rendered by the browser), marked privileged while not sent."""
    notice = _notice(request, reference, notice_id)
    if format == "pdf":
        content: bytes = exports.notice_pdf(notice)
    elif format == "html":
        content = exports.notice_html(notice).encode()
    else:
        content = exports.notice_markdown(notice).encode()
    response = HttpResponse(content, content_type=exports.CONTENT_TYPES[format])
    response["Content-Disposition"] = content_disposition_header(True, exports.filename(notice, format))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response["Cache-Control"] = "private, no-store"
    if notice.privileged:
        response[PRIVILEGE_HEADER] = PRIVILEGE_HEADER_VALUE
    return response
