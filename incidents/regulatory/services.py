"""The notification register: decisions, deadline clocks and notices. Every write goes here.

- ``assessment_decide``: applies / does not apply (with its reason, always) / under assessment.
- ``clock_set``: the starting event of a regime's deadline, its time and who set it and why; the
  due time comes from ``deadlines.due_at``. Reminders and the missed alert are sent by the
  escalation sweep (``deadline_alerts_due``, called from ``notifications.services.sweep``).
- ``notice_draft`` → ``notice_revise`` (versions) → ``notice_approve`` (a named approver, one
  version) → ``notice_send`` (when, how, to whom, their reference), which stops the clock of its
  stage; NIS2's incident notification starts the final report's clock from its submission.

Raise ValidationError (400 / form error), PermissionDenied (403) or ConflictError (409).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from config.errors import ConflictError
from incidents import events
from incidents.models import (
    AffectedScope,
    Applicability,
    DeadlineClock,
    Incident,
    Membership,
    Notice,
    NoticeStatus,
    NoticeVersion,
    Regime,
    RegimeKind,
    RegulatoryAssessment,
    StartEvent,
    VendorInvolvement,
    Verb,
)
from incidents.permissions import Action, require
from incidents.services import touch

from . import deadlines


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    rule: str
    start_event: str


# The clocks "applies" asks for, per kind of regime. GDPR Art. 34 ("without undue delay") and a
# regime without a fixed period have none: the register and the notice are the record.
STAGES: dict[str, tuple[Stage, ...]] = {
    RegimeKind.GDPR_ART33: (Stage("notification", "Notification (72 h)", deadlines.Rule.GDPR, StartEvent.AWARENESS),),
    RegimeKind.GDPR_ART34: (),
    RegimeKind.NIS2: (
        Stage("early_warning", "Early warning (24 h)", deadlines.Rule.NIS2_EARLY_WARNING, StartEvent.AWARENESS),
        Stage("notification", "Incident notification (72 h)", deadlines.Rule.NIS2_NOTIFICATION, StartEvent.AWARENESS),
        Stage(
            "final_report",
            "Final report (1 month after the notification)",
            deadlines.Rule.NIS2_FINAL_REPORT,
            StartEvent.NOTIFICATION_SUBMITTED,
        ),
    ),
    RegimeKind.SEC_8K: (Stage("filing", "Form 8-K (4 business days)", deadlines.Rule.SEC_8K, StartEvent.MATERIALITY),),
    RegimeKind.HIPAA: (Stage("notification", "Notification (60 days)", deadlines.Rule.HIPAA, StartEvent.DISCOVERY),),
    RegimeKind.CUSTOM: (Stage("notification", "Notification", deadlines.Rule.CUSTOM, StartEvent.OTHER),),
}
# NIS2's final report starts when the incident notification is recorded as sent.
CHAINED = {(RegimeKind.NIS2, "notification"): "final_report"}
REASON_MAX = 5_000


def stages_of(regime: Regime) -> tuple[Stage, ...]:
    return STAGES[regime.kind]


def stage_of(regime: Regime, name: str) -> Stage | None:
    return next((stage for stage in stages_of(regime) if stage.name == name), None)


def _reason(value: str, field: str = "reason") -> str:
    value = (value or "").strip()
    if len(value) > REASON_MAX:
        raise ValidationError({field: [f"At most {REASON_MAX:,} characters (it has {len(value):,})."]})
    return value


# --- Decisions --------------------------------------------------------------------------------------
def assessment_decide(
    *, incident: Incident, regime: Regime, decision: str, reason: str, actor: User
) -> RegulatoryAssessment:
    """Record whether ``regime`` applies to ``incident`` (``Action.DECIDE_REGULATORY``).

    "Does not apply" is refused without a reason (GDPR Art. 33(5): the reasoning is part of the
    record). Deciding it no longer applies stops the regime's running clocks. Each decision is an
    internal ``regime_decided`` activity entry: the register's history."""
    require(actor, incident, Action.DECIDE_REGULATORY)
    if decision not in Applicability.values:
        raise ValidationError({"decision": [f"Choose one of: {', '.join(Applicability.values)}."]})
    reason = _reason(reason)
    if decision == Applicability.DOES_NOT_APPLY and not reason:
        raise ValidationError({"reason": ["Say why it does not apply: the reasoning is part of the register."]})
    if not regime.active:
        raise ValidationError({"regime": [f"The regime “{regime.name}” is retired."]})
    now = timezone.now()
    with transaction.atomic():
        Incident.objects.select_for_update().filter(pk=incident.pk).exists()
        assessment, created = RegulatoryAssessment.objects.get_or_create(
            incident=incident,
            regime=regime,
            defaults={"decision": decision, "reason": reason, "decided_by": actor, "decided_at": now},
        )
        old = None if created else assessment.decision
        if not created:
            if (assessment.decision, assessment.reason) == (decision, reason):
                return assessment
            assessment.decision, assessment.reason = decision, reason
            assessment.decided_by, assessment.decided_at = actor, now
            assessment.save()
        if decision != Applicability.APPLIES:
            DeadlineClock.objects.filter(incident=incident, regime=regime, stopped_at__isnull=True).update(
                stopped_at=now, next_alert_at=None
            )
        events.regime_decided_event(
            incident=incident,
            actor=actor,
            regime=regime.name,
            decision=decision,
            decision_label=Applicability(decision).label.lower(),
            old=old,
            reason=reason,
        )
        touch(incident, now)
    return assessment


def _applies(incident: Incident, regime: Regime) -> bool:
    return RegulatoryAssessment.objects.filter(
        incident=incident, regime=regime, decision=Applicability.APPLIES
    ).exists()


# --- Clocks -----------------------------------------------------------------------------------------
def reminder_leads_default() -> list[int]:
    return [int(hours * 3600) for hours in settings.REGULATORY_REMINDER_HOURS]


def _next_alert(clock: DeadlineClock) -> datetime | None:
    """The next moment the sweep has something to do for ``clock``: its earliest reminder not
    yet sent, else its due time (the missed alert); None once stopped or missed."""
    if clock.stopped_at is not None or clock.missed_at is not None:
        return None
    pending = [
        clock.due_at - timedelta(seconds=lead) for lead in clock.reminder_leads if lead not in clock.reminders_sent
    ]
    return min([*pending, clock.due_at])


def clock_due(regime: Regime, stage: Stage, started_at: datetime) -> tuple[datetime, str]:
    """The due time of ``stage`` of ``regime`` started at ``started_at``, and the sentence that
    explains it."""
    custom = None
    if regime.kind == RegimeKind.CUSTOM:
        custom = deadlines.Custom(
            duration=regime.duration,
            business_days=regime.business_days,
            timezone=regime.timezone,
            holiday_country=regime.holiday_country,
        )
    tz = regime.timezone if regime.timezone and regime.timezone != "UTC" else None
    try:
        due = deadlines.due_at(stage.rule, started_at, custom=custom, tz=tz)
        text = deadlines.explain(stage.rule, started_at, custom=custom, tz=tz)
    except ValueError as exc:
        raise ValidationError({"regime": [f"{regime.name}: {exc}"]}) from None
    return due, text[:500]


def clock_set(
    *,
    incident: Incident,
    regime: Regime,
    stage: str,
    start_event: str,
    started_at: datetime,
    reason: str,
    actor: User,
    reminder_leads: list[int] | None = None,
) -> DeadlineClock:
    """Start (or correct the start of) the ``stage`` clock of ``regime`` on ``incident``
    (``Action.DECIDE_REGULATORY``): the starting event, its time, who set it and why. Only for a
    regime decided to apply; never in the future; a stopped clock stays stopped. Reminders
    whose time has already passed when the clock is set are not sent (the page shows it)."""
    require(actor, incident, Action.DECIDE_REGULATORY)
    found = stage_of(regime, stage)
    errors: dict[str, list[str]] = {}
    if found is None:
        names = ", ".join(s.name for s in stages_of(regime)) or "none"
        errors["stage"] = [f"{regime.name} has no clock “{stage}” (its clocks: {names})."]
    if start_event not in StartEvent.values:
        errors["start_event"] = [f"Choose one of: {', '.join(StartEvent.values)}."]
    reason = _reason(reason, "start_reason")
    if not reason:
        errors["start_reason"] = ["Say why this is the starting time (who learned what, how)."]
    if started_at is None or timezone.is_naive(started_at):
        errors["started_at"] = ["Give the time with its time zone."]
    elif started_at > timezone.now() + timedelta(minutes=1):
        errors["started_at"] = ["The starting event cannot be in the future."]
    if reminder_leads is not None and (
        not isinstance(reminder_leads, list) or any(not isinstance(v, int) or v <= 0 for v in reminder_leads)
    ):
        errors["reminder_leads"] = ["Give the reminders as positive numbers of seconds before the due time."]
    if errors:
        raise ValidationError(errors)
    if not _applies(incident, regime):
        raise ValidationError({"regime": [f"Decide that {regime.name} applies before starting its clock."]})
    due, explanation = clock_due(regime, found, started_at)
    now = timezone.now()
    leads = sorted(set(reminder_leads if reminder_leads is not None else reminder_leads_default()), reverse=True)
    with transaction.atomic():
        Incident.objects.select_for_update().filter(pk=incident.pk).exists()
        clock = DeadlineClock.objects.filter(incident=incident, regime=regime, stage=stage).first()
        if clock is not None and clock.stopped_at is not None:
            raise ValidationError({"stage": [f"The {found.label} clock was stopped: it cannot be set again."]})
        if clock is None:
            clock = DeadlineClock(incident=incident, regime=regime, stage=stage, rule=found.rule)
        clock.start_event, clock.started_at, clock.started_by, clock.start_reason = (
            start_event,
            started_at,
            actor,
            reason,
        )
        clock.due_at, clock.explanation, clock.reminder_leads = due, explanation, leads
        # Reminders already past are counted as done; the missed alert is not (it fires at once).
        clock.reminders_sent = [lead for lead in leads if due - timedelta(seconds=lead) <= now]
        clock.missed_at = None
        clock.next_alert_at = _next_alert(clock)
        clock.save()
        events.deadline_set_event(
            incident=incident,
            actor=actor,
            regime=regime.name,
            stage=stage,
            start_event=StartEvent(start_event).label.lower(),
            started_at=started_at.isoformat(),
            due_at=due.isoformat(),
            reason=reason,
        )
        touch(incident, now)
    return clock


# --- Notices ------------------------------------------------------------------------------------------
class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unknown placeholder stays visible for the drafter to fill


def notice_fields(incident: Incident) -> dict[str, str]:
    """What a template's {placeholders} are filled with, read fresh from the database."""
    incident = Incident.objects.select_related("lead").get(pk=incident.pk)
    scope = list(AffectedScope.objects.filter(incident=incident).order_by("id"))
    vendors = list(VendorInvolvement.objects.filter(incident=incident).select_related("vendor").order_by("id"))
    categories = sorted({category for row in scope for category in (row.data_categories or [])})
    contained = incident.contained_at
    aware = (
        DeadlineClock.objects.filter(incident=incident, start_event=StartEvent.AWARENESS)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )

    def when(moment: datetime | None) -> str:
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "[to be completed]"

    lead = incident.lead
    return {
        "reference": incident.reference,
        "title": incident.title,
        "summary": incident.summary or "[to be completed]",
        "status": incident.get_status_display(),
        "detected_at": when(incident.detected_at),
        "aware_at": when(aware),
        "containment": f"contained since {when(contained)}" if contained else "not yet contained",
        "scope": "\n".join(f"- {row}" for row in scope) or "[to be completed]",
        "records": f"{incident.records_affected:,}" if incident.records_affected is not None else "[unknown]",
        "data_categories": ", ".join(categories) or "[to be completed]",
        "vendors": ", ".join(f"{v.vendor.name} ({v.get_role_display().lower()})" for v in vendors) or "none",
        "contact": f"{lead.get_full_name() or lead.username} <{lead.email}>" if lead else "[to be completed]",
    }


def notice_draft(*, incident: Incident, regime: Regime, stage: str = "", actor: User) -> Notice:
    """Draft a notice for ``regime`` (``Action.DRAFT_NOTICE``) from its template, filled from the
    incident. Only for a regime decided to apply; ``stage`` names the clock it answers (the
    regime's first clock when blank)."""
    require(actor, incident, Action.DRAFT_NOTICE)
    if not _applies(incident, regime):
        raise ValidationError({"regime": [f"Decide that {regime.name} applies before drafting its notice."]})
    stages = stages_of(regime)
    if stage and stage_of(regime, stage) is None:
        raise ValidationError({"stage": [f"{regime.name} has no clock “{stage}”."]})
    stage = stage or (stages[0].name if stages else "")
    label = stage_of(regime, stage).label if stage else ""
    title = f"{regime.name}{' — ' + label if label else ''} — {incident.reference}"[:200]
    template = regime.notice_template or "# {title}\n\n{summary}\n"
    body = string.Formatter().vformat(template, (), _Blank(notice_fields(incident)))
    now = timezone.now()
    with transaction.atomic():
        notice = Notice.objects.create(
            incident=incident, regime=regime, stage=stage, title=title, body=body, created_by=actor,
            created_at=now, updated_at=now,
        )  # fmt: skip
        NoticeVersion.objects.create(notice=notice, number=1, body=body, author=actor, created_at=now)
        events.notice_event(notice=notice, actor=actor, verb=Verb.NOTICE_DRAFTED)
        touch(incident, now)
    return notice


def _locked(notice: Notice, version: int | None) -> Notice:
    current = Notice.objects.select_for_update().select_related("incident", "regime").get(pk=notice.pk)
    if version is not None and current.version != version:
        raise ConflictError(_Versioned(current), version)
    return current


@dataclass
class _Versioned:
    """What ConflictError reads (reference, version) for a notice."""

    notice: Notice

    @property
    def reference(self) -> str:
        return f"The notice “{self.notice.title}”"

    @property
    def version(self) -> int:
        return self.notice.version


def notice_revise(*, notice: Notice, body: str, actor: User, version: int) -> Notice:
    """Save a new version of the text (``Action.DRAFT_NOTICE``) if the notice is still at
    ``version``. A new text needs a new approval: an approved notice goes back to draft. A sent
    notice is what the authority received and is never changed."""
    require(actor, notice.incident, Action.DRAFT_NOTICE)
    body = (body or "").strip()
    limit = Notice._meta.get_field("body").validators[0].limit_value
    if not body:
        raise ValidationError({"body": ["A notice needs a text."]})
    if len(body) > limit:
        raise ValidationError({"body": [f"At most {limit:,} characters (it has {len(body):,})."]})
    with transaction.atomic():
        current = _locked(notice, version)
        if current.status == NoticeStatus.SENT:
            raise ValidationError({"body": ["This notice was sent: its text is what the recipient got."]})
        if current.body == body:
            return current
        now = timezone.now()
        current.version += 1
        current.body, current.updated_at = body, now
        current.status, current.approved_by, current.approved_at, current.approved_version = (
            NoticeStatus.DRAFT, None, None, None,
        )  # fmt: skip
        current.save()
        NoticeVersion.objects.create(notice=current, number=current.version, body=body, author=actor, created_at=now)
        events.notice_event(notice=current, actor=actor, verb=Verb.NOTICE_REVISED)
        touch(current.incident, now)
    return current


def notice_approve(*, notice: Notice, actor: User, version: int) -> Notice:
    """Approve version ``version`` (the one the approver read) of a draft
    (``Action.APPROVE_NOTICE``: the incident's lead, an admin or counsel)."""
    require(actor, notice.incident, Action.APPROVE_NOTICE)
    with transaction.atomic():
        current = _locked(notice, version)
        if current.status != NoticeStatus.DRAFT:
            raise ValidationError({"status": [f"Only a draft is approved; this notice is {current.status}."]})
        now = timezone.now()
        current.status, current.approved_by, current.approved_at = NoticeStatus.APPROVED, actor, now
        current.approved_version, current.updated_at = current.version, now
        current.save()
        events.notice_event(notice=current, actor=actor, verb=Verb.NOTICE_APPROVED)
        touch(current.incident, now)
    return current


def notice_send(
    *,
    notice: Notice,
    actor: User,
    sent_at: datetime,
    channel: str,
    recipient: str,
    authority_reference: str = "",
) -> Notice:
    """Record that the approved notice was sent (``Action.RECORD_NOTICE_SENT``): when, through
    which channel, to whom, and their reference. Stops the clock of its stage; NIS2's incident
    notification starts the final report's clock from ``sent_at``."""
    require(actor, notice.incident, Action.RECORD_NOTICE_SENT)
    channel, recipient, authority_reference = (
        (channel or "").strip(), (recipient or "").strip(), (authority_reference or "").strip(),
    )  # fmt: skip
    errors: dict[str, list[str]] = {}
    if not channel:
        errors["channel"] = ["How was it sent (portal, e-mail, letter…)?"]
    if not recipient:
        errors["recipient"] = ["To whom was it sent?"]
    if sent_at is None or timezone.is_naive(sent_at):
        errors["sent_at"] = ["Give the time with its time zone."]
    elif sent_at > timezone.now() + timedelta(minutes=1):
        errors["sent_at"] = ["A notice cannot be recorded as sent in the future."]
    for field, value in (("channel", channel), ("recipient", recipient), ("authority_reference", authority_reference)):
        if len(value) > Notice._meta.get_field(field if field != "channel" else "sent_channel").max_length:
            errors[field] = ["Too long."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = _locked(notice, None)
        if current.status == NoticeStatus.SENT:
            raise ValidationError({"status": ["This notice was already recorded as sent."]})
        if current.status != NoticeStatus.APPROVED or current.approved_version != current.version:
            raise ValidationError({"status": ["Approve the notice first: only an approved version is sent."]})
        now = timezone.now()
        current.status, current.sent_by, current.sent_at = NoticeStatus.SENT, actor, sent_at
        current.sent_channel, current.recipient, current.authority_reference = channel, recipient, authority_reference
        current.updated_at = now
        current.save()
        if current.stage:
            DeadlineClock.objects.filter(
                incident=current.incident, regime=current.regime, stage=current.stage, stopped_at__isnull=True
            ).update(stopped_at=sent_at, stopped_by_notice=current, next_alert_at=None)
        events.notice_event(notice=current, actor=actor, verb=Verb.NOTICE_SENT)
        touch(current.incident, now)
    chained = CHAINED.get((current.regime.kind, current.stage))
    if chained:
        clock_set(
            incident=current.incident,
            regime=current.regime,
            stage=chained,
            start_event=StartEvent.NOTIFICATION_SUBMITTED,
            started_at=sent_at,
            reason=f"The incident notification was submitted to {recipient}"
            + (f" (their reference {authority_reference})." if authority_reference else "."),
            actor=actor,
        )
    return current


# --- Reminders and missed deadlines (called by the escalation sweep) --------------------------------
def _told(incident: Incident, *, missed: bool) -> list[User]:
    """Who a deadline reminder goes to: the incident's lead, its staff members and counsel who
    can see it; a missed deadline also to the admins (the next level)."""
    people: list[User] = []
    if incident.lead is not None:
        people.append(incident.lead)
    for membership in Membership.objects.filter(incident=incident).select_related("user"):
        user = membership.user
        if user not in people and user.role not in (Role.VENDOR, Role.INTEGRATION, Role.EXECUTIVE):
            people.append(user)
    extra = User.objects.filter(is_active=True, counsel=True).exclude(role=Role.VENDOR)
    if missed:
        extra = extra | User.objects.filter(is_active=True, role=Role.ADMIN)
    from notifications.services import sees  # the one visibility shortcut paging uses

    for user in extra.order_by("username"):
        if user not in people and sees(user, incident):
            people.append(user)
    return [user for user in people if user.is_active]


def deadline_alerts_due(now: datetime, batch: int) -> tuple[int, list[int]]:
    """Send the reminders and missed alerts due by ``now`` for up to ``batch`` clocks, claimed
    with SKIP LOCKED. Returns (clocks handled, notification ids to deliver). Each reminder is one
    notification per recipient, unique per (clock, lead time): sent once, whatever the sweeps."""
    from notifications.models import Reason
    from notifications.services import notify_people

    ids: list[int] = []
    with transaction.atomic():
        clocks = list(
            DeadlineClock.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_alert_at__lte=now)
            .select_related("incident", "incident__lead", "regime")
            .order_by("next_alert_at")[:batch]
        )
        for clock in clocks:
            incident = clock.incident
            due_text = timezone.localtime(clock.due_at).strftime("%Y-%m-%d %H:%M %Z")
            label = stage_of(clock.regime, clock.stage).label if stage_of(clock.regime, clock.stage) else clock.stage
            if clock.due_at <= now:
                clock.missed_at = now
                ids += notify_people(
                    incident=incident,
                    reason=Reason.DEADLINE_MISSED,
                    dedupe_key=f"deadline:{clock.pk}:missed",
                    people=_told(incident, missed=True),
                    headline=f"{clock.regime.name} deadline MISSED",
                    detail=f"{label} was due {due_text} and is not recorded as sent. {clock.explanation}",
                    now=now,
                )
            else:
                due_leads = [
                    lead
                    for lead in clock.reminder_leads
                    if lead not in clock.reminders_sent and clock.due_at - timedelta(seconds=lead) <= now
                ]
                # Several reminders due at once (a sweep after downtime): one message, the nearest.
                lead = min(due_leads)
                left = clock.due_at - now
                hours = left.total_seconds() / 3600
                ids += notify_people(
                    incident=incident,
                    reason=Reason.DEADLINE_REMINDER,
                    dedupe_key=f"deadline:{clock.pk}:{lead}",
                    people=_told(incident, missed=False),
                    headline=f"{clock.regime.name} due in "
                    + (f"{hours:.0f} h" if hours >= 1 else f"{max(int(left.total_seconds() // 60), 1)} min"),
                    detail=f"{label} is due {due_text}. {clock.explanation}",
                    now=now,
                )
                clock.reminders_sent = sorted({*clock.reminders_sent, *due_leads}, reverse=True)
            clock.next_alert_at = _next_alert(clock)
        if clocks:
            DeadlineClock.objects.bulk_update(clocks, ["missed_at", "reminders_sent", "next_alert_at"])
    return len(clocks), ids
