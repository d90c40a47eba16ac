"""Triage: what a responder decides about alerts waiting in the queue (``/alerts/``).

Three actions, each a service in one transaction, each taking ``alerts`` (Alert objects or ids)
and an ``actor``:

- ``alerts_promote``: one new incident for the selected alerts (``incident_open``, so escalation
  starts), the alerts *promoted* into it;
- ``alerts_link``: the alerts *linked* to an existing incident the actor may contribute to;
- ``alerts_ignore``: the alerts *ignored*, with a reason.

Contract shared by the three:
- ``PermissionDenied`` unless ``may_triage_alerts(actor)`` (admins, incident leads, responders);
- ``ValidationError`` with field messages (``alerts``, ``title``, ``severity``, ``incident``,
  ``reason``) for everything else, and then nothing is written;
- only alerts still *new* are triaged: the rows are locked (``SELECT … FOR UPDATE``) before
  their status is checked, so two people acting on the same alert at once cannot both win;
- each alert records who triaged it and when; the incident's timeline gets one detection event
  per alert through ``intake.services.alerts_on_timeline`` (which writes the activity entry).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from incidents import permissions
from incidents import services as incident_services
from incidents.models import Category, Incident, Severity, Status

from .models import SEVERITY_LEVEL, Alert, AlertStatus
from .services import alerts_on_timeline

# One request's worth: the queue shows 50 a page; an API or script could send more, not unboundedly.
TRIAGE_MAX = 500
REASON_MAX = 500
# How many alerts a message or a summary names before "and N more".
_NAMED_MAX = 10
_ID_MAX = 2**63 - 1  # a bigint: larger would fail in the database, not be "no such alert"
# An alert's severity as an incident's: incidents have no "info", and it is the least there is.
INCIDENT_SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.LOW,
}
_REFUSAL = "Your role may not triage alerts."


def _check_actor(actor: User) -> None:
    if not permissions.may_triage_alerts(actor):
        raise PermissionDenied(_REFUSAL)


def _ids(alerts: Iterable[Alert | int | str]) -> list[int]:
    """The selection as ids, in the order given, each once. Raises ValidationError for an empty
    selection, one that is too large or a value that is not an id."""
    ids: dict[int, None] = {}
    for item in alerts:
        if isinstance(item, Alert):
            ids[item.pk] = None
            continue
        try:
            value = int(item)
        except (TypeError, ValueError):
            raise ValidationError({"alerts": [f"“{str(item)[:40]}” is not an alert."]}) from None
        if not 0 < value <= _ID_MAX:
            raise ValidationError({"alerts": [f"“{value}” is not an alert."]})
        ids[value] = None
    if not ids:
        raise ValidationError({"alerts": ["Select at least one alert."]})
    if len(ids) > TRIAGE_MAX:
        raise ValidationError({"alerts": [f"Select at most {TRIAGE_MAX} alerts at a time."]})
    return list(ids)


def _named(alerts: list[Alert]) -> str:
    names = [f"“{alert.title[:80]}” ({alert.get_status_display().lower()})" for alert in alerts[:_NAMED_MAX]]
    more = len(alerts) - _NAMED_MAX
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _lock_new(alerts: Iterable[Alert | int | str], verb: str) -> list[Alert]:
    """The selected alerts, locked, ordered by when they were observed (earliest first). Must run
    inside a transaction. Raises ValidationError naming alerts that do not exist or are no
    longer new (someone triaged them first, or grouping linked them)."""
    ids = _ids(alerts)
    # Locked in id order (the same order for every caller: no deadlock between two bulk actions).
    locked = list(Alert.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    missing = sorted(set(ids) - {alert.pk for alert in locked})
    if missing:
        raise ValidationError({"alerts": [f"No such alert: {', '.join(map(str, missing[:_NAMED_MAX]))}."]})
    triaged = [alert for alert in locked if alert.status != AlertStatus.NEW]
    if triaged:
        raise ValidationError({"alerts": [f"Only new alerts can be {verb}; already triaged: {_named(triaged)}."]})
    return sorted(locked, key=lambda alert: (alert.observed_at, alert.pk))


def _mark(alerts: list[Alert], *, actor: User, now: Any, **fields: Any) -> None:
    """Write the triage outcome on the (locked) alerts and on the objects the caller holds."""
    Alert.objects.filter(pk__in=[alert.pk for alert in alerts]).update(triaged_by=actor, triaged_at=now, **fields)
    for alert in alerts:
        alert.triaged_by, alert.triaged_at = actor, now
        for name, value in fields.items():
            setattr(alert, name, value)


def _summary(alerts: list[Alert]) -> str:
    """The new incident's summary (Markdown): which alerts it was opened from."""
    count = len(alerts)
    lines = [f"Opened in triage from {count} alert{'s' if count != 1 else ''}:", ""]
    for alert in alerts[:50]:
        parts = (("rule", alert.rule), ("host", alert.host), ("account", alert.user))
        where = ", ".join(f"{label} `{value}`" for label, value in parts if value)
        line = f"- **{alert.get_severity_display()}** {alert.title} — {alert.source} `{alert.source_ref}`"
        lines.append(f"{line} ({where})" if where else line)
    if count > 50:
        lines.append(f"- … and {count - 50} more")
    return "\n".join(lines)


def alerts_promote(
    *, alerts: Iterable[Alert | int | str], actor: User, title: str = "", severity: str = ""
) -> Incident:
    """Open ONE incident for the selected new alerts and promote them into it; returns it.

    - ``title``: the incident's (≤ 200 characters); blank → the title of the earliest-observed
      alert (the one that started it);
    - ``severity``: an incident severity; blank → the highest alert severity, mapped
      (``INCIDENT_SEVERITY``: info → low);
    - the incident is detected when the earliest alert was observed, its category *other*, its
      summary lists the alerts; the actor opens it (and so becomes a member).

    Raises PermissionDenied (role), ValidationError (``alerts``: none, unknown or not new;
    ``title``; ``severity``)."""
    _check_actor(actor)
    title = (title or "").strip()
    severity = (severity or "").strip()
    if severity and severity not in Severity.values:
        raise ValidationError({"severity": [f"“{severity[:20]}” is not one of: {', '.join(Severity.values)}."]})
    with transaction.atomic():
        selected = _lock_new(alerts, "promoted")
        now = timezone.now()
        first = selected[0]
        if not severity:
            highest = max(selected, key=lambda alert: SEVERITY_LEVEL[alert.severity])
            severity = INCIDENT_SEVERITY[highest.severity]
        incident = incident_services.incident_open(
            opened_by=actor,
            title=title or first.title[:200],
            severity=severity,
            category=Category.OTHER,
            detected_at=min(first.observed_at, now),
            summary=_summary(selected),
        )
        _mark(selected, actor=actor, now=now, status=AlertStatus.PROMOTED, incident=incident)
        alerts_on_timeline(incident=incident, alerts=selected, actor=actor, now=now)
    return incident


def alerts_link(*, alerts: Iterable[Alert | int | str], incident: Incident, actor: User) -> list[Alert]:
    """Link the selected new alerts to ``incident``; returns them (earliest observed first).

    The actor must be allowed ``Action.CONTRIBUTE`` on the incident (``permissions.require``:
    PermissionDenied otherwise); callers resolve ``incident`` through
    ``incidents_visible_to(actor)`` so an invisible one stays unknown. A closed incident is
    refused (ValidationError on ``incident``): reopen it, or promote the alerts to a new one."""
    _check_actor(actor)
    with transaction.atomic():
        # Locked: a close committing meanwhile must not end up with alerts linked after it.
        current = Incident.objects.select_for_update().filter(pk=incident.pk).first()
        if current is None:
            raise ValidationError({"incident": ["That incident no longer exists."]})
        permissions.require(actor, current, permissions.Action.CONTRIBUTE)
        if current.status == Status.CLOSED:
            message = f"{current.reference} is closed: reopen it first, or promote the alerts to a new incident."
            raise ValidationError({"incident": [message]})
        selected = _lock_new(alerts, "linked")
        now = timezone.now()
        _mark(selected, actor=actor, now=now, status=AlertStatus.LINKED, incident=current)
        alerts_on_timeline(incident=current, alerts=selected, actor=actor, now=now)
    return selected


def alerts_ignore(*, alerts: Iterable[Alert | int | str], actor: User, reason: str) -> list[Alert]:
    """Mark the selected new alerts ignored with ``reason`` (required, ≤ 500 characters); returns
    them. No incident is touched. Raises PermissionDenied (role), ValidationError (``alerts``,
    ``reason``)."""
    _check_actor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why these alerts need no response."]})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": [f"At most {REASON_MAX} characters (it has {len(reason)})."]})
    if "\x00" in reason:
        raise ValidationError({"reason": ["Null characters are not allowed."]})
    with transaction.atomic():
        selected = _lock_new(alerts, "ignored")
        _mark(selected, actor=actor, now=timezone.now(), status=AlertStatus.IGNORED, ignore_reason=reason)
    return selected
