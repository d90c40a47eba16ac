"""Browser views for responders. Thin: parse the form, call a service or selector, render."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.audit import record_restricted_read
from accounts.models import Role, User
from intake.selectors import alert_queue
from notifications import selectors as paging_selectors
from timeline.imports import FORMULA_START
from timeline.panel import panel_context as timeline_panel_context

from . import conflicts, filters, live, selectors, services
from .evidence.panel import panel_context as evidence_panel_context
from .forms import (
    FindingForm,
    IncidentCloseForm,
    IncidentEditForm,
    IncidentForm,
    IncidentReopenForm,
    MemberAddForm,
    MemberRoleForm,
    TaskForm,
    TaskNoteForm,
    TaskStatusForm,
    form_error_messages,
)
from .indicators.panel import panel_context as indicator_panel_context
from .models import OPEN_TASK_STATUSES, Category, Incident, Playbook, Severity, Status, Task, VendorInvolvement
from .pagination import CappedPaginator
from .permissions import (
    OPEN_REFUSAL,
    Action,
    assignable_users,
    case_permissions,
    lead_filter_choices,
    may,
    may_open_incidents,
    may_triage_alerts,
    member_candidates,
    require,
)
from .regulatory.panel import panel_context as register_panel_context
from .vendors.containment import ContainmentBlocked
from .vendors.panel import panel_context as vendor_panel_context
from .vendors.scope import derived_lock as scope_derived
from .vendors.scope import panel_context as scope_panel_context


def _assignees(viewer: User, incident: Incident) -> QuerySet[User]:
    """The add-task form's choices: who may be assigned, limited to the people the viewer may
    know (a vendor collaborator picks between the incident's lead and themselves)."""
    return selectors.people_shown_to(viewer, incident, assignable_users(incident=incident))


def _visible_or_404(user: User, reference: str, *, needs: Action | None = None) -> Incident:
    """The incident ``user`` may see (else 404) and, with ``needs``, may take that action on
    (else PermissionDenied: 403 with the rule table's message). Write views pass ``needs`` so a
    refusal is answered before the body is parsed: someone who may not act learns that, not
    that their form was incomplete. The services check again (``permissions.require``)."""
    incident = selectors.incident_get(viewer=user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    if needs is not None:
        require(user, incident, needs)
    return incident


# The views that only read answer GET and HEAD; those with a form, POST too. Anything else
# (PATCH, DELETE…) is a 405, not the page rendered as if it were a GET.
FORM_METHODS = ["GET", "HEAD", "POST"]


# How many rows each section of the home page shows (its query's LIMIT).
HOME_ROWS = 20
HOME_NEW_ALERTS = 5


@login_required
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Where each role lands. Executives: the dashboard. Vendor collaborators: the incidents they
    were invited to and their tasks. Everyone else: their open incidents, their tasks due, the
    escalations waiting on them and, for those who triage, the new alerts. A fixed number of
    queries whatever the data (tests/incidents/test_home.py)."""
    viewer = request.user
    if viewer.role == Role.EXECUTIVE and not viewer.sees_everything:
        return redirect("incidents:dashboard")
    # A section is None when the viewer does not get it at all (not "nothing to show").
    context: dict[str, Any] = {
        "tasks": selectors.my_tasks_due(viewer=viewer)[:HOME_ROWS],
        "invited": None,
        "incidents": None,
        "escalations": None,
        "alerts": None,
    }
    if not selectors.sees_internal(viewer):
        context["invited"] = selectors.invited_incidents(viewer=viewer)[:HOME_ROWS]
        return render(request, "incidents/home.html", context)
    context["incidents"] = selectors.my_open_incidents(viewer=viewer)[:HOME_ROWS]
    context["escalations"] = selectors.my_unacknowledged_escalations(viewer=viewer)[:HOME_ROWS]
    if may_triage_alerts(viewer):
        queue = alert_queue(viewer=viewer)
        context["alerts"] = {"count": queue.count(), "newest": list(queue[:HOME_NEW_ALERTS])}
    return render(request, "incidents/home.html", context)


@login_required
@require_safe
def incident_list(request: HttpRequest) -> HttpResponse:
    # The request's filters plus the page's defaults (open incidents only): see incidents/filters.py.
    params = filters.list_page_params(request.GET)
    incident_filter = selectors.incident_filter(viewer=request.user, filters=params)
    if incident_filter.is_valid():
        queryset = incident_filter.qs
    else:
        # Invalid values (a bad ordering, an unknown status…) are shown on the form and left
        # out; the other filters still apply.
        valid = params.copy()
        for name in incident_filter.errors:
            valid.pop(name, None)
        queryset = selectors.incident_filter(viewer=request.user, filters=valid).qs
    queryset = queryset.annotate(tag_names=filters.TagNames())
    asked = request.GET.get("page")
    page = CappedPaginator(queryset, settings.INCIDENT_PAGE_SIZE, asked=asked).get_page(asked)
    return render(
        request,
        "incidents/list.html",
        {
            "filter": incident_filter,
            "page": page,
            "rows": filters.list_rows(page.object_list, timezone.now()),
            "statuses": Status.choices,
            "severities": Severity.choices,
            "categories": Category.choices,
            "leads": lead_filter_choices(viewer=request.user, visible=incident_filter.queryset),
            "selected_status": request.GET.getlist("status"),
            "selected_severity": request.GET.getlist("severity"),
            **filters.list_controls(request.GET, incident_filter),
        },
    )


@login_required
@require_http_methods(FORM_METHODS)
def incident_create(request: HttpRequest) -> HttpResponse:
    if not may_open_incidents(request.user):
        raise PermissionDenied(OPEN_REFUSAL)
    playbooks = Playbook.objects.filter(active=True)
    initial: dict[str, Any] = {}
    chosen = playbooks.filter(slug=request.GET.get("playbook", "")).first() if request.method == "GET" else None
    if chosen is not None:
        # Starting from a playbook pre-fills the form; its tasks are created on opening.
        initial = {"playbook": chosen, "severity": chosen.severity, "category": chosen.category}
        initial["summary"] = chosen.summary
    form = IncidentForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_open(opened_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Opened {incident.reference}.")
            return redirect(incident)
    return render(
        request, "incidents/form.html", {"form": form, "creating": True, "playbooks": playbooks, "chosen": chosen}
    )


# The export's columns, in order. Times are ISO 8601 in TIME_ZONE, empty where not reached.
EXPORT_COLUMNS = (
    "reference", "title", "severity", "status", "category", "lead", "opened", "detected", "acknowledged",
    "contained", "resolved", "closed", "restricted", "vendors", "tags",
)  # fmt: skip
# Rows fetched (and vendors prefetched) per round trip while the file streams.
EXPORT_CHUNK = 1000


def _export_involvements(viewer: User) -> QuerySet[VendorInvolvement]:
    """The vendor names a row may carry, as ``vendors.selectors.involvements_for`` decides on one
    incident: all for staff; a vendor collaborator's own company only (never another vendor's)."""
    queryset = VendorInvolvement.objects.select_related("vendor").order_by("vendor__name", "id")
    if selectors.sees_internal(viewer):
        return queryset
    vendor_id = getattr(viewer, "vendor_id", None)
    return queryset.filter(vendor_id=vendor_id) if vendor_id else queryset.none()


def _export_cell(value: Any) -> Any:
    # A cell a spreadsheet would run as a formula (titles and tags are typed by anyone, vendors'
    # names come from the registry) is written after a quote, as the timeline export does.
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _export_time(value: Any) -> str:
    return timezone.localtime(value).isoformat() if value else ""


def _export_chunks(incidents: QuerySet[Incident]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for count, incident in enumerate(incidents.iterator(chunk_size=EXPORT_CHUNK), 1):
        row = [
            incident.reference,
            incident.title,
            incident.severity,
            incident.status,
            incident.category,
            str(incident.lead) if incident.lead else "",
            _export_time(incident.created_at),
            _export_time(incident.detected_at),
            _export_time(incident.acknowledged_at),
            _export_time(incident.contained_at),
            _export_time(incident.resolved_at),
            _export_time(incident.closed_at),
            "true" if incident.restricted else "false",
            "; ".join(involvement.vendor.name for involvement in incident.exported_vendors),
            "; ".join(sorted(incident.tag_names)),
        ]
        writer.writerow([_export_cell(value) for value in row])
        if count % EXPORT_CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


@login_required
@require_safe
def incident_list_export(request: HttpRequest) -> HttpResponse:
    """``/incidents/export.csv``: every row the list shows for the same query string (its
    filters, defaults and visibility; all pages), streamed. A bad filter value is a 400 with the
    form's message (the list page shows it beside the form instead). Two queries per
    ``EXPORT_CHUNK`` rows: the incidents (lead joined, tags aggregated) and their vendors."""
    incident_filter = selectors.incident_filter(viewer=request.user, filters=filters.list_page_params(request.GET))
    if not incident_filter.is_valid():
        problems = [f"{name}: {message}" for name, messages in incident_filter.errors.items() for message in messages]
        return HttpResponseBadRequest("\n".join(problems), content_type="text/plain; charset=utf-8")
    vendors = Prefetch("vendor_involvements", queryset=_export_involvements(request.user), to_attr="exported_vendors")
    incidents = incident_filter.qs.annotate(tag_names=filters.TagNames()).prefetch_related(vendors)
    response = StreamingHttpResponse(_export_chunks(incidents), content_type="text/csv; charset=utf-8")
    stamp = f"{timezone.localtime():%Y%m%dT%H%M%S}"
    response["Content-Disposition"] = f'attachment; filename="incidents-{stamp}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def incident_detail(request: HttpRequest, reference: str) -> HttpResponse:
    return detail_page(request, reference)


def detail_page(request: HttpRequest, reference: str) -> TemplateResponse:
    """The incident page with its restricted read audited, whatever the request's method: the
    detail route's answer, and what the live panels render with (``incidents.live``)."""
    response = detail_response(request, reference)
    # Audited here, not in detail_response: the live poll renders panels through it too.
    record_restricted_read(request=request, incident=response.context_data["incident"])
    return response


def detail_response(
    request: HttpRequest,
    reference: str,
    *,
    status: int = 200,
    indicator_parts: dict[str, Any] | None = None,
    register_parts: dict[str, Any] | None = None,
    **evidence_forms: Any,
) -> TemplateResponse:
    """The incident page; ``evidence_forms`` (bound forms with errors, see
    ``incidents.evidence.panel``) when an evidence form posted without htmx was refused, and
    ``indicator_parts`` likewise for the indicator forms (``incidents.indicators.panel``) and
    ``register_parts`` for the notification register's (``incidents.regulatory.panel``)."""
    incident = selectors.incident_detail(viewer=request.user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    can = case_permissions(request.user, incident)  # from the prefetched memberships: no query
    # A TemplateResponse: the live poll (incidents/live.py) renders panels with this same context.
    return TemplateResponse(
        request,
        "incidents/detail.html",
        {
            # Lazy: queried only where the page draws the evidence panel (not by the live poll).
            **evidence_panel_context(request, incident, **evidence_forms),
            # Lazy too: the indicators and their correlations are queried where the panel is drawn.
            **indicator_panel_context(request, incident, **(indicator_parts or {})),
            # Lazy too: the involvements (and the add form's choices) are queried where drawn.
            **vendor_panel_context(request, incident),
            # Lazy too: the affected scope rows (one query where the panel is drawn).
            **scope_panel_context(request, incident),
            # Lazy too: the register (four queries where drawn; never for vendor collaborators).
            **register_panel_context(request, incident, **(register_parts or {})),
            # Lazy too: the milestones, key events and count (three queries where drawn).
            **timeline_panel_context(request, incident),
            # Lazy too: the running escalation and the latest acknowledgement (one query where
            # the heading is drawn: templates/incidents/_paging.html).
            "paging": partial(paging_selectors.paging_state, incident),
            "incident": incident,
            "can": can,
            "finding_form": FindingForm(incident=incident, viewer=request.user),
            # Only built (one query for its choices) for those who may add tasks.
            "task_form": (
                TaskForm(assignees=_assignees(request.user, incident), incident=incident, viewer=request.user)
                if can["contribute"]
                else None
            ),
            "transitions": [(s, Status(s).label) for s in incident.allowed_transitions],
            # Only for those who manage access (one query for its choices).
            "member_form": (
                MemberAddForm(candidates=member_candidates(incident=incident)) if can["manage_access"] else None
            ),
            "member_roles": MemberRoleForm.base_fields["role"].choices,
        },
        status=status,
    )


@login_required
@require_http_methods(FORM_METHODS)
def incident_edit(request: HttpRequest, reference: str) -> HttpResponse:
    """The edit form. It sends the service only the fields the editor changed (the form carries
    the values it was loaded with), so a save never rewrites what it did not touch. A stale save
    is a 409 that shows, field by field, who changed what since (``incidents.conflicts``), and
    offers to apply the editor's changes on top of theirs in one click when they touched other
    fields."""
    incident = _visible_or_404(request.user, reference, needs=Action.EDIT)
    can_manage_access = may(request.user, Action.MANAGE_ACCESS, incident)
    derived = scope_derived(incident)
    form = IncidentEditForm(
        request.POST if request.method == "POST" else None,
        instance=incident,
        initial=conflicts.form_initial(incident),
        can_manage_access=can_manage_access,
        derived_from_scope=derived,
    )
    conflicts.track_changes(form)
    status, conflict = 200, None
    if request.method == "POST" and form.is_valid():
        if conflicts.loaded_values_sent(request.POST):
            changed = [name for name in form.changed_data if name != "version"]
        else:  # a form rendered before it carried its loaded values: every field, as it was then
            changed = [name for name in form.cleaned_data if name != "version"]
        version = form.cleaned_data["version"]
        try:
            services.incident_update(
                incident=incident,
                actor=request.user,
                version=version,
                changes={name: form.cleaned_data[name] for name in changed},
            )
        except services.ConflictError as exc:
            status = 409
            current = exc.incident
            current_form = IncidentEditForm(
                instance=current,
                initial=conflicts.form_initial(current),
                can_manage_access=can_manage_access,
                derived_from_scope=derived,
            )
            conflicts.track_changes(current_form)
            entries = conflicts.entries_since(
                current, seen_activity=request.POST.get(conflicts.SEEN_FIELD), expected_version=version
            )
            selectors.originals_hidden(request.user, entries)  # "closed as duplicate of" a hidden one
            conflict = conflicts.describe(
                form=form, current_form=current_form, data=request.POST, current=current, entries=entries
            )
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, f"Saved {incident.reference}.")
            return redirect(incident)
    if request.method == "POST":
        seen = request.POST.get(conflicts.SEEN_FIELD, "")  # still what the editor loaded
    else:
        seen = conflicts.newest_activity_id(incident)
    context = {"form": form, "incident": incident, "creating": False, "conflict": conflict, "seen_activity": seen}
    return render(request, "incidents/form.html", context, status=status)


@login_required
@require_POST
def incident_transition(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference, needs=Action.TRANSITION)
    to = request.POST.get("to", "")
    raw_version = request.POST.get("version", "")
    if raw_version and not (raw_version.isascii() and raw_version.isdigit()):
        # A malformed version must not silently skip the optimistic lock.
        return HttpResponseBadRequest("The form's version is not a number: reload the incident and try again.")
    version = int(raw_version) if raw_version else None
    try:
        incident = services.incident_transition(incident=incident, to=to, actor=request.user, version=version)
    except ContainmentBlocked as exc:
        # Entry-point vendor access is still active: the confirmation page lists it and asks why.
        messages.error(request, " ".join(exc.messages))
        return redirect("incidents:contain", reference=incident.reference)
    except services.ConflictError as exc:
        messages.error(request, str(exc))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{incident.reference} is now {incident.get_status_display().lower()}.")
    return redirect(incident)


@login_required
@require_http_methods(FORM_METHODS)
def incident_close(request: HttpRequest, reference: str) -> HttpResponse:
    """The close form: a resolution, the original of a duplicate, a closing summary, and, while
    tasks are still open, a choice to keep or cancel them (listed on the form). 409 when the
    incident changed since the form was loaded, as on the edit page."""
    incident = _visible_or_404(request.user, reference, needs=Action.TRANSITION)
    if not incident.is_open:
        messages.info(request, f"{incident.reference} is already closed.")
        return redirect(incident)
    form = IncidentCloseForm(request.POST if request.method == "POST" else None, initial={"version": incident.version})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_close(incident=incident, actor=request.user, **form.cleaned_data)
        except services.ConflictError as exc:
            form.add_error(None, str(exc))
            status = 409
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Closed {incident.reference} as {incident.get_resolution_display().lower()}.")
            return redirect(incident)
    open_tasks = selectors.tasks_shown(request.user).filter(incident=incident, status__in=OPEN_TASK_STATUSES)
    return render(
        request,
        "incidents/close.html",
        {"incident": incident, "form": form, "open_tasks": list(open_tasks)},
        status=status,
    )


@login_required
@require_POST
def incident_reopen(request: HttpRequest, reference: str) -> HttpResponse:
    """Reopen with a reason (the detail page's Reopen… form); the outcome is a message."""
    incident = _visible_or_404(request.user, reference, needs=Action.TRANSITION)
    form = IncidentReopenForm(request.POST)
    if not form.is_valid():
        errors = " ".join(form_error_messages(form))
        messages.error(request, f"{incident.reference} was not reopened: {errors}")
        return redirect(incident)
    try:
        incident = services.incident_reopen(incident=incident, actor=request.user, **form.cleaned_data)
    except (services.ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, f"{incident.reference} was not reopened: {' '.join(exc.messages)}")
    else:
        messages.success(request, f"Reopened {incident.reference}: it is now {incident.get_status_display().lower()}.")
    return redirect(incident)


def _render_findings(request: HttpRequest, incident: Incident, form: FindingForm | None = None) -> HttpResponse:
    findings = selectors.shared_with(incident.findings.select_related("author"), request.user)
    return render(
        request,
        "incidents/_findings.html",
        {
            "incident": incident,
            "findings": findings,
            "finding_form": form or FindingForm(incident=incident, viewer=request.user),
            "can": case_permissions(request.user, incident),
        },
    )


def _render_tasks(
    request: HttpRequest,
    incident: Incident,
    form: TaskForm | None = None,
    *,
    task_id: int | None = None,
    errors: list[str] | None = None,
    draft: dict[str, str] | None = None,
    notes_open: bool = False,
) -> HttpResponse:
    """The tasks panel. ``task_id`` is the task just worked on, shown with ``errors`` (a refused
    status change or note), the ``draft`` that was not saved (the posted form, shown again) and,
    after a note, ``notes_open``."""
    tasks = list(selectors.tasks_shown(request.user).filter(incident=incident))
    for task in tasks:
        if task.pk == task_id:
            task.form_errors, task.draft = errors or [], draft or {}
    return render(
        request,
        "incidents/_tasks.html",
        {
            "incident": incident,
            "tasks": tasks,
            "task_form": form
            or TaskForm(assignees=_assignees(request.user, incident), incident=incident, viewer=request.user),
            "can": case_permissions(request.user, incident),
            "open_task_id": task_id if notes_open else None,
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
        response = render_panel(request, incident, form)
        # Saved: the activity panel, and what others changed since the page's token, come along.
        return response if form is not None else live.with_updates(request, response, incident, changed=what)
    if form is not None:
        errors = " ".join(form_error_messages(form))
        messages.error(request, f"The {what} was not saved: {errors}")
    return redirect(incident)


@login_required
@require_POST
def finding_add(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference, needs=Action.CONTRIBUTE)
    return _add_in_place(
        request,
        incident,
        FindingForm(request.POST, incident=incident, viewer=request.user),
        lambda data: services.finding_add(
            incident=incident,
            author=request.user,
            body=data["body"],
            internal=data.get("internal"),
            critical=data.get("critical", False),
        ),
        _render_findings,
        "finding",
    )


@login_required
@require_POST
def task_add(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference, needs=Action.CONTRIBUTE)
    return _add_in_place(
        request,
        incident,
        TaskForm(request.POST, assignees=_assignees(request.user, incident), incident=incident, viewer=request.user),
        lambda data: services.task_add(incident=incident, actor=request.user, **data),
        _render_tasks,
        "task",
    )


@login_required
@require_POST
def task_toggle(request: HttpRequest, reference: str, task_id: int) -> HttpResponse:
    # Ticking one's own task is the weakest rule that could allow it; the service decides
    # between UPDATE_OWN_TASK and UPDATE_ANY_TASK once it knows whose task it is.
    incident, task = _task_or_404(request, reference, task_id, needs=Action.UPDATE_OWN_TASK)
    services.task_update(task=task, actor=request.user, changes={"done": not task.done})
    if not request.htmx:
        return redirect(incident)
    return live.with_updates(request, _render_tasks(request, incident), incident, changed="task")


def _task_or_404(request: HttpRequest, reference: str, task_id: int, *, needs: Action) -> tuple[Incident, Task]:
    """The incident and one of its tasks the viewer sees (else 404), then the rule (else 403)."""
    incident = _visible_or_404(request.user, reference)
    task = get_object_or_404(selectors.shared_with(incident.tasks.all(), request.user), pk=task_id)
    require(request.user, incident, needs)
    return incident, task


def _task_changed(
    request: HttpRequest, incident: Incident, task: Task, form: forms.Form, save: Callable[[], object], what: str
) -> HttpResponse:
    """Validate ``form`` and ``save``. htmx gets the tasks panel back with any error beside this
    task (200, so htmx swaps it) and, after a note, its notes open; a plain POST is redirected,
    errors as a message. A refusal by the rule table is a 403, as for the tick."""
    errors: list[str] = []
    if form.is_valid():
        try:
            save()
        except ValidationError as exc:
            errors = exc.messages
    else:
        errors = form_error_messages(form)
    if request.htmx:
        draft = request.POST.dict() if errors else {}
        response = _render_tasks(
            request, incident, task_id=task.pk, errors=errors, draft=draft, notes_open=what == "note"
        )
        return response if errors else live.with_updates(request, response, incident, changed="task")
    if errors:
        messages.error(request, f"The {what} was not saved: {' '.join(errors)}")
    return redirect(incident)


@login_required
@require_POST
def task_status(request: HttpRequest, reference: str, task_id: int) -> HttpResponse:
    """The compact status control: to do, in progress, done, or cancelled with a reason."""
    # As for the tick: the service decides between one's own task and any task.
    incident, task = _task_or_404(request, reference, task_id, needs=Action.UPDATE_OWN_TASK)
    form = TaskStatusForm(request.POST)
    return _task_changed(
        request,
        incident,
        task,
        form,
        lambda: services.task_update(task=task, actor=request.user, changes=form.changes()),
        "status",
    )


@login_required
@require_POST
def task_note_add(request: HttpRequest, reference: str, task_id: int) -> HttpResponse:
    incident, task = _task_or_404(request, reference, task_id, needs=Action.CONTRIBUTE)
    form = TaskNoteForm(request.POST)
    return _task_changed(
        request,
        incident,
        task,
        form,
        lambda: services.task_note_add(task=task, author=request.user, body=form.cleaned_data["body"]),
        "note",
    )


# --- Members panel --------------------------------------------------------------------------
def _render_members(
    request: HttpRequest, incident: Incident, form: MemberAddForm | None = None, notice: str = "", status: int = 200
) -> HttpResponse:
    can = case_permissions(request.user, incident)
    memberships = selectors.memberships_shown_to(
        request.user, incident.memberships.select_related("user").order_by("role", "added_at")
    )
    if can["manage_access"] and form is None:
        form = MemberAddForm(candidates=member_candidates(incident=incident))
    return render(
        request,
        "incidents/_members.html",
        {
            "incident": incident,
            "memberships": memberships,
            "member_form": form if can["manage_access"] else None,
            "member_roles": MemberRoleForm.base_fields["role"].choices,
            "can": can,
            "notice": notice,
            "failed": status >= 400,
        },
        status=status,
    )


def _member_change(
    request: HttpRequest, incident: Incident, change: Callable[[], str], form: MemberAddForm | None = None
) -> HttpResponse:
    """Run ``change`` (a service call returning the message to show). htmx gets the members panel
    back, with the message or the error beside the form; a plain POST is redirected with it."""
    status = 200
    try:
        notice = change()
    except ValidationError as exc:
        notice, status = " ".join(exc.messages), 400
    except services.ConflictError as exc:
        notice, status = str(exc), 409
    if request.htmx:
        response = _render_members(request, incident, form if status != 200 else None, notice=notice, status=status)
        return live.with_updates(request, response, incident, changed="member")
    (messages.success if status == 200 else messages.error)(request, notice)
    return redirect(incident)


@login_required
@require_POST
def member_add(request: HttpRequest, reference: str) -> HttpResponse:
    incident = _visible_or_404(request.user, reference, needs=Action.MANAGE_ACCESS)
    form = MemberAddForm(request.POST, candidates=member_candidates(incident=incident))

    def add() -> str:
        if not form.is_valid():
            raise ValidationError(list(form.errors.get("user", [])) + list(form.errors.get("role", [])))
        person, role = form.cleaned_data["user"], form.cleaned_data["role"]
        services.member_add(incident=incident, user=person, actor=request.user, role=role)
        sees = " They can now see this restricted incident." if incident.restricted else ""
        return f"Added {person} as {role}.{sees}"

    return _member_change(request, incident, add, form)


def _member_or_404(incident: Incident, user_id: int) -> User:
    membership = get_object_or_404(incident.memberships.select_related("user"), user_id=user_id)
    return membership.user


@login_required
@require_POST
def member_role_change(request: HttpRequest, reference: str, user_id: int) -> HttpResponse:
    incident = _visible_or_404(request.user, reference)
    person = _member_or_404(incident, user_id)
    require(request.user, incident, Action.MANAGE_ACCESS)
    form = MemberRoleForm(request.POST)

    def change() -> str:
        if not form.is_valid():
            raise ValidationError(form.errors["role"])
        role = form.cleaned_data["role"]
        services.member_role_change(incident=incident, user=person, actor=request.user, role=role)
        return f"{person} now leads {incident.reference}." if role == "lead" else f"{person} is now {role}."

    return _member_change(request, incident, change)


@login_required
@require_POST
def member_remove(request: HttpRequest, reference: str, user_id: int) -> HttpResponse:
    incident = _visible_or_404(request.user, reference)
    person = _member_or_404(incident, user_id)
    require(request.user, incident, Action.MANAGE_ACCESS)

    def remove() -> str:
        services.member_remove(incident=incident, user=person, actor=request.user)
        gone = " They can no longer see this restricted incident." if incident.restricted else ""
        return f"Removed {person}.{gone}"

    return _member_change(request, incident, remove)
