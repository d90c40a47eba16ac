"""Reads of the case. Who may see what is decided here, once: every list, detail, search,
export and API endpoint starts from ``incidents_visible_to``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Prefetch, Q, QuerySet

from accounts.models import Role, User

from .filters import IncidentFilter
from .models import OPEN_STATUSES, Activity, Finding, Incident, Membership, Task, member_of, works_on


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
    is_member = member_of(user)
    if user.role == Role.VENDOR:
        return Incident.objects.filter(is_member)
    return Incident.objects.filter(Q(restricted=False) | is_member)


def incident_filter(*, viewer: User, filters: dict[str, Any] | None = None) -> IncidentFilter:
    """The browser list's filters (see ``IncidentFilter``) over what ``viewer`` may see; check
    ``is_valid()``/``errors`` before using ``.qs``. The API applies the same FilterSet through
    DRF's filter backend on the same visible queryset."""
    queryset = incidents_visible_to(viewer).select_related("lead")
    return IncidentFilter(filters or {}, queryset=queryset, viewer=viewer)


def incident_get(*, viewer: User, reference: str) -> Incident | None:
    return incidents_visible_to(viewer).select_related("lead", "opened_by").filter(reference=reference).first()


def incident_detail(*, viewer: User, reference: str) -> Incident | None:
    """One incident with everything its page shows, in a fixed number of queries."""
    return (
        incidents_visible_to(viewer)
        .select_related("lead", "opened_by")
        .prefetch_related(
            Prefetch("findings", queryset=Finding.objects.select_related("author")),
            Prefetch("tasks", queryset=Task.objects.select_related("assignee")),
            Prefetch("memberships", queryset=Membership.objects.select_related("user").order_by("role", "added_at")),
            Prefetch("activities", queryset=Activity.objects.select_related("actor")[:50], to_attr="recent_activity"),
        )
        .filter(reference=reference)
        .first()
    )


def my_open_incidents(*, viewer: User) -> QuerySet[Incident]:
    return incidents_visible_to(viewer).filter(works_on(viewer)).filter(status__in=OPEN_STATUSES).select_related("lead")


def my_open_tasks(*, viewer: User) -> QuerySet[Task]:
    return (
        Task.objects.filter(assignee=viewer, done=False, incident__in=incidents_visible_to(viewer))
        .select_related("incident")
        .order_by("due_on", "id")
    )
