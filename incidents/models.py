"""The case: incidents, their members, findings and tasks.

Invariants live here (choices, constraints); every write that spans rows or checks a rule goes
through ``incidents.services``.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Any

import holidays
from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower, Now
from django.urls import reverse
from django.utils import timezone


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


# Sort key: critical first.
SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


class Status(models.TextChoices):
    """NIST SP 800-61 phases."""

    NEW = "new", "New"
    TRIAGE = "triage", "Triage"
    INVESTIGATING = "investigating", "Investigating"
    CONTAINED = "contained", "Contained"
    ERADICATED = "eradicated", "Eradicated"
    RECOVERED = "recovered", "Recovered"
    CLOSED = "closed", "Closed"


# Allowed moves. Going back to investigating is how a failed containment or a reopened case
# is recorded; closing early is allowed from the first phases (false positive, duplicate).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.TRIAGE, Status.INVESTIGATING, Status.CLOSED),
    Status.TRIAGE: (Status.INVESTIGATING, Status.CLOSED),
    Status.INVESTIGATING: (Status.CONTAINED, Status.CLOSED),
    Status.CONTAINED: (Status.ERADICATED, Status.INVESTIGATING),
    Status.ERADICATED: (Status.RECOVERED, Status.INVESTIGATING),
    Status.RECOVERED: (Status.CLOSED, Status.INVESTIGATING),
    Status.CLOSED: (Status.INVESTIGATING,),
}

OPEN_STATUSES = tuple(s for s in Status.values if s != Status.CLOSED)


class Category(models.TextChoices):
    THIRD_PARTY = "third_party", "Third-party compromise"
    MALWARE = "malware", "Malware"
    RANSOMWARE = "ransomware", "Ransomware"
    PHISHING = "phishing", "Phishing"
    ACCOUNT_COMPROMISE = "account_compromise", "Account compromise"
    DATA_EXFILTRATION = "data_exfiltration", "Data exfiltration"
    UNAUTHORIZED_ACCESS = "unauthorized_access", "Unauthorized access"
    DENIAL_OF_SERVICE = "denial_of_service", "Denial of service"
    INSIDER = "insider", "Insider threat"
    VULNERABILITY = "vulnerability", "Vulnerability exploitation"
    OTHER = "other", "Other"


class Resolution(models.TextChoices):
    """How a case ended; asked for when closing."""

    TRUE_POSITIVE = "true_positive", "True positive"
    FALSE_POSITIVE = "false_positive", "False positive"
    DUPLICATE = "duplicate", "Duplicate"
    BENIGN = "benign", "Benign"
    OUT_OF_SCOPE = "out_of_scope", "Out of scope"


class ReferenceCounter(models.Model):
    """Last number handed out per year; incremented under a row lock by ``incident_open``."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class RestrictedReferenceCounter(models.Model):
    """The same for incidents restricted when they are opened: their own series (IRR-YYYY-NNNN),
    so the IR- series people without need-to-know page through has no gaps that would count the
    restricted ones and date them (docs/architecture.md, "References")."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


REFERENCE_PREFIX = "IR"
RESTRICTED_REFERENCE_PREFIX = "IRR"


def format_reference(year: int, number: int, *, restricted: bool = False) -> str:
    """IR-2026-0042 (IRR-2026-0007 in the restricted series): the human reference (matched in
    URLs by ``converters.REFERENCE_REGEX``)."""
    prefix = RESTRICTED_REFERENCE_PREFIX if restricted else REFERENCE_PREFIX
    return f"{prefix}-{year}-{number:04d}"


# The fields people and integrations set on an incident, when opening it and later: the one
# list that incident_open, incident_update, the browser forms, the API serializers and the admin
# all read (in the order forms show them). Status has its own service (incident_transition);
# the milestones, reference and version are stamped by the system.
INCIDENT_EDITABLE_FIELDS: tuple[str, ...] = (
    "title",
    "severity",
    "category",
    "lead",
    "detected_at",
    "summary",
    "restricted",
    "personal_data",
    "records_affected",
)
# Of those, the ones that decide who can see and change the incident (Action.MANAGE_ACCESS).
INCIDENT_ACCESS_FIELDS = frozenset({"restricted", "lead"})

# Milestones across reopenings (see docs/architecture.md, "Milestones"):
# - acknowledged_at: the first acknowledgement; never cleared, not tied to a status.
# - contained_at: when the *current* containment was achieved; cleared when the case falls back
#   to investigating (containment failed) or is reopened.
# - resolved_at: when the case was *last* recovered (or closed without recovery); cleared on a
#   fall-back or reopening.
# - closed_at: set exactly while the status is closed.
_UNCONTAINED = ("new", "triage", "investigating")
_CONTAINED = ("contained", "eradicated", "recovered")
_UNRESOLVED = ("new", "triage", "investigating", "contained", "eradicated")


class IncidentManager(models.Manager["Incident"]):
    """Leaves the stored search documents (``search_*``) in the database: only SQL reads them
    (``incidents/search.py``), they can be larger than the rest of the row, and a ``save()`` of an
    instance that loaded them would write back copies that a concurrent refresh made stale."""

    def get_queryset(self) -> models.QuerySet[Incident]:
        return super().get_queryset().defer("search_document", "search_findings", "search_internal")


class Incident(models.Model):
    reference = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, validators=[MaxLengthValidator(50_000)], help_text="Markdown")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)

    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_incidents"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="opened_incidents"
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="incidents")

    restricted = models.BooleanField(default=False, help_text="Need-to-know: visible to members only.")
    tags = models.ManyToManyField("Tag", blank=True, related_name="incidents")
    playbook = models.ForeignKey(
        "Playbook", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents",
        help_text="The playbook it was opened from.",
    )  # fmt: skip

    # Set when closing (incident_close), cleared when reopening.
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    closing_summary = models.TextField(blank=True, validators=[MaxLengthValidator(20_000)], help_text="Markdown")
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    personal_data = models.BooleanField(default=False, help_text="Personal data may be affected.")
    records_affected = models.PositiveBigIntegerField(null=True, blank=True)

    # Milestones, stamped by incident_transition (detected_at and reported_at at opening).
    detected_at = models.DateTimeField(default=timezone.now)
    reported_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Optimistic locking: every write bumps it; a write carrying an older value is refused.
    version = models.PositiveIntegerField(default=1)
    # What ``?q=`` searches (incidents/search.py), kept current by the services on every write to
    # the text in them; PostgreSQL only (NULL on SQLite, which searches with icontains). The
    # incident's own text, weighted for ranking (title A, tags B, summary C); its findings apart,
    # matched but not ranked, the internal ones on their own so a vendor's search never reads them.
    search_document = SearchVectorField(null=True, editable=False)
    search_findings = SearchVectorField(null=True, editable=False)
    search_internal = SearchVectorField(null=True, editable=False)

    objects = IncidentManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The default list: newest first.
            models.Index(fields=["-created_at", "-id"], name="incident_recent_idx"),
            # List filters on status (open work) and severity.
            models.Index(fields=["status", "-created_at"], name="incident_status_idx"),
            models.Index(fields=["severity", "-created_at"], name="incident_severity_idx"),
            # The dashboard's and the metrics API's closed incidents per week: WHERE closed_at
            # >= start AND closed_at < end (incidents.metrics). Partial: open ones have none.
            models.Index(fields=["closed_at"], name="incident_closed_idx", condition=models.Q(closed_at__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="incident_status_valid"),
            models.CheckConstraint(condition=models.Q(category__in=Category.values), name="incident_category_valid"),
            models.CheckConstraint(
                condition=models.Q(status="closed", closed_at__isnull=False)
                | (~models.Q(status="closed") & models.Q(closed_at__isnull=True)),
                name="incident_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=_UNCONTAINED) | models.Q(contained_at__isnull=True),
                name="incident_uncontained_has_no_contained_at",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=_CONTAINED) | models.Q(contained_at__isnull=False),
                name="incident_contained_has_contained_at",
            ),
            models.CheckConstraint(
                condition=models.Q(status="closed") | models.Q(resolution="", duplicate_of__isnull=True),
                name="incident_resolution_only_when_closed",
            ),
            models.CheckConstraint(
                condition=~models.Q(resolution="duplicate") | models.Q(duplicate_of__isnull=False),
                name="incident_duplicate_names_the_original",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=_UNRESOLVED, resolved_at__isnull=True)
                | (~models.Q(status__in=_UNRESOLVED) & models.Q(resolved_at__isnull=False)),
                name="incident_resolved_at_iff_recovered_or_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", kwargs={"reference": self.reference})

    @property
    def is_open(self) -> bool:
        return self.status != Status.CLOSED

    @property
    def allowed_transitions(self) -> tuple[str, ...]:
        return TRANSITIONS[self.status]


class MemberRole(models.TextChoices):
    LEAD = "lead", "Lead"
    RESPONDER = "responder", "Responder"
    OBSERVER = "observer", "Observer"


class Membership(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=MemberRole.choices, default=MemberRole.RESPONDER)
    added_at = models.DateTimeField(default=timezone.now)
    # An invited outsider's access ends then (accounts.invitations); NULL: until removed.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "user"], name="membership_unique")]
        # "Incidents I work on" (home page, mine filter) look memberships up by user.
        indexes = [models.Index(fields=["user", "incident"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} on {self.incident_id} ({self.role})"


def current_memberships() -> models.QuerySet[Membership]:
    """Memberships still in force: an invited outsider's ends at ``expires_at`` (the database's
    clock, so a query never sees an expired one whatever the expiry task has done yet)."""
    return Membership.objects.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=Now()))


def member_of(user: Any) -> models.Q:
    """Incidents ``user`` is a member of, as ``pk IN (memberships)``: the same rows as a correlated
    EXISTS, but PostgreSQL costs COUNT(*) of the EXISTS form above ``jit_above_cost`` and would
    JIT-compile it on every list request. For "unrestricted, or a member" see ``open_to``."""
    return models.Q(pk__in=current_memberships().filter(user=user).values("incident_id"))


def open_to(user: Any) -> models.Q:
    """Incidents that are not restricted or that ``user`` is a member of: the visibility rule of
    staff (``selectors.incidents_visible_to``).

    The membership is probed row by row through the unique (incident, user) index, and only for
    the restricted incidents read: ``NOT restricted OR (SELECT true FROM membership WHERE
    incident_id = incident.id AND user_id = … LIMIT 1)``. Not ``pk IN (memberships)``, which
    PostgreSQL runs as a hash of all the user's memberships, built on every query: 4-5 ms for a
    lead on 27,000 incidents, more than a whole search page costs. Counts over the whole table
    pay about 10% more this way; PostgreSQL prices them above ``jit_above_cost``, and the settings
    turn JIT off."""
    mine = current_memberships().filter(incident=models.OuterRef("pk"), user=user).values(flag=models.Value(True))[:1]
    return models.Q(restricted=False) | models.Q(models.Subquery(mine, output_field=models.BooleanField()))


def works_on(user: Any) -> models.Q:
    """Incidents ``user`` leads or is a member of: "mine" in lists and on the home page."""
    return models.Q(lead=user) | member_of(user)


class SharedContent(models.Model):
    """Case content that may be hidden from vendor collaborators: findings and tasks now,
    evidence, indicators and timeline events later. One field, one selector filter
    (``selectors.shared_with``); a new kind of content inherits it rather than re-inventing it."""

    internal = models.BooleanField(
        default=False, help_text="Internal: hidden from vendor collaborators invited to the incident."
    )

    class Meta:
        abstract = True


class Finding(SharedContent):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="findings")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(validators=[MaxLengthValidator(50_000)], help_text="Markdown")
    critical = models.BooleanField(default=False, help_text="Critical: the incident's members are told at once.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Finding {self.pk} on {self.incident_id}"


class TaskStatus(models.TextChoices):
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


# Tasks still to be worked on (the home page, overdue flags, "open tasks" when closing).
OPEN_TASK_STATUSES = (TaskStatus.TODO, TaskStatus.IN_PROGRESS)


class Task(SharedContent):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    due_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.TODO)
    # ``done`` is ``status == done``, kept as a column (CHECK below) because ticking is the
    # everyday action and "not done" is what lists sort and filter on.
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["done", "due_on", "id"]
        # "My open tasks" on the home page.
        indexes = [models.Index(fields=["assignee", "done"], name="task_assignee_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=TaskStatus.values), name="task_status_valid"),
            models.CheckConstraint(
                condition=models.Q(status="done", done=True, done_at__isnull=False)
                | (~models.Q(status="done") & models.Q(done=False, done_at__isnull=True)),
                name="task_done_iff_status_done",
            ),
            models.CheckConstraint(
                condition=models.Q(status="cancelled") | models.Q(cancel_reason=""),
                name="task_cancel_reason_only_when_cancelled",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES

    def is_overdue(self, today: Any = None) -> bool:
        today = today or timezone.localdate()
        return self.is_open and self.due_on is not None and self.due_on < today


class TaskNote(models.Model):
    """The short log of a task: what was tried, what is blocking."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(validators=[MaxLengthValidator(5_000)])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note {self.pk} on task {self.task_id}"


class Tag(models.Model):
    """A free label on incidents, normalized to lower case (``incidents.services.tags_normalize``)."""

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Playbook(models.Model):
    """A case template: opening an incident from it sets its defaults and creates its tasks."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    summary = models.TextField(blank=True, help_text="Markdown skeleton copied into the summary.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlaybookTask(models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="tasks")
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    due_after = models.DurationField(null=True, blank=True, help_text="Due this long after opening, e.g. 4:00:00.")
    internal = models.BooleanField(default=True, help_text="Hidden from vendor collaborators.")

    class Meta:
        ordering = ["playbook", "position", "id"]

    def __str__(self) -> str:
        return self.title


class Verb(models.TextChoices):
    """Every kind of activity entry; each has one constructor in ``incidents.events``."""

    OPENED = "opened", "Opened"
    STATUS_CHANGED = "status_changed", "Status changed"
    UPDATED = "updated", "Updated"
    FINDING_ADDED = "finding_added", "Finding added"
    TASK_ADDED = "task_added", "Task added"
    TASK_UPDATED = "task_updated", "Task updated"
    TASK_DONE = "task_done", "Task done or reopened"
    TASK_STATUS_CHANGED = "task_status_changed", "Task status changed"
    TASK_NOTE_ADDED = "task_note_added", "Task note added"
    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Reopened"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_REMOVED = "member_removed", "Member removed"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Member role changed"
    EVIDENCE_ADDED = "evidence_added", "Evidence added"
    EVIDENCE_TRANSFERRED = "evidence_transferred", "Evidence transferred"
    EVIDENCE_PURGED = "evidence_purged", "Evidence files purged"
    LEGAL_HOLD_SET = "legal_hold_set", "Legal hold placed"
    LEGAL_HOLD_CLEARED = "legal_hold_cleared", "Legal hold released"
    INDICATORS_ADDED = "indicators_added", "Indicators added"
    INDICATOR_UPDATED = "indicator_updated", "Indicator updated"
    VENDOR_INVOLVED = "vendor_involved", "Vendor involved"
    VENDOR_ROLE_CHANGED = "vendor_role_changed", "Vendor role changed"
    VENDOR_REMOVED = "vendor_removed", "Vendor removed"
    VENDOR_ACCESS_ADDED = "vendor_access_added", "Vendor access added"
    VENDOR_ACCESS_STEPPED = "vendor_access_stepped", "Vendor access step"
    CONTAINMENT_OVERRIDDEN = "containment_overridden", "Containment guard overridden"
    VENDOR_QUESTION_ASKED = "vendor_question_asked", "Question to a vendor"
    VENDOR_QUESTION_ANSWERED = "vendor_question_answered", "Vendor question answered"
    SCOPE_ADDED = "scope_added", "Affected scope added"
    SCOPE_REMOVED = "scope_removed", "Affected scope removed"
    TIMELINE_EVENT_ADDED = "timeline_event_added", "Timeline events added"
    TIMELINE_EVENT_UPDATED = "timeline_event_updated", "Timeline event updated"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ESCALATED = "escalated", "Escalation step paged"
    SLA_BREACHED = "sla_breached", "SLA breached"
    REGIME_DECIDED = "regime_decided", "Regulatory decision"
    DEADLINE_SET = "deadline_set", "Deadline clock set"
    NOTICE_DRAFTED = "notice_drafted", "Notice drafted"
    NOTICE_REVISED = "notice_revised", "Notice revised"
    NOTICE_APPROVED = "notice_approved", "Notice approved"
    NOTICE_SENT = "notice_sent", "Notice sent"


def _task_status_text(value: Any) -> str:
    """A task status as the activity log says it ("in progress"), whatever an old entry holds."""
    return TaskStatus(value).label.lower() if value in TaskStatus.values else str(value)


def _vendor_role_text(value: Any) -> str:
    """A vendor's role as the activity log says it ("entry point"), whatever an old entry holds."""
    return VendorRole(value).label.lower() if value in VendorRole.values else str(value)


def _access_state_text(value: Any) -> str:
    """An access state as the activity log says it ("verified unused")."""
    labels = {"active": "active", "revoked": "revoked", "rotated": "rotated", "verified_unused": "verified unused"}
    return labels.get(value, str(value))


def _moment_text(value: Any) -> str:
    """An ISO 8601 time kept in an activity entry, as people read it ("26 Nov 2026 04:32 UTC")."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return timezone.localtime(moment).strftime("%-d %b %Y %H:%M %Z") if timezone.is_aware(moment) else str(value)


def _change_text(field: str, change: dict[str, Any]) -> str:
    if field == "summary":
        return "the summary"  # up to 50,000 characters: the entry keeps it, the line does not show it

    def shown(value: Any) -> str:
        if isinstance(value, list):  # tags
            return ", ".join(str(item) for item in value) or "—"
        return "—" if value in (None, "") else str(value)

    return f"{field.replace('_', ' ')} from {shown(change.get('old'))} to {shown(change.get('new'))}"


class Activity(SharedContent):
    """Who changed what on an incident (the audit view, distinct from the attack timeline).

    Rows are written only by the constructors in ``incidents.events``; ``data`` holds what
    changed, old → new, so escalation and audit can read it. ``internal`` entries (about
    internal content, people and access) are hidden from vendor collaborators like any other
    shared content.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    verb = models.CharField(max_length=32, choices=Verb.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.verb} on {self.incident_id}"

    @property
    def text(self) -> str:
        d = self.data
        who = d.get("name") or d.get("username")
        match self.verb:
            case Verb.OPENED:
                return f"opened the incident ({d.get('severity')})"
            case Verb.STATUS_CHANGED:
                return f"moved it from {d.get('old')} to {d.get('new')}"
            case Verb.UPDATED:
                changes = d.get("changes", {})
                if not changes:  # entries written before old → new was kept name the fields only
                    return "changed " + ", ".join(d.get("fields", []))
                return "changed " + ", ".join(_change_text(field, change) for field, change in sorted(changes.items()))
            case Verb.FINDING_ADDED:
                return "added a finding"
            case Verb.TASK_ADDED:
                return f"added the task “{d.get('title')}”"
            case Verb.TASK_UPDATED:
                changes = d.get("changes", {})
                fields = ", ".join(_change_text(field, change) for field, change in sorted(changes.items()))
                return f"changed the task “{d.get('title')}”: {fields}"
            case Verb.TASK_DONE:
                return f"{'completed' if d.get('done') else 'reopened'} the task “{d.get('title')}”"
            case Verb.TASK_STATUS_CHANGED:
                reason = f": {d['reason']}" if d.get("reason") else ""
                old, new = (_task_status_text(d.get(key)) for key in ("old", "new"))
                return f"moved the task “{d.get('title')}” from {old} to {new}{reason}"
            case Verb.TASK_NOTE_ADDED:
                return f"added a note to the task “{d.get('title')}”"
            case Verb.CLOSED:
                duplicate = f" of {d['duplicate_of']}" if d.get("duplicate_of") else ""
                return f"closed it as {str(d.get('resolution', '')).replace('_', ' ')}{duplicate}"
            case Verb.REOPENED:
                return f"reopened it: {d.get('reason')}"
            case Verb.MEMBER_ADDED:
                return f"added {who} as {d.get('role')}"
            case Verb.MEMBER_REMOVED:
                if d.get("reason") == "expired":
                    return f"ended {who}'s access: it expired (was {d.get('role')})"
                return f"removed {who} (was {d.get('role')})"
            case Verb.MEMBER_ROLE_CHANGED:
                return f"made {who} {d.get('new')} (was {d.get('old')})"
            case Verb.EVIDENCE_ADDED:
                return f"added the evidence “{d.get('name')}”"
            case Verb.EVIDENCE_TRANSFERRED:
                return f"transferred the evidence “{d.get('name')}” to {d.get('recipient')}: {d.get('reason')}"
            case Verb.EVIDENCE_PURGED:
                count = d.get("count", 0)
                return f"purged {count} evidence file{'' if count == 1 else 's'} of the closed incident"
            case Verb.LEGAL_HOLD_SET:
                return f"placed the incident under legal hold: {d.get('reason')}"
            case Verb.LEGAL_HOLD_CLEARED:
                return f"released the legal hold: {d.get('reason')}"
            case Verb.INDICATORS_ADDED:
                shown = ", ".join(d.get("values", []))
                count = d.get("count", 0)
                if count == 1:
                    return f"added the indicator {shown}"
                more = f" and {count - len(d.get('values', []))} more" if count > len(d.get("values", [])) else ""
                return f"added {count} indicators: {shown}{more}"
            case Verb.INDICATOR_UPDATED:
                changes = d.get("changes", {})
                fields = ", ".join(_change_text(field, change) for field, change in sorted(changes.items()))
                return f"changed the indicator {d.get('indicator')}: {fields}"
            case Verb.VENDOR_INVOLVED:
                reference = f" (their reference {d['vendor_reference']})" if d.get("vendor_reference") else ""
                return f"added the vendor {d.get('vendor')} as {_vendor_role_text(d.get('role'))}{reference}"
            case Verb.VENDOR_ROLE_CHANGED:
                changes = d.get("changes", {})
                fields = ", ".join(_change_text(field, change) for field, change in sorted(changes.items()))
                return f"changed the vendor {d.get('vendor')}: {fields}"
            case Verb.VENDOR_REMOVED:
                return f"removed the vendor {d.get('vendor')} (was {_vendor_role_text(d.get('role'))})"
            case Verb.VENDOR_ACCESS_ADDED:
                labels = d.get("labels", [])
                source = " from the registry" if d.get("from_registry") else ""
                return f"added {d.get('vendor')}'s access{source}: {', '.join(labels)}"
            case Verb.VENDOR_ACCESS_STEPPED:
                note = f": {d['note']}" if d.get("note") else ""
                old, new = (_access_state_text(d.get(key)) for key in ("old", "new"))
                return f"moved {d.get('vendor')}'s {d.get('label')} from {old} to {new}{note}"
            case Verb.CONTAINMENT_OVERRIDDEN:
                labels = ", ".join(item.get("label", "") for item in d.get("items", []))
                return f"marked it contained with vendor access still active ({labels}): {d.get('reason')}"
            case Verb.VENDOR_QUESTION_ASKED:
                return f"asked {d.get('vendor')}: “{d.get('question')}” (due {d.get('due_at')})"
            case Verb.VENDOR_QUESTION_ANSWERED:
                return f"recorded {d.get('vendor')}'s answer to “{d.get('question')}”"
            case Verb.SCOPE_ADDED:
                return f"added the affected {str(d.get('kind', '')).replace('_', ' ')} {d.get('name')}"
            case Verb.SCOPE_REMOVED:
                return f"removed the affected {str(d.get('kind', '')).replace('_', ' ')} {d.get('name')}"
            case Verb.TIMELINE_EVENT_ADDED:
                count = d.get("count", 0)
                via = f" from {d['import_file']}" if d.get("import_file") else ""
                if count == 1:
                    return f"added the timeline event “{d.get('title')}”{via}"
                return f"added {count} timeline events{via}"
            case Verb.TIMELINE_EVENT_UPDATED:
                changes = d.get("changes", {})
                fields = ", ".join(_change_text(field, change) for field, change in sorted(changes.items()))
                return f"changed the timeline event “{d.get('title')}”: {fields}"
            case Verb.ACKNOWLEDGED:
                return f"acknowledged the incident ({d.get('channel_label', d.get('channel'))})"
            case Verb.ESCALATED:
                paged = ", ".join(d.get("paged", [])) or "nobody reachable"
                return f"escalation “{d.get('policy')}” step {d.get('step')} paged {paged}"
            case Verb.SLA_BREACHED:
                return f"breached the {d.get('label', d.get('kind'))} SLA (due {d.get('due_at')})"
            case Verb.REGIME_DECIDED:
                decision = d.get("decision_label", d.get("decision"))
                return f"decided {d.get('regime')}: {decision} — {d.get('reason') or 'no reason given'}"
            case Verb.DEADLINE_SET:
                start = f"{d.get('start_event')} at {_moment_text(d.get('started_at'))}"
                due = _moment_text(d.get("due_at"))
                return f"set the {d.get('regime')} {d.get('stage')} clock from {start}: due {due}"
            case Verb.NOTICE_DRAFTED:
                return f"drafted the notice “{d.get('title')}”"
            case Verb.NOTICE_REVISED:
                return f"revised the notice “{d.get('title')}” (version {d.get('version')})"
            case Verb.NOTICE_APPROVED:
                return f"approved version {d.get('version')} of the notice “{d.get('title')}”"
            case Verb.NOTICE_SENT:
                return f"recorded the notice “{d.get('title')}” as sent to {d.get('recipient')} ({d.get('channel')})"
        return self.verb


# --- Evidence and its chain of custody (incidents/evidence/, docs/architecture.md "Evidence") --
PRIVILEGE_MARKING = "Privileged & confidential — prepared at the direction of counsel"


class EvidenceKind(models.TextChoices):
    FILE = "file", "File"
    TEXT = "text", "Text excerpt"


class CustodyAction(models.TextChoices):
    COLLECT = "collect", "Collected"
    ACCESS = "access", "Accessed"
    TRANSFER = "transfer", "Transferred"
    EXPORT = "export", "Exported in a manifest"
    VERIFY = "verify", "Verified"
    PURGE = "purge", "File purged"


class AppendOnlyQuerySet(models.QuerySet):
    """Evidence and custody rows are written once: a bulk ``update()`` may touch only the
    bookkeeping columns in ``updatable`` (the chain's head, the purge stamp), and ``delete()`` is
    refused. Tampering therefore needs raw SQL, which ``verify_evidence`` detects."""

    updatable: frozenset[str] = frozenset()

    def update(self, **kwargs: Any) -> int:
        refused = sorted(set(kwargs) - self.updatable)
        if refused:
            raise TypeError(f"{self.model.__name__} rows are append-only: {', '.join(refused)} cannot be changed.")
        return super().update(**kwargs)

    def delete(self) -> Any:
        raise TypeError(f"{self.model.__name__} rows are never deleted.")


class EvidenceQuerySet(AppendOnlyQuerySet):
    updatable = frozenset({"custody_head", "custody_count", "purged_at"})


class Evidence(SharedContent):
    """A file (streamed to the ``evidence`` storage, hashed while streaming) or a text excerpt.

    Written once by ``incidents.evidence.services``; afterwards only the custody bookkeeping
    changes (``custody_head``/``custody_count`` with each ``CustodyEvent``, ``purged_at`` when a
    closed incident's files are purged). Nothing here is edited or deleted through the app.
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=8, choices=EvidenceKind.choices)
    # The original file name, sanitized (incidents.evidence.uploads.clean_name), or a text's title.
    name = models.CharField(max_length=255)
    # Where the bytes are in the evidence storage; empty for text.
    stored_name = models.CharField(max_length=255, blank=True, editable=False)
    text = models.TextField(blank=True, editable=False)
    size = models.PositiveBigIntegerField()
    # Sniffed from the bytes (never the client's claim); application/octet-stream when unknown.
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    md5 = models.CharField(max_length=32)
    sha1 = models.CharField(max_length=40)
    collected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    collected_at = models.DateTimeField(default=timezone.now)
    added_at = models.DateTimeField(default=timezone.now)
    source_system = models.CharField(max_length=200, blank=True)
    # Whose environment or hands it came from (optional). Sharing an item with a vendor
    # collaborator shares this label too.
    vendor = models.ForeignKey(
        "Vendor", null=True, blank=True, on_delete=models.PROTECT, related_name="evidence",
        help_text="The vendor it came from, if any.",
    )  # fmt: skip
    description = models.TextField(blank=True, validators=[MaxLengthValidator(5_000)])
    privileged = models.BooleanField(default=False, help_text="Legal privilege: prepared at the direction of counsel.")
    malware = models.BooleanField(default=False, help_text="Live malware: downloaded only inside a protected ZIP.")
    # The chain of custody's head: SHA-256 of the content before the first event, then the hash
    # of the last event; with the count, deleting the last event is detectable too.
    custody_head = models.CharField(max_length=64, editable=False)
    custody_count = models.PositiveIntegerField(default=0, editable=False)
    purged_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = EvidenceQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "evidence"
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=EvidenceKind.values), name="evidence_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(kind="text", stored_name="") | models.Q(kind="file", text=""),
                name="evidence_file_or_text",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.incident_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Evidence is never edited: custody changes go through incidents.evidence.services.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Evidence is never deleted (a closed incident's files are purged, the row stays).")

    @property
    def privilege_marking(self) -> str:
        return PRIVILEGE_MARKING if self.privileged else ""

    @property
    def is_file(self) -> bool:
        return self.kind == EvidenceKind.FILE


class CustodyEvent(models.Model):
    """One link of an evidence item's chain of custody (``incidents.evidence.custody``).

    ``prev_hash`` is the previous event's ``hash`` (the first event's: the content's SHA-256);
    ``hash`` is SHA-256 over the canonical serialization of this row's fields and ``prev_hash``.
    Rows are only ever inserted: ``save()`` refuses updates, the queryset refuses bulk changes.
    """

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="custody_events")
    sequence = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=CustodyAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    # Hashed instead of the foreign key: what the chain says stays true if the account is renamed.
    actor_name = models.CharField(max_length=150)
    at = models.DateTimeField(default=timezone.now)
    recipient = models.CharField(max_length=200, blank=True, help_text="Transfers: to whom.")
    note = models.CharField(max_length=1000, blank=True, help_text="Transfers: why. Others: what happened.")
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["evidence", "sequence"]
        constraints = [
            # One chain per evidence item, no forks: also the index the trail is read by.
            models.UniqueConstraint(fields=["evidence", "sequence"], name="custody_event_sequence_unique"),
            models.CheckConstraint(condition=models.Q(action__in=CustodyAction.values), name="custody_action_valid"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} of evidence {self.evidence_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Custody events are append-only: a recorded event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Custody events are append-only: a recorded event is never deleted.")


class LegalHold(models.Model):
    """A legal hold on an incident: while one is active (``released_at`` empty) its evidence
    cannot be purged. A row per hold, so who placed and released it, when and why, stays."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="legal_holds")
    reason = models.CharField(max_length=500)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-set_at", "-id"]
        constraints = [
            # At most one active hold per incident; also the index "is it on hold?" reads.
            models.UniqueConstraint(
                fields=["incident"], condition=models.Q(released_at__isnull=True), name="legal_hold_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"Legal hold on {self.incident_id} ({'active' if self.released_at is None else 'released'})"


# --- Indicators of compromise (incidents/indicators/, docs/architecture.md "Indicators") -------
class IndicatorType(models.TextChoices):
    IP = "ip", "IP address or network"
    DOMAIN = "domain", "Domain"
    URL = "url", "URL"
    EMAIL = "email", "E-mail address"
    SHA256 = "sha256", "SHA-256"
    SHA1 = "sha1", "SHA-1"
    MD5 = "md5", "MD5"
    HOSTNAME = "hostname", "Host name"
    ACCOUNT = "account", "Account"
    FILENAME = "filename", "File name"
    USER_AGENT = "user_agent", "User agent"


class Tlp(models.TextChoices):
    """FIRST TLP 2.0; the values are the ``tlp_2_0`` values of the OASIS extension (stix.py)."""

    CLEAR = "clear", "TLP:CLEAR"
    GREEN = "green", "TLP:GREEN"
    AMBER = "amber", "TLP:AMBER"
    AMBER_STRICT = "amber+strict", "TLP:AMBER+STRICT"
    RED = "red", "TLP:RED"


class IndicatorRole(models.TextChoices):
    ATTACKER = "attacker", "Attacker-side"
    AFFECTED = "affected", "Affected asset of ours"


INDICATOR_VALUE_MAX = 2048


class Indicator(SharedContent):
    """An indicator of compromise on an incident: ``value`` is normalized for its ``type``
    (``incidents.indicators.normalize``), so the same thing seen in two incidents is the same
    (type, value) pair, which is what correlation looks up."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="indicators")
    type = models.CharField(max_length=16, choices=IndicatorType.choices)
    value = models.CharField(max_length=INDICATOR_VALUE_MAX)
    role = models.CharField(max_length=10, choices=IndicatorRole.choices, default=IndicatorRole.ATTACKER)
    tlp = models.CharField("TLP", max_length=12, choices=Tlp.choices, default=Tlp.AMBER)
    confidence = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(0), MaxValueValidator(100)], help_text="0-100."
    )
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="Where it came from: a log, a report, a feed.")
    description = models.TextField(blank=True, validators=[MaxLengthValidator(5_000)])
    # The STIX indicator's id in exports (``indicator--<stix_id>``): stable across exports.
    stix_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            # Unique per incident on the normalized value; also the index the panel reads by.
            models.UniqueConstraint(fields=["incident", "type", "value"], name="indicator_unique_per_incident"),
            models.CheckConstraint(condition=models.Q(type__in=IndicatorType.values), name="indicator_type_valid"),
            models.CheckConstraint(condition=models.Q(tlp__in=Tlp.values), name="indicator_tlp_valid"),
            models.CheckConstraint(condition=models.Q(role__in=IndicatorRole.values), name="indicator_role_valid"),
            models.CheckConstraint(condition=models.Q(confidence__lte=100), name="indicator_confidence_range"),
            models.CheckConstraint(
                condition=models.Q(first_seen__isnull=True)
                | models.Q(last_seen__isnull=True)
                | models.Q(first_seen__lte=models.F("last_seen")),
                name="indicator_seen_in_order",
            ),
        ]
        indexes = [
            # Correlation and the lookup endpoint: WHERE type = … AND value = … across incidents.
            models.Index(fields=["type", "value"], name="indicator_type_value_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"

    @property
    def label(self) -> str:
        """How entries and messages name it: ``domain evil.example``."""
        return f"{self.get_type_display().lower()} {self.value}"


# --- Vendors and third parties (incidents/vendors/, docs/architecture.md "Vendors") ------------
class VendorTier(models.TextChoices):
    """How much of us a vendor could hurt: the registry's own rating, not an incident's severity."""

    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


VENDOR_DOMAINS_MAX = 50


class Vendor(models.Model):
    """A third party in the registry, shared across incidents. Written only through
    ``incidents.vendors.services`` (the name's case-insensitive uniqueness, normalized domains).
    Access inventory items, questions and affected scope (issue 9, next slices) hang off a
    ``VendorInvolvement``, and the registry's "known access" will hang off this row."""

    name = models.CharField(max_length=200)
    # Lower-case IDNA (``xn--``) names, normalized like domain indicators
    # (``incidents.indicators.normalize``), de-duplicated, in the order given.
    domains = models.JSONField(default=list, blank=True)
    tier = models.CharField(max_length=10, choices=VendorTier.choices, default=VendorTier.MEDIUM)
    service = models.TextField("what they do for us", blank=True, validators=[MaxLengthValidator(2_000)])
    data_processed = models.TextField(
        "data they process", blank=True, validators=[MaxLengthValidator(2_000)],
        help_text="Categories of our data they hold or process (personal, financial, credentials, …).",
    )  # fmt: skip
    security_contact = models.CharField(max_length=300, blank=True, help_text="Name, e-mail, phone.")
    account_manager = models.CharField(max_length=300, blank=True, help_text="Name, e-mail, phone.")
    contract_reference = models.CharField("contract / DPA reference", max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = [Lower("name"), "id"]
        constraints = [
            # "Northwind" and "NORTHWIND" are one vendor; also the index the name search and the
            # registry's ordering read.
            models.UniqueConstraint(
                Lower("name"),
                name="vendor_name_unique_ci",
                violation_error_message="A vendor with this name is already in the registry.",
            ),
            models.CheckConstraint(condition=models.Q(tier__in=VendorTier.values), name="vendor_tier_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("incidents:vendor-detail", kwargs={"vendor_id": self.pk})


class VendorRole(models.TextChoices):
    """What a vendor was to an incident. An entry point's access is what containment will be
    checked against (the containment guard, issue 9's next slice)."""

    ENTRY_POINT = "entry_point", "Entry point"
    AFFECTED = "affected", "Affected"
    SUPPORTING = "supporting", "Supporting"


class VendorInvolvement(models.Model):
    """A vendor's part in one incident. Its access items, questions and affected scope will
    reference this row (issue 9, next slices), so removing an involvement that has them will
    be refused then; today it deletes the row and records an activity entry."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="vendor_involvements")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="involvements")
    role = models.CharField(max_length=16, choices=VendorRole.choices, default=VendorRole.AFFECTED)
    vendor_reference = models.CharField(
        "vendor's reference", max_length=100, blank=True, help_text="The vendor's own ticket or incident number."
    )
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            # One row per vendor and incident; also the index the incident's panel reads by.
            models.UniqueConstraint(fields=["incident", "vendor"], name="vendor_involvement_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=VendorRole.values), name="vendor_involvement_role_valid"
            ),
        ]
        indexes = [
            # A vendor's page: its incidents, newest first.
            models.Index(fields=["vendor", "incident"], name="vendor_involvement_vendor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor_id} on {self.incident_id} ({self.role})"


# --- Vendor access inventory (issue 9, second slice; docs/architecture.md "Vendors") -----------
class AccessKind(models.TextChoices):
    USER_ACCOUNT = "user_account", "User account"
    SERVICE_ACCOUNT = "service_account", "Service account"
    API_TOKEN = "api_token", "API token"
    OAUTH_GRANT = "oauth_grant", "OAuth grant"
    SSH_KEY = "ssh_key", "SSH key"
    VPN_ACCOUNT = "vpn_account", "VPN account"
    NETWORK_PATH = "network_path", "Network path"
    SHARED_MAILBOX = "shared_mailbox", "Shared mailbox"
    PHYSICAL_BADGE = "physical_badge", "Physical badge"
    OTHER = "other", "Other"


# Access with no secret left to rotate once revoked: a revoked OAuth grant is gone, a closed
# firewall path has no credential, a collected badge is a piece of plastic. These may go from
# revoked straight to verified unused; every other kind is rotated (or replaced) first.
NOTHING_TO_ROTATE = frozenset({AccessKind.OAUTH_GRANT, AccessKind.NETWORK_PATH, AccessKind.PHYSICAL_BADGE})


class AccessState(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    ROTATED = "rotated", "Rotated / replaced"
    VERIFIED_UNUSED = "verified_unused", "Verified unused"


class VendorKnownAccess(models.Model):
    """Access the registry knows a vendor holds into us; copied into an incident's inventory by
    ``vendors.services.access_fill_from_registry``."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="known_access")
    kind = models.CharField(max_length=20, choices=AccessKind.choices)
    system = models.CharField(max_length=200)
    identifier = models.CharField(max_length=300)
    privilege = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True, validators=[MaxLengthValidator(2_000)])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "vendor known access"
        constraints = [
            # Also the index the vendor page and the fill read by.
            models.UniqueConstraint(
                fields=["vendor", "kind", "system", "identifier"], name="vendor_known_access_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=AccessKind.values), name="vendor_known_access_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.identifier} on {self.system}"


class VendorAccess(models.Model):
    """One piece of a vendor's access into us on one incident, moving active → revoked →
    rotated → verified unused one step at a time (``vendors.services.access_step``; each step a
    ``VendorAccessStep``). Written only through the services."""

    involvement = models.ForeignKey(VendorInvolvement, on_delete=models.PROTECT, related_name="access_items")
    kind = models.CharField(max_length=20, choices=AccessKind.choices)
    system = models.CharField(max_length=200)
    identifier = models.CharField(max_length=300)
    privilege = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=AccessState.choices, default=AccessState.ACTIVE)
    # Set with the last step, verified unused: from when nobody used it.
    verified_unused_since = models.DateTimeField(null=True, blank=True)
    known = models.ForeignKey(
        VendorKnownAccess, null=True, blank=True, on_delete=models.SET_NULL, related_name="incident_items"
    )
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    state_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name_plural = "vendor access"
        constraints = [
            # One item per piece of access and involvement; also the index the panel reads by.
            models.UniqueConstraint(
                fields=["involvement", "kind", "system", "identifier"], name="vendor_access_unique"
            ),
            models.CheckConstraint(condition=models.Q(kind__in=AccessKind.values), name="vendor_access_kind_valid"),
            models.CheckConstraint(condition=models.Q(state__in=AccessState.values), name="vendor_access_state_valid"),
            models.CheckConstraint(
                condition=models.Q(state=AccessState.VERIFIED_UNUSED, verified_unused_since__isnull=False)
                | (~models.Q(state=AccessState.VERIFIED_UNUSED) & models.Q(verified_unused_since__isnull=True)),
                name="vendor_access_verified_since",
            ),
        ]
        indexes = [
            # The open-access view and the containment guard: active items.
            models.Index(fields=["state", "involvement"], name="vendor_access_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.identifier}"

    @property
    def label(self) -> str:
        """How the checklist names it: "API token svc-nw-ci"."""
        return f"{self.get_kind_display()} {self.identifier}"


class VendorAccessStep(models.Model):
    """One step of an access item's state, with who, when and how (append-only)."""

    access = models.ForeignKey(VendorAccess, on_delete=models.PROTECT, related_name="steps")
    from_state = models.CharField(max_length=16, choices=AccessState.choices)
    to_state = models.CharField(max_length=16, choices=AccessState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(
        "how / evidence", blank=True, validators=[MaxLengthValidator(2_000)],
        help_text="How it was done or verified (required for verified unused).",
    )  # fmt: skip
    verified_unused_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.access_id}: {self.from_state} → {self.to_state}"


class ContainmentOverride(models.Model):
    """An incident moved to contained while entry-point vendor access was still active: who,
    when, why, and which items (as they were named then)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="containment_overrides")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(validators=[MaxLengthValidator(1_000)])
    # [{"id", "vendor", "kind", "identifier", "label"}] of the items still active.
    items = models.JSONField(default=list)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"override on {self.incident_id} at {self.at:%Y-%m-%d %H:%M}"


# --- Questions to vendors and affected scope (issue 9, third slice) -----------------------------
QUESTION_MAX = 2_000
ANSWER_MAX = 10_000


class VendorQuestion(models.Model):
    """A question to the vendor on one incident, with a due date. Asked by the members working
    the case, answered by the vendor's collaborator (or recorded by staff). Open, answered and
    overdue are derived (``status_at``): overdue is unanswered past its due time."""

    involvement = models.ForeignKey(VendorInvolvement, on_delete=models.PROTECT, related_name="questions")
    question = models.TextField(validators=[MaxLengthValidator(QUESTION_MAX)])
    due_at = models.DateTimeField()
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    asked_at = models.DateTimeField(default=timezone.now)
    answer = models.TextField(blank=True, validators=[MaxLengthValidator(ANSWER_MAX)])
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(answered_at__isnull=True) & models.Q(answer=""))
                | (models.Q(answered_at__isnull=False) & ~models.Q(answer="")),
                name="vendor_question_answered_consistent",
            ),
        ]
        indexes = [models.Index(fields=["involvement", "due_at"], name="vendor_question_inv_idx")]

    def __str__(self) -> str:
        return self.question[:60]

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    def status_at(self, now: Any = None) -> str:
        """``answered``, ``overdue`` (unanswered past due) or ``open``."""
        if self.answered:
            return "answered"
        return "overdue" if self.due_at < (now or timezone.now()) else "open"

    @property
    def status(self) -> str:
        return self.status_at()


class ScopeKind(models.TextChoices):
    SYSTEM = "system", "System"
    ACCOUNT = "account", "Account"
    DATA_SET = "data_set", "Data set"


class DataCategory(models.TextChoices):
    PERSONAL = "personal", "Personal"
    HEALTH = "health", "Health"
    FINANCIAL = "financial", "Financial"
    CREDENTIALS = "credentials", "Credentials"
    MODEL_WEIGHTS_IP = "model_weights_ip", "Model weights / IP"
    OTHER = "other", "Other"


# Categories that are data about people: a scope row carrying any of them makes the incident's
# personal-data flag true and counts its records (vendors.scope.derive).
PERSONAL_CATEGORIES = frozenset({DataCategory.PERSONAL, DataCategory.HEALTH, DataCategory.FINANCIAL})


class AffectedScope(SharedContent):
    """A system, account or data set affected by the incident, with its data categories, record
    count and the jurisdictions (ISO 3166-1 alpha-2) of the people concerned. Written only
    through ``incidents.vendors.scope``, which derives the incident's ``personal_data`` and
    ``records_affected`` from the rows."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="affected_scope")
    kind = models.CharField(max_length=16, choices=ScopeKind.choices)
    name = models.CharField(max_length=200)
    owner = models.CharField(max_length=200, blank=True)
    data_categories = models.JSONField(default=list, blank=True)
    records = models.PositiveBigIntegerField(null=True, blank=True)
    jurisdictions = models.JSONField(default=list, blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name_plural = "affected scope"
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=ScopeKind.values), name="affected_scope_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(records__isnull=True) | models.Q(records__gt=0),
                name="affected_scope_records_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"

    @property
    def personal(self) -> bool:
        return bool(PERSONAL_CATEGORIES & set(self.data_categories or []))

    @property
    def category_labels(self) -> list[str]:
        labels = dict(DataCategory.choices)
        return [str(labels.get(value, value)) for value in self.data_categories or []]


# --- Regulatory register, deadline clocks and notices (incidents/regulatory/, docs "Regulatory") --
class RegimeKind(models.TextChoices):
    """How a regime counts its deadlines (``incidents.regulatory.deadlines``) and which clocks
    "applies" opens (``incidents.regulatory.services.STAGES``)."""

    GDPR_ART33 = "gdpr_art33", "GDPR Art. 33 (supervisory authority)"
    GDPR_ART34 = "gdpr_art34", "GDPR Art. 34 (data subjects)"
    NIS2 = "nis2", "NIS2 Art. 23"
    SEC_8K = "sec_8k", "SEC Form 8-K Item 1.05"
    HIPAA = "hipaa", "HIPAA breach notification"
    CUSTOM = "custom", "Custom (a duration and a day rule)"


class Regime(models.Model):
    """A notification obligation that may apply to an incident. The built-in ones come from
    migration 0016; admins add custom ones (US state laws, contracts) in the admin."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=RegimeKind.choices, default=RegimeKind.CUSTOM)
    authority = models.CharField(max_length=200, help_text="Who is notified: an authority, data subjects, customers.")
    # Custom regimes only: what starts the clock and how it counts.
    start_event_label = models.CharField(max_length=100, blank=True, help_text="Custom: what starts the clock.")
    duration = models.DurationField(null=True, blank=True, help_text="Custom: how long after the starting event.")
    business_days = models.BooleanField(default=False, help_text="Custom: count whole days as business days.")
    timezone = models.CharField(max_length=64, default="UTC", help_text="Where days are counted (IANA name).")
    holiday_country = models.CharField(max_length=8, blank=True, help_text="Custom, business days: e.g. US, DE.")
    notice_template = models.TextField(
        blank=True, validators=[MaxLengthValidator(50_000)], help_text="Markdown; {placeholders} from the incident."
    )
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=RegimeKind.values), name="regime_kind_valid"),
            models.CheckConstraint(
                condition=~models.Q(kind="custom") | models.Q(duration__isnull=False), name="regime_custom_has_duration"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A custom regime needs a positive duration (whole days when counted in business days);
        the zone and the holiday country must exist."""
        errors: dict[str, str] = {}
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = f"Unknown time zone {self.timezone!r} (an IANA name such as Europe/Paris)."
        if self.holiday_country and self.holiday_country.upper() not in holidays.list_supported_countries():
            errors["holiday_country"] = f"Unknown holiday country {self.holiday_country!r} (e.g. US, DE, FR)."
        if self.kind == RegimeKind.CUSTOM:
            if self.duration is None or self.duration.total_seconds() <= 0:
                errors["duration"] = "A custom regime needs a positive duration."
            elif self.business_days and self.duration.total_seconds() % 86400:
                errors["duration"] = "Counted in business days, the duration is a whole number of days."
        if errors:
            raise ValidationError(errors)


class Applicability(models.TextChoices):
    UNDER_ASSESSMENT = "under_assessment", "Under assessment"
    APPLIES = "applies", "Applies"
    DOES_NOT_APPLY = "does_not_apply", "Does not apply"


class RegulatoryAssessment(models.Model):
    """The register: for one incident and one regime, the decision, who took it, when and why
    (GDPR Art. 33(5) asks for every breach and the reasoning). Its history is the incident's
    activity (one ``regime_decided`` entry per decision)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="assessments")
    regime = models.ForeignKey(Regime, on_delete=models.PROTECT, related_name="assessments")
    decision = models.CharField(max_length=20, choices=Applicability.choices)
    reason = models.TextField(blank=True, validators=[MaxLengthValidator(5_000)])
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["regime__position", "regime__name"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "regime"], name="assessment_once_per_regime"),
            models.CheckConstraint(
                condition=models.Q(decision__in=Applicability.values), name="assessment_decision_valid"
            ),
            # "Does not apply" is itself a finding an auditor reads: never without its reasoning.
            models.CheckConstraint(
                condition=~models.Q(decision="does_not_apply") | ~models.Q(reason=""),
                name="assessment_not_applying_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.regime} on {self.incident_id}: {self.decision}"


class StartEvent(models.TextChoices):
    AWARENESS = "awareness", "Awareness"
    DISCOVERY = "discovery", "Discovery"
    DISCOVERY_BY_AGENT = "discovery_by_agent", "Discovery by a vendor acting as our agent"
    MATERIALITY = "materiality", "Materiality determination"
    NOTIFICATION_SUBMITTED = "notification_submitted", "Incident notification submitted"
    OTHER = "other", "Other (see the reason)"


class DeadlineClock(models.Model):
    """One deadline of one regime on one incident: its starting event and time, set by a named
    person with a reason, and the due time computed from them. Reminders and the missed alert go
    through the escalation sweep (``notifications.services``); a sent notice stops it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="deadline_clocks")
    regime = models.ForeignKey(Regime, on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=20, help_text="notification, early_warning, final_report, filing.")
    rule = models.CharField(max_length=24, help_text="incidents.regulatory.deadlines.Rule")
    start_event = models.CharField(max_length=24, choices=StartEvent.choices)
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    start_reason = models.TextField(validators=[MaxLengthValidator(5_000)])
    due_at = models.DateTimeField()
    explanation = models.CharField(max_length=500, blank=True)
    # Seconds before due_at at which the clock reminds; the ones already sent.
    reminder_leads = models.JSONField(default=list)
    reminders_sent = models.JSONField(default=list, blank=True)
    # When the sweep next has something to do for it (a reminder, then the due time); NULL once
    # stopped or missed.
    next_alert_at = models.DateTimeField(null=True, blank=True)
    missed_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by_notice = models.ForeignKey(
        "Notice", null=True, blank=True, on_delete=models.SET_NULL, related_name="stopped_clocks"
    )

    class Meta:
        ordering = ["due_at"]
        constraints = [models.UniqueConstraint(fields=["incident", "regime", "stage"], name="deadline_clock_unique")]
        indexes = [
            # The sweep: WHERE next_alert_at <= now (only running clocks have one).
            models.Index(
                fields=["next_alert_at"], name="deadline_alert_idx", condition=models.Q(next_alert_at__isnull=False)
            ),
            # The dashboard: running clocks by due time.
            models.Index(fields=["due_at"], name="deadline_running_idx", condition=models.Q(stopped_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.regime} {self.stage} on {self.incident_id}"

    @property
    def running(self) -> bool:
        return self.stopped_at is None


class NoticeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    SENT = "sent", "Sent"


class Notice(models.Model):
    """A notification to an authority, data subjects or customers: drafted from the regime's
    template, versioned, legally privileged until sent, approved by a named approver (counsel
    sign-off) for one version, then recorded as sent, which stops the clock of its stage."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notices")
    regime = models.ForeignKey(Regime, on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=20, blank=True, help_text="The clock it answers; blank for none.")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.DRAFT)
    version = models.PositiveIntegerField(default=1)
    body = models.TextField(validators=[MaxLengthValidator(100_000)], help_text="Markdown")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_version = models.PositiveIntegerField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_channel = models.CharField(max_length=100, blank=True, help_text="Portal, e-mail, letter…")
    recipient = models.CharField(max_length=200, blank=True, help_text="The authority or audience it went to.")
    authority_reference = models.CharField(max_length=200, blank=True, help_text="Their reference for it.")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=NoticeStatus.values), name="notice_status_valid"),
            models.CheckConstraint(
                condition=models.Q(status="draft")
                | models.Q(approved_by__isnull=False, approved_version__isnull=False),
                name="notice_approved_has_approver",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False), name="notice_sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    @property
    def privileged(self) -> bool:
        """Legally privileged until sent (then it is what the authority received)."""
        return self.status != NoticeStatus.SENT


class NoticeVersion(models.Model):
    """Every saved text of a notice, kept: what was approved and what was sent stay readable."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["notice", "number"]
        constraints = [models.UniqueConstraint(fields=["notice", "number"], name="notice_version_unique")]

    def __str__(self) -> str:
        return f"{self.notice_id} v{self.number}"
