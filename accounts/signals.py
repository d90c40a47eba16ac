"""Receivers that feed the audit log (``accounts.audit``): logins, logouts, failed logins, and
permission changes on people. Connected in ``AccountsConfig.ready``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

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
