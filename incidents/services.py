"""Every write to the case goes through here.

Services validate (``full_clean``), run in a transaction, check who may write, and record the
activity entry that belongs to the change. They raise:
- ``django.core.exceptions.ValidationError`` for bad input (shown as 400 / a form error),
- ``django.core.exceptions.PermissionDenied`` when the actor may not make the change (403),
- ``ConflictError`` when the incident changed since the caller read it (409 / conflict message).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Role, User
from config.errors import ConflictError

from . import events
from .models import (
    TRANSITIONS,
    Category,
    Finding,
    Incident,
    MemberRole,
    Membership,
    ReferenceCounter,
    Severity,
    Status,
    Task,
    format_reference,
)
from .selectors import incidents_visible_to

# Fields a person or an integration may change with incident_update. Status has its own service.
EDITABLE_FIELDS = frozenset(
    {
        "title",
        "summary",
        "severity",
        "category",
        "lead",
        "restricted",
        "personal_data",
        "records_affected",
        "detected_at",
    }
)


def _require_writer(actor: User) -> None:
    if not actor.can_write:
        raise PermissionDenied("Your role may not change incidents.")


def _require_contributor(actor: User) -> None:
    # Vendor collaborators may add findings and tasks to the incidents they were invited to
    # (visibility already limits them to those); executives only read.
    if not (actor.can_write or actor.role == Role.VENDOR):
        raise PermissionDenied("Your role may not add to incidents.")


def _check_visible(field: str, user: User | None, incident: Incident) -> None:
    if user is not None and not incidents_visible_to(user).filter(pk=incident.pk).exists():
        raise ValidationError(
            {field: [f"{user.username} cannot see {incident.reference}; add them as a member first."]}
        )


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


def _ensure_member(incident: Incident, user: User, role: str, actor: User | None) -> Membership:
    membership, created = Membership.objects.get_or_create(incident=incident, user=user, defaults={"role": role})
    if created:
        events.member_added_event(membership=membership, actor=actor)
    elif role == MemberRole.LEAD and membership.role != MemberRole.LEAD:
        old_role, membership.role = membership.role, MemberRole.LEAD
        membership.save(update_fields=["role"])
        events.member_role_changed_event(membership=membership, actor=actor, old=old_role)
    return membership


def incident_open(
    *,
    title: str,
    opened_by: User,
    severity: str = Severity.MEDIUM,
    category: str = Category.OTHER,
    summary: str = "",
    lead: User | None = None,
    detected_at: datetime | None = None,
    restricted: bool = False,
    personal_data: bool = False,
    records_affected: int | None = None,
) -> Incident:
    """Open an incident with a fresh reference; its opener (and lead) become members."""
    _require_writer(opened_by)
    now = timezone.now()
    incident = Incident(
        title=title,
        summary=summary,
        severity=severity,
        category=category,
        lead=lead,
        opened_by=opened_by,
        detected_at=detected_at or now,
        reported_at=now,
        restricted=restricted,
        personal_data=personal_data,
        records_affected=records_affected,
        created_at=now,
        updated_at=now,
        reference="pending",
    )
    # clean_fields already checks the choices that the CHECK constraints repeat, and the users are
    # loaded objects: skip the 3 constraint queries and the 1-2 FK existence queries.
    incident.full_clean(exclude=["reference", "opened_by", "lead"], validate_constraints=False)
    if incident.detected_at > now:
        raise ValidationError({"detected_at": ["Detection time cannot be in the future."]})
    with transaction.atomic():
        incident.reference = _next_reference(now)
        incident.save()
        events.opened_event(incident=incident, actor=opened_by)
        # A new incident has no members: insert directly (no get_or_create lookup, no savepoints).
        roles: dict[User, str] = {}
        if lead is not None:
            roles[lead] = MemberRole.LEAD
        if opened_by.role != Role.INTEGRATION:
            roles.setdefault(opened_by, MemberRole.RESPONDER)
        for user, role in roles.items():
            membership = Membership.objects.create(incident=incident, user=user, role=role, added_at=now)
            events.member_added_event(membership=membership, actor=opened_by)
    return incident


def incident_update(*, incident: Incident, actor: User, version: int, changes: dict[str, Any]) -> Incident:
    """Apply ``changes`` if the incident is still at ``version``; otherwise raise ConflictError.

    Nothing is written on conflict. Returns the refreshed incident.
    """
    _require_writer(actor)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in sorted(unknown)})
    changed = {field: value for field, value in changes.items() if getattr(incident, field) != value}
    if not changed:
        # Nothing to write: don't bump the version (that would make other editors conflict for
        # nothing), but a stale caller still learns the incident moved on.
        current = Incident.objects.get(pk=incident.pk)
        if current.version != version:
            raise ConflictError(current, version)
        return current
    candidate = Incident.objects.get(pk=incident.pk)
    for field, value in changed.items():
        setattr(candidate, field, value)
    candidate.full_clean()
    if "detected_at" in changed and candidate.detected_at > timezone.now():
        raise ValidationError({"detected_at": ["Detection time cannot be in the future."]})
    with transaction.atomic():
        now = timezone.now()
        updated = Incident.objects.filter(pk=incident.pk, version=version).update(
            **changed, updated_at=now, version=F("version") + 1
        )
        if not updated:
            raise ConflictError(Incident.objects.get(pk=incident.pk), version)
        incident.refresh_from_db()
        events.updated_event(incident=incident, actor=actor, fields=changed)
        if changed.get("lead") is not None:
            _ensure_member(incident, changed["lead"], MemberRole.LEAD, actor)
    return incident


def incident_transition(*, incident: Incident, to: str, actor: User, version: int | None = None) -> Incident:
    """Move the incident to status ``to`` if NIST's flow allows it, stamping its milestone.

    With ``version`` the move is refused (ConflictError) when the incident changed since.
    """
    _require_writer(actor)
    if to not in Status.values:
        raise ValidationError({"to": [f"Unknown status {to!r}."]})
    with transaction.atomic():
        current = Incident.objects.select_for_update().get(pk=incident.pk)
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
        if to == Status.CONTAINED and current.contained_at is None:
            current.contained_at = now
        if to == Status.RECOVERED and current.resolved_at is None:
            current.resolved_at = now
        if to == Status.CLOSED:
            current.closed_at = now
            if current.resolved_at is None:
                current.resolved_at = now
        elif old == Status.CLOSED:
            # Reopened: it is no longer closed or resolved.
            current.closed_at = None
            current.resolved_at = None
        current.version += 1
        current.updated_at = now
        current.save()
        events.status_changed_event(incident=current, actor=actor, old=old, new=to)
    return current


def member_add(*, incident: Incident, user: User, actor: User, role: str = MemberRole.RESPONDER) -> Membership:
    _require_writer(actor)
    if role not in MemberRole.values:
        raise ValidationError({"role": [f"Unknown member role {role!r}."]})
    with transaction.atomic():
        return _ensure_member(incident, user, role, actor)


def finding_add(*, incident: Incident, author: User, body: str) -> Finding:
    """Record what a responder learned."""
    _require_contributor(author)
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
    """Add a task; its assignee must be able to see the incident."""
    _require_contributor(actor)
    task = Task(incident=incident, title=title.strip(), assignee=assignee, due_on=due_on, created_by=actor)
    task.full_clean()
    _check_visible("assignee", assignee, incident)
    with transaction.atomic():
        task.save()
        events.task_added_event(task=task, actor=actor)
    return task


def task_update(*, task: Task, actor: User, changes: dict[str, Any]) -> Task:
    """Change a task's title, assignee, due date or done flag (stamping ``done_at``)."""
    _require_contributor(actor)
    allowed = {"title", "assignee", "due_on", "done"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in sorted(unknown)})
    was_done = task.done
    for field, value in changes.items():
        setattr(task, field, value.strip() if field == "title" else value)
    task.full_clean()
    if "assignee" in changes:
        _check_visible("assignee", task.assignee, task.incident)
    with transaction.atomic():
        if task.done != was_done:
            task.done_at = timezone.now() if task.done else None
        task.save()
        if task.done != was_done:
            events.task_done_event(task=task, actor=actor)
    return task
