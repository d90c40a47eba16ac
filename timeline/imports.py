"""Importing a CSV or JSON Lines file into an incident's timeline.

The flow (``TimelineImport``): ``import_start`` checks what can be checked at once (extension,
size, UTF-8, a time column), keeps the file in the private evidence storage and enqueues
``import_check``, which parses every row through ``services.clean_fields`` (counts, the first
errors with their row numbers, a preview of the first good rows, ``rows_checked`` moved as it
goes) and leaves the import READY or INVALID. ``import_confirm`` claims it (READY/INVALID →
IMPORTING, a conditional update: two clicks or two workers import once) and enqueues
``import_apply``, which inserts every event in one transaction or none (FAILED, with why).

Columns (names case-insensitive; every other column is kept in ``attributes``):
- Timesketch: ``datetime`` (ISO 8601), ``timestamp`` (microseconds since the epoch, used when
  there is no datetime), ``message`` (the title; longer than 300 characters it is cut, the whole
  text going to the description), ``timestamp_desc`` (kept as an attribute);
- ours (what ``exports`` writes): ``occurred_at``, ``precision``, ``kind``, ``title``,
  ``description``, ``source``, ``technique``, ``key_event``, ``internal``, ``vendor`` (a vendor
  involved in the incident, by name or id), ``attributes`` (a JSON object).

Row numbers are what a person finds the row by: in a CSV file the line the record starts on (the
header is row 1); in JSON Lines the line; in a JSON array file the position of the object.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from itertools import chain
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import QuerySet
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts.models import User
from config.errors import ApplicationError
from incidents.models import Incident
from incidents.permissions import Action, require

from . import when
from .models import EventKind, ImportFormat, ImportStatus, Precision, TimelineEvent, TimelineImport
from .services import TITLE_MAX, LinkScope, clean_fields, event_build, events_insert

logger = logging.getLogger(__name__)

STORAGE_DIR = "timeline-imports"
ERRORS_MAX = 200  # errors kept on the import; the count of bad rows is exact
PREVIEW_ROWS = 20
PROGRESS_EVERY = 5_000  # rows between two updates of ``rows_checked``
READ_CHUNK = 1024 * 1024
EXTENSIONS = {"csv": ImportFormat.CSV, "jsonl": ImportFormat.JSONL, "ndjson": ImportFormat.JSONL}
EXTENSIONS["json"] = ImportFormat.JSONL  # a JSON array (our own export) or JSON Lines: told by the first byte
TIME_COLUMNS = ("occurred_at", "datetime", "timestamp")
TEXT_COLUMNS = ("title", "description", "source", "technique")
KNOWN_COLUMNS = frozenset(
    {*TIME_COLUMNS, *TEXT_COLUMNS, "message", "precision", "kind", "key_event", "internal", "vendor", "attributes"}
)
# Cells a spreadsheet would run as a formula: ``exports`` writes them after a ``'``, dropped here.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "x"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class ImportConflict(ApplicationError):
    """The import is not in a state that allows this (confirmed twice, cancelled while
    importing): 409."""


class Unreadable(Exception):
    """The file cannot be read past this point (broken CSV quoting, invalid JSON array, not
    UTF-8): the whole import fails with this message."""


# --- Reading the file -------------------------------------------------------------------------
def _text(chunks: Iterable[bytes]) -> Iterator[str]:
    """The file's text (UTF-8, a byte-order mark dropped); a bad byte raises Unreadable."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    done = 0
    try:
        for chunk in chunks:
            yield decoder.decode(chunk)
            done += len(chunk)
        yield decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise Unreadable(
            f"The file is not UTF-8 text (byte {done + exc.start + 1:,}): save it as UTF-8 and upload it again."
        ) from None


def _lines(texts: Iterable[str]) -> Iterator[str]:
    """Lines split on ``\\n`` only, each with its end kept (what ``csv.reader`` wants)."""
    pending = ""
    for text in texts:
        if not text:
            continue
        pending += text
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    if pending:
        yield pending


def _first_char(texts: Iterator[str]) -> tuple[str, Iterator[str]]:
    """The first character that is not white space ("" for a blank file), and the text again."""
    seen: list[str] = []
    for text in texts:
        seen.append(text)
        stripped = text.lstrip()
        if stripped:
            return stripped[0], chain(seen, texts)
    return "", iter(seen)


Row = dict[str, Any] | str  # the row's columns, or why it is not a row at all


def _csv_rows(texts: Iterator[str]) -> Iterator[tuple[int, Row]]:
    lines = _lines(texts)
    header_line = next(lines, "")
    try:
        delimiter = csv.Sniffer().sniff(header_line, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(chain([header_line], lines), delimiter=delimiter)
    try:
        header = next(reader, [])
        names = [name.strip() or f"column {index}" for index, name in enumerate(header, 1)]
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names):
                yield start, f"This row has {len(cells)} values; the header has {len(names)} columns."
                continue
            cells = [cell[1:] if cell[1:2] and cell[0] == "'" and cell[1] in FORMULA_START else cell for cell in cells]
            yield start, dict(zip(names, cells, strict=False))
    except csv.Error as exc:
        raise Unreadable(f"The CSV file cannot be read after line {reader.line_num}: {exc}.") from None


def _jsonl_rows(texts: Iterator[str]) -> Iterator[tuple[int, Row]]:
    for number, line in enumerate(_lines(texts), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, f"This line is not JSON: {getattr(exc, 'msg', exc)}."
            continue
        yield number, value if isinstance(value, dict) else "Each line must be a JSON object."


def _array_rows(texts: Iterator[str]) -> Iterator[tuple[int, Row]]:
    """The objects of a JSON array, one at a time (a 100,000-event export is never in memory)."""
    decoder = json.JSONDecoder()
    buffer, pos, eof = "", 0, False

    def fill() -> None:
        # Keep at least a chunk ahead so an object is decoded whole.
        nonlocal buffer, pos, eof
        while not eof and len(buffer) - pos < READ_CHUNK:
            text = next(texts, None)
            if text is None:
                eof = True
            else:
                buffer = buffer[pos:] + text
                pos = 0

    def skip_space() -> str:
        nonlocal pos
        while True:
            fill()
            while pos < len(buffer) and buffer[pos].isspace():
                pos += 1
            if pos < len(buffer) or eof:
                return buffer[pos] if pos < len(buffer) else ""

    if skip_space() != "[":
        raise Unreadable("A JSON file must hold an array of objects (or be JSON Lines: one object a line).")
    pos += 1
    number = 0
    while True:
        char = skip_space()
        if char == "]":
            pos += 1
            if skip_space():
                raise Unreadable("There is more after the end of the JSON array.")
            return
        if number:
            if char != ",":
                raise Unreadable(f"The JSON array is broken after object {number}: a comma or ] is missing.")
            pos += 1
            skip_space()
        number += 1
        try:
            value, pos = decoder.raw_decode(buffer, pos)
        except ValueError as exc:
            raise Unreadable(f"Object {number} of the JSON array is not valid JSON: {exc}.") from None
        yield number, value if isinstance(value, dict) else "Each item of the array must be a JSON object."


def read_rows(chunks: Iterable[bytes], format: str) -> Iterator[tuple[int, Row]]:
    """(row number, row) for every row of the file. Raises Unreadable when the file cannot be
    read any further."""
    texts = _text(chunks)
    if format == ImportFormat.CSV:
        return _csv_rows(texts)
    first, texts = _first_char(texts)
    return _array_rows(texts) if first == "[" else _jsonl_rows(texts)


# --- One row → the fields of an event -----------------------------------------------------
@dataclass(frozen=True)
class Defaults:
    """What the upload form chose for what a row does not say."""

    zone: tzinfo
    kind: str  # "" when none was chosen: a row without a kind is then an error
    internal: bool


def _flag(value: Any) -> bool | None:
    """A yes/no cell (None when empty); ValueError when it is neither."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


def _by_name(choices: Any) -> dict[str, str]:
    # Built once: ``Choices.choices`` builds its list again at every call.
    names = {str(label).lower(): value for value, label in choices.choices}
    return {**names, **{value: value for value in choices.values}}


_KINDS, _PRECISIONS = _by_name(EventKind), _by_name(Precision)


def _choice(value: Any, known: dict[str, str]) -> str:
    """A choice given by value or label, any case; anything else as it was (clean_fields
    refuses it with the list of choices)."""
    text = "" if value is None else str(value).strip()
    return known.get(text.lower(), text)


def _epoch_micros(value: Any) -> datetime:
    try:
        micros = int(str(value).strip()) if not isinstance(value, int | float) else value
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(f"“{str(value)[:40]}” is not a number of microseconds since 1970.") from None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class RowReader:
    """Turns the rows of one file into ``clean_fields`` output; one per import (one
    ``LinkScope``: the vendors are read once for the whole file)."""

    def __init__(self, *, incident: Incident, actor: User, defaults: Defaults, now: datetime) -> None:
        self.scope = LinkScope(incident, actor)
        self.defaults, self.now = defaults, now

    def vendor_id(self, value: Any) -> int:
        text = str(value).strip()
        vendors = self.scope.vendors
        if text.isdigit() and int(text) in vendors:
            return int(text)
        for pk, name in vendors.items():
            if name.casefold() == text.casefold():
                return pk
        raise ValidationError(f"No vendor “{text[:60]}” is involved in this incident.")

    def clean(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The event's fields, or ValidationError keyed by the file's column names."""
        columns = {}
        attributes: dict[str, Any] = {}
        for key, value in raw.items():
            name = str(key).strip().lower()
            if name in KNOWN_COLUMNS and name not in columns:
                columns[name] = value
            elif not _blank(value):  # an empty cell is no attribute (CSV exports leave them empty)
                attributes[str(key).strip()] = value
        errors: dict[str, list[str]] = {}
        item: dict[str, Any] = {}
        renamed: dict[str, str] = {}  # clean_fields' field → the column it came from

        time_column = next((name for name in TIME_COLUMNS if not _blank(columns.get(name))), "")
        if time_column == "timestamp":
            try:
                item["occurred_at"] = _epoch_micros(columns["timestamp"])
            except ValidationError as exc:
                errors["timestamp"] = exc.messages
        elif time_column:
            item["occurred_at"] = columns[time_column]
        else:
            errors[next((name for name in TIME_COLUMNS if name in columns), "occurred_at")] = [
                "Say when it happened (occurred_at, datetime or timestamp)."
            ]
        renamed["occurred_at"] = time_column or "occurred_at"

        for name in TEXT_COLUMNS:
            if name in columns and columns[name] is not None:
                item[name] = columns[name] if isinstance(columns[name], str) else str(columns[name])
        message = columns.get("message")
        if "message" in columns and _blank(item.get("title")):
            renamed["title"] = "message"  # Timesketch's title
        if not _blank(message):
            message = str(message).strip()
            if _blank(item.get("title")):
                title = " ".join(message.split())
                if len(title) > TITLE_MAX:
                    item["title"] = title[: TITLE_MAX - 1] + "…"
                    described = (item.get("description") or "").strip()
                    item["description"] = f"{message}\n\n{described}" if described else message
                else:
                    item["title"] = title
            else:
                attributes.setdefault("message", message)
        item["kind"] = _choice(columns.get("kind"), _KINDS) or self.defaults.kind
        if not _blank(columns.get("precision")):
            item["precision"] = _choice(columns["precision"], _PRECISIONS)
        elif isinstance(item.get("occurred_at"), str) and _DATE_ONLY.match(item["occurred_at"].strip()):
            item["precision"] = Precision.DAY  # a date without a time is known to the day
        for flag in ("key_event", "internal"):
            try:
                value = _flag(columns.get(flag))
            except ValueError:
                errors[flag] = [f"“{str(columns[flag])[:40]}” is not yes or no (true/false, 1/0)."]
                continue
            if value is not None:
                item[flag] = value
        item.setdefault("internal", self.defaults.internal)
        if not _blank(columns.get("vendor")):
            try:
                item["vendor"] = self.vendor_id(columns["vendor"])
            except ValidationError as exc:
                errors["vendor"] = exc.messages
        given = columns.get("attributes")
        if isinstance(given, str) and given.strip():
            try:
                given = json.loads(given)
            except ValueError:
                given = None
                errors["attributes"] = ["Give attributes as a JSON object."]
        if isinstance(given, dict):
            attributes = {**given, **attributes}
        elif not _blank(given):
            errors.setdefault("attributes", ["Give attributes as a JSON object."])
        item["attributes"] = attributes

        try:
            cleaned = clean_fields(item, scope=self.scope, default_zone=self.defaults.zone, now=self.now)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(renamed.get(field, field), messages)
        if errors:
            raise ValidationError(errors)
        return cleaned


def preview_row(number: int, fields: Mapping[str, Any], vendors: Mapping[int, str]) -> dict[str, Any]:
    """A good row as it will be imported, for the page (JSON: stored on the import)."""
    offset = fields.get("occurred_offset")
    moment = fields["occurred_at"]
    if offset is not None:
        moment = moment.astimezone(dt_timezone(timedelta(minutes=offset)))
    attributes = {
        key: (value[:200] if isinstance(value, str) else value) for key, value in fields["attributes"].items()
    }
    return {
        "row": number,
        "occurred_at": moment.isoformat(),
        "precision": fields["precision"],
        "kind": fields["kind"],
        "title": fields["title"],
        "description": fields["description"][:300],
        "source": fields["source"],
        "technique": fields["technique"],
        "key_event": fields.get("key_event", False),
        "internal": fields.get("internal", False),
        "vendor": vendors.get(fields.get("vendor_id")) if fields.get("vendor_id") else "",
        "attributes": attributes,
    }


# --- The stored file ------------------------------------------------------------------------
def _storage() -> Storage:
    return storages["evidence"]


def _delete_stored(name: str) -> None:
    if not name:
        return
    try:
        _storage().delete(name)
    except OSError:
        logger.warning("Could not delete the imported file %s", name, exc_info=True)


def _chunks(file: File) -> Iterator[bytes]:
    return file.chunks(READ_CHUNK)


def _format_of(filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in EXTENSIONS:
        raise ValidationError(
            {"file": [f"“{filename}” is not a .csv, .jsonl or .json file: export the timeline as CSV or JSON Lines."]}
        )
    return EXTENSIONS[extension]


def _columns_of(upload: File, format: str) -> set[str]:
    """The (lower-cased) column names of the file's first readable row, after checking that
    the whole file is UTF-8. ValidationError (``file``) for an empty or unreadable file."""
    try:
        for _ in _text(_chunks(upload)):
            pass
        rows = read_rows(_chunks(upload), format)
        for _index, (_number, row) in zip(range(50), rows, strict=False):
            if isinstance(row, dict):
                names = [str(key).strip().lower() for key in row]
                if format == ImportFormat.CSV and len(set(names)) != len(names):
                    twice = sorted({name for name in names if names.count(name) > 1})
                    raise ValidationError({"file": [f"The column {twice[0]} appears twice in the header."]})
                return set(names)
    except Unreadable as exc:
        raise ValidationError({"file": [str(exc)]}) from None
    finally:
        upload.seek(0)
    raise ValidationError({"file": ["The file has no rows to import."]})


# --- The services -------------------------------------------------------------------------------
def import_start(
    *,
    incident: Incident,
    actor: User,
    upload: File,
    default_timezone: str = "",
    default_kind: str = "",
    internal: bool | None = None,
) -> TimelineImport:
    """Receive a file to import (``Action.IMPORT_TIMELINE``): checked for what can be checked
    at once, kept in the evidence storage under ``timeline-imports/``, and its rows checked by
    the ``import_check`` task once this transaction commits. ValidationError (``file``,
    ``default_timezone``, ``default_kind``) when it cannot be imported at all."""
    require(actor, incident, Action.IMPORT_TIMELINE)
    filename = (getattr(upload, "name", "") or "timeline").replace("\\", "/").rsplit("/", 1)[-1][:255]
    format = _format_of(filename)
    limit = settings.TIMELINE_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            {"file": [f"“{filename}” is larger than the {filesizeformat(limit)} limit ({limit:,} bytes)."]}
        )
    if not upload.size:
        raise ValidationError({"file": [f"“{filename}” is empty."]})
    zone_name = default_timezone or settings.TIME_ZONE
    try:
        when.zone_named(zone_name)
    except ValidationError as exc:
        raise ValidationError({"default_timezone": exc.messages}) from None
    if default_kind and default_kind not in EventKind.values:
        raise ValidationError({"default_kind": [f"“{default_kind}” is not a kind of event."]})
    columns = _columns_of(upload, format)
    if not columns & set(TIME_COLUMNS):
        raise ValidationError(
            {"file": ["The file has no time column: name one occurred_at, datetime (ISO 8601) or timestamp."]}
        )
    if "kind" not in columns and not default_kind:
        raise ValidationError({"default_kind": ["The file has no kind column: choose the kind of its events."]})
    extension = filename.rsplit(".", 1)[-1].lower()
    name = f"{STORAGE_DIR}/{incident.pk}/{uuid.uuid4().hex}.{extension}"
    upload.seek(0)
    stored = _storage().save(name, upload)
    try:
        with transaction.atomic():
            timeline_import = TimelineImport.objects.create(
                incident=incident,
                created_by=actor,
                filename=filename,
                format=format,
                stored_name=stored,
                size=upload.size,
                default_timezone=zone_name,
                default_kind=default_kind,
                internal=incident.restricted if internal is None else internal,
            )
            transaction.on_commit(lambda: _enqueue("import_check", timeline_import.pk))
    except Exception:
        _delete_stored(stored)
        raise
    return timeline_import


def _enqueue(task: str, *args: Any) -> None:
    from . import tasks  # the tasks import this module

    getattr(tasks, task).delay(*args)


def _progress(timeline_import: TimelineImport, in_status: str, **fields: Any) -> bool:
    """Move the import on if it is still ``in_status``; False when someone cancelled it."""
    return bool(TimelineImport.objects.filter(pk=timeline_import.pk, status=in_status).update(**fields))


def _failed(import_id: int, status: str, message: str) -> None:
    """FAILED with ``message`` if still in ``status``; the stored file goes (nothing can use it)."""
    stored = TimelineImport.objects.filter(pk=import_id).values_list("stored_name", flat=True).first()
    failed = TimelineImport.objects.filter(pk=import_id, status=status).update(
        status=ImportStatus.FAILED, failure=message[:2_000], stored_name="", finished_at=timezone.now()
    )
    if failed and stored:
        _delete_stored(stored)


def _reader(timeline_import: TimelineImport, actor: User, now: datetime) -> RowReader:
    defaults = Defaults(
        zone=when.zone_named(timeline_import.default_timezone),
        kind=timeline_import.default_kind,
        internal=timeline_import.internal,
    )
    return RowReader(incident=timeline_import.incident, actor=actor, defaults=defaults, now=now)


def _rows(timeline_import: TimelineImport) -> Iterator[tuple[int, Row]]:
    with _storage().open(timeline_import.stored_name, "rb") as file:
        yield from read_rows(_chunks(file), timeline_import.format)


def _error(number: int, field: str, message: str) -> dict[str, Any]:
    return {"row": number, "field": field, "message": message}


def _each_row(
    timeline_import: TimelineImport, reader: RowReader, on_good: Callable[[int, dict[str, Any]], None]
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(row number, errors) for every row; ``on_good`` gets the fields of a good row."""
    for number, row in _rows(timeline_import):
        if isinstance(row, str):
            yield number, [_error(number, "", row)]
            continue
        try:
            fields = reader.clean(row)
        except ValidationError as exc:
            yield number, [_error(number, field, msg) for field, msgs in exc.message_dict.items() for msg in msgs]
            continue
        on_good(number, fields)
        yield number, []


def import_check(*, import_id: int) -> None:
    """Check every row of a VALIDATING import (the ``import_check`` task): READY when all rows
    are good, INVALID otherwise (errors kept, the first ``ERRORS_MAX``), FAILED when the file
    cannot be read. Does nothing to an import in any other state (a task delivered twice)."""
    timeline_import = TimelineImport.objects.select_related("incident", "created_by").filter(pk=import_id).first()
    if timeline_import is None or timeline_import.status != ImportStatus.VALIDATING:
        return
    try:
        actor = timeline_import.created_by
        if actor is None:
            raise PermissionDenied("The person who uploaded the file no longer exists.")
        reader = _reader(timeline_import, actor, timezone.now())
        errors: list[dict[str, Any]] = []
        preview: list[dict[str, Any]] = []
        total = bad = 0

        def keep(number: int, fields: dict[str, Any]) -> None:
            if len(preview) < PREVIEW_ROWS:
                preview.append(preview_row(number, fields, reader.scope.vendors if "vendor_id" in fields else {}))

        limit = settings.TIMELINE_IMPORT_MAX_ROWS
        for _number, row_errors in _each_row(timeline_import, reader, keep):
            total += 1
            if total > limit:
                # The import holds every event of the file until its one transaction commits.
                raise Unreadable(f"The file has more than {limit:,} rows: split it and import the parts one by one.")
            if row_errors:
                bad += 1
                errors.extend(row_errors[: max(0, ERRORS_MAX - len(errors))])
            if total % PROGRESS_EVERY == 0 and not _progress(
                timeline_import, ImportStatus.VALIDATING, rows_checked=total
            ):
                return  # cancelled meanwhile
        if not total:
            raise Unreadable("The file has no rows to import.")
        _progress(
            timeline_import,
            ImportStatus.VALIDATING,
            status=ImportStatus.INVALID if bad else ImportStatus.READY,
            rows_total=total,
            rows_checked=total,
            rows_bad=bad,
            errors=errors,
            preview=preview,
        )
    except (Unreadable, PermissionDenied, ValidationError) as exc:
        _failed(import_id, ImportStatus.VALIDATING, " ".join(getattr(exc, "messages", [str(exc)])))
    except Exception:
        logger.exception("Checking timeline import %s failed", import_id)
        _failed(import_id, ImportStatus.VALIDATING, "The file could not be checked (an unexpected error).")


def import_confirm(*, timeline_import: TimelineImport, actor: User, skip_bad_rows: bool = False) -> TimelineImport:
    """Import a checked file (``Action.IMPORT_TIMELINE``): READY, or INVALID when
    ``skip_bad_rows`` says to import the good rows only. Claims the import with a conditional
    update, so a second click (or a second worker) finds it IMPORTING: ImportConflict (409).
    The ``import_apply`` task runs once this transaction commits."""
    incident = timeline_import.incident
    require(actor, incident, Action.IMPORT_TIMELINE)
    status = timeline_import.status
    if status not in (ImportStatus.READY, ImportStatus.INVALID):
        raise ImportConflict(f"This import is {timeline_import.get_status_display().lower()}: it cannot be confirmed.")
    good = timeline_import.rows_total - timeline_import.rows_bad
    if status == ImportStatus.INVALID and not skip_bad_rows:
        raise ValidationError(
            {
                "skip_bad_rows": [
                    f"{timeline_import.rows_bad:,} rows are bad: fix them and upload the file again, "
                    f"or tick “skip the bad rows” to import only the {good:,} good ones."
                ]
            }
        )
    if good <= 0:
        raise ValidationError({"skip_bad_rows": ["No row of this file can be imported."]})
    with transaction.atomic():
        claimed = TimelineImport.objects.filter(
            pk=timeline_import.pk, status__in=[ImportStatus.READY, ImportStatus.INVALID]
        ).update(status=ImportStatus.IMPORTING, skip_bad_rows=status == ImportStatus.INVALID)
        if not claimed:
            raise ImportConflict("This import has already been confirmed.")
        transaction.on_commit(lambda: _enqueue("import_apply", timeline_import.pk, actor.pk))
    timeline_import.status = ImportStatus.IMPORTING
    timeline_import.skip_bad_rows = status == ImportStatus.INVALID
    return timeline_import


class _Refused(Exception):
    pass


def import_apply(*, import_id: int, actor_id: int) -> None:
    """Insert the events of an IMPORTING import (the ``import_apply`` task), all in one
    transaction: DONE with ``rows_imported`` and the stored file deleted, or FAILED with why and
    nothing inserted. A row bad now (a vendor removed since the check) fails an import that did
    not choose to skip bad rows. Does nothing to an import in any other state: a task delivered
    twice waits on the row lock of the first, then finds it DONE."""
    try:
        with transaction.atomic():
            timeline_import = (
                TimelineImport.objects.select_for_update(of=("self",))
                .select_related("incident")
                .filter(pk=import_id)
                .first()
            )
            if timeline_import is None or timeline_import.status != ImportStatus.IMPORTING:
                return
            actor = User.objects.filter(pk=actor_id).first()
            if actor is None:
                raise _Refused("The person who confirmed the import no longer exists.")
            incident = timeline_import.incident
            require(actor, incident, Action.IMPORT_TIMELINE)
            now = timezone.now()
            reader = _reader(timeline_import, actor, now)
            built: list[TimelineEvent] = []

            def build(number: int, fields: dict[str, Any]) -> None:
                built.append(event_build(incident, actor, fields, now, imported_from=timeline_import))

            for number, row_errors in _each_row(timeline_import, reader, build):
                if row_errors and not timeline_import.skip_bad_rows:
                    first = row_errors[0]
                    where = f"row {number} {first['field']}".strip()
                    raise _Refused(f"Nothing was imported: {where}: {first['message']}")
            if not built:
                raise _Refused("Nothing was imported: no row is good any more.")
            # One call for the whole file: one activity entry ("added N timeline events from
            # <file>"; two when some are internal); bulk inserts of 2,000 rows inside it.
            events_insert(incident=incident, actor=actor, built=built, now=now, import_file=timeline_import.filename)
            stored = timeline_import.stored_name
            TimelineImport.objects.filter(pk=timeline_import.pk).update(
                status=ImportStatus.DONE, rows_imported=len(built), stored_name="", finished_at=timezone.now()
            )
            transaction.on_commit(lambda: _delete_stored(stored))
    except (_Refused, Unreadable) as exc:
        _failed(import_id, ImportStatus.IMPORTING, str(exc))
    except (PermissionDenied, ValidationError) as exc:
        _failed(import_id, ImportStatus.IMPORTING, " ".join(getattr(exc, "messages", [str(exc)])))
    except Exception:
        logger.exception("Applying timeline import %s failed", import_id)
        _failed(import_id, ImportStatus.IMPORTING, "Nothing was imported: an unexpected error.")


def import_cancel(*, timeline_import: TimelineImport, actor: User) -> TimelineImport:
    """Drop an import that has not started importing (``Action.IMPORT_TIMELINE``): CANCELLED,
    its file deleted. ImportConflict (409) once it is importing or finished."""
    require(actor, timeline_import.incident, Action.IMPORT_TIMELINE)
    open_states = [ImportStatus.VALIDATING, ImportStatus.READY, ImportStatus.INVALID, ImportStatus.FAILED]
    with transaction.atomic():
        cancelled = TimelineImport.objects.filter(pk=timeline_import.pk, status__in=open_states).update(
            status=ImportStatus.CANCELLED, stored_name="", finished_at=timezone.now()
        )
        if not cancelled:
            raise ImportConflict("This import is already importing or finished: it cannot be cancelled.")
        stored = timeline_import.stored_name
        transaction.on_commit(lambda: _delete_stored(stored))
    timeline_import.status, timeline_import.stored_name = ImportStatus.CANCELLED, ""
    return timeline_import


# --- Reads --------------------------------------------------------------------------------------
def imports_of(incident: Incident) -> QuerySet[TimelineImport]:
    """The incident's imports, newest first (the caller checked ``Action.IMPORT_TIMELINE``)."""
    return TimelineImport.objects.filter(incident=incident).select_related("created_by")


def import_get(*, incident: Incident, import_id: int) -> TimelineImport | None:
    """One import of ``incident`` (None → 404), with its incident attached."""
    found = imports_of(incident).filter(pk=import_id).first()
    if found is not None:
        found.incident = incident
    return found
