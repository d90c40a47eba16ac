"""Browser views for indicators: add one, paste text → pick the candidates → confirm (two htmx
steps), and the STIX/CSV exports. Thin: parse, call a service or selector, answer.

Answers follow the other in-place forms of the incident page: htmx gets the indicators panel
back (and the activity panel out of band after a write); a plain form POST is redirected to the
incident, or shown the page again with the form's errors (400).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import live
from .. import views as case_views
from ..forms import add_service_errors
from ..models import Incident, Indicator, IndicatorRole, Tlp
from ..permissions import Action, case_permissions, require
from ..selectors import sees_internal
from . import selectors, services, stix
from .extract import Candidate, extract
from .forms import ConfirmForm, ExtractForm, IndicatorEditForm, IndicatorForm
from .panel import panel_context

_TRUE = ("1", "true", "on", "yes")


def _panel(
    request: HttpRequest, incident: Incident, *, status: int = 200, extra: dict[str, Any] | None = None, **parts: Any
) -> HttpResponse:
    """The panel alone; ``extra``: the edit form (``indicator_edit_form``) and the row just
    edited (``indicator_edited``, focused), which the page itself never draws."""
    context = {"incident": incident, "can": case_permissions(request.user, incident)}
    context.update(panel_context(request, incident, **parts))
    context.update(extra or {})
    return render(request, "incidents/_indicators.html", context, status=status)


def _answer(request: HttpRequest, incident: Incident, *, saved: str | None, **parts: Any) -> HttpResponseBase:
    """``saved`` is the success message; None when ``parts`` hold a form with errors."""
    if request.htmx:
        if saved is None:
            return _panel(request, incident, **parts)
        response = _panel(request, incident, indicator_notice=saved)
        return live.with_updates(request, response, incident, changed="indicator")
    if saved is None:
        return case_views.detail_response(request, incident.reference, status=400, indicator_parts=parts)
    messages.success(request, saved)
    return redirect(incident)


def _summary(results: list[services.BulkResult]) -> str:
    created = sum(1 for result in results if result.status == "created")
    duplicates = sum(1 for result in results if result.status == "duplicate")
    errors = [msg for result in results for msgs in result.errors.values() for msg in msgs]
    text = f"Added {created} indicator{'' if created == 1 else 's'}."
    if duplicates:
        text += f" {duplicates} already on this incident."
    if errors:
        text += " Not added: " + " ".join(errors)
    return text


@login_required
@require_POST
def indicator_add(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/indicators/``: one indicator."""
    incident = case_views._visible_or_404(request.user, reference, needs=Action.CONTRIBUTE)
    form = IndicatorForm(request.POST, incident=incident, viewer=request.user)
    created = None
    if form.is_valid():
        try:
            created = services.indicator_add(incident=incident, actor=request.user, **form.fields_for_service())
        except ValidationError as exc:
            add_service_errors(form, exc)
    if created is None:
        return _answer(request, incident, saved=None, indicator_form=form)
    return _answer(request, incident, saved=f"Added the {created.label}.")


def _already(request: HttpRequest, incident: Incident, candidates: list[Candidate]) -> set[str]:
    values = {candidate.value for candidate in candidates}
    rows = selectors.indicators_for(request.user, incident).filter(value__in=values).values_list("type", "value")
    return {f"{kind}:{value}" for kind, value in rows}


@login_required
@require_POST
def indicator_extract(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/indicators/extract/``: the first step. Nothing is saved: the
    candidates found in the text come back as a form to pick from (htmx: into
    ``#indicator-candidates``)."""
    # Nothing is saved, but only contributors pick.
    incident = case_views._visible_or_404(request.user, reference, needs=Action.CONTRIBUTE)
    form = ExtractForm(request.POST, auto_id="indicator-extract-%s")
    candidates = extract(form.cleaned_data["text"]) if form.is_valid() else None
    already = _already(request, incident, candidates) if candidates else set()
    context = {
        "incident": incident,
        "extract_form": form,
        "candidates": candidates,
        "already": already,
        "confirm_form": ConfirmForm(incident=incident, viewer=request.user),
    }
    if request.htmx:
        return render(request, "incidents/_indicator_candidates.html", context)
    parts = {"extract_form": form, "candidates": candidates}
    return case_views.detail_response(request, reference, status=200 if form.is_valid() else 400, indicator_parts=parts)


@login_required
@require_GET
def indicator_from_alerts(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``GET /incidents/<ref>/indicators/from-alerts/``: the observables of the alerts that
    joined the incident, as candidates to confirm (the same form as pasted text). Loaded when
    its panel section is opened, so the incident page pays nothing for it. Alerts are never
    shown to vendor collaborators (404, like the alert queue)."""
    from intake.selectors import alert_observables  # intake reads incidents, not the reverse

    incident = case_views._visible_or_404(request.user, reference)
    if not sees_internal(request.user):
        raise Http404("No such incident.")
    require(request.user, incident, Action.CONTRIBUTE)
    candidates = [
        Candidate(item["type"], item["value"], ours=item["role"] == IndicatorRole.AFFECTED)
        for item in alert_observables(incident)
    ]
    context = {
        "incident": incident,
        "extract_form": ExtractForm(auto_id="indicator-extract-%s"),
        "candidates": candidates,
        "already": _already(request, incident, candidates) if candidates else set(),
        "confirm_form": ConfirmForm(incident=incident, viewer=request.user),
        "empty_message": "No alert that joined this incident carried an indicator.",
        "source_hint": "SIEM alerts",
    }
    return render(request, "incidents/_indicator_candidates.html", context)


@login_required
@require_POST
def indicator_confirm(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/indicators/confirm/``: the second step, the picked candidates."""
    incident = case_views._visible_or_404(request.user, reference, needs=Action.CONTRIBUTE)
    form = ConfirmForm(request.POST, incident=incident, viewer=request.user)
    if not form.is_valid():
        return _answer(request, incident, saved=None, confirm_form=form)
    results = services.indicators_confirm(
        incident=incident,
        actor=request.user,
        picked=form.picked(),
        tlp=form.cleaned_data["tlp"],
        source=form.cleaned_data.get("source", ""),
        internal=form.internal_choice(),
    )
    return _answer(request, incident, saved=_summary(results))


def _editable_or_404(request: HttpRequest, reference: str, indicator_id: int) -> tuple[Incident, Indicator]:
    """The incident and one of its indicators the viewer sees (404 otherwise: a vendor
    collaborator never learns of an internal one), refused (403) unless they may change it."""
    incident = case_views._visible_or_404(request.user, reference)
    indicator = selectors.indicators_for(request.user, incident).filter(pk=indicator_id).first()
    if indicator is None:
        raise Http404("No such indicator.")
    indicator.incident = incident
    require(request.user, incident, Action.CONTRIBUTE)  # what services.indicator_update requires
    return incident, indicator


def _focus(form: IndicatorEditForm) -> IndicatorEditForm:
    """htmx focuses the ``autofocus`` control of what it swaps in: the first field in error, or
    the first field of a form just opened."""
    name = next((name for name in form.fields if name in form.errors), None)
    if name is None and not form.is_bound:
        name = next(iter(form.fields))
    if name is not None:
        form.fields[name].widget.attrs["autofocus"] = True
    return form


def _edit_refused(
    request: HttpRequest, incident: Incident, form: IndicatorEditForm, *, status: int
) -> HttpResponseBase:
    """The form again with its errors: htmx in the panel (200, so htmx swaps it), a plain POST
    on the edit page."""
    _focus(form)
    if request.htmx:
        return _panel(request, incident, extra={"indicator_edit_form": form})
    context = {"incident": incident, "indicator": form.indicator, "form": form}
    return render(request, "incidents/indicator_edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def indicator_edit(request: HttpRequest, reference: str, indicator_id: int) -> HttpResponseBase:
    """``/incidents/<ref>/indicators/<id>/edit/``: change an indicator's TLP, role, first/last
    seen, source, confidence, description and (staff only) internal flag, through
    ``services.indicator_update``; its type and value are never changed. GET: the form (htmx:
    into ``#indicator-edit``; ``?cancel=1`` empties it). POST: saved, the panel comes back with
    the row focused and the activity panel along; refused, the form again with the errors."""
    incident, indicator = _editable_or_404(request, reference, indicator_id)
    if request.method == "GET":
        if request.GET.get("cancel"):
            return HttpResponse("") if request.htmx else redirect(incident)
        form = _focus(IndicatorEditForm(indicator=indicator, viewer=request.user))
        context = {"incident": incident, "indicator": indicator, "form": form}
        template = "incidents/_indicator_edit.html" if request.htmx else "incidents/indicator_edit.html"
        return render(request, template, context)
    form = IndicatorEditForm(request.POST, indicator=indicator, viewer=request.user)
    if not form.is_valid():
        return _edit_refused(request, incident, form, status=400)
    if form.is_stale():
        # No version on indicators: the ``updated_at`` the form was loaded with stands in. The
        # form keeps what was typed and now carries the current stamp: saving again is deliberate.
        data = request.POST.copy()
        data["updated"] = form.initial["updated"]
        form = IndicatorEditForm(data, indicator=indicator, viewer=request.user)
        form.is_valid()
        form.add_error(
            None,
            f"Someone changed this {indicator.label} since you opened the form: its row shows it as it is "
            "now. Nothing was saved; check your changes and save again to apply them over theirs.",
        )
        return _edit_refused(request, incident, form, status=409)
    try:
        changes = services.indicator_update(indicator=indicator, actor=request.user, data=form.changes())
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _edit_refused(request, incident, form, status=400)
    saved = f"Saved the {indicator.label}." if changes else f"Nothing changed on the {indicator.label}."
    if not request.htmx:
        messages.success(request, saved)
        return redirect(f"{incident.get_absolute_url()}#indicator-{indicator.pk}")
    response = _panel(request, incident, indicator_notice=saved, extra={"indicator_edited": indicator.pk})
    return live.with_updates(request, response, incident, changed="indicator") if changes else response


@login_required
@require_GET
def indicator_export(request: HttpRequest, reference: str, format: str) -> HttpResponseBase:
    """``GET /incidents/<ref>/indicators/export.<stix|csv>``: the attacker-side indicators the
    viewer sees. TLP:RED only with ``include_red`` *and* ``confirm_red``: asking for RED without
    confirming shows a page that asks first."""
    incident = case_views._visible_or_404(request.user, reference)
    include_red = request.GET.get("include_red", "").lower() in _TRUE
    confirmed = request.GET.get("confirm_red", "").lower() in _TRUE
    if include_red and not confirmed:
        red = selectors.indicators_for(request.user, incident).filter(tlp=Tlp.RED, role="attacker").count()
        return render(
            request, "incidents/indicators_export_confirm.html", {"incident": incident, "format": format, "red": red}
        )
    indicators = selectors.indicators_for_export(request.user, incident, include_red=include_red)
    return export_response(incident, indicators, format)


def export_response(incident: Incident, indicators: list, format: str) -> HttpResponse:
    """The export as a downloaded file (browser and API)."""
    if format == "csv":
        body, content_type, extension = stix.indicators_csv(indicators), "text/csv; charset=utf-8", "csv"
    else:
        body = stix.bundle(incident, indicators).serialize(pretty=True)
        content_type, extension = "application/json", "stix.json"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{stix.filename(incident, extension)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
