"""The timeline in the Django admin: read-only. Events are added and changed on the incident's
timeline page or through the API, so the activity log records who changed the story."""

from __future__ import annotations

from django.contrib import admin

from incidents.admin import ReadOnlyAdmin

from .models import TimelineEvent, TimelineImport


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "precision", "kind", "title", "technique", "incident", "key_event", "internal")
    list_filter = ("kind", "precision", "key_event", "internal")
    list_select_related = ("incident",)
    search_fields = ("title", "technique", "incident__reference")
    raw_id_fields = ("incident", "vendor", "evidence", "indicators")


@admin.register(TimelineImport)
class TimelineImportAdmin(ReadOnlyAdmin):
    list_display = ("filename", "incident", "status", "rows_total", "rows_bad", "rows_imported", "created_at")
    list_filter = ("status", "format")
    list_select_related = ("incident",)
