"""Every write to the case goes through here.

Services validate (``full_clean``), check the rule table (``incidents.permissions``), run in a
transaction and record the activity entry that belongs to the change. They raise:
- ``django.core.exceptions.ValidationError`` for bad input (shown as 400 / a form error),
- ``django.core.exceptions.PermissionDenied`` when the actor may not make the change (403),
- ``ConflictError`` when the incident changed since the caller read it (409 / conflict message).
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Role, User
from config.errors import ConflictError
from config.services import model_update
from notifications import services as paging

from . import events
from .models import (
    INCIDENT_ACCESS_FIELDS,
    INCIDENT_EDITABLE_FIELDS,
    OPEN_TASK_STATUSES,
    SEVERITY_RANK,
    TRANSITIONS,
    AffectedScope,
    Finding,
    Incident,
    MemberRole,
    Membership,
    Playbook,
    ReferenceCounter,
    Resolution,
    RestrictedReferenceCounter,
    Status,
    Tag,
    Task,
    TaskNote,
    TaskStatus,
    format_reference,
)
from .permissions import OPEN_REFUSAL, REFUSALS, Action, may, may_lead, may_open_incidents, require
from .search import search_documents_refresh
from .selectors import incidents_visible_to, sees_internal

__all__ = ["ConflictError"]

# The incident's own fields in its search document (search.py); findings are added to it by
# finding_add.
SEARCHED_FIELDS = {"title", "summary", "tags"}

# What task_update may change for someone who may update any task; an assignee who may only
# update their own task may change ``done`` alone.
TASK_EDITABLE_FIELDS = ("title", "assignee", "due_on", "done", "status", "cancel_reason", "internal")
# Membership roles given with member_add / member_role_change. ``lead`` is not among them: the
# incident's lead is its ``lead`` field (incident_update), and its membership follows.
INVITED_ROLES = (MemberRole.RESPONDER, MemberRole.OBSERVER)


def _next_reference(now: datetime, *, restricted: bool = False) -> str:
    """IR-YYYY-NNNN (IRR-YYYY-NNNN for an incident restricted from its opening), unique under
    concurrency: one statement creates the year's counter row or increments it, and the row stays
    locked until the caller's transaction commits."""
    counter = RestrictedReferenceCounter if restricted else ReferenceCounter
    table = connection.ops.quote_name(counter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last) VALUES (%s, 1) "  # noqa: S608 - table name from the model
            f"ON CONFLICT (year) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [now.year],
        )
        (last,) = cursor.fetchone()
    return format_reference(now.year, last, restricted=restricted)


def _check_lead(lead: User | None) -> None:
    if lead is not None and not may_lead(lead):
        raise ValidationError({"lead": [f"{lead.username} cannot lead incidents: only incident leads and admins can."]})


def _check_assignee(assignee: User | None, incident: Incident, *, internal: bool = False) -> None:
    if assignee is None:
        return
    if not may(assignee, Action.BE_ASSIGNED, incident):
        raise ValidationError({"assignee": [f"{assignee.username} cannot be given tasks on {incident.reference}."]})
    if internal and not sees_internal(assignee):
        raise ValidationError(
            {
                "assignee": [
                    f"{assignee.username} is a vendor collaborator: only tasks that are not internal can be theirs."
                ]
            }
        )


def _internal_default(internal: bool | None, incident: Incident, actor: User) -> bool:
    """Content is internal by default on restricted incidents; what a vendor collaborator adds is
    never internal (they would not see their own work)."""
    if not sees_internal(actor):
        return False
    return incident.restricted if internal is None else internal


def _check_future(detected_at: datetime, now: datetime) -> None:
    if detected_at > now:
        raise ValidationError({"detected_at": ["Detection time cannot be in the future."]})


TAG_RE = re.compile(r"[a-z0-9][a-z0-9 ._:/+-]{0,49}")
MAX_TAGS = 20


def tags_normalize(values: Any) -> list[str]:
    """Tags as stored: stripped, lower case, inner whitespace collapsed, duplicates dropped (first
    kept), at most ``MAX_TAGS`` of up to 50 characters. Raises ValidationError naming ``tags``."""
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, list | tuple):
        raise ValidationError({"tags": ["Give tags as a list of names."]})
    names: list[str] = []
    errors: list[str] = []
    for value in values:
        if not isinstance(value, str):
            errors.append(f"{value!r} is not a tag name.")
            continue
        name = " ".join(value.split()).lower()
        if not name:
            continue
        if not TAG_RE.fullmatch(name):
            errors.append(
                f"“{name[:60]}” is not a tag: up to 50 letters, digits, spaces and . _ : / + -, "
                "starting with a letter or digit."
            )
        elif name not in names:
            names.append(name)
    if len(names) > MAX_TAGS:
        errors.append(f"At most {MAX_TAGS} tags.")
    if errors:
        raise ValidationError({"tags": errors})
    return names


def _tags_set(incident: Incident, names: list[str]) -> None:
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=name) for name in names if name not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)  # two openings may add one tag at once
        existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    incident.tags.set([existing[name] for name in names])


def incident_open(*, opened_by: User, playbook: Playbook | None = None, tags: Any = None, **fields: Any) -> Incident:
    """Open an incident with a fresh reference from ``fields`` (any of
    ``INCIDENT_EDITABLE_FIELDS``; ``title`` is required), optional ``tags`` and ``playbook``.

    A playbook fills in what ``fields`` leave out (severity, category, summary) and its tasks are
    created with due dates counted from now. The opener always becomes a member (responder),
    integrations included, so whoever opens an incident, restricted or not, can read and work
    what they opened; the lead becomes a member with the lead role. Raises PermissionDenied for
    roles that may not open incidents.
    """
    if not may_open_incidents(opened_by):
        raise PermissionDenied(OPEN_REFUSAL)
    unknown = sorted(set(fields) - set(INCIDENT_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({field: ["This field cannot be set here."] for field in unknown})
    if playbook is not None:
        if not playbook.active:
            raise ValidationError({"playbook": [f"The playbook “{playbook.name}” is retired."]})
        for field in ("severity", "category", "summary"):
            if fields.get(field) in (None, ""):
                fields[field] = getattr(playbook, field)
    tag_names = tags_normalize(tags or [])
    now = timezone.now()
    if fields.get("detected_at") is None:
        fields["detected_at"] = now
    incident = Incident(
        **fields,
        playbook=playbook,
        opened_by=opened_by,
        reported_at=now,
        created_at=now,
        updated_at=now,
        reference="pending",
    )
    # clean_fields already checks the choices that the CHECK constraints repeat, and the users are
    # loaded objects: skip the constraint queries and the FK existence queries.
    incident.full_clean(exclude=["reference", "opened_by", "lead", "playbook"], validate_constraints=False)
    _check_future(incident.detected_at, now)
    _check_lead(incident.lead)
    with transaction.atomic():
        incident.reference = _next_reference(now, restricted=incident.restricted)
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
        if tag_names:
            _tags_set(incident, tag_names)
        if playbook is not None:
            for step in playbook.tasks.all():
                due = timezone.localtime(now + step.due_after).date() if step.due_after is not None else None
                task = Task.objects.create(
                    incident=incident, title=step.title, due_on=due, internal=step.internal, created_by=opened_by
                )
                events.task_added_event(task=task, actor=opened_by)
        search_documents_refresh([incident.pk])
        paging.on_incident_opened(incident=incident)
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
    with transaction.atomic():
        # The row is locked first: the rule table is read (memberships) and the write made under the
        # same lock that member_add/member_remove take by moving the incident (``touch``), so access
        # taken away while this runs is seen before anything is written.
        current = Incident.objects.select_for_update(of=("self",)).select_related("lead").get(pk=incident.pk)
        candidate = copy.copy(current)
        changes = dict(changes)
        new_tags = tags_normalize(changes.pop("tags")) if "tags" in changes else None
        # CHECK constraints: status and milestones are not editable here and choices are checked by
        # clean_fields, so skip the one query per constraint that validating them would cost.
        diff = model_update(
            instance=candidate,
            fields=INCIDENT_EDITABLE_FIELDS,
            data=changes,
            exclude_from_clean=["reference", "opened_by", "playbook", "duplicate_of"],
            validate_constraints=False,
        )
        if new_tags is not None:
            old_tags = sorted(current.tags.values_list("name", flat=True))
            if sorted(new_tags) != old_tags:
                diff["tags"] = (old_tags, sorted(new_tags))
        require(actor, current, *_actions_for(current, diff))
        _check_not_derived(current, diff)
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
        now = timezone.now()
        new_values = {field: new for field, (_, new) in diff.items() if field != "tags"}
        updated = Incident.objects.filter(pk=incident.pk, version=version).update(
            **new_values, updated_at=now, version=F("version") + 1
        )
        if not updated:
            raise ConflictError(Incident.objects.get(pk=incident.pk), version)
        incident.refresh_from_db()
        if "tags" in diff:
            _tags_set(incident, new_tags)
        if diff.keys() & SEARCHED_FIELDS:
            # After the version-checked UPDATE above: the row is locked (search.py).
            search_documents_refresh([incident.pk])
        events.updated_event(incident=incident, actor=actor, changes=diff)
        if "severity" in diff:
            old_severity, new_severity = diff["severity"]
            paging.on_severity_changed(incident=incident, old=old_severity, new=new_severity, now=now)
        if "lead" in diff:
            _lead_membership_follow(incident, old=diff["lead"][0], new=diff["lead"][1], actor=actor)
        return incident


def _check_not_derived(incident: Incident, diff: dict[str, Any]) -> None:
    """Once an incident has affected-scope rows, its personal-data flag and record count are
    derived from them (``incidents.vendors.scope``): a hand edit would be overwritten by the next
    scope change, so it is refused rather than silently fought."""
    touched = [field for field in ("personal_data", "records_affected") if field in diff]
    if touched and AffectedScope.objects.filter(incident=incident).exists():
        message = "Derived from the affected scope: change the scope rows instead."
        raise ValidationError({field: [message] for field in touched})


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


def _enter_status(current: Incident, to: str, now: datetime) -> None:
    """Set ``current.status`` to ``to`` keeping the milestones true (see the comment above
    ``Incident``): entering contained stamps ``contained_at``, recovered stamps ``resolved_at``,
    closed stamps ``closed_at`` (and ``resolved_at`` when closed without recovery); falling back
    to investigating clears containment and resolution, and leaving closed clears ``closed_at``.
    ``acknowledged_at`` is stamped once, on leaving new. Bumps the version; the caller saves."""
    old = current.status
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


def _locked_for_status_change(incident: Incident, actor: User, version: int | None) -> Incident:
    """The incident's row, locked until the caller's transaction ends, once the actor may change
    its status (``Action.TRANSITION``) and, with ``version``, it has not changed since."""
    current = Incident.objects.select_for_update().get(pk=incident.pk)
    require(actor, current, Action.TRANSITION)
    if version is not None and current.version != version:
        raise ConflictError(current, version)
    return current


def incident_transition(
    *, incident: Incident, to: str, actor: User, version: int | None = None, override_reason: str = ""
) -> Incident:
    """Move the incident to status ``to`` if NIST's flow allows it, keeping the milestones true
    (``_enter_status``).

    Entering contained is refused while an entry-point vendor's access is still active
    (``vendors.containment.ContainmentBlocked``, a ValidationError on ``to``) unless
    ``override_reason`` is given by someone who may override (recorded with the items).

    Closing and reopening are moves of the flow too, but each asks for more than a status, so
    they have their own services: ``to="closed"`` and any move out of closed are refused here
    (ValidationError on ``to`` naming ``incident_close`` / ``incident_reopen``'s endpoints).
    With ``version`` the move is refused (ConflictError) when the incident changed since.
    """
    if to not in Status.values:
        raise ValidationError({"to": [f"Unknown status {to!r}."]})
    with transaction.atomic():
        current = _locked_for_status_change(incident, actor, version)
        old = current.status
        if to not in TRANSITIONS[old]:
            allowed = ", ".join(TRANSITIONS[old])
            raise ValidationError({"to": [f"Cannot move from {old} to {to}; allowed: {allowed}."]})
        if to == Status.CLOSED:
            raise ValidationError(
                {
                    "to": [
                        "Closing asks for a resolution: close the incident "
                        f"(POST /api/v1/incidents/{current.reference}/close/), not a transition."
                    ]
                }
            )
        if old == Status.CLOSED:
            raise ValidationError(
                {
                    "to": [
                        "Reopening asks for a reason: reopen the incident "
                        f"(POST /api/v1/incidents/{current.reference}/reopen/), not a transition."
                    ]
                }
            )
        if to == Status.CONTAINED:
            from .vendors.containment import containment_check  # vendors.services imports this module

            containment_check(incident=current, actor=actor, override_reason=override_reason)
        now = timezone.now()
        first_ack = current.acknowledged_at is None
        _enter_status(current, to, now)
        current.save()
        activity = events.status_changed_event(incident=current, actor=actor, old=old, new=to)
        paging.on_status_changed(
            incident=current, actor=actor, old=old, new=to, activity=activity, first_ack=first_ack, now=now
        )
    return current


# What closing does with tasks still open (to do, in progress): keep them as follow-up work, or
# cancel them with the closing as the reason. Asked for only when there are some.
OPEN_TASKS_KEEP = "keep"
OPEN_TASKS_CANCEL = "cancel"
OPEN_TASKS_CHOICES = (OPEN_TASKS_KEEP, OPEN_TASKS_CANCEL)
REOPEN_REASON_MAX = 1_000


def _closing_input_errors(
    *, incident: Incident, actor: User, resolution: str, closing_summary: str, duplicate_of: str
) -> tuple[dict[str, list[str]], Incident | None]:
    """What is wrong with a closing's input (``{field: [message]}``), and the original incident
    when it is a duplicate. The original must be one ``actor`` can see, not the incident itself,
    and not a duplicate itself (name the original: no chains, hence no cycles)."""
    errors: dict[str, list[str]] = {}
    if resolution not in Resolution.values:
        errors["resolution"] = [f"Choose one of: {', '.join(Resolution.values)}."]
    elif resolution == Resolution.TRUE_POSITIVE and not closing_summary:
        errors["closing_summary"] = ["A true positive needs a closing summary: what happened and what was done."]
    max_summary = Incident._meta.get_field("closing_summary").validators[0].limit_value
    if len(closing_summary) > max_summary:
        errors["closing_summary"] = [f"At most {max_summary:,} characters (it has {len(closing_summary):,})."]
    original = None
    if resolution == Resolution.DUPLICATE:
        if not duplicate_of:
            errors["duplicate_of"] = ["Name the incident this one duplicates, by its reference (IR-2026-0042)."]
        else:
            original = incidents_visible_to(actor).select_related("duplicate_of").filter(reference=duplicate_of).first()
            if original is None:
                errors["duplicate_of"] = [f"There is no incident {duplicate_of} that you can see."]
            elif original.pk == incident.pk:
                errors["duplicate_of"] = ["An incident cannot be a duplicate of itself."]
            elif original.duplicate_of_id is not None:
                errors["duplicate_of"] = [
                    f"{original.reference} is itself a duplicate of {original.duplicate_of.reference}: name that one."
                ]
    elif duplicate_of:
        errors["duplicate_of"] = ["Only a duplicate names another incident: choose the resolution duplicate."]
    return errors, original


def incident_close(
    *,
    incident: Incident,
    actor: User,
    resolution: str,
    closing_summary: str = "",
    duplicate_of: str = "",
    open_tasks: str = "",
    version: int | None = None,
) -> Incident:
    """Close the incident with a ``resolution`` (``Resolution``) and a Markdown ``closing_summary``
    (required for a true positive). A duplicate names its original by reference in
    ``duplicate_of`` (see ``_closing_input_errors``).

    Same rule as any status change (``Action.TRANSITION``) and the same flow: only from the
    statuses ``TRANSITIONS`` lets close. When tasks are still open, ``open_tasks`` must say what
    happens to them: ``"keep"`` (follow-up work) or ``"cancel"`` (each is cancelled, the closing
    as its reason, which also needs ``Action.UPDATE_ANY_TASK``); otherwise a ValidationError on
    ``open_tasks`` lists them. Writes one ``closed`` entry (plus one ``task_status_changed`` per
    cancelled task). Raises ValidationError, PermissionDenied or ConflictError (``version``).
    """
    closing_summary = (closing_summary or "").strip()
    duplicate_of = (duplicate_of or "").strip()
    with transaction.atomic():
        current = _locked_for_status_change(incident, actor, version)
        old = current.status
        if old == Status.CLOSED:
            raise ValidationError(f"{current.reference} is already closed.")
        if Status.CLOSED not in TRANSITIONS[old]:
            closable = ", ".join(s for s, targets in TRANSITIONS.items() if Status.CLOSED in targets)
            raise ValidationError(f"{current.reference} cannot be closed while {old}; it can be from: {closable}.")
        errors, original = _closing_input_errors(
            incident=current,
            actor=actor,
            resolution=resolution,
            closing_summary=closing_summary,
            duplicate_of=duplicate_of,
        )
        open_task_rows = list(current.tasks.filter(status__in=OPEN_TASK_STATUSES).order_by("id"))
        if open_task_rows and open_tasks not in OPEN_TASKS_CHOICES:
            count = len(open_task_rows)
            titles = ", ".join(f"“{task.title}”" for task in open_task_rows)
            errors["open_tasks"] = [
                f"{count} task{'s are' if count > 1 else ' is'} still open: {titles}. Choose keep "
                "(they stay open as follow-up work) or cancel (they are cancelled, the closing as the reason)."
            ]
        if errors:
            raise ValidationError(errors)
        now = timezone.now()
        if open_task_rows and open_tasks == OPEN_TASKS_CANCEL:
            require(actor, current, Action.UPDATE_ANY_TASK)
            reason = f"{current.reference} was closed as {Resolution(resolution).label.lower()}."
            for task in open_task_rows:
                old_task_status = task.status
                task.status, task.cancel_reason = TaskStatus.CANCELLED, reason
                task.save(update_fields=["status", "cancel_reason"])
                events.task_status_changed_event(task=task, actor=actor, old=old_task_status)
        first_ack = current.acknowledged_at is None
        _enter_status(current, Status.CLOSED, now)
        current.resolution = resolution
        current.closing_summary = closing_summary
        current.duplicate_of = original
        current.save()
        activity = events.closed_event(incident=current, actor=actor, old=old)
        paging.on_status_changed(
            incident=current, actor=actor, old=old, new=Status.CLOSED, activity=activity, first_ack=first_ack, now=now
        )
    return current


def incident_reopen(*, incident: Incident, actor: User, reason: str, version: int | None = None) -> Incident:
    """Reopen a closed incident: back to investigating (the flow's only move out of closed), the
    closing's resolution, summary and duplicate link cleared (the database allows them only while
    closed; the ``closed`` entry keeps them) and ``reason`` recorded in the ``reopened`` entry.

    Same rule as any status change (``Action.TRANSITION``). Raises ValidationError (not closed;
    no reason, or one over ``REOPEN_REASON_MAX`` characters), PermissionDenied or ConflictError.
    """
    reason = (reason or "").strip()
    with transaction.atomic():
        current = _locked_for_status_change(incident, actor, version)
        if current.status != Status.CLOSED:
            raise ValidationError(f"{current.reference} is not closed: only a closed incident can be reopened.")
        if not reason:
            raise ValidationError({"reason": ["Say why the incident is reopened."]})
        if len(reason) > REOPEN_REASON_MAX:
            raise ValidationError({"reason": [f"At most {REOPEN_REASON_MAX:,} characters (it has {len(reason):,})."]})
        old_resolution = current.resolution
        old_duplicate_of = (
            Incident.objects.filter(pk=current.duplicate_of_id).values_list("reference", flat=True).first()
            if current.duplicate_of_id
            else None
        )
        (to,) = TRANSITIONS[Status.CLOSED]
        now = timezone.now()
        _enter_status(current, to, now)
        current.resolution, current.closing_summary, current.duplicate_of = "", "", None
        current.save()
        activity = events.reopened_event(
            incident=current, actor=actor, reason=reason, resolution=old_resolution, duplicate_of=old_duplicate_of
        )
        paging.on_status_changed(
            incident=current, actor=actor, old=Status.CLOSED, new=to, activity=activity, first_ack=False, now=now
        )
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
        touch(incident, membership.added_at)
    return membership


def member_role_change(*, incident: Incident, user: User, actor: User, role: str) -> Membership:
    """Make a member a responder or an observer (``Action.MANAGE_ACCESS``), or the incident's
    lead: ``role="lead"`` hands the incident over (``incident_update`` of its ``lead`` field, at
    its current version), and the previous lead stays on as a responder."""
    require(actor, incident, Action.MANAGE_ACCESS)
    if role == MemberRole.LEAD:
        if not Membership.objects.filter(incident=incident, user=user).exists():
            raise ValidationError({"user": [f"{user.username} is not a member of {incident.reference}."]})
        current = Incident.objects.get(pk=incident.pk)
        incident_update(incident=current, actor=actor, version=current.version, changes={"lead": user})
        return Membership.objects.get(incident=incident, user=user)
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
            touch(incident, timezone.now())
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
        touch(incident, timezone.now())
        membership.delete()


def finding_add(
    *, incident: Incident, author: User, body: str, internal: bool | None = None, critical: bool = False
) -> Finding:
    """Record what a responder learned (``Action.CONTRIBUTE``). ``internal`` defaults to the
    incident's ``restricted`` flag (see ``_internal_default``). A ``critical`` finding is told to
    the incident's members at once (``notifications.services.on_finding_added``)."""
    require(author, incident, Action.CONTRIBUTE)
    internal = _internal_default(internal, incident, author)
    finding = Finding(incident=incident, author=author, body=body.strip(), internal=internal, critical=critical)
    finding.full_clean()
    with transaction.atomic():
        finding.save()
        activity = events.finding_added_event(finding=finding, actor=author)
        paging.on_finding_added(finding=finding, actor=author, activity=activity)
        touch(incident, finding.created_at)
        search_documents_refresh([incident.pk])  # after touch has locked the incident's row
    return finding


def touch(incident: Incident, when: datetime) -> None:
    """Move the incident's ``updated_at``: every write to a case does, so the page's poll notices
    it (the version is the incident's own fields' optimistic lock and stays)."""
    Incident.objects.filter(pk=incident.pk).update(updated_at=when)


def _check_due_on(due_on: date | None) -> None:
    """A due date being set (a new task's, or a changed one) cannot be in the past: it would be
    overdue from the start. Today counts as not past, in ``TIME_ZONE``."""
    today = timezone.localdate()
    if due_on is not None and due_on < today:
        raise ValidationError({"due_on": [f"The due date cannot be in the past (today is {today.isoformat()})."]})


def task_add(
    *,
    incident: Incident,
    actor: User,
    title: str,
    assignee: User | None = None,
    due_on: date | None = None,
    internal: bool | None = None,
) -> Task:
    """Add a task (``Action.CONTRIBUTE``); its assignee must be one ``Action.BE_ASSIGNED`` accepts,
    and a vendor collaborator only on a task that is not internal."""
    require(actor, incident, Action.CONTRIBUTE)
    internal = _internal_default(internal, incident, actor)
    task = Task(
        incident=incident, title=title.strip(), assignee=assignee, due_on=due_on, created_by=actor, internal=internal
    )
    task.full_clean()
    _check_due_on(task.due_on)
    _check_assignee(assignee, incident, internal=internal)
    with transaction.atomic():
        task.save()
        events.task_added_event(task=task, actor=actor)
        touch(incident, task.created_at)
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
    """Change a task: title, assignee, due date (not to a past one), internal flag, status (to do,
    in progress, done, cancelled with ``cancel_reason``) or the ``done`` tick, stamping ``done_at``.

    Members working the case may change any task (``Action.UPDATE_ANY_TASK``); others may only
    move their own along (``Action.UPDATE_OWN_TASK``: ``done``, or to do / in progress / done).
    Cancelling, un-cancelling and a cancelled task's reason are decisions about the task, not
    progress on it: ``UPDATE_ANY_TASK``. Any other field is a 400, as are ``done`` and ``status``
    disagreeing and a reason on a task that is not cancelled.

    Activity: a move into done, or from done back to to do, is the tick (``task_done``); any
    other status move is ``task_status_changed`` (old, new, reason); other fields ``task_updated``.
    """
    incident = task.incident
    unknown = sorted(set(changes) - set(TASK_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in unknown})
    if "done" in changes and "status" in changes and bool(changes["done"]) != (changes["status"] == TaskStatus.DONE):
        raise ValidationError({"done": ["done and status disagree: a task is done exactly when its status is done."]})
    if isinstance(changes.get("title"), str):
        changes = {**changes, "title": changes["title"].strip()}
    if isinstance(changes.get("cancel_reason"), str):
        changes = {**changes, "cancel_reason": changes["cancel_reason"].strip()}
    changes = _task_status_changes(task, changes)
    if changes.get("status", task.status) != TaskStatus.CANCELLED and changes.get("cancel_reason", task.cancel_reason):
        raise ValidationError({"cancel_reason": ["Only a cancelled task has a reason: send it with status cancelled."]})
    # Judged by what would change, not by the keys sent: repeating an unchanged title while
    # ticking one's own task is still only ticking it.
    changing = {field for field, value in changes.items() if getattr(task, field, object()) != value}
    own_moves = {"done", "status", "cancel_reason"}
    # Into or out of cancelled, or its reason: a decision about the task, not progress on it.
    touches_cancelled = TaskStatus.CANCELLED in (task.status, changes.get("status")) and bool(changing)
    if changing - own_moves or task.assignee_id != actor.pk or touches_cancelled:
        require(actor, incident, Action.UPDATE_ANY_TASK)
    else:
        require(actor, incident, Action.UPDATE_OWN_TASK)
    if "due_on" in changing:
        _check_due_on(changes["due_on"])
    if "done" in changes and changes["done"] != task.done:
        changes["done_at"] = timezone.now() if changes["done"] else None
    diff = model_update(instance=task, fields=(*TASK_EDITABLE_FIELDS, "done_at"), data=changes)
    if task.status == TaskStatus.CANCELLED and not task.cancel_reason:
        raise ValidationError({"cancel_reason": ["Say why the task is cancelled."]})
    if "assignee" in diff or "internal" in diff:
        _check_assignee(task.assignee, incident, internal=task.internal)
    if not diff:
        return task
    with transaction.atomic():
        task.save(update_fields=list(diff))
        status_fields = {"done", "done_at"}
        if "status" in diff:
            status_fields |= {"status", "cancel_reason"}
            old_status, new_status = diff["status"]
            if new_status == TaskStatus.DONE or (old_status, new_status) == (TaskStatus.DONE, TaskStatus.TODO):
                events.task_done_event(task=task, actor=actor)
            else:
                events.task_status_changed_event(task=task, actor=actor, old=old_status)
        other = {field: change for field, change in diff.items() if field not in status_fields}
        if other:
            events.task_updated_event(task=task, actor=actor, changes=other)
        touch(incident, timezone.now())
    return task


def task_note_add(*, task: Task, author: User, body: str) -> TaskNote:
    """Add a line to a task's log: what was tried, what blocks it.

    The rule is ``Action.CONTRIBUTE``, as for findings: a note adds to the case and changes
    nothing about the task, so whoever may add findings and tasks may note on any task they can
    see, and an assignee who may tick their own task (``UPDATE_OWN_TASK``, the same standings)
    may note on it. A vendor collaborator cannot note on an internal task, as they cannot see it.
    """
    require(author, task.incident, Action.CONTRIBUTE)
    if task.internal and not sees_internal(author):
        raise PermissionDenied(REFUSALS[Action.CONTRIBUTE])
    note = TaskNote(task=task, author=author, body=body.strip())
    note.full_clean(exclude=["task", "author"])
    with transaction.atomic():
        note.save()
        events.task_note_added_event(note=note, actor=author)
        touch(task.incident, note.created_at)
    return note
