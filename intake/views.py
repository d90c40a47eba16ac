"""The triage pages: the queue (``/alerts/``) and one alert (``/alerts/<id>/``). Thin: parse,
call a selector or a ``intake.triage`` service, answer.

Both are a 404 for whoever may not triage (``may_triage_alerts``: executives, vendor
collaborators, integrations), like the vendor registry for vendor collaborators: they must not
learn the queue exists. Actions are plain POSTs to the page itself: success redirects back
(filters and page kept) with a message; a refusal re-renders the page with the form's errors
(400) and the ticked alerts still ticked.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from incidents.forms import add_service_errors
from incidents.models import Incident
from incidents.permissions import may_triage_alerts

from . import selectors, triage
from .forms import LINK, PROMOTE, QueueFilterForm, TriageForm
from .models import Alert, AlertSeverity, AlertStatus

QUEUE_PAGE_SIZE = 50
ROLE_LABELS = {"attacker": "Attacker-side", "affected": "Our asset (affected)"}


def _triager_or_404(request: HttpRequest) -> None:
    if not may_triage_alerts(request.user):
        raise Http404("No such page.")


def _apply(form: TriageForm, actor: Any) -> str:
    """Run the form's action; returns the message to show. Raises what the services raise."""
    data = form.cleaned_data
    action, ids = data["action"], data["alerts"]
    if action == PROMOTE:
        incident = triage.alerts_promote(alerts=ids, actor=actor, title=data["title"], severity=data["severity"])
        return _outcome("Promoted", len(ids), f"to a new incident, {incident.reference}")
    if action == LINK:
        incident: Incident = data["incident"]
        linked = triage.alerts_link(alerts=ids, incident=incident, actor=actor)
        return _outcome("Linked", len(linked), f"to {incident.reference}")
    ignored = triage.alerts_ignore(alerts=ids, actor=actor, reason=data["reason"])
    return _outcome("Ignored", len(ignored), "")


def _outcome(verb: str, count: int, where: str) -> str:
    noun = f"{count} alert{'s' if count != 1 else ''}"
    return f"{verb} {noun} {where}." if where else f"{verb} {noun}."


def _submit(request: HttpRequest, form: TriageForm) -> bool:
    """Validate and apply ``form``; True when it succeeded (a message is queued), False when
    the form now carries the errors to show."""
    if not form.is_valid():
        return False
    try:
        message = _apply(form, request.user)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return False
    except PermissionDenied as exc:
        # The role was checked for the page: what is left is the incident's rule table (linking
        # to an incident the actor may see but not contribute to).
        form.add_error("reference" if form.cleaned_data.get("action") == LINK else None, str(exc))
        return False
    messages.success(request, message)
    return True


def _query_without(params: QueryDict, *names: str, **values: str) -> str:
    query = params.copy()
    for name in (*names, *values):
        query.pop(name, None)
    for name, value in values.items():
        query[name] = value
    return query.urlencode()


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def queue(request: HttpRequest) -> HttpResponse:
    """``GET /alerts/``: the queue (status tab, filters, 50 a page). ``POST``: a bulk action on
    the ticked alerts, then back to the same filters and page."""
    _triager_or_404(request)
    form: TriageForm | None = None
    if request.method == "POST":
        form = TriageForm(request.POST, viewer=request.user)
        if _submit(request, form):
            return redirect(request.get_full_path())
    filter_form = QueueFilterForm(request.GET)
    filter_form.is_valid()  # invalid fields are shown on the form and left out of cleaned_data
    filters = filter_form.cleaned_data
    status = filters.get("status") or AlertStatus.NEW
    page = Paginator(selectors.alert_queue(viewer=request.user, filters=filters), QUEUE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    counts = selectors.alert_counts(request.user)
    tabs = [
        {
            "status": value,
            "label": label,
            "count": counts[value],
            "query": _query_without(request.GET, "page", status=value),
        }
        for value, label in AlertStatus.choices
    ]
    return render(
        request,
        "intake/queue.html",
        {
            "filter_form": filter_form,
            "status": status,
            "status_label": AlertStatus(status).label,
            "tabs": tabs,
            "page": page,
            "query": _query_without(request.GET, "page"),
            "severities": AlertSeverity.choices,
            "selected_severity": request.GET.getlist("severity"),
            "form": form or TriageForm(viewer=request.user),
            "ticked": {str(value) for value in request.POST.getlist("alerts")} if form is not None else set(),
            "actionable": status == AlertStatus.NEW,
        },
        status=400 if form is not None else 200,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    """``GET /alerts/<id>/``: one alert, its candidate indicators and its payload as sent.
    ``POST``: a triage action on this alert alone."""
    _triager_or_404(request)
    alert = selectors.alert_get(request.user, alert_id)
    if alert is None:
        raise Http404("No such alert.")
    form: TriageForm | None = None
    if request.method == "POST":
        data = request.POST.copy()
        data.setlist("alerts", [str(alert.pk)])  # this page acts on this alert, whatever was posted
        form = TriageForm(data, viewer=request.user)
        if _submit(request, form):
            return redirect("intake:detail", alert_id=alert.pk)
    return render(
        request,
        "intake/detail.html",
        {
            "alert": alert,
            "observables": _observables(alert),
            "raw": _pretty(alert.raw),
            "form": form or TriageForm(viewer=request.user),
            "actionable": alert.status == AlertStatus.NEW,
        },
        status=400 if form is not None else 200,
    )


def _observables(alert: Alert) -> list[dict[str, str]]:
    rows = []
    for item in alert.observables if isinstance(alert.observables, list) else []:
        if isinstance(item, dict):
            role = str(item.get("role", ""))
            rows.append(
                {
                    "type": str(item.get("type", "")),
                    "value": str(item.get("value", "")),
                    "role": role,
                    "role_label": ROLE_LABELS.get(role, role),
                }
            )
    return rows


def _pretty(raw: Any) -> str:
    """The payload as indented JSON (the template escapes it)."""
    try:
        return json.dumps(raw, indent=2, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(raw)
