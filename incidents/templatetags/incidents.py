from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django import template
from django.utils import dateformat, timezone
from django.utils.safestring import SafeString

from incidents.markdown import render_markdown
from incidents.models import Incident, Status, TaskStatus

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return render_markdown(text)


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: object) -> str:
    """The current query string with ``changes`` applied (for pagination links)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


@register.filter
def due_date(value: date | None) -> str:
    """A due date, with its year only when that is not this year: "3 Dec", "14 Jan 2027"."""
    if value is None:
        return ""
    return dateformat.format(value, "j M" if value.year == timezone.localdate().year else "j M Y")


@register.simple_tag
def task_statuses() -> list[tuple[str, str]]:
    """The task status choices, for the tasks panel's status control."""
    return TaskStatus.choices


# The forward move of the NIST flow from each status: the page's primary button. Every other
# move TRANSITIONS allows is a secondary one. From closed the way forward is reopening.
FORWARD_MOVE: dict[str, str] = {
    Status.NEW: Status.TRIAGE,
    Status.TRIAGE: Status.INVESTIGATING,
    Status.INVESTIGATING: Status.CONTAINED,
    Status.CONTAINED: Status.ERADICATED,
    Status.ERADICATED: Status.RECOVERED,
    Status.RECOVERED: Status.CLOSED,
    Status.CLOSED: Status.INVESTIGATING,
}


@dataclass(frozen=True)
class StatusMove:
    to: str
    label: str
    kind: str  # "transition" (a plain form post), "close" (the close form) or "reopen" (asks why)
    primary: bool


@register.simple_tag
def status_moves(incident: Incident) -> list[StatusMove]:
    """The status buttons for ``incident``, the primary one first, then the flow's order."""
    moves = []
    for to in incident.allowed_transitions:
        if to == Status.CLOSED:
            kind, label = "close", "Close…"
        elif incident.status == Status.CLOSED:
            kind, label = "reopen", "Reopen…"
        else:
            kind, label = "transition", f"Move to {Status(to).label.lower()}"
        moves.append(StatusMove(to=to, label=label, kind=kind, primary=FORWARD_MOVE.get(incident.status) == to))
    return sorted(moves, key=lambda move: not move.primary)
