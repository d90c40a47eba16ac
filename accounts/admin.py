from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from . import audit
from .models import APIKey, User
from .services import api_key_check, api_key_revoke, api_key_update


# Site-wide, for every model's changelist: Django's "Delete selected" logs its deletions with one
# LogEntry bulk_create, which sends no post_save, so the audit log's receiver
# (accounts.signals.admin_logged) would not see them. This one does the same and records them.
@admin.action(permissions=["delete"], description=django_delete_selected.short_description)
def delete_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    with transaction.atomic():
        since = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        response = django_delete_selected(modeladmin, request, queryset)
        logged = (
            LogEntry.objects.filter(pk__gt=since, user_id=request.user.pk, action_flag=DELETION)
            .exclude(pk__in=audit.admin_log_recorded(request))
            .select_related("content_type")
            .order_by("pk")
        )
        audit.record_admin_log(list(logged))
    return response


admin.site.add_action(delete_selected, "delete_selected")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "vendor", "is_staff", "is_active")
    list_filter = ("role", "is_staff", "is_active")
    # ``vendor``: a vendor collaborator's company; without it they see no vendor on their incidents.
    fieldsets = (*BaseUserAdmin.fieldsets, ("Breachline", {"fields": ("role", "vendor")}))
    list_select_related = ("vendor",)


class APIKeyForm(forms.ModelForm):
    """The rules of ``api_key_check``, shown as form errors before ``api_key_update`` runs."""

    class Meta:
        model = APIKey
        fields = ("name", "scopes", "expires_at")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        scopes = data.get("scopes")
        if "scopes" in data and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
            raise ValidationError({"scopes": ['A list of scopes, such as ["incidents:read"].']})
        if not self.errors:
            expiry = data.get("expires_at") if "expires_at" in self.changed_data else None
            api_key_check(name=data.get("name") or "", scopes=scopes or [], expires_at=expiry)
        return data


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    """Name, scopes and expiry change through ``api_key_update``, revocation through the
    "Revoke" action (``api_key_revoke``): both are audited with old → new. A key is never
    deleted here (revoke it instead: its audit entries keep pointing at it)."""

    form = APIKeyForm
    list_display = ("name", "prefix", "user", "scopes", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    # Keys are created with `manage.py create_api_key`, which shows the secret once.
    readonly_fields = ("prefix", "digest", "user", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: APIKey | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: APIKey, form: forms.ModelForm, change: bool) -> None:
        stored = api_key_update(key=obj, name=obj.name, scopes=obj.scopes, expires_at=obj.expires_at)
        obj.name, obj.scopes, obj.expires_at = stored.name, stored.scopes, stored.expires_at

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        revoked = 0
        for key in queryset:
            if key.revoked_at is None:
                api_key_revoke(key=key)
                revoked += 1
        messages.success(request, f"Revoked {revoked} API key(s).")
