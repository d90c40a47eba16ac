"""The attack timeline: what happened, when, reconstructed from evidence.

Distinct from the activity log (``incidents.Activity``: who changed what in the tracker). Every
write goes through ``timeline.services``; reads through ``timeline.selectors``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from incidents.models import SharedContent

# UTC offsets run from -12:00 to +14:00; minutes east of UTC.
OFFSET_MIN, OFFSET_MAX = -12 * 60, 14 * 60


class Precision(models.TextChoices):
    """How precisely ``occurred_at`` is known. The services truncate the stored instant to it
    (a ``day`` event is stored at 00:00 of its date in the display time zone), so ordering and
    date grouping agree whatever precision or offset an event was given in."""

    EXACT = "exact", "Exact"
    MINUTE = "minute", "To the minute"
    HOUR = "hour", "To the hour"
    DAY = "day", "To the day"
    APPROXIMATE = "approximate", "Approximate"


class EventKind(models.TextChoices):
    ATTACKER = "attacker", "Attacker activity"
    DETECTION = "detection", "Detection"
    CONTAINMENT = "containment", "Containment"
    ERADICATION = "eradication", "Eradication"
    RECOVERY = "recovery", "Recovery"
    COMMUNICATION = "communication", "Communication"
    VENDOR = "vendor", "Vendor"
    REGULATORY = "regulatory", "Regulatory"


class ImportStatus(models.TextChoices):
    VALIDATING = "validating", "Checking the file"
    READY = "ready", "Ready to import"
    INVALID = "invalid", "Has bad rows"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ImportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class TimelineImport(models.Model):
    """One uploaded CSV or JSON Lines file on its way into an incident's timeline.

    Checked first (every row parsed, errors kept with their row numbers, a preview of the first
    rows), then imported in one transaction: all rows, or only the good ones when the person
    importing chose so (``skip_bad_rows``). Large files are checked and imported by Celery tasks
    that move ``rows_checked`` / ``status`` as they go; the page polls them."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="timeline_imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    filename = models.CharField(max_length=255)
    format = models.CharField(max_length=8, choices=ImportFormat.choices)
    # Where the uploaded bytes wait in the evidence storage (private); removed once imported.
    stored_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    # Times without an offset in the file are read in this zone (an IANA name).
    default_timezone = models.CharField(max_length=64, default="UTC")
    # The kind of rows that name none ("" when the file has a kind column).
    default_kind = models.CharField(max_length=16, choices=EventKind.choices, blank=True)
    internal = models.BooleanField(default=False, help_text="Import the events as internal.")
    status = models.CharField(max_length=12, choices=ImportStatus.choices, default=ImportStatus.VALIDATING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_checked = models.PositiveIntegerField(default=0)
    rows_bad = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    # The first errors: [{"row": 12, "field": "datetime", "message": "..."}], capped.
    errors = models.JSONField(default=list, blank=True)
    # The first good rows as they will be imported, for the preview.
    preview = models.JSONField(default=list, blank=True)
    skip_bad_rows = models.BooleanField(default=False)
    failure = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ImportStatus.values), name="timeline_import_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(format__in=ImportFormat.values), name="timeline_import_format_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} → {self.incident_id} ({self.status})"


class TimelineEvent(SharedContent):
    """Something that happened during the breach, placed in time.

    ``occurred_at`` is an instant (stored UTC), truncated to ``precision``; ``occurred_offset``
    keeps the UTC offset it was given in (minutes east), so the source's local time can be shown
    beside the timeline's own zone. ``technique`` is an id of the pinned ATT&CK release
    (``timeline.attack``). Links (evidence, indicators, vendor) are to the same incident only."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="timeline_events")
    occurred_at = models.DateTimeField()
    precision = models.CharField(max_length=12, choices=Precision.choices, default=Precision.EXACT)
    occurred_offset = models.SmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(OFFSET_MIN), MaxValueValidator(OFFSET_MAX)],
        help_text="The UTC offset the time was given in, in minutes east of UTC.",
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(20_000)], help_text="Markdown")
    source = models.CharField(max_length=200, blank=True, help_text="The system or log it was seen in.")
    technique = models.CharField("ATT&CK technique", max_length=9, blank=True)
    key_event = models.BooleanField(default=False)
    evidence = models.ManyToManyField("incidents.Evidence", blank=True, related_name="timeline_events")
    indicators = models.ManyToManyField("incidents.Indicator", blank=True, related_name="timeline_events")
    vendor = models.ForeignKey(
        "incidents.Vendor", null=True, blank=True, on_delete=models.PROTECT, related_name="timeline_events"
    )
    # Columns of an imported row that have no field of their own (Timesketch's extra columns).
    attributes = models.JSONField(default=dict, blank=True)
    imported_from = models.ForeignKey(
        TimelineImport, null=True, blank=True, on_delete=models.SET_NULL, related_name="events", editable=False
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Optimistic lock for edits in place: a stale form is refused, not silently overwritten.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=EventKind.values), name="timeline_event_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(precision__in=Precision.values), name="timeline_event_precision_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(occurred_offset__isnull=True)
                | models.Q(occurred_offset__gte=OFFSET_MIN, occurred_offset__lte=OFFSET_MAX),
                name="timeline_event_offset_range",
            ),
        ]
        indexes = [
            # The timeline page and the API's cursor: WHERE incident = … ORDER BY occurred_at, id.
            models.Index(fields=["incident", "occurred_at", "id"], name="timeline_event_order_idx"),
            # The key-events view and the incident page's key events: … AND key_event.
            models.Index(
                fields=["incident", "occurred_at", "id"],
                condition=models.Q(key_event=True),
                name="timeline_event_key_idx",
            ),
            # Milestones: the first/last event of a kind per incident.
            models.Index(fields=["incident", "kind", "occurred_at"], name="timeline_event_kind_idx"),
            # The dashboard's top ATT&CK techniques (incidents.metrics): the events that name one.
            models.Index(
                fields=["incident", "technique"], name="timeline_event_technique_idx", condition=~models.Q(technique="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.title}"

    @property
    def reference(self) -> str:
        """How a conflict names it (``config.errors.ConflictError``)."""
        return f"The timeline event “{self.title}”"
