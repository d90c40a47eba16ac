"""Django admin for staff. Every write goes through ``incidents.services`` (rule table, version,
activity entry) or is not offered: findings, tasks, activity, evidence, its custody and legal
holds are read-only here, incidents are opened in the app and never deleted."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from . import services
from .models import (
    INCIDENT_EDITABLE_FIELDS,
    Activity,
    AffectedScope,
    ContainmentOverride,
    CustodyEvent,
    DeadlineClock,
    Evidence,
    Finding,
    Incident,
    Indicator,
    LegalHold,
    MemberRole,
    Membership,
    Notice,
    Playbook,
    PlaybookTask,
    Regime,
    RegulatoryAssessment,
    Tag,
    Task,
    Vendor,
    VendorAccess,
    VendorInvolvement,
    VendorKnownAccess,
    VendorQuestion,
)
from .permissions import lead_candidates


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown to staff, never written through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IncidentAdminForm(forms.ModelForm):
    # The version the page was loaded with: a save from a stale page is refused, not applied
    # over someone else's edit.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta:
        model = Incident
        fields = [*INCIDENT_EDITABLE_FIELDS, "version"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lead"].queryset = lead_candidates()

    def clean_version(self) -> int:
        version = self.cleaned_data["version"]
        current = Incident.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
        if current is not None and current != version:
            raise forms.ValidationError(
                f"Someone changed this incident since you opened this page (version {version}, now {current}). "
                "Reload the page and apply your change again."
            )
        return version

    def _post_clean(self) -> None:
        # The service validates the whole row; don't mutate the instance here.
        pass


class MembershipFormSet(BaseInlineFormSet):
    """Members are changed through the services (rule table, activity entries)."""

    def _deleting(self, form: forms.Form) -> bool:
        return bool(form.cleaned_data.get("DELETE"))

    def _role_changed(self, form: forms.Form) -> bool:
        # form.instance already carries the posted values (construct_instance): compare with the
        # role the row was loaded with.
        return form.instance.pk is not None and form.cleaned_data.get("role") != form.initial.get("role")

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            if not getattr(form, "cleaned_data", None):
                continue
            touched = self._deleting(form) or self._role_changed(form) or form.instance.pk is None
            if form.instance.pk and form.initial.get("role") == MemberRole.LEAD and touched:
                form.add_error(None, "The lead's membership follows the incident's lead field: change that instead.")
            elif form.cleaned_data.get("role") == MemberRole.LEAD and not self._deleting(form) and touched:
                form.add_error("role", "Make someone the lead with the incident's lead field.")
            elif form.instance.pk and getattr(form.cleaned_data.get("user"), "pk", None) != form.initial.get("user"):
                form.add_error("user", "A row is one person's membership: delete it and add the other person.")

    def save_through_services(self, actor: Any) -> None:
        # What ModelAdmin reads to write its change message.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        incident = self.instance
        for form in self.forms:
            if not getattr(form, "cleaned_data", None):
                continue
            membership = form.instance
            if membership.pk and self._deleting(form):
                services.member_remove(incident=incident, user=membership.user, actor=actor)
                self.deleted_objects.append(membership)
            elif membership.pk is None and not self._deleting(form):
                added = services.member_add(
                    incident=incident, user=form.cleaned_data["user"], actor=actor, role=form.cleaned_data["role"]
                )
                self.new_objects.append(added)
            elif self._role_changed(form):
                changed = services.member_role_change(
                    incident=incident, user=membership.user, actor=actor, role=form.cleaned_data["role"]
                )
                self.changed_objects.append((changed, ["role"]))


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["user"]
    fields = ("user", "role", "added_at")
    readonly_fields = ("added_at",)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    form = IncidentAdminForm
    list_display = ("reference", "title", "severity", "status", "category", "lead", "restricted", "created_at")
    list_filter = ("status", "severity", "category", "restricted", "personal_data")
    search_fields = ("reference", "title")
    list_select_related = ("lead",)
    # Status and version change only through incidents.services (transitions, optimistic lock).
    readonly_fields = (
        "reference", "status", "reported_at", "acknowledged_at", "contained_at", "resolved_at",
        "closed_at", "created_at", "updated_at", "opened_by",
    )  # fmt: skip
    inlines = [MembershipInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Incidents are opened through the app, which assigns the reference.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting would erase findings, tasks and the activity log with it.
        return False

    def get_form(self, request: HttpRequest, obj: Incident | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            form.base_fields["version"].initial = obj.version
        return form

    def save_model(self, request: HttpRequest, obj: Incident, form: IncidentAdminForm, change: bool) -> None:
        # Through the service, like every other edit, with the version the page was loaded with:
        # the version is bumped and the change (old → new) lands in the activity log.
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in INCIDENT_EDITABLE_FIELDS}
        services.incident_update(
            incident=obj, actor=request.user, version=form.cleaned_data["version"], changes=changes
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if isinstance(formset, MembershipFormSet):
            formset.save_through_services(request.user)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ("incident", "author", "created_at")
    list_select_related = ("incident", "author")


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("title", "incident", "assignee", "due_on", "done")
    list_filter = ("done",)
    list_select_related = ("incident", "assignee")


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    """The activity log is append-only: nobody adds, edits or deletes an entry."""

    list_display = ("incident", "actor", "verb", "created_at")
    list_filter = ("verb",)
    list_select_related = ("incident", "actor")


class PlaybookTaskInline(admin.TabularInline):
    model = PlaybookTask
    extra = 1
    fields = ("position", "title", "due_after", "internal")


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    """Case templates are configuration, not case content: edited here directly. Changing one
    affects incidents opened from it later, never those already open."""

    list_display = ("name", "slug", "severity", "category", "active")
    list_filter = ("active", "category")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [PlaybookTaskInline]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Renaming a tag would rewrite every incident's history under it; add a new one instead.
        return False


class CustodyEventInline(admin.TabularInline):
    model = CustodyEvent
    extra = 0
    can_delete = False
    fields = ("sequence", "action", "actor_name", "at", "recipient", "note", "prev_hash", "hash")
    readonly_fields = fields
    ordering = ("sequence",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    """Evidence and its chain of custody are never edited or deleted (``verify_evidence`` would
    report it); files are downloaded from the incident page, which records the access."""

    list_display = ("name", "incident", "kind", "size", "sha256", "collected_by", "added_at", "internal", "malware")
    list_filter = ("kind", "internal", "privileged", "malware")
    list_select_related = ("incident", "collected_by")
    search_fields = ("name", "sha256", "incident__reference")
    exclude = ("text",)
    inlines = [CustodyEventInline]


@admin.register(CustodyEvent)
class CustodyEventAdmin(ReadOnlyAdmin):
    list_display = ("evidence", "sequence", "action", "actor_name", "at")
    list_filter = ("action",)
    list_select_related = ("evidence",)


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdmin):
    """Placed and released on the incident page (lead, admins), with an activity entry."""

    list_display = ("incident", "reason", "set_by", "set_at", "released_at")
    list_select_related = ("incident", "set_by")


# Indicators of compromise (incidents/indicators/).


@admin.register(Indicator)
class IndicatorAdmin(ReadOnlyAdmin):
    """Added and changed on the incident page or through the API (``incidents.indicators.services``:
    normalized, the rule table, an activity entry); never written here."""

    list_display = ("type", "value", "incident", "tlp", "role", "added_at")
    list_filter = ("type", "tlp", "role")
    list_select_related = ("incident",)
    search_fields = ("value",)


# Vendors (incidents/vendors/): the registry is edited at /vendors/ (normalized domains, the
# case-insensitive name check, registry editors only); involvements on the incident page.


@admin.register(Vendor)
class VendorAdmin(ReadOnlyAdmin):
    list_display = ("name", "tier", "contract_reference", "updated_at")
    list_filter = ("tier",)
    search_fields = ("name",)


@admin.register(VendorInvolvement)
class VendorInvolvementAdmin(ReadOnlyAdmin):
    list_display = ("vendor", "incident", "role", "vendor_reference", "added_at")
    list_filter = ("role",)
    list_select_related = ("vendor", "incident")


@admin.register(VendorQuestion)
class VendorQuestionAdmin(ReadOnlyAdmin):
    """Asked and answered on the incident page or through the API (``incidents.vendors.services``)."""

    list_display = ("involvement", "due_at", "asked_at", "answered_at")
    list_select_related = ("involvement__vendor", "involvement__incident")


@admin.register(AffectedScope)
class AffectedScopeAdmin(ReadOnlyAdmin):
    """Written through ``incidents.vendors.scope``, which derives the incident's personal-data flag
    and record count from these rows."""

    list_display = ("incident", "kind", "name", "records", "added_at")
    list_filter = ("kind",)
    list_select_related = ("incident",)
    search_fields = ("name",)


@admin.register(VendorKnownAccess)
class VendorKnownAccessAdmin(ReadOnlyAdmin):
    list_display = ("vendor", "kind", "system", "identifier", "privilege")
    list_filter = ("kind",)
    list_select_related = ("vendor",)


@admin.register(VendorAccess)
class VendorAccessAdmin(ReadOnlyAdmin):
    """Stepped through its states on the incident page or the API, each step recorded."""

    list_display = ("involvement", "kind", "identifier", "system", "state")
    list_filter = ("state", "kind")
    list_select_related = ("involvement__vendor", "involvement__incident")


@admin.register(ContainmentOverride)
class ContainmentOverrideAdmin(ReadOnlyAdmin):
    list_display = ("incident", "actor", "at", "reason")
    list_select_related = ("incident", "actor")


@admin.register(Regime)
class RegimeAdmin(admin.ModelAdmin):
    """Admins add custom regimes (a state law, a contract) and edit every regime's notice template.
    A built-in's kind decides its deadlines (incidents/regulatory/deadlines.py)."""

    list_display = ("name", "kind", "authority", "duration", "business_days", "timezone", "active", "position")
    list_filter = ("kind", "active")
    search_fields = ("name", "authority")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(RegulatoryAssessment)
class RegulatoryAssessmentAdmin(ReadOnlyAdmin):
    """Decided on the incident page or through the API, each decision an activity entry."""

    list_display = ("incident", "regime", "decision", "decided_by", "decided_at")
    list_filter = ("decision", "regime")
    list_select_related = ("incident", "regime", "decided_by")


@admin.register(DeadlineClock)
class DeadlineClockAdmin(ReadOnlyAdmin):
    list_display = ("incident", "regime", "stage", "started_at", "due_at", "missed_at", "stopped_at")
    list_filter = ("regime", "stage")
    list_select_related = ("incident", "regime")


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("title", "incident", "status", "version", "approved_by", "sent_at")
    list_filter = ("status", "regime")
    list_select_related = ("incident", "approved_by")
