"""Reads of the case. Who may see what is decided here, once: every list, detail, search,
export and API endpoint starts from ``incidents_visible_to``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When

from accounts.models import Role, User

from .filters import IncidentFilter
from .models import (
    OPEN_STATUSES,
    OPEN_TASK_STATUSES,
    Activity,
    Finding,
    Incident,
    MemberRole,
    Membership,
    Task,
    TaskNote,
    member_of,
    open_to,
    works_on,
)


def incidents_visible_to(user: User | AnonymousUser) -> QuerySet[Incident]:
    """Incidents ``user`` may know exist.

    - anonymous or inactive: none;
    - admins and superusers: all;
    - vendor collaborators: only incidents they are members of;
    - everyone else (including integrations): unrestricted ones, plus restricted ones they
      are members of.
    """
    if not user.is_authenticated or not user.is_active:
        return Incident.objects.none()
    if user.sees_everything:
        return Incident.objects.all()
    if user.role == Role.VENDOR:
        return Incident.objects.filter(member_of(user))
    return Incident.objects.filter(open_to(user))


def original_reference(viewer: User) -> Subquery:
    """For annotating incidents: the reference of the incident each one duplicates, when
    ``viewer`` may see that original, else NULL (a restricted original stays unknown)."""
    originals = incidents_visible_to(viewer).filter(pk=OuterRef("duplicate_of_id")).values("reference")[:1]
    return Subquery(originals)


def sees_internal(viewer: User) -> bool:
    """Vendor collaborators see only what is shared with them; everyone else who can see an
    incident sees its internal content too."""
    return viewer.sees_everything or viewer.role != Role.VENDOR


def shared_with(queryset: QuerySet, viewer: User) -> QuerySet:
    """The one filter for case content (``SharedContent``: findings, tasks, activity entries, and
    later evidence, indicators, timeline events): internal rows are dropped for viewers who may
    not see them. Every list of case content goes through it."""
    return queryset if sees_internal(viewer) else queryset.filter(internal=False)


def memberships_shown_to(viewer: User, queryset: QuerySet[Membership]) -> QuerySet[Membership]:
    """The people a viewer may know are on an incident: everyone for staff; for a vendor
    collaborator, the incident's lead (their contact) and themselves."""
    if sees_internal(viewer):
        return queryset
    return queryset.filter(Q(user=viewer) | Q(role=MemberRole.LEAD))


def people_shown_to(viewer: User, incident: Incident, people: QuerySet[User]) -> QuerySet[User]:
    """``people`` (choices offered on ``incident``'s page) limited like ``memberships_shown_to``."""
    if sees_internal(viewer):
        return people
    return people.filter(Q(pk=viewer.pk) | Q(pk=incident.lead_id))


def incident_filter(*, viewer: User, filters: dict[str, Any] | None = None) -> IncidentFilter:
    """The browser list's filters (see ``IncidentFilter``) over what ``viewer`` may see; check
    ``is_valid()``/``errors`` before using ``.qs``. The API applies the same FilterSet through
    DRF's filter backend on the same visible queryset."""
    queryset = incidents_visible_to(viewer).select_related("lead")
    return IncidentFilter(filters or {}, queryset=queryset, viewer=viewer)


def incident_get(*, viewer: User, reference: str) -> Incident | None:
    return incidents_visible_to(viewer).select_related("lead", "opened_by").filter(reference=reference).first()


def incident_detail(*, viewer: User, reference: str) -> Incident | None:
    """One incident with everything its page shows, in a fixed number of queries, each list
    limited to what ``viewer`` may see of it (``shared_with``, ``memberships_shown_to``)."""
    memberships = Membership.objects.select_related("user").order_by("role", "added_at")
    activity = shared_with(Activity.objects.select_related("actor"), viewer)[:50]
    incident = (
        incidents_visible_to(viewer)
        .select_related("lead", "opened_by")
        .annotate(duplicate_of_reference=original_reference(viewer))
        .prefetch_related(
            Prefetch("findings", queryset=shared_with(Finding.objects.select_related("author"), viewer)),
            Prefetch("tasks", queryset=tasks_shown(viewer)),
            Prefetch("memberships", queryset=memberships_shown_to(viewer, memberships)),
            Prefetch("activities", queryset=activity, to_attr="recent_activity"),
        )
        .filter(reference=reference)
        .first()
    )
    if incident is not None:
        originals_hidden(viewer, incident.recent_activity)
    return incident


def originals_hidden(viewer: User, entries: list[Activity]) -> list[Activity]:
    """Closing entries name a duplicate's original by reference: blank it (in memory) where
    ``viewer`` may not see that original, as ``original_reference`` does for the page's header.
    One query, and only when such an entry is among ``entries``."""
    named = {entry.data["duplicate_of"] for entry in entries if entry.data.get("duplicate_of")}
    if not named:
        return entries
    seen = set(incidents_visible_to(viewer).filter(reference__in=named).values_list("reference", flat=True))
    for entry in entries:
        if entry.data.get("duplicate_of") and entry.data["duplicate_of"] not in seen:
            entry.data = {**entry.data, "duplicate_of": None}
    return entries


def my_open_incidents(*, viewer: User) -> QuerySet[Incident]:
    return incidents_visible_to(viewer).filter(works_on(viewer)).filter(status__in=OPEN_STATUSES).select_related("lead")


def my_open_tasks(*, viewer: User) -> QuerySet[Task]:
    """Tasks assigned to ``viewer`` still to be worked on (to do, in progress: not done, not
    cancelled), on incidents they can see, soonest due first. Tasks kept open when their incident
    was closed are follow-up work and stay here."""
    return (
        Task.objects.filter(assignee=viewer, status__in=OPEN_TASK_STATUSES, incident__in=incidents_visible_to(viewer))
        .select_related("incident")
        .order_by(F("due_on").asc(nulls_last=True), "id")
    )


# --- The responder home ------------------------------------------------------------------------
def invited_incidents(*, viewer: User) -> QuerySet[Incident]:
    """A vendor collaborator's home: every incident they were invited to (``incidents_visible_to``
    is exactly their memberships), open ones first, then by last change."""
    closed_last = Case(When(status__in=OPEN_STATUSES, then=Value(0)), default=Value(1))
    return incidents_visible_to(viewer).select_related("lead").order_by(closed_last, "-updated_at", "-id")


def my_tasks_due(*, viewer: User) -> QuerySet[Task]:
    """The home's tasks: ``my_open_tasks`` as ``viewer`` may see them (``shared_with``: a vendor
    collaborator's internal tasks stay hidden even when assigned to them). Soonest due first, so
    overdue ones lead; tasks without a due date come last (they are still ``viewer``'s work)."""
    return shared_with(my_open_tasks(viewer=viewer), viewer)


def my_unacknowledged_escalations(*, viewer: User) -> QuerySet[Any]:
    """Running escalations (not yet acknowledged: an acknowledgement stops them) on incidents
    ``viewer`` may see, where ``viewer`` leads the incident or was paged by this run (an
    escalation notification to them about the incident since the run started). Oldest first:
    the longest unanswered page leads. One query, with the incident and the policy joined."""
    # Late import: notifications.models imports this app's models, and notifications.selectors
    # imports this module.
    from notifications.models import Escalation, Notification, Reason

    paged = Notification.objects.filter(
        reason=Reason.ESCALATION,
        user=viewer,
        incident=OuterRef("incident_id"),
        created_at__gte=OuterRef("started_at"),
    )
    return (
        Escalation.objects.filter(stopped_at__isnull=True, incident__in=incidents_visible_to(viewer))
        .filter(Q(incident__lead=viewer) | Exists(paged))
        .select_related("incident", "policy")
        .order_by("started_at", "id")
    )


def tasks_shown(viewer: User) -> QuerySet[Task]:
    """Tasks as the tasks panel shows them to ``viewer`` (``shared_with``): open ones first,
    soonest due first, then done and cancelled ones; each with its assignee and its notes (with
    their authors), in two queries whatever the number of tasks and notes."""
    finished_last = Case(When(status__in=OPEN_TASK_STATUSES, then=Value(0)), default=Value(1))
    notes = Prefetch("notes", queryset=TaskNote.objects.select_related("author"))
    tasks = Task.objects.select_related("assignee").prefetch_related(notes)
    return shared_with(tasks.order_by(finished_last, F("due_on").asc(nulls_last=True), "id"), viewer)
