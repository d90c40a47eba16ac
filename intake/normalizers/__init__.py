"""Native SIEM payloads → one ``NormalizedAlert`` each (one module per format).

Contract of every ``normalize(payload: Any) -> NormalizedAlert``:
- pure: no database, no clock (``received_at`` is the service's);
- raises ``NormalizeError(errors)`` with ``{field: [messages]}`` naming what is missing or wrong
  in the *native* payload's own terms (e.g. ``{"result": ["Splunk's webhook sends the first
  result row as 'result'; it is missing."]}``) — the API answers it as a 400;
- ``observed_at`` is timezone-aware; a time without a zone, or one in the far future, is the
  service's to refuse (it checks every format alike);
- ``observables`` are raw ``(type, value)`` pairs with types of ``incidents.models.IndicatorType``
  (ip, domain, url, email, sha256, sha1, md5, hostname, account, filename, user_agent); the
  service normalizes them with ``incidents.indicators.normalize`` and drops invalid ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class NormalizeError(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class NormalizedAlert:
    source_ref: str  # the SIEM's own id of this alert (dedupe key with the source)
    title: str
    severity: str  # one of intake.models.AlertSeverity: critical, high, medium, low, info
    observed_at: datetime | None  # None: the service uses the time it was received
    rule: str = ""
    host: str = ""
    user: str = ""
    description: str = ""
    source: str = ""  # a source named inside the payload (generic format); else the sender's
    observables: list[tuple[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # anything worth showing, not searched
