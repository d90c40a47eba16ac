"""Every write to the case goes through here.

Services validate (``full_clean``), check the rule table (``incidents.permissions``), run in a
transaction and record the activity entry that belongs to the change. They raise:
- ``django.core.exceptions.ValidationError`` for bad input (shown as 400 / a form error),
- ``django.core.exceptions.PermissionDenied`` when the actor may not make the change (403),
- ``ConflictError`` when the incident changed since the caller read it (409 / conflict message).
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Role, User
from config.errors import ConflictError
from config.services import model_update

from . import events
from .models import (
    INCIDENT_ACCESS_FIELDS,
    INCIDENT_EDITABLE_FIELDS,
    SEVERITY_RANK,
    TRANSITIONS,
    Finding,
    Incident,
    MemberRole,
    Membership,
    ReferenceCounter,
    Status,
    Task,
    TaskStatus,
    format_reference,
)
from .permissions import Action, may, may_lead, may_open_incidents, require

__all__ = ["ConflictError"]

# What task_update may change for someone who may update any task; an assignee who may only
# update their own task may change ``done`` alone.
TASK_EDITABLE_FIELDS = ("title", "assignee", "due_on", "done", "status", "cancel_reason", "internal")
# Membership roles given with member_add / member_role_change. ``lead`` is not among them: the
# incident's lead is its ``lead`` field (incident_update), and its membership follows.
INVITED_ROLES = (MemberRole.RESPONDER, MemberRole.OBSERVER)


def _next_reference(now: datetime) -> str:
    """IR-YYYY-NNNN, unique under concurrency: one statement creates the year's counter row or
    increments it, and the row stays locked until the caller's transaction commits."""
    table = connection.ops.quote_name(ReferenceCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last) VALUES (%s, 1) "  # noqa: S608 - table name from the model
            f"ON CONFLICT (year) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [now.year],
        )
        (last,) = cursor.fetchone()
    return format_reference(now.year, last)


def _check_lead(lead: User | None) -> None:
    if lead is not None and not may_lead(lead):
        raise ValidationError({"lead": [f"{lead.username} cannot lead incidents: only incident leads and admins can."]})


def _check_assignee(assignee: User | None, incident: Incident) -> None:
    if assignee is not None and not may(assignee, Action.BE_ASSIGNED, incident):
        raise ValidationError({"assignee": [f"{assignee.username} cannot be given tasks on {incident.reference}."]})


def _check_future(detected_at: datetime, now: datetime) -> None:
    if detected_at > now:
        raise ValidationError({"detected_at": ["Detection time cannot be in the future."]})


def incident_open(*, opened_by: User, **fields: Any) -> Incident:
    """Open an incident with a fresh reference from ``fields`` (any of
    ``INCIDENT_EDITABLE_FIELDS``; ``title`` is required).

    The opener always becomes a member (responder), integrations included, so whoever opens an
    incident, restricted or not, can read and work what they opened; the lead becomes a member
    with the lead role. Raises PermissionDenied for roles that may not open incidents.
    """
    if not may_open_incidents(opened_by):
        raise PermissionDenied("Your role may not open incidents.")
    unknown = sorted(set(fields) - set(INCIDENT_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({field: ["This field cannot be set here."] for field in unknown})
    now = timezone.now()
    if fields.get("detected_at") is None:
        fields["detected_at"] = now
    incident = Incident(
        **fields, opened_by=opened_by, reported_at=now, created_at=now, updated_at=now, reference="pending"
    )
    # clean_fields already checks the choices that the CHECK constraints repeat, and the users are
    # loaded objects: skip the constraint queries and the FK existence queries.
    incident.full_clean(exclude=["reference", "opened_by", "lead"], validate_constraints=False)
    _check_future(incident.detected_at, now)
    _check_lead(incident.lead)
    with transaction.atomic():
        incident.reference = _next_reference(now)
        incident.save()
        events.opened_event(incident=incident, actor=opened_by)
        # A new incident has no members: insert directly (no get_or_create lookup, no savepoints).
        roles: dict[User, str] = {}
        if incident.lead is not None:
            roles[incident.lead] = MemberRole.LEAD
        roles.setdefault(opened_by, MemberRole.RESPONDER)
        for user, role in roles.items():
            membership = Membership.objects.create(incident=incident, user=user, role=role, added_at=now)
            events.member_added_event(membership=membership, actor=opened_by)
    return incident


def _actions_for(current: Incident, changes: dict[str, tuple[Any, Any]]) -> list[Action]:
    """The rule-table rows a set of field changes needs."""
    actions = []
    for field, (old, new) in changes.items():
        if field in INCIDENT_ACCESS_FIELDS:
            actions.append(Action.MANAGE_ACCESS)
        elif field == "severity":
            lowered = SEVERITY_RANK[new] > SEVERITY_RANK[old]
            actions.append(Action.LOWER_SEVERITY if lowered else Action.RAISE_SEVERITY)
        else:
            actions.append(Action.EDIT)
    return actions or [Action.EDIT]


def incident_update(*, incident: Incident, actor: User, version: int, changes: dict[str, Any]) -> Incident:
    """Apply ``changes`` (fields of ``INCIDENT_EDITABLE_FIELDS``) if the incident is still at
    ``version``; otherwise raise ConflictError.

    Each changed field needs its row of the rule table: access fields (restricted, lead) the
    incident's lead or an admin; raising severity a member working the case, lowering it the lead
    or an admin; the rest a member working the case. Nothing is written on refusal or conflict.
    Returns the refreshed incident.
    """
    current = Incident.objects.select_related("lead").get(pk=incident.pk)
    candidate = copy.copy(current)
    # CHECK constraints: status and milestones are not editable here and choices are checked by
    # clean_fields, so skip the one query per constraint that validating them would cost.
    diff = model_update(
        instance=candidate,
        fields=INCIDENT_EDITABLE_FIELDS,
        data=changes,
        exclude_from_clean=["reference", "opened_by"],
        validate_constraints=False,
    )
    require(actor, current, *_actions_for(current, diff))
    if not diff:
        # Nothing to write: don't bump the version (that would make other editors conflict for
        # nothing), but a stale caller still learns the incident moved on.
        if current.version != version:
            raise ConflictError(current, version)
        return current
    if "detected_at" in diff:
        _check_future(candidate.detected_at, timezone.now())
    if "lead" in diff:
        _check_lead(candidate.lead)
    with transaction.atomic():
        now = timezone.now()
        new_values = {field: new for field, (_, new) in diff.items()}
        updated = Incident.objects.filter(pk=incident.pk, version=version).update(
            **new_values, updated_at=now, version=F("version") + 1
        )
        if not updated:
            raise ConflictError(Incident.objects.get(pk=incident.pk), version)
        incident.refresh_from_db()
        events.updated_event(incident=incident, actor=actor, changes=diff)
        if "lead" in diff:
            _lead_membership_follow(incident, old=diff["lead"][0], new=diff["lead"][1], actor=actor)
    return incident


def _lead_membership_follow(incident: Incident, *, old: User | None, new: User | None, actor: User) -> None:
    """The membership role ``lead`` belongs to the incident's lead alone: the previous lead stays
    on the case as a responder, the new one becomes (or is made) a member with the lead role."""
    if old is not None:
        membership = Membership.objects.filter(incident=incident, user=old, role=MemberRole.LEAD).first()
        if membership is not None:
            membership.role = MemberRole.RESPONDER
            membership.save(update_fields=["role"])
            events.member_role_changed_event(membership=membership, actor=actor, old=MemberRole.LEAD)
    if new is not None:
        membership, created = Membership.objects.get_or_create(
            incident=incident, user=new, defaults={"role": MemberRole.LEAD}
        )
        if created:
            events.member_added_event(membership=membership, actor=actor)
        elif membership.role != MemberRole.LEAD:
            old_role, membership.role = membership.role, MemberRole.LEAD
            membership.save(update_fields=["role"])
            events.member_role_changed_event(membership=membership, actor=actor, old=old_role)


def incident_transition(*, incident: Incident, to: str, actor: User, version: int | None = None) -> Incident:
    """Move the incident to status ``to`` if NIST's flow allows it, keeping the milestones true
    (see the comment above ``Incident``): entering contained stamps ``contained_at``, recovered
    stamps ``resolved_at``, closed stamps ``closed_at`` (and ``resolved_at`` when closed without
    recovery); falling back to investigating clears containment and resolution, and leaving
    closed clears ``closed_at``. ``acknowledged_at`` is stamped once, on leaving new.

    With ``version`` the move is refused (ConflictError) when the incident changed since.
    """
    if to not in Status.values:
        raise ValidationError({"to": [f"Unknown status {to!r}."]})
    with transaction.atomic():
        current = Incident.objects.select_for_update().get(pk=incident.pk)
        require(actor, current, Action.TRANSITION)
        if version is not None and current.version != version:
            raise ConflictError(current, version)
        old = current.status
        if to not in TRANSITIONS[old]:
            allowed = ", ".join(TRANSITIONS[old])
            raise ValidationError({"to": [f"Cannot move from {old} to {to}; allowed: {allowed}."]})
        now = timezone.now()
        current.status = to
        if old == Status.NEW and current.acknowledged_at is None:
            current.acknowledged_at = now
        if to == Status.INVESTIGATING:
            current.contained_at = None
            current.resolved_at = None
        elif to == Status.CONTAINED:
            current.contained_at = now
        elif to == Status.RECOVERED:
            current.resolved_at = now
        if to == Status.CLOSED:
            current.closed_at = now
            current.resolved_at = current.resolved_at or now
        else:
            current.closed_at = None
        current.version += 1
        current.updated_at = now
        current.save()
        events.status_changed_event(incident=current, actor=actor, old=old, new=to)
    return current


def _check_invited_role(role: str, user: User) -> None:
    if role not in INVITED_ROLES:
        message = f"Invite as responder or observer, not {role!r}; the lead is the incident's lead field."
        raise ValidationError({"role": [message]})
    if user.role == Role.EXECUTIVE and role != MemberRole.OBSERVER:
        raise ValidationError({"role": ["Executives read incidents: add them as observers."]})


def member_add(*, incident: Incident, user: User, actor: User, role: str = MemberRole.RESPONDER) -> Membership:
    """Invite ``user`` onto the incident (restricted incidents become visible to them).

    Only the incident's lead or an admin (``Action.MANAGE_ACCESS``). ``role`` is responder (works
    the case; for a vendor collaborator: may contribute) or observer (reads).
    """
    require(actor, incident, Action.MANAGE_ACCESS)
    _check_invited_role(role, user)
    if not user.is_active or user.role == Role.INTEGRATION:
        raise ValidationError({"user": [f"{user.username} cannot be a member: only active people can."]})
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(incident=incident, user=user, defaults={"role": role})
        if not created:
            raise ValidationError(
                {"user": [f"{user.username} is already a member ({membership.role}); change their role instead."]}
            )
        events.member_added_event(membership=membership, actor=actor)
    return membership


def member_role_change(*, incident: Incident, user: User, actor: User, role: str) -> Membership:
    """Make a member a responder or an observer (``Action.MANAGE_ACCESS``); not the lead."""
    require(actor, incident, Action.MANAGE_ACCESS)
    _check_invited_role(role, user)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(incident=incident, user=user).first()
        if membership is None:
            raise ValidationError({"user": [f"{user.username} is not a member of {incident.reference}."]})
        if membership.role == MemberRole.LEAD:
            raise ValidationError({"user": [f"{user.username} leads {incident.reference}: choose another lead first."]})
        if membership.role != role:
            old_role, membership.role = membership.role, role
            membership.save(update_fields=["role"])
            events.member_role_changed_event(membership=membership, actor=actor, old=old_role)
    return membership


def member_remove(*, incident: Incident, user: User, actor: User) -> None:
    """Take ``user`` off the incident (``Action.MANAGE_ACCESS``); the lead cannot be removed."""
    require(actor, incident, Action.MANAGE_ACCESS)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(incident=incident, user=user).first()
        if membership is None:
            raise ValidationError({"user": [f"{user.username} is not a member of {incident.reference}."]})
        if membership.role == MemberRole.LEAD or incident.lead_id == user.pk:
            raise ValidationError({"user": [f"{user.username} leads {incident.reference}: choose another lead first."]})
        events.member_removed_event(membership=membership, actor=actor)
        membership.delete()


def finding_add(*, incident: Incident, author: User, body: str) -> Finding:
    """Record what a responder learned (``Action.CONTRIBUTE``)."""
    require(author, incident, Action.CONTRIBUTE)
    finding = Finding(incident=incident, author=author, body=body.strip())
    finding.full_clean()
    with transaction.atomic():
        finding.save()
        events.finding_added_event(finding=finding, actor=author)
        Incident.objects.filter(pk=incident.pk).update(updated_at=finding.created_at)
    return finding


def task_add(
    *, incident: Incident, actor: User, title: str, assignee: User | None = None, due_on: date | None = None
) -> Task:
    """Add a task (``Action.CONTRIBUTE``); its assignee must be one ``Action.BE_ASSIGNED`` accepts."""
    require(actor, incident, Action.CONTRIBUTE)
    task = Task(incident=incident, title=title.strip(), assignee=assignee, due_on=due_on, created_by=actor)
    task.full_clean()
    _check_assignee(assignee, incident)
    with transaction.atomic():
        task.save()
        events.task_added_event(task=task, actor=actor)
    return task


def _task_status_changes(task: Task, changes: dict[str, Any]) -> dict[str, Any]:
    """Keep ``done`` and ``status`` one fact: ticking sets the status, a status sets ``done``;
    leaving cancelled clears the reason."""
    changes = dict(changes)
    if "done" in changes and "status" not in changes:
        if changes["done"] and task.status != TaskStatus.DONE:
            changes["status"] = TaskStatus.DONE
        elif not changes["done"] and task.status == TaskStatus.DONE:
            changes["status"] = TaskStatus.TODO
    if "status" in changes:
        changes["done"] = changes["status"] == TaskStatus.DONE
        if changes["status"] != TaskStatus.CANCELLED:
            changes.setdefault("cancel_reason", "")
    return changes


def task_update(*, task: Task, actor: User, changes: dict[str, Any]) -> Task:
    """Change a task: title, assignee, due date, internal flag, status (to do, in progress, done,
    cancelled with ``cancel_reason``) or the ``done`` tick, stamping ``done_at``.

    Members working the case may change any task (``Action.UPDATE_ANY_TASK``); others may only
    move their own along (``Action.UPDATE_OWN_TASK``: ``done``, or a status other than
    cancelled). Any other field is a 400.
    """
    incident = task.incident
    unknown = sorted(set(changes) - set(TASK_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in unknown})
    if isinstance(changes.get("title"), str):
        changes = {**changes, "title": changes["title"].strip()}
    if isinstance(changes.get("cancel_reason"), str):
        changes = {**changes, "cancel_reason": changes["cancel_reason"].strip()}
    changes = _task_status_changes(task, changes)
    # Judged by what would change, not by the keys sent: repeating an unchanged title while
    # ticking one's own task is still only ticking it.
    changing = {field for field, value in changes.items() if getattr(task, field, object()) != value}
    own_moves = {"done", "status", "cancel_reason"}
    if changing - own_moves or task.assignee_id != actor.pk or changes.get("status") == TaskStatus.CANCELLED:
        require(actor, incident, Action.UPDATE_ANY_TASK)
    else:
        require(actor, incident, Action.UPDATE_OWN_TASK)
    old_status = task.status
    if "done" in changes and changes["done"] != task.done:
        changes["done_at"] = timezone.now() if changes["done"] else None
    diff = model_update(instance=task, fields=(*TASK_EDITABLE_FIELDS, "done_at"), data=changes)
    if task.status == TaskStatus.CANCELLED and not task.cancel_reason:
        raise ValidationError({"cancel_reason": ["Say why the task is cancelled."]})
    if "assignee" in diff:
        _check_assignee(task.assignee, incident)
    if not diff:
        return task
    with transaction.atomic():
        task.save(update_fields=list(diff))
        if "done" in diff:
            events.task_done_event(task=task, actor=actor)
        elif "status" in diff:
            events.task_status_changed_event(task=task, actor=actor, old=old_status)
        bookkeeping = {"done", "done_at", "status", "cancel_reason"}
        other = {field: change for field, change in diff.items() if field not in bookkeeping}
        if other:
            events.task_updated_event(task=task, actor=actor, changes=other)
    return task
