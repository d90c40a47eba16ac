"""Forms of the notification pages: the log's filters and the inbox's "mark read"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from incidents.converters import REFERENCE_REGEX

from .models import NotificationStatus, Reason, Transport


def _any(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", "Any"), *choices]


class LogFilterForm(forms.Form):
    """``GET /notifications/log/``: every field optional; an invalid one is shown on the form
    and left out of ``cleaned_data`` (the other filters still apply), never a 500."""

    status = forms.ChoiceField(choices=_any(NotificationStatus.choices), required=False)
    transport = forms.ChoiceField(choices=_any(Transport.choices), required=False)
    reason = forms.ChoiceField(choices=_any(Reason.choices), required=False)
    incident = forms.CharField(
        required=False,
        max_length=30,
        label="Incident",
        validators=[RegexValidator(rf"^{REFERENCE_REGEX}$", "Enter a reference such as IR-2026-0042.")],
    )

    def clean_incident(self) -> str:
        return self.cleaned_data["incident"].strip().upper()

    def valid_filters(self) -> dict[str, Any]:
        """The filters that passed (call after ``is_valid()``)."""
        return {name: value for name, value in self.cleaned_data.items() if value}


class NotificationIdsField(forms.Field):
    """``ids=3&ids=7`` as a list of ids; anything but digits is refused (400), not a 500."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        ids = []
        for item in values:
            text = str(item).strip()
            # What a bigint holds: anything else is not a notification's id.
            if not text.isascii() or not text.isdigit() or len(text) > 18:
                raise forms.ValidationError("“%(value)s” is not a notification.", params={"value": text[:20]})
            ids.append(int(text))
        return ids


class MarkReadForm(forms.Form):
    """``POST /notifications/read/``: the ids to mark read, or none for all of them (the
    service marks only the signed-in user's own unread rows, whatever ids are sent)."""

    ids = NotificationIdsField(required=False)
