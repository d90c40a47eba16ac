"""Paging is configured in the Django admin: channels, escalation policies with their steps, and
SLA targets. What the services write (notifications, acknowledgements, escalations) is shown
read-only: those rows are the record of what happened, and only the services change them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from . import selectors
from .models import Acknowledgement, Channel, Escalation, EscalationPolicy, EscalationStep, Notification, SlaTarget
from .validation import channel_target_clean


class ChannelForm(forms.ModelForm):
    """The target is checked for its kind by ``notifications.validation.channel_target_clean``
    (an e-mail address, or an https URL; http only to 127.0.0.1/localhost in development)."""

    class Meta:
        model = Channel
        fields = ["name", "kind", "target", "secret", "active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, target = cleaned.get("kind"), cleaned.get("target")
        if kind and target:
            try:
                cleaned["target"] = channel_target_clean(kind, target)
            except forms.ValidationError as exc:
                # Its messages are keyed by field ("target", or "kind" for an unknown kind).
                self.add_error(None if hasattr(exc, "error_dict") else "target", exc)
        return cleaned


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "target_shown", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name"]

    @admin.display(description="Target")
    def target_shown(self, channel: Channel) -> str:
        # Slack and Teams URLs carry their secret: the list never shows them in full.
        return selectors.target_masked(channel.kind, channel.target)


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    extra = 1
    ordering = ["position"]
    fields = ["position", "delay", "include_lead", "users", "channels"]
    filter_horizontal = ["users", "channels"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "severities", "categories", "active"]
    list_filter = ["active"]
    ordering = ["position", "name"]
    inlines = [EscalationStepInline]


@admin.register(SlaTarget)
class SlaTargetAdmin(admin.ModelAdmin):
    list_display = ["severity", "acknowledge_within", "contain_within"]
    filter_horizontal = ["channels"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """The services' record: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "reason", "incident", "recipient", "transport", "status", "attempts"]
    list_filter = ["status", "transport", "reason"]
    search_fields = ["incident__reference", "recipient", "dedupe_key"]
    list_select_related = ["incident"]
    date_hierarchy = "created_at"


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ["at", "incident", "user", "channel"]
    list_filter = ["channel"]
    search_fields = ["incident__reference"]
    list_select_related = ["incident", "user"]


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "incident", "policy", "severity", "steps_fired", "next_at", "stopped_at"]
    list_filter = ["severity"]
    search_fields = ["incident__reference"]
    list_select_related = ["incident", "policy"]
