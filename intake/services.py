"""Ingesting alerts: check, fingerprint, deduplicate in the database, group into incidents.

``alerts_ingest`` takes what the normalizers made of a request (one alert or a batch) and, in one
transaction for the good items:

1. **checks** each (times aware and not in the future, severity, lengths), normalizes its
   observables with the indicators' own code (``incidents.indicators.normalize``: invalid ones are
   dropped, each gets the role ``attacker`` or ``affected`` by ``is_ours``) and computes its
   ``fingerprint`` (``fingerprint_of``; which parts count is ``INTAKE_FINGERPRINT_FIELDS``);
2. **folds** repeats of one ``(source, source_ref)`` inside the batch (an ``ON CONFLICT DO
   UPDATE`` cannot touch the same row twice in one statement) and **upserts** them: on
   PostgreSQL one ``INSERT … SELECT FROM unnest(…) ON CONFLICT (source, source_ref) DO UPDATE``
   that raises ``occurrences`` and moves ``last_seen_at``, returning which rows were new
   (``xmax = 0``) — two requests racing on one alert make one row;
3. **groups** the new ones (``_group``; opening an incident under a transaction-scoped advisory
   lock on the fingerprint, so two batches cannot both open one for the same thing): an earlier alert
   with the same fingerprint received within ``INTAKE_GROUPING_WINDOW`` whose incident is not
   closed → *linked* to that incident, with a timeline entry; none, and a severity at or above
   ``INTAKE_PROMOTE_SEVERITY`` → *promoted*: a new incident through ``incident_open`` (so
   escalation starts); otherwise it waits as *new* in the triage queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import User
from config.unnest import UnnestColumns, mark_saved, server_cursor
from incidents import services as incident_services
from incidents.indicators.normalize import is_ours, normalize
from incidents.models import Category, Incident, IndicatorType, Severity, Status
from timeline import services as timeline_services

from .models import SEVERITY_LEVEL, Alert, AlertSeverity, AlertStatus
from .normalizers import NormalizedAlert

logger = logging.getLogger("intake")

BATCH_MAX = 1_000
# A clock a little ahead of ours is skew; more is a wrong time, refused.
FUTURE_TOLERANCE = timedelta(minutes=5)
OBSERVABLES_MAX = 50
_SEVERITIES = frozenset(AlertSeverity.values)
_INDICATOR_TYPES = frozenset(IndicatorType.values)
# An alert's severity as an incident's (incidents have no "info").
_INCIDENT_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM}


@dataclass
class Received:
    """One item of a request, as the API hands it over: its normalized alert (or the
    normalizer's errors) and its payload as sent."""

    alert: NormalizedAlert | None
    raw: Any
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class IngestResult:
    """``created`` (a new alert), ``duplicate`` (an alert already known: its count raised) or
    ``error`` (``errors``: field → messages; nothing stored for this item)."""

    status: str
    alert: Alert | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def fingerprint_of(alert: NormalizedAlert, observables: list[dict[str, str]]) -> str:
    """What makes two alerts "the same thing" for grouping, as a sha256 hex: the parts named in
    ``INTAKE_FINGERPRINT_FIELDS`` (``rule`` — the rule, or the title when there is none — ``host``,
    ``user``, ``observables``: the attacker-side ones, sorted), lower-cased."""
    parts: list[str] = []
    for name in settings.INTAKE_FINGERPRINT_FIELDS:
        if name == "rule":
            parts.append((alert.rule or alert.title).strip().lower())
        elif name == "observables":
            attacker = sorted(f"{o['type']}:{o['value']}" for o in observables if o["role"] == "attacker")
            parts.append(",".join(attacker))
        else:
            parts.append(str(getattr(alert, name, "")).strip().lower())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@lru_cache(maxsize=16_384)
def _candidate(kind: str, raw_value: str) -> tuple[str, str] | None:
    """(normalized value, role) of one observable, or None when it is not valid. Cached: alert
    streams repeat the same addresses and domains, and normalizing one (IDNA, address parsing)
    costs more than the rest of an alert's checks."""
    try:
        value = normalize(kind, raw_value)
    except ValidationError:
        return None
    return value, ("affected" if is_ours(kind, value) else "attacker")


@receiver(setting_changed)
def _forget_candidates(*, setting: str, **kwargs: Any) -> None:
    if setting == "OUR_DOMAINS":  # what is ours decides a role
        _candidate.cache_clear()


def _observables(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Candidate indicators: valid ones normalized, each once, with its role; others dropped."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for kind, raw_value in pairs:
        if kind not in _INDICATOR_TYPES or not isinstance(raw_value, str):
            continue
        candidate = _candidate(kind, raw_value)
        if candidate is None:
            continue
        value, role = candidate
        seen.setdefault((kind, value), {"type": kind, "value": value, "role": role})
        if len(seen) >= OBSERVABLES_MAX:
            break
    return list(seen.values())


def _storable(text: str) -> str:
    """``text`` as PostgreSQL can store it: NUL and lone surrogates (valid JSON escapes, not
    valid text for it) become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    return text


def _clean(value: Any) -> Any:
    """A parsed JSON document with every string (keys too) made storable (nesting is bounded by
    the API's parser, so recursion is too)."""
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, dict):
        return {_storable(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _raw(payload: Any) -> Any:
    """The payload as sent (made storable), unless it is larger than ``INTAKE_RAW_MAX_BYTES`` as
    JSON: then a note saying so (the normalized fields are kept either way)."""
    text = json.dumps(payload, default=str)
    limit = settings.INTAKE_RAW_MAX_BYTES
    if len(text) > limit:
        return {"_truncated": True, "_bytes": len(text), "_limit": limit}
    return _clean(payload)


def _check(alert: NormalizedAlert, now: datetime) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not alert.source_ref.strip():
        errors["source_ref"] = ["The alert has no id of its own (source_ref)."]
    if not alert.title.strip():
        errors["title"] = ["The alert has no title."]
    if alert.severity not in _SEVERITIES:
        errors["severity"] = [f"“{alert.severity}” is not one of: {', '.join(AlertSeverity.values)}."]
    if alert.observed_at is not None:
        if timezone.is_naive(alert.observed_at):
            errors["observed_at"] = ["Give the time with its UTC offset (e.g. +01:00 or Z)."]
        elif alert.observed_at > now + FUTURE_TOLERANCE:
            errors["observed_at"] = ["The alert's time is in the future."]
    for name, value in (("source_ref", alert.source_ref), ("title", alert.title), ("source", alert.source)):
        if "\x00" in value:
            errors[name] = ["Null characters are not allowed."]
    return errors


@dataclass
class _Row:
    item: int  # the index in the request
    alert: Alert
    repeats: int = 1  # how often the batch held it


def alerts_ingest(*, received: Sequence[Received], source: str, format: str, sender: User) -> list[IngestResult]:
    """Store what a request sent (see the module docstring). ``source`` names the sender (an
    API key's name, an ingest URL's source) and applies to alerts that name none of their own.
    One result per item, in order. Raises ValidationError for a batch over ``BATCH_MAX``."""
    if len(received) > BATCH_MAX:
        raise ValidationError({"alerts": [f"At most {BATCH_MAX} alerts per request."]})
    now = timezone.now()
    results: list[IngestResult | None] = [None] * len(received)
    rows: dict[tuple[str, str], _Row] = {}
    for index, item in enumerate(received):
        if item.alert is None:
            results[index] = IngestResult("error", errors=item.errors)
            continue
        normalized = item.alert
        errors = _check(normalized, now)
        if errors:
            results[index] = IngestResult("error", errors=errors)
            continue
        alert_source = (normalized.source or source)[:64]
        key = (alert_source, normalized.source_ref.strip())
        if key in rows:
            rows[key].repeats += 1
            continue
        observables = _observables(normalized.observables)
        rows[key] = _Row(
            index,
            Alert(
                source=alert_source,
                source_ref=key[1],
                format=format,
                fingerprint=fingerprint_of(normalized, observables),
                title=normalized.title.strip()[:300],
                rule=normalized.rule[:200],
                severity=normalized.severity,
                host=normalized.host[:255],
                user=normalized.user[:255],
                description=normalized.description[:20_000],
                observed_at=normalized.observed_at or now,
                received_at=now,
                last_seen_at=now,
                observables=observables,
                raw=_raw(item.raw),
                sent_by=sender,
            ),
        )
    # The upsert and the lookup of earlier matches are one statement (atomic by itself: no
    # BEGIN/COMMIT round trips when nothing else is written, the common case of an alert that
    # waits in triage). Linking and promoting are a transaction of their own after it; should
    # one fail, its alerts stay stored as new, in the triage queue.
    created, matches = _upsert(list(rows.values()), now)
    new = [row.alert for row in rows.values() if row.alert.pk in created]
    threshold = SEVERITY_LEVEL[settings.INTAKE_PROMOTE_SEVERITY]
    if any(alert.fingerprint in matches or SEVERITY_LEVEL[alert.severity] >= threshold for alert in new):
        with transaction.atomic():
            _group(new, sender=sender, now=now, matches=matches)
    for row in rows.values():
        results[row.item] = IngestResult("created" if row.alert.pk in created else "duplicate", alert=row.alert)
    # Every later repeat of an alert in the batch is a duplicate of it.
    for index, item in enumerate(received):
        if results[index] is None and item.alert is not None:
            key = ((item.alert.source or source)[:64], item.alert.source_ref.strip())
            results[index] = IngestResult("duplicate", alert=rows[key].alert)
    return [result for result in results if result is not None]


# --- Dedupe --------------------------------------------------------------------------------------


def _upsert(rows: list[_Row], now: datetime) -> tuple[set[int], dict[str, int]]:
    """Insert the new alerts and raise the count of known ones; fills every row's ``pk`` (and,
    for a known alert, its current state). Returns the pks that were created, and for their
    fingerprints the open incident of the latest earlier alert within the grouping window
    (``_earlier``), found by the same statement on PostgreSQL."""
    if not rows:
        return set(), {}
    if connection.vendor != "postgresql":
        created = _upsert_portable(rows)
        fingerprints = {row.alert.fingerprint for row in rows if row.alert.pk in created}
        return created, _earlier(fingerprints, now) if fingerprints else {}
    columns = UnnestColumns(Alert)
    table, incidents = columns.table, connection.ops.quote_name(Incident._meta.db_table)
    # The CTE's lookup reads the snapshot from before the insert: only earlier alerts match
    # (through alert_grouping_idx), as ``_earlier`` finds them.
    sql = (
        f"WITH up AS (INSERT INTO {table} ({columns.names}) SELECT * FROM unnest({columns.arrays}) "  # noqa: S608
        f"ON CONFLICT (source, source_ref) DO UPDATE SET "
        f"occurrences = {table}.occurrences + EXCLUDED.occurrences, "
        f"last_seen_at = GREATEST({table}.last_seen_at, EXCLUDED.last_seen_at) "
        f"RETURNING id, (xmax = 0) AS created, occurrences, status, incident_id, received_at, fingerprint, "
        f"source, source_ref), "
        f"matched AS (SELECT DISTINCT ON (a.fingerprint) a.fingerprint, a.incident_id FROM {table} a "
        f"JOIN {incidents} i ON i.id = a.incident_id "
        f"WHERE a.fingerprint IN (SELECT fingerprint FROM up WHERE created) AND a.received_at >= %s "
        f"AND a.incident_id IS NOT NULL AND i.status <> %s "
        f"ORDER BY a.fingerprint, a.received_at DESC, a.id DESC) "
        f"SELECT up.source, up.source_ref, up.id, up.created, up.occurrences, up.status, up.incident_id, "
        f"up.received_at, matched.incident_id FROM up LEFT JOIN matched ON matched.fingerprint = up.fingerprint"
    )
    # In key order: two batches holding the same alerts lock their rows in one order (no deadlock).
    rows = sorted(rows, key=lambda row: (row.alert.source, row.alert.source_ref))
    alerts = [row.alert for row in rows]
    for row in rows:
        row.alert.occurrences = row.repeats
    created: set[int] = set()
    matches: dict[str, int] = {}
    by_key = {(alert.source, alert.source_ref): alert for alert in alerts}
    with server_cursor() as cursor:
        cursor.execute(sql, [*columns.values(alerts), now - settings.INTAKE_GROUPING_WINDOW, Status.CLOSED])
        for source, source_ref, pk, is_new, occurrences, status, incident_id, received_at, match in cursor:
            alert = by_key[(source, source_ref)]
            mark_saved(alert, pk)
            alert.occurrences, alert.status, alert.incident_id, alert.received_at = (
                occurrences, status, incident_id, received_at,
            )  # fmt: skip
            if is_new:
                created.add(pk)
                if match is not None:
                    matches[alert.fingerprint] = match
    return created, matches


def _upsert_portable(rows: list[_Row]) -> set[int]:
    """The same without PostgreSQL (SQLite for ``make run``): its writes are serialized anyway."""
    created: set[int] = set()
    for row in rows:
        alert = row.alert
        existing = Alert.objects.filter(source=alert.source, source_ref=alert.source_ref).first()
        if existing is None:
            alert.occurrences = row.repeats
            alert.save()
            created.add(alert.pk)
            continue
        Alert.objects.filter(pk=existing.pk).update(
            occurrences=F("occurrences") + row.repeats, last_seen_at=Greatest("last_seen_at", alert.last_seen_at)
        )
        existing.refresh_from_db()
        row.alert = existing
    return created


# --- Grouping ------------------------------------------------------------------------------------
def _lock_fingerprints(fingerprints: set[str]) -> None:
    """Transaction-scoped advisory locks, in a fixed order (no deadlock between two batches)."""
    if connection.vendor != "postgresql" or not fingerprints:
        return
    keys = sorted(int(fp[:15], 16) for fp in fingerprints)  # 60 bits: fits a bigint
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", [keys])


def _earlier(fingerprints: set[str], now: datetime) -> dict[str, int]:
    """fingerprint → the open incident of the latest earlier alert with it, within the window:
    one query through ``alert_grouping_idx`` (the new alerts have no incident yet, so they are
    not among them)."""
    window = now - settings.INTAKE_GROUPING_WINDOW
    earlier = (
        Alert.objects.filter(fingerprint__in=sorted(fingerprints), received_at__gte=window, incident__isnull=False)
        .exclude(incident__status=Status.CLOSED)
        .order_by("fingerprint", "-received_at", "-id")
        .values_list("fingerprint", "incident_id")
    )
    found: dict[str, int] = {}
    for fingerprint, incident_id in earlier:
        found.setdefault(fingerprint, incident_id)
    return found


def _group(alerts: list[Alert], *, sender: User, now: datetime, matches: dict[str, int]) -> None:
    """Link, promote or leave each new alert (see the module docstring), in the batch's order:
    an alert that promotes opens the incident a later one of the batch joins.

    Linking needs no lock (it opens nothing). Only when some alert would open an incident are
    the advisory locks of those fingerprints taken and their matches read again: a concurrent
    batch may have opened one meanwhile, and must not open a second."""
    if not alerts:
        return
    threshold = SEVERITY_LEVEL[settings.INTAKE_PROMOTE_SEVERITY]
    open_incident = dict(matches)  # found with the upsert
    would_open = {
        alert.fingerprint
        for alert in alerts
        if alert.fingerprint not in open_incident and SEVERITY_LEVEL[alert.severity] >= threshold
    }
    if would_open:
        _lock_fingerprints(would_open)
        open_incident.update(_earlier(would_open, now))
    linked: dict[int, list[Alert]] = {}
    for alert in alerts:
        incident_id = open_incident.get(alert.fingerprint)
        if incident_id is not None:
            alert.status, alert.incident_id = AlertStatus.LINKED, incident_id
            linked.setdefault(incident_id, []).append(alert)
        elif SEVERITY_LEVEL[alert.severity] >= threshold:
            incident = _promote(alert, sender)
            alert.status, alert.incident_id = AlertStatus.PROMOTED, incident.pk
            open_incident[alert.fingerprint] = incident.pk
            linked.setdefault(incident.pk, []).append(alert)
    _set_status([alert for alert in alerts if alert.status != AlertStatus.NEW])
    incidents = Incident.objects.in_bulk(sorted(linked))  # in id order: locks in one order
    for incident_id in sorted(linked):
        alerts_on_timeline(incident=incidents[incident_id], alerts=linked[incident_id], actor=sender, now=now)


def _set_status(alerts: list[Alert]) -> None:
    """Write the grouping's status and incident: one ``UPDATE … FROM unnest(…)`` on PostgreSQL
    (``bulk_update`` builds a CASE per row and column)."""
    if not alerts:
        return
    if connection.vendor != "postgresql":
        Alert.objects.bulk_update(alerts, ["status", "incident"])
        return
    table = connection.ops.quote_name(Alert._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS a SET status = v.status, incident_id = v.incident_id "  # noqa: S608 - the model's table
            "FROM unnest(%s::bigint[], %s::varchar[], %s::bigint[]) AS v(id, status, incident_id) WHERE a.id = v.id",
            [[a.pk for a in alerts], [a.status for a in alerts], [a.incident_id for a in alerts]],
        )


def _promote(alert: Alert, sender: User) -> Incident:
    """A new incident for ``alert``, opened as the sender through the incident service."""
    return incident_services.incident_open(
        opened_by=sender,
        title=alert.title[:200],
        severity=_INCIDENT_SEVERITY.get(alert.severity, Severity.LOW),
        category=Category.OTHER,
        detected_at=min(alert.observed_at, timezone.now()),
        summary=_summary(alert),
    )


def _summary(alert: Alert) -> str:
    lines = [f"Opened from the {alert.get_format_display()} alert `{alert.source_ref}` of **{alert.source}**."]
    for label, value in (("Rule", alert.rule), ("Host", alert.host), ("Account", alert.user)):
        if value:
            lines.append(f"- {label}: `{value}`")
    if alert.description:
        lines += ["", alert.description[:2_000]]
    return "\n".join(lines)


def alerts_on_timeline(*, incident: Incident, alerts: list[Alert], actor: User, now: datetime) -> None:
    """One detection event per alert that joined ``incident`` ("Alert: <title>"), recorded as the
    sender (the system's entry: no rule-table check, the sender may not be a member)."""
    built = []
    scope = timeline_services.LinkScope(incident, actor)  # read only if a link were given: none is
    for alert in alerts:
        fields = timeline_services.clean_fields(
            {
                "occurred_at": min(alert.observed_at, now),
                "kind": "detection",
                "title": f"Alert: {alert.title}"[:300],
                "source": f"{alert.source} {alert.source_ref}"[:200],
                "attributes": {"alert_id": alert.pk, "severity": alert.severity, "occurrences": alert.occurrences},
            },
            scope=scope,
            now=now,
        )
        built.append(timeline_services.event_build(incident, actor, fields, now))
    timeline_services.events_insert(incident=incident, actor=actor, built=built, now=now)
