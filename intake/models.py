"""SIEM intake: alerts pushed by SIEMs and SOAR tools, deduplicated, grouped into incidents and
triaged by responders. Writes go through ``intake.services`` (ingest) and ``intake.triage``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AlertSeverity(models.TextChoices):
    """An incident's four severities and ``info``, which SIEMs send for what needs no response."""

    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Informational"


# Higher is more severe: the auto-promotion threshold compares these.
SEVERITY_LEVEL = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class AlertStatus(models.TextChoices):
    NEW = "new", "New"  # waiting in the triage queue
    LINKED = "linked", "Linked"  # joined an existing incident (grouping or a responder)
    PROMOTED = "promoted", "Promoted"  # opened a new incident
    IGNORED = "ignored", "Ignored"  # triaged as nothing to do, with a reason


class AlertFormat(models.TextChoices):
    """Which normalizer read the payload (``intake/normalizers/``)."""

    GENERIC = "generic", "Generic JSON"
    SPLUNK = "splunk", "Splunk webhook"
    ELASTIC = "elastic", "Elastic Security (ECS)"
    SENTINEL = "sentinel", "Microsoft Sentinel"
    WAZUH = "wazuh", "Wazuh"


class Alert(models.Model):
    """One alert of one SIEM, however often it was sent: ``(source, source_ref)`` is unique, a
    repeat raises ``occurrences`` and moves ``last_seen_at`` (an ``INSERT … ON CONFLICT``)."""

    source = models.CharField(max_length=64, help_text="The sending system, e.g. splunk-prod.")
    source_ref = models.CharField("source's id", max_length=200)
    format = models.CharField(max_length=10, choices=AlertFormat.choices, default=AlertFormat.GENERIC)
    # sha256 hex of what makes two alerts "the same thing" (intake.fingerprint): grouping key.
    fingerprint = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    rule = models.CharField(max_length=200, blank=True, help_text="The detection rule's name or id.")
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.MEDIUM)
    host = models.CharField(max_length=255, blank=True)
    user = models.CharField("account", max_length=255, blank=True)
    description = models.TextField(blank=True)
    observed_at = models.DateTimeField(help_text="When the SIEM saw it happen.")
    received_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    occurrences = models.PositiveIntegerField(default=1)
    # Candidate indicators: [{"type", "value", "role"}], normalized like manual indicators; they
    # become Indicator rows only when a responder confirms them on the incident.
    observables = models.JSONField(default=list, blank=True)
    # The payload as sent (size-capped by the service), for the responder and the audit.
    raw = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.NEW)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    triaged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    triaged_at = models.DateTimeField(null=True, blank=True)
    ignore_reason = models.CharField(max_length=500, blank=True)
    # Who sent it: the principal of the API key or ingest URL.
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            # Dedupe in the database: the ON CONFLICT target, also the lookup of a repeat.
            models.UniqueConstraint(fields=["source", "source_ref"], name="alert_unique_per_source"),
            models.CheckConstraint(condition=models.Q(status__in=AlertStatus.values), name="alert_status_valid"),
            models.CheckConstraint(condition=models.Q(severity__in=AlertSeverity.values), name="alert_severity_valid"),
            models.CheckConstraint(condition=models.Q(format__in=AlertFormat.values), name="alert_format_valid"),
            models.CheckConstraint(
                condition=~models.Q(status__in=["linked", "promoted"]) | models.Q(incident__isnull=False),
                name="alert_linked_has_incident",
            ),
        ]
        indexes = [
            # Grouping: WHERE fingerprint IN (…) AND received_at >= now - window AND incident IS NOT
            # NULL. Partial: only alerts that joined an incident can be matched (most wait in triage).
            models.Index(
                fields=["fingerprint", "received_at"],
                condition=models.Q(incident__isnull=False),
                name="alert_grouping_idx",
            ),
            # The triage queue: WHERE status = 'new' ORDER BY last_seen_at DESC.
            models.Index(fields=["status", "-last_seen_at"], name="alert_queue_idx"),
            # The dashboard's alert intake (incidents.metrics): WHERE received_at in the period,
            # counted by status and incident, from the index alone.
            models.Index(fields=["received_at", "status", "incident"], name="alert_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_ref}"


class IngestToken(models.Model):
    """A per-integration ingest URL (``/api/v1/ingest/<token>/``) for SIEMs that cannot send an
    ``Authorization`` header (Splunk's webhook alert action). Like an incoming-webhook URL: the
    token is the credential, stored only as a SHA-256 digest, shown once, limited to posting
    alerts of one ``source`` in one ``format``, revocable."""

    name = models.CharField(max_length=100)
    source = models.CharField(max_length=64)
    format = models.CharField(max_length=10, choices=AlertFormat.choices)
    # The principal the alerts are sent as (an integration user).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ingest_tokens")
    prefix = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
