"""An Elastic Security alert document (ECS) → ``NormalizedAlert``.

Kibana's webhook connector and Watcher send the alert document as the body; fields come nested
(``{"kibana": {"alert": {"uuid": …}}}``), flattened (``{"kibana.alert.uuid": …}``, as the
``fields`` API and many connector templates write them), or mixed; a search hit
(``{"_id": …, "_source": {…}}``) is read from its ``_source``. Detection-engine documents of
Elastic 7.x (``signal.*``) are read where 8.x has ``kibana.alert.*``.

- ``source_ref`` = ``kibana.alert.uuid``, else the document's ``_id``, else ``id``.
- ``title`` = ``kibana.alert.rule.name`` (``signal.rule.name``, ECS ``rule.name``).
- ``rule`` = ``kibana.alert.rule.uuid``, else ``kibana.alert.rule.rule_id`` (``signal.rule.id``,
  ECS ``rule.id``).
- ``severity`` = ``kibana.alert.severity`` (low, medium, high, critical), else from the risk score
  (``kibana.alert.risk_score``, 0 to 100, as Kibana bands it): ≥ 74 critical, ≥ 48 high, ≥ 22
  medium, else low; neither: medium.
- ``observed_at`` = ``kibana.alert.original_time`` (when the source event happened), else
  ``@timestamp`` (when the rule created the alert); present but unparsable is an error.
- ``host`` = ``host.name`` (``host.hostname``), ``user`` = ``user.name``; ``description`` =
  ``kibana.alert.reason``, else ``message``, else the rule's description.
- observables from ECS: source/destination/client/server ``.ip`` and ``.domain``, ``url.full``
  (``url.original``), ``url.domain``, ``dns.question.name``, ``file.hash.*``,
  ``process.hash.*``, ``file.name``, ``file.path``, ``process.executable``,
  ``user_agent.original``, ``email.from.address``/``email.to.address``, user names.
"""

from __future__ import annotations

import math
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
    banded,
    block,
    extra_value,
    first,
    line,
    lookup,
    pick_extra,
    require_object,
    required_line,
    severity_name,
    source_ref,
    time_field,
)

_EXTRA = {
    "risk_score": "kibana.alert.risk_score",
    "workflow_status": "kibana.alert.workflow_status",
    "rule_id": "kibana.alert.rule.rule_id",
    "rule_tags": "kibana.alert.rule.tags",
    "space_ids": "kibana.space_ids",
    "event_action": "event.action",
    "event_category": "event.category",
}


def normalize(payload: Any) -> NormalizedAlert:
    """An Elastic Security alert document → ``NormalizedAlert``; raises ``NormalizeError`` naming
    what is missing or wrong (the alert's id, the rule's name, an unparsable time)."""
    outer = require_object(payload, "An Elastic Security alert document")
    doc = outer["_source"] if isinstance(outer.get("_source"), dict) else outer
    errors = Errors()

    ref_field, ref_value = first(doc, "kibana.alert.uuid", "_id", "id")
    if ref_value is MISSING and doc is not outer:
        ref_field, ref_value = first(outer, "_id", "id")
    ref = source_ref(
        errors,
        ref_field if ref_value is not MISSING else "kibana.alert.uuid",
        ref_value,
        "Elastic Security names the alert in 'kibana.alert.uuid' (or the document's '_id'); it is missing.",
    )
    title_field, title_value = first(doc, "kibana.alert.rule.name", "signal.rule.name", "rule.name")
    title = required_line(
        errors,
        title_field,
        title_value,
        TITLE_MAX,
        "Elastic Security names the detection rule in 'kibana.alert.rule.name'; it is missing.",
    )
    time_path, time_value = first(doc, "kibana.alert.original_time", "signal.original_time", "@timestamp")
    observed_at = time_field(errors, time_path, time_value)
    errors.raise_if_any()

    extra = pick_extra(doc, _EXTRA)
    _, native = first(doc, "kibana.alert.severity", "kibana.alert.rule.severity", "signal.rule.severity")
    severity = severity_name(native)
    if severity is None:
        if native is not MISSING and extra_value(native) is not MISSING:
            extra["native_severity"] = extra_value(native)
        score = first(doc, "kibana.alert.risk_score", "kibana.alert.rule.risk_score", "signal.rule.risk_score")[1]
        severity = _severity_from_risk(score) or DEFAULT_SEVERITY
    if doc is not outer and isinstance(outer.get("_index"), str):
        extra["index"] = line(outer["_index"], 255)

    return NormalizedAlert(
        source_ref=ref,
        title=title,
        severity=severity,
        observed_at=observed_at,
        rule=line(
            first(doc, "kibana.alert.rule.uuid", "kibana.alert.rule.rule_id", "signal.rule.id", "rule.id")[1], RULE_MAX
        ),
        host=line(first(doc, "host.name", "host.hostname")[1], HOST_MAX),
        user=line(lookup(doc, "user.name"), USER_MAX),
        description=block(
            first(doc, "kibana.alert.reason", "signal.reason", "message", "kibana.alert.rule.description")[1]
        ),
        observables=_observables(doc),
        extra=extra,
    )


# Kibana's bands of the 0 to 100 risk score.
_RISK_BANDS = ((74, "critical"), (48, "high"), (22, "medium"), (-math.inf, "low"))


def _severity_from_risk(score: Any) -> str | None:
    """The risk score's band; None if there is no usable score."""
    return banded(score, _RISK_BANDS)


def _observables(doc: dict[str, Any]) -> list[tuple[str, str]]:
    found = Observables()
    for side in ("source", "destination", "client", "server"):
        found.add("ip", lookup(doc, f"{side}.ip"))
        found.add("domain", lookup(doc, f"{side}.domain"))
    found.add("url", first(doc, "url.full", "url.original")[1])
    found.add("domain", lookup(doc, "url.domain"))
    found.add("domain", lookup(doc, "dns.question.name"))
    for owner in ("file", "process", "process.parent"):
        for kind in ("sha256", "sha1", "md5"):
            found.add(kind, lookup(doc, f"{owner}.hash.{kind}"))
    for path in ("file.name", "file.path", "process.executable"):
        found.add("filename", lookup(doc, path))
    found.add("user_agent", lookup(doc, "user_agent.original"))
    found.add("email", lookup(doc, "email.from.address"))
    found.add("email", lookup(doc, "email.to.address"))
    for path in ("user.name", "source.user.name", "destination.user.name"):
        found.add("account", lookup(doc, path))
    return found.pairs
