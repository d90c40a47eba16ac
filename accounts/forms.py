"""Forms for the second factor and invitations: they parse input; the services decide."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from incidents.models import Vendor

from .invitations import INVITED_ROLES, MAX_ACCESS_DAYS


class CodeForm(forms.Form):
    """A TOTP code (six digits) or a recovery code."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "autofocus": True}),
    )


class InvitationAcceptForm(forms.Form):
    """The invitation page: a username, a password twice and the code the app shows. The
    password's rules are Django's validators, applied by the service."""

    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password_again = forms.CharField(
        label="Password (again)", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    code = forms.CharField(
        label="Code from the app",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password_again") and data["password"] != data["password_again"]:
            self.add_error("password_again", "The two passwords differ.")
        return data


def _default_access_end() -> str:
    return (timezone.localtime() + timedelta(days=30)).replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


class InviteForm(forms.Form):
    """Invite a collaborator: address, scope (read or contribute), until when, their company."""

    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(
        label="May",
        choices=[(INVITED_ROLES[0], "read (observer)"), (INVITED_ROLES[1], "read and contribute (responder)")],
    )
    access_expires_at = forms.DateTimeField(
        label="Access until",
        input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=f"At most {MAX_ACCESS_DAYS} days from now; access ends then on its own.",
    )
    vendor = forms.ModelChoiceField(
        label="Company",
        queryset=Vendor.objects.order_by("name"),
        required=False,
        empty_label="— none —",
        help_text="With a company, they see their own company's involvement on this incident.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["access_expires_at"].initial = _default_access_end
