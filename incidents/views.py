"""Browser views for responders. Thin: parse the form, call a service or selector, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User

from . import selectors, services
from .forms import FindingForm, IncidentEditForm, IncidentForm, TaskForm
from .models import Category, Incident, Severity, Status
from .permissions import Action, assignable_users, case_permissions, lead_filter_choices, may, may_open_incidents


def _visible_or_404(user: User, reference: str) -> Incident:
    incident = selectors.incident_get(viewer=user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    return incident


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "incidents/home.html",
        {
            "incidents": selectors.my_open_incidents(viewer=request.user)[:20],
            "tasks": selectors.my_open_tasks(viewer=request.user)[:20],
        },
    )


@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    incident_filter = selectors.incident_filter(viewer=request.user, filters=request.GET)
    # Invalid filter values are shown on the form; the list then falls back to unfiltered.
    queryset = incident_filter.qs if incident_filter.is_valid() else incident_filter.queryset
    page = Paginator(queryset, settings.INCIDENT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "incidents/list.html",
        {
            "filter": incident_filter,
            "page": page,
            "statuses": Status.choices,
            "severities": Severity.choices,
            "categories": Category.choices,
            "leads": lead_filter_choices(viewer=request.user, visible=incident_filter.queryset),
            "selected_status": request.GET.getlist("status"),
            "selected_severity": request.GET.getlist("severity"),
        },
    )


@login_required
def incident_create(request: HttpRequest) -> HttpResponse:
    if not may_open_incidents(request.user):
        messages.error(request, "Your role may not open incidents.")
        return redirect("incidents:list")
    form = IncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_open(opened_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Opened {incident.reference}.")
            return redirect(incident)
    return render(request, "incidents/form.html", {"form": form, "creating": True})


@login_required
def incident_detail(request: HttpRequest, reference: str) -> HttpResponse:
    incident = selectors.incident_detail(viewer=request.user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    can = case_permissions(request.user, incident)  # from the prefetched memberships: no query
    return render(
        request,
        "incidents/detail.html",
        {
            "incident": incident,
            "can": can,
            "finding_form": FindingForm(),
            # Only built (one query for its choices) for those who may add tasks.
            "task_form": TaskForm(assignees=assignable_users(incident=incident)) if can["contribute"] else None,
            "transitions": [(s, Status(s).label) for s in incident.allowed_transitions],
        },
    )


@login_required
def incident_edit(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference)
    if not may(request.user, Action.EDIT, incident):
        messages.error(request, "Only members working this incident (its lead and responders) may change it.")
        return redirect(incident)
    form = IncidentEditForm(
        request.POST or None,
        instance=incident,
        initial={"version": incident.version},
        can_manage_access=may(request.user, Action.MANAGE_ACCESS, incident),
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            services.incident_update(
                incident=incident, actor=request.user, version=form.cleaned_data["version"], changes=changes
            )
        except services.ConflictError as exc:
            form.add_error(None, str(exc))
            status = 409
            current = exc.incident
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, f"Saved {incident.reference}.")
            return redirect(incident)
    context = {"form": form, "incident": incident, "creating": False}
    if status == 409:
        context["current"] = current
    return render(request, "incidents/form.html", context, status=status)


@login_required
@require_POST
def incident_transition(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference)
    to = request.POST.get("to", "")
    raw_version = request.POST.get("version", "")
    if raw_version and not (raw_version.isascii() and raw_version.isdigit()):
        # A malformed version must not silently skip the optimistic lock.
        return HttpResponseBadRequest("The form's version is not a number: reload the incident and try again.")
    version = int(raw_version) if raw_version else None
    try:
        incident = services.incident_transition(incident=incident, to=to, actor=request.user, version=version)
    except services.ConflictError as exc:
        messages.error(request, str(exc))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{incident.reference} is now {incident.get_status_display().lower()}.")
    return redirect(incident)


def _render_findings(request: HttpRequest, incident: Incident, form: FindingForm | None = None) -> HttpResponse:
    findings = incident.findings.select_related("author")
    return render(
        request,
        "incidents/_findings.html",
        {
            "incident": incident,
            "findings": findings,
            "finding_form": form or FindingForm(),
            "can": case_permissions(request.user, incident),
        },
    )


def _render_tasks(request: HttpRequest, incident: Incident, form: TaskForm | None = None) -> HttpResponse:
    return render(
        request,
        "incidents/_tasks.html",
        {
            "incident": incident,
            "tasks": incident.tasks.select_related("assignee"),
            "task_form": form or TaskForm(assignees=assignable_users(incident=incident)),
            "can": case_permissions(request.user, incident),
        },
    )


def _add_in_place(
    request: HttpRequest,
    incident: Incident,
    form: forms.Form,
    save: Callable[[dict[str, Any]], object],
    render_panel: Callable[..., HttpResponse],
    what: str,
) -> HttpResponse:
    """Validate ``form`` and ``save`` its data. htmx gets the panel back (with the errors, or a
    fresh form); a plain POST is redirected to the incident, with the errors as a message."""
    if form.is_valid():
        try:
            save(form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = None
    if request.htmx:
        return render_panel(request, incident, form)
    if form is not None:
        errors = " ".join(error for errors in form.errors.values() for error in errors)
        messages.error(request, f"The {what} was not saved: {errors}")
    return redirect(incident)


@login_required
@require_POST
def finding_add(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference)
    return _add_in_place(
        request,
        incident,
        FindingForm(request.POST),
        lambda data: services.finding_add(incident=incident, author=request.user, body=data["body"]),
        _render_findings,
        "finding",
    )


@login_required
@require_POST
def task_add(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference)
    return _add_in_place(
        request,
        incident,
        TaskForm(request.POST, assignees=assignable_users(incident=incident)),
        lambda data: services.task_add(incident=incident, actor=request.user, **data),
        _render_tasks,
        "task",
    )


@login_required
@require_POST
def task_toggle(request: HttpRequest, reference: str, task_id: int) -> HttpResponse:
    incident = _visible_or_404(request.user, reference)
    task = get_object_or_404(incident.tasks, pk=task_id)
    services.task_update(task=task, actor=request.user, changes={"done": not task.done})
    if not request.htmx:
        return redirect(incident)
    return _render_tasks(request, incident)
