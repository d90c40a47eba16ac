"""Helpers every app's services share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models


def model_update(
    *,
    instance: models.Model,
    fields: Iterable[str],
    data: Mapping[str, Any],
    exclude_from_clean: Iterable[str] = (),
    validate_constraints: bool = True,
) -> dict[str, tuple[Any, Any]]:
    """Apply ``data`` to ``instance`` (not saved), validate, and return what changed as
    ``{field: (old, new)}``.

    ``fields`` are the only ones that may be changed here: any other key in ``data`` is a
    ValidationError naming it, and nothing is applied. Values equal to the current ones are
    not changes. The caller saves (an UPDATE with an optimistic lock, or ``save(update_fields=…)``)
    and records the returned changes in its activity entry.
    """
    allowed = set(fields)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in unknown})
    changes: dict[str, tuple[Any, Any]] = {}
    for field, value in data.items():
        old = getattr(instance, field)
        if old != value:
            changes[field] = (old, value)
            setattr(instance, field, value)
    if changes:
        instance.full_clean(exclude=list(exclude_from_clean), validate_constraints=validate_constraints)
    return changes


def as_json(value: Any) -> Any:
    """How a changed value is kept in an activity or audit entry: people by username, times as
    ISO 8601, everything else as it is (strings, numbers, booleans, None)."""
    if isinstance(value, models.Model):
        return getattr(value, "username", None) or str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def changes_as_json(changes: Mapping[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    return {field: {"old": as_json(old), "new": as_json(new)} for field, (old, new) in changes.items()}
