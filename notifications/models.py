"""Escalation and notification: what is due, to whom, and what became of every page.

Durable state lives here, in PostgreSQL; Redis only carries wake-ups (docs/architecture.md,
"Escalation and notification"). The services in ``notifications.services`` are the only writers.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from incidents.models import Incident, Severity


class ChannelKind(models.TextChoices):
    """Shared destinations; one transport class each (``notifications.transports``). People are
    reached by e-mail and in the app (``Notification.transport``), not through a channel."""

    EMAIL = "email", "E-mail address"
    WEBHOOK = "webhook", "Webhook (signed JSON)"
    SLACK = "slack", "Slack incoming webhook"
    TEAMS = "teams", "Microsoft Teams (Workflows webhook)"


class Transport(models.TextChoices):
    """How one notification travels: a channel's kind, or in-app for a person's bell."""

    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Teams"
    IN_APP = "in_app", "In-app"


def _webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Channel(models.Model):
    """A shared destination: a team mailbox, a SOAR webhook, a Slack or Teams room.

    ``target`` is an e-mail address or an https URL (http only to 127.0.0.1/localhost in
    development). ``secret`` signs webhook bodies (HMAC-SHA256); Slack and Teams carry their
    secret in the URL itself, so the URL is never shown in full once saved.
    """

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    target = models.CharField(max_length=2000, help_text="E-mail address or webhook URL.")
    secret = models.CharField(max_length=100, default=_webhook_secret, help_text="Signs webhook bodies (HMAC-SHA256).")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=ChannelKind.values), name="channel_kind_valid")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class EscalationPolicy(models.Model):
    """Who is paged, and when, for incidents of some severities and categories.

    An incident takes the first active policy (by ``position``) whose ``severities`` hold its
    severity and whose ``categories`` are empty (any) or hold its category.
    """

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    severities = models.JSONField(default=list, help_text="Severities it applies to.")
    categories = models.JSONField(default=list, blank=True, help_text="Categories it applies to; empty: any.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name

    def matches(self, severity: str, category: str) -> bool:
        return severity in self.severities and (not self.categories or category in self.categories)


class EscalationStep(models.Model):
    """One level: ``delay`` after the policy starts, page these people and channels (and the
    incident's lead when ``include_lead``)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    delay = models.DurationField(default=timedelta(0), help_text="After the policy starts.")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    channels = models.ManyToManyField(Channel, blank=True, related_name="+")
    include_lead = models.BooleanField(default=True, help_text="Page the incident's lead too.")

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="escalation_step_unique"),
            models.CheckConstraint(
                condition=models.Q(delay__gte=timedelta(0)), name="escalation_step_delay_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position}"


class Escalation(models.Model):
    """One run of a policy on one incident: started when the incident opens or its severity is
    raised, advanced step by step by the sweep, stopped by an acknowledgement (or closing, or a
    newer run). ``next_at`` is NULL once stopped or past its last step."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalations")
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="+")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    started_at = models.DateTimeField(default=timezone.now)
    next_step = models.PositiveIntegerField(null=True, blank=True, help_text="Position of the step due next.")
    next_at = models.DateTimeField(null=True, blank=True)
    steps_fired = models.PositiveIntegerField(default=0)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The sweep: WHERE next_at <= now ORDER BY next_at (only running escalations have one).
            models.Index(fields=["next_at"], name="escalation_due_idx", condition=models.Q(next_at__isnull=False)),
        ]
        constraints = [
            # At most one running escalation per incident: a new run stops the previous one first.
            models.UniqueConstraint(
                fields=["incident"], condition=models.Q(stopped_at__isnull=True), name="escalation_one_running"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} on {self.incident_id}"

    @property
    def running(self) -> bool:
        return self.stopped_at is None


class AckChannel(models.TextChoices):
    WEB = "web", "Browser"
    API = "api", "API"
    LINK = "link", "Link in a message"
    STATUS = "status", "Status change (left new)"


class Acknowledgement(models.Model):
    """Someone took the incident: who, when, through which channel. The first one stamps
    ``Incident.acknowledged_at`` (the SLA's "acknowledged"); each stops the running escalation."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="acknowledgements")
    escalation = models.ForeignKey(Escalation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=10, choices=AckChannel.choices)
    notification = models.ForeignKey(
        "Notification", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The message whose link was used.",
    )  # fmt: skip
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.incident_id} acknowledged by {self.user_id} via {self.channel}"


class SlaKind(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", "Time to acknowledge"
    CONTAIN = "contain", "Time to contain"


class SlaTarget(models.Model):
    """Response targets per severity, measured from ``Incident.reported_at`` (when Breachline
    learned of the incident) to ``acknowledged_at`` and ``contained_at``."""

    severity = models.CharField(max_length=10, choices=Severity.choices, unique=True)
    acknowledge_within = models.DurationField()
    contain_within = models.DurationField()
    channels = models.ManyToManyField(
        Channel, blank=True, related_name="+", help_text="Also told of a breach (the lead and members always are)."
    )

    class Meta:
        ordering = ["severity"]
        verbose_name = "SLA target"

    def __str__(self) -> str:
        return f"SLA {self.severity}"


class SlaClock(models.Model):
    """One running SLA on one incident. ``due_at`` follows the severity; ``met_at`` is stamped
    when the milestone is reached, ``breached_at`` by the sweep when it was not in time."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="sla_clocks")
    kind = models.CharField(max_length=12, choices=SlaKind.choices)
    due_at = models.DateTimeField()
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [models.UniqueConstraint(fields=["incident", "kind"], name="sla_clock_unique")]
        indexes = [
            # The sweep: WHERE due_at <= now AND met_at IS NULL AND breached_at IS NULL.
            models.Index(
                fields=["due_at"],
                name="sla_clock_due_idx",
                condition=models.Q(met_at__isnull=True, breached_at__isnull=True),
            ),
            # The dashboard's SLA breaches in a period (incidents.metrics).
            models.Index(
                fields=["breached_at"], name="sla_clock_breached_idx", condition=models.Q(breached_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} SLA on {self.incident_id}"


class Reason(models.TextChoices):
    ESCALATION = "escalation", "Escalation"
    SLA_BREACH = "sla_breach", "SLA breached"
    STATUS_CHANGED = "status_changed", "Status changed"
    CRITICAL_FINDING = "critical_finding", "Critical finding"
    DEADLINE_REMINDER = "deadline_reminder", "Regulatory deadline reminder"
    DEADLINE_MISSED = "deadline_missed", "Regulatory deadline missed"
    TEST = "test", "Test"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class NotificationQuerySet(models.QuerySet):
    def unread_for(self, user) -> NotificationQuerySet:
        return self.filter(user=user, transport=Transport.IN_APP, read_at__isnull=True)


class Notification(models.Model):
    """One message to one recipient (a person through one transport, or a channel).

    Written *before* it is sent (by the sweep or a service, in the transaction that decided it)
    and updated by every attempt, so a crash mid-send leaves a trace. ``dedupe_key`` names what
    it is about (``esc:<escalation>:<step>``, ``sla:<clock>``, ``act:<activity>``); with the
    recipient it is unique, so a sweep run twice sends nothing twice. ``key`` is the idempotency
    key receivers see on every attempt.
    """

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    dedupe_key = models.CharField(max_length=100)
    recipient = models.CharField(max_length=100, help_text="user:<id>:<transport> or channel:<id>.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    transport = models.CharField(max_length=10, choices=Transport.choices)
    subject = models.CharField(max_length=300)
    body = models.TextField(validators=[MaxLengthValidator(20_000)])
    # What the message links to and says in structured form (webhook JSON, Slack and Teams cards).
    data = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)])
    # Every attempt: {"at", "error", "ms"}; "" error is a success.
    attempt_log = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Until then the row belongs to whoever enqueued or is sending it; past it the sweep takes it
    # back and enqueues it again (a lost message, a killed worker).
    lease_until = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key", "recipient"], name="notification_once_per_recipient"),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | models.Q(channel__isnull=False),
                name="notification_has_recipient",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=NotificationStatus.values), name="notification_status_valid"
            ),
        ]
        indexes = [
            # The sweep's recovery: WHERE status IN (queued, sending) AND lease_until < now.
            models.Index(
                fields=["lease_until"],
                name="notification_pending_idx",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
            # The bell: WHERE user = me AND transport = in_app AND read_at IS NULL.
            models.Index(
                fields=["user", "-created_at"],
                name="notification_unread_idx",
                condition=models.Q(transport="in_app", read_at__isnull=True),
            ),
            # The log page, newest first, and its incident filter.
            models.Index(fields=["-created_at", "-id"], name="notification_recent_idx"),
            models.Index(fields=["incident", "-created_at"], name="notification_incident_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} to {self.recipient} ({self.status})"
