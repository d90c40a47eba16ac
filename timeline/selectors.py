"""Reads of the attack timeline. Visibility is the incident's (``incidents_visible_to``, checked
by the caller that loaded the incident) and the ``internal`` flag (``shared_with``), as for all
case content; links are shown only where the viewer could see what they point at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Min, OuterRef, Prefetch, Q, QuerySet, Subquery

from accounts.models import User
from incidents.models import Evidence, Incident, Indicator
from incidents.selectors import sees_internal, shared_with

from .models import EventKind, Precision, TimelineEvent


def events_for(viewer: User, incident: Incident) -> QuerySet[TimelineEvent]:
    """Every event of ``incident`` that ``viewer`` may see, in timeline order."""
    return shared_with(TimelineEvent.objects.filter(incident=incident), viewer).order_by("occurred_at", "id")


def filtered(
    queryset: QuerySet[TimelineEvent],
    *,
    kinds: list[str] | None = None,
    key_only: bool = False,
    vendor_id: int | None = None,
    technique: str = "",
    viewer: User | None = None,
) -> QuerySet[TimelineEvent]:
    """The page's, the export's and the API's filters. ``technique`` matches the technique and
    its sub-techniques (``T1078`` finds ``T1078.004``). A vendor collaborator (``viewer``) who
    filters by another company finds nothing: which events name it is not theirs to learn."""
    if vendor_id and viewer is not None and not sees_internal(viewer) and vendor_id != viewer.vendor_id:
        return queryset.none()
    if kinds:
        queryset = queryset.filter(kind__in=kinds)
    if key_only:
        queryset = queryset.filter(key_event=True)
    if vendor_id:
        queryset = queryset.filter(vendor_id=vendor_id)
    if technique:
        technique = technique.strip().upper()
        queryset = queryset.filter(Q(technique=technique) | Q(technique__startswith=f"{technique}."))
    return queryset


def with_links(queryset: QuerySet[TimelineEvent], viewer: User) -> QuerySet[TimelineEvent]:
    """Events with who recorded them, their vendor and the linked evidence and indicators the
    viewer may see (three queries for any number of events: the events, then one per link)."""
    evidence = shared_with(Evidence.objects.all(), viewer).only("pk", "name", "incident_id").order_by("pk")
    indicators = shared_with(Indicator.objects.all(), viewer).only("pk", "type", "value", "incident_id").order_by("pk")
    return queryset.select_related("recorded_by", "vendor").prefetch_related(
        Prefetch("evidence", queryset=evidence), Prefetch("indicators", queryset=indicators)
    )


def vendor_shown(event: TimelineEvent, viewer: User) -> Any:
    """The event's vendor as ``viewer`` may know it: a vendor collaborator sees only their own
    company's name (never another vendor's), staff see any."""
    if event.vendor_id is None:
        return None
    if sees_internal(viewer) or event.vendor_id == getattr(viewer, "vendor_id", None):
        return event.vendor
    return None


def event_get(*, viewer: User, incident: Incident, event_id: int) -> TimelineEvent | None:
    """One event of an incident the caller has already found visible, or None (→ 404)."""
    return with_links(events_for(viewer, incident), viewer).filter(pk=event_id).first()


# --- Derived milestones ---------------------------------------------------------------------
# Which event of each kind marks the milestone: the first attacker activity, detection and
# containment; recovery is done when its *last* event is.
_MILESTONE_KINDS = (
    ("attacker", EventKind.ATTACKER, "occurred_at"),
    ("detection", EventKind.DETECTION, "occurred_at"),
    ("containment", EventKind.CONTAINMENT, "occurred_at"),
    ("recovery", EventKind.RECOVERY, "-occurred_at"),
)
# How far apart the timeline and the incident's field may be and still agree: the event's precision.
_TOLERANCE = {
    Precision.EXACT: timedelta(minutes=1),
    Precision.MINUTE: timedelta(minutes=1),
    Precision.HOUR: timedelta(hours=1),
    Precision.DAY: timedelta(days=1),
    Precision.APPROXIMATE: timedelta(hours=6),
}
# The incident's own field for each milestone (set by the case's lifecycle, read by SLAs).
_INCIDENT_FIELD = {"detection": "detected_at", "containment": "contained_at", "recovery": "resolved_at"}
_LABELS = {
    "attacker": "First attacker activity",
    "detection": "Detection",
    "containment": "Containment",
    "recovery": "Recovery",
}


@dataclass(frozen=True)
class Milestone:
    """One point of the story: from the timeline (the event that marks it) and from the
    incident's own field. ``at`` is the one that wins: the timeline's when it has such an event
    (it is the reconstruction, from evidence), the field's otherwise."""

    name: str
    event: TimelineEvent | None
    recorded: datetime | None  # the incident's field (None for first attacker activity)

    @property
    def label(self) -> str:
        return _LABELS[self.name]

    @property
    def at(self) -> datetime | None:
        return self.event.occurred_at if self.event else self.recorded

    @property
    def source(self) -> str:
        return "timeline" if self.event else ("incident" if self.recorded else "")

    @property
    def disagrees(self) -> bool:
        """Both are known and further apart than the event's precision."""
        if not (self.event and self.recorded):
            return False
        return abs(self.event.occurred_at - self.recorded) > _TOLERANCE[self.event.precision]


def _span(start: Milestone, end: Milestone) -> timedelta | None:
    if start.at is None or end.at is None or end.at < start.at:
        return None
    return end.at - start.at


@dataclass(frozen=True)
class Milestones:
    attacker: Milestone
    detection: Milestone
    containment: Milestone
    recovery: Milestone

    @property
    def points(self) -> tuple[Milestone, ...]:
        return (self.attacker, self.detection, self.containment, self.recovery)

    @property
    def dwell_time(self) -> timedelta | None:
        """First attacker activity → detection (M-Trends' dwell time)."""
        return _span(self.attacker, self.detection)

    @property
    def time_to_contain(self) -> timedelta | None:
        """Detection → containment."""
        return _span(self.detection, self.containment)

    @property
    def time_to_recover(self) -> timedelta | None:
        """Detection → the last recovery event."""
        return _span(self.detection, self.recovery)

    @property
    def disagreements(self) -> list[Milestone]:
        return [m for m in (self.detection, self.containment, self.recovery) if m.disagrees]


def milestones(incident: Incident, *, viewer: User | None = None) -> Milestones:
    """``incident``'s milestones from the events ``viewer`` may see (all when None: dashboards).
    One query: the marking event of each kind, each found through the (incident, kind,
    occurred_at) index."""
    base = TimelineEvent.objects.filter(incident=incident)
    if viewer is not None:
        base = shared_with(base, viewer)
    marks = Q()
    for _name, kind, order in _MILESTONE_KINDS:
        first = base.filter(kind=kind).order_by(order, "id").values("pk")[:1]
        marks |= Q(pk=Subquery(first))
    found = {event.kind: event for event in base.filter(marks).only("pk", "kind", "occurred_at", "precision", "title")}
    recorded = {name: getattr(incident, attribute) for name, attribute in _INCIDENT_FIELD.items()}
    return Milestones(
        *(Milestone(name, found.get(kind), recorded.get(name)) for name, kind, _order in _MILESTONE_KINDS)
    )


def milestone_times(incidents: QuerySet[Incident]) -> QuerySet[Incident]:
    """``incidents`` annotated with their timeline milestones (for dashboards, one query):
    ``tl_first_attacker``, ``tl_detection``, ``tl_containment``, ``tl_recovery``. Subtract them
    for dwell time and the others; where one is NULL the incident's own field stands in."""

    def first(kind: str, last: bool = False) -> Subquery:
        events = TimelineEvent.objects.filter(incident=OuterRef("pk"), kind=kind)
        aggregate = Max("occurred_at") if last else Min("occurred_at")
        return Subquery(events.values("incident").annotate(at=aggregate).values("at")[:1])

    return incidents.annotate(
        tl_first_attacker=first(EventKind.ATTACKER),
        tl_detection=first(EventKind.DETECTION),
        tl_containment=first(EventKind.CONTAINMENT),
        tl_recovery=first(EventKind.RECOVERY, last=True),
    )
