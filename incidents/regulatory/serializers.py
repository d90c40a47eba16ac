"""Serializers of the notification register API (``incidents/regulatory/api.py``).

Read serializers render what the selectors return (``RegisterRow``, ``DeadlineClock``,
``Notice``); write serializers only parse a request body (``StrictFieldsMixin``: an unknown or
read-only key is a 400 naming it) and hand it to a service, which applies the rules.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.serializers import StrictFieldsMixin
from incidents.models import (
    Applicability,
    DeadlineClock,
    Notice,
    NoticeStatus,
    NoticeVersion,
    Regime,
    RegimeKind,
    StartEvent,
)

from .selectors import RegisterRow
from .services import REASON_MAX


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise serializers.ValidationError("Null characters are not allowed.")
    return value


def _username(user) -> str | None:
    return user.username if user is not None else None


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its UTC offset: DRF would read a naive one in the
    server's zone, and a deadline computed from a guessed zone is off by hours."""

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            raise serializers.ValidationError(
                "Give the time with its UTC offset (e.g. 2026-03-02T14:05:00+01:00 or …Z): a time without one "
                "is ambiguous."
            )
        return super().enforce_timezone(value)


# --- Reads ------------------------------------------------------------------------------------
class StageSerializer(serializers.Serializer):
    name = serializers.CharField(
        help_text="The clock's name in URLs: notification, early_warning, final_report, filing."
    )
    label = serializers.CharField()


class ClockSerializer(serializers.ModelSerializer):
    regime = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    start_event = serializers.ChoiceField(choices=StartEvent.choices, read_only=True)
    started_by = serializers.SerializerMethodField(help_text="Who set the starting time (null: a deleted account).")
    running = serializers.BooleanField(read_only=True, help_text="False once stopped (a notice sent, or not applying).")
    reminder_leads = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text="Seconds before due_at at which it reminds."
    )
    reminders_sent = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text="The lead times already reminded (or past)."
    )
    stopped_by_notice = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The notice whose sending stopped it."
    )

    class Meta:
        model = DeadlineClock
        fields = [
            "regime", "stage", "rule", "start_event", "started_at", "started_by", "start_reason", "due_at",
            "explanation", "running", "reminder_leads", "reminders_sent", "next_alert_at", "missed_at", "stopped_at",
            "stopped_by_notice",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_started_by(self, clock: DeadlineClock) -> str | None:
        return _username(clock.started_by)


class NoticeSummarySerializer(serializers.ModelSerializer):
    """A notice as lists show it: everything but its text and its versions."""

    regime = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    status = serializers.ChoiceField(choices=NoticeStatus.choices, read_only=True)
    privileged = serializers.BooleanField(read_only=True, help_text="Legally privileged: true until it is sent.")
    approved_by = serializers.SerializerMethodField()
    sent_by = serializers.SerializerMethodField()

    class Meta:
        model = Notice
        fields = [
            "id", "regime", "stage", "title", "status", "version", "privileged", "approved_by", "approved_at",
            "approved_version", "sent_by", "sent_at", "sent_channel", "recipient", "authority_reference",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_approved_by(self, notice: Notice) -> str | None:
        return _username(notice.approved_by)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_sent_by(self, notice: Notice) -> str | None:
        return _username(notice.sent_by)


class NoticeVersionSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = NoticeVersion
        fields = ["number", "author", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_author(self, version: NoticeVersion) -> str | None:
        return _username(version.author)


class NoticeSerializer(NoticeSummarySerializer):
    """One notice: its current text (Markdown) and the list of its saved versions."""

    created_by = serializers.SerializerMethodField()
    versions = NoticeVersionSerializer(many=True, read_only=True)

    class Meta(NoticeSummarySerializer.Meta):
        fields = [*NoticeSummarySerializer.Meta.fields, "created_by", "body", "versions"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, notice: Notice) -> str | None:
        return _username(notice.created_by)


class RegisterRowSerializer(serializers.Serializer):
    """One regime on one incident (``selectors.RegisterRow``)."""

    slug = serializers.CharField(source="regime.slug")
    name = serializers.CharField(source="regime.name")
    kind = serializers.ChoiceField(choices=RegimeKind.choices, source="regime.kind")
    authority = serializers.CharField(source="regime.authority")
    decision = serializers.SerializerMethodField(help_text="null: not assessed yet.")
    reason = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()
    decided_at = serializers.SerializerMethodField()
    stages = StageSerializer(many=True, help_text="The clocks this regime opens when it applies.")
    clocks = ClockSerializer(many=True)
    notices = NoticeSummarySerializer(many=True)

    def to_representation(self, row: RegisterRow) -> dict:
        # The row's clocks and notices are its regime's: hand them the regime already read
        # instead of one query each for its slug.
        for item in [*row.clocks, *row.notices]:
            item.regime = row.regime
        return super().to_representation(row)

    @extend_schema_field(serializers.ChoiceField(choices=Applicability.choices, allow_null=True))
    def get_decision(self, row: RegisterRow) -> str | None:
        return row.assessment.decision if row.assessment else None

    @extend_schema_field(serializers.CharField())
    def get_reason(self, row: RegisterRow) -> str:
        return row.assessment.reason if row.assessment else ""

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decided_by(self, row: RegisterRow) -> str | None:
        return _username(row.assessment.decided_by) if row.assessment else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_decided_at(self, row: RegisterRow) -> datetime | None:
        return row.assessment.decided_at if row.assessment else None


# --- Writes -----------------------------------------------------------------------------------
class DecisionWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    decision = serializers.ChoiceField(choices=Applicability.choices)
    reason = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=REASON_MAX, validators=[_no_nul],
        help_text="Why: required for does_not_apply (the reasoning is part of the register).",
    )  # fmt: skip

    read_only_names = frozenset(RegisterRowSerializer().fields)


class ClockWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    start_event = serializers.ChoiceField(choices=StartEvent.choices)
    started_at = AwareDateTimeField(help_text="ISO 8601 with its UTC offset; never in the future.")
    reason = serializers.CharField(
        max_length=REASON_MAX, validators=[_no_nul], help_text="Why this is the starting time (who learned what, how)."
    )
    reminder_leads = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        min_length=0,
        max_length=10,
        help_text="Seconds before the due time at which to remind (default: REGULATORY_REMINDER_HOURS).",
    )

    read_only_names = frozenset(ClockSerializer.Meta.fields)
    read_only_messages = {"due_at": "Computed from the regime's rule and started_at."}


class NoticeCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    regime = serializers.SlugRelatedField(slug_field="slug", queryset=Regime.objects.all(), help_text="Its slug.")
    stage = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=20,
        help_text="The clock it answers (default: the regime's first).",
    )  # fmt: skip

    read_only_names = frozenset(NoticeSerializer.Meta.fields)


class NoticeReviseSerializer(StrictFieldsMixin, serializers.Serializer):
    body = serializers.CharField(max_length=100_000, validators=[_no_nul], help_text="Markdown; a new version.")
    version = serializers.IntegerField(min_value=1, help_text="The version you read; 409 if it changed since.")

    read_only_names = frozenset(NoticeSerializer.Meta.fields)
    read_only_messages = {
        "status": "Approve with POST …/notices/{id}/approve/, record sending with POST …/notices/{id}/send/."
    }


class NoticeApproveSerializer(StrictFieldsMixin, serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you read and approve; 409 if it changed.")


class NoticeSendSerializer(StrictFieldsMixin, serializers.Serializer):
    sent_at = AwareDateTimeField(help_text="When it was sent: ISO 8601 with its UTC offset; never in the future.")
    channel = serializers.CharField(max_length=100, validators=[_no_nul], help_text="Portal, e-mail, letter…")
    recipient = serializers.CharField(max_length=200, validators=[_no_nul])
    authority_reference = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=200, validators=[_no_nul]
    )
