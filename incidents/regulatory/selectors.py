"""Reads of the notification register. Callers have already checked that the viewer sees the
incident (``incidents.selectors.incidents_visible_to``); these add who may read the register."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Role, User
from incidents.models import DeadlineClock, Incident, Notice, Regime, RegulatoryAssessment

from .services import Stage, stages_of


def may_read_regulatory(user: User) -> bool:
    """Staff read the register of the incidents they see; vendor collaborators never (legal
    assessment and privileged drafts are not theirs to see), whatever they were invited to."""
    return user.is_active and (user.is_superuser or user.role != Role.VENDOR)


@dataclass
class RegisterRow:
    """One regime on one incident: its decision (None: not assessed yet), its clocks and notices."""

    regime: Regime
    assessment: RegulatoryAssessment | None
    stages: tuple[Stage, ...]
    clocks: list[DeadlineClock] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    @property
    def applies(self) -> bool:
        return self.assessment is not None and self.assessment.decision == "applies"

    @property
    def unset_stages(self) -> list[Stage]:
        """The clocks this regime asks for that are not set yet (only when it applies)."""
        set_names = {clock.stage for clock in self.clocks}
        return [stage for stage in self.stages if stage.name not in set_names] if self.applies else []


def register_for(incident: Incident) -> list[RegisterRow]:
    """Every active regime (and any retired one already assessed) with the incident's decision,
    clocks and notices: four queries whatever their number."""
    assessments = {
        a.regime_id: a for a in RegulatoryAssessment.objects.filter(incident=incident).select_related("decided_by")
    }
    regimes = Regime.objects.filter(active=True) | Regime.objects.filter(pk__in=list(assessments))
    rows = {
        regime.pk: RegisterRow(regime=regime, assessment=assessments.get(regime.pk), stages=stages_of(regime))
        for regime in regimes.distinct().order_by("position", "name")
    }
    for clock in DeadlineClock.objects.filter(incident=incident).select_related("started_by").order_by("due_at"):
        if clock.regime_id in rows:
            rows[clock.regime_id].clocks.append(clock)
    for notice in Notice.objects.filter(incident=incident).select_related("approved_by", "sent_by").order_by("id"):
        if notice.regime_id in rows:
            rows[notice.regime_id].notices.append(notice)
    return list(rows.values())


def running_clocks(incidents: QuerySet[Incident], *, due_before: datetime | None = None) -> QuerySet[DeadlineClock]:
    """Running clocks of ``incidents`` (a visibility-filtered queryset), soonest first; missed
    ones included (they run until a notice is sent)."""
    clocks = DeadlineClock.objects.filter(incident__in=incidents, stopped_at__isnull=True)
    if due_before is not None:
        clocks = clocks.filter(due_at__lte=due_before)
    return clocks.select_related("incident", "regime").order_by("due_at")
