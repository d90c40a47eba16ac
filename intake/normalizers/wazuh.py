"""A Wazuh alert → ``NormalizedAlert``, as an ``integrations`` script posts it: one line of
``alerts.json``::

    {"timestamp": "2026-03-02T10:00:00.123+0000", "id": "1709373600.12345",
     "rule": {"level": 12, "description": "…", "id": "5712", "groups": ["sshd"],
              "mitre": {"id": ["T1110"], "tactic": ["Credential Access"]}},
     "agent": {"id": "003", "name": "web01", "ip": "10.0.0.5"}, "manager": {"name": "wazuh-1"},
     "full_log": "…", "location": "/var/log/auth.log",
     "data": {"srcip": "203.0.113.7", "srcuser": "root"},
     "syscheck": {"path": "/etc/passwd", "sha256_after": "…"}}

- ``source_ref`` = ``id`` (the manager's alert id); ``title`` = ``rule.description``; ``rule`` =
  ``rule.id``.
- ``severity`` from ``rule.level`` (0 to 15, a number or its digits): ≥ 13 critical, ≥ 10 high,
  ≥ 7 medium, ≥ 4 low, else info; no usable level: medium.
- ``observed_at`` = ``timestamp`` (Wazuh writes the offset without a colon, ``+0000``); present
  but unparsable is an error.
- ``host`` = ``agent.name`` (else ``agent.id``, else ``manager.name`` for the manager's own
  alerts); ``user`` = ``data.dstuser``, else ``data.srcuser``, else the Windows event's target or
  subject user; ``description`` = ``full_log``.
- observables from ``data`` (decoder fields, nested or dotted): srcip/dstip, the Windows event's
  ipAddress, url, srcuser/dstuser (accounts), hostname; and ``syscheck`` (file integrity):
  path and the ``…_after`` hashes.
"""

from __future__ import annotations

import math
from typing import Any

from . import NormalizedAlert
from ._common import (
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
    source_ref,
    time_field,
)

_EXTRA = {
    "agent_id": "agent.id",
    "agent_ip": "agent.ip",
    "manager": "manager.name",
    "location": "location",
    "decoder": "decoder.name",
    "rule_groups": "rule.groups",
    "mitre_ids": "rule.mitre.id",
    "mitre_tactics": "rule.mitre.tactic",
    "fired_times": "rule.firedtimes",
}


def normalize(payload: Any) -> NormalizedAlert:
    """A Wazuh alert → ``NormalizedAlert``; raises ``NormalizeError`` naming what is missing or
    wrong (``id``, ``rule.description``, an unparsable ``timestamp``)."""
    data = require_object(payload, "A Wazuh alert")
    errors = Errors()
    ref = source_ref(errors, "id", data.get("id", MISSING), "A Wazuh alert is named by its 'id'; it is missing.")
    title = required_line(
        errors,
        "rule.description",
        lookup(data, "rule.description"),
        TITLE_MAX,
        "A Wazuh alert names what fired in 'rule.description'; it is missing.",
    )
    observed_at = time_field(errors, "timestamp", data.get("timestamp", MISSING))
    errors.raise_if_any()

    extra = pick_extra(data, _EXTRA)
    level = lookup(data, "rule.level")
    severity = _severity(level)
    if severity is None:
        if level is not MISSING and extra_value(level) is not MISSING:
            extra["native_level"] = extra_value(level)
        severity = "medium"

    return NormalizedAlert(
        source_ref=ref,
        title=title,
        severity=severity,
        observed_at=observed_at,
        rule=line(lookup(data, "rule.id"), RULE_MAX),
        host=line(first(data, "agent.name", "agent.id", "manager.name")[1], HOST_MAX),
        user=line(
            first(
                data,
                "data.dstuser",
                "data.srcuser",
                "data.win.eventdata.targetUserName",
                "data.win.eventdata.subjectUserName",
            )[1],
            USER_MAX,
        ),
        description=block(data.get("full_log")),
        observables=_observables(data),
        extra=extra,
    )


# Wazuh's rule levels (0 to 15), banded.
_LEVEL_BANDS = ((13, "critical"), (10, "high"), (7, "medium"), (4, "low"), (-math.inf, "info"))


def _severity(level: Any) -> str | None:
    """The rule level's band; None if it is not a number."""
    return banded(level, _LEVEL_BANDS)


def _observables(data: dict[str, Any]) -> list[tuple[str, str]]:
    found = Observables()
    for path in ("data.srcip", "data.dstip", "data.win.eventdata.ipAddress"):
        found.add("ip", lookup(data, path))
    found.add("url", lookup(data, "data.url"))
    found.add("hostname", lookup(data, "data.hostname"))
    for path in ("data.srcuser", "data.dstuser"):
        found.add("account", lookup(data, path))
    found.add("filename", lookup(data, "syscheck.path"))
    for kind in ("sha256", "sha1", "md5"):
        found.add(kind, lookup(data, f"syscheck.{kind}_after"))
    return found.pairs
