"""One constructor per kind of activity entry (``Verb``), so each entry has exactly one shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from accounts.audit import record_activity
from accounts.models import User
from config.services import changes_as_json

from .models import (
    Activity,
    AffectedScope,
    Evidence,
    Finding,
    Incident,
    Indicator,
    LegalHold,
    Membership,
    Notice,
    Task,
    TaskNote,
    VendorAccess,
    VendorInvolvement,
    VendorQuestion,
    Verb,
)

if TYPE_CHECKING:
    from timeline.models import TimelineEvent


def _entry(incident: Incident, actor: User | None, verb: Verb, *, internal: bool = False, **data: Any) -> Activity:
    """``internal`` entries are hidden from vendor collaborators (``selectors.shared_with``): an
    entry about internal content is as internal as that content; entries about people and access
    always are. Each entry is also an audit entry (``accounts.audit``), in the same transaction."""
    activity = Activity.objects.create(incident=incident, actor=actor, verb=verb, data=data, internal=internal)
    record_activity(activity)
    return activity


def opened_event(*, incident: Incident, actor: User | None) -> Activity:
    return _entry(incident, actor, Verb.OPENED, severity=incident.severity)


def updated_event(
    *, incident: Incident, actor: User | None, changes: Mapping[str, tuple[Any, Any]], derived_from: str = ""
) -> Activity:
    """``changes`` is ``{field: (old, new)}``; kept as ``{"changes": {field: {"old", "new"}}}``.
    ``derived_from`` names what computed the values (``"affected_scope"``) when no one typed them."""
    about_access = bool(set(changes) & {"lead", "restricted"})
    extra = {"derived_from": derived_from} if derived_from else {}
    return _entry(incident, actor, Verb.UPDATED, internal=about_access, changes=changes_as_json(changes), **extra)


def status_changed_event(*, incident: Incident, actor: User | None, old: str, new: str) -> Activity:
    return _entry(incident, actor, Verb.STATUS_CHANGED, old=old, new=new)


def finding_added_event(*, finding: Finding, actor: User | None) -> Activity:
    return _entry(finding.incident, actor, Verb.FINDING_ADDED, internal=finding.internal, finding_id=finding.pk)


def task_added_event(*, task: Task, actor: User | None) -> Activity:
    return _entry(task.incident, actor, Verb.TASK_ADDED, internal=task.internal, task_id=task.pk, title=task.title)


def task_updated_event(*, task: Task, actor: User | None, changes: Mapping[str, tuple[Any, Any]]) -> Activity:
    return _entry(
        task.incident,
        actor,
        Verb.TASK_UPDATED,
        internal=task.internal,
        task_id=task.pk,
        title=task.title,
        changes=changes_as_json(changes),
    )


def task_status_changed_event(*, task: Task, actor: User | None, old: str) -> Activity:
    return _entry(
        task.incident,
        actor,
        Verb.TASK_STATUS_CHANGED,
        internal=task.internal,
        task_id=task.pk,
        title=task.title,
        old=old,
        new=task.status,
        reason=task.cancel_reason,
    )


def task_done_event(*, task: Task, actor: User | None) -> Activity:
    return _entry(
        task.incident, actor, Verb.TASK_DONE, internal=task.internal, task_id=task.pk, title=task.title, done=task.done
    )


def task_note_added_event(*, note: TaskNote, actor: User | None) -> Activity:
    # The note's text stays on the note (up to 5,000 characters); the entry says where it went.
    task = note.task
    return _entry(
        task.incident,
        actor,
        Verb.TASK_NOTE_ADDED,
        internal=task.internal,
        task_id=task.pk,
        title=task.title,
        note_id=note.pk,
    )


def closed_event(*, incident: Incident, actor: User | None, old: str) -> Activity:
    """The one entry for closing (no separate status_changed entry): the status it left, the
    resolution, the original of a duplicate (by reference) and the closing summary, which
    reopening clears from the incident but not from here."""
    return _entry(
        incident,
        actor,
        Verb.CLOSED,
        old=old,
        resolution=incident.resolution,
        duplicate_of=incident.duplicate_of.reference if incident.duplicate_of_id else None,
        closing_summary=incident.closing_summary,
    )


def reopened_event(
    *, incident: Incident, actor: User | None, reason: str, resolution: str, duplicate_of: str | None
) -> Activity:
    """Reopening (closed → ``incident.status``): why, and what it had been closed as."""
    return _entry(
        incident,
        actor,
        Verb.REOPENED,
        old="closed",
        new=incident.status,
        reason=reason,
        resolution=resolution,
        duplicate_of=duplicate_of,
    )


def _member(membership: Membership) -> dict[str, str]:
    return {"username": membership.user.username, "name": str(membership.user)}


def member_added_event(*, membership: Membership, actor: User | None) -> Activity:
    return _entry(
        membership.incident, actor, Verb.MEMBER_ADDED, internal=True, **_member(membership), role=membership.role
    )


def member_removed_event(*, membership: Membership, actor: User | None, reason: str = "") -> Activity:
    """``reason``: why, when nobody decided it ("expired": the access's end date passed)."""
    extra = {"reason": reason} if reason else {}
    return _entry(
        membership.incident, actor, Verb.MEMBER_REMOVED, internal=True, **_member(membership), role=membership.role,
        **extra,
    )  # fmt: skip


def member_role_changed_event(*, membership: Membership, actor: User | None, old: str) -> Activity:
    return _entry(
        membership.incident,
        actor,
        Verb.MEMBER_ROLE_CHANGED,
        internal=True,
        **_member(membership),
        old=old,
        new=membership.role,
    )


def evidence_added_event(*, evidence: Evidence, actor: User | None) -> Activity:
    return _entry(
        evidence.incident,
        actor,
        Verb.EVIDENCE_ADDED,
        internal=evidence.internal,
        evidence_id=evidence.pk,
        name=evidence.name,
        kind=evidence.kind,
        sha256=evidence.sha256,
    )


def evidence_transferred_event(*, evidence: Evidence, actor: User | None, recipient: str, reason: str) -> Activity:
    return _entry(
        evidence.incident,
        actor,
        Verb.EVIDENCE_TRANSFERRED,
        internal=evidence.internal,
        evidence_id=evidence.pk,
        name=evidence.name,
        recipient=recipient,
        reason=reason,
    )


def evidence_purged_event(*, incident: Incident, actor: User | None, evidence_ids: list[int]) -> Activity:
    # Retention is the team's business, not a vendor's: internal like entries about access.
    return _entry(
        incident, actor, Verb.EVIDENCE_PURGED, internal=True, count=len(evidence_ids), evidence_ids=evidence_ids
    )


def legal_hold_set_event(*, hold: LegalHold, actor: User | None) -> Activity:
    return _entry(hold.incident, actor, Verb.LEGAL_HOLD_SET, internal=True, hold_id=hold.pk, reason=hold.reason)


def legal_hold_cleared_event(*, hold: LegalHold, actor: User | None) -> Activity:
    return _entry(
        hold.incident, actor, Verb.LEGAL_HOLD_CLEARED, internal=True, hold_id=hold.pk, reason=hold.release_reason
    )


# How many values an "indicators added" entry names; the count says how many there were.
INDICATORS_NAMED = 5


def indicators_added_event(*, incident: Incident, indicators: list[Indicator], actor: User | None) -> Activity:
    """One entry per batch (one indicator or a confirmed extraction). The caller groups a batch by
    ``internal``: an entry is as internal as the indicators it names."""
    return _entry(
        incident,
        actor,
        Verb.INDICATORS_ADDED,
        internal=any(indicator.internal for indicator in indicators),
        count=len(indicators),
        indicator_ids=[indicator.pk for indicator in indicators],
        values=[indicator.label for indicator in indicators[:INDICATORS_NAMED]],
    )


def indicator_updated_event(
    *, indicator: Indicator, actor: User | None, changes: Mapping[str, tuple[Any, Any]]
) -> Activity:
    # Changing the internal flag is about who sees it: internal, like entries about access.
    return _entry(
        indicator.incident,
        actor,
        Verb.INDICATOR_UPDATED,
        internal=indicator.internal or "internal" in changes,
        indicator_id=indicator.pk,
        indicator=indicator.label,
        changes=changes_as_json(changes),
    )


# Vendor involvement entries are internal: a vendor collaborator must never learn which other
# vendors are on the case (issue 9), and ``shared_with`` filters on the flag alone.
def _involvement(involvement: VendorInvolvement) -> dict[str, Any]:
    return {"involvement_id": involvement.pk, "vendor_id": involvement.vendor_id, "vendor": involvement.vendor.name}


def vendor_involved_event(*, involvement: VendorInvolvement, actor: User | None) -> Activity:
    return _entry(
        involvement.incident,
        actor,
        Verb.VENDOR_INVOLVED,
        internal=True,
        **_involvement(involvement),
        role=involvement.role,
        vendor_reference=involvement.vendor_reference,
    )


def vendor_role_changed_event(
    *, involvement: VendorInvolvement, actor: User | None, changes: Mapping[str, tuple[Any, Any]]
) -> Activity:
    """A changed role and/or vendor reference, old → new."""
    return _entry(
        involvement.incident,
        actor,
        Verb.VENDOR_ROLE_CHANGED,
        internal=True,
        **_involvement(involvement),
        changes=changes_as_json(changes),
    )


def vendor_removed_event(*, involvement: VendorInvolvement, actor: User | None) -> Activity:
    return _entry(
        involvement.incident,
        actor,
        Verb.VENDOR_REMOVED,
        internal=True,
        **_involvement(involvement),
        role=involvement.role,
    )


# Access items and containment overrides name vendors and our systems: internal, like the rest.
def vendor_access_added_event(
    *, involvement: VendorInvolvement, items: list[VendorAccess], actor: User | None, from_registry: bool = False
) -> Activity:
    """One entry per batch: one item added by hand, or what a fill from the registry copied."""
    return _entry(
        involvement.incident,
        actor,
        Verb.VENDOR_ACCESS_ADDED,
        internal=True,
        **_involvement(involvement),
        access_ids=[item.pk for item in items],
        labels=[item.label for item in items],
        from_registry=from_registry,
    )


def vendor_access_stepped_event(
    *, access: VendorAccess, actor: User | None, old: str, new: str, note: str = ""
) -> Activity:
    involvement = access.involvement
    return _entry(
        involvement.incident,
        actor,
        Verb.VENDOR_ACCESS_STEPPED,
        internal=True,
        **_involvement(involvement),
        access_id=access.pk,
        label=access.label,
        old=old,
        new=new,
        note=note,
    )


def containment_overridden_event(
    *, incident: Incident, actor: User | None, reason: str, items: list[dict[str, Any]], override_id: int
) -> Activity:
    return _entry(
        incident,
        actor,
        Verb.CONTAINMENT_OVERRIDDEN,
        internal=True,
        override_id=override_id,
        reason=reason,
        items=items,
    )


# Questions name the vendor (and what we ask them): internal like every vendor entry, since
# ``shared_with`` filters on the flag alone. The vendor collaborator sees their own company's
# questions in the vendors panel (and the API), not through the activity log.
def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def vendor_question_asked_event(*, question: VendorQuestion, actor: User | None) -> Activity:
    involvement = question.involvement
    return _entry(
        involvement.incident,
        actor,
        Verb.VENDOR_QUESTION_ASKED,
        internal=True,
        **_involvement(involvement),
        question_id=question.pk,
        question=_short(question.question),
        due_at=question.due_at.isoformat(),
    )


def vendor_question_answered_event(*, question: VendorQuestion, actor: User | None) -> Activity:
    involvement = question.involvement
    return _entry(
        involvement.incident,
        actor,
        Verb.VENDOR_QUESTION_ANSWERED,
        internal=True,
        **_involvement(involvement),
        question_id=question.pk,
        question=_short(question.question),
    )


# As internal as the row (an internal system's name is not a vendor's business).
def scope_added_event(*, scope: AffectedScope, actor: User | None) -> Activity:
    return _entry(
        scope.incident, actor, Verb.SCOPE_ADDED, internal=scope.internal, scope_id=scope.pk, kind=scope.kind,
        name=scope.name, data_categories=list(scope.data_categories), records=scope.records,
    )  # fmt: skip


def scope_removed_event(*, scope: AffectedScope, actor: User | None) -> Activity:
    return _entry(
        scope.incident, actor, Verb.SCOPE_REMOVED, internal=scope.internal, scope_id=scope.pk, kind=scope.kind,
        name=scope.name,
    )  # fmt: skip


# Timeline events (timeline/): the activity log says who added or changed the story; the story
# itself is the timeline. An entry is as internal as the events it names.
def timeline_events_added_event(
    *, incident: Incident, events: list[TimelineEvent], actor: User | None, import_file: str = ""
) -> Activity:
    """One entry per batch (one event, an API batch or an import); the caller groups a batch by
    ``internal``. Names the first event's title and counts the rest."""
    extra = {"import_file": import_file} if import_file else {}
    return _entry(
        incident,
        actor,
        Verb.TIMELINE_EVENT_ADDED,
        internal=any(event.internal for event in events),
        count=len(events),
        event_ids=[event.pk for event in events[:INDICATORS_NAMED]],
        title=events[0].title if events else "",
        **extra,
    )


def timeline_event_updated_event(
    *, event: TimelineEvent, actor: User | None, changes: Mapping[str, tuple[Any, Any]]
) -> Activity:
    return _entry(
        event.incident,
        actor,
        Verb.TIMELINE_EVENT_UPDATED,
        internal=event.internal or "internal" in changes,
        event_id=event.pk,
        title=event.title,
        changes=changes_as_json(changes),
    )


def acknowledged_event(*, incident: Incident, actor: User | None, channel: str, channel_label: str) -> Activity:
    """Someone took the incident (``notifications.services.incident_acknowledge``)."""
    return _entry(incident, actor, Verb.ACKNOWLEDGED, channel=channel, channel_label=channel_label)


def escalated_event(*, incident: Incident, policy: str, step: int, paged: list[str]) -> Activity:
    """The sweep paged a step of a policy (internal: it names people and channels)."""
    return _entry(incident, None, Verb.ESCALATED, internal=True, policy=policy, step=step, paged=paged)


def sla_breached_event(*, incident: Incident, kind: str, label: str, due_at: str) -> Activity:
    return _entry(incident, None, Verb.SLA_BREACHED, internal=True, kind=kind, label=label, due_at=due_at)


def regime_decided_event(
    *,
    incident: Incident,
    actor: User | None,
    regime: str,
    decision: str,
    decision_label: str,
    old: str | None,
    reason: str,
) -> Activity:
    """A decision of the notification register (internal: legal assessment is staff business)."""
    return _entry(
        incident, actor, Verb.REGIME_DECIDED, internal=True, regime=regime, decision=decision,
        decision_label=decision_label, old=old, reason=reason,
    )  # fmt: skip


def deadline_set_event(
    *,
    incident: Incident,
    actor: User | None,
    regime: str,
    stage: str,
    start_event: str,
    started_at: str,
    due_at: str,
    reason: str,
) -> Activity:
    return _entry(
        incident, actor, Verb.DEADLINE_SET, internal=True, regime=regime, stage=stage, start_event=start_event,
        started_at=started_at, due_at=due_at, reason=reason,
    )  # fmt: skip


def notice_event(*, notice: Notice, actor: User | None, verb: Verb) -> Activity:
    """A notice drafted, revised, approved or sent (one shape for the four verbs)."""
    data: dict[str, Any] = {"notice_id": notice.pk, "title": notice.title, "version": notice.version}
    if verb == Verb.NOTICE_SENT:
        data.update(recipient=notice.recipient, channel=notice.sent_channel, reference=notice.authority_reference)
    return _entry(notice.incident, actor, verb, internal=True, **data)
