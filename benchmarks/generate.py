"""A large, realistic, deterministic data set for the benchmarks, loaded with PostgreSQL ``COPY``.

    python benchmarks/generate.py --incidents 100000 --events 1000000 --alerts 1000000 --vendors 5000 --seed 1

What it writes (every row through ``COPY``, ids reserved from each table's sequence):

- users: ``bench-admin``, ``bench-exec`` (executive), ``bench-lead``, 8 more leads and 30 responders;
- incidents over ``--span-days`` (730) before the anchor, oldest first, with weighted severities and
  categories. Each follows the NIST phases with durations drawn per severity (lognormal); its status
  is the last phase reached by the anchor, so old incidents are closed and recent ones spread over
  the open phases; 3% stall in an open phase, 25% close early from triage (false positive, benign,
  duplicate of an earlier incident, out of scope). Milestones (``detected_at``, ``acknowledged_at``,
  ``contained_at``, ``resolved_at``, ``closed_at``) follow the phases and the models' constraints.
  10% are restricted (most opened so, in the IRR- series). References are IR-YYYY-NNNN (and
  IRR-YYYY-NNNN) per creation year, continuing the reference counters, which end at the highest
  number used, so ``incident_open`` continues the series;
- memberships (the opener, the lead, up to two responders);
- summaries of ~450 characters of Markdown (what raised the incident, the scope as a list, the
  vendors involved by name, a suspected malware family in a third), so a vendor's name is found in
  about 1-2% of incidents;
- findings, 2.5 per incident on average, more for severe incidents and few for those never
  investigated: ~300 characters of Markdown naming a workstation (``wks-0000`` … ``wks-4999``, as
  alerts and events do), an account, an address and, in 60%, a malware family and an ATT&CK
  technique; 20% internal. Tasks, about 2 per incident, from ten titles: a closed incident's are
  done (or 10% cancelled, with a reason), an open one's to do, in progress or done. Tags: the 61
  names, the category's own on 70% of incidents, then a Zipf mix of the others, 0 to 4 each. Then
  the stored search documents of every incident (``incidents.search.search_documents_refresh``,
  one statement, about 27 s at 100k: the ``to_tsvector`` work itself, half of it; a set-based
  ``UPDATE … FROM`` with the GIN indexes dropped and rebuilt took longer);
- vendors with tiers, involvements (every third-party incident, 12% of the others; a few vendors
  in many incidents) and their access items (active until the incident is contained; 5% of the
  contained ones keep an item active: "access not yet revoked");
- timeline events, ``--events`` in all, spread over incidents by a lognormal weight times the
  severity: a detection at the detection time, the first attacker activity (known for 70%) a
  dwell time before it, containment and recovery at the incident's milestones, then attacker,
  communication, vendor and eradication events between them; 65% of attacker events carry an
  ATT&CK technique (a Zipf mix of 35 real ids);
- indicators (``--indicators``, twice the incidents by default) drawn from shared pools, so the
  same address or hash appears in several incidents, normalized as the app stores them;
- SLA clocks (acknowledge and contain, from the SLA targets in the database) met, breached or
  running as the milestones say; GDPR Art. 33 deadline clocks for incidents with personal data;
- alerts (``--alerts``): one promoting each of 30% of the incidents, 10% linked to an incident
  of the same hour or day, the rest new (the last two days) or ignored; four SIEM sources,
  fingerprints that repeat, a small payload.

The same shape, seed and anchor give the same rows (ids aside: they come from the sequences).
The anchor is the UTC midnight the data is generated on (``--anchor`` fixes it), so "the last 90
days" always holds data. The CLI records the shape in a table ``bench_dataset`` and reuses the
data when the database holds the same shape and seed, generated within ``--max-age-days`` (7):
it says so and skips. Otherwise it drops and recreates the database (PostgreSQL, and its name
must contain "bench"), migrates it, loads and ``VACUUM ANALYZE``s.

As a library (issue 16's benchmarks): ``Shape`` and ``generate(shape)`` write into Django's
default database, in the caller's transaction; ``ensure_dataset(database_url, shape)`` is what
the CLI does.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARKER_TABLE = "bench_dataset"
# Bump when the generator's output changes, so a stored data set of an older version is not reused.
GENERATOR_VERSION = 4

# --- Distributions ----------------------------------------------------------------------------

SEVERITY_WEIGHTS = {"critical": 5, "high": 20, "medium": 45, "low": 30}
CATEGORY_WEIGHTS = {
    "phishing": 22, "malware": 15, "account_compromise": 14, "vulnerability": 10, "unauthorized_access": 9,
    "third_party": 8, "data_exfiltration": 6, "ransomware": 4, "denial_of_service": 4, "insider": 3, "other": 5,
}  # fmt: skip
PHASES = ("new", "triage", "investigating", "contained", "eradicated", "recovered", "closed")
# Median seconds from one phase to the next (lognormal, sigma below), by severity: (ack, to investigating,
# to contained, to eradicated, to recovered, to closed).
PHASE_MEDIANS = {
    "critical": (15 * 60, 30 * 60, 6 * 3600, 86400, 2 * 86400, 3 * 86400),
    "high": (45 * 60, 3600, 12 * 3600, 86400, 2 * 86400, 4 * 86400),
    "medium": (3 * 3600, 4 * 3600, 86400, 2 * 86400, 3 * 86400, 5 * 86400),
    "low": (8 * 3600, 12 * 3600, 2 * 86400, 3 * 86400, 4 * 86400, 7 * 86400),
}
PHASE_SIGMA = 1.0
EARLY_CLOSE = 0.25  # closed from triage: not an incident after all
EARLY_RESOLUTIONS = (("false_positive", 60), ("benign", 25), ("duplicate", 10), ("out_of_scope", 5))
STALLED = 0.03  # stay in an open phase whatever their age
RESTRICTED = 0.10
RESTRICTED_AT_OPENING = 0.8  # of the restricted: in the IRR- series
PERSONAL_DATA = 0.25
ATTACKER_KNOWN = 0.70
DWELL_MEDIAN_S = 3 * 86400  # first attacker activity before detection
EVENT_SEVERITY_FACTOR = {"critical": 4.0, "high": 2.0, "medium": 1.0, "low": 0.6}
FILLER_KINDS = (("attacker", 45), ("communication", 22), ("vendor", 8), ("eradication", 7), ("detection", 8),
                ("regulatory", 3), ("containment", 7))  # fmt: skip
TECHNIQUES = (
    "T1566.001", "T1078", "T1059.001", "T1021.001", "T1486", "T1190", "T1003.001", "T1110.003", "T1567.002",
    "T1078.004", "T1199", "T1133", "T1053.005", "T1547.001", "T1071.001", "T1105", "T1027", "T1562.001",
    "T1566.002", "T1070.004", "T1087.002", "T1018", "T1082", "T1048.003", "T1530", "T1098", "T1136.003",
    "T1555.003", "T1204.002", "T1059.003", "T1021.002", "T1113", "T1560.001", "T1219", "T1572",
)  # fmt: skip
TECHNIQUE_SHARE = 0.65  # of attacker events; 15% of detections name one too
VENDOR_TIER_WEIGHTS = {"critical": 5, "high": 20, "medium": 45, "low": 30}
VENDOR_SHARE_OTHER = 0.12  # non-third-party incidents with a vendor involved
ACCESS_KINDS = ("user_account", "service_account", "api_token", "oauth_grant", "ssh_key", "vpn_account",
                "network_path", "shared_mailbox", "physical_badge", "other")  # fmt: skip
ACCESS_STILL_ACTIVE = 0.05  # of items on contained incidents
ALERT_SOURCES = (("splunk-prod", "splunk"), ("sentinel-eu", "sentinel"), ("elastic-siem", "elastic"),
                 ("wazuh-dc1", "wazuh"))  # fmt: skip
ALERT_SEVERITY_WEIGHTS = {"info": 20, "low": 35, "medium": 30, "high": 12, "critical": 3}
ALERT_PROMOTING = 0.30  # of incidents: opened from an alert
ALERT_LINKED = 0.10  # of alerts
ALERT_NEW_WINDOW_S = 2 * 86400  # alerts younger than this are mostly still new
INDICATOR_TYPES = (("ip", 35), ("domain", 25), ("sha256", 18), ("md5", 7), ("hostname", 15))
SYSTEMS = ("vpn-gw-01", "mail-relay", "hr-portal", "erp-prod", "jump-host-3", "ci-runner-7", "sso", "crm", "nas-02",
           "payroll", "k8s-prod", "sharepoint", "okta", "aws-prod", "github")  # fmt: skip
SOURCES = ("EDR", "VPN gateway", "Entra ID sign-in log", "Proxy", "Firewall", "Mail gateway", "CloudTrail", "SIEM")
VENDOR_WORDS = ("Acme", "Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell",
                "Cyberdyne", "Hooli", "Vandelay", "Soylent", "Wonka", "Oscorp", "Gringotts", "Pied Piper",
                "Aperture")  # fmt: skip
VENDOR_KINDS = ("Payroll", "MSP", "Cloud", "Support", "Billing", "CDN", "Logistics", "Analytics", "HR", "Security")
TITLES = {
    "third_party": "Compromise at a supplier reached {system}", "malware": "Malware beaconing from {system}",
    "ransomware": "Ransomware encryption on {system}", "phishing": "Credential phishing wave ({n})",
    "account_compromise": "Impossible-travel sign-ins on {system}",
    "data_exfiltration": "Outbound transfer from {system}",
    "unauthorized_access": "Unauthorized admin session on {system}", "denial_of_service": "Traffic flood on {system}",
    "insider": "Bulk download from {system}", "vulnerability": "Exploitation attempts on {system}",
    "other": "Unusual behaviour on {system}",
}  # fmt: skip
# --- Case content: what the incident pages and search read
FINDINGS_PER_INCIDENT = 2.5  # on average, more for severe incidents (below) and few for early closes
FINDING_SEVERITY_FACTOR = {"critical": 2.4, "high": 1.6, "medium": 1.0, "low": 0.7}
FINDING_INTERNAL = 0.20  # hidden from vendor collaborators
TASK_COUNTS = (0, 1, 1, 2, 2, 2, 3, 3, 4)  # about 2 per incident
TASK_TITLES = (
    "Reset credentials for affected accounts", "Collect EDR triage package", "Block indicators at the proxy",
    "Notify the data protection officer", "Rotate API tokens", "Re-image the host", "Review mailbox rules",
    "Confirm scope with the vendor", "Preserve firewall logs", "Brief the executive sponsor",
)  # fmt: skip
# Open incidents' tasks; a closed incident's are done, or cancelled with a reason.
OPEN_TASK_STATUSES = (("todo", 45), ("in_progress", 20), ("done", 35))
CLOSED_TASK_CANCELLED = 0.10
WORKSTATIONS = 5000  # wks-0000 … wks-4999, as the alerts and timeline events name them
FIRST_NAMES = ("anna", "ben", "chloe", "dev", "elif", "farid", "grace", "hugo", "ines", "jon", "kofi", "lea", "mia")
LAST_NAMES = ("smith", "garcia", "okafor", "novak", "tanaka", "muller", "rossi", "kowalski", "haddad", "lee", "berg")
FAMILIES = (
    "Cobalt Strike", "Qakbot", "LockBit", "AsyncRAT", "IcedID", "Emotet", "BlackCat", "SocGholish", "Akira",
    "Gootloader", "PlugX", "Raccoon Stealer", "Sliver", "BumbleBee", "Royal", "DarkGate",
)  # fmt: skip
FAMILY_SHARE = 0.6  # of findings; a third of the summaries name a suspected family
COMMANDS = ("powershell -enc", "rundll32", "certutil -urlcache", "curl | sh", "mshta", "wmic process call create")
# The 61 tags: each category's own (on 70% of its incidents), then a Zipf mix of the rest, 0-4 in all.
CATEGORY_TAGS = {
    "phishing": "phishing", "malware": "malware", "account_compromise": "account-takeover",
    "vulnerability": "cve", "unauthorized_access": "privilege-abuse", "third_party": "supply-chain",
    "data_exfiltration": "exfiltration", "ransomware": "ransomware", "denial_of_service": "ddos",
    "insider": "insider", "other": "triage-needed",
}  # fmt: skip
TAGS = (
    "gdpr", "vpn", "mfa", "edr-alert", "customer-data", "bec", "cloud", "m365", "aws", "false-positive-candidate",
    "lockbit", "qakbot", "cobalt-strike", "nis2", "payroll", "okta", "azure-ad", "credential-stuffing",
    "sec-8k", "hipaa", "pci", "legal-hold", "exec-briefing", "law-enforcement", "sharepoint", "github",
    "salesforce", "usb", "dlp", "impossible-travel", "tor", "c2", "beaconing", "webshell", "log4j",
    "moveit", "citrix", "fortinet", "printnightmare", "kerberoasting", "pass-the-hash", "golden-ticket",
    "shadow-it", "typosquat", "invoice-fraud", "gift-card", "sim-swap", "mfa-fatigue", "oauth-consent",
    "token-theft",
)  # fmt: skip
CATEGORY_TAG_SHARE = 0.70
EXTRA_TAG_COUNTS = (0, 0, 1, 1, 2, 3)
EVENT_VERBS = {
    "attacker": "Attacker activity on", "detection": "Alert raised for", "containment": "Isolated",
    "eradication": "Removed persistence from", "recovery": "Restored", "communication": "Status update on",
    "vendor": "Vendor reported on", "regulatory": "Regulatory assessment for",
}  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """What to generate. ``indicators`` < 0 means twice the incidents; ``anchor`` "" means today (UTC)."""

    incidents: int
    events: int
    alerts: int
    vendors: int
    seed: int = 1
    indicators: int = -1
    span_days: int = 730
    anchor: str = ""
    version: int = GENERATOR_VERSION

    def resolved(self) -> Shape:
        """The shape with its defaults filled in (what is generated and recorded)."""
        anchor = self.anchor or datetime.now(UTC).date().isoformat()
        indicators = self.indicators if self.indicators >= 0 else 2 * self.incidents
        return Shape(**{**asdict(self), "anchor": anchor, "indicators": indicators})

    @property
    def anchor_time(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.resolved().anchor), datetime.min.time(), tzinfo=UTC)

    def same_data(self, other: Shape) -> bool:
        """Same rows but for the anchor: what may be reused."""
        mine, theirs = asdict(self.resolved()), asdict(other.resolved())
        mine.pop("anchor"), theirs.pop("anchor")
        return mine == theirs


def bench_shape() -> Shape:
    """The data set every 100k benchmark of ``make bench`` reads (the dashboard, the incident reads,
    the load run): 100,000 incidents, 1,000,000 events and alerts, 5,000 vendors, seed 1. The
    ``BENCH_DATASET_*`` variables change it, for a quick check."""
    return Shape(
        incidents=int(os.environ.get("BENCH_DATASET_INCIDENTS", "100000")),
        events=int(os.environ.get("BENCH_DATASET_EVENTS", "1000000")),
        alerts=int(os.environ.get("BENCH_DATASET_ALERTS", "1000000")),
        vendors=int(os.environ.get("BENCH_DATASET_VENDORS", "5000")),
        seed=1,
    )


def bench_dataset_url() -> str:
    """Where ``bench_shape()`` lives; benchmarks that write clone it first (``harness.clone_database``)."""
    return os.environ.get("BENCH_DATASET_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/breachline_bench_dataset")


@dataclass
class Generated:
    """What ``generate`` wrote: rows per table, seconds per step, and the named users."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


# --- COPY with the models' columns ------------------------------------------------------------


class Table:
    """Rows for one model's table, given as tuples in ``columns`` order (attnames); every other
    concrete column gets its model default once (``timezone.now`` becomes ``now``, lists and dicts
    their JSON). A column with no default that may not be NULL, or one whose default must differ
    per row (a UUID), has to be given: a model change that adds one fails here, loudly. JSON
    columns are given as JSON text."""

    def __init__(self, model: Any, columns: Sequence[str], *, now: datetime) -> None:
        from django.db import models
        from django.utils import timezone

        self.model = model
        self.table = model._meta.db_table
        fields = {f.attname: f for f in model._meta.concrete_fields}
        unknown = [name for name in columns if name not in fields]
        if unknown:
            raise ValueError(f"{self.table}: no columns {unknown}")
        tail: dict[str, Any] = {}
        for name, f in fields.items():
            if name in columns or f.primary_key:
                continue
            if f.has_default() and callable(f.default):
                if f.default is timezone.now:
                    value: Any = now
                elif f.default in (list, dict):
                    value = json.dumps(f.default())
                else:
                    raise ValueError(f"{self.table}.{name}: its default differs per row; give the column")
            else:
                value = f.get_default()
                if isinstance(f, models.JSONField) and value is not None:
                    value = json.dumps(value)
            if value is None and not f.null:
                raise ValueError(f"{self.table}.{name} is required; give the column")
            tail[name] = value
        self.columns = [fields[name].column for name in [*columns, *tail]]
        self.tail = tuple(tail.values())

    def copy(self, rows: Iterator[tuple[Any, ...]] | Sequence[tuple[Any, ...]]) -> int:
        """COPY the rows in; returns how many."""
        from django.db import connection

        names = ", ".join(f'"{column}"' for column in self.columns)
        tail, count = self.tail, 0
        with connection.cursor() as cursor, cursor.cursor.copy(f'COPY "{self.table}" ({names}) FROM STDIN') as copy:
            write = copy.write_row  # the table and column names come from the model
            for row in rows:
                write(row + tail)
                count += 1
        return count


def reserve_ids(model: Any, count: int) -> int:
    """Take ``count`` ids from the table's sequence in one statement; returns the first."""
    from django.db import connection

    if count == 0:
        return 1
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1)",
            [table, table, count],
        )
        last = cursor.fetchone()[0]
    return last - count + 1


# --- Drawing ----------------------------------------------------------------------------------


def _chooser(rng: random.Random, weighted: dict[str, float] | Sequence[tuple[str, float]]) -> Callable[[], str]:
    """A function drawing one of the keys by weight (bisect over cumulative weights)."""
    pairs = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
    items = [name for name, _ in pairs]
    cumulative = list(itertools.accumulate(weight for _, weight in pairs))
    total, uniform, pick = cumulative[-1], rng.random, bisect.bisect_right
    return lambda: items[pick(cumulative, uniform() * total)]


def _zipf_cumulative(n: int, exponent: float = 1.0, offset: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1 / (rank + offset) ** exponent for rank in range(n)))


def _spread(rng: random.Random, total: int, weights: list[float]) -> list[int]:
    """``total`` split over len(weights) slots in proportion to the weights (rounded down, the
    remainder to slots drawn by weight)."""
    whole = sum(weights) or 1.0
    counts = [int(total * w / whole) for w in weights]
    rest = total - sum(counts)
    if rest:
        cumulative = list(itertools.accumulate(weights))
        for _ in range(rest):
            counts[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])] += 1
    return counts


_FAMILY_CUMULATIVE = _zipf_cumulative(len(FAMILIES))
_TAG_CUMULATIVE = _zipf_cumulative(len(TAGS))


def _zipf_pick(rng: random.Random, items: Sequence[str], cumulative: list[float]) -> str:
    """One of ``items``, the first ones far more often (weight 1/rank), as words are in real text."""
    return items[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def summary_text(rng: random.Random, title: str, system: str, vendors: Sequence[str] = ()) -> str:
    """An incident summary in the Markdown responders write (~450 characters): what raised it, the
    scope in a list, the vendors involved by name (what a search by vendor finds), sometimes the
    suspected malware family."""
    second, third = rng.choice(SYSTEMS), rng.choice(SYSTEMS)
    text = (
        f"**{title}.** Raised by {rng.choice(SOURCES)} (rule *R-{rng.randrange(1000):03d}*) after repeated "
        f"anomalies on `{system}`; triage points to `{second}` and `{third}`.\n\n"
        f"Scope so far:\n\n- {rng.randint(1, 40)} accounts with suspicious sign-ins\n"
        f"- {rng.randint(1, 12)} hosts with matching indicators\n- no confirmed data loss yet\n\n"
    )
    if vendors:
        text += f"Vendors involved: {', '.join(vendors)}.\n\n"
    text += (
        "Next steps are tracked as tasks; the findings hold the evidence collected. We follow the "
        "[runbook](https://wiki.example.com/runbooks/ir)."
    )
    if rng.random() < 0.33:
        text += f"\n\nSuspected tooling: {_zipf_pick(rng, FAMILIES, _FAMILY_CUMULATIVE)}."
    return text


def finding_text(rng: random.Random) -> str:
    """A finding as responders write them (~300 characters of Markdown): what ran where, and what
    search looks for: a workstation, an account, an address, often a malware family and an ATT&CK
    technique."""
    randrange = rng.randrange
    text = (
        f"Found `{COMMANDS[randrange(len(COMMANDS))]}` in the process tree on **{SYSTEMS[randrange(len(SYSTEMS))]}** "
        f"at {randrange(24):02d}:{randrange(60):02d} UTC.\n\n- hash `{rng.getrandbits(128):032x}`\n"
        f"- seen on {randrange(1, 10)} other hosts\n"
        f"- first seen on workstation `wks-{randrange(WORKSTATIONS):04d}`, "
        f"user `{FIRST_NAMES[randrange(len(FIRST_NAMES))]}.{LAST_NAMES[randrange(len(LAST_NAMES))]}`\n"
        f"- outbound to `{randrange(11, 224)}.{randrange(256)}.{randrange(256)}.{randrange(1, 255)}`"
    )
    if rng.random() < FAMILY_SHARE:
        family = _zipf_pick(rng, FAMILIES, _FAMILY_CUMULATIVE)
        text += f"\n- behaviour matches {family} ({TECHNIQUES[randrange(len(TECHNIQUES))]})"
    return text


def tag_names(rng: random.Random, category: str) -> list[str]:
    """0 to 4 tags: the category's own on 70% of incidents, then a Zipf mix of the others."""
    names = {CATEGORY_TAGS[category]} if rng.random() < CATEGORY_TAG_SHARE else set()
    for _ in range(EXTRA_TAG_COUNTS[rng.randrange(len(EXTRA_TAG_COUNTS))]):
        names.add(_zipf_pick(rng, TAGS, _TAG_CUMULATIVE))
    return sorted(names)


@dataclass(slots=True)
class _Incident:
    id: int
    created: datetime
    severity: str
    category: str
    status: str
    stamps: dict[str, datetime]
    detected: datetime
    ack: datetime | None
    contained: datetime | None
    resolved: datetime | None
    closed: datetime | None
    restricted: bool
    personal: bool
    lead: int | None
    members: tuple[int, ...]


# --- The generator ----------------------------------------------------------------------------


def generate(shape: Shape, *, log: Callable[[str], None] = print) -> Generated:
    """Write the data set of ``shape`` into Django's default database (PostgreSQL), in the
    caller's transaction. Returns row counts and timings. Deterministic for a shape; the ids
    come from the tables' sequences."""
    from django.db import connection

    from accounts.models import Role, User
    from incidents.models import (
        DeadlineClock,
        Finding,
        Incident,
        Indicator,
        Membership,
        ReferenceCounter,
        Regime,
        RestrictedReferenceCounter,
        Tag,
        Task,
        Vendor,
        VendorAccess,
        VendorInvolvement,
        format_reference,
    )
    from incidents.search import search_documents_refresh
    from intake.models import Alert
    from notifications.models import SlaClock, SlaTarget
    from timeline.models import TimelineEvent

    if connection.vendor != "postgresql":
        raise RuntimeError("benchmarks/generate.py needs PostgreSQL (COPY)")
    shape = shape.resolved()
    now = shape.anchor_time
    out = Generated()
    began = step = time.perf_counter()

    def done(name: str, rows: int | None) -> None:
        """Record the rows written and the seconds since the last step (``rows`` None: a step
        that writes nothing itself, such as drawing the incidents before their COPY)."""
        nonlocal step
        out.seconds[name] = round(time.perf_counter() - step, 2)
        if rows is not None:
            out.counts[name] = rows
        shown = f"{rows:>9,}" if rows is not None else " " * 9
        log(f"generate: {shown} {name:<22} {out.seconds[name]:6.1f} s")
        step = time.perf_counter()

    # Independent streams, so changing how one table is drawn leaves the others' rows alone.
    def stream(name: str) -> random.Random:
        return random.Random(f"{shape.seed}:{name}")

    # --- Users
    people = [("bench-admin", Role.ADMIN), ("bench-exec", Role.EXECUTIVE), ("bench-lead", Role.LEAD)]
    people += [(f"bench-lead{i:02d}", Role.LEAD) for i in range(1, 9)]
    people += [(f"bench-responder{i:02d}", Role.RESPONDER) for i in range(30)]
    first_user = reserve_ids(User, len(people))
    users = Table(
        User,
        ["id", "username", "first_name", "last_name", "email", "role", "password", "is_superuser", "is_staff"],
        now=now,
    )
    users.copy(
        (first_user + i, name, name.removeprefix("bench-").capitalize(), "Bench", f"{name}@example.com", role,
         "!bench-unusable", role == Role.ADMIN, role == Role.ADMIN)
        for i, (name, role) in enumerate(people)
    )  # fmt: skip
    out.users = {name: first_user + i for i, (name, _) in enumerate(people)}
    leads = [out.users["bench-lead"], *(out.users[f"bench-lead{i:02d}"] for i in range(1, 9))]
    responders = [out.users[f"bench-responder{i:02d}"] for i in range(30)]
    staff = leads + responders
    done("users", len(people))

    # --- Incidents
    rng = stream("incidents")
    severity_of = _chooser(rng, SEVERITY_WEIGHTS)
    category_of = _chooser(rng, CATEGORY_WEIGHTS)
    resolution_of = _chooser(rng, EARLY_RESOLUTIONS)
    span = shape.span_days * 86400.0
    created = sorted(now - timedelta(seconds=rng.uniform(60, span)) for _ in range(shape.incidents))
    first_incident = reserve_ids(Incident, shape.incidents)
    counters = {row.year: row.last for row in ReferenceCounter.objects.all()}
    restricted_counters = {row.year: row.last for row in RestrictedReferenceCounter.objects.all()}
    lognorm = rng.lognormvariate
    plans: list[_Incident] = []
    rows: list[tuple[Any, ...]] = []
    systems: list[str] = []  # each incident's system, which its summary names (written below)
    for index, opened in enumerate(created):
        pk = first_incident + index
        severity, category = severity_of(), category_of()
        medians = PHASE_MEDIANS[severity]
        detected = opened - timedelta(seconds=60 + lognorm(math.log(2 * 3600), 1.2))
        early = rng.random() < EARLY_CLOSE
        path = ("new", "triage", "closed") if early else PHASES
        steps = (medians[0], medians[5] / 2) if early else medians
        stamps = {"new": opened}
        at = opened
        stop_at = len(path) if rng.random() >= STALLED else rng.randint(1, 4)
        for phase, median in zip(path[1:stop_at], steps, strict=False):
            at += timedelta(seconds=lognorm(math.log(median), PHASE_SIGMA))
            if at > now:
                break
            stamps[phase] = at
        status = list(stamps)[-1]
        ack = stamps.get("triage")
        contained = stamps.get("contained") if status != "investigating" else None
        resolved = stamps.get("recovered") or stamps.get("closed")
        closed = stamps.get("closed")
        resolution, duplicate_of = "", None
        if status == "closed":
            resolution = resolution_of() if early else "true_positive"
            if resolution == "duplicate":
                if index == 0:
                    resolution = "false_positive"
                else:
                    duplicate_of = first_incident + rng.randrange(max(0, index - 50), index)
        restricted = rng.random() < RESTRICTED
        in_restricted_series = restricted and rng.random() < RESTRICTED_AT_OPENING
        series = restricted_counters if in_restricted_series else counters
        series[opened.year] = series.get(opened.year, 0) + 1
        reference = format_reference(opened.year, series[opened.year], restricted=in_restricted_series)
        lead = rng.choice(leads) if rng.random() < 0.92 else None
        opener = rng.choice(staff)
        members = {opener, *rng.sample(responders, rng.randint(0, 2))}
        if lead is not None:
            members.add(lead)
        personal = rng.random() < PERSONAL_DATA
        system = rng.choice(SYSTEMS)
        systems.append(system)
        title = TITLES[category].format(system=system, n=index % 997)
        plans.append(
            _Incident(pk, opened, severity, category, status, stamps, detected, ack, contained, resolved, closed,
                      restricted, personal, lead, tuple(sorted(members)))
        )  # fmt: skip
        rows.append(
            (pk, reference, title, "", severity, status, category,
             lead, opener, restricted, resolution, duplicate_of, personal,
             rng.randint(10, 500_000) if personal else None, detected, opened, ack, contained, resolved, closed,
             opened, max(stamps.values()), len(stamps))
        )  # fmt: skip
    done("incident_draws", None)  # written once their summaries can name their vendors (below)

    Table(Membership, ["incident_id", "user_id", "role", "added_at"], now=now).copy(
        (plan.id, user, "lead" if user == plan.lead else "responder", plan.created)
        for plan in plans
        for user in plan.members
    )
    done("memberships", sum(len(plan.members) for plan in plans))

    # --- Vendors, involvements, access items
    rng = stream("vendors")
    tier_of = _chooser(rng, VENDOR_TIER_WEIGHTS)
    first_vendor = reserve_ids(Vendor, shape.vendors)
    vendor_rows = []
    for n in range(shape.vendors):
        word, kind = VENDOR_WORDS[n % len(VENDOR_WORDS)], VENDOR_KINDS[(n // len(VENDOR_WORDS)) % len(VENDOR_KINDS)]
        domain = f"{word.lower().replace(' ', '')}-{kind.lower()}-{n:05d}.example"
        vendor_rows.append(
            (first_vendor + n, f"{word} {kind} {n:05d}", json.dumps([domain]), tier_of(),
             f"{kind} services", out.users["bench-admin"], now - timedelta(days=shape.span_days + 30))
        )  # fmt: skip
    Table(Vendor, ["id", "name", "domains", "tier", "service", "created_by_id", "created_at"], now=now).copy(
        vendor_rows
    )
    done("vendors", shape.vendors)

    involvements: list[tuple[int, int, str, _Incident]] = []  # (id, vendor, role, incident)
    if shape.vendors:
        vendor_weights = _zipf_cumulative(shape.vendors, 0.9, 10)
        total_weight = vendor_weights[-1]
        for plan in plans:
            if plan.category == "third_party":
                how_many = rng.choice((1, 1, 1, 2, 2, 3))
            elif rng.random() < VENDOR_SHARE_OTHER:
                how_many = 1
            else:
                continue
            chosen: list[int] = []
            for _ in range(how_many):
                vendor = first_vendor + bisect.bisect_right(vendor_weights, rng.random() * total_weight)
                if vendor not in chosen:
                    chosen.append(vendor)
            for position, vendor in enumerate(chosen):
                if plan.category == "third_party" and position == 0:
                    role = "entry_point"
                else:
                    role = "affected" if rng.random() < 0.7 else "supporting"
                involvements.append((0, vendor, role, plan))
    first_involvement = reserve_ids(VendorInvolvement, len(involvements))
    involvements = [(first_involvement + i, v, r, p) for i, (_, v, r, p) in enumerate(involvements)]
    Table(VendorInvolvement, ["id", "incident_id", "vendor_id", "role", "vendor_reference", "added_by_id", "added_at"],
          now=now).copy(
        (pk, plan.id, vendor, role, f"VR-{pk - first_involvement + 1:07d}", plan.lead,
         plan.created + timedelta(hours=1))
        for pk, vendor, role, plan in involvements
    )  # fmt: skip
    done("vendor_involvements", len(involvements))

    # The incidents themselves, now that their summaries can name the vendors involved (the
    # foreign keys to them are deferred, so the rows above may come first).
    rng = stream("summaries")
    vendor_names = {first_vendor + n: row[1] for n, row in enumerate(vendor_rows)}
    involved: dict[int, list[str]] = {}
    for _, vendor, _, plan in involvements:
        involved.setdefault(plan.id, []).append(vendor_names[vendor])
    rows = [
        (*row[:3], summary_text(rng, row[2], system, involved.get(row[0], ())), *row[4:])
        for row, system in zip(rows, systems, strict=True)
    ]
    Table(
        Incident,
        ["id", "reference", "title", "summary", "severity", "status", "category", "lead_id", "opened_by_id",
         "restricted", "resolution", "duplicate_of_id", "personal_data", "records_affected", "detected_at",
         "reported_at", "acknowledged_at", "contained_at", "resolved_at", "closed_at", "created_at", "updated_at",
         "version"],
        now=now,
    ).copy(rows)  # fmt: skip
    del rows, systems
    for model, values in ((ReferenceCounter, counters), (RestrictedReferenceCounter, restricted_counters)):
        model.objects.bulk_create(
            [model(year=year, last=last) for year, last in values.items()],
            update_conflicts=True,
            unique_fields=["year"],
            update_fields=["last"],
        )
    done("incidents", shape.incidents)

    def access_rows() -> Iterator[tuple[Any, ...]]:
        for pk, vendor, role, plan in involvements:
            items = rng.randint(1, 4) if role == "entry_point" else rng.randint(0, 2) if role == "affected" else 0
            added = min(plan.created + timedelta(hours=2), now)
            for j in range(items):
                kind = ACCESS_KINDS[rng.randrange(len(ACCESS_KINDS))]
                if plan.contained is None and plan.status != "closed":
                    state = "active" if rng.random() < 0.8 else "revoked"
                elif rng.random() < ACCESS_STILL_ACTIVE:
                    state = "active"
                else:
                    state = rng.choice(("revoked", "rotated", "verified_unused", "verified_unused"))
                changed = plan.contained or plan.closed or added
                changed = max(changed, added) if state != "active" else added
                unused_since = changed - timedelta(days=1) if state == "verified_unused" else None
                identifier = f"{kind.replace('_', '-')}-{vendor - first_vendor}-{j}"
                yield (pk, kind, rng.choice(SYSTEMS), identifier, "read/write", state, unused_since, plan.lead, added,
                       changed)  # fmt: skip

    access_count = Table(
        VendorAccess,
        ["involvement_id", "kind", "system", "identifier", "privilege", "state", "verified_unused_since",
         "added_by_id", "added_at", "state_changed_at"],
        now=now,
    ).copy(access_rows())  # fmt: skip
    done("vendor_access", access_count)

    # --- Findings, tasks and tags: what the incident pages show and search reads
    rng = stream("findings")
    finding_weights = [
        rng.lognormvariate(0, 0.5)
        * FINDING_SEVERITY_FACTOR[plan.severity]
        * (1.0 if "investigating" in plan.stamps else 0.3)  # new, in triage, or closed from triage
        for plan in plans
    ]
    per_incident = _spread(rng, round(FINDINGS_PER_INCIDENT * len(plans)), finding_weights) if plans else []

    def finding_rows() -> Iterator[tuple[Any, ...]]:
        rand = rng.random
        for plan, count in zip(plans, per_incident, strict=True):
            if count == 0:
                continue
            end = min(max(plan.stamps.values()) + timedelta(hours=6), now)
            span_s = (end - plan.created).total_seconds()
            for offset in sorted(rand() * span_s for _ in range(count)):
                yield (plan.id, plan.members[int(rand() * len(plan.members))], finding_text(rng),
                       plan.created + timedelta(seconds=offset), rand() < FINDING_INTERNAL)  # fmt: skip

    finding_count = Table(Finding, ["incident_id", "author_id", "body", "created_at", "internal"], now=now).copy(
        finding_rows()
    )
    done("findings", finding_count)

    rng = stream("tasks")
    open_status_of = _chooser(rng, OPEN_TASK_STATUSES)

    def task_rows() -> Iterator[tuple[Any, ...]]:
        uniform, rand = rng.uniform, rng.random
        for plan in plans:
            count = TASK_COUNTS[rng.randrange(len(TASK_COUNTS))]
            if count == 0:
                continue
            end = max(plan.stamps.values())  # the last phase reached: closing, for a closed incident
            span_s = (end - plan.created).total_seconds()
            creator = plan.lead or plan.members[0]
            for title in rng.sample(TASK_TITLES, count):
                created = plan.created + timedelta(seconds=uniform(0, span_s / 2))
                if plan.status == "closed":
                    status = "cancelled" if rand() < CLOSED_TASK_CANCELLED else "done"
                else:
                    status = open_status_of()
                done_at = created + (end - created) * rand() if status == "done" else None
                reason = "Not needed once the incident was closed." if status == "cancelled" else ""
                assignee = plan.members[int(rand() * len(plan.members))] if rand() < 0.85 else None
                yield (plan.id, title, assignee, (plan.created + timedelta(days=rng.randint(1, 14))).date(), status,
                       status == "done", done_at, reason, creator, created, rand() < 0.1)  # fmt: skip

    task_count = Table(
        Task,
        ["incident_id", "title", "assignee_id", "due_on", "status", "done", "done_at", "cancel_reason",
         "created_by_id", "created_at", "internal"],
        now=now,
    ).copy(task_rows())  # fmt: skip
    done("tasks", task_count)

    rng = stream("tags")
    names = sorted({*CATEGORY_TAGS.values(), *TAGS})
    tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))  # e.g. a test's, or the demo's
    missing = [name for name in names if name not in tag_ids]
    first_tag = reserve_ids(Tag, len(missing))
    Table(Tag, ["id", "name"], now=now).copy((first_tag + n, name) for n, name in enumerate(missing))
    tag_ids.update((name, first_tag + n) for n, name in enumerate(missing))
    tagging = Table(Incident.tags.through, ["incident_id", "tag_id"], now=now).copy(
        (plan.id, tag_ids[name]) for plan in plans for name in tag_names(rng, plan.category)
    )
    out.counts["tags"] = len(missing)
    done("incident_tags", tagging)

    # The stored search documents, as the services keep them for the text they write (COPY went
    # around them): what the list's search matches and ranks.
    search_documents_refresh()
    done("search_documents", None)

    # --- Timeline events
    rng = stream("events")
    weights = [rng.lognormvariate(0, 1.0) * EVENT_SEVERITY_FACTOR[plan.severity] for plan in plans]
    per_incident = _spread(rng, shape.events, weights) if plans else []
    filler_of = _chooser(rng, FILLER_KINDS)
    technique_cumulative = _zipf_cumulative(len(TECHNIQUES))
    technique_total = technique_cumulative[-1]
    vendors_of: dict[int, list[int]] = {}
    for _, vendor, _, plan in involvements:
        vendors_of.setdefault(plan.id, []).append(vendor)

    def technique() -> str:
        return TECHNIQUES[bisect.bisect_right(technique_cumulative, rng.random() * technique_total)]

    def event_rows() -> Iterator[tuple[Any, ...]]:
        uniform, randrange, rand = rng.uniform, rng.randrange, rng.random
        for plan, count in zip(plans, per_incident, strict=True):
            if count == 0:
                continue
            end = min(max(plan.stamps.values()) + timedelta(hours=6), now)
            detection = plan.detected - timedelta(seconds=uniform(0, 1800)) if rand() < 0.5 else plan.detected
            first_attack = (
                detection - timedelta(seconds=rng.lognormvariate(math.log(DWELL_MEDIAN_S), 1.2))
                if rand() < ATTACKER_KNOWN
                else None
            )
            recorder = plan.lead or plan.members[0]
            fixed: list[tuple[str, datetime]] = [("detection", detection)]
            if first_attack is not None:
                fixed.append(("attacker", first_attack))
            if plan.contained is not None:
                fixed.append(("containment", plan.contained))
            if "recovered" in plan.stamps:
                fixed.append(("recovery", plan.stamps["recovered"]))
            events = fixed[:count]
            low = first_attack or detection
            span_s = max((end - detection).total_seconds(), 60.0)
            for _ in range(count - len(events)):
                kind = filler_of()
                if (kind == "containment" and plan.contained is None) or (kind == "attacker" and not first_attack):
                    kind = "communication"  # no attacker activity where its start is unknown
                if kind == "attacker":
                    # Between the first activity and containment: the first stays the first.
                    top = plan.contained or end
                    when = low + timedelta(seconds=uniform(0, max((top - low).total_seconds(), 60.0)))
                elif kind == "containment":
                    when = plan.contained + timedelta(seconds=uniform(0, 86400))  # type: ignore[operator]
                else:
                    # After detection: the detection event stays the first of its kind.
                    when = detection + timedelta(seconds=uniform(0, span_s))
                events.append((kind, min(when, now)))
            vendors = vendors_of.get(plan.id)
            for kind, when in events:
                host = f"wks-{randrange(5000):04d}"
                tech = ""
                if (kind == "attacker" and rand() < TECHNIQUE_SHARE) or (kind == "detection" and rand() < 0.15):
                    tech = technique()
                vendor = vendors[randrange(len(vendors))] if kind == "vendor" and vendors else None
                precision = "exact"
                if rand() < 0.15:  # stored truncated to its precision, as the services store it
                    precision, when = "minute", when.replace(second=0, microsecond=0)
                yield (plan.id, min(when, now), precision, None, kind,
                       f"{EVENT_VERBS[kind]} {host}", SOURCES[randrange(len(SOURCES))], tech, rand() < 0.05,
                       vendor, recorder, min(when + timedelta(minutes=30), now), rand() < 0.1)  # fmt: skip

    event_count = Table(
        TimelineEvent,
        ["incident_id", "occurred_at", "precision", "occurred_offset", "kind", "title", "source", "technique",
         "key_event", "vendor_id", "recorded_by_id", "recorded_at", "internal"],
        now=now,
    ).copy(event_rows())  # fmt: skip
    done("timeline_events", event_count)

    # --- Indicators
    rng = stream("indicators")
    type_of = _chooser(rng, INDICATOR_TYPES)
    pools = {
        "ip": [f"{rng.randint(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
               for _ in range(20_000)],
        "domain": [f"{rng.choice(('login', 'cdn', 'update', 'secure', 'mail'))}-{n:05d}."
                   f"{rng.choice(('com', 'net', 'io', 'xyz'))}" for n in range(15_000)],
        "sha256": [hashlib.sha256(f"{shape.seed}:{n}".encode()).hexdigest() for n in range(30_000)],
        "md5": [hashlib.md5(f"{shape.seed}:{n}".encode(), usedforsecurity=False).hexdigest() for n in range(10_000)],
        "hostname": [f"wks-{n:04d}" for n in range(5000)],
    }  # fmt: skip
    pool_cumulative = {kind: _zipf_cumulative(len(values), 0.8, 5) for kind, values in pools.items()}
    per_incident = _spread(rng, shape.indicators, [rng.lognormvariate(0, 0.8) for _ in plans]) if plans else []

    def indicator_rows() -> Iterator[tuple[Any, ...]]:
        for plan, count in zip(plans, per_incident, strict=True):
            seen: set[tuple[str, str]] = set()
            for _ in range(count * 2):  # duplicates are skipped; a few tries more keep the total close
                if len(seen) == count:
                    break
                kind = type_of()
                cumulative = pool_cumulative[kind]
                value = pools[kind][bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
                if (kind, value) in seen:
                    continue
                seen.add((kind, value))
                role = "affected" if kind == "hostname" else "attacker"
                first = plan.detected - timedelta(hours=rng.randint(0, 96))
                yield (plan.id, kind, value, role, rng.choice(("amber", "amber", "green", "red", "clear")),
                       rng.choice((30, 50, 50, 70, 90)), first, min(plan.detected + timedelta(hours=6), now),
                       rng.choice(SOURCES), str(uuid.UUID(int=rng.getrandbits(128), version=4)), plan.lead,
                       plan.created, plan.created, rng.random() < 0.1)  # fmt: skip

    indicator_count = Table(
        Indicator,
        ["incident_id", "type", "value", "role", "tlp", "confidence", "first_seen", "last_seen", "source", "stix_id",
         "added_by_id", "added_at", "updated_at", "internal"],
        now=now,
    ).copy(indicator_rows())  # fmt: skip
    done("indicators", indicator_count)

    # --- SLA and deadline clocks
    targets = {t.severity: (t.acknowledge_within, t.contain_within) for t in SlaTarget.objects.all()}
    rng = stream("clocks")

    def clock(due: datetime, met: datetime | None, closed: datetime | None) -> tuple[datetime | None, ...]:
        """(met_at, breached_at) as the services and the sweep leave them by the anchor."""
        if met is not None and met <= due:
            return met, None
        if due <= min(met or now, closed or now, now):
            return met, due + timedelta(seconds=rng.uniform(0, 15))
        if closed is not None and closed < due:
            return closed, None
        return None, None

    def sla_rows() -> Iterator[tuple[Any, ...]]:
        for plan in plans:
            if plan.severity not in targets:
                continue
            ack_within, contain_within = targets[plan.severity]
            for kind, within, met in (("acknowledge", ack_within, plan.ack),
                                      ("contain", contain_within, plan.stamps.get("contained"))):  # fmt: skip
                due = plan.created + within
                yield (plan.id, kind, due, *clock(due, met, plan.closed))

    sla_count = Table(SlaClock, ["incident_id", "kind", "due_at", "met_at", "breached_at"], now=now).copy(sla_rows())
    done("sla_clocks", sla_count)

    gdpr = Regime.objects.filter(slug="gdpr-art33").first()

    def deadline_rows() -> Iterator[tuple[Any, ...]]:
        if gdpr is None:
            return
        for plan in plans:
            if not plan.personal:
                continue
            started = plan.created + timedelta(seconds=rng.uniform(0, 6 * 3600))
            if started > now:
                continue
            due = started + timedelta(hours=72)
            sent = started + timedelta(seconds=rng.lognormvariate(math.log(40 * 3600), 0.6))
            stopped = sent if sent <= now else None
            missed = due if due < (stopped or now) else None
            running = stopped is None and missed is None
            yield (plan.id, gdpr.pk, "notification", "gdpr", "awareness", started, plan.lead,
                   "Generated: the lead confirmed personal data was affected.", due, "72 hours after awareness.",
                   due if running else None, missed, stopped)  # fmt: skip

    deadline_count = Table(
        DeadlineClock,
        ["incident_id", "regime_id", "stage", "rule", "start_event", "started_at", "started_by_id", "start_reason",
         "due_at", "explanation", "next_alert_at", "missed_at", "stopped_at"],
        now=now,
    ).copy(deadline_rows())  # fmt: skip
    done("deadline_clocks", deadline_count)

    # --- Alerts
    rng = stream("alerts")
    alert_severity_of = _chooser(rng, ALERT_SEVERITY_WEIGHTS)
    promoting = [plan for plan in plans if rng.random() < ALERT_PROMOTING][: shape.alerts]
    starts = [plan.created for plan in plans]
    rule_words = ("Impossible travel", "Encoded PowerShell", "Beaconing", "Mass download", "Brute force", "New admin",
                  "Malware detected", "Suspicious OAuth consent")  # fmt: skip
    rules = [f"R-{n:03d} {word}" for n, word in enumerate(rule_words * 20)]
    fingerprints = [hashlib.sha256(f"{shape.seed}:fp:{n}".encode()).hexdigest() for n in range(50_000)]
    fp_cumulative = _zipf_cumulative(len(fingerprints), 0.7, 10)
    fp_total = fp_cumulative[-1]

    # Received times first, oldest first, so the rows lie in the table in arrival order as a live
    # intake writes them (what the planner's correlation and any range scan on received_at see).
    arrivals = [(plan.created - timedelta(seconds=rng.uniform(5, 300)), index) for index, plan in enumerate(promoting)]
    arrivals += [(now - timedelta(seconds=rng.uniform(1, span)), -1) for _ in range(shape.alerts - len(promoting))]
    arrivals.sort(key=lambda arrival: arrival[0])

    def alert_rows() -> Iterator[tuple[Any, ...]]:
        uniform, randrange, rand = rng.uniform, rng.randrange, rng.random
        for n, (received, promoted) in enumerate(arrivals):
            source, fmt = ALERT_SOURCES[n % len(ALERT_SOURCES)]
            incident: _Incident | None = None
            if promoted >= 0:
                incident = promoting[promoted]
                status, severity = "promoted", "critical" if rand() < 0.3 else "high"
            else:
                severity = alert_severity_of()
                if plans and rand() < ALERT_LINKED:
                    near = bisect.bisect_left(starts, received)
                    candidates = plans[max(0, near - 20) : near] or plans[:1]
                    incident = candidates[randrange(len(candidates))]
                    status = "linked"
                elif (now - received).total_seconds() < ALERT_NEW_WINDOW_S or rand() < 0.02:
                    status = "new"
                else:
                    status = "ignored"
            received = min(received, now)
            occurrences = 1 if rand() < 0.8 else randrange(2, 20)
            last_seen = min(received + timedelta(seconds=occurrences * 60), now)
            host, user = f"wks-{randrange(5000):04d}", f"user{randrange(20000):05d}"
            rule = rules[randrange(len(rules))]
            fingerprint = fingerprints[bisect.bisect_right(fp_cumulative, rand() * fp_total)]
            address = f"{randrange(11, 224)}.{randrange(256)}.{randrange(256)}.{randrange(1, 255)}"
            observables = f'[{{"type": "ip", "value": "{address}", "role": "attacker"}}]'
            raw = (f'{{"rule": "{rule}", "host": "{host}", "user": "{user}", "src_ip": "{address}", '
                   f'"severity": "{severity}", "id": "{source}-{n:09d}"}}')  # fmt: skip
            triaged = status in ("linked", "ignored")
            yield (source, f"{n:09d}", fmt, fingerprint, f"{rule} on {host}", rule, severity, host, user,
                   received - timedelta(seconds=uniform(0, 600)), received, last_seen, occurrences, observables, raw,
                   status, incident.id if incident else None,
                   (incident.lead if incident else None) if triaged else None,
                   min(received + timedelta(minutes=20), now) if triaged else None,
                   "Known benign: scheduled scan." if status == "ignored" else "")  # fmt: skip

    alert_count = Table(
        Alert,
        ["source", "source_ref", "format", "fingerprint", "title", "rule", "severity", "host", "user", "observed_at",
         "received_at", "last_seen_at", "occurrences", "observables", "raw", "status", "incident_id",
         "triaged_by_id", "triaged_at", "ignore_reason"],
        now=now,
    ).copy(alert_rows())  # fmt: skip
    done("alerts", alert_count)

    out.seconds["total"] = round(time.perf_counter() - began, 2)
    return out


# --- The CLI: reuse or recreate ---------------------------------------------------------------


def stored_shape() -> tuple[Shape, dict[str, Any]] | None:
    """The shape recorded in this database by the CLI, with its record; None if none."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT shape, record FROM {MARKER_TABLE} ORDER BY id DESC LIMIT 1")  # noqa: S608 - a constant
        row = cursor.fetchone()
    if row is None:
        return None
    shape, record = (json.loads(v) if isinstance(v, str) else v for v in row)
    try:
        return Shape(**shape), record
    except TypeError:  # an older generator's fields
        return None


def record_shape(shape: Shape, generated: Generated) -> None:
    from django.db import connection

    record = {"counts": generated.counts, "seconds": generated.seconds, "users": generated.users}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id serial PRIMARY KEY, shape jsonb NOT NULL,"
            " record jsonb NOT NULL, generated_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor.execute(
            f"INSERT INTO {MARKER_TABLE} (shape, record) VALUES (%s, %s)",  # noqa: S608 - a constant name
            [json.dumps(asdict(shape.resolved())), json.dumps(record)],
        )


def _reusable(shape: Shape, max_age_days: int) -> dict[str, Any] | None:
    """The stored record when the database holds ``shape`` (and its incidents are all there)."""
    from django.db import connection

    from incidents.models import Incident

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('incidents_incident')")
        if cursor.fetchone()[0] is None:
            return None
    found = stored_shape()
    if found is None:
        return None
    stored, record = found
    if not stored.same_data(shape):
        return None
    if shape.anchor and stored.resolved().anchor != shape.resolved().anchor:
        return None
    age = (datetime.now(UTC) - stored.anchor_time).days
    if age > max_age_days:
        return None
    if Incident.objects.count() < record["counts"].get("incidents", 0):
        return None
    return {**record, "shape": asdict(stored), "age_days": age}


def ensure_dataset(database_url: str, shape: Shape, *, max_age_days: int = 7, fresh: bool = False) -> dict[str, Any]:
    """Make the database at ``database_url`` hold ``shape``: reuse it when it does (``reused``
    true), else recreate, migrate, generate, record and VACUUM ANALYZE. Configures Django for
    that database (the caller must not have set it up for another). Returns the record:
    counts, seconds, users (name → id), shape."""
    import harness  # benchmarks/ is on sys.path for every caller (the scripts run from it)

    harness.configure_environment(database_url=database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        sys.exit(f"generate: needs PostgreSQL, not {connection.vendor}")
    try:
        record = None if fresh else _reusable(shape, max_age_days)
    except Exception:  # noqa: BLE001 - a database that does not exist yet, or a broken one: recreate it
        record = None
    if record is not None:
        print(
            f"generate: {connection.settings_dict['NAME']} already holds this shape (seed {shape.seed}, anchor "
            f"{record['shape']['anchor']}, {record['age_days']} days old): reusing it, skipping generation"
        )
        call_command("migrate", verbosity=0, interactive=False)  # new migrations apply to the data as they would
        return {**record, "reused": True}
    connections.close_all()
    name = harness.recreate_database(database_url, variable="--database-url")
    print(f"generate: recreated database {name}; migrating")
    began = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrate_s = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")  # a crash loses the load, which is recreated anyway
    began = time.perf_counter()
    with transaction.atomic():
        generated = generate(shape)
    load_s = time.perf_counter() - began
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # visibility maps and statistics, as autovacuum leaves a live database
    generated.seconds["migrate"] = round(migrate_s, 2)
    generated.seconds["load_and_commit"] = round(load_s, 2)
    generated.seconds["vacuum_analyze"] = round(time.perf_counter() - began, 2)
    record_shape(shape, generated)
    print(
        f"generate: loaded in {load_s:.1f} s (commit and foreign key checks included), "
        f"VACUUM ANALYZE {generated.seconds['vacuum_analyze']:.1f} s, migrate {migrate_s:.1f} s"
    )
    return {
        "counts": generated.counts,
        "seconds": generated.seconds,
        "users": generated.users,
        "shape": asdict(shape.resolved()),
        "reused": False,
    }


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Shape]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--vendors", type=int, default=5_000)
    parser.add_argument("--indicators", type=int, default=-1, help="default: twice the incidents")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--span-days", type=int, default=730)
    parser.add_argument("--anchor", default="", help="YYYY-MM-DD the data ends at (default: today, UTC)")
    parser.add_argument("--max-age-days", type=int, default=7, help="reuse data anchored at most this long ago")
    parser.add_argument("--fresh", action="store_true", help="regenerate even when the shape is there")
    parser.add_argument(
        "--database-url",
        default=bench_dataset_url(),
        help="PostgreSQL; its name must contain 'bench' (it is dropped and recreated)",
    )
    args = parser.parse_args(argv)
    shape = Shape(
        incidents=args.incidents, events=args.events, alerts=args.alerts, vendors=args.vendors, seed=args.seed,
        indicators=args.indicators, span_days=args.span_days, anchor=args.anchor,
    )  # fmt: skip
    return args, shape


def main(argv: list[str] | None = None) -> int:
    args, shape = parse_args(argv)
    record = ensure_dataset(args.database_url, shape, max_age_days=args.max_age_days, fresh=args.fresh)
    if not record["reused"]:
        rows = sum(record["counts"].values())
        print(f"generate: {rows:,} rows in {record['seconds']['total']:.1f} s of generation and COPY")
    return 0


if __name__ == "__main__":
    sys.exit(main())
