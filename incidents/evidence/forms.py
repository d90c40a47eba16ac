"""Browser forms for evidence. Validation of the case's rules is the services'; these parse."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict

from accounts.models import User

from ..forms import INTERNAL_LABEL, offer_internal
from ..models import Incident
from .services import HOLD_REASON_MAX, REASON_MAX, RECIPIENT_MAX, TEXT_MAX_CHARS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or more files under one name (``<input type="file" multiple>``); the drag-and-drop
    uploader sends one per request under the same name."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if not files:
            raise ValidationError(self.error_messages["required"], code="required")
        return [super(MultipleFileField, self).clean(file, initial) for file in files]


_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class EvidenceForm(forms.Form):
    """What every piece of evidence is described with. ``internal`` is ticked by default on a
    restricted incident and not offered to vendor collaborators (as for findings)."""

    collected_at = forms.DateTimeField(
        required=False, widget=_DATETIME, label="Collected", help_text="When it was collected (defaults to now)."
    )
    source_system = forms.CharField(
        required=False,
        max_length=200,
        label="Source system",
        widget=forms.TextInput(attrs={"placeholder": "e.g. fw-edge-01, M365 tenant"}),
    )
    description = forms.CharField(required=False, max_length=5_000, widget=forms.Textarea(attrs={"rows": 2}))
    internal = forms.BooleanField(required=False, label=INTERNAL_LABEL)
    privileged = forms.BooleanField(required=False, label="Legally privileged (prepared at the direction of counsel)")
    malware = forms.BooleanField(required=False, label="Live malware (downloaded only as a password-protected ZIP)")

    # Both evidence forms are on the incident page: their element ids must differ.
    id_prefix = "evidence"

    def __init__(self, *args: Any, incident: Incident, viewer: User, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)
        offer_internal(self, incident, viewer)

    def refuse(self, message: str) -> None:
        """Show ``message`` on a form whose request could not be read at all (too large)."""
        self.cleaned_data = {}
        self._errors = ErrorDict()
        self.add_error(None, message)

    def metadata(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "collected_at": data.get("collected_at"),
            "source_system": data.get("source_system", ""),
            "description": data.get("description", ""),
            "internal": data.get("internal") if "internal" in self.fields else None,
            "privileged": data.get("privileged", False),
            "malware": data.get("malware", False),
        }


class EvidenceUploadForm(EvidenceForm):
    file = MultipleFileField(label="Files", max_length=1_000)

    id_prefix = "evidence-upload"

    field_order = ["file"]


class EvidenceTextForm(EvidenceForm):
    name = forms.CharField(
        max_length=200,
        label="Title",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Headers of the phishing e-mail"}),
    )
    # Kept exactly as typed: it is hashed.
    text = forms.CharField(
        max_length=TEXT_MAX_CHARS,
        strip=False,
        label="Excerpt",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
    )

    field_order = ["name", "text"]
    id_prefix = "evidence-text"


class EvidenceTransferForm(forms.Form):
    recipient = forms.CharField(
        max_length=RECIPIENT_MAX, label="To", widget=forms.TextInput(attrs={"placeholder": "Person, lab or authority"})
    )
    reason = forms.CharField(
        max_length=REASON_MAX,
        label="Why",
        widget=forms.TextInput(attrs={"placeholder": "e.g. disk imaging at Lakeside DFIR"}),
    )


class LegalHoldForm(forms.Form):
    reason = forms.CharField(max_length=HOLD_REASON_MAX, label="Reason")
