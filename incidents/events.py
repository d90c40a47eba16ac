"""One constructor per kind of activity entry (``Verb``), so each entry has exactly one shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.models import User
from config.services import changes_as_json

from .models import Activity, Finding, Incident, Membership, Task, Verb


def _entry(incident: Incident, actor: User | None, verb: Verb, **data: Any) -> Activity:
    return Activity.objects.create(incident=incident, actor=actor, verb=verb, data=data)


def opened_event(*, incident: Incident, actor: User | None) -> Activity:
    return _entry(incident, actor, Verb.OPENED, severity=incident.severity)


def updated_event(*, incident: Incident, actor: User | None, changes: Mapping[str, tuple[Any, Any]]) -> Activity:
    """``changes`` is ``{field: (old, new)}``; kept as ``{"changes": {field: {"old", "new"}}}``."""
    return _entry(incident, actor, Verb.UPDATED, changes=changes_as_json(changes))


def status_changed_event(*, incident: Incident, actor: User | None, old: str, new: str) -> Activity:
    return _entry(incident, actor, Verb.STATUS_CHANGED, old=old, new=new)


def finding_added_event(*, finding: Finding, actor: User | None) -> Activity:
    return _entry(finding.incident, actor, Verb.FINDING_ADDED, finding_id=finding.pk)


def task_added_event(*, task: Task, actor: User | None) -> Activity:
    return _entry(task.incident, actor, Verb.TASK_ADDED, task_id=task.pk, title=task.title)


def task_updated_event(*, task: Task, actor: User | None, changes: Mapping[str, tuple[Any, Any]]) -> Activity:
    return _entry(
        task.incident, actor, Verb.TASK_UPDATED, task_id=task.pk, title=task.title, changes=changes_as_json(changes)
    )


def task_status_changed_event(*, task: Task, actor: User | None, old: str) -> Activity:
    return _entry(
        task.incident,
        actor,
        Verb.TASK_STATUS_CHANGED,
        task_id=task.pk,
        title=task.title,
        old=old,
        new=task.status,
        reason=task.cancel_reason,
    )


def task_done_event(*, task: Task, actor: User | None) -> Activity:
    return _entry(task.incident, actor, Verb.TASK_DONE, task_id=task.pk, title=task.title, done=task.done)


def _member(membership: Membership) -> dict[str, str]:
    return {"username": membership.user.username, "name": str(membership.user)}


def member_added_event(*, membership: Membership, actor: User | None) -> Activity:
    return _entry(membership.incident, actor, Verb.MEMBER_ADDED, **_member(membership), role=membership.role)


def member_removed_event(*, membership: Membership, actor: User | None) -> Activity:
    return _entry(membership.incident, actor, Verb.MEMBER_REMOVED, **_member(membership), role=membership.role)


def member_role_changed_event(*, membership: Membership, actor: User | None, old: str) -> Activity:
    return _entry(
        membership.incident, actor, Verb.MEMBER_ROLE_CHANGED, **_member(membership), old=old, new=membership.role
    )
