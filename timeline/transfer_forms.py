"""Browser forms of timeline import. They parse; what a file may hold is ``timeline.imports``'."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from accounts.models import User
from incidents.forms import INTERNAL_LABEL, offer_internal
from incidents.models import Incident

from .models import EventKind


@cache
def zone_choices() -> list[tuple[str, str]]:
    names = sorted(available_timezones() | {"UTC"})
    return [(name, name) for name in names]


class ImportForm(forms.Form):
    file = forms.FileField(
        label="File",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.jsonl,.ndjson,.json"}),
    )
    default_kind = forms.ChoiceField(
        label="Kind of event",
        required=False,
        choices=[("", "From the file's kind column"), *EventKind.choices],
        help_text="For rows without a kind of their own.",
    )
    default_timezone = forms.ChoiceField(
        label="Time zone of times without an offset",
        help_text="A time such as 2026-03-02 14:05 with no +01:00 or Z is read in this zone.",
    )
    internal = forms.BooleanField(required=False, label=INTERNAL_LABEL)

    def __init__(self, *args: Any, incident: Incident, viewer: User, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "timeline-import-%s")
        super().__init__(*args, **kwargs)
        self.fields["default_timezone"].choices = zone_choices()
        self.fields["default_timezone"].initial = settings.TIME_ZONE
        limit = settings.TIMELINE_IMPORT_MAX_BYTES
        self.fields["file"].help_text = (
            f"CSV or JSON Lines (or a JSON array, as the timeline's JSON export), UTF-8, at most "
            f"{filesizeformat(limit)}. Timesketch columns (datetime, timestamp, message, timestamp_desc) work."
        )
        offer_internal(self, incident, viewer)

    def for_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "upload": data["file"],
            "default_kind": data.get("default_kind", ""),
            "default_timezone": data["default_timezone"],
            "internal": data.get("internal") if "internal" in self.fields else None,
        }


class ConfirmForm(forms.Form):
    skip_bad_rows = forms.BooleanField(required=False, label="Skip the bad rows and import only the good ones")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "timeline-import-%s")
        super().__init__(*args, **kwargs)
