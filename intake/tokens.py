"""Ingest URLs: the credential a SIEM that cannot send headers puts in the URL it posts to.

``/api/v1/ingest/it_<prefix>_<secret>/``: like an API key, a 256-bit random token of which only
a SHA-256 digest is stored (shown once, at creation), found by its public prefix, revocable. It
can only post alerts, of one ``source``, in one ``format``, as one integration principal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import integration_principal, note_use

from .models import AlertFormat, IngestToken

TOKEN_PREFIX = "it_"  # noqa: S105 - a public marker, not a secret
_TOKEN_RE = re.compile(r"it_([0-9a-f]{8})_[A-Za-z0-9_-]{20,64}")
SOURCE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def ingest_token_create(*, name: str, source: str, format: str, user: User | None = None) -> tuple[IngestToken, str]:
    """A new ingest URL token and its raw value (never stored, never shown again). Without
    ``user`` the alerts are sent as an integration principal of its own (``ingest:<name>``)."""
    name, source = name.strip(), source.strip().lower()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["An ingest URL needs a name."]
    if not SOURCE_RE.fullmatch(source):
        errors["source"] = ["A source is 1-64 lower-case letters, digits, dots, dashes or underscores."]
    if format not in AlertFormat.values:
        errors["format"] = [f"“{format}” is not one of: {', '.join(AlertFormat.values)}."]
    if errors:
        raise ValidationError(errors)
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        if user is None:
            user = integration_principal(f"ingest:{name}")
        token = IngestToken.objects.create(
            name=name, source=source, format=format, user=user, prefix=prefix, digest=_digest(raw)
        )
    return token, raw


def ingest_token_authenticate(*, raw: str) -> IngestToken | None:
    """The usable token ``raw`` is (its use noted at most once a minute), or None."""
    match = _TOKEN_RE.fullmatch(raw or "")
    if match is None:
        return None
    token = IngestToken.objects.select_related("user").filter(prefix=match.group(1)).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(raw)):
        return None
    if token.revoked_at is not None or not token.user.is_active:
        return None
    note_use(token, timezone.now())
    return token


def ingest_token_revoke(*, token: IngestToken) -> IngestToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
