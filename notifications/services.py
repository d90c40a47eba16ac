"""Escalation and notification: every write goes through here.

The flow (docs/architecture.md, "Escalation and notification"):
1. The incident services call ``escalation_start`` / ``sla_clocks_start`` in their transaction,
   writing what is due (an Escalation with ``next_at``, SlaClock rows with ``due_at``).
2. ``sweep`` (Celery beat every ``ESCALATION_SWEEP_SECONDS``; ``run_sweeper`` without a broker)
   claims due rows with ``select_for_update(skip_locked=True)``, writes Notification rows (unique
   per what/recipient) and enqueues their delivery on commit. It also takes back notifications
   whose lease ran out (a lost message, a killed worker) and enqueues them again.
3. ``notification_deliver`` (the ``deliver`` task) claims one notification with a conditional
   UPDATE, sends it through its transport and records the attempt: delivered, retried with
   exponential backoff, or failed (a permanent error, or out of attempts).
4. ``incident_acknowledge`` records who took the incident, how, and stops the escalation.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.audit import record_activities
from accounts.models import Role, User
from config.errors import ApplicationError
from incidents import events
from incidents.models import Activity, DeadlineClock, Finding, Incident, Membership, Severity, Status, Verb
from incidents.permissions import Action, may, require
from incidents.selectors import incidents_visible_to, sees_internal

from .models import (
    AckChannel,
    Acknowledgement,
    Channel,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Notification,
    NotificationStatus,
    Reason,
    SlaClock,
    SlaKind,
    SlaTarget,
    Transport,
)

logger = logging.getLogger(__name__)

ACK_LINK_SALT = "breachline.notifications.acknowledge"
PENDING = (NotificationStatus.QUEUED, NotificationStatus.SENDING)


class AlreadyAcknowledged(ApplicationError):
    """The incident has no escalation left to stop and was acknowledged before (→ 409)."""

    http_status = 409

    def __init__(self, acknowledgement: Acknowledgement | None, incident: Incident) -> None:
        self.acknowledgement = acknowledgement
        user = acknowledgement.user if acknowledgement is not None else None
        who = f" by {user}" if user is not None else ""
        when = timezone.localtime(incident.acknowledged_at).strftime("%Y-%m-%d %H:%M %Z")
        super().__init__(f"{incident.reference} was already acknowledged{who} at {when}.")


# --- Recipients and messages -----------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """A person (reached in the app, and by e-mail when they have an address) or a channel."""

    user: User | None = None
    channel: Channel | None = None

    @property
    def name(self) -> str:
        return self.user.username if self.user is not None else f"#{self.channel.name}"


def sees(user: User, incident: Incident) -> bool:
    """Whether ``user`` may see ``incident``: the visibility selector, with a query only where
    the answer is not plain from the role (restricted incidents, vendor collaborators)."""
    if not user.is_active:
        return False
    if user.sees_everything:
        return True
    if not incident.restricted and user.role not in (Role.VENDOR, Role.INTEGRATION):
        return True
    return incidents_visible_to(user).filter(pk=incident.pk).exists()


def _incident_url(incident: Incident) -> str:
    return settings.SITE_URL.rstrip("/") + incident.get_absolute_url()


def _message(incident: Incident, reason: str, headline: str, *, detail: str = "", for_channel: bool) -> dict[str, Any]:
    """The subject, text and structured data of a message about ``incident``.

    A channel is a shared room: for a restricted incident it gets the reference, severity and
    what is asked, never the title or any case content."""
    hide = for_channel and incident.restricted
    title = "(restricted incident)" if hide else incident.title
    subject = f"[Breachline] {incident.get_severity_display().upper()} {incident.reference}: {headline}"
    lines = [f"{incident.reference} — {title}", f"Severity: {incident.get_severity_display()}"]
    lines.append(f"Status: {incident.get_status_display()}")
    if detail and not hide:
        lines += ["", detail]
    lines += ["", f"Open it: {_incident_url(incident)}"]
    data = {
        "event": reason,
        "headline": headline,
        "incident": {
            "reference": incident.reference,
            "title": title,
            "severity": incident.severity,
            "status": incident.status,
            "category": incident.category,
            "restricted": incident.restricted,
            "url": _incident_url(incident),
        },
    }
    if detail and not hide:
        data["detail"] = detail
    return {"subject": subject[:300], "body": "\n".join(lines), "data": data}


def _rows(
    *,
    incident: Incident | None,
    reason: str,
    dedupe_key: str,
    recipients: Iterable[Recipient],
    message: dict[str, Any] | None = None,
    channel_message: dict[str, Any] | None = None,
    now: datetime,
    acknowledge: bool = False,
) -> list[Notification]:
    """Unsaved Notification rows for ``recipients``: a person gets an in-app row and, with an
    address, an e-mail row; a channel one row in its kind. In-app rows are delivered by being
    written (the bell reads them)."""
    rows: list[Notification] = []
    seen: set[str] = set()
    for recipient in recipients:
        if recipient.user is not None:
            targets = [Transport.IN_APP] + ([Transport.EMAIL] if recipient.user.email else [])
            content = message
            for transport in targets:
                key = f"user:{recipient.user.pk}:{transport}"
                if key in seen:
                    continue
                seen.add(key)
                rows.append(
                    _row(incident, reason, dedupe_key, key, content, now, user=recipient.user, transport=transport)
                )
        else:
            channel = recipient.channel
            key = f"channel:{channel.pk}"
            if key in seen or not channel.active:
                continue
            seen.add(key)
            rows.append(
                _row(incident, reason, dedupe_key, key, channel_message, now, channel=channel, transport=channel.kind)
            )
    if acknowledge:
        for row in rows:
            row.data = {**row.data, "acknowledge_url": acknowledge_url(row)}
    return rows


def _row(
    incident: Incident | None,
    reason: str,
    dedupe_key: str,
    recipient: str,
    content: dict[str, Any],
    now: datetime,
    *,
    transport: str,
    user: User | None = None,
    channel: Channel | None = None,
) -> Notification:
    delivered = transport == Transport.IN_APP
    return Notification(
        key=uuid.uuid4(),
        incident=incident,
        reason=reason,
        dedupe_key=dedupe_key,
        recipient=recipient,
        user=user,
        channel=channel,
        transport=transport,
        subject=content["subject"],
        body=content["body"],
        data=dict(content["data"]),
        status=NotificationStatus.DELIVERED if delivered else NotificationStatus.QUEUED,
        delivered_at=now if delivered else None,
        created_at=now,
        lease_until=now + _lease(),
    )


def _lease() -> timedelta:
    return timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)


def _store(rows: list[Notification]) -> list[int]:
    """Insert ``rows``, skipping any already written for the same what/recipient (a sweep run
    twice, a retried request), and enqueue delivery of the queued ones once the transaction
    commits. Returns the ids of the rows to deliver."""
    if not rows:
        return []
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    keys = {row.key for row in rows if row.status == NotificationStatus.QUEUED}
    # ignore_conflicts gives no ids back: read the rows this call wrote by their fresh keys.
    ids = list(Notification.objects.filter(key__in=keys).values_list("pk", flat=True)) if keys else []
    if ids:
        transaction.on_commit(lambda: enqueue_delivery(ids))
    return ids


def enqueue_delivery(ids: Sequence[int], *, countdown: float | None = None) -> bool:
    """Send one ``deliver`` task per id to the broker. Never raises: with the broker down the
    rows stay queued and the sweep enqueues them again once their lease runs out. Returns
    whether everything was enqueued.

    Without a broker (eager mode) a delayed retry is left to the sweep: eager tasks ignore
    countdowns and would retry at once, in a loop."""
    from .tasks import deliver

    if countdown and settings.CELERY_TASK_ALWAYS_EAGER:
        return True
    try:
        for pk in ids:
            deliver.apply_async(args=[pk], countdown=countdown)
    except Exception:
        logger.warning("Broker unavailable: %d notifications wait for the sweep", len(ids), exc_info=True)
        return False
    return True


# --- Starting and stopping ----------------------------------------------------------------------


def policy_for(incident: Incident) -> EscalationPolicy | None:
    """The first active policy, by position, for the incident's severity and category."""
    for policy in EscalationPolicy.objects.filter(active=True).order_by("position", "name"):
        if policy.matches(incident.severity, incident.category):
            return policy
    return None


def escalation_start(*, incident: Incident, now: datetime, reason: str = "opened") -> Escalation | None:
    """Start the incident's policy (in the caller's transaction): the running escalation, if
    any, is stopped and superseded. Returns None when no policy applies or it has no steps."""
    escalation_stop(incident=incident, now=now, reason=f"superseded ({reason})")
    policy = policy_for(incident)
    if policy is None:
        return None
    first = policy.steps.order_by("position").first()
    if first is None:
        return None
    escalation = Escalation.objects.create(
        incident=incident,
        policy=policy,
        severity=incident.severity,
        started_at=now,
        next_step=first.position,
        next_at=now + first.delay,
    )
    if first.delay == timedelta(0):
        transaction.on_commit(_kick)
    return escalation


def _kick() -> None:
    """Run a sweep now for a step due at once. Only without a broker (``make run``, in-process):
    with one, beat's next sweep (at most ``ESCALATION_SWEEP_SECONDS`` away) takes it, and a
    request never waits on a broker that may be down."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        try:
            sweep()
        except Exception:
            logger.exception("In-process sweep failed")


def escalation_stop(*, incident: Incident, now: datetime, reason: str) -> int:
    """Stop the incident's running escalation; returns how many were stopped (0 or 1)."""
    return Escalation.objects.filter(incident=incident, stopped_at__isnull=True).update(
        stopped_at=now, stop_reason=reason[:200], next_at=None, next_step=None
    )


def _sla_targets() -> dict[str, SlaTarget]:
    return {target.severity: target for target in SlaTarget.objects.all()}


def sla_clocks_start(*, incident: Incident) -> None:
    """Start the acknowledge and contain clocks of a new incident from ``reported_at``."""
    target = _sla_targets().get(incident.severity)
    if target is None:
        return
    SlaClock.objects.bulk_create(
        [
            SlaClock(
                incident=incident, kind=SlaKind.ACKNOWLEDGE, due_at=incident.reported_at + target.acknowledge_within
            ),
            SlaClock(incident=incident, kind=SlaKind.CONTAIN, due_at=incident.reported_at + target.contain_within),
        ],
        ignore_conflicts=True,
    )


def sla_clocks_retarget(*, incident: Incident) -> None:
    """After a severity change: the clocks not yet met nor breached follow the new targets."""
    target = _sla_targets().get(incident.severity)
    if target is None:
        return
    within = {SlaKind.ACKNOWLEDGE: target.acknowledge_within, SlaKind.CONTAIN: target.contain_within}
    for clock in SlaClock.objects.filter(incident=incident, met_at__isnull=True, breached_at__isnull=True):
        clock.due_at = incident.reported_at + within[clock.kind]
        clock.save(update_fields=["due_at"])


def sla_clock_meet(*, incident: Incident, kind: str, at: datetime) -> None:
    SlaClock.objects.filter(incident=incident, kind=kind, met_at__isnull=True).update(met_at=at)


# --- Hooks called by the incident services (in their transaction) ------------------------------


def on_incident_opened(*, incident: Incident) -> None:
    sla_clocks_start(incident=incident)
    escalation_start(incident=incident, now=incident.created_at, reason="opened")


def on_severity_changed(*, incident: Incident, old: str, new: str, now: datetime) -> None:
    """Raising the severity of an open incident starts the new severity's policy (a page for the
    new urgency, even if the old one was acknowledged); lowering it leaves paging as it is."""
    sla_clocks_retarget(incident=incident)
    raised = Severity.values.index(new) < Severity.values.index(old)
    if raised and incident.is_open:
        escalation_start(incident=incident, now=now, reason=f"severity raised to {new}")


def on_status_changed(
    *, incident: Incident, actor: User | None, old: str, new: str, activity: Activity, first_ack: bool, now: datetime
) -> None:
    """After a status change (transition, close, reopen): leaving new is an acknowledgement
    when none came before; containment meets the contain clock; closing stops paging and the
    clocks; the incident's members are told (not the one who moved it)."""
    if first_ack and old == Status.NEW:
        _acknowledgement_record(incident=incident, actor=actor, channel=AckChannel.STATUS, now=now)
    if new == Status.CONTAINED:
        sla_clock_meet(incident=incident, kind=SlaKind.CONTAIN, at=now)
    if new == Status.CLOSED:
        escalation_stop(incident=incident, now=now, reason="closed")
        SlaClock.objects.filter(incident=incident, met_at__isnull=True, breached_at__isnull=True).update(met_at=now)
    headline = f"status {Status(old).label.lower()} → {Status(new).label.lower()}"
    by = f"Changed by {actor}." if actor is not None else ""
    members_notify(
        incident=incident,
        reason=Reason.STATUS_CHANGED,
        dedupe_key=f"act:{activity.pk}",
        headline=headline,
        detail=by,
        actor=actor,
        now=now,
    )


def on_finding_added(*, finding: Finding, actor: User | None, activity: Activity) -> None:
    """A critical finding is told to the incident's members at once (internal ones only to
    those who see internal content)."""
    if not finding.critical:
        return
    excerpt = finding.body if len(finding.body) <= 500 else finding.body[:499] + "…"
    members_notify(
        incident=finding.incident,
        reason=Reason.CRITICAL_FINDING,
        dedupe_key=f"act:{activity.pk}",
        headline="critical finding",
        detail=f"{actor} recorded a critical finding:\n{excerpt}",
        actor=actor,
        now=finding.created_at,
        internal=finding.internal,
    )


def members_notify(
    *,
    incident: Incident,
    reason: str,
    dedupe_key: str,
    headline: str,
    detail: str,
    actor: User | None,
    now: datetime,
    internal: bool = False,
) -> list[int]:
    """Tell the incident's members (in the app, and by e-mail) about a change, except ``actor``."""
    memberships = Membership.objects.filter(incident=incident, user__is_active=True).select_related("user")
    people = [
        m.user
        for m in memberships
        if m.user != actor and m.user.role != Role.INTEGRATION and (not internal or sees_internal(m.user))
    ]
    return notify_people(
        incident=incident,
        reason=reason,
        dedupe_key=dedupe_key,
        people=people,
        headline=headline,
        detail=detail,
        now=now,
    )


def notify_people(
    *,
    incident: Incident,
    reason: str,
    dedupe_key: str,
    people: Iterable[User],
    headline: str,
    detail: str,
    now: datetime,
) -> list[int]:
    """Tell ``people`` (in the app, and by e-mail) about ``incident``: the members of a changed
    case, or whoever a caller decides (the regulatory deadline clocks). Unique per
    (``dedupe_key``, recipient) like every notification; returns the ids to deliver."""
    message = _message(incident, reason, headline, detail=detail, for_channel=False)
    rows = _rows(
        incident=incident,
        reason=reason,
        dedupe_key=dedupe_key,
        recipients=[Recipient(user=user) for user in people],
        message=message,
        now=now,
    )
    return _store(rows)


# --- Acknowledging -------------------------------------------------------------------------------


def _acknowledgement_record(
    *, incident: Incident, actor: User | None, channel: str, now: datetime, notification: Notification | None = None
) -> Acknowledgement:
    running = Escalation.objects.filter(incident=incident, stopped_at__isnull=True).first()
    acknowledgement = Acknowledgement.objects.create(
        incident=incident, escalation=running, user=actor, channel=channel, notification=notification, at=now
    )
    if running is not None:
        escalation_stop(incident=incident, now=now, reason=f"acknowledged by {actor}" if actor else "acknowledged")
    sla_clock_meet(incident=incident, kind=SlaKind.ACKNOWLEDGE, at=now)
    events.acknowledged_event(
        incident=incident, actor=actor, channel=channel, channel_label=AckChannel(channel).label.lower()
    )
    return acknowledgement


def incident_acknowledge(
    *, incident: Incident, actor: User, channel: str, notification: Notification | None = None
) -> Acknowledgement:
    """Record that ``actor`` took the incident (``Action.ACKNOWLEDGE``) through ``channel`` (the
    browser, the API or a link in ``notification``) and stop its running escalation.

    The first acknowledgement stamps ``Incident.acknowledged_at``, the milestone the SLA
    measures; leaving new stamps it too, recorded as an acknowledgement through a status change
    (``on_status_changed``), so the two never disagree. Raises AlreadyAcknowledged (409) when
    there is nothing left to acknowledge: acknowledged before and no escalation running.
    """
    if channel not in AckChannel.values or channel == AckChannel.STATUS:
        raise ValidationError({"channel": [f"Unknown acknowledgement channel {channel!r}."]})
    with transaction.atomic():
        current = Incident.objects.select_for_update().get(pk=incident.pk)
        require(actor, current, Action.ACKNOWLEDGE)
        running = Escalation.objects.filter(incident=current, stopped_at__isnull=True).exists()
        if current.acknowledged_at is not None and not running:
            last = Acknowledgement.objects.filter(incident=current).select_related("user").order_by("at", "id").first()
            raise AlreadyAcknowledged(last, current)
        if not current.is_open:
            raise ValidationError({"incident": [f"{current.reference} is closed: there is nothing to acknowledge."]})
        now = timezone.now()
        acknowledgement = _acknowledgement_record(
            incident=current, actor=actor, channel=channel, now=now, notification=notification
        )
        fields = {"updated_at": now, "version": F("version") + 1}
        if current.acknowledged_at is None:
            fields["acknowledged_at"] = now
        Incident.objects.filter(pk=current.pk).update(**fields)
        current.refresh_from_db(fields=["acknowledged_at", "updated_at", "version"])
        # The pages that asked them to act are answered: they leave the bell.
        Notification.objects.unread_for(actor).filter(incident=current).update(read_at=now)
    incident.refresh_from_db()
    return acknowledgement


def acknowledge_url(notification: Notification) -> str:
    """The signed link in a message: it opens a confirmation page, whose POST acknowledges."""
    token = signing.dumps({"n": str(notification.key)}, salt=ACK_LINK_SALT, compress=True)
    return settings.SITE_URL.rstrip("/") + reverse("notifications:acknowledge-link", kwargs={"token": token})


def acknowledge_link_resolve(token: str) -> Notification:
    """The notification a link was sent in. Raises ``signing.BadSignature`` (its subclass
    ``SignatureExpired`` after ``ACK_LINK_MAX_AGE_SECONDS``) or ``Notification.DoesNotExist``."""
    payload = signing.loads(token, salt=ACK_LINK_SALT, max_age=settings.ACK_LINK_MAX_AGE_SECONDS)
    return Notification.objects.select_related("incident", "user", "channel").get(key=payload["n"])


def acknowledge_by_link(*, notification: Notification, user: User | None) -> Acknowledgement:
    """Acknowledge through the link in ``notification``. A link sent to a person acknowledges as
    that person, signed in or not (the link is their credential for this one act); a link posted
    to a shared channel needs someone signed in, who is recorded."""
    if notification.incident is None:
        raise ValidationError({"token": ["This message is not about an incident."]})
    actor = notification.user if notification.user is not None else user
    if actor is None or not actor.is_authenticated:
        raise PermissionDenied("Sign in to acknowledge from a shared channel's message.")
    return incident_acknowledge(
        incident=notification.incident, actor=actor, channel=AckChannel.LINK, notification=notification
    )


# --- The sweep ------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    steps: int = 0  # escalation steps fired
    breaches: int = 0  # SLA clocks found breached
    deadlines: int = 0  # regulatory deadline clocks reminded or found missed
    requeued: int = 0  # notifications taken back after their lease ran out
    notifications: list[int] = field(default_factory=list)  # new rows to deliver
    claimed: int = 0  # rows the last batch claimed (the sweep loops while batches come back full)


def _steps_of(policy_id: int, cache: dict[int, list[EscalationStep]]) -> list[EscalationStep]:
    if policy_id not in cache:
        cache[policy_id] = list(
            EscalationStep.objects.filter(policy_id=policy_id)
            .order_by("position")
            .prefetch_related("users", "channels")
        )
    return cache[policy_id]


def _step_recipients(step: EscalationStep, incident: Incident) -> list[Recipient]:
    people: list[User] = []
    if step.include_lead and incident.lead is not None:
        people.append(incident.lead)
    people += [user for user in step.users.all() if user not in people]
    # A person who may not see the incident is not paged about it (restricted incidents).
    recipients = [Recipient(user=user) for user in people if sees(user, incident)]
    recipients += [Recipient(channel=channel) for channel in step.channels.all() if channel.active]
    return recipients


def _escalations_due(now: datetime, batch: int, steps_cache: dict[int, list[EscalationStep]]) -> SweepResult:
    result = SweepResult()
    with transaction.atomic():
        due = list(
            Escalation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_at__lte=now, stopped_at__isnull=True)
            .select_related("incident", "incident__lead", "policy")
            .order_by("next_at")[:batch]
        )
        rows: list[Notification] = []
        activities: list[Activity] = []
        for escalation in due:
            incident = escalation.incident
            if not incident.is_open:
                escalation.stopped_at, escalation.stop_reason = now, "closed"
                escalation.next_at = escalation.next_step = None
                continue
            steps = _steps_of(escalation.policy_id, steps_cache)
            step = next((s for s in steps if s.position == escalation.next_step), None)
            later = [s for s in steps if escalation.next_step is not None and s.position > escalation.next_step]
            if step is not None:
                recipients = _step_recipients(step, incident)
                number = steps.index(step) + 1
                headline = (
                    "needs acknowledgement" if number == 1 else f"still unacknowledged (escalation level {number})"
                )
                detail = f"Escalation policy “{escalation.policy.name}”, level {number}."
                step_rows = _rows(
                    incident=incident,
                    reason=Reason.ESCALATION,
                    dedupe_key=f"esc:{escalation.pk}:{step.position}",
                    recipients=recipients,
                    message=_message(incident, Reason.ESCALATION, headline, detail=detail, for_channel=False),
                    channel_message=_message(incident, Reason.ESCALATION, headline, detail=detail, for_channel=True),
                    now=now,
                    acknowledge=True,
                )
                for row in step_rows:
                    row.data = {**row.data, "policy": escalation.policy.name, "level": number}
                rows += step_rows
                activities.append(
                    Activity(
                        incident=incident,
                        verb=Verb.ESCALATED,
                        internal=True,
                        created_at=now,
                        data={"policy": escalation.policy.name, "step": number, "paged": [r.name for r in recipients]},
                    )
                )
                escalation.steps_fired += 1
            if later:
                escalation.next_step = later[0].position
                escalation.next_at = escalation.started_at + later[0].delay
            else:
                escalation.next_step = escalation.next_at = None
        if due:
            Escalation.objects.bulk_update(due, ["next_step", "next_at", "steps_fired", "stopped_at", "stop_reason"])
            Activity.objects.bulk_create(activities)
            record_activities(activities)  # bulk_create skips incidents.events._entry: audited here
            result.notifications = _store(rows)
        result.steps = len(activities)
        result.claimed = len(due)
    return result


def _sla_breaches_due(now: datetime, batch: int) -> SweepResult:
    result = SweepResult()
    with transaction.atomic():
        clocks = list(
            SlaClock.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(due_at__lte=now, met_at__isnull=True, breached_at__isnull=True)
            .select_related("incident", "incident__lead")
            .order_by("due_at")[:batch]
        )
        if not clocks:
            return result
        targets = {t.severity: t for t in SlaTarget.objects.prefetch_related("channels")}
        memberships: dict[int, list[User]] = {}
        for m in Membership.objects.filter(incident__in=[c.incident_id for c in clocks]).select_related("user"):
            memberships.setdefault(m.incident_id, []).append(m.user)
        rows: list[Notification] = []
        activities: list[Activity] = []
        for clock in clocks:
            clock.breached_at = now
            incident = clock.incident
            label = SlaKind(clock.kind).label.lower()
            due = timezone.localtime(clock.due_at).strftime("%Y-%m-%d %H:%M %Z")
            people = [
                user
                for user in memberships.get(incident.pk, [])
                if user.is_active and user.role not in (Role.VENDOR, Role.INTEGRATION)
            ]
            if incident.lead is not None and incident.lead not in people:
                people.insert(0, incident.lead)
            if not people:
                # Nobody owns it yet (a SIEM opened it): whoever may lead incidents is told.
                people = unowned_fallback()
            recipients = [Recipient(user=user) for user in people if sees(user, incident)]
            target = targets.get(incident.severity)
            if target is not None:
                recipients += [Recipient(channel=channel) for channel in target.channels.all() if channel.active]
            headline = f"{label} SLA breached"
            detail = f"The {label} target was due {due}."
            rows += _rows(
                incident=incident,
                reason=Reason.SLA_BREACH,
                dedupe_key=f"sla:{clock.pk}",
                recipients=recipients,
                message=_message(incident, Reason.SLA_BREACH, headline, detail=detail, for_channel=False),
                channel_message=_message(incident, Reason.SLA_BREACH, headline, detail=detail, for_channel=True),
                now=now,
                acknowledge=clock.kind == SlaKind.ACKNOWLEDGE,
            )
            activities.append(
                Activity(
                    incident=incident,
                    verb=Verb.SLA_BREACHED,
                    internal=True,
                    created_at=now,
                    data={"kind": clock.kind, "label": label, "due_at": due},
                )
            )
        SlaClock.objects.bulk_update(clocks, ["breached_at"])
        Activity.objects.bulk_create(activities)
        record_activities(activities)
        result.notifications = _store(rows)
        result.breaches = len(clocks)
    return result


def unowned_fallback() -> list[User]:
    """Who hears of an SLA breach on an incident with no lead and no staff member: the people
    with the global incident-lead role (not admins: they are not on call by role)."""
    return list(User.objects.filter(is_active=True, role=Role.LEAD).order_by("username"))


def _stale_requeue(now: datetime, batch: int) -> list[int]:
    """Notifications still queued or sending past their lease: their message was lost (broker
    down at enqueue, a worker killed mid-send). Renew the lease and enqueue them again."""
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status__in=PENDING, lease_until__lt=now)
            .order_by("lease_until")
            .values_list("pk", flat=True)[:batch]
        )
        if ids:
            # Back to queued: a row left "sending" by a dead worker must be claimable by the task
            # enqueued here (the claim takes "sending" only past its lease, which this renews).
            Notification.objects.filter(pk__in=ids).update(status=NotificationStatus.QUEUED, lease_until=now + _lease())
            transaction.on_commit(lambda: enqueue_delivery(ids))
    return ids


def next_due(*, within: timedelta, now: datetime | None = None) -> datetime | None:
    """The earliest escalation step, SLA clock or deadline alert falling due after ``now`` and no later than
    ``now + within`` (None if there is none): when the next sweep has work."""
    now = now or timezone.now()
    end = now + within
    step = (
        Escalation.objects.filter(stopped_at__isnull=True, next_at__gt=now, next_at__lte=end)
        .order_by("next_at")
        .values_list("next_at", flat=True)
        .first()
    )
    clock = (
        SlaClock.objects.filter(met_at__isnull=True, breached_at__isnull=True, due_at__gt=now, due_at__lte=end)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    deadline = (
        DeadlineClock.objects.filter(next_alert_at__gt=now, next_alert_at__lte=end)
        .order_by("next_alert_at")
        .values_list("next_alert_at", flat=True)
        .first()
    )
    return min((t for t in (step, clock, deadline) if t is not None), default=None)


def sweep(*, now: datetime | None = None, batch: int | None = None) -> SweepResult:
    """Fire every escalation step and SLA breach due by ``now`` and re-enqueue notifications
    whose lease ran out. Safe to run concurrently: rows are claimed with SKIP LOCKED and each
    batch commits on its own, so two sweeps share the work and send nothing twice."""
    now = now or timezone.now()
    batch = batch or settings.ESCALATION_SWEEP_BATCH
    total = SweepResult()
    steps_cache: dict[int, list[EscalationStep]] = {}
    while True:
        part = _escalations_due(now, batch, steps_cache)
        total.steps += part.steps
        total.notifications += part.notifications
        if part.claimed < batch:
            break
    while True:
        part = _sla_breaches_due(now, batch)
        total.breaches += part.breaches
        total.notifications += part.notifications
        if part.breaches < batch:
            break
    from incidents.regulatory.services import deadline_alerts_due  # it calls back into notify_people

    while True:
        handled, ids = deadline_alerts_due(now, batch)
        total.deadlines += handled
        total.notifications += ids
        if handled < batch:
            break
    while True:
        ids = _stale_requeue(now, batch)
        total.requeued += len(ids)
        if len(ids) < batch:
            break
    return total


# --- Delivery ------------------------------------------------------------------------------------


def _backoff(attempts: int) -> int:
    """Seconds before attempt ``attempts + 1``: base * 2^(attempts-1), capped."""
    return min(
        settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.NOTIFICATION_RETRY_MAX_SECONDS
    )


def notification_deliver(*, notification_id: int) -> str:
    """Send one notification and record the attempt. Returns what became of it: "delivered",
    "retry", "failed", or "skipped" (already delivered or failed, or another worker holds it).

    The claim is one conditional UPDATE: a queued row, or a sending row whose lease ran out
    (its worker died). The send happens outside any transaction; its outcome is written after.
    """
    from .transports import TransportError, transport_for

    now = timezone.now()
    claimed = (
        Notification.objects.filter(pk=notification_id)
        .filter(Q(status=NotificationStatus.QUEUED) | Q(status=NotificationStatus.SENDING, lease_until__lt=now))
        .update(status=NotificationStatus.SENDING, attempts=F("attempts") + 1, lease_until=now + _lease())
    )
    if not claimed:
        return "skipped"
    notification = Notification.objects.select_related("incident", "user", "channel").get(pk=notification_id)
    started = time.monotonic()
    error, permanent = "", False
    if notification.attempts > settings.NOTIFICATION_MAX_ATTEMPTS:
        error, permanent = "Gave up: out of attempts (the last one did not finish).", True
    elif notification.channel is not None and not notification.channel.active:
        error, permanent = f"The channel {notification.channel.name} is disabled.", True
    else:
        try:
            transport_for(notification.transport).notify(notification)
        except TransportError as exc:
            error, permanent = exc.message[:2000] or "Transport error", exc.permanent
        except Exception as exc:
            logger.exception("Transport %s crashed on notification %s", notification.transport, notification.pk)
            error = f"{type(exc).__name__}: {exc}"[:2000]
    return _attempt_record(notification, error=error, permanent=permanent, ms=(time.monotonic() - started) * 1000)


def _attempt_record(notification: Notification, *, error: str, permanent: bool, ms: float) -> str:
    now = timezone.now()
    entry = {"at": now.isoformat(), "error": error, "ms": round(ms, 1)}
    with transaction.atomic():
        row = Notification.objects.select_for_update().get(pk=notification.pk)
        row.attempt_log = [*row.attempt_log, entry][-50:]
        row.last_error = error
        if not error:
            row.status, row.delivered_at, outcome = NotificationStatus.DELIVERED, now, "delivered"
        elif permanent or row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            row.status, outcome = NotificationStatus.FAILED, "failed"
        else:
            delay = _backoff(row.attempts)
            row.status, row.lease_until, outcome = NotificationStatus.QUEUED, now + timedelta(seconds=delay), "retry"
            transaction.on_commit(lambda: enqueue_delivery([row.pk], countdown=delay))
        row.save(update_fields=["attempt_log", "last_error", "status", "delivered_at", "lease_until"])
    return outcome


# --- Channels and the bell -----------------------------------------------------------------------


def channel_test(*, channel: Channel, actor: User) -> Notification:
    """Send a test message to ``channel`` now ("send test"), recorded like any notification."""
    if not (actor.is_superuser or actor.role in (Role.ADMIN, Role.LEAD)):
        raise PermissionDenied("Only admins and incident leads may test channels.")
    now = timezone.now()
    content = {
        "subject": f"[Breachline] Test message for {channel.name}",
        "body": f"{actor} sent this test from Breachline ({settings.SITE_URL}). If you can read it, the channel works.",
        "data": {"event": Reason.TEST, "headline": "test message", "sent_by": actor.username},
    }
    with transaction.atomic():
        row = _row(
            None,
            Reason.TEST,
            f"test:{uuid.uuid4()}",
            f"channel:{channel.pk}",
            content,
            now,
            channel=channel,
            transport=channel.kind,
        )
        row.save()
        transaction.on_commit(lambda: enqueue_delivery([row.pk]))
    return row


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark ``user``'s in-app notifications read (all unread ones when ``ids`` is None)."""
    rows = Notification.objects.unread_for(user)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())


def may_see_notification_log(user: User) -> bool:
    """The notification log (every message, its attempts and errors) is for admins and incident
    leads; it names people and channels across incidents, so only roles that manage paging."""
    return user.is_active and (user.is_superuser or user.role in (Role.ADMIN, Role.LEAD))


def may_acknowledge(user: User, incident: Incident) -> bool:
    return may(user, Action.ACKNOWLEDGE, incident)
