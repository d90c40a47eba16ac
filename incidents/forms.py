from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from accounts.models import User

from .models import INCIDENT_EDITABLE_FIELDS, Finding, Incident, Task
from .permissions import lead_candidates


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lead"].queryset = lead_candidates()


class IncidentEditForm(IncidentForm):
    # The version the editor loaded; the service refuses the save if it moved on.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta(IncidentForm.Meta):
        fields = [*IncidentForm.Meta.fields, "version"]

    def __init__(self, *args: Any, can_manage_access: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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


class FindingForm(forms.ModelForm):
    class Meta:
        model = Finding
        fields = ["body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 3, "placeholder": "What did you find? Markdown works."})}
        labels = {"body": "New finding"}


class TaskForm(forms.ModelForm):
    assignee = UserChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned")

    class Meta:
        model = Task
        fields = ["title", "assignee", "due_on"]
        widgets = {
            "title": forms.TextInput(attrs={"placeholder": "What must be done?"}),
            "due_on": forms.DateInput(attrs={"type": "date"}),
        }
        labels = {"title": "New task", "due_on": "Due"}

    def __init__(self, *args: Any, assignees: QuerySet[User], **kwargs: Any) -> None:
        # ``assignees`` is permissions.assignable_users(incident=…): the one definition.
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees
