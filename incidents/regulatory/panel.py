"""The "Notification register" panel of the incident page: what it shows, for the detail view
(which renders it inside the page, lazily) and the register's views (which render it alone after
an htmx write, or the whole page again with a refused form's errors).

Vendor collaborators never see it (``selectors.may_read_regulatory``): for them the panel is not
drawn and the register is never queried.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils import timezone

from ..models import PRIVILEGE_MARKING, Incident, NoticeStatus
from .forms import ClockForm, DecideForm, DraftForm
from .selectors import RegisterRow, may_read_regulatory, register_for
from .services import stage_of


def duration_text(seconds: float) -> str:
    """``"2 d 3 h 4 min 5 s"``: the countdown's words (static/js/countdown.js writes the same)."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{value} {unit}" for value, unit in parts)


def countdown_text(due_at: datetime, now: datetime) -> str:
    """What the countdown says before its script runs: ``"in 2 d 3 h 4 min 5 s"`` or
    ``"overdue by 1 h 0 min 0 s"``."""
    left = (due_at - now).total_seconds()
    return f"in {duration_text(left)}" if left >= 0 else f"overdue by {duration_text(left)}"


def lead_text(seconds: int) -> str:
    """A reminder's lead time: ``86400`` → ``"24 h"``, ``5400`` → ``"1 h 30 min"``."""
    hours, rest = divmod(int(seconds), 3_600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def form_ids(prefix: str) -> str:
    """``auto_id`` of a row's form: ids unique on the page, field names unprefixed."""
    return f"{prefix}-%s"


class Register:
    """The panel's rows, queried when the template first reads them (``register_for``: four
    queries whatever the number of regimes, clocks and notices), never for a vendor
    collaborator. Each row carries its forms: unbound, except the one that was just refused
    (``form_key``), which comes back with its errors and what was typed."""

    def __init__(self, viewer: Any, incident: Incident, *, form_key: str = "", form: forms.Form | None = None) -> None:
        self.viewer, self.incident = viewer, incident
        self.form_key, self.form = form_key, form

    @cached_property
    def visible(self) -> bool:
        return may_read_regulatory(self.viewer)

    def _refused(self, key: str) -> forms.Form | None:
        """The form just refused, if it is the one drawn under ``key``."""
        return self.form if self.form is not None and key == self.form_key else None

    @cached_property
    def rows(self) -> list[RegisterRow]:
        """Each ``RegisterRow`` with ``decide_form``, ``clock_form``, ``draft_form`` and, on each
        clock, ``stage_label``, ``state`` (running / missed / stopped), ``countdown`` (the text
        before the script runs), ``reminders_text``; on each notice, ``stage_label``."""
        if not self.visible:
            return []
        now = timezone.now()
        rows = register_for(self.incident)
        for row in rows:
            slug = row.regime.slug
            assessment = row.assessment
            initial = {"decision": assessment.decision, "reason": assessment.reason} if assessment else {}
            refused = self._refused(f"decide-{slug}")
            row.decide_form = refused or DecideForm(initial=initial, auto_id=form_ids(f"decide-{slug}"))
            refused = self._refused(f"clock-{slug}")
            row.clock_form = refused or ClockForm(
                stages=row.stages, initial=_clock_initial(row, now), auto_id=form_ids(f"clock-{slug}")
            )
            row.draft_form = DraftForm(auto_id=form_ids(f"draft-{slug}"))
            row.settable_stages = [
                stage for stage in row.stages if not any(c.stage == stage.name and c.stopped_at for c in row.clocks)
            ]
            for clock in row.clocks:
                found = stage_of(row.regime, clock.stage)
                clock.stage_label = found.label if found else clock.stage
                clock.state = "stopped" if clock.stopped_at else ("missed" if clock.due_at <= now else "running")
                clock.countdown = countdown_text(clock.due_at, now)
                sent = sorted(clock.reminders_sent or [], reverse=True)
                pending = [lead for lead in clock.reminder_leads or [] if lead not in sent]
                clock.reminders_text = ", ".join(f"{lead_text(lead)} before" for lead in sent) or "none yet"
                clock.pending_text = ", ".join(f"{lead_text(lead)} before" for lead in pending)
            for notice in row.notices:
                found = stage_of(row.regime, notice.stage) if notice.stage else None
                notice.stage_label = found.label if found else ""
        return rows

    @cached_property
    def applying(self) -> int:
        """How many regimes apply (the panel's count)."""
        return sum(1 for row in self.rows if row.applies)

    @cached_property
    def unsent(self) -> int:
        return sum(1 for row in self.rows for notice in row.notices if notice.status != NoticeStatus.SENT)


def _clock_initial(row: RegisterRow, now: datetime) -> dict[str, Any]:
    """The clock form opens on the first clock not set yet, with its usual starting event, at
    the current minute (local time)."""
    stage = (row.unset_stages or list(row.stages) or [None])[0]
    initial: dict[str, Any] = {"started_at": timezone.localtime(now).replace(second=0, microsecond=0)}
    if stage is not None:
        initial.update(stage=stage.name, start_event=stage.start_event)
    return initial


def panel_context(
    request: HttpRequest,
    incident: Incident,
    *,
    form_key: str = "",
    form: forms.Form | None = None,
    register_notice: str = "",
) -> dict[str, Any]:
    """``register`` (lazy: no query until drawn) and the notice above it after a write."""
    return {
        "register": Register(request.user, incident, form_key=form_key, form=form),
        "register_notice": register_notice,
        "register_marking": PRIVILEGE_MARKING,
    }
