"""Browser forms for the vendor registry and involvements. They parse; normalizing and the rules
are the services'."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db.models import QuerySet

from ..models import (
    AccessKind,
    AccessState,
    DataCategory,
    ScopeKind,
    Vendor,
    VendorInvolvement,
    VendorRole,
    VendorTier,
)

_SPLIT = re.compile(r"[\s,;]+")


class VendorForm(forms.Form):
    name = forms.CharField(max_length=200)
    domains = forms.CharField(
        required=False,
        max_length=10_000,
        widget=forms.Textarea(
            attrs={"rows": 2, "spellcheck": "false", "placeholder": "northwind.example, nw-labs.example"}
        ),
        help_text="Separated by commas, spaces or lines; stored in lower case (IDNA for non-ASCII names).",
    )
    tier = forms.ChoiceField(choices=VendorTier.choices, initial=VendorTier.MEDIUM)
    service = forms.CharField(
        label="What they do for us", required=False, max_length=2_000, widget=forms.Textarea(attrs={"rows": 2})
    )
    data_processed = forms.CharField(
        label="Data they process", required=False, max_length=2_000, widget=forms.Textarea(attrs={"rows": 2})
    )
    security_contact = forms.CharField(required=False, max_length=300)
    account_manager = forms.CharField(required=False, max_length=300)
    contract_reference = forms.CharField(label="Contract / DPA reference", required=False, max_length=200)

    @classmethod
    def initial_for(cls, vendor: Vendor) -> dict[str, Any]:
        initial = {name: getattr(vendor, name) for name in cls.base_fields}
        initial["domains"] = ", ".join(vendor.domains)
        return initial

    def clean_domains(self) -> list[str]:
        return [part for part in _SPLIT.split(self.cleaned_data.get("domains") or "") if part]


class InvolvementForm(forms.Form):
    # Drawn by templates/incidents/_vendor_choices.html as a searchable radio list
    # (``selectors.vendor_choice_page``), never as a select of the whole registry.
    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.none(), error_messages={"required": "Pick a vendor from the registry."}
    )
    role = forms.ChoiceField(choices=VendorRole.choices, initial=VendorRole.AFFECTED)
    vendor_reference = forms.CharField(
        label="Their reference",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "The vendor's ticket, e.g. NW-SEC-2291"}),
    )

    def __init__(self, *args: Any, choices: QuerySet[Vendor], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "vendor-add-%s")
        super().__init__(*args, **kwargs)
        self.fields["vendor"].queryset = choices


class InvolvementChangeForm(forms.Form):
    """A role change (the select submits on change) and/or a new vendor reference."""

    role = forms.ChoiceField(choices=VendorRole.choices, required=False)
    vendor_reference = forms.CharField(required=False, max_length=100)

    def changes(self, involvement: VendorInvolvement) -> dict[str, Any]:
        data = {}
        if self.cleaned_data.get("role"):
            data["role"] = self.cleaned_data["role"]
        if "vendor_reference" in self.data:
            data["vendor_reference"] = self.cleaned_data.get("vendor_reference", "")
        return data


class AccessAddForm(forms.Form):
    kind = forms.ChoiceField(choices=AccessKind.choices)
    system = forms.CharField(max_length=200)
    identifier = forms.CharField(max_length=300)
    privilege = forms.CharField(required=False, max_length=200)


class KnownAccessForm(AccessAddForm):
    """Access the vendor is known to hold, recorded on the registry (copied into incidents)."""

    notes = forms.CharField(required=False, max_length=2_000)


class AccessStepForm(forms.Form):
    to = forms.ChoiceField(choices=AccessState.choices)
    note = forms.CharField(required=False, max_length=2_000)
    verified_unused_since = forms.DateTimeField(required=False)


class ContainmentOverrideForm(forms.Form):
    version = forms.IntegerField(min_value=1)
    override_reason = forms.CharField(
        label="Why mark it contained anyway?",
        max_length=1_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "e.g. disabled on the vendor side at 14:00"}),
    )


class QuestionAskForm(forms.Form):
    question = forms.CharField(max_length=2_000, widget=forms.Textarea(attrs={"rows": 2}))
    due_at = forms.DateTimeField()


class QuestionAnswerForm(forms.Form):
    answer = forms.CharField(max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))


class ScopeAddForm(forms.Form):
    kind = forms.ChoiceField(choices=ScopeKind.choices)
    name = forms.CharField(max_length=200)
    owner = forms.CharField(required=False, max_length=200)
    data_categories = forms.MultipleChoiceField(choices=DataCategory.choices, required=False)
    records = forms.IntegerField(required=False, min_value=1)
    jurisdictions = forms.CharField(
        required=False, max_length=2_000, help_text="ISO country codes, separated by commas or spaces: DE, FR, US."
    )
    internal = forms.BooleanField(required=False)

    def clean_jurisdictions(self) -> list[str]:
        return [part for part in _SPLIT.split(self.cleaned_data.get("jurisdictions") or "") if part]
