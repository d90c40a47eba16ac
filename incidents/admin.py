from django.contrib import admin

from . import services
from .models import Activity, Finding, Incident, Membership, Task
from .services import EDITABLE_FIELDS


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("reference", "title", "severity", "status", "category", "lead", "restricted", "created_at")
    list_filter = ("status", "severity", "category", "restricted", "personal_data")
    search_fields = ("reference", "title")
    list_select_related = ("lead",)
    # Status and version change only through incidents.services (transitions, optimistic lock).
    readonly_fields = (
        "reference", "status", "version", "reported_at", "acknowledged_at", "contained_at", "resolved_at",
        "closed_at", "created_at", "updated_at", "opened_by",
    )  # fmt: skip
    autocomplete_fields = ["lead"]
    inlines = [MembershipInline]

    def has_add_permission(self, request) -> bool:
        # Incidents are opened through the app, which assigns the reference.
        return False

    def save_model(self, request, obj: Incident, form, change: bool) -> None:
        # Through the service, like every other edit: the version is bumped (so an editor in the
        # app holding the old one gets a conflict) and the change lands in the activity log.
        current = Incident.objects.get(pk=obj.pk)
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in EDITABLE_FIELDS}
        services.incident_update(incident=current, actor=request.user, version=current.version, changes=changes)


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("incident", "author", "created_at")
    list_select_related = ("incident", "author")
    raw_id_fields = ("incident",)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "incident", "assignee", "due_on", "done")
    list_filter = ("done",)
    list_select_related = ("incident", "assignee")
    raw_id_fields = ("incident",)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("incident", "actor", "verb", "created_at")
    list_select_related = ("incident", "actor")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
