"""Forms of the notification register's pages. They parse input only: the rules (a reason for
"does not apply", a start time not in the future, only an approved version is sent…) are the
services' (``incidents.regulatory.services``), whose ValidationErrors are put back on these
forms (``incidents.forms.add_service_errors``).

Times come from ``datetime-local`` inputs: a wall time without a zone, read in the current time
zone (``TIME_ZONE``), as Django's DateTimeField does; the pages say which zone that is.
"""

from __future__ import annotations

from typing import Any

from django import forms

from incidents.models import Applicability, StartEvent

from .services import Stage

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_INPUTS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class DecideForm(forms.Form):
    """Applies / does not apply / under assessment, and why (the service refuses "does not
    apply" without a reason)."""

    decision = forms.ChoiceField(choices=Applicability.choices)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "maxlength": 5000}))


class ClockForm(forms.Form):
    """The starting event of one of a regime's clocks, its time and why."""

    stage = forms.ChoiceField(choices=())
    start_event = forms.ChoiceField(choices=StartEvent.choices)
    started_at = forms.DateTimeField(input_formats=DATETIME_INPUTS, widget=DATETIME_LOCAL, label="Start time")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "maxlength": 5000}), label="Why this time")

    def __init__(self, *args: Any, stages: tuple[Stage, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = [(stage.name, stage.label) for stage in stages]


class DraftForm(forms.Form):
    """Which clock a new notice answers (blank: the regime's first)."""

    stage = forms.CharField(required=False, max_length=20)


class ReviseForm(forms.Form):
    """A new text of a notice, from the version the editor loaded (a stale one is a conflict)."""

    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 18}), strip=False)
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class ApproveForm(forms.Form):
    """The version the approver read."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class SendForm(forms.Form):
    """When, how, to whom the approved notice went, and their reference."""

    sent_at = forms.DateTimeField(input_formats=DATETIME_INPUTS, widget=DATETIME_LOCAL, label="Sent at")
    channel = forms.CharField(max_length=100, help_text="Portal, e-mail, letter…")
    recipient = forms.CharField(max_length=200, help_text="The authority or audience it went to.")
    authority_reference = forms.CharField(max_length=200, required=False, label="Their reference")
