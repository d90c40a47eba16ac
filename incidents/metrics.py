"""The executive dashboard's figures (``/dashboard/``) and the metrics API (``/api/v1/metrics/``).

Every figure is an aggregate computed by the database over ``incidents_visible_to(viewer)``: a
fixed number of queries (one per figure, about a dozen) whatever the number of incidents, and no
Python loop over incidents. Loops here run over buckets (weeks or months) and top-10 lists only.

Definitions (docs/architecture.md, "Dashboard and metrics"):

- The period is ``[start, end)``. "The period's incidents" are the visible ones opened
  (``created_at``) in it: the KPIs, top categories, ATT&CK techniques and incidents per vendor
  read them. Open incidents, vendors in open incidents, open vendor access and the regulatory
  clocks are the state *now*, whatever the period.
- Milestones as ``timeline.selectors.milestone_times``: the timeline's event wins, the
  incident's own field stands in where there is none.
  MTTD = detection - first attacker activity (only where attacker activity is on the timeline);
  MTTA = acknowledged_at - reported_at (what the acknowledge SLA measures);
  MTTC = containment - detection; MTTR = recovery (else resolved_at) - detection.
  An incident without either end, or whose end precedes its start, is left out of that KPI and
  counted in "n of N incidents have this milestone".
- Means and medians are in whole seconds; the median is PostgreSQL's ``percentile_cont(0.5)``
  (the mean of the two middle values for an even count), and on SQLite the same computed by an
  aggregate function registered on the connection (``_Median``).

Every query goes to ``reporting_alias()``: the read replica when ``DATABASE_REPLICA_URL``
configures one (``DATABASES["replica"]``), else the primary. Explicitly, with ``.using()`` and
``connections[alias]`` rather than a database router, so only these read-only figures may lag
the primary; nothing that writes reads from the replica.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, F, Max, Min, Q, QuerySet, Window
from django.db.models.functions import Trunc
from django.utils import timezone

from accounts.models import User
from incidents.models import (
    OPEN_STATUSES,
    AccessState,
    Category,
    Incident,
    Severity,
    Status,
    VendorAccess,
    VendorInvolvement,
    VendorTier,
)
from incidents.regulatory.selectors import running_clocks
from incidents.selectors import incidents_visible_to
from intake.models import Alert, AlertStatus
from notifications.models import SlaClock
from timeline import attack
from timeline.models import EventKind, TimelineEvent

# Periods longer than this are bucketed by month rather than by week.
MONTHLY_AFTER = timedelta(days=120)
# The longest period the API and the custom period accept.
MAX_PERIOD = timedelta(days=731)
# How far ahead a running regulatory clock counts as "due soon".
CLOCKS_DUE_WITHIN = timedelta(hours=72)
# Lists (SLA breaches, clocks, access items) show this many rows and say how many there are.
LIST_LIMIT = 20
TOP = 10

KPI_LABELS = {
    "mttd": "Time to detect",
    "mtta": "Time to acknowledge",
    "mttc": "Time to contain",
    "mttr": "Time to resolve",
}


REPLICA_ALIAS = "replica"


def reporting_alias() -> str:
    """The database the figures are read from: the replica if settings configure one."""
    return REPLICA_ALIAS if REPLICA_ALIAS in connections else DEFAULT_DB_ALIAS


# --- The period -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware
    name: str = "custom"

    @property
    def last_day(self) -> date:
        """The period's last day (``end`` is exclusive), in the current time zone: what a page shows."""
        return timezone.localtime(self.end - timedelta(microseconds=1)).date()

    @property
    def bucket(self) -> str:
        """ "week" or "month": how trends are grouped."""
        return "month" if self.end - self.start > MONTHLY_AFTER else "week"

    def buckets(self) -> list[date]:
        """The first day of every bucket the period touches, in the current time zone (the
        buckets ``Trunc`` makes in the database): a trend shows empty weeks as zeros."""
        first = timezone.localtime(self.start).date()
        last = timezone.localtime(self.end - timedelta(microseconds=1)).date()
        if self.bucket == "week":
            day = first - timedelta(days=first.weekday())
            step = lambda d: d + timedelta(days=7)  # noqa: E731
        else:
            day = first.replace(day=1)
            step = lambda d: (d.replace(day=28) + timedelta(days=4)).replace(day=1)  # noqa: E731
        days = []
        while day <= last:
            days.append(day)
            day = step(day)
        return days


PERIOD_CHOICES = (
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("quarter", "This quarter"),
    ("custom", "Custom"),
)
_PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}


def period_named(name: str, *, now: datetime | None = None) -> Period:
    """A preset period ending now: the last 7/30/90 days, or this calendar quarter so far."""
    now = now or timezone.now()
    if name in _PRESET_DAYS:
        return Period(now - timedelta(days=_PRESET_DAYS[name]), now, name)
    if name == "quarter":
        local = timezone.localtime(now).date()
        first = local.replace(month=3 * ((local.month - 1) // 3) + 1, day=1)
        return Period(timezone.make_aware(datetime.combine(first, time.min)), now, name)
    raise ValueError(f"Unknown period {name!r}")


def period_between(first: date, last: date) -> Period:
    """From the start of ``first`` to the end of ``last`` (both included), in the current time zone."""
    start = timezone.make_aware(datetime.combine(first, time.min))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
    return Period(start, end, "custom")


# --- The figures ----------------------------------------------------------------------------
@dataclass
class Kpi:
    key: str
    label: str
    mean: int | None  # seconds
    median: int | None  # seconds
    count: int  # n: incidents of the period that have both ends of this span
    of: int  # N: incidents of the period
    trend: list[dict[str, Any]] = field(default_factory=list)  # [{"bucket", "mean", "median", "count"}]


@dataclass
class DashboardMetrics:
    period: Period
    open_by_severity: list[dict[str, Any]]
    open_by_status: list[dict[str, Any]]
    open_total: int
    flow: list[dict[str, Any]]  # [{"bucket", "opened", "closed"}]
    incidents_in_period: int
    kpis: list[Kpi]
    sla_breaches: list[dict[str, Any]]
    sla_breaches_total: int
    clocks: list[dict[str, Any]]
    clocks_total: int
    vendors_by_tier: list[dict[str, Any]]
    open_access: list[dict[str, Any]]
    open_access_total: int
    vendor_trend: list[dict[str, Any]]  # top vendors: [{"vendor", "id", "incidents", "trend": [{bucket, count}]}]
    alerts: list[dict[str, Any]]  # [{"bucket", "received", "promoted"}]
    alerts_received: int
    alerts_promoted: int
    top_categories: list[dict[str, Any]]
    top_techniques: list[dict[str, Any]]

    @property
    def kpis_known(self) -> bool:
        return any(kpi.count for kpi in self.kpis)

    @property
    def alerts_promoted_share(self) -> float | None:
        return round(self.alerts_promoted / self.alerts_received, 4) if self.alerts_received else None

    @property
    def has_flow(self) -> bool:
        return any(row["opened"] or row["closed"] for row in self.flow)

    def as_json(self) -> dict[str, Any]:
        """The API's body (``/api/v1/metrics/``): the same figures, dates in ISO 8601."""
        return _jsonable(
            {
                "period": {"start": self.period.start, "end": self.period.end, "bucket": self.period.bucket},
                "open_incidents": {
                    "total": self.open_total,
                    "by_severity": self.open_by_severity,
                    "by_status": self.open_by_status,
                },
                "flow": self.flow,
                "incidents_in_period": self.incidents_in_period,
                "kpis": [asdict(kpi) for kpi in self.kpis],
                "sla_breaches": {"total": self.sla_breaches_total, "items": self.sla_breaches},
                "regulatory_clocks": {"total": self.clocks_total, "items": self.clocks},
                "vendors": {
                    "in_open_incidents_by_tier": self.vendors_by_tier,
                    "open_access": {"total": self.open_access_total, "items": self.open_access},
                    "top": self.vendor_trend,
                },
                "alerts": {
                    "received": self.alerts_received,
                    "promoted": self.alerts_promoted,
                    "promoted_share": self.alerts_promoted_share,
                    "trend": self.alerts,
                },
                "top_categories": self.top_categories,
                "top_techniques": self.top_techniques,
            }
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def dashboard_metrics(*, viewer: User, period: Period, now: datetime | None = None) -> DashboardMetrics:
    """Every figure of the dashboard for ``viewer`` over ``period``: 13 queries whatever the
    data (one per figure; see the module's docstring for the definitions)."""
    now = now or timezone.now()
    alias = reporting_alias()
    # Every query below starts from this queryset or names the alias itself: a subquery on
    # another database than its outer query is refused by Django, so a missed .using() fails loudly.
    visible = incidents_visible_to(viewer).using(alias)
    in_period = visible.filter(created_at__gte=period.start, created_at__lt=period.end)
    buckets = period.buckets()

    open_by_severity, open_by_status, open_total = _open_incidents(visible)
    flow = _flow(visible, period, buckets)
    incidents_in_period, kpis = _kpis(in_period, period, buckets)
    sla_breaches, sla_total = _sla_breaches(visible, period)
    clocks, clocks_total = _clocks(visible, now)
    open_access, open_access_total = _open_access(visible)
    alerts, received, promoted = _alerts(visible, period, buckets)
    return DashboardMetrics(
        period=period,
        open_by_severity=open_by_severity,
        open_by_status=open_by_status,
        open_total=open_total,
        flow=flow,
        incidents_in_period=incidents_in_period,
        kpis=kpis,
        sla_breaches=sla_breaches,
        sla_breaches_total=sla_total,
        clocks=clocks,
        clocks_total=clocks_total,
        vendors_by_tier=_vendors_by_tier(visible),
        open_access=open_access,
        open_access_total=open_access_total,
        vendor_trend=_vendor_trend(in_period, period, buckets),
        alerts=alerts,
        alerts_received=received,
        alerts_promoted=promoted,
        top_categories=_top_categories(in_period),
        top_techniques=_top_techniques(in_period),
    )


def _as_date(value: Any) -> date:
    """A bucket as the database returned it (a date or datetime; a string on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _bucket(period: Period, field_name: str) -> Trunc:
    return Trunc(field_name, period.bucket)


def _open_incidents(visible: QuerySet[Incident]) -> tuple[list[dict], list[dict], int]:
    """Open incidents by severity and by status: one GROUP BY severity, status."""
    rows = visible.filter(status__in=OPEN_STATUSES).values("severity", "status").annotate(n=Count("id")).order_by()
    by_severity = dict.fromkeys(Severity.values, 0)
    by_status = dict.fromkeys(OPEN_STATUSES, 0)
    for row in rows:
        by_severity[row["severity"]] += row["n"]
        by_status[row["status"]] += row["n"]
    severity_labels, status_labels = dict(Severity.choices), dict(Status.choices)
    severities = [{"severity": key, "label": severity_labels[key], "count": n} for key, n in by_severity.items() if n]
    statuses = [{"status": key, "label": status_labels[key], "count": n} for key, n in by_status.items() if n]
    return severities, statuses, sum(by_severity.values())


def _per_bucket(queryset: QuerySet, period: Period, field_name: str) -> dict[date, int]:
    rows = (
        queryset.filter(**{f"{field_name}__gte": period.start, f"{field_name}__lt": period.end})
        .annotate(b=_bucket(period, field_name))
        .values("b")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {_as_date(row["b"]): row["n"] for row in rows}


def _flow(visible: QuerySet[Incident], period: Period, buckets: list[date]) -> list[dict]:
    """New (opened) and closed incidents per bucket. "Closed" counts incidents closed now whose
    closed_at falls in the period (a reopened case no longer counts). Two queries."""
    opened = _per_bucket(visible, period, "created_at")
    closed = _per_bucket(visible, period, "closed_at")
    return [{"bucket": day, "opened": opened.get(day, 0), "closed": closed.get(day, 0)} for day in buckets]


# KPIs: (key, start column, end column) over the inner query's columns below.
_SPANS = (
    ("mttd", "first_attacker", "detection"),
    ("mtta", "reported", "acknowledged"),
    ("mttc", "detection", "containment"),
    ("mttr", "detection", "recovery"),
)
_MILESTONE_KINDS = (EventKind.ATTACKER, EventKind.DETECTION, EventKind.CONTAINMENT, EventKind.RECOVERY)


class _Median:
    """SQLite's stand-in for ``percentile_cont(0.5)``: an aggregate the database calls row by
    row (registered on the connection by ``_kpis``). NULLs are skipped as SQL aggregates do."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def _milestone_events(in_period: QuerySet[Incident]) -> QuerySet[TimelineEvent]:
    """The timeline's milestones of the period's incidents in one grouped pass over their events
    (one row per incident that has any): as ``timeline.selectors.milestone_times`` defines them
    (the first event of a kind; recovery is the last recovery event), without its four
    correlated subqueries per incident (4 index probes x 20,000 incidents cost 160 ms at 90 days
    on the bench; the grouped pass reads each event once through the (incident, kind,
    occurred_at) index)."""

    def first(kind: str) -> Min:
        return Min("occurred_at", filter=Q(kind=kind))

    return (
        TimelineEvent.objects.using(in_period.db)
        .filter(incident__in=in_period.values("pk"), kind__in=_MILESTONE_KINDS)
        .values("incident_id")
        .annotate(
            tl_first_attacker=first(EventKind.ATTACKER),
            tl_detection=first(EventKind.DETECTION),
            tl_containment=first(EventKind.CONTAINMENT),
            tl_recovery=Max("occurred_at", filter=Q(kind=EventKind.RECOVERY)),
        )
        .order_by()
    )


def _kpi_sql(in_period: QuerySet[Incident], period: Period) -> tuple[str, list[Any]]:
    """One statement for the four KPIs, per bucket and over the period.

    The inner query joins the period's incidents (the ORM's: visibility, period) to their
    timeline milestones (``_milestone_events``, grouped once) and yields one row per incident;
    a CTE turns it into spans in seconds; the outer query aggregates them twice, per bucket and
    in total, with UNION ALL (the total row has a NULL bucket). Raw SQL only for the joins and
    the outer part: Django cannot join or aggregate over a subquery in FROM."""
    incidents = (
        in_period.annotate(
            b=_bucket(period, "created_at"),
            reported=F("reported_at"),
            acknowledged=F("acknowledged_at"),
            detection=F("detected_at"),
            containment=F("contained_at"),
            recovery=F("resolved_at"),
        )
        .values("pk", "b", "reported", "acknowledged", "detection", "containment", "recovery")
        .order_by()
    )
    alias = in_period.db
    incidents_sql, incidents_params = incidents.query.get_compiler(using=alias).as_sql()
    events_sql, events_params = _milestone_events(in_period).query.get_compiler(using=alias).as_sql()
    # The ORM's SQL and our own names; values are params.
    inner_sql = (
        "SELECT p.b AS b, p.reported AS reported, p.acknowledged AS acknowledged, p.detection AS detection, "  # noqa: S608
        "p.containment AS containment, p.recovery AS recovery, m.tl_first_attacker AS tl_first_attacker, "
        "m.tl_detection AS tl_detection, m.tl_containment AS tl_containment, m.tl_recovery AS tl_recovery "
        f"FROM ({incidents_sql}) p LEFT JOIN ({events_sql}) m ON m.incident_id = p.pk"
    )
    params = (*incidents_params, *events_params)
    postgres = connections[alias].vendor == "postgresql"

    def seconds(end: str, start: str) -> str:
        if postgres:
            return f"EXTRACT(EPOCH FROM ({end} - {start}))::float8"
        return f"((julianday({end}) - julianday({start})) * 86400.0)"

    # The timeline's event wins; the incident's own field stands in (first attacker: timeline only).
    ends = {
        "first_attacker": "i.tl_first_attacker",
        "reported": "i.reported",
        "acknowledged": "i.acknowledged",
        "detection": "COALESCE(i.tl_detection, i.detection)",
        "containment": "COALESCE(i.tl_containment, i.containment)",
        "recovery": "COALESCE(i.tl_recovery, i.recovery)",
    }
    span_columns = ", ".join(
        f"CASE WHEN {ends[end]} >= {ends[start]} THEN {seconds(ends[end], ends[start])} END AS {key}"
        for key, start, end in _SPANS
    )
    median = "percentile_cont(0.5) WITHIN GROUP (ORDER BY {})" if postgres else "breachline_median({})"
    aggregates = ", ".join(f"AVG({key}), {median.format(key)}, COUNT({key})" for key, _s, _e in _SPANS)
    sql = (
        f"WITH spans AS (SELECT i.b AS b, {span_columns} FROM ({inner_sql}) i) "  # noqa: S608 - our own names; values are params
        f"SELECT b, COUNT(*), {aggregates} FROM spans GROUP BY b "
        f"UNION ALL SELECT NULL, COUNT(*), {aggregates} FROM spans"
    )
    return sql, list(params)


def _kpis(in_period: QuerySet[Incident], period: Period, buckets: list[date]) -> tuple[int, list[Kpi]]:
    sql, params = _kpi_sql(in_period, period)
    connection = connections[in_period.db]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            connection.connection.create_aggregate("breachline_median", 1, _Median)
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    def whole(value: float | None) -> int | None:
        return None if value is None else round(value)

    total_row = next(row for row in rows if row[0] is None)
    per_bucket = {_as_date(row[0]): row for row in rows if row[0] is not None}
    kpis = []
    for index, (key, _start, _end) in enumerate(_SPANS):
        column = 2 + 3 * index
        trend = []
        for day in buckets:
            row = per_bucket.get(day)
            mean, median, count = (row[column], row[column + 1], row[column + 2]) if row else (None, None, 0)
            trend.append({"bucket": day, "mean": whole(mean), "median": whole(median), "count": count})
        kpis.append(
            Kpi(
                key=key,
                label=KPI_LABELS[key],
                mean=whole(total_row[column]),
                median=whole(total_row[column + 1]),
                count=total_row[column + 2],
                of=total_row[1],
                trend=trend,
            )
        )
    return total_row[1], kpis


def _sla_breaches(visible: QuerySet[Incident], period: Period) -> tuple[list[dict], int]:
    """SLA clocks breached in the period, newest first, with their incident; one query (the
    total rides along as a window count)."""
    clocks = (
        SlaClock.objects.using(visible.db)
        .filter(incident__in=visible, breached_at__gte=period.start, breached_at__lt=period.end)
        .select_related("incident")
        .annotate(total=Window(Count("id")))
        .order_by("-breached_at", "-id")[:LIST_LIMIT]
    )
    rows = [
        {
            "reference": clock.incident.reference,
            "title": clock.incident.title,
            "severity": clock.incident.severity,
            "kind": clock.kind,
            "kind_label": clock.get_kind_display(),
            "due_at": clock.due_at,
            "breached_at": clock.breached_at,
        }
        for clock in clocks
    ]
    return rows, (clocks[0].total if rows else 0)


def _clocks(visible: QuerySet[Incident], now: datetime) -> tuple[list[dict], int]:
    """Running regulatory clocks due within 72 hours or already missed, soonest first."""
    clocks = (
        running_clocks(visible, due_before=now + CLOCKS_DUE_WITHIN)
        .using(visible.db)
        .annotate(total=Window(Count("id")))
    )
    clocks = clocks[:LIST_LIMIT]
    rows = [
        {
            "reference": clock.incident.reference,
            "title": clock.incident.title,
            "regime": clock.regime.name,
            "stage": clock.stage,
            "due_at": clock.due_at,
            "missed": clock.due_at < now,
        }
        for clock in clocks
    ]
    return rows, (clocks[0].total if rows else 0)


def _vendors_by_tier(visible: QuerySet[Incident]) -> list[dict]:
    """Distinct vendors involved in open incidents, by the registry's tier."""
    rows = (
        VendorInvolvement.objects.using(visible.db)
        .filter(incident__in=visible.filter(status__in=OPEN_STATUSES))
        .values("vendor__tier")
        .annotate(n=Count("vendor", distinct=True))
        .order_by()
    )
    counts = {row["vendor__tier"]: row["n"] for row in rows}
    return [
        {"tier": tier, "label": label, "count": counts[tier]} for tier, label in VendorTier.choices if counts.get(tier)
    ]


def _open_access(visible: QuerySet[Incident]) -> tuple[list[dict], int]:
    """Vendor access items not yet revoked (state active), on any incident the viewer sees."""
    items = (
        # Through the involvements of visible incidents (a subquery), not involvement__incident__in:
        # joined to the incidents first, PostgreSQL merge-joined every incident (40 ms -> 20 ms).
        VendorAccess.objects.using(visible.db)
        .filter(
            state=AccessState.ACTIVE,
            involvement__in=VendorInvolvement.objects.using(visible.db).filter(incident__in=visible),
        )
        .select_related("involvement__incident", "involvement__vendor")
        .annotate(total=Window(Count("id")))
        .order_by("added_at", "id")[:LIST_LIMIT]
    )
    rows = [
        {
            "reference": item.involvement.incident.reference,
            "vendor": item.involvement.vendor.name,
            "kind": item.kind,
            "kind_label": item.get_kind_display(),
            "identifier": item.identifier,
            "system": item.system,
            "added_at": item.added_at,
        }
        for item in items
    ]
    return rows, (items[0].total if rows else 0)


def _vendor_trend(in_period: QuerySet[Incident], period: Period, buckets: list[date]) -> list[dict]:
    """The top 10 vendors by incidents of the period they are involved in, and those incidents
    per bucket: two queries (the top ten, then their buckets)."""
    involvements = VendorInvolvement.objects.using(in_period.db).filter(incident__in=in_period)
    top = list(
        involvements.values("vendor_id", "vendor__name")
        .annotate(n=Count("incident", distinct=True))
        .order_by("-n", "vendor__name")[:TOP]
    )
    if not top:
        return []
    rows = (
        involvements.filter(vendor_id__in=[row["vendor_id"] for row in top])
        .annotate(b=_bucket(period, "incident__created_at"))
        .values("vendor_id", "b")
        .annotate(n=Count("incident", distinct=True))
        .order_by()
    )
    counts = {(row["vendor_id"], _as_date(row["b"])): row["n"] for row in rows}
    return [
        {
            "vendor": row["vendor__name"],
            "id": row["vendor_id"],
            "incidents": row["n"],
            "trend": [{"bucket": day, "count": counts.get((row["vendor_id"], day), 0)} for day in buckets],
        }
        for row in top
    ]


def _alerts(visible: QuerySet[Incident], period: Period, buckets: list[date]) -> tuple[list[dict], int, int]:
    """Alerts received in the period per bucket, and how many of them became incident work
    (promoted to a new incident or linked to one). Alerts of incidents the viewer may not see are
    not counted; alerts still in triage (no incident) are."""
    became_work = [AlertStatus.PROMOTED, AlertStatus.LINKED]
    if connections[visible.db].vendor == "postgresql":
        rows = _alert_rows_postgresql(visible, period, became_work)
    else:
        rows = (
            Alert.objects.using(visible.db)
            .filter(received_at__gte=period.start, received_at__lt=period.end)
            .filter(Q(incident__isnull=True) | Q(incident__in=visible))
            .annotate(b=_bucket(period, "received_at"))
            .values("b")
            .annotate(received=Count("*"), promoted=Count("status", filter=Q(status__in=became_work)))
            .order_by()
        )
    counts = {_as_date(row["b"]): row for row in rows}
    trend = [
        {
            "bucket": day,
            "received": counts[day]["received"] if day in counts else 0,
            "promoted": counts[day]["promoted"] if day in counts else 0,
        }
        for day in buckets
    ]
    return trend, sum(row["received"] for row in trend), sum(row["promoted"] for row in trend)


def _alert_rows_postgresql(visible: QuerySet[Incident], period: Period, became_work: list[str]) -> list[dict]:
    """The same rows as the ORM's query, in an order PostgreSQL runs well on a million alerts:
    count the period's alerts per (bucket, incident) from alert_received_idx alone (an index-only
    scan; a few thousand groups), then keep the groups whose incident ``visible`` holds, probing
    it by primary key for each group (a LATERAL … LIMIT 1). Written as ``incident IN (visible)``,
    PostgreSQL hashes every visible incident first: a scan of the whole incident table."""
    visible_sql, visible_params = visible.order_by().values("id").query.get_compiler(using=visible.db).as_sql()
    sql = f"""
        WITH g AS MATERIALIZED (
            SELECT DATE_TRUNC(%s, a.received_at AT TIME ZONE %s) AS b, a.incident_id,
                   COUNT(*) AS received, COUNT(*) FILTER (WHERE a.status = ANY(%s)) AS promoted
            FROM {Alert._meta.db_table} a
            WHERE a.received_at >= %s AND a.received_at < %s
            GROUP BY 1, 2
        )
        SELECT g.b, SUM(g.received)::bigint AS received, SUM(g.promoted)::bigint AS promoted
        FROM g
        LEFT JOIN LATERAL (
            SELECT 1 AS seen FROM ({visible_sql}) v WHERE v.id = g.incident_id LIMIT 1
        ) shown ON TRUE
        WHERE g.incident_id IS NULL OR shown.seen IS NOT NULL
        GROUP BY g.b
    """  # noqa: S608 - table name from the model, the visible incidents' SQL from the ORM, values as parameters
    params = [
        period.bucket,
        timezone.get_current_timezone_name(),
        list(became_work),
        period.start,
        period.end,
        *visible_params,
    ]
    with connections[visible.db].cursor() as cursor:
        cursor.execute(sql, params)
        return [{"b": b, "received": received, "promoted": promoted} for b, received, promoted in cursor.fetchall()]


def _top_categories(in_period: QuerySet[Incident]) -> list[dict]:
    labels = dict(Category.choices)
    rows = in_period.values("category").annotate(n=Count("id")).order_by("-n", "category")[:TOP]
    return [
        {"category": row["category"], "label": labels.get(row["category"], row["category"]), "count": row["n"]}
        for row in rows
    ]


def _top_techniques(in_period: QuerySet[Incident]) -> list[dict]:
    """ATT&CK techniques on the timelines of the period's incidents, by how many incidents show them."""
    rows = (
        TimelineEvent.objects.using(in_period.db)
        .filter(incident__in=in_period)
        .exclude(technique="")
        .values("technique")
        .annotate(n=Count("incident", distinct=True))
        .order_by("-n", "technique")[:TOP]
    )
    result = []
    for row in rows:
        known = attack.technique(row["technique"])
        result.append({"technique": row["technique"], "name": known.name if known else "", "count": row["n"]})
    return result


__all__ = [
    "PERIOD_CHOICES",
    "DashboardMetrics",
    "Kpi",
    "Period",
    "dashboard_metrics",
    "period_between",
    "period_named",
    "reporting_alias",
]
