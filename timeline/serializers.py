"""Serializers of the timeline API (``timeline.api``).

They check shapes and types only: a time is a string or a number, ids are whole numbers, the
attributes an object without NUL characters. What the values mean (a real ATT&CK technique, a
time with its offset and not in the future, links to this incident's own evidence, indicators
and vendors) is ``timeline.services``' to say, which answers with field messages too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.serializers import StrictFieldsMixin
from incidents.api import UsernameField

from . import attack, selectors, services, when
from .models import EventKind, Precision, TimelineEvent

# What a client may send as ``occurred_at``: the service parses it (``timeline.when``).
MOMENT_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "integer"},
    ],
    "description": (
        "When it happened: ISO 8601 with its UTC offset (2026-03-02T14:05:00+01:00 or …Z; a time "
        "without an offset is refused), a date (2026-03-02, with precision day), or epoch seconds, "
        "milliseconds or microseconds. Truncated to the precision; not in the future."
    ),
}
MOMENT_TEXT_MAX = 64


def _iso(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL's jsonb cannot store one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


@extend_schema_field(MOMENT_SCHEMA)
class MomentField(serializers.Field):
    """A string or a number, passed on as it came: ``timeline.when.parse_moment`` reads it (a
    DRF DateTimeField would quietly give a time without an offset the server's zone)."""

    default_error_messages = {
        "invalid": "Give the time as an ISO 8601 string with its UTC offset, a date, or an epoch number.",
        "max_length": f"At most {MOMENT_TEXT_MAX} characters.",
        "null_characters": "Null characters are not allowed.",
    }

    def to_internal_value(self, data: Any) -> str | int | float:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        if isinstance(data, str):
            if len(data) > MOMENT_TEXT_MAX:
                self.fail("max_length")
            if "\x00" in data:
                self.fail("null_characters")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class VendorShownSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TimelineEventSerializer(serializers.ModelSerializer):
    """An event as the caller may see it. Needs ``request`` in its context (a vendor collaborator
    is shown only their own company as the event's vendor) and events read through
    ``selectors.with_links`` (the linked ids are those the caller may see)."""

    occurred_at = serializers.SerializerMethodField(
        help_text="In the UTC offset it was given in (the timeline's zone for a date without a time)."
    )
    occurred_at_utc = serializers.SerializerMethodField(help_text="The same instant in UTC.")
    technique_name = serializers.SerializerMethodField(
        help_text=f"The technique's name in ATT&CK Enterprise {attack.RELEASE} (null without a technique)."
    )
    evidence = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Ids of linked evidence (those you may see)."
    )
    indicators = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Ids of linked indicators (those you may see)."
    )
    vendor = serializers.SerializerMethodField(help_text="The linked vendor; null when none or not yours to know.")
    attributes = serializers.DictField(read_only=True, help_text="Extra columns of an imported row.")
    recorded_by = UsernameField(read_only=True, allow_null=True)

    class Meta:
        model = TimelineEvent
        fields = [
            "id", "occurred_at", "occurred_at_utc", "precision", "kind", "title", "description", "source",
            "technique", "technique_name", "key_event", "internal", "evidence", "indicators", "vendor",
            "attributes", "recorded_by", "recorded_at", "updated_at", "version",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField())
    def get_occurred_at(self, event: TimelineEvent) -> str:
        if event.occurred_offset is None:
            zone = when.display_zone()
        else:
            zone = timezone(timedelta(minutes=event.occurred_offset))
        return _iso(event.occurred_at.astimezone(zone))

    @extend_schema_field(serializers.DateTimeField())
    def get_occurred_at_utc(self, event: TimelineEvent) -> str:
        return _iso(event.occurred_at.astimezone(UTC))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_technique_name(self, event: TimelineEvent) -> str | None:
        found = attack.technique(event.technique) if event.technique else None
        return found.name if found else None

    @extend_schema_field(VendorShownSerializer(allow_null=True))
    def get_vendor(self, event: TimelineEvent) -> dict[str, Any] | None:
        vendor = selectors.vendor_shown(event, self.context["request"].user)
        return None if vendor is None else {"id": vendor.pk, "name": vendor.name}


class _EventFieldsSerializer(StrictFieldsMixin, serializers.Serializer):
    """Every field a client may set, none required (an update sends only what changes)."""

    occurred_at = MomentField(required=False)
    precision = serializers.ChoiceField(
        choices=Precision.choices, required=False, help_text="How precisely the time is known (default exact)."
    )
    kind = serializers.ChoiceField(choices=EventKind.choices, required=False)
    title = serializers.CharField(required=False, max_length=services.TITLE_MAX)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=services.DESCRIPTION_MAX, help_text="Markdown."
    )
    source = serializers.CharField(
        required=False, allow_blank=True, max_length=services.SOURCE_MAX, help_text="The system or log it was seen in."
    )
    technique = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        help_text=f"An ATT&CK Enterprise {attack.RELEASE} technique id such as T1199 or T1078.004.",
    )
    key_event = serializers.BooleanField(required=False)
    internal = serializers.BooleanField(
        required=False,
        help_text="Hidden from vendor collaborators. Defaults to the incident's restricted flag "
        "(never internal when a vendor collaborator adds it).",
    )
    evidence = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=services.LINKS_MAX,
        help_text="Ids of this incident's evidence.",
    )
    indicators = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=services.LINKS_MAX,
        help_text="Ids of this incident's indicators.",
    )
    vendor = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="Id of a vendor involved in this incident."
    )
    attributes = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text=f"Extra names and values (at most {services.ATTRIBUTES_MAX_KEYS}).",
    )

    read_only_names = frozenset(TimelineEventSerializer.Meta.fields)
    read_only_messages = {
        "recorded_by": "Set to whoever records the event.",
        "technique_name": "Named from the technique id.",
        "occurred_at_utc": "Send occurred_at with its UTC offset.",
    }

    def validate_attributes(self, value: dict[str, Any]) -> dict[str, Any]:
        if _has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


class TimelineEventCreateSerializer(_EventFieldsSerializer):
    """A new event: when, what kind and a title at least."""

    occurred_at = MomentField()
    kind = serializers.ChoiceField(choices=EventKind.choices)
    title = serializers.CharField(max_length=services.TITLE_MAX)


class TimelineEventUpdateSerializer(_EventFieldsSerializer):
    """The fields to change; links sent replace the old ones."""

    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you read; 409 if the event changed since."
    )


class TimelineFilterSerializer(serializers.Serializer):
    """The list's query parameters (``selectors.filtered``)."""

    kind = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices), required=False, help_text="Repeat for several kinds."
    )
    key_event = serializers.BooleanField(required=False, help_text="true: key events only.")
    vendor = serializers.IntegerField(min_value=1, required=False, help_text="Events linked to this vendor.")
    technique = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        help_text="An ATT&CK id; a technique also finds its sub-techniques (T1078 finds T1078.004).",
    )


class TimelineBatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's place in the array sent, from 0.")
    status = serializers.ChoiceField(choices=["created", "error"])
    id = serializers.IntegerField(allow_null=True, help_text="The event created.")
    event = TimelineEventSerializer(
        allow_null=True, help_text="The event created (null for an error, or for a key without incidents:read)."
    )
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Field → messages (an error)."
    )


class TimelineBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = TimelineBatchItemResultSerializer(many=True)
