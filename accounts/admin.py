from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import APIKey, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "vendor", "is_staff", "is_active")
    list_filter = ("role", "is_staff", "is_active")
    # ``vendor``: a vendor collaborator's company; without it they see no vendor on their incidents.
    fieldsets = (*BaseUserAdmin.fieldsets, ("Breachline", {"fields": ("role", "vendor")}))
    list_select_related = ("vendor",)


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "scopes", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    # Keys are created with `manage.py create_api_key`, which shows the secret once.
    readonly_fields = ("prefix", "digest", "user", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False
