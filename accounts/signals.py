"""Receivers that feed the audit log (``accounts.audit``): logins, logouts, failed logins,
permission changes on people (connected in ``AccountsConfig.ready``), and writes through the
Django admin (connected below, when ``ready`` imports this module)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from . import audit
from .models import User


def logged_in(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    audit.audit_record(action=audit.AuditAction.LOGIN, actor=user, obj=user, summary="logged in", request=request)


def logged_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    # Logging out with no session (user None) is not anyone's act.
    if user is not None:
        audit.audit_record(action=audit.AuditAction.LOGOUT, actor=user, obj=user, summary="logged out", request=request)


def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    """Only the name typed is kept; Django has already masked the password in ``credentials``,
    and nothing but the username field is read from it anyway."""
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")
    audit.audit_record(
        action=audit.AuditAction.LOGIN_FAILED,
        actor_name=username,
        summary=f"failed login as “{username}”",
        changes={"username": username},
        request=request,
    )


def user_before_save(sender: Any, instance: User, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    """Remember the stored permission fields of a person about to be saved (one query), unless
    the save cannot touch them: a login's ``update_fields=["last_login"]`` costs nothing."""
    instance._audit_before = None
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(audit.PERMISSION_FIELDS):
        return
    instance._audit_before = User.objects.filter(pk=instance.pk).values(*audit.PERMISSION_FIELDS).first()


def user_saved(sender: Any, instance: User, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:  # loaddata: not a change anyone made
        return
    before = getattr(instance, "_audit_before", None)
    if created:
        audit.record_permission_change(user=instance, before=None, after=audit.permission_fields(instance))
    elif before is not None:
        audit.record_permission_change(user=instance, before=before, after=audit.permission_fields(instance))
    instance._audit_before = None


# --- The Django admin -----------------------------------------------------------------------------
# Connected here (this module is imported by ``AccountsConfig.ready``): any model, any app's admin.
@receiver(pre_save, dispatch_uid="audit_admin_before_save")
def admin_before_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        audit.admin_snapshot_before(instance)


@receiver(post_save, dispatch_uid="audit_admin_saved")
def admin_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        audit.admin_snapshot_after(instance, created)


@receiver(post_save, sender="admin.LogEntry", dispatch_uid="audit_admin_logged")
def admin_logged(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """Every add, change and single delete in the admin writes a LogEntry with ``save()``; the
    "delete selected" action's ``bulk_create`` sends no signal and is recorded by the site-wide
    action that replaces Django's (``accounts.admin.delete_selected``)."""
    if created and not raw:
        audit.record_admin_log([instance])
