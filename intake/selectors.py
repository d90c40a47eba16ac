"""Reads for the triage queue. Who may see alerts at all is ``may_triage_alerts`` (a global
role: admins, incident leads, responders); everyone else gets nothing here, and the pages answer
404.

An alert that joined an incident the viewer may not see (a restricted one they are not on)
keeps its secret: every alert these selectors return carries ``incident_reference``, the
reference only when ``incidents_visible_to(viewer)`` holds the incident, else ``None`` — the
page then says "a restricted incident". Templates use it, never ``alert.incident``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from accounts.models import User
from incidents.permissions import may_triage_alerts
from incidents.selectors import incidents_visible_to

from .models import Alert, AlertSeverity, AlertStatus

# Not needed to draw a queue row, and the payload may be tens of kilobytes per alert.
_QUEUE_DEFERRED = ("raw", "description", "observables")


def _triageable(viewer: User) -> QuerySet[Alert]:
    if not may_triage_alerts(viewer):
        return Alert.objects.none()
    visible = incidents_visible_to(viewer).filter(pk=OuterRef("incident_id")).values("reference")[:1]
    return Alert.objects.annotate(incident_reference=Subquery(visible))


def _values(raw: Any) -> list[str]:
    """A filter's values, whether one string, a list or absent."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    return [str(value) for value in raw]


def alert_queue(*, viewer: User, filters: Mapping[str, Any] | None = None) -> QuerySet[Alert]:
    """The alerts ``viewer`` may triage, newest activity first (``last_seen_at`` desc, then id).

    ``filters`` (cleaned values, e.g. ``QueueFilterForm.cleaned_data``; unknown values of
    ``status`` and ``severity`` are left out rather than raising):
    - ``status``: one of ``AlertStatus`` (default ``new``: the queue of what awaits triage);
    - ``source``: exact source name;
    - ``severity``: one or several ``AlertSeverity`` values;
    - ``q``: text in the title, rule, host or account (case-insensitive), or exactly the
      source's own id (``source_ref``).
    The raw payload, description and observables are deferred (the detail page has them)."""
    filters = filters or {}
    status = filters.get("status") or AlertStatus.NEW
    if status not in AlertStatus.values:
        status = AlertStatus.NEW
    queryset = _triageable(viewer).filter(status=status).defer(*_QUEUE_DEFERRED)
    source = (filters.get("source") or "").strip()
    if source:
        queryset = queryset.filter(source=source)
    severities = [value for value in _values(filters.get("severity")) if value in AlertSeverity.values]
    if severities:
        queryset = queryset.filter(severity__in=severities)
    text = (filters.get("q") or "").strip()
    if text:
        queryset = queryset.filter(
            Q(title__icontains=text)
            | Q(rule__icontains=text)
            | Q(host__icontains=text)
            | Q(user__icontains=text)
            | Q(source_ref=text)
        )
    return queryset.order_by("-last_seen_at", "-id")


def alert_counts(viewer: User) -> dict[str, int]:
    """How many alerts there are in each status (every status present, zeros included), in one
    query; all zeros for someone who may not triage."""
    counts = dict.fromkeys(AlertStatus.values, 0)
    if not may_triage_alerts(viewer):
        return counts
    for status, count in Alert.objects.order_by().values_list("status").annotate(count=Count("pk")):
        counts[status] = count
    return counts


def alert_get(viewer: User, alert_id: int) -> Alert | None:
    """One alert with everything (raw payload, observables), ``incident_reference`` and
    ``incident_title`` (both None for an incident the viewer may not see), or None
    when it does not exist or ``viewer`` may not triage (the page answers 404 for both)."""
    queryset = _triageable(viewer)
    if may_triage_alerts(viewer):
        visible = incidents_visible_to(viewer).filter(pk=OuterRef("incident_id"))
        queryset = queryset.annotate(incident_title=Subquery(visible.values("title")[:1]))
    return queryset.select_related("triaged_by", "sent_by").filter(pk=alert_id).first()


def alert_observables(incident: Any) -> list[dict[str, str]]:
    """The candidate indicators of the alerts that joined ``incident`` (each ``type``/``value``
    once, with its role), oldest alert first: what the incident page offers to confirm. One
    query. The caller has checked that the viewer may see the incident and sees internal
    content (alerts are never shown to vendor collaborators)."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for observables in Alert.objects.filter(incident=incident).order_by("id").values_list("observables", flat=True):
        for item in observables or []:
            seen.setdefault((item["type"], item["value"]), item)
    return list(seen.values())
