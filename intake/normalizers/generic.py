"""Breachline's own alert format, for SOAR tools and scripts (``POST /api/v1/alerts/``).

One alert is a JSON object:

``source_ref`` (required, string or number)
    The sender's own id of the alert, at most 200 characters. Posting the same ``source_ref``
    again from the same source counts a repeat instead of creating a second alert, so it must
    identify the alert, not the request. Numbers are taken as their text (``42`` → ``"42"``).
``title`` (required, string)
    What happened, one line; longer than 300 characters is cut to 300 (ending in "…"); line
    breaks become spaces.
``severity`` (string, default ``"medium"``)
    One of ``critical``, ``high``, ``medium``, ``low``, ``info`` (any case).
``observed_at`` (string or number)
    When the sender saw it happen: ISO 8601 with an offset (``2026-03-02T10:00:00Z``,
    ``2026-03-02T11:00:00+01:00``) or epoch seconds or milliseconds (a number, or digits in a
    string; from 10^11 on it is milliseconds). A time without an offset is refused. Absent: the
    time it was received.
``rule`` (string)
    The detection rule's name or id; cut to 200 characters.
``host`` (string), ``user`` (string)
    The host and the account involved; cut to 255 characters.
``description`` (string)
    Free text, line breaks kept; cut to 10,000 characters.
``source`` (string)
    Names the system the alert comes from (``"crowdstrike-eu"``), at most 64 characters; absent,
    the alert is filed under the sender's API key or ingest URL.
``observables`` (array or object)
    Indicators seen in the alert, either ``[{"type": "ip", "value": "203.0.113.7"}, …]`` or
    ``{"ip": ["203.0.113.7"], "domain": ["evil.example"]}`` (a single string instead of the
    array is fine). Types: ip, domain, url, email, sha256, sha1, md5, hostname, account,
    filename, user_agent. At most 1,000. Values are validated like manual indicators; invalid
    ones are dropped without failing the alert.

``null`` is the same as leaving a field out. Any other key is kept as it is and shown with the
alert (``extra``): native payloads are not our strict API, so unknown fields are not an error.
A field of the wrong type is a 400 naming it: ``{"title": ["Must be a string."]}``.
"""

from __future__ import annotations

import math
from typing import Any

from . import NormalizedAlert
from ._common import (
    DESCRIPTION_MAX,
    HOST_MAX,
    INDICATOR_TYPES,
    MISSING,
    OBSERVABLES_MAX,
    RULE_MAX,
    SEVERITIES,
    SOURCE_MAX,
    TITLE_MAX,
    USER_MAX,
    Errors,
    Observables,
    checked_source_ref,
    clean_block,
    clean_line,
    json_type,
    parse_time,
    require_object,
    trim,
)

KNOWN_FIELDS = (
    "source_ref",
    "title",
    "severity",
    "observed_at",
    "rule",
    "host",
    "user",
    "description",
    "source",
    "observables",
)
_TYPES_TEXT = ", ".join(INDICATOR_TYPES)
_OBSERVABLE_MESSAGES_MAX = 10
_NOT_AN_OBJECT: Any = object()


def normalize(payload: Any) -> NormalizedAlert:
    """One generic alert object → ``NormalizedAlert``; raises ``NormalizeError`` with a message
    for every field that is missing or wrong (all of them at once)."""
    data = require_object(payload, "An alert")
    errors = Errors()
    present = {key: data[key] for key in KNOWN_FIELDS if data.get(key) is not None}

    source_ref = _source_ref(errors, present.get("source_ref", MISSING))
    title = _string(errors, "title", present.get("title", MISSING), required=True)
    severity = _severity(errors, present.get("severity", MISSING))
    observed_at = None
    if "observed_at" in present:
        try:
            observed_at = parse_time(present["observed_at"])
        except ValueError as wrong:
            errors.add("observed_at", str(wrong))
    rule = _string(errors, "rule", present.get("rule", MISSING))
    host = _string(errors, "host", present.get("host", MISSING))
    user = _string(errors, "user", present.get("user", MISSING))
    description = _string(errors, "description", present.get("description", MISSING), multiline=True)
    source = _string(errors, "source", present.get("source", MISSING))
    if len(source) > SOURCE_MAX:
        errors.add("source", f"Ensure this field has no more than {SOURCE_MAX} characters.")
    observables = _observables(errors, present.get("observables", MISSING))
    errors.raise_if_any()

    return NormalizedAlert(
        source_ref=source_ref,
        title=trim(title, TITLE_MAX),
        severity=severity,
        observed_at=observed_at,
        rule=trim(rule, RULE_MAX),
        host=trim(host, HOST_MAX),
        user=trim(user, USER_MAX),
        description=trim(description, DESCRIPTION_MAX),
        source=source,
        observables=observables,
        extra={key: value for key, value in data.items() if key not in KNOWN_FIELDS},
    )


def _source_ref(errors: Errors, value: Any) -> str:
    if value is MISSING:
        errors.add("source_ref", "This field is required.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.add("source_ref", f"Must be a string or a number; got {json_type(value)}.")
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        errors.add("source_ref", "Must be a finite number.")
        return ""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an integer of more digits than int → str allows
        errors.add("source_ref", "Number too large.")
        return ""
    return checked_source_ref(errors, "source_ref", text)


def _string(errors: Errors, field: str, value: Any, *, required: bool = False, multiline: bool = False) -> str:
    if value is MISSING:
        if required:
            errors.add(field, "This field is required.")
        return ""
    if not isinstance(value, str):
        errors.add(field, "Must be a string.")
        return ""
    cleaned = clean_block(value) if multiline else clean_line(value)
    if required and not cleaned:
        errors.add(field, "This field may not be blank.")
    return cleaned


def _severity(errors: Errors, value: Any) -> str:
    if value is MISSING:
        return "medium"
    if not isinstance(value, str):
        errors.add("severity", "Must be a string.")
        return "medium"
    name = value.strip().lower()
    if name not in SEVERITIES:
        errors.add("severity", f"{trim(clean_line(value), 50)!r} is not one of {', '.join(SEVERITIES)}.")
        return "medium"
    return name


def _observables(errors: Errors, value: Any) -> list[tuple[str, str]]:
    if value is MISSING:
        return []
    if isinstance(value, dict):
        entries = _entries_of_mapping(value)
    elif isinstance(value, list):
        entries = _entries_of_list(value)
    else:
        errors.add("observables", f"Must be an array or an object; got {json_type(value)}.")
        return []
    if len(entries) > OBSERVABLES_MAX:
        errors.add("observables", f"Ensure there are no more than {OBSERVABLES_MAX} observables.")
        return []

    found = Observables()
    problems = 0
    for place, kind, item in entries:
        problem = _observable_problem(kind, item)
        if problem is None:
            found.add(kind, item)
            continue
        problems += 1
        if problems <= _OBSERVABLE_MESSAGES_MAX:  # enough to fix the sender; not one per item
            errors.add("observables", f"{place}: {problem}")
    return found.pairs


# (where, type, value) per observable; both shapes are cut one past the limit so the count
# check sees an excess without building a huge list.
def _entries_of_list(value: list[Any]) -> list[tuple[str, Any, Any]]:
    entries = []
    for index, entry in enumerate(value[: OBSERVABLES_MAX + 1]):
        if isinstance(entry, dict):
            entries.append((f"Item {index}", entry.get("type", MISSING), entry.get("value", MISSING)))
        else:
            entries.append((f"Item {index}", _NOT_AN_OBJECT, MISSING))
    return entries


def _entries_of_mapping(value: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    entries: list[tuple[str, Any, Any]] = []
    for kind, values in value.items():
        shown = repr(trim(clean_line(kind), 50))
        for item in values if isinstance(values, list) else [values]:  # "ip": "…" is "ip": ["…"]
            entries.append((shown, kind, item))
            if len(entries) > OBSERVABLES_MAX:
                return entries
    return entries


def _observable_problem(kind: Any, item: Any) -> str | None:
    if kind is _NOT_AN_OBJECT:
        return "must be an object with 'type' and 'value'."
    if kind is MISSING or item is MISSING:
        return "'type' and 'value' are required."
    if kind not in INDICATOR_TYPES:
        shown = repr(trim(clean_line(kind), 50)) if isinstance(kind, str) else json_type(kind)
        return f"type {shown} is not one of {_TYPES_TEXT}."
    if not isinstance(item, str):
        return f"the value must be a string; got {json_type(item)}."
    return None
