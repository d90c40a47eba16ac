"""Alerts and ingest URLs for staff: alerts are read-only here (the triage queue changes them);
ingest URLs are created with ``manage.py create_ingest_url`` (the secret is shown once) and
revoked here."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from incidents.admin import ReadOnlyAdmin

from .models import Alert, IngestToken
from .tokens import ingest_token_revoke


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("source", "source_ref", "title", "severity", "status", "occurrences", "last_seen_at", "incident")
    list_filter = ("status", "severity", "format", "source")
    list_select_related = ("incident",)
    search_fields = ("source_ref", "title", "rule", "host", "user")


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "format", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("format", "revoked_at")
    readonly_fields = (
        "name", "source", "format", "prefix", "digest", "user", "created_at", "last_used_at", "revoked_at",
    )  # fmt: skip
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: IngestToken | None = None) -> bool:
        return False  # revoke instead: the alerts it sent keep their sender

    @admin.action(description="Revoke the selected ingest URLs")
    def revoke(self, request: HttpRequest, queryset: QuerySet[IngestToken]) -> None:
        for token in queryset:
            ingest_token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} ingest URL(s).")
