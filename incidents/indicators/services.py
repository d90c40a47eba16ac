"""Every write to indicators.

Like ``incidents.services``: keyword-only, validated, checked against the rule table (adding
and changing indicators is ``Action.CONTRIBUTE``, as findings), in a transaction with the
activity entry that belongs to it. They raise ``ValidationError`` (400 / form error) and
``PermissionDenied`` (403). Values are normalized (``normalize``) before anything else, so
uniqueness per incident and correlation across incidents compare canonical values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from config.services import model_update

from .. import events
from ..models import Incident, Indicator, IndicatorRole, Tlp
from ..permissions import Action, require
from ..selectors import sees_internal
from ..services import _internal_default, touch
from .normalize import is_ours, normalize

# The fields an indicator's update may change; type and value are what it *is*.
INDICATOR_UPDATABLE_FIELDS = (
    "role",
    "tlp",
    "confidence",
    "first_seen",
    "last_seen",
    "source",
    "description",
    "internal",
)
BULK_MAX = 1_000


@dataclass
class BulkResult:
    """One item of a bulk create: ``status`` is ``created``, ``duplicate`` (already on the
    incident: ``indicator`` is the existing one) or ``error`` (``errors``: field → messages)."""

    status: str
    indicator: Indicator | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def _check_seen(first_seen: datetime | None, last_seen: datetime | None) -> None:
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    if first_seen and first_seen > now:
        errors["first_seen"] = ["First seen cannot be in the future."]
    if last_seen and last_seen > now:
        errors["last_seen"] = ["Last seen cannot be in the future."]
    if first_seen and last_seen and first_seen > last_seen:
        errors.setdefault("last_seen", []).append("Last seen cannot be before first seen.")
    if errors:
        raise ValidationError(errors)


def _build(*, incident: Incident, actor: User, item: Mapping[str, Any], now: datetime) -> Indicator:
    """A validated, unsaved indicator from ``item`` (``type``, ``value`` and optional fields)."""
    kind = item.get("type") or ""
    value = normalize(kind, item.get("value") or "")
    role = item.get("role") or (IndicatorRole.AFFECTED if is_ours(kind, value) else IndicatorRole.ATTACKER)
    first_seen, last_seen = item.get("first_seen"), item.get("last_seen")
    _check_seen(first_seen, last_seen)
    indicator = Indicator(
        incident=incident,
        type=kind,
        value=value,
        role=role,
        tlp=item.get("tlp") or Tlp.AMBER,
        confidence=50 if item.get("confidence") is None else item["confidence"],
        first_seen=first_seen,
        last_seen=last_seen,
        source=" ".join((item.get("source") or "").split()),
        description=(item.get("description") or "").strip(),
        internal=_internal_default(item.get("internal"), incident, actor),
        added_by=actor,
        added_at=now,
        updated_at=now,
    )
    # The loaded incident and actor need no query; uniqueness is checked by the caller.
    indicator.full_clean(exclude=["incident", "added_by", "stix_id"], validate_constraints=False)
    return indicator


def _duplicate_error(indicator: Indicator) -> ValidationError:
    return ValidationError({"value": [f"The {indicator.label} is already on this incident."]})


def _existing(incident: Incident, indicator: Indicator) -> Indicator | None:
    return Indicator.objects.filter(incident=incident, type=indicator.type, value=indicator.value).first()


def _save(incident: Incident, indicator: Indicator) -> Indicator | None:
    """Insert in a savepoint; the existing row instead when the (incident, type, value) is taken
    (checked first, and caught again for a concurrent insert of the same value)."""
    existing = _existing(incident, indicator)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            indicator.save()
    except IntegrityError:
        existing = _existing(incident, indicator)
        if existing is None:
            raise
        return existing
    return None


def _recorded(incident: Incident, actor: User, created: list[Indicator], now: datetime) -> None:
    """The activity entries of a batch (shared and internal apart) and the incident's stamp."""
    for internal in (False, True):
        group = [indicator for indicator in created if indicator.internal == internal]
        if group:
            events.indicators_added_event(incident=incident, indicators=group, actor=actor)
    if created:
        touch(incident, now)


def indicator_add(*, incident: Incident, actor: User, type: str, value: str, **fields: Any) -> Indicator:
    """Add one indicator (``Action.CONTRIBUTE``). ``value`` may be defanged; it is normalized for
    ``type``. ``role`` defaults to affected for our own addresses and domains, attacker-side
    otherwise; ``tlp`` to AMBER; ``internal`` to the incident's ``restricted`` flag (never for a
    vendor collaborator). A value already on the incident is a ValidationError on ``value``."""
    require(actor, incident, Action.CONTRIBUTE)
    now = timezone.now()
    indicator = _build(incident=incident, actor=actor, item={"type": type, "value": value, **fields}, now=now)
    with transaction.atomic():
        if _save(incident, indicator) is not None:
            raise _duplicate_error(indicator)
        _recorded(incident, actor, [indicator], now)
    return indicator


def indicators_add_many(*, incident: Incident, actor: User, items: Iterable[Mapping[str, Any]]) -> list[BulkResult]:
    """Add many indicators (a SIEM's batch, a confirmed extraction), each on its own: one result
    per item, in order. A bad item is an ``error`` with its field messages and a value already on
    the incident (or earlier in the batch) a ``duplicate``; neither loses the others, each insert
    runs in its own savepoint. One activity entry for what was created (two when some are
    internal)."""
    require(actor, incident, Action.CONTRIBUTE)
    items = list(items)
    if len(items) > BULK_MAX:
        raise ValidationError({"indicators": [f"At most {BULK_MAX} indicators per request."]})
    now = timezone.now()
    results: list[BulkResult] = []
    created: list[Indicator] = []
    with transaction.atomic():
        for item in items:
            try:
                indicator = _build(incident=incident, actor=actor, item=item, now=now)
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
                results.append(BulkResult("error", errors=errors))
                continue
            existing = _save(incident, indicator)
            if existing is not None:
                results.append(BulkResult("duplicate", indicator=existing))
                continue
            created.append(indicator)
            results.append(BulkResult("created", indicator=indicator))
        _recorded(incident, actor, created, now)
    return results


def indicators_confirm(
    *,
    incident: Incident,
    actor: User,
    picked: Iterable[tuple[str, str]],
    tlp: str = Tlp.AMBER,
    source: str = "",
    internal: bool | None = None,
) -> list[BulkResult]:
    """Add the candidates a responder picked from pasted text (``(type, value)`` pairs, as
    ``extract`` proposed them). Each one's role is decided here again, never taken from the
    form: our own addresses and domains are affected assets, never attacker-side."""
    items = [
        {"type": kind, "value": value, "tlp": tlp, "source": source, "internal": internal, "role": None}
        for kind, value in picked
    ]
    return indicators_add_many(incident=incident, actor=actor, items=items)


def indicator_update(*, indicator: Indicator, actor: User, data: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Change an indicator's marking and context (``INDICATOR_UPDATABLE_FIELDS``;
    ``Action.CONTRIBUTE``). A vendor collaborator may not make one internal. Returns the changes,
    old → new, as recorded in the activity entry."""
    incident = indicator.incident
    require(actor, incident, Action.CONTRIBUTE)
    if data.get("internal") and not sees_internal(actor):
        raise PermissionDenied("You may not make an indicator internal.")
    first_seen = data.get("first_seen", indicator.first_seen)
    last_seen = data.get("last_seen", indicator.last_seen)
    if "first_seen" in data or "last_seen" in data:
        _check_seen(first_seen, last_seen)
    changes = model_update(
        instance=indicator,
        fields=INDICATOR_UPDATABLE_FIELDS,
        data=data,
        exclude_from_clean=["incident", "added_by", "stix_id"],
        validate_constraints=False,
    )
    if not changes:
        return changes
    now = timezone.now()
    indicator.updated_at = now
    with transaction.atomic():
        indicator.save(update_fields=[*changes, "updated_at"])
        events.indicator_updated_event(indicator=indicator, actor=actor, changes=changes)
        touch(incident, now)
    return changes
