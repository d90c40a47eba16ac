"""Forms of the triage pages: the queue's filters and the triage action (bulk or one alert).

They check the shape of what the browser sent (choices, lengths, ids, which incident a reference
names for this viewer); the rules of triage themselves (who, which status, a reason) are the
services' (``intake.triage``), whose ValidationErrors land on these fields.
"""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import User
from incidents.models import Incident, Severity
from incidents.selectors import incidents_visible_to

from .models import AlertSeverity, AlertStatus
from .triage import REASON_MAX, TRIAGE_MAX

PROMOTE, LINK, IGNORE = "promote", "link", "ignore"


class QueueFilterForm(forms.Form):
    """``GET /alerts/``: every field optional; an invalid one is reported and left out."""

    status = forms.ChoiceField(choices=AlertStatus.choices, required=False)
    source = forms.CharField(required=False, max_length=64)
    severity = forms.MultipleChoiceField(choices=AlertSeverity.choices, required=False)
    q = forms.CharField(required=False, max_length=200, label="Search")


class AlertIdsField(forms.Field):
    """The ticked alerts (``alerts=3&alerts=7``) as a list of ids, each once, in order."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one alert.",
        "invalid": "“%(value)s” is not an alert.",
        "too_many": f"Select at most {TRIAGE_MAX} alerts at a time.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        ids: dict[int, None] = {}
        for item in value:
            text = str(item).strip()
            # Digits only, and what a bigint holds: anything else is not an alert's id.
            if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) == 0:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid", params={"value": text[:20]})
            ids[int(text)] = None
        if len(ids) > TRIAGE_MAX:
            raise forms.ValidationError(self.error_messages["too_many"], code="too_many")
        return list(ids)


class TriageForm(forms.Form):
    """One triage action on the ticked alerts: ``action`` says which (the button pressed).

    - promote: optional ``title`` and ``severity`` for the new incident;
    - link: ``reference`` of an incident the viewer can see (resolved here into
      ``cleaned_data["incident"]``; one they cannot see is "no incident you can see", never
      "restricted");
    - ignore: ``reason`` (required by the service)."""

    action = forms.ChoiceField(choices=[(PROMOTE, "Promote"), (LINK, "Link"), (IGNORE, "Ignore")])
    alerts = AlertIdsField()
    title = forms.CharField(
        required=False,
        max_length=200,
        label="Incident title",
        help_text="Optional: defaults to the earliest alert's title.",
    )
    severity = forms.ChoiceField(
        choices=[("", "From the alerts"), *Severity.choices], required=False, label="Incident severity"
    )
    reference = forms.CharField(
        required=False,
        max_length=20,
        label="Incident",
        widget=forms.TextInput(attrs={"placeholder": "IR-2026-0042", "autocomplete": "off"}),
    )
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX,
        label="Reason",
        widget=forms.TextInput(attrs={"placeholder": "e.g. scheduled vulnerability scan", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.viewer = viewer

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("action") == LINK and "reference" not in self.errors:
            reference = cleaned.get("reference", "").strip().upper()
            if not reference:
                self.add_error("reference", "Give the reference of the incident to link to, e.g. IR-2026-0042.")
            else:
                incident = incidents_visible_to(self.viewer).filter(reference=reference).first()
                if incident is None:
                    self.add_error("reference", f"There is no incident {reference} that you can see.")
                else:
                    cleaned["incident"] = incident
        return cleaned

    @property
    def incident(self) -> Incident | None:
        return self.cleaned_data.get("incident")
