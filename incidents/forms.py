from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User

from .models import (
    INCIDENT_EDITABLE_FIELDS,
    Finding,
    Incident,
    MemberRole,
    Playbook,
    Resolution,
    Task,
    TaskNote,
    TaskStatus,
)
from .permissions import lead_candidates
from .selectors import sees_internal
from .services import OPEN_TASKS_CANCEL, OPEN_TASKS_KEEP


def form_error_messages(form: forms.BaseForm) -> list[str]:
    """Every message on ``form``, field by field: for a one-line error beside a small form."""
    return [str(message) for messages in form.errors.values() for message in messages]


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's ValidationError on ``form``: each message under its field when the form has
    that field, else at the top of the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user: User) -> str:
        full = user.get_full_name()
        return f"{full} ({user.username})" if full else user.username


class IncidentForm(forms.ModelForm):
    lead = UserChoiceField(queryset=User.objects.none(), required=False, empty_label="No lead yet")
    detected_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="When it was first detected (defaults to now).",
    )

    class Meta:
        model = Incident
        fields = list(INCIDENT_EDITABLE_FIELDS)
        widgets = {"summary": forms.Textarea(attrs={"rows": 8})}

    tags = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Comma-separated, e.g. vendor, vpn, gdpr. Stored in lower case.",
        widget=forms.TextInput(attrs={"placeholder": "vendor, vpn"}),
    )
    playbook = forms.ModelChoiceField(
        queryset=Playbook.objects.filter(active=True),
        required=False,
        empty_label="No playbook",
        to_field_name="slug",
        help_text="Opening from a playbook creates its tasks.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lead"].queryset = lead_candidates()
        if self.instance.pk:
            self.initial.setdefault("tags", ", ".join(tag.name for tag in self.instance.tags.all()))

    def clean_tags(self) -> list[str]:
        # One definition of a tag: the service's (form error, not a 500, for a bad one).
        from . import services

        try:
            return services.tags_normalize(self.cleaned_data["tags"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["tags"]) from None


class IncidentEditForm(IncidentForm):
    # The version the editor loaded; the service refuses the save if it moved on.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta(IncidentForm.Meta):
        fields = [*IncidentForm.Meta.fields, "version"]

    def __init__(
        self, *args: Any, can_manage_access: bool = True, derived_from_scope: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["playbook"]  # a playbook is where an incident starts, not an edit
        if derived_from_scope:
            # The affected scope decides them (incidents/vendors/scope.py): shown, not editable.
            for name in ("personal_data", "records_affected"):
                if name in self.fields:
                    self.fields[name].disabled = True
                    self.fields[name].help_text = "Derived from the affected scope: change the scope rows instead."
        self.fields["detected_at"].required = True
        if not can_manage_access:
            # Only the incident's lead or an admin changes who can see it (the rule table):
            # show these fields, but a disabled field keeps its initial value whatever is posted.
            for name in ("lead", "restricted"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Only the incident's lead or an admin can change this."

    def _post_clean(self) -> None:
        # Validation of the whole row is the service's job; don't mutate the instance here.
        pass


INTERNAL_LABEL = "Internal (hidden from vendor collaborators)"


def offer_internal(form: forms.BaseForm, incident: Incident | None, viewer: User | None) -> None:
    """The ``internal`` tick of case content (``SharedContent``: findings, tasks, evidence,
    indicators): ticked by default on a restricted incident, and not offered to vendor
    collaborators, whose own contributions are never internal (the services enforce both)."""
    if incident is not None:
        form.fields["internal"].initial = incident.restricted
    if viewer is not None and not sees_internal(viewer):
        del form.fields["internal"]


class SharedContentForm(forms.ModelForm):
    """A model form for case content with its ``internal`` tick (``offer_internal``)."""

    def __init__(self, *args: Any, incident: Incident | None = None, viewer: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offer_internal(self, incident, viewer)


class FindingForm(SharedContentForm):
    class Meta:
        model = Finding
        fields = ["body", "critical", "internal"]
        widgets = {"body": forms.Textarea(attrs={"rows": 3, "placeholder": "What did you find? Markdown works."})}
        labels = {
            "body": "New finding",
            "critical": "Critical: tell the incident's members now",
            "internal": INTERNAL_LABEL,
        }


class TaskForm(SharedContentForm):
    assignee = UserChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned")

    class Meta:
        model = Task
        fields = ["title", "assignee", "due_on", "internal"]
        widgets = {
            "title": forms.TextInput(attrs={"placeholder": "What must be done?"}),
            "due_on": forms.DateInput(attrs={"type": "date"}),
        }
        labels = {"title": "New task", "due_on": "Due", "internal": "Internal"}

    def __init__(self, *args: Any, assignees: QuerySet[User], **kwargs: Any) -> None:
        # ``assignees`` is permissions.assignable_users(incident=…): the one definition.
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees
        # The date picker offers no past day; the service refuses one anyway (task_add).
        self.fields["due_on"].widget.attrs["min"] = timezone.localdate().isoformat()


class MemberAddForm(forms.Form):
    user = UserChoiceField(queryset=User.objects.none(), label="Person", empty_label="Choose someone")
    role = forms.ChoiceField(
        choices=[(MemberRole.RESPONDER, "Responder (works the case)"), (MemberRole.OBSERVER, "Observer (reads)")],
        initial=MemberRole.RESPONDER,
    )

    def __init__(self, *args: Any, candidates: QuerySet[User], **kwargs: Any) -> None:
        # ``candidates`` is permissions.member_candidates(incident=…).
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = candidates


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=MemberRole.choices)


class TaskStatusForm(forms.Form):
    """The compact status control of one task. The reason is sent only with cancelled, so a
    reason typed before choosing another status is dropped rather than refused."""

    status = forms.ChoiceField(choices=TaskStatus.choices)
    cancel_reason = forms.CharField(required=False, max_length=500)

    def changes(self) -> dict[str, str]:
        """What to pass to ``services.task_update`` (call after ``is_valid()``)."""
        status = self.cleaned_data["status"]
        if status == TaskStatus.CANCELLED:
            return {"status": status, "cancel_reason": self.cleaned_data["cancel_reason"]}
        return {"status": status}


class TaskNoteForm(forms.ModelForm):
    class Meta:
        model = TaskNote
        fields = ["body"]
        labels = {"body": "Note"}


# What closing does with tasks still open (services.incident_close's ``open_tasks``).
OPEN_TASKS_CHOICES = [
    (OPEN_TASKS_KEEP, "Keep them open: they are follow-up work"),
    (OPEN_TASKS_CANCEL, "Cancel them, with the closing as the reason"),
]


class IncidentCloseForm(forms.Form):
    resolution = forms.ChoiceField(choices=Resolution.choices, widget=forms.RadioSelect)
    duplicate_of = forms.CharField(
        required=False,
        max_length=20,
        label="Duplicate of",
        help_text="For a duplicate: the reference of the original, e.g. IR-2026-0042.",
        widget=forms.TextInput(attrs={"placeholder": "IR-2026-0042", "autocomplete": "off"}),
    )
    closing_summary = forms.CharField(
        required=False,
        label="Closing summary",
        help_text="Markdown. What happened and what was done; required for a true positive.",
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    # Offered (and then required by the service) only while tasks are still open.
    open_tasks = forms.ChoiceField(
        required=False, choices=OPEN_TASKS_CHOICES, widget=forms.RadioSelect, label="Open tasks"
    )
    # The version the page was loaded with; the service refuses the close if it moved on.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class IncidentReopenForm(forms.Form):
    reason = forms.CharField(max_length=1_000, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
