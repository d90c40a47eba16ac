"""Splunk's webhook alert action → ``NormalizedAlert``.

Splunk posts one JSON object per triggered alert::

    {"sid": "scheduler__admin__search__RMD5…_at_1700000000_42",
     "search_name": "Brute force from one source", "app": "search", "owner": "admin",
     "results_link": "https://splunk.example:8000/app/search/@go?sid=…",
     "result": {"_time": "1700000000", "host": "web01", "src_ip": "203.0.113.7", …}}

``result`` is the search's *first* result row only; field values are strings, or arrays of
strings for multivalue fields (the first value is used where one is needed).

- ``source_ref`` = ``sid`` (one per run of the search). With the alert's trigger set to "For
  each result", every result of one run has the same sid and counts as repeats of one alert.
- ``title`` = ``search_name``, else the result's ``signature`` (Splunk ES), ``rule_name`` or
  ``search_name``; ``rule`` = the saved search's name (``search_name``) when there is one.
- ``severity`` from the result's ``urgency`` (Splunk ES: informational, low, medium, high,
  critical), else its ``severity`` (CIM: the same names, or ``unknown``); anything else is
  ``medium`` and the native value is kept in ``extra``.
- ``observed_at`` from the result's ``_time``: epoch seconds (as Splunk renders it) or ISO 8601;
  unparsable (a search may overwrite ``_time``): the time it was received.
- ``host``: the result's ``host``, else ``dest_host``/``dest_nt_host``/``dest``; ``user``: its
  ``user``, else ``dest_user``/``src_user``.
- observables from the CIM fields: src/dest (IP or host name), src_ip/dest_ip, url, domain/query
  (DNS), file_hash (by length)/sha256/sha1/md5, file_name, http_user_agent, sender/recipient
  (e-mail), user/src_user/dest_user (accounts).
"""

from __future__ import annotations

from typing import Any

from . import NormalizedAlert
from ._common import (
    DEFAULT_SEVERITY,
    HOST_MAX,
    MISSING,
    RULE_MAX,
    TITLE_MAX,
    USER_MAX,
    Errors,
    Observables,
    block,
    extra_value,
    first,
    hash_kind,
    ip_or_hostname,
    json_type,
    lenient_time,
    line,
    pick_extra,
    require_object,
    severity_name,
    source_ref,
)

_NO_TITLE = (
    "Splunk names the alert in 'search_name'; it is missing or blank, and the result row has no 'signature' either."
)


def normalize(payload: Any) -> NormalizedAlert:
    """A Splunk webhook payload → ``NormalizedAlert``; raises ``NormalizeError`` naming the
    missing or wrong parts (``sid``, ``result``, a title)."""
    data = require_object(payload, "A Splunk webhook payload")
    errors = Errors()
    ref = source_ref(
        errors, "sid", data.get("sid", MISSING), "Splunk's webhook identifies the search run by 'sid'; it is missing."
    )
    result = data.get("result")
    if result is None:
        errors.add("result", "Splunk's webhook sends the first result row as 'result'; it is missing.")
        result = {}
    elif not isinstance(result, dict):
        errors.add("result", f"Must be an object (the first result row); got {json_type(result)}.")
        result = {}

    # An ad hoc search has no name (Splunk sends null): Splunk ES rows name the detection.
    title = line(data.get("search_name"), TITLE_MAX) or line(
        first(result, "signature", "rule_name", "search_name")[1], TITLE_MAX
    )
    if not title:
        errors.add("search_name", _NO_TITLE)
    errors.raise_if_any()

    severity_field, native_severity = first(result, "urgency", "severity")
    severity = severity_name(native_severity) or DEFAULT_SEVERITY
    extra = pick_extra(data, {"app": "app", "owner": "owner", "results_link": "results_link"})
    if native_severity is not MISSING and severity_name(native_severity) is None:
        shown = extra_value(native_severity)
        if shown is not MISSING:
            extra[f"native_{severity_field}"] = shown
    observed_at = lenient_time(result.get("_time", MISSING))
    if observed_at is None and "_time" in result:
        shown = extra_value(result["_time"])
        if shown is not MISSING:
            extra["_time"] = shown

    return NormalizedAlert(
        source_ref=ref,
        title=title,
        severity=severity,
        observed_at=observed_at,
        rule=line(data.get("search_name"), RULE_MAX),
        host=line(first(result, "host", "dest_host", "dest_nt_host", "dest")[1], HOST_MAX),
        user=line(first(result, "user", "dest_user", "src_user")[1], USER_MAX),
        description=block(first(result, "description", "message", "_raw")[1]),
        observables=_observables(result),
        extra=extra,
    )


def _observables(result: dict[str, Any]) -> list[tuple[str, str]]:
    found = Observables()
    for field in ("src", "dest"):
        found.add_each(ip_or_hostname, result.get(field))
    for field in ("src_ip", "dest_ip"):
        found.add("ip", result.get(field))
    found.add("url", result.get("url"))
    for field in ("domain", "query", "dest_domain"):
        found.add("domain", result.get(field))
    found.add_each(hash_kind, result.get("file_hash"))
    for kind in ("sha256", "sha1", "md5"):
        found.add(kind, result.get(kind))
    found.add("filename", result.get("file_name"))
    found.add("user_agent", result.get("http_user_agent"))
    for field in ("sender", "recipient"):
        found.add("email", result.get(field))
    for field in ("user", "src_user", "dest_user"):
        found.add("account", result.get(field))
    return found.pairs
