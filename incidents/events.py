"""One constructor per kind of activity entry, so each entry has exactly one shape."""

from __future__ import annotations

from collections.abc import Iterable

from accounts.models import User

from .models import Activity, Finding, Incident, Membership, Task


def _entry(incident: Incident, actor: User | None, verb: str, **data) -> Activity:
    return Activity.objects.create(incident=incident, actor=actor, verb=verb, data=data)


def opened_event(*, incident: Incident, actor: User | None) -> Activity:
    return _entry(incident, actor, "opened", severity=incident.severity)


def updated_event(*, incident: Incident, actor: User | None, fields: Iterable[str]) -> Activity:
    return _entry(incident, actor, "updated", fields=sorted(fields))


def status_changed_event(*, incident: Incident, actor: User | None, old: str, new: str) -> Activity:
    return _entry(incident, actor, "status_changed", old=old, new=new)


def finding_added_event(*, finding: Finding, actor: User | None) -> Activity:
    return _entry(finding.incident, actor, "finding_added", finding_id=finding.pk)


def task_added_event(*, task: Task, actor: User | None) -> Activity:
    return _entry(task.incident, actor, "task_added", task_id=task.pk, title=task.title)


def task_done_event(*, task: Task, actor: User | None) -> Activity:
    return _entry(task.incident, actor, "task_done", task_id=task.pk, title=task.title, done=task.done)


def member_added_event(*, membership: Membership, actor: User | None) -> Activity:
    user = membership.user
    return _entry(
        membership.incident, actor, "member_added", username=user.username, name=str(user), role=membership.role
    )


def member_role_changed_event(*, membership: Membership, actor: User | None, old: str) -> Activity:
    user = membership.user
    return _entry(
        membership.incident,
        actor,
        "member_role_changed",
        username=user.username,
        name=str(user),
        old=old,
        new=membership.role,
    )
