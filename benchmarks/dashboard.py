"""`make bench`, second part: the executive dashboard and the metrics API at 100,000 incidents.

1. Seeds, or reuses, the shared data set (``generate.bench_dataset_url()``: ``BENCH_DATASET_DATABASE_URL``,
   default ``breachline_bench_dataset``; PostgreSQL, the name must contain "bench") with
   ``benchmarks/generate.py`` (``generate.bench_shape()``): 100,000 incidents,
   1,000,000 timeline events, 1,000,000 alerts and 5,000 vendors, with their memberships, vendor
   involvements and access items, indicators, SLA and deadline clocks. Data of the same shape and
   seed generated within 7 days is reused (the generator says so); otherwise the database is
   recreated (about 2 minutes).
2. Counts the SQL queries of each request in-process (``django.test.Client`` and
   ``CaptureQueriesContext``, each request once untimed first), the dashboard at 7, 30 and 90
   days, and keeps each query's own time: the slowest dashboard queries go to the result with
   their ``EXPLAIN (ANALYZE, BUFFERS)``.
3. Serves the app with gunicorn (the harness's setup) with an access log of each request's time
   in the worker (gunicorn's ``%(D)s``: from reading the request to sending the last byte), and
   makes ``BENCH_DASHBOARD_WARMUP`` (3) untimed and ``BENCH_DASHBOARD_REQUESTS`` (20) timed
   rounds over the endpoints on one kept-alive connection: ``/healthz`` (the floor), the
   dashboard over 90 and 30 days as the executive ``bench-exec`` (a verified session), and
   ``GET /api/v1/metrics/`` over 90 days with the executive's ``incidents:read`` key.
4. Writes ``benchmarks/results/dashboard.json``: server-side and client-side median and p95,
   ratios to the floor, query counts, targets. Exit status 1 if a target is missed.

Targets (issue 15): the dashboard's median under 250 ms (server side) and at most 25 queries,
the same number of queries whatever the period (it does not grow with the data).

``--check``: only ask whether the dashboard and the metrics API answer 200 yet (in-process, on
the seeded database); exit 0 if both do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import generate
from harness import (
    ROOT,
    database_info,
    free_port,
    git_state,
    loadavg,
    machine_info,
    request_headers,
    round_robin,
    server_info,
    start_gunicorn,
    stop,
    verified_login,
    wait_healthy,
)

DATABASE_URL = generate.bench_dataset_url()
SHAPE = generate.bench_shape()
WARMUP = int(os.environ.get("BENCH_DASHBOARD_WARMUP", "3"))
REQUESTS = int(os.environ.get("BENCH_DASHBOARD_REQUESTS", "20"))
DEFAULT_SIZE = SHAPE.incidents == 100_000 and SHAPE.events == 1_000_000 and SHAPE.alerts == 1_000_000
RESULT = ROOT / "benchmarks" / "results" / ("dashboard.json" if DEFAULT_SIZE else f"dashboard-{SHAPE.incidents}.json")
MEDIAN_TARGET_MS = 250.0
QUERY_TARGET = 25
VIEWER = "bench-exec"  # the executive: the dashboard's audience, seeing every unrestricted incident
SLOW_QUERIES_EXPLAINED = 4


def endpoints() -> dict[str, tuple[str, str]]:
    """key → (path, auth). The metrics API's 90 days: today and the 89 before it."""
    from django.utils import timezone

    today = timezone.localdate()
    start = today - timedelta(days=89)
    return {
        "healthz": ("/healthz", "none"),
        "dashboard_90d": ("/dashboard/?period=90d", "session"),
        "dashboard_30d": ("/dashboard/?period=30d", "session"),
        "metrics_api_90d": (f"/api/v1/metrics/?from={start.isoformat()}&to={today.isoformat()}", "api_key"),
    }


# Counted, not timed: the query count must not depend on how much data the period holds.
COUNTED_ONLY = {"dashboard_7d": ("/dashboard/?period=7d", "session")}


def credentials(viewer: Any) -> dict[str, str]:
    from django.conf import settings
    from django.test import Client

    from accounts.models import APIKey
    from accounts.services import api_key_create

    APIKey.objects.filter(name="bench-dashboard").delete()  # a reused database keeps the last run's
    _, raw_key = api_key_create(name="bench-dashboard", scopes=["incidents:read"], user=viewer)
    client = Client()
    verified_login(client, viewer)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"api_key": raw_key, "cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}


def in_process(eps: dict[str, tuple[str, str]], creds: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per endpoint: its status, SQL query count, and the queries with their own time (ms)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    client.cookies.load(creds["cookie"])
    found: dict[str, dict[str, Any]] = {}
    for key, (path, auth) in eps.items():
        extra = {k: v for k, v in request_headers(auth, creds).items() if k != "Cookie"}
        client.get(path, headers=extra)  # once-a-minute writes (an API key's last use) are not counted
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, headers=extra)
        found[key] = {
            "status": response.status_code,
            "queries": len(ctx.captured_queries),
            "sql": [(q["sql"], float(q["time"]) * 1000) for q in ctx.captured_queries],
        }
    return found


def check(creds: dict[str, str]) -> int:
    eps = {key: endpoints()[key] for key in ("dashboard_90d", "metrics_api_90d")}
    found = in_process(eps, creds)
    for key, row in found.items():
        print(f"bench: {eps[key][0]} answered {row['status']} with {row['queries']} queries")
    return 0 if all(row["status"] == 200 for row in found.values()) else 1


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")  # a query the app itself just ran
        return "\n".join(row[0] for row in cursor.fetchall())


def slowest_queries(captured: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """The dashboard's slowest queries, each run again under EXPLAIN (ANALYZE, BUFFERS)."""
    ranked = sorted(enumerate(captured), key=lambda item: -item[1][1])[:SLOW_QUERIES_EXPLAINED]
    out = []
    for position, (sql, ms) in ranked:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        out.append({"position": position + 1, "ms": round(ms, 1), "sql": sql, "explain_analyze": explain(sql)})
    return out


def access_log_args(log: Path) -> str:
    """gunicorn's access log, one line per request: status, time in the worker (µs), path?query."""
    return f"--access-logfile {log} --access-logformat %(s)s|%(D)s|%(U)s?%(q)s"


def server_times(log: Path, eps: dict[str, tuple[str, str]], timed_rounds: int) -> dict[str, list[float]]:
    """Per endpoint, the worker's time (ms) of its last ``timed_rounds`` requests in the access log."""
    by_path: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        match = re.fullmatch(r"(\d{3})\|(\d+)\|(.*)", line.strip())
        if match:
            path = match[3].removesuffix("?")
            by_path.setdefault(path, []).append(int(match[2]) / 1000)
    return {key: by_path.get(path, [])[-timed_rounds:] for key, (path, _) in eps.items()}


def timed(port: int, eps: dict[str, tuple[str, str]], creds: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Round-robin over the endpoints on one kept-alive connection: client-side times and sizes."""
    samples, sizes = round_robin(port, eps, creds, warmup=WARMUP, requests=REQUESTS, timeout=120)
    return {key: {"client": values, "bytes": sizes[key]} for key, values in samples.items()}


def summary(values: list[float]) -> dict[str, float]:
    """Median and nearest-rank p95, in ms."""
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, -(-95 * len(ordered) // 100) - 1)], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the dashboard and the metrics API at 100k incidents.")
    parser.add_argument("--check", action="store_true", help="only check that the routes answer 200")
    args = parser.parse_args(argv)
    load_start = loadavg()
    os.environ.pop("CELERY_BROKER_URL", None)
    dataset = generate.ensure_dataset(DATABASE_URL, SHAPE)
    env = dict(os.environ)  # as generate.ensure_dataset configured it (harness.configure_environment)

    from django.db import connections

    from accounts.models import User

    viewer = User.objects.get(username=VIEWER)
    creds = credentials(viewer)
    if args.check:
        return check(creds)

    eps = endpoints()
    found = in_process({**eps, **COUNTED_ONLY}, creds)
    for key, row in found.items():
        if row["status"] != 200:
            print(f"bench: {key} answered {row['status']} in-process; run with --check until it answers 200")
            return 1
    slow = slowest_queries(found["dashboard_90d"]["sql"])
    db = database_info()
    connections.close_all()

    tmp = Path(tempfile.mkdtemp(prefix="breachline-bench-dashboard-"))
    log, access = tmp / "gunicorn.log", tmp / "access.log"
    env["GUNICORN_CMD_ARGS"] = access_log_args(access)
    port = free_port()
    server = start_gunicorn(env, port, log)
    try:
        wait_healthy(port, server, log)
        client_side = timed(port, eps, creds)
    finally:
        stop(server)
    server_side = server_times(access, eps, REQUESTS)
    load_end = loadavg()

    requests: dict[str, dict[str, Any]] = {}
    for key in eps:
        if len(server_side[key]) != REQUESTS:
            sys.exit(f"bench: the access log has {len(server_side[key])} timed requests for {key}, not {REQUESTS}")
        server_figures, client_figures = summary(server_side[key]), summary(client_side[key]["client"])
        requests[key] = {
            "n": REQUESTS,
            "median_ms": server_figures["median_ms"],
            "p95_ms": server_figures["p95_ms"],
            "client_median_ms": client_figures["median_ms"],
            "client_p95_ms": client_figures["p95_ms"],
            "queries": found[key]["queries"],
            "bytes": client_side[key]["bytes"],
        }
    floor = requests["healthz"]["median_ms"]
    for row in requests.values():
        row["ratio_to_healthz"] = round(row["median_ms"] / floor, 1)

    dashboard_counts = {key: found[key]["queries"] for key in ("dashboard_7d", "dashboard_30d", "dashboard_90d")}
    targets = [
        *(
            {"name": f"{key} median < {MEDIAN_TARGET_MS:.0f} ms", "comparison": "<", "limit": MEDIAN_TARGET_MS,
             "measured": requests[key]["median_ms"], "pass": requests[key]["median_ms"] < MEDIAN_TARGET_MS}
            for key in ("dashboard_90d", "dashboard_30d")
        ),
        {"name": f"dashboard queries <= {QUERY_TARGET}", "comparison": "<=", "limit": QUERY_TARGET,
         "measured": max(dashboard_counts.values()), "pass": max(dashboard_counts.values()) <= QUERY_TARGET},
        {"name": "dashboard queries the same for 7, 30 and 90 days", "comparison": "==", "limit": None,
         "measured": dashboard_counts, "pass": len(set(dashboard_counts.values())) == 1},
    ]  # fmt: skip
    result = {
        "benchmark": "dashboard",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {**machine_info(), "loadavg_1m_start": load_start, "loadavg_1m_end": load_end},
        "database": db,
        "server": {**server_info(), "timing": "gunicorn access log %(D)s: the worker's time per request"},
        "viewer": {"username": VIEWER, "role": "executive"},
        "dataset": {
            "shape": dataset["shape"],
            "counts": dataset["counts"],
            "reused": dataset["reused"],
            "generate_seconds": dataset["seconds"],
        },
        "queries": {key: row["queries"] for key, row in found.items()},
        "requests": requests,
        "slowest_dashboard_queries": slow,
        "targets": targets,
        "all_targets_met": all(t["pass"] for t in targets),
    }
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n")

    print(f"\n{'request':<18} {'median ms':>10} {'p95 ms':>8} {'client med':>11} {'x floor':>8} {'queries':>8}")
    for key, row in requests.items():
        print(
            f"{key:<18} {row['median_ms']:>10} {row['p95_ms']:>8} {row['client_median_ms']:>11}"
            f" {row['ratio_to_healthz']:>8} {row['queries']:>8}"
        )
    print(f"dashboard queries by period: {dashboard_counts}")
    for query in slow:
        print(f"slow query #{query['position']}: {query['ms']} ms: {query['sql'][:160]}…")
    for target in targets:
        print(f"{'ok  ' if target['pass'] else 'MISS'} {target['name']}: {target['measured']}")
    print(f"bench: wrote {RESULT.relative_to(ROOT)}")
    return 0 if result["all_targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
