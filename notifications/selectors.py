"""Reads for the notification pages: the bell, the inbox, the log, the channels and the paging
state drawn on the incident page. Who may see which incident is still decided once, by
``incidents.selectors.incidents_visible_to``; who may see the log by
``services.may_see_notification_log`` (checked by the views)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import User
from incidents.models import Incident
from incidents.selectors import incidents_visible_to

from .models import (
    AckChannel,
    Acknowledgement,
    Channel,
    ChannelKind,
    Escalation,
    Notification,
    Reason,
    Transport,
)


def unread_count(user: User) -> int:
    """The bell's number: ``user``'s unread in-app notifications (one COUNT, through the
    partial index ``notification_unread_idx``)."""
    return Notification.objects.unread_for(user).count()


def inbox(user: User) -> QuerySet[Notification]:
    """``user``'s in-app notifications, newest first, with their incidents (one query a page)."""
    return (
        Notification.objects.filter(user=user, transport=Transport.IN_APP)
        .select_related("incident")
        .order_by("-created_at", "-id")
    )


def visible_incident_ids(viewer: User, notifications: Iterable[Notification]) -> set[int]:
    """Which of the incidents ``notifications`` are about ``viewer`` may see now (one query,
    none when there are none): a page links only to those, and names the others by the
    reference the message carried."""
    ids = {n.incident_id for n in notifications if n.incident_id is not None}
    if not ids:
        return set()
    return set(incidents_visible_to(viewer).filter(pk__in=ids).values_list("pk", flat=True))


def notification_log(*, viewer: User, filters: dict[str, Any]) -> QuerySet[Notification]:
    """Every notification, newest first, with its incident, person and channel joined (one
    query a page). ``filters`` are a validated form's cleaned data: ``status``, ``transport``,
    ``reason`` (values of their choices) and ``incident`` (a reference; it matches only an
    incident ``viewer`` may see, so the filter never confirms that a hidden one exists)."""
    rows = Notification.objects.select_related("incident", "user", "channel").order_by("-created_at", "-id")
    for name in ("status", "transport", "reason"):
        if filters.get(name):
            rows = rows.filter(**{name: filters[name]})
    if filters.get("incident"):
        rows = rows.filter(incident__in=incidents_visible_to(viewer).filter(reference=filters["incident"]))
    return rows


def channels_with_last_test() -> QuerySet[Channel]:
    """Every channel with its latest test message's time, status and error annotated
    (``last_test_at``, ``last_test_status``, ``last_test_error``): one query."""
    tests = Notification.objects.filter(channel=OuterRef("pk"), reason=Reason.TEST).order_by("-created_at", "-id")
    return Channel.objects.order_by("name").annotate(
        last_test_at=Subquery(tests.values("created_at")[:1]),
        last_test_status=Subquery(tests.values("status")[:1]),
        last_test_error=Subquery(tests.values("last_error")[:1]),
    )


def target_masked(kind: str, target: str) -> str:
    """What a page may show of a channel's target. Slack and Teams URLs carry their secret in
    the path, and a webhook's path or query may too: only scheme and host are shown
    (``https://hooks.slack.com/…``). An e-mail address is shown as it is."""
    if kind == ChannelKind.EMAIL:
        return target
    parts = urlsplit(target)
    if not parts.scheme or not parts.hostname:
        return "…"
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return f"{parts.scheme}://{host}/…"


@dataclass(frozen=True)
class PagingState:
    """What the incident page says about paging: the running escalation (if any) and the
    latest acknowledgement (if any)."""

    policy: str | None
    next_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: str | None

    @property
    def running(self) -> bool:
        return self.policy is not None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


def paging_state(incident: Incident) -> PagingState:
    """The running escalation's policy and next level, and the latest acknowledgement with who
    made it and through which channel: one query (correlated subqueries on the incident's row),
    so the incident page pays one query for the paging panel whatever its history."""
    running = Escalation.objects.filter(incident=OuterRef("pk"), stopped_at__isnull=True)
    latest = Acknowledgement.objects.filter(incident=OuterRef("pk")).order_by("-at", "-id")
    row = (
        Incident.objects.filter(pk=incident.pk)
        .order_by()
        .values(
            policy=Subquery(running.values("policy__name")[:1]),
            next_at=Subquery(running.values("next_at")[:1]),
            ack_at=Subquery(latest.values("at")[:1]),
            ack_channel=Subquery(latest.values("channel")[:1]),
            ack_username=Subquery(latest.values("user__username")[:1]),
            ack_first=Subquery(latest.values("user__first_name")[:1]),
            ack_last=Subquery(latest.values("user__last_name")[:1]),
        )
        .first()
    ) or {}
    by = None
    if row.get("ack_at") is not None:
        # As User.__str__ writes a person: the full name, else the username; "system" when the
        # person was deleted since (user is SET_NULL).
        full = f"{row.get('ack_first') or ''} {row.get('ack_last') or ''}".strip()
        by = full or row.get("ack_username") or "system"
    channel = row.get("ack_channel")
    return PagingState(
        policy=row.get("policy"),
        next_at=row.get("next_at"),
        acknowledged_at=row.get("ack_at"),
        acknowledged_by=by,
        acknowledged_via=AckChannel(channel).label.lower() if channel in AckChannel.values else None,
    )
