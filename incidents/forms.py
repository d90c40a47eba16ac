from __future__ import annotations

from django import forms
from django.db.models import Q

from accounts.models import Role, User

from .models import Finding, Incident, Task


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user: User) -> str:
        full = user.get_full_name()
        return f"{full} ({user.username})" if full else user.username


def people() -> object:
    """People who can lead or be assigned work: not integrations, not vendor collaborators."""
    return User.objects.filter(is_active=True).exclude(Q(role=Role.INTEGRATION) | Q(role=Role.VENDOR))


class IncidentForm(forms.ModelForm):
    lead = UserChoiceField(queryset=User.objects.none(), required=False, empty_label="No lead yet")
    detected_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="When it was first detected (defaults to now).",
    )

    class Meta:
        model = Incident
        fields = [
            "title", "severity", "category", "lead", "detected_at", "summary", "restricted",
            "personal_data", "records_affected",
        ]  # fmt: skip
        widgets = {"summary": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lead"].queryset = people()


class IncidentEditForm(IncidentForm):
    # The version the editor loaded; the service refuses the save if it moved on.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta(IncidentForm.Meta):
        fields = [*IncidentForm.Meta.fields, "version"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["detected_at"].required = True

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

    def __init__(self, *args, assignees=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees if assignees is not None else people()
