"""Exporting an incident's timeline as CSV or JSON, streamed row by row (100,000 events never sit
in memory), in the columns ``imports`` reads, so an export imports back as the same story.

- ``occurred_at``: ISO 8601 in the offset the event was given in (UTC when unknown); an event
  known to the day is its date alone (it has no time of day, and its date is the timeline's);
- ``precision``, ``kind``, ``title``, ``description``, ``source``, ``technique``, ``key_event``,
  ``internal`` (not for vendor collaborators: they only ever see shared events), ``vendor`` (the
  vendor's name, as the viewer may know it);
- ``attributes``: in CSV one column per attribute name (empty where an event has none), in JSON
  an object. Links to evidence and indicators are the incident's own ids: not exported.

CSV cells that a spreadsheet would run as a formula (``= + - @``, tab, carriage return first)
are written with a ``'`` before them; ``imports`` drops it again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.db import connection
from django.db.models import F, Func, QuerySet

from accounts.models import User
from incidents.models import Incident
from incidents.selectors import sees_internal

from .imports import FORMULA_START, KNOWN_COLUMNS
from .models import Precision, TimelineEvent

BASE_COLUMNS = (
    "occurred_at",
    "precision",
    "kind",
    "title",
    "description",
    "source",
    "technique",
    "key_event",
    "internal",
    "vendor",
)
ROWS_PER_CHUNK = 500  # rows written per chunk of the response
ITERATOR_CHUNK = 2_000  # rows fetched per round trip to the database


def occurred_text(event: TimelineEvent) -> str:
    """When the event happened as the export writes it (see the module's docstring)."""
    if event.precision == Precision.DAY:
        from .when import display_zone

        return event.occurred_at.astimezone(display_zone()).date().isoformat()
    offset = event.occurred_offset
    zone = dt_timezone(timedelta(minutes=offset)) if offset is not None else UTC
    return event.occurred_at.astimezone(zone).isoformat()


def columns_for(viewer: User) -> tuple[str, ...]:
    return BASE_COLUMNS if sees_internal(viewer) else tuple(name for name in BASE_COLUMNS if name != "internal")


def _vendor_name(event: TimelineEvent, viewer: User, staff: bool) -> str:
    # As timeline.selectors.vendor_shown: a vendor collaborator knows only their own company.
    if event.vendor_id is None:
        return ""
    if staff or event.vendor_id == getattr(viewer, "vendor_id", None):
        return event.vendor.name
    return ""


def event_record(event: TimelineEvent, viewer: User, columns: tuple[str, ...], staff: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "occurred_at": occurred_text(event),
        "precision": event.precision,
        "kind": event.kind,
        "title": event.title,
        "description": event.description,
        "source": event.source,
        "technique": event.technique,
        "key_event": event.key_event,
        "internal": event.internal,
        "vendor": _vendor_name(event, viewer, staff),
    }
    return {name: record[name] for name in columns}


def _rows(events: QuerySet[TimelineEvent]) -> Iterator[TimelineEvent]:
    return events.select_related("vendor").iterator(chunk_size=ITERATOR_CHUNK)


def attribute_names(events: QuerySet[TimelineEvent]) -> list[str]:
    """Every attribute name of ``events``, sorted: the CSV's extra columns (one query)."""
    if connection.vendor == "postgresql":
        keys = Func(F("attributes"), function="jsonb_object_keys")
        rows = events.order_by().annotate(key=keys).values_list("key", flat=True).distinct()
        return sorted(rows)
    names: set[str] = set()
    for attributes in events.order_by().values_list("attributes", flat=True).iterator(chunk_size=ITERATOR_CHUNK):
        names.update(attributes or {})
    return sorted(names)


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_chunks(events: QuerySet[TimelineEvent], viewer: User) -> Iterator[str]:
    """The CSV file, a few hundred rows at a time. Attribute names that clash with a column of
    our own go, as a JSON object, into an ``attributes`` column."""
    columns = columns_for(viewer)
    staff = sees_internal(viewer)
    names = attribute_names(events)
    extra = [name for name in names if name.strip().lower() not in KNOWN_COLUMNS]
    clashing = set(names) - set(extra)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*columns, *extra, *(["attributes"] if clashing else [])])
    for count, event in enumerate(_rows(events), 1):
        record = event_record(event, viewer, columns, staff)
        attributes = event.attributes or {}
        row = [_cell(record[name]) for name in columns]
        row += [_cell(attributes.get(name)) for name in extra]
        if clashing:
            kept = {key: value for key, value in attributes.items() if key in clashing}
            row.append(_cell(kept) if kept else "")
        writer.writerow(row)
        if count % ROWS_PER_CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def json_chunks(events: QuerySet[TimelineEvent], viewer: User) -> Iterator[str]:
    """A JSON array of event objects, one a line (``imports`` reads it back)."""
    columns = columns_for(viewer)
    staff = sees_internal(viewer)
    parts: list[str] = []
    separator = "[\n"
    for event in _rows(events):
        record = event_record(event, viewer, columns, staff)
        record["attributes"] = event.attributes or {}
        parts.append(separator + json.dumps(record, ensure_ascii=False))
        separator = ",\n"
        if len(parts) == ROWS_PER_CHUNK:
            yield "".join(parts)
            parts = []
    parts.append("[]\n" if separator == "[\n" else "\n]\n")
    yield "".join(parts)


def filename(incident: Incident, format: str) -> str:
    return f"{incident.reference}-timeline.{format}"
