"""What an incident report and an executive brief show, gathered once for the HTML pages and the
PDFs (``incidents.reports.pdf``), each part limited to what the viewer may see of the incident,
exactly as the incident page limits it:

- the incident itself through ``incidents_visible_to`` (``None`` → 404);
- case content (key events, indicators, evidence, affected scope, tasks) through ``shared_with``:
  a vendor collaborator never reads internal rows;
- vendors through ``involvements_for``: a vendor collaborator sees their own company only;
- the regulatory register and the SLA clocks only for those who may read the register
  (``may_read_regulatory``: never vendor collaborators, as on the incident page);
- evidence as names, sizes, collection times and SHA-256: never contents; download links only
  for those who may download (``Action.DOWNLOAD_EVIDENCE``: not executives).

A fixed number of queries whatever the number of events, indicators or evidence items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from accounts.models import User
from notifications.models import SlaClock
from timeline import attack
from timeline import selectors as timeline_selectors
from timeline.models import TimelineEvent

from ..evidence.selectors import evidence_for
from ..indicators.selectors import indicators_for
from ..models import (
    OPEN_TASK_STATUSES,
    AffectedScope,
    DeadlineClock,
    Evidence,
    Incident,
    Indicator,
    NoticeStatus,
    Task,
    VendorAccess,
    VendorInvolvement,
)
from ..permissions import Action, may
from ..regulatory.selectors import may_read_regulatory
from ..regulatory.services import stage_of
from ..selectors import incidents_visible_to, original_reference, shared_with
from ..vendors.containment import Checklist
from ..vendors.scope import scope_for
from ..vendors.selectors import involvements_for

# The report lists this many key events (the key-events page has them all): a report that
# grows without bound stops being read, and its PDF stops being printable.
REPORT_KEY_EVENTS_MAX = 200


@dataclass
class DeadlineRow:
    """One regulatory clock as the report states it: ``state`` is ``met`` (a notice sent by the
    due time stopped it), ``late`` (sent after the due time), ``stopped`` (stopped without a
    sent notice: the regime no longer applies), ``missed`` (still running past due) or
    ``running``."""

    clock: DeadlineClock
    regime: str
    stage: str
    state: str
    sent_at: datetime | None

    @property
    def state_text(self) -> str:
        return {
            "met": "Met",
            "late": "Missed (notice sent late)",
            "stopped": "Stopped (no longer applies)",
            "missed": "Missed",
            "running": "Running",
        }[self.state]


@dataclass
class SlaRow:
    kind: str
    due_at: datetime
    met_at: datetime | None
    breached_at: datetime | None

    @property
    def state(self) -> str:
        if self.breached_at is not None:
            return "breached"
        if self.met_at is not None:
            return "met" if self.met_at <= self.due_at else "breached"
        return "running"

    @property
    def state_text(self) -> str:
        return {"met": "Met", "breached": "Breached", "running": "Running"}[self.state]


@dataclass
class KeyEventLine:
    event: TimelineEvent
    technique: str


@dataclass
class ReportContent:
    """Everything a report or a brief shows; lists hold only what ``viewer`` may see."""

    incident: Incident
    viewer: User
    generated_at: datetime
    milestones: timeline_selectors.Milestones
    key_events: list[KeyEventLine]
    key_events_more: bool
    involvements: list[VendorInvolvement]
    checklist: Checklist
    scope: list[AffectedScope]
    indicators: list[Indicator]
    evidence: list[Evidence]
    open_tasks: list[Task]
    reads_register: bool
    deadlines: list[DeadlineRow] = field(default_factory=list)
    sla: list[SlaRow] = field(default_factory=list)
    may_download: bool = False

    @property
    def vendors_active_access(self) -> int:
        return len(self.checklist.active)

    @property
    def missed_deadlines(self) -> list[DeadlineRow]:
        return [row for row in self.deadlines if row.state in ("missed", "late")]

    @property
    def open_deadlines(self) -> list[DeadlineRow]:
        return [row for row in self.deadlines if row.state in ("running", "missed")]

    @property
    def breached_sla(self) -> list[SlaRow]:
        return [row for row in self.sla if row.state == "breached"]

    @property
    def scope_records(self) -> int:
        return sum(row.records or 0 for row in self.scope)


def report_incident(*, viewer: User, reference: str) -> Incident | None:
    """The incident ``viewer`` may see, with its lead and opener and the reference of the
    incident it duplicates where ``viewer`` may see that one (one query)."""
    return (
        incidents_visible_to(viewer)
        .select_related("lead", "opened_by")
        .annotate(duplicate_of_reference=original_reference(viewer))
        .filter(reference=reference)
        .first()
    )


def _key_events(viewer: User, incident: Incident) -> tuple[list[KeyEventLine], bool]:
    queryset = timeline_selectors.filtered(timeline_selectors.events_for(viewer, incident), key_only=True)
    fields = ("pk", "occurred_at", "precision", "kind", "title", "technique", "incident_id", "internal")
    events = list(queryset.only(*fields)[: REPORT_KEY_EVENTS_MAX + 1])
    lines = []
    for event in events[:REPORT_KEY_EVENTS_MAX]:
        found = attack.technique(event.technique) if event.technique else None
        lines.append(KeyEventLine(event, found.label if found else event.technique))
    return lines, len(events) > REPORT_KEY_EVENTS_MAX


def _involvements(viewer: User, incident: Incident) -> list[VendorInvolvement]:
    """Each involvement with ``access`` (its items, oldest first) and ``checklist``: two queries
    (one without vendors)."""
    items = Prefetch("access_items", queryset=VendorAccess.objects.order_by("added_at", "id"))
    involvements = list(
        involvements_for(viewer, incident).select_related("vendor").prefetch_related(items).order_by("added_at", "id")
    )
    for involvement in involvements:
        involvement.access = list(involvement.access_items.all())
        involvement.checklist = Checklist.of(involvement.access)
    return involvements


def deadline_rows(incident: Incident) -> list[DeadlineRow]:
    """The incident's regulatory clocks, soonest due first, each met or missed (one query)."""
    now = timezone.now()
    clocks = DeadlineClock.objects.filter(incident=incident).select_related("regime", "stopped_by_notice")
    rows = []
    for clock in clocks.order_by("due_at", "id"):
        notice = clock.stopped_by_notice
        sent_at = notice.sent_at if notice is not None and notice.status == NoticeStatus.SENT else None
        if clock.stopped_at is not None:
            state = "stopped" if sent_at is None else ("met" if sent_at <= clock.due_at else "late")
        else:
            state = "missed" if clock.due_at <= now else "running"
        found = stage_of(clock.regime, clock.stage)
        rows.append(
            DeadlineRow(
                clock=clock,
                regime=clock.regime.name,
                stage=str(found.label) if found else clock.stage,
                state=state,
                sent_at=sent_at,
            )
        )
    return rows


def sla_rows(incident: Incident) -> list[SlaRow]:
    """The incident's SLA clocks (acknowledge, contain), one query."""
    clocks: QuerySet[SlaClock] = SlaClock.objects.filter(incident=incident).order_by("due_at", "id")
    return [SlaRow(c.get_kind_display(), c.due_at, c.met_at, c.breached_at) for c in clocks]


def report_content(*, viewer: User, incident: Incident) -> ReportContent:
    """Everything the report and the brief show of ``incident`` (already found visible to
    ``viewer`` by ``report_incident``). Queries: milestones 1, key events 1, vendors 1-2, scope
    1, indicators 1, evidence 1, open tasks 1, the permission's membership 0-1, and for those
    who read the register: clocks 1, SLA 1."""
    key_events, more = _key_events(viewer, incident)
    involvements = _involvements(viewer, incident)
    reads_register = may_read_regulatory(viewer)
    tasks = shared_with(
        Task.objects.filter(incident=incident, status__in=OPEN_TASK_STATUSES).select_related("assignee"), viewer
    )
    return ReportContent(
        incident=incident,
        viewer=viewer,
        generated_at=timezone.now(),
        milestones=timeline_selectors.milestones(incident, viewer=viewer),
        key_events=key_events,
        key_events_more=more,
        involvements=involvements,
        checklist=Checklist.of(item for involvement in involvements for item in involvement.access),
        scope=list(scope_for(viewer, incident)),
        indicators=list(indicators_for(viewer, incident).order_by("type", "value", "id")),
        # Never the contents: a text excerpt's text is not even read.
        evidence=list(
            evidence_for(viewer, incident).defer("text").select_related("collected_by").order_by("collected_at", "id")
        ),
        open_tasks=list(tasks.order_by(F("due_on").asc(nulls_last=True), "id")),
        reads_register=reads_register,
        deadlines=deadline_rows(incident) if reads_register else [],
        sla=sla_rows(incident) if reads_register else [],
        may_download=may(viewer, Action.DOWNLOAD_EVIDENCE, incident),
    )


def first_of(items: list[Any], limit: int) -> tuple[list[Any], int]:
    """The first ``limit`` items and how many more there are (for "and N more")."""
    return items[:limit], max(0, len(items) - limit)


# --- The brief ---------------------------------------------------------------------------------
# What the one-page brief lists of each kind before "and N more": with its summary cut at
# BRIEF_SUMMARY_CHARS, the page holds them all at the longest titles the models allow.
BRIEF_LIMITS = {"tasks": 5, "deadlines": 4, "vendors": 4, "scope": 4}
BRIEF_SUMMARY_CHARS = 700


@dataclass
class Shortened:
    items: list[Any]
    more: int


def summary_text(markdown: str, limit: int = BRIEF_SUMMARY_CHARS) -> str:
    """The summary as plain text for the brief: Markdown's heading, list and emphasis marks
    dropped, whitespace collapsed, cut at ``limit`` characters on a word with "…"."""
    from django.utils.text import Truncator

    words = []
    for line in markdown.splitlines():
        line = line.strip().lstrip("#>*-+ ").strip()
        if line:
            words.append(line.replace("**", "").replace("__", "").replace("`", ""))
    return Truncator(" ".join(" ".join(words).split())).chars(limit)


def brief_lists(content: ReportContent) -> dict[str, Any]:
    """The brief's lists, each cut to ``BRIEF_LIMITS`` with how many were left out, and its
    summary text."""
    deadlines = content.open_deadlines + [row for row in content.deadlines if row.state not in ("running", "missed")]
    lists = {
        "tasks": content.open_tasks,
        "deadlines": deadlines,
        "vendors": content.involvements,
        "scope": content.scope,
    }
    shortened: dict[str, Any] = {name: Shortened(*first_of(items, BRIEF_LIMITS[name])) for name, items in lists.items()}
    shortened["summary"] = summary_text(content.incident.summary)
    return shortened
