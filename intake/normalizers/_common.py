"""What the five normalizers share: reading nested or dotted keys, turning values into text,
parsing times, mapping severities, trimming to the Alert's column sizes, collecting observables
and field errors.

Nothing here recurses over the payload: lookups walk only as deep as the path asked for, so a
payload nested 10,000 levels deep costs what a flat one does.

How strict a normalizer is about a field follows who writes it:
- what identifies the alert (``source_ref``, the title) must be there and be text (a number is
  taken as its text) — otherwise a ``NormalizeError`` names the field;
- times the SIEM itself stamps (Elastic's ``@timestamp``, Wazuh's ``timestamp``, Sentinel's
  ``…TimeUtc``) must parse when present;
- everything copied from the event (hosts, users, IPs in a Splunk result row or Wazuh's
  ``data``) is taken when it is usable and skipped when it is not: a decoder's or a search's
  odd field must not cost the alert. Severities the mapping does not know fall back to the
  format's default, and the native value is kept in ``extra``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, datetime
from typing import Any

from incidents.models import IndicatorType

from . import NormalizeError

# The Alert's column sizes (intake.models.Alert).
TITLE_MAX = 300
RULE_MAX = 200
HOST_MAX = 255
USER_MAX = 255
SOURCE_REF_MAX = 200
SOURCE_MAX = 64
# Alert.description is a TextField; the raw payload keeps the whole text. A triage queue row
# does not need a 1 MB log line, so descriptions are cut here.
DESCRIPTION_MAX = 10_000
# One alert names a handful of observables; more than this is a payload built to flood the
# candidate indicators (generic refuses it, the vendor formats keep the first ones).
OBSERVABLES_MAX = 1_000
# An observable longer than an indicator may be (incidents.models.INDICATOR_VALUE_MAX) cannot
# become one: skipped here rather than carried to the service.
OBSERVABLE_VALUE_MAX = 2_048
# Short text kept in ``extra`` for display.
EXTRA_TEXT_MAX = 500
EXTRA_LIST_MAX = 50
# No ISO 8601 time is longer than this; longer strings are refused without parsing.
TIME_TEXT_MAX = 64

SEVERITIES = ("critical", "high", "medium", "low", "info")
DEFAULT_SEVERITY = "medium"
INDICATOR_TYPES = tuple(str(kind) for kind in IndicatorType)

MISSING: Any = object()  # a key that is absent (or null): distinct from any JSON value

_SURROGATE = re.compile("[\ud800-\udfff]")  # lone surrogates: valid in JSON, not in UTF-8
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\s]+")
_BLOCK_DROPPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EPOCH = re.compile(r"^-?[0-9]{1,16}(?:\.[0-9]{1,9})?$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASH_BY_LENGTH = {64: "sha256", 40: "sha1", 32: "md5"}
# Epoch numbers at or above this are milliseconds: 10^11 seconds is the year 5138.
_EPOCH_MS_FROM = 10**11


class Errors:
    """Field messages collected while reading one payload, raised together."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        """Raises ``NormalizeError`` with every message collected; returns None if there are none."""
        if self.errors:
            raise NormalizeError(self.errors)


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages ("got an array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def require_object(payload: Any, what: str) -> dict[str, Any]:
    """``payload`` if it is a JSON object; else raises ``NormalizeError`` under non_field_errors."""
    if not isinstance(payload, dict):
        raise NormalizeError({"non_field_errors": [f"{what} is a JSON object; got {json_type(payload)}."]})
    return payload


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted ``path``, read through nested objects, flattened dotted keys, or a
    mix of both (``{"kibana.alert": {"rule": {"name": …}}}``); ``MISSING`` if absent or null.

    The longest key present wins at each level; if its branch holds nothing, shorter keys are
    tried. Arrays are not walked into.
    """
    return _lookup(data, path.split("."))


def _lookup(data: Any, parts: list[str]) -> Any:
    if not isinstance(data, dict):
        return MISSING
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key not in data:
            continue
        value = data[key] if cut == len(parts) else _lookup(data[key], parts[cut:])
        if value is not None and value is not MISSING:
            return value
    return MISSING


def first(data: Any, *paths: str) -> tuple[str, Any]:
    """The first of ``paths`` present in ``data``, as ``(path, value)``; ``(paths[0], MISSING)``
    if none is."""
    for path in paths:
        value = lookup(data, path)
        if value is not MISSING:
            return path, value
    return paths[0], MISSING


def as_text(value: Any) -> str | None:
    """A vendor field's value as text, or None if it is not usable as text.

    Strings are taken as they are, numbers as their decimal text (``12`` → ``"12"``); an array
    stands for its first element (Splunk's multivalue fields, ECS fields that may be arrays, the
    ``fields`` API's one-element arrays). Booleans, objects and null are not text.
    """
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than int → str allows
            return None
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return None


def as_number(value: Any) -> float | None:
    """A finite number from a number or its text (``"12"``, ``74.5``), else None (a band's
    input: a level, a risk score)."""
    text = as_text(value)
    try:
        number = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def banded(value: Any, bands: tuple[tuple[float, str], ...]) -> str | None:
    """The name of the first ``(lower bound, name)`` band the number ``value`` reaches, highest
    bound first; None when ``value`` is not a number (``as_number``)."""
    number = as_number(value)
    if number is None:
        return None
    return next(name for bound, name in bands if number >= bound)


def texts(value: Any) -> list[str]:
    """Every usable text in a field that may be one value or an array of them."""
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items[:OBSERVABLES_MAX]:
        text = as_text(item) if not isinstance(item, list) else None
        if text is not None:
            found.append(text)
    return found


def clean_line(text: str) -> str:
    """One line of display text: lone surrogates dropped, control characters, line breaks and
    runs of whitespace made one space, ends stripped (NUL cannot be stored by PostgreSQL)."""
    return _LINE_BREAKING.sub(" ", _SURROGATE.sub("", text)).strip()


def clean_block(text: str) -> str:
    """Multi-line text (descriptions): lone surrogates and control characters other than tab,
    newline and carriage return dropped, ends stripped."""
    return _BLOCK_DROPPED.sub("", _SURROGATE.sub("", text)).strip()


def trim(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def line(value: Any, limit: int) -> str:
    """A vendor field as one trimmed line of text; "" if it is absent or not usable as text."""
    text = as_text(value)
    return trim(clean_line(text), limit) if text is not None else ""


def block(value: Any, limit: int = DESCRIPTION_MAX) -> str:
    """A vendor field as trimmed multi-line text; "" if absent or not usable as text."""
    text = as_text(value)
    return trim(clean_block(text), limit) if text is not None else ""


def required_line(errors: Errors, field: str, value: Any, limit: int, missing: str) -> str:
    """A field the alert cannot do without (a vendor's title): text of at most ``limit``
    characters (trimmed). Adds ``missing`` to ``errors`` if absent, a type or blank message if
    unusable; returns "" then."""
    if value is MISSING:
        errors.add(field, missing)
        return ""
    text = as_text(value)
    if text is None:
        errors.add(field, f"Must be text; got {json_type(value)}.")
        return ""
    cleaned = clean_line(text)
    if not cleaned:
        errors.add(field, "May not be blank.")
    return trim(cleaned, limit)


def source_ref(errors: Errors, field: str, value: Any, missing: str) -> str:
    """The SIEM's own id of the alert, the dedupe key: text (a number as its text), not blank,
    at most ``SOURCE_REF_MAX`` characters — never trimmed, since a cut id could merge two alerts.
    Adds a message for ``field`` to ``errors`` and returns "" when it is not usable."""
    if value is MISSING:
        errors.add(field, missing)
        return ""
    text = as_text(value)
    if text is None:
        errors.add(field, f"Must be a string or a number; got {json_type(value)}.")
        return ""
    return checked_source_ref(errors, field, text)


def checked_source_ref(errors: Errors, field: str, text: str) -> str:
    """``text`` cleaned and checked as a source_ref (see ``source_ref``)."""
    cleaned = clean_line(text)
    if not cleaned:
        errors.add(field, "May not be blank.")
    elif len(cleaned) > SOURCE_REF_MAX:
        errors.add(
            field,
            f"Ensure this field has no more than {SOURCE_REF_MAX} characters (it has {len(cleaned)}): "
            "it identifies the alert and is not shortened.",
        )
    return cleaned


def parse_time(value: Any) -> datetime:
    """A time as SIEMs send it: ISO 8601 (``2026-03-02T10:00:00Z``, ``…+0000``, ``…+00:00``, up
    to nine fractional digits, kept to microseconds) or epoch seconds or milliseconds as a number
    or a numeric string (from 10^11 on, milliseconds).

    Epoch times are UTC. An ISO time without an offset comes back naive: the service refuses
    it, alike for every format. Raises ``ValueError`` with a message for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"Must be an ISO 8601 time or epoch seconds; got {json_type(value)}.")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > TIME_TEXT_MAX:
            raise ValueError("Not a time: too long for ISO 8601 or epoch seconds.")
        if _EPOCH.match(text):
            return _from_epoch(float(text))
        try:
            return datetime.fromisoformat(text.upper())
        except ValueError:
            raise ValueError(
                f"Not a time: {text!r}. Expected ISO 8601 with an offset (2026-03-02T10:00:00Z) or epoch seconds."
            ) from None
    return _from_epoch(float(value))


def _from_epoch(seconds: float) -> datetime:
    if not math.isfinite(seconds):
        raise ValueError("Not a time: epoch seconds must be a finite number.")
    if abs(seconds) >= _EPOCH_MS_FROM:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("Not a time: epoch value out of range.") from None


def time_field(errors: Errors, field: str, value: Any) -> datetime | None:
    """A SIEM-stamped time: None if absent; a message in ``errors`` if present and unparsable."""
    if value is MISSING:
        return None
    try:
        return parse_time(value)
    except ValueError as wrong:
        errors.add(field, str(wrong))
        return None


def lenient_time(value: Any) -> datetime | None:
    """A time copied from event data: None if absent or unparsable."""
    if value is MISSING:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


_SEVERITY_NAMES = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "low": "low",
    "info": "info",
    "informational": "info",
    "information": "info",
}


def severity_name(value: Any) -> str | None:
    """One of ``SEVERITIES`` for a severity name as SIEMs spell it (any case; "informational"
    and "information" are ``info``); None for anything else."""
    text = as_text(value)
    if text is None:
        return None
    return _SEVERITY_NAMES.get(text.strip().lower())


def extra_value(value: Any) -> Any:
    """A payload value worth showing, made small: text (or a number or boolean as it is) trimmed
    to ``EXTRA_TEXT_MAX``, an array of at most ``EXTRA_LIST_MAX`` such values; MISSING for blank
    text, objects and anything else."""
    if isinstance(value, bool) or (isinstance(value, int | float) and as_text(value) is not None):
        return value
    if isinstance(value, str):
        return trim(clean_line(value), EXTRA_TEXT_MAX) or MISSING
    if isinstance(value, list):
        return [trim(clean_line(text), EXTRA_TEXT_MAX) for text in texts(value[:EXTRA_LIST_MAX])]
    return MISSING


def pick_extra(data: Any, names: dict[str, str]) -> dict[str, Any]:
    """``{key: extra_value(lookup(data, path))}`` for ``names`` = ``{key: path}``, leaving out
    what is absent or not showable."""
    extra = {}
    for key, path in names.items():
        value = extra_value(lookup(data, path))
        if value is not MISSING:
            extra[key] = value
    return extra


def hash_kind(value: str) -> str | None:
    """sha256, sha1 or md5 for a hex digest of that length; None otherwise."""
    value = value.strip()
    if not _HEX.match(value):
        return None
    return _HASH_BY_LENGTH.get(len(value))


def ip_or_hostname(value: str) -> str:
    """``ip`` if ``value`` is an IP address, else ``hostname`` (CIM ``src``/``dest`` hold either)."""
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return "hostname"
    return "ip"


class Observables:
    """Raw ``(type, value)`` pairs in the order found, without repeats, at most
    ``OBSERVABLES_MAX``; values that cannot be an indicator (blank, too long) are skipped. The
    service validates and normalizes what is left."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, kind: str | None, value: Any) -> None:
        """Adds every usable text of ``value`` (one value or an array) as ``kind``; a ``kind`` of
        None (an unrecognized hash, say) adds nothing."""
        if kind is None:
            return
        for text in texts(value):
            cleaned = clean_line(text)
            pair = (kind, cleaned)
            if not cleaned or len(cleaned) > OBSERVABLE_VALUE_MAX or pair in self._seen:
                continue
            if len(self.pairs) >= OBSERVABLES_MAX:
                return
            self._seen.add(pair)
            self.pairs.append(pair)

    def add_each(self, kind_of: Any, value: Any) -> None:
        """Adds every usable text of ``value`` with the kind ``kind_of(text)`` gives it."""
        for text in texts(value):
            self.add(kind_of(text), text)
