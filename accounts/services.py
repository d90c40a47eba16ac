"""Writes for accounts: API keys."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import audit
from .models import APIKey, Role, Scope, User

KEY_PREFIX = "bl_"
# last_used_at is written at most this often per key, so a busy SIEM does not turn every
# request into an UPDATE.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# The public prefix of every key api_key_create issues (secrets.token_hex(4)).
PREFIX_RE = re.compile(r"[0-9a-f]{8}")


def integration_principal(username: str) -> User:
    """The integration user an API key or ingest URL acts as (created once, without a usable
    password: it never signs in)."""
    user, created = User.objects.get_or_create(username=username[:150], defaults={"role": Role.INTEGRATION})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def note_use(credential: Any, now: datetime) -> bool:
    """Stamp a credential's ``last_used_at`` (an API key, an ingest URL), at most once per
    ``LAST_USED_RESOLUTION``. Returns whether this call stamped it: the update is conditional,
    so of two requests racing in the same minute only one does (and only that one is audited)."""
    if credential.last_used_at is not None and now - credential.last_used_at <= LAST_USED_RESOLUTION:
        return False
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    stamped = type(credential).objects.filter(stale, pk=credential.pk).update(last_used_at=now) == 1
    credential.last_used_at = now
    return stamped


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(
    *,
    name: str,
    scopes: list[str],
    user: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[APIKey, str]:
    """Create a key and return it with the raw secret, which is never stored or shown again.

    Without ``user`` the key gets its own integration principal (``api:<name>``), which sees
    only unrestricted incidents. Raises ValidationError for unknown scopes or a past expiry.
    """
    name = name.strip()
    api_key_check(name=name, scopes=scopes, expires_at=expires_at)

    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        if user is None:
            user = integration_principal(f"api:{name}")
        key = APIKey.objects.create(
            name=name,
            user=user,
            prefix=prefix,
            digest=_digest(raw_key),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        audit.audit_record(
            action=audit.AuditAction.API_KEY_CREATED,
            actor=audit.request_user(audit.current_request()),
            obj=key,
            summary=f"created the API key {key.name} ({key.prefix}…) acting as {user.get_username()}",
            changes={"name": key.name, "user": user.get_username(), "scopes": key.scopes, "expires_at": expires_at},
        )
    return key, raw_key


def api_key_check(*, name: str, scopes: list[str], expires_at: datetime | None) -> None:
    """Raise ValidationError (per field) for what a key may not have: no name, no or unknown
    scopes, an expiry in the past. Shared by ``api_key_create``, ``api_key_update`` and the
    admin's form."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["A key needs a name."]
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        errors["scopes"] = [f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(Scope.values)}."]
    elif not scopes:
        errors["scopes"] = ["A key needs at least one scope."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise ValidationError(errors)


def api_key_update(*, key: APIKey, name: str, scopes: list[str], expires_at: datetime | None) -> APIKey:
    """Change a key's name, scopes or expiry, recording old → new of what changed (an
    ``api_key_changed`` entry; nothing when nothing changed). Revocation is ``api_key_revoke``'s.
    Raises ValidationError as ``api_key_check`` does. Returns the key as stored."""
    name = name.strip()
    scopes = sorted(set(scopes))
    with transaction.atomic():
        stored = APIKey.objects.select_for_update().get(pk=key.pk)
        new = {"name": name, "scopes": scopes, "expires_at": expires_at}
        changed = {
            field: {"old": getattr(stored, field), "new": value}
            for field, value in new.items()
            if getattr(stored, field) != value
        }
        if not changed:
            return stored
        # An unchanged past expiry may stay (the key is simply expired); a new one may not be past.
        api_key_check(name=name, scopes=scopes, expires_at=expires_at if "expires_at" in changed else None)
        for field, change in changed.items():
            setattr(stored, field, change["new"])
        stored.save(update_fields=list(changed))
        audit.audit_record(
            action=audit.AuditAction.API_KEY_CHANGED,
            actor=audit.request_user(audit.current_request()),
            obj=stored,
            summary=f"changed the API key {stored.name} ({stored.prefix}…): {', '.join(changed)}",
            changes=changed,
        )
    return stored


def api_key_revoke(*, key: APIKey) -> APIKey:
    """Revoke ``key`` (once: revoking a revoked key changes and records nothing)."""
    if key.revoked_at is None:
        with transaction.atomic():
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit.audit_record(
                action=audit.AuditAction.API_KEY_REVOKED,
                actor=audit.request_user(audit.current_request()),
                obj=key,
                summary=f"revoked the API key {key.name} ({key.prefix}…)",
                changes={"revoked_at": {"old": None, "new": key.revoked_at}},
            )
    return key


def api_key_authenticate(*, raw_key: str, request: Any = None) -> APIKey | None:
    """Return the usable key matching ``raw_key`` (and note its use), or None. A use that
    stamps ``last_used_at`` (once a minute per key) is audited, from ``request``'s address."""
    if not raw_key.startswith(KEY_PREFIX):
        return None
    prefix, _, _ = raw_key[len(KEY_PREFIX) :].partition("_")
    # Anything not shaped like an issued prefix matches no key; checking first also keeps text
    # PostgreSQL cannot compare (NUL) out of the query, which would otherwise be a 500.
    if not PREFIX_RE.fullmatch(prefix):
        return None
    key = APIKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.digest, _digest(raw_key)):
        return None
    now = timezone.now()
    if not key.is_usable(now) or not key.user.is_active:
        return None
    if note_use(key, now):
        audit.audit_record(
            action=audit.AuditAction.API_KEY_USED,
            actor=key.user,
            obj=key,
            summary=f"used the API key {key.name} ({key.prefix}…)",
            request=request,
        )
    return key
