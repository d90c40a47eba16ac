"""`make bench`, fifth part: the attack timeline at 10,000 events and a 100,000-row import.

Every figure is a ratio to a baseline measured in the same run:
- the timeline page, its key-events view, the API's first page and the incident page on an
  incident with 10,000 events, against the same requests on an incident with 100 (one full page
  of the timeline: windowing means the 10,000th event costs nothing), and against ``/healthz``;
- a 100,000-row Timesketch CSV checked and imported through the import services (what the
  Celery tasks run), against parsing the same file with ``csv`` and ``COPY``-ing its rows into
  the same table with psycopg (no validation, no links, no activity: the floor of the database);
- the CSV export of the 10,000 events, against ``COPY (SELECT …) TO STDOUT`` of the same columns.

Writes ``benchmarks/results/timeline.json``. Needs PostgreSQL; wipes the database named by
``BENCH_TIMELINE_DATABASE_URL`` (its name must contain "bench").
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import (
    ROOT,
    configure_environment,
    database_info,
    free_port,
    git_state,
    loadavg,
    machine_info,
    recreate_database,
    request_headers,
    round_robin,
    server_info,
    start_gunicorn,
    stop,
    verified_login,
    wait_healthy,
)

DATABASE_URL = os.environ.get(
    "BENCH_TIMELINE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/breachline_bench_timeline"
)
EVENTS = int(os.environ.get("BENCH_TIMELINE_EVENTS", "10000"))
PAGE = 100  # events on one page of the timeline (timeline/views.py)
IMPORT_ROWS = int(os.environ.get("BENCH_TIMELINE_IMPORT_ROWS", "100000"))
WARMUP, REQUESTS = 10, 100
RESULT = ROOT / "benchmarks" / "results" / "timeline.json"
# Targets: a page at 10,000 events within 1.5x of the same page at 100; the import of 100,000 rows
# (check + import) within 60 s, what the "large imports run as a Celery task" must bear.
PAGE_RATIO_TARGET = 1.5
IMPORT_SECONDS_TARGET = 60.0
KINDS = ["attacker", "detection", "containment", "communication", "vendor", "eradication", "recovery"]
TECHNIQUES = ["T1078", "T1078.004", "T1199", "T1566.001", "T1530", "T1059.001", "T1021.001", ""]


def seed(now: datetime) -> dict[str, Any]:
    """A lead, an incident with ``EVENTS`` events (added through the batch service, 1,000 at a
    time, as a SOAR tool would) and one with ``PAGE`` (one page of the timeline). Returns
    references and the seeding rate."""
    from accounts.models import Role, User
    from incidents import services as case_services
    from timeline import services

    lead = User.objects.create_user(username="bench-lead", role=Role.LEAD)  # signs in by force_login
    rng = random.Random(10)

    def items(count: int) -> list[dict[str, Any]]:
        start = now - timedelta(days=30)
        return [
            {
                "occurred_at": start + timedelta(seconds=rng.randrange(0, 29 * 86400)),
                "precision": rng.choice(["exact", "exact", "minute", "hour"]),
                "kind": rng.choice(KINDS),
                "title": f"Event {n}: sign-in from 203.0.113.{n % 250} on wks-{n % 5000:04d}",
                "source": rng.choice(["EDR", "VPN gateway", "Entra ID sign-in log", "Proxy"]),
                "technique": rng.choice(TECHNIQUES),
                "key_event": rng.random() < 0.02,
            }
            for n in range(count)
        ]

    big = case_services.incident_open(title="Bench: 10,000 timeline events", opened_by=lead, lead=lead)
    small = case_services.incident_open(title=f"Bench: {PAGE} timeline events", opened_by=lead, lead=lead)
    began = time.perf_counter()
    for start in range(0, EVENTS, 1000):
        results = services.events_add_many(incident=big, actor=lead, items=items(min(1000, EVENTS - start)))
        assert all(result.status == "created" for result in results), [r.errors for r in results if r.errors][:3]
    seeded_s = time.perf_counter() - began
    services.events_add_many(incident=small, actor=lead, items=items(PAGE))
    return {"lead": lead, "big": big.reference, "small": small.reference, "batch_events_per_s": EVENTS / seeded_s}


def endpoints(big: str, small: str) -> dict[str, tuple[str, str]]:
    """key → (path, auth): the pages with the lead's session, the API with their key."""
    return {
        "healthz": ("/healthz", "none"),
        "page_100": (f"/incidents/{small}/timeline/", "session"),
        "page_10k": (f"/incidents/{big}/timeline/", "session"),
        "key_events_100": (f"/incidents/{small}/timeline/key/", "session"),
        "key_events_10k": (f"/incidents/{big}/timeline/key/", "session"),
        "api_100": (f"/api/v1/incidents/{small}/timeline/?page_size=50", "api_key"),
        "api_10k": (f"/api/v1/incidents/{big}/timeline/?page_size=50", "api_key"),
        "detail_100": (f"/incidents/{small}/", "session"),
        "detail_10k": (f"/incidents/{big}/", "session"),
    }


def credentials(lead: Any) -> dict[str, str]:
    from django.conf import settings
    from django.test import Client

    from accounts.services import api_key_create

    _, raw_key = api_key_create(name="bench", scopes=["incidents:read", "incidents:write"], user=lead)
    client = Client()
    verified_login(client, lead)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"api_key": raw_key, "cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}


def count_queries(eps: dict[str, tuple[str, str]], creds: dict[str, str]) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    client.cookies.load(creds["cookie"])
    counts = {}
    for key, (path, auth) in eps.items():
        extra = {k: v for k, v in request_headers(auth, creds).items() if k != "Cookie"}
        client.get(path, headers=extra)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, headers=extra)
        assert response.status_code == 200, (path, response.status_code)
        counts[key] = len(ctx.captured_queries)
    return counts


def timed(port: int, eps: dict[str, tuple[str, str]], creds: dict[str, str]) -> dict[str, dict[str, float]]:
    """Round-robin over the endpoints on one kept-alive connection: medians and p95 in ms."""
    samples, sizes = round_robin(port, eps, creds, warmup=WARMUP, requests=REQUESTS, timeout=60)
    return {
        key: {
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(sorted(values)[int(0.95 * len(values)) - 1], 2),
            "bytes": sizes[key],
        }
        for key, values in samples.items()
    }


def write_import_file(path: Path, rows: int) -> None:
    """Timesketch's columns: datetime, timestamp_desc, message, plus two extra (attributes)."""
    rng = random.Random(42)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["datetime", "timestamp_desc", "message", "hostname", "source_short"])
        for n in range(rows):
            moment = start + timedelta(seconds=rng.randrange(0, 20 * 86400), microseconds=rng.randrange(1_000_000))
            writer.writerow(
                [
                    moment.isoformat(),
                    rng.choice(["Event Recorded", "Last Written", "Content Modification Time"]),
                    f"4624 logon of svc-{n % 300} from 10.{n % 200}.{n % 250}.{n % 240}",
                    f"wks-{n % 5000:04d}",
                    rng.choice(["EVT", "LOG", "FILE"]),
                ]
            )


def measure_import(lead: Any, incident_ref: str, path: Path) -> dict[str, float]:
    """The import services as the Celery tasks run them (eagerly here: no broker in this process)."""
    from django.core.files import File

    from incidents.models import Incident
    from timeline import imports
    from timeline.models import ImportStatus, TimelineEvent

    incident = Incident.objects.get(reference=incident_ref)
    with path.open("rb") as handle:
        began = time.perf_counter()
        started = imports.import_start(
            incident=incident, actor=lead, upload=File(handle, name=path.name), default_kind="attacker"
        )
        checked_s = time.perf_counter() - began  # the check task runs on commit, inline
    started.refresh_from_db()
    assert started.status == ImportStatus.READY, (started.status, started.failure, started.errors[:3])
    began = time.perf_counter()
    imports.import_confirm(timeline_import=started, actor=lead)
    applied_s = time.perf_counter() - began
    started.refresh_from_db()
    assert started.status == ImportStatus.DONE and started.rows_imported == IMPORT_ROWS, started.failure
    assert TimelineEvent.objects.filter(imported_from=started).count() == IMPORT_ROWS
    return {"check_s": checked_s, "import_s": applied_s}


def baseline_copy(incident_id: int, lead_id: int, path: Path) -> float:
    """Parse the same file with ``csv`` and COPY its rows into the events table, rolled back."""
    import psycopg
    from django.db import connection

    began = time.perf_counter()
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        raw: psycopg.Cursor = cursor.cursor
        with raw.connection.transaction(force_rollback=True):
            columns = (
                "incident_id, occurred_at, precision, occurred_offset, kind, title, description, source, technique,"
                " key_event, attributes, recorded_by_id, recorded_at, updated_at, version, internal"
            )
            with (
                raw.copy(f"COPY timeline_timelineevent ({columns}) FROM STDIN") as copy,
                path.open(newline="", encoding="utf-8") as handle,
            ):
                for row in csv.DictReader(handle):
                    moment = datetime.fromisoformat(row["datetime"])
                    attributes = json.dumps({k: row[k] for k in ("timestamp_desc", "hostname", "source_short")})
                    copy.write_row(
                        (incident_id, moment, "exact", 0, "attacker", row["message"], "", "", "",
                         False, attributes, lead_id, now, now, 1, False)
                    )  # fmt: skip
    return time.perf_counter() - began


def baseline_export(incident_id: int) -> float:
    from django.db import connection

    began = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        query = (
            "COPY (SELECT occurred_at, precision, kind, title, description, source, technique, key_event,"
            " internal, attributes FROM timeline_timelineevent WHERE incident_id = %s"
            " ORDER BY occurred_at, id) TO STDOUT WITH (FORMAT csv, HEADER)"
        )
        sink = io.BytesIO()
        with raw.copy(query, (incident_id,)) as copy:
            for data in copy:
                sink.write(data)
    return time.perf_counter() - began


def timed_export(port: int, path: str, creds: dict[str, str], runs: int = 5) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(runs):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start = time.perf_counter()
        conn.request("GET", path, headers=request_headers("session", creds))
        response = conn.getresponse()
        body = response.read()
        best = min(best, time.perf_counter() - start)
        size = len(body)
        conn.close()
        if response.status != 200:
            sys.exit(f"bench: GET {path} answered {response.status}")
    return best, size


def main() -> int:
    load_start = loadavg()
    os.environ.pop("CELERY_BROKER_URL", None)  # the import tasks run inline, measured in this process
    tmp = Path(tempfile.mkdtemp(prefix="breachline-bench-timeline-"))
    os.environ["EVIDENCE_ROOT"] = str(tmp / "evidence")  # where an uploaded import file waits
    env = configure_environment(database_url=DATABASE_URL)
    name = recreate_database(DATABASE_URL, variable="BENCH_TIMELINE_DATABASE_URL")
    print(f"bench: recreated database {name}; migrating")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from incidents.models import Incident
    from timeline.models import TimelineEvent

    call_command("migrate", verbosity=0, interactive=False)
    now = datetime.now(UTC)
    seeded = seed(now)
    print(f"bench: {EVENTS:,} events through the batch service at {seeded['batch_events_per_s']:,.0f}/s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE timeline_timelineevent")
    creds = credentials(seeded["lead"])
    eps = endpoints(seeded["big"], seeded["small"])
    queries = count_queries(eps, creds)
    db = database_info()
    connections.close_all()

    port = free_port()
    log = tmp / "gunicorn.log"
    server = start_gunicorn(env, port, log)
    try:
        wait_healthy(port, server, log)
        times = timed(port, eps, creds)
        export_path = f"/incidents/{seeded['big']}/timeline/export.csv"
        export_s, export_bytes = timed_export(port, export_path, creds)
    finally:
        stop(server)
    big_id = Incident.objects.get(reference=seeded["big"]).pk
    export_floor_s = min(baseline_export(big_id) for _ in range(5))

    data = tmp / "timesketch.csv"
    write_import_file(data, IMPORT_ROWS)
    target = Incident.objects.create(title="Bench: import target", opened_by=seeded["lead"], lead=seeded["lead"])
    imported = measure_import(seeded["lead"], target.reference, data)
    floor_s = baseline_copy(target.pk, seeded["lead"].pk, data)
    load_end = loadavg()

    def ratio(key: str, base: str) -> float:
        return round(times[key]["median_ms"] / times[base]["median_ms"], 2)

    import_total = imported["check_s"] + imported["import_s"]
    result = {
        "benchmark": "timeline",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {**machine_info(), "loadavg_1m_start": load_start, "loadavg_1m_end": load_end},
        "database": db,
        "server": server_info(),
        "events": EVENTS,
        # The key-events view lists every key event (2% of events here): its ratio grows with them.
        "key_events": {
            ref: TimelineEvent.objects.filter(incident__reference=ref, key_event=True).count()
            for ref in (seeded["big"], seeded["small"])
        },
        "import_rows": IMPORT_ROWS,
        "queries": queries,
        "requests": times,
        "ratios": {
            "page_10k_vs_100": ratio("page_10k", "page_100"),
            "key_events_10k_vs_100": ratio("key_events_10k", "key_events_100"),
            "api_10k_vs_100": ratio("api_10k", "api_100"),
            "detail_10k_vs_100": ratio("detail_10k", "detail_100"),
            "page_10k_vs_healthz": ratio("page_10k", "healthz"),
            "import_vs_copy": round(import_total / floor_s, 1),
            "export_vs_copy": round(export_s / export_floor_s, 1),
        },
        "batch_service_events_per_s": round(seeded["batch_events_per_s"]),
        "import": {
            "check_s": round(imported["check_s"], 2),
            "import_s": round(imported["import_s"], 2),
            "rows_per_s": round(IMPORT_ROWS / import_total),
            "copy_baseline_s": round(floor_s, 2),
        },
        "export": {"csv_s": round(export_s, 3), "bytes": export_bytes, "copy_baseline_s": round(export_floor_s, 3)},
    }
    checks = {
        "page query count independent of events": queries["page_10k"] == queries["page_100"],
        "api query count independent of events": queries["api_10k"] == queries["api_100"],
        f"page at {EVENTS:,} within {PAGE_RATIO_TARGET}x of {PAGE}": result["ratios"]["page_10k_vs_100"]
        <= PAGE_RATIO_TARGET,
        f"import of {IMPORT_ROWS:,} rows within {IMPORT_SECONDS_TARGET:.0f} s": import_total <= IMPORT_SECONDS_TARGET,
    }
    result["targets"] = checks
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'request':<16} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'bytes':>9}")
    for key, row in times.items():
        print(f"{key:<16} {row['median_ms']:>10} {row['p95_ms']:>8} {queries[key]:>8} {row['bytes']:>9}")
    print(f"\nratios: {json.dumps(result['ratios'])}")
    print(f"import: {json.dumps(result['import'])}; export: {json.dumps(result['export'])}")
    for name, met in checks.items():
        print(f"{'ok  ' if met else 'MISS'} {name}")
    print(f"bench: wrote {RESULT.relative_to(ROOT)}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
