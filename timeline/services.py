"""Every write to the attack timeline.

Like ``incidents.services``: keyword-only, validated, checked against the rule table, in a
transaction with the activity entry that belongs to it (the activity log says who added or
changed an event; the timeline is the story). Raise ``ValidationError`` (400 / a form error),
``PermissionDenied`` (403) and ``ConflictError`` (409, a stale edit).

Adding an event is ``Action.CONTRIBUTE``; changing one is ``Action.EDIT_TIMELINE``, or
``CONTRIBUTE`` for an event one recorded oneself. Links (evidence, indicators, a vendor) must
be on the same incident *and* visible to the actor: a vendor collaborator cannot link internal
evidence or another company, and a cross-incident id is "not on this incident" (400).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cached_property
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from config.errors import ConflictError
from config.unnest import UnnestColumns, mark_saved, server_cursor
from incidents import events
from incidents.models import Evidence, Incident, Indicator
from incidents.permissions import Action, may, require
from incidents.selectors import sees_internal, shared_with
from incidents.services import _internal_default, touch
from incidents.vendors.selectors import involvements_for

from . import attack, when
from .models import EventKind, Precision, TimelineEvent

BATCH_MAX = 1_000
TITLE_MAX = 300
SOURCE_MAX = 200
DESCRIPTION_MAX = 20_000
ATTRIBUTES_MAX_KEYS = 100
ATTRIBUTES_MAX_CHARS = 20_000
LINKS_MAX = 100
NUL_MESSAGE = "Null characters are not allowed."

# What an update may change (links included); the incident and who recorded it are not.
UPDATABLE_FIELDS = (
    "occurred_at",
    "precision",
    "kind",
    "title",
    "description",
    "source",
    "technique",
    "key_event",
    "internal",
    "evidence",
    "indicators",
    "vendor",
    "attributes",
)
_SCALAR_FIELDS = ("kind", "title", "description", "source", "technique", "key_event", "internal", "attributes")


@dataclass
class BatchResult:
    """One item of a batch: ``created`` (``event`` is it) or ``error`` (``errors``: field → messages)."""

    status: str
    event: TimelineEvent | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


class LinkScope:
    """What ``actor`` may link on ``incident``: ids of its evidence, indicators and involved
    vendors that the actor can see. Each set is read once, when first needed, so a batch or an
    import of any size costs at most three queries for its links."""

    def __init__(self, incident: Incident, actor: User) -> None:
        self.incident, self.actor = incident, actor

    @cached_property
    def evidence_ids(self) -> frozenset[int]:
        rows = shared_with(Evidence.objects.filter(incident=self.incident), self.actor)
        return frozenset(rows.values_list("pk", flat=True))

    @cached_property
    def indicator_ids(self) -> frozenset[int]:
        rows = shared_with(Indicator.objects.filter(incident=self.incident), self.actor)
        return frozenset(rows.values_list("pk", flat=True))

    @cached_property
    def vendors(self) -> dict[int, str]:
        rows = involvements_for(self.actor, self.incident).values_list("vendor_id", "vendor__name")
        return dict(rows)


def _ids(value: Any, name: str, errors: dict[str, list[str]]) -> list[int]:
    if value in (None, ""):
        return []
    if isinstance(value, int | str):
        value = [value]
    out: list[int] = []
    try:
        for item in value:
            if isinstance(item, bool):
                raise TypeError
            out.append(int(getattr(item, "pk", item)))
    except (TypeError, ValueError):
        errors[name] = [f"Give {name} as a list of ids."]
        return []
    if len(out) > LINKS_MAX:
        errors[name] = [f"At most {LINKS_MAX} {name} per event."]
    return sorted(set(out))


def _clean_links(item: Mapping[str, Any], scope: LinkScope, errors: dict[str, list[str]]) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for name, allowed_of, noun in (
        ("evidence", lambda: scope.evidence_ids, "evidence"),
        ("indicators", lambda: scope.indicator_ids, "indicator"),
    ):
        if name not in item:
            continue
        ids = _ids(item[name], name, errors)
        missing = [pk for pk in ids if pk not in allowed_of()]
        if missing:
            errors[name] = [f"No {noun} {', '.join(map(str, missing))} on this incident."]
        links[name] = ids
    if "vendor" in item:
        vendor = item["vendor"]
        vendor_id = None if vendor in (None, "") else getattr(vendor, "pk", vendor)
        try:
            vendor_id = None if vendor_id is None else int(vendor_id)
        except (TypeError, ValueError):
            errors["vendor"] = ["Give the vendor's id."]
            vendor_id = None
        if vendor_id is not None and vendor_id not in scope.vendors:
            errors["vendor"] = [f"Vendor {vendor_id} is not involved in this incident."]
        links["vendor_id"] = vendor_id
    return links


def _clean_text(value: Any, name: str, limit: int, errors: dict[str, list[str]], *, required: bool = False) -> str:
    text = "" if value is None else str(value)
    text = text.strip() if name == "description" else " ".join(text.split())
    if required and not text:
        errors[name] = ["This field is required."]
    elif "\x00" in text:
        errors[name] = [NUL_MESSAGE]  # PostgreSQL cannot store it
    elif len(text) > limit:
        errors[name] = [f"At most {limit:,} characters (it has {len(text):,})."]
    return text


def _clean_attributes(value: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors["attributes"] = ["Give attributes as an object of names and values."]
        return {}
    if len(value) > ATTRIBUTES_MAX_KEYS or len(str(value)) > ATTRIBUTES_MAX_CHARS:
        errors["attributes"] = [f"At most {ATTRIBUTES_MAX_KEYS} attributes and {ATTRIBUTES_MAX_CHARS:,} characters."]
        return {}
    if "\\u0000" in json.dumps(value, default=str):
        errors["attributes"] = [NUL_MESSAGE]  # nor can jsonb
        return {}
    return {str(key)[:100]: val for key, val in value.items()}


# Read once: ``TextChoices.values`` builds a new list on every access (per row of an import).
_VALUES = {EventKind: tuple(EventKind.values), Precision: tuple(Precision.values)}


def _choice(value: Any, choices: type, name: str, errors: dict[str, list[str]], default: str | None = None) -> str:
    value = default if value in (None, "") and default is not None else value
    values = _VALUES[choices]
    if value not in values:
        known = ", ".join(values)
        errors[name] = [f"“{value}” is not one of: {known}." if value else "This field is required."]
        return default or ""
    return value


def clean_fields(
    item: Mapping[str, Any],
    *,
    scope: LinkScope,
    partial: bool = False,
    default_zone: tzinfo | None = None,
    now: datetime | None = None,
    current: TimelineEvent | None = None,
) -> dict[str, Any]:
    """``item`` checked and normalized into model fields (plus ``evidence``/``indicators`` id
    lists). Raises ValidationError with every field's messages at once.

    ``partial``: only the keys present are checked (an update); ``current`` then supplies the
    precision or time that an update of the other one is placed with."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if not partial or "kind" in item:
        out["kind"] = _choice(item.get("kind"), EventKind, "kind", errors)
    if not partial or "title" in item:
        out["title"] = _clean_text(item.get("title"), "title", TITLE_MAX, errors, required=True)
    for name, limit in (("description", DESCRIPTION_MAX), ("source", SOURCE_MAX)):
        if not partial or name in item:
            out[name] = _clean_text(item.get(name), name, limit, errors)
    if not partial or "technique" in item:
        try:
            out["technique"] = attack.clean_technique(item.get("technique") or "")
        except ValidationError as exc:
            errors["technique"] = exc.messages
    for flag in ("key_event", "internal"):
        if flag in item and item[flag] is not None:
            if not isinstance(item[flag], bool):
                errors[flag] = ["Must be true or false."]
            else:
                out[flag] = item[flag]
    if not partial or "attributes" in item:
        out["attributes"] = _clean_attributes(item.get("attributes"), errors)
    if not partial or "occurred_at" in item or "precision" in item:
        default_precision = current.precision if current else Precision.EXACT
        precision = _choice(item.get("precision"), Precision, "precision", errors, default=default_precision)
        raw = item.get("occurred_at") if "occurred_at" in item or current is None else current.occurred_at
        try:
            moment = when.parse_moment(raw, default_zone=default_zone)
            placed = when.place(moment, precision, now=now)
        except ValidationError as exc:
            errors["occurred_at"] = exc.messages
        else:
            out["occurred_at"], out["occurred_offset"] = placed.occurred_at, placed.offset_minutes
            if "occurred_at" not in item and current is not None:
                out["occurred_offset"] = current.occurred_offset
            out["precision"] = precision
    out.update(_clean_links(item, scope, errors))
    if errors:
        raise ValidationError(errors)
    return out


def event_build(incident: Incident, actor: User, fields: dict[str, Any], now: datetime, **extra: Any) -> TimelineEvent:
    """An unsaved event from ``clean_fields``' output (``extra``: e.g. ``imported_from``); its
    links wait on it until ``events_insert`` saves them."""
    links = {name: fields.pop(name) for name in ("evidence", "indicators") if name in fields}
    event = TimelineEvent(
        incident=incident,
        recorded_by=actor,
        recorded_at=now,
        updated_at=now,
        **fields,
        **extra,
    )
    event.internal = _internal_default(fields.get("internal"), incident, actor)
    event._links = links  # type: ignore[attr-defined]  # saved by _save_links once it has a pk
    return event


def events_insert(
    *, incident: Incident, actor: User, built: list[TimelineEvent], now: datetime, import_file: str = ""
) -> None:
    """Insert events made by ``event_build`` with their links and activity entries. The caller
    holds the transaction (an import's whole file goes in one)."""
    _insert_rows(built)
    _save_links(built)
    _recorded(incident, actor, built, now, **({"import_file": import_file} if import_file else {}))


# Rows per INSERT … SELECT FROM unnest(…): one array parameter per column.
_INSERT_CHUNK = 5_000


def _insert_rows(built: list[TimelineEvent]) -> None:
    """Insert ``built`` and give each its id: on PostgreSQL one ``INSERT … SELECT * FROM
    unnest(<one array per column>) RETURNING id`` per chunk (``config.unnest``: 4x faster than
    ``bulk_create`` for a 100,000-row import). RETURNING yields the ids in the order of the
    arrays, as ``bulk_create`` relies on too."""
    if connection.vendor != "postgresql":
        TimelineEvent.objects.bulk_create(built, batch_size=2_000)
        return
    columns = UnnestColumns(TimelineEvent)
    sql = f"INSERT INTO {columns.table} ({columns.names}) SELECT * FROM unnest({columns.arrays}) RETURNING id"  # noqa: S608 - names from the model
    with server_cursor() as cursor:
        for start in range(0, len(built), _INSERT_CHUNK):
            chunk = built[start : start + _INSERT_CHUNK]
            cursor.execute(sql, columns.values(chunk))
            for event, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                mark_saved(event, pk)


def _save_links(created: list[TimelineEvent]) -> None:
    """The M2M rows of freshly inserted events, two bulk inserts for any number of events."""
    evidence_rows = [
        TimelineEvent.evidence.through(timelineevent_id=event.pk, evidence_id=pk)
        for event in created
        for pk in getattr(event, "_links", {}).get("evidence", [])
    ]
    indicator_rows = [
        TimelineEvent.indicators.through(timelineevent_id=event.pk, indicator_id=pk)
        for event in created
        for pk in getattr(event, "_links", {}).get("indicators", [])
    ]
    if evidence_rows:
        TimelineEvent.evidence.through.objects.bulk_create(evidence_rows)
    if indicator_rows:
        TimelineEvent.indicators.through.objects.bulk_create(indicator_rows)


def _recorded(incident: Incident, actor: User, created: list[TimelineEvent], now: datetime, **extra: Any) -> None:
    """The activity entries of a batch (shared and internal apart) and the incident's stamp."""
    for internal in (False, True):
        group = [event for event in created if event.internal == internal]
        if group:
            events.timeline_events_added_event(incident=incident, events=group, actor=actor, **extra)
    if created:
        touch(incident, now)


def event_add(*, incident: Incident, actor: User, **fields: Any) -> TimelineEvent:
    """Add one event (``Action.CONTRIBUTE``). ``occurred_at`` is an aware datetime, a date (with
    precision ``day``) or an ISO 8601 string with its offset; ``evidence``/``indicators`` are id
    lists and ``vendor`` an id, all of this incident. ``internal`` defaults as for findings."""
    require(actor, incident, Action.CONTRIBUTE)
    now = timezone.now()
    cleaned = clean_fields(fields, scope=LinkScope(incident, actor), now=now)
    event = event_build(incident, actor, cleaned, now)
    with transaction.atomic():
        event.save()
        _save_links([event])
        _recorded(incident, actor, [event], now)
    return event


def events_add_many(*, incident: Incident, actor: User, items: Iterable[Mapping[str, Any]]) -> list[BatchResult]:
    """Add a batch (a SIEM's or SOAR tool's post): one result per item, in order. A bad item is
    an ``error`` with its field messages and does not lose the others; the good ones are
    inserted together with one activity entry (two when some are internal)."""
    require(actor, incident, Action.CONTRIBUTE)
    items = list(items)
    if len(items) > BATCH_MAX:
        raise ValidationError({"events": [f"At most {BATCH_MAX} events per request."]})
    now = timezone.now()
    scope = LinkScope(incident, actor)
    results: list[BatchResult] = []
    built: list[TimelineEvent] = []
    for item in items:
        if not isinstance(item, Mapping):
            results.append(BatchResult("error", errors={"non_field_errors": ["Each event must be an object."]}))
            continue
        try:
            cleaned = clean_fields(item, scope=scope, now=now)
        except ValidationError as exc:
            results.append(BatchResult("error", errors=exc.message_dict))
            continue
        event = event_build(incident, actor, cleaned, now)
        built.append(event)
        results.append(BatchResult("created", event=event))
    with transaction.atomic():
        events_insert(incident=incident, actor=actor, built=built, now=now)
    return results


def _check_edit(event: TimelineEvent, actor: User) -> None:
    incident = event.incident
    if may(actor, Action.EDIT_TIMELINE, incident):
        return
    require(actor, incident, Action.CONTRIBUTE)
    if event.recorded_by_id != actor.pk:
        raise PermissionDenied("You may only change timeline events you recorded.")


def event_update(
    *, event: TimelineEvent, actor: User, data: Mapping[str, Any], version: int | None = None
) -> dict[str, tuple[Any, Any]]:
    """Change an event (``UPDATABLE_FIELDS``). ``version``, when given, is the one the editor
    saw: a different current version is a ConflictError (409) and nothing is written. Returns
    the changes, old → new, as the activity entry records them (links as id lists)."""
    _check_edit(event, actor)
    unknown = sorted(set(data) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    if data.get("internal") and not sees_internal(actor):
        raise PermissionDenied("You may not make a timeline event internal.")
    incident = event.incident
    scope = LinkScope(incident, actor)
    cleaned = clean_fields(data, scope=scope, partial=True, current=event)
    changes: dict[str, tuple[Any, Any]] = {}
    for name in (*_SCALAR_FIELDS, "occurred_at", "precision", "occurred_offset", "vendor_id"):
        if name in cleaned and getattr(event, name) != cleaned[name]:
            changes[name.removesuffix("_id")] = (getattr(event, name), cleaned[name])
    link_changes: dict[str, tuple[list[int], list[int]]] = {}
    for name, visible in (("evidence", "evidence_ids"), ("indicators", "indicator_ids")):
        if name in cleaned:
            old = sorted(getattr(event, name).values_list("pk", flat=True))
            # Links the actor cannot see (internal evidence, for a vendor collaborator) stay:
            # what they send is the list of what they see.
            new = sorted(set(cleaned[name]) | (set(old) - getattr(scope, visible)))
            if old != new:
                link_changes[name] = (old, new)
    if not changes and not link_changes:
        return {}
    now = timezone.now()
    with transaction.atomic():
        locked = TimelineEvent.objects.select_for_update().filter(pk=event.pk).only("pk", "title", "version").first()
        if locked is None:
            raise ValidationError({"event": ["This event no longer exists."]})
        current = locked.version
        if version is not None and current != version:
            raise ConflictError(locked, version)
        for name, (_old, new) in changes.items():
            setattr(event, "vendor_id" if name == "vendor" else name, new)
        event.updated_at = now
        fields = [("vendor_id" if name == "vendor" else name) for name in changes]
        TimelineEvent.objects.filter(pk=event.pk).update(
            **{name: getattr(event, name) for name in fields}, updated_at=now, version=F("version") + 1
        )
        event.version = current + 1
        for name, (_old, new) in link_changes.items():
            getattr(event, name).set(new)
        all_changes = {**changes, **link_changes}
        events.timeline_event_updated_event(event=event, actor=actor, changes=all_changes)
        touch(incident, now)
    return all_changes
