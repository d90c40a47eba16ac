"""Browser forms for indicators. They parse; normalizing and the case's rules are the services'."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import User

from ..forms import INTERNAL_LABEL, offer_internal
from ..models import Incident, Indicator, IndicatorRole, IndicatorType, Tlp
from .extract import TEXT_MAX_CHARS

_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _Internal(forms.Form):
    """``internal`` ticked by default on a restricted incident, not offered to vendor
    collaborators (as for findings and evidence)."""

    internal = forms.BooleanField(required=False, label=INTERNAL_LABEL)
    id_prefix = "indicator"

    def __init__(self, *args: Any, incident: Incident, viewer: User, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)
        offer_internal(self, incident, viewer)

    def internal_choice(self) -> bool | None:
        return self.cleaned_data.get("internal") if "internal" in self.fields else None


class IndicatorForm(_Internal):
    type = forms.ChoiceField(choices=IndicatorType.choices)
    value = forms.CharField(
        max_length=4_000,
        strip=False,
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. hxxps://evil[.]example/login, 203.0.113.7", "spellcheck": "false"}
        ),
        help_text="Defanged values are fine: they are refanged and normalized.",
    )
    role = forms.ChoiceField(choices=[("", "Decide for me (ours → affected)"), *IndicatorRole.choices], required=False)
    tlp = forms.ChoiceField(choices=Tlp.choices, initial=Tlp.AMBER, label="TLP")
    confidence = forms.IntegerField(min_value=0, max_value=100, initial=50)
    first_seen = forms.DateTimeField(required=False, widget=_DATETIME)
    last_seen = forms.DateTimeField(required=False, widget=_DATETIME)
    source = forms.CharField(
        required=False, max_length=200, widget=forms.TextInput(attrs={"placeholder": "e.g. proxy log, vendor advisory"})
    )
    description = forms.CharField(required=False, max_length=5_000, widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["type", "value", "role", "tlp", "confidence", "first_seen", "last_seen", "source", "description"]

    def fields_for_service(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["internal"] = self.internal_choice()
        data["role"] = data.get("role") or None
        return data


class ExtractForm(forms.Form):
    text = forms.CharField(
        max_length=TEXT_MAX_CHARS,
        strip=False,
        label="Paste text",
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "spellcheck": "false",
                "placeholder": "An e-mail with its headers, a log excerpt, a vendor's advisory…",
            }
        ),
    )


class ConfirmForm(_Internal):
    """The second step: the candidates ticked (``pick``: ``type:value``) and what they share."""

    pick = forms.MultipleChoiceField(required=True, error_messages={"required": "Tick at least one indicator."})
    tlp = forms.ChoiceField(choices=Tlp.choices, initial=Tlp.AMBER, label="TLP")
    source = forms.CharField(required=False, max_length=200)
    id_prefix = "indicator-confirm"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Whatever was posted is a choice: each is checked again by the service (normalized,
        # its role decided there), so a tampered value is an error there, not a crash here.
        posted = self.data.getlist("pick") if hasattr(self.data, "getlist") else []
        self.fields["pick"].choices = [(value, value) for value in posted]

    def picked(self) -> list[tuple[str, str]]:
        pairs = []
        for key in self.cleaned_data["pick"]:
            kind, _, value = key.partition(":")
            pairs.append((kind, value))
        return pairs


def _stamp(moment: Any) -> str:
    """An indicator's ``updated_at`` as the edit form carries it (exact, microseconds)."""
    return moment.isoformat() if moment else ""


class IndicatorEditForm(_Internal):
    """Change an indicator's marking and context in the browser (``services.indicator_update``).
    Type and value are what the indicator *is*: shown, never edited. ``updated`` is the
    ``updated_at`` the form was loaded with: a save over someone else's change since is refused."""

    tlp = forms.ChoiceField(choices=Tlp.choices, label="TLP")
    role = forms.ChoiceField(choices=IndicatorRole.choices)
    first_seen = forms.DateTimeField(required=False, widget=_DATETIME)
    last_seen = forms.DateTimeField(required=False, widget=_DATETIME)
    source = forms.CharField(required=False, max_length=200)
    confidence = forms.IntegerField(min_value=0, max_value=100, help_text="0-100.")
    description = forms.CharField(required=False, max_length=5_000, widget=forms.Textarea(attrs={"rows": 2}))
    updated = forms.CharField(widget=forms.HiddenInput, required=False)
    id_prefix = "indicator-edit"

    # The fields of ``services.INDICATOR_UPDATABLE_FIELDS`` it offers, in order.
    EDITABLE = ("tlp", "role", "first_seen", "last_seen", "source", "confidence", "description", "internal")
    field_order = list(EDITABLE)

    def __init__(self, *args: Any, indicator: Indicator, **kwargs: Any) -> None:
        self.indicator = indicator
        initial = {name: getattr(indicator, name) for name in self.EDITABLE}
        initial["updated"] = _stamp(indicator.updated_at)
        kwargs.setdefault("initial", initial)
        super().__init__(*args, incident=indicator.incident, **kwargs)
        if "internal" in self.fields:
            self.fields["internal"].initial = indicator.internal

    def clean_source(self) -> str:
        return " ".join(self.cleaned_data["source"].split())  # as when added

    def clean_description(self) -> str:
        return self.cleaned_data["description"].strip()

    def is_stale(self) -> bool:
        """Someone saved the indicator since this form was loaded."""
        return self.cleaned_data.get("updated") != _stamp(self.indicator.updated_at)

    def changes(self) -> dict[str, Any]:
        """What the editor changed, for the service. Times are edited to the minute: a time shown
        unchanged (its seconds dropped by the widget) is not a change."""
        data: dict[str, Any] = {}
        for name in self.EDITABLE:
            if name not in self.fields:
                continue  # ``internal`` for vendor collaborators
            new, old = self.cleaned_data.get(name), getattr(self.indicator, name)
            if name in ("first_seen", "last_seen") and new and old and new == old.replace(second=0, microsecond=0):
                continue
            if new != old:
                data[name] = new
        return data
