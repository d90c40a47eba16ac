"""`make bench`: a bounded HTTP load run on a production-shaped stack, and memory (issue 16).

In one run (about 3 minutes with the data set present):

1. **Data**: ``generate.ensure_dataset`` on ``BENCH_DATASET_DATABASE_URL`` (100,000 incidents,
   1,000,000 events and alerts; reused when present), then a copy of it,
   ``breachline_bench_load`` (``harness.clone_database``): the SIEMs' alerts change the data.
2. **On the copy**, through the app's services: API keys (``api_key_create``) for 15 API readers
   (the 9 leads' ``incidents:read``) and 5 SIEMs (``alerts:write``, each its own integration
   principal), a verified session (``harness.verified_login``) for each of the 30 responders, and
   the references each may open (their own incidents first, then the newest they can see). An
   escalation policy for critical incidents pages a webhook (a receiver in this process) and the
   bench lead, so a critical alert's promotion ends in a delivery on the worker, as in production.
3. **The stack**: a private ``redis-server`` on a free port (broker, and the cache that counts
   rate limits), one ``celery -A config worker`` (one pool process per core), ``celery beat``
   (the escalation sweep: with a broker, nothing else fires a page), gunicorn
   (``harness.start_gunicorn``: 2 x cores + 1 gthread workers).
4. **An untimed warm-up (30 s), then twice the same run**: ``locust --headless -u 50 -r 25
   --run-time 60s`` with ``benchmarks/locustfile.py`` (30 responders, 15 API readers, 5 SIEMs).
   After each, once the broker's queue is empty, the RSS of every gunicorn worker and every Celery
   process from /proc, the CPU each part used (locust's own included: it shares the 2 cores), and
   each class's time in the worker from gunicorn's access log (client time minus it is queueing).
5. **Writes** ``benchmarks/results/load.json`` and prints a table; exit status 1 on a missed
   target. Every process it started is stopped in all cases.

Targets (issue 16), at 50 concurrent users: incident list and detail (page and API) p95 < 150 ms;
no failed request in either run (a 207 with any alert in error counts as one); every gunicorn
worker and Celery process under 250 MB RSS after each run, and not growing: RSS after run 2 at
most 5% above RSS after run 1, per process.

Knobs for a quick check: ``BENCH_LOAD_RUN_TIME`` (60s), ``BENCH_LOAD_WARMUP_TIME`` (30s),
``BENCH_LOAD_USERS`` (50; the mix is 30/15/5 at 50), ``BENCH_LOAD_DATABASE`` (the copy's name).
Anything but 60 s and 50 users writes ``results/load-quick.json``.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import json
import logging
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import generate
from escalation import Process, Receiver, start_redis
from harness import (
    ROOT,
    child_pids,
    clone_database,
    database_info,
    free_port,
    git_state,
    loadavg,
    machine_info,
    proc_status_kib,
    server_info,
    start_gunicorn,
    stop,
    verified_login,
    wait_healthy,
)

CLONE = os.environ.get("BENCH_LOAD_DATABASE", "breachline_bench_load")
RUN_TIME = os.environ.get("BENCH_LOAD_RUN_TIME", "60s")
USERS = int(os.environ.get("BENCH_LOAD_USERS", "50"))
SPAWN_RATE = 25
RUNS = 2
# An untimed run first, the same mix: caches, templates and connections warm, so that run 1 → run 2
# compares a warm server with itself and growth means growth, not warming up.
WARMUP_TIME = os.environ.get("BENCH_LOAD_WARMUP_TIME", "30s")
ACCESS_FORMAT = "%(s)s|%(D)s|%(m)s|%(U)s|%(q)s"
RESULT = ROOT / "benchmarks" / "results" / ("load.json" if (RUN_TIME, USERS) == ("60s", 50) else "load-quick.json")
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"
VENV_BIN = ROOT / ".venv" / "bin"
CLASSES = ("list_page", "detail_page", "search_page", "list_api", "detail_api", "alerts_post")
P95_TARGET_MS = 150.0
P95_TARGETED = ("list_page", "detail_page", "list_api", "detail_api")
RSS_LIMIT_MB = 250.0
RSS_GROWTH_LIMIT = 0.05  # run 2's RSS at most 5% above run 1's, per process
REFERENCES_PER_USER = 60
SETTLE_TIMEOUT_S = 30.0
CLONE_WAIT_S = 180.0


# --- Pure helpers (tests/benchmarks/test_load.py) ----------------------------------------------
def user_mix(users: int) -> dict[str, int]:
    """Responders, API readers and SIEMs for ``users`` in all: 30/15/5 at 50, the same shares
    otherwise, at least one of each."""
    siems = max(1, round(users * 0.1))
    api_readers = max(1, round(users * 0.3))
    return {"responders": max(1, users - siems - api_readers), "api_readers": api_readers, "siems": siems}


def read_stats(path: Path) -> dict[str, dict[str, Any]]:
    """Locust's ``<prefix>_stats.csv`` as class → figures (ms, requests per second); the row
    "Aggregated" under ``all``. Locust rounds percentiles above 100 ms to two significant figures."""
    out: dict[str, dict[str, Any]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = "all" if row["Name"] == "Aggregated" else row["Name"]

            def number(column: str, row: dict[str, str] = row) -> float | None:
                value = row.get(column, "")
                return None if value in ("", "N/A") else float(value)

            out[key] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": round(number("Requests/s") or 0.0, 2),
                "p50_ms": number("50%"),
                "p95_ms": number("95%"),
                "p99_ms": number("99%"),
                "avg_ms": round(number("Average Response Time") or 0.0, 1),
                "max_ms": round(number("Max Response Time") or 0.0, 1),
            }
    return out


def request_class(method: str, path: str, query: str) -> str:
    """The locustfile's class of a request, from gunicorn's access log (method, path, query)."""
    if method == "POST" and path == "/api/v1/alerts/":
        return "alerts_post"
    if path == "/api/v1/incidents/":
        return "list_api"
    if path.startswith("/api/v1/incidents/") and path.count("/") == 5:
        return "detail_api"
    if path == "/incidents/":
        return "search_page" if any(part.startswith("q=") for part in query.split("&")) else "list_page"
    if path.startswith("/incidents/") and path.count("/") == 3:
        return "detail_page"
    return "other"


def server_side(log: Path, offset: int) -> tuple[dict[str, dict[str, Any]], int]:
    """Per class, the worker's own time per request (gunicorn's ``%(D)s``: from reading the
    request to writing the last byte; no wait for a free thread) from the access log past
    ``offset``: p50/p95/p99 (nearest rank) in ms, and statuses. Returns them and the new offset."""
    times: dict[str, list[float]] = {}
    statuses: dict[str, dict[str, int]] = {}
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
        end = handle.tell()
    for line in text.splitlines():
        parts = line.strip().split("|", 4)
        if len(parts) != 5 or not parts[1].isdigit():
            continue
        key = request_class(parts[2], parts[3], parts[4])
        times.setdefault(key, []).append(int(parts[1]) / 1000)
        statuses.setdefault(key, {}).setdefault(parts[0], 0)
        statuses[key][parts[0]] += 1
    out = {}
    for key, values in times.items():
        ordered = sorted(values)
        out[key] = {
            "requests": len(ordered),
            **{f"p{q}_ms": round(nearest_rank(ordered, q / 100), 1) for q in (50, 95, 99)},
            "statuses": statuses[key],
        }
    return out, end


def nearest_rank(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted ``ordered``."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def growth_ok(before_kib: int, after_kib: int, limit: float = RSS_GROWTH_LIMIT) -> bool:
    """Not growing: ``after`` at most ``limit`` (a share) above ``before``."""
    return after_kib <= before_kib * (1 + limit)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far, from /proc/<pid>/stat (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def neighbours(ours: set[int] | frozenset[int] = frozenset()) -> list[str]:
    """Other benchmark processes on the machine (a data set loading, another bench's script or
    gunicorn master): noisy neighbours on these 2 cores. ``ours``: pids to leave out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours or int(entry.name) in (os.getpid(), os.getppid()):
            continue
        with contextlib.suppress(OSError):
            args = (entry / "cmdline").read_bytes().split(b"\0")
            text = " ".join(arg.decode(errors="replace") for arg in args if arg)
            bench = ("benchmarks/" in text and ".py" in text) or ("gunicorn" in text and "--bind" in text)
            bench = bench or "pytest" in text
            if bench and "locust" not in text:
                found.append(f"{entry.name} {text[:120]}")
    # A gunicorn master and its workers share a command line: one line per command is enough.
    return sorted({line.split(" ", 1)[1]: line for line in found}.values())


def wait_for_source_idle(source_url: str, timeout: float = CLONE_WAIT_S) -> int:
    """Wait until no one else is connected to the data set's database: copying it ends every
    other session on it (``harness.clone_database``), and another bench may be reading it. Returns
    how many sessions were still there when the wait gave up (0: none)."""
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(source_url)
    deadline = time.monotonic() + timeout
    with psycopg.connect(
        host=cfg["HOST"] or None, port=cfg["PORT"] or None, user=cfg["USER"] or None,
        password=cfg["PASSWORD"] or None, dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        while True:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [cfg["NAME"]]
            ).fetchone()[0]
            if others == 0 or time.monotonic() > deadline:
                return others
            time.sleep(1)


# --- Setup on the copy --------------------------------------------------------------------------
def prepare(receiver_url: str, mix: dict[str, int]) -> dict[str, Any]:
    """Keys, sessions, references and the escalation policy, written through the app's code."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import Role, User
    from accounts.services import api_key_create
    from incidents.models import Membership
    from incidents.selectors import incidents_visible_to
    from notifications.models import Channel, ChannelKind, EscalationPolicy, EscalationStep

    def references(user: User) -> list[str]:
        own = list(
            Membership.objects.filter(user=user)
            .order_by("-incident__created_at")
            .values_list("incident__reference", flat=True)[: REFERENCES_PER_USER // 2]
        )
        newest = incidents_visible_to(user).order_by("-created_at").values_list("reference", flat=True)
        return list(dict.fromkeys([*own, *newest[:REFERENCES_PER_USER]]))[:REFERENCES_PER_USER]

    responders = list(User.objects.filter(role=Role.RESPONDER, username__startswith="bench-").order_by("username"))
    leads = list(User.objects.filter(role=Role.LEAD, username__startswith="bench-").order_by("username"))
    out: dict[str, list[dict[str, Any]]] = {"responders": [], "api_readers": [], "siems": []}
    for user in responders[: mix["responders"]]:
        client = Client()
        verified_login(client, user)
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        out["responders"].append({"username": user.username, "cookie": cookie, "references": references(user)})
    for n in range(mix["api_readers"]):
        lead = leads[n % len(leads)]
        _, raw = api_key_create(name=f"bench-load-reader-{n:02d}", scopes=["incidents:read"], user=lead)
        out["api_readers"].append({"username": lead.username, "api_key": raw, "references": references(lead)})
    for n in range(mix["siems"]):
        name = f"bench-load-siem-{n}"
        _, raw = api_key_create(name=name, scopes=["alerts:write"])
        out["siems"].append({"name": name, "api_key": raw})

    channel = Channel.objects.create(name="bench-load-soar", kind=ChannelKind.WEBHOOK, target=receiver_url)
    policy = EscalationPolicy.objects.create(name="bench-load critical paging", severities=["critical"])
    step = EscalationStep.objects.create(policy=policy, position=1, include_lead=False)
    step.channels.set([channel])
    step.users.set([User.objects.get(username="bench-lead")])
    return out


# --- Measuring ----------------------------------------------------------------------------------
def processes(gunicorn_pid: int, worker_pid: int, beat_pid: int) -> dict[str, list[int]]:
    return {
        "gunicorn_workers": child_pids(gunicorn_pid),
        "celery": [worker_pid, *child_pids(worker_pid), beat_pid],
    }


def memory(pids: dict[str, list[int]], names: dict[int, str]) -> dict[str, dict[str, dict[str, float]]]:
    """RSS and peak RSS (MB) of each process, by group."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group, members in pids.items():
        out[group] = {}
        for pid in members:
            status = proc_status_kib(pid)
            out[group][f"{names.get(pid, 'pid')} {pid}"] = {
                "rss_mb": round(status["VmRSS"] / 1024, 1),
                "peak_rss_mb": round(status["VmHWM"] / 1024, 1),
            }
    return out


def settle(broker_port: int) -> float:
    """Wait until the broker's default queue is empty (deliveries done); returns seconds waited."""
    import redis

    client = redis.Redis(port=broker_port)
    began = time.monotonic()
    while time.monotonic() - began < SETTLE_TIMEOUT_S:
        if client.llen("celery") == 0:
            break
        time.sleep(0.2)
    time.sleep(2)  # a task taken from the queue is still running
    return round(time.monotonic() - began, 1)


def run_locust(
    run: int, port: int, env: dict[str, str], tmp: Path, mix: dict[str, int], *, run_time: str = RUN_TIME
) -> dict[str, Any]:
    """One headless locust run; its per-class stats and the CPU locust itself used."""
    prefix = tmp / f"run{run}"
    command = [
        str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "-u", str(USERS), "-r", str(SPAWN_RATE),
        "--run-time", run_time, "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary",
        "--stop-timeout", "5", "--loglevel", "WARNING",
    ]  # fmt: skip
    run_env = {
        **env,
        "BREACHLINE_LOAD_RUN": str(run),
        "BENCH_LOAD_RESPONDERS": str(mix["responders"]),
        "BENCH_LOAD_API_READERS": str(mix["api_readers"]),
        "BENCH_LOAD_SIEMS": str(mix["siems"]),
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    with (tmp / f"locust{run}.log").open("wb") as log:
        locust = subprocess.run(command, env=run_env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats_file = prefix.with_name(prefix.name + "_stats.csv")
    if not stats_file.exists():
        sys.exit(f"bench: locust wrote no statistics:\n{(tmp / f'locust{run}.log').read_text()[-3000:]}")
    failures_file = prefix.with_name(prefix.name + "_failures.csv")
    failures = []
    if failures_file.exists():
        with failures_file.open(newline="", encoding="utf-8") as handle:
            failures = [
                {
                    "name": row["Name"],
                    "method": row["Method"],
                    "error": row["Error"][:300],
                    "count": int(row["Occurrences"]),
                }
                for row in csv.DictReader(handle)
            ]
    return {
        "stats": read_stats(stats_file),
        "failures": failures,
        "locust_exit_status": locust.returncode,
        "wall_s": round(wall, 1),
        "locust_cpu_s": round(cpu, 1),
    }


def backends() -> list[int]:
    """The PostgreSQL backends connected to the copy (on this machine: their /proc is readable)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [CLONE])
        return [row[0] for row in cursor.fetchall()]


def wait_for_pages(since: datetime, receiver: Receiver) -> float:
    """Wait (up to two sweeps) until every escalation the run started has paged the receiver:
    beat's sweep, not the request, sends a page. Returns the seconds waited."""
    from django.conf import settings

    from notifications.models import Escalation

    began = time.monotonic()
    while time.monotonic() - began < 2 * settings.ESCALATION_SWEEP_SECONDS + 5:
        if len(receiver.arrivals) >= Escalation.objects.filter(started_at__gte=since).count():
            break
        time.sleep(0.5)
    return round(time.monotonic() - began, 1)


def outcome(sources: list[str], since: datetime, receiver: Receiver) -> dict[str, Any]:
    """What the alerts did, read from the copy: stored, promoted, linked; pages delivered."""
    from django.db.models import Count

    from intake.models import Alert
    from notifications.models import Notification

    alerts = Alert.objects.filter(source__in=sources)
    statuses = dict(alerts.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    notes = Notification.objects.filter(created_at__gte=since)
    return {
        "alerts_stored": alerts.count(),
        "alert_statuses": statuses,
        "incidents_opened_from_alerts": alerts.filter(status="promoted").count(),
        "notifications": dict(notes.values_list("transport").annotate(n=Count("id")).values_list("transport", "n")),
        "notifications_by_status": dict(notes.values_list("status").annotate(n=Count("id")).values_list("status", "n")),
        "webhooks_received": len(receiver.arrivals),
    }


# --- Main ---------------------------------------------------------------------------------------
def main() -> int:
    load_start, neighbours_start = loadavg(), neighbours()
    if neighbours_start:
        print("bench: warning: other benchmarks are running; figures will suffer:\n  " + "\n  ".join(neighbours_start))
    mix = user_mix(USERS)
    source_url = generate.bench_dataset_url()
    dataset = generate.ensure_dataset(source_url, generate.bench_shape())
    logging.getLogger("axes").setLevel(logging.WARNING)  # a line per session signed in below

    from django.db import connections

    connections.close_all()
    if wait_for_source_idle(source_url):
        print(f"bench: others are still connected to the data set after {CLONE_WAIT_S:.0f} s; copying anyway ends them")
    clone_began = time.perf_counter()
    clone_url = clone_database(source_url, CLONE)
    clone_s = time.perf_counter() - clone_began
    # Django was set up for the source (ensure_dataset): from here on, the copy, here and in
    # every process started below.
    connections["default"].settings_dict["NAME"] = CLONE
    os.environ["DATABASE_URL"] = clone_url
    print(f"bench: copied the data set to {CLONE} in {clone_s:.1f} s")

    tmp = Path(tempfile.mkdtemp(prefix="breachline-bench-load-"))
    receiver = Receiver()
    started: list[Process] = []
    server = None
    try:
        redis_server, redis_port, redis_version = start_redis(tmp)
        started.append(redis_server)
        os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        os.environ["CACHE_URL"] = f"redis://127.0.0.1:{redis_port}/1"
        os.environ["CELERY_BEAT_SCHEDULE_FILENAME"] = str(tmp / "celerybeat-schedule")
        env = dict(os.environ)  # prepare() below enqueues nothing: this process keeps its eager settings

        identities = prepare(receiver.url, mix)
        users_file = tmp / "users.json"
        users_file.write_text(json.dumps(identities))
        env["BREACHLINE_LOAD_USERS"] = str(users_file)
        db = database_info()
        since = datetime.now(UTC) - timedelta(seconds=1)
        connections.close_all()

        concurrency = os.cpu_count() or 1
        worker = Process(
            [str(VENV_BIN / "celery"), "-A", "config", "worker", "--loglevel=info", f"--concurrency={concurrency}"],
            env,
            tmp / "worker.log",
        )
        started.append(worker)
        beat = Process([str(VENV_BIN / "celery"), "-A", "config", "beat", "--loglevel=info"], env, tmp / "beat.log")
        started.append(beat)
        port = free_port()
        log, access = tmp / "gunicorn.log", tmp / "access.log"
        server = start_gunicorn(
            {**env, "GUNICORN_CMD_ARGS": f"--access-logfile {access} --access-logformat {ACCESS_FORMAT}"}, port, log
        )
        wait_healthy(port, server, log)
        worker.wait_for(r" ready\.", 60)
        beat.wait_for("beat: Starting", 60)
        pids = processes(server.pid, worker.popen.pid, beat.popen.pid)
        names = dict.fromkeys(pids["gunicorn_workers"], "worker")
        names |= {worker.popen.pid: "celery-main", beat.popen.pid: "celery-beat"}
        names |= dict.fromkeys(child_pids(worker.popen.pid), "celery-pool")
        print(
            f"bench: serving on :{port} ({len(pids['gunicorn_workers'])} gunicorn workers), a worker of "
            f"{concurrency} and beat on redis :{redis_port}; users {mix}"
        )

        mem = {"started": memory(pids, names)}
        print(f"bench: warming up: locust -u {USERS} --run-time {WARMUP_TIME} (untimed)")
        warm = run_locust(0, port, env, tmp, mix, run_time=WARMUP_TIME)["stats"].get("all", {})
        warmup = {"run_time": WARMUP_TIME, "requests": warm.get("requests", 0), "failures": warm.get("failures", 0)}
        warmup["settle_s"] = settle(redis_port)
        mem["after_warmup"] = memory(pids, names)
        _, offset = server_side(access, 0)
        runs, cpu = [], {}
        for run in range(1, RUNS + 1):
            server_cpu = {pid: cpu_seconds(pid) for group in pids.values() for pid in group}
            database_cpu = {pid: cpu_seconds(pid) for pid in backends()}
            print(f"bench: run {run} of {RUNS}: locust -u {USERS} -r {SPAWN_RATE} --run-time {RUN_TIME}")
            result = run_locust(run, port, env, tmp, mix)
            for group, members in pids.items():
                cpu.setdefault(group, []).append(round(sum(cpu_seconds(pid) - server_cpu[pid] for pid in members), 1))
            # Backends that ended during the run are missed: a floor for PostgreSQL's share.
            cpu.setdefault("postgres_backends", []).append(
                round(sum(cpu_seconds(pid) - database_cpu.get(pid, 0.0) for pid in backends()), 1)
            )
            result["settle_s"] = settle(redis_port)
            result["server_side"], offset = server_side(access, offset)
            result["loadavg_1m_after"] = loadavg()
            ours = {server.pid, worker.popen.pid, beat.popen.pid, redis_server.popen.pid}
            result["other_benchmarks_after"] = neighbours(ours | {p for g in pids.values() for p in g})
            mem[f"after_run{run}"] = memory(pids, names)
            if processes(server.pid, worker.popen.pid, beat.popen.pid) != pids:
                sys.exit("bench: a gunicorn worker or Celery process was replaced during the run")
            runs.append(result)
            all_stats = result["stats"].get("all", {})
            print(
                f"bench: run {run}: {all_stats.get('requests', 0):,} requests, {all_stats.get('rps', 0)}/s, "
                f"{all_stats.get('failures', 0)} failures; locust used {result['locust_cpu_s']} s of CPU"
            )

        import django.db

        django.db.connections.close_all()
        sources = [siem["name"] for siem in identities["siems"]]
        pages_wait_s = wait_for_pages(since, receiver)
        done = {**outcome(sources, since, receiver), "pages_wait_s": pages_wait_s}
        worker_log = worker.output()
        task_errors = worker_log.count("ERROR/") + worker_log.count("Traceback")
        load_end = loadavg()
    finally:
        if server is not None:
            stop(server)
        for process in reversed(started):
            process.stop()
        receiver.stop()
        connections.close_all()
        shutil.rmtree(tmp, ignore_errors=True)

    result = report(
        runs=runs, mem=mem, cpu=cpu, done=done, warmup=warmup, task_errors=task_errors, mix=mix, dataset=dataset, db=db,
        clone_s=clone_s, redis_version=redis_version, concurrency=concurrency, load=(load_start, load_end),
        neighbours=neighbours_start,
    )  # fmt: skip
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_table(result)
    print(f"bench: wrote {RESULT.relative_to(ROOT)}")
    return 0 if result["all_targets_met"] else 1


def report(
    *,
    runs: list[dict[str, Any]],
    mem: dict[str, Any],
    cpu: dict[str, list[float]],
    done: dict[str, Any],
    warmup: dict[str, Any],
    task_errors: int,
    mix: dict[str, int],
    dataset: dict[str, Any],
    db: dict[str, str],
    clone_s: float,
    redis_version: str,
    concurrency: int,
    load: tuple[float, float],
    neighbours: list[str],
) -> dict[str, Any]:
    """The result file's content, targets included."""
    targets: list[dict[str, Any]] = []
    for number, run in enumerate(runs, 1):
        for key in P95_TARGETED:
            p95 = run["stats"].get(key, {}).get("p95_ms")
            targets.append({"name": f"run {number}: {key} p95 (ms)", "comparison": "<", "limit": P95_TARGET_MS,
                            "measured": p95, "pass": p95 is not None and p95 < P95_TARGET_MS})  # fmt: skip
    failures = warmup["failures"] + sum(run["stats"].get("all", {}).get("failures", 0) for run in runs)
    targets.append({"name": "failed requests, warm-up and both runs (alerts included)", "comparison": "==", "limit": 0,
                    "measured": failures, "pass": failures == 0})  # fmt: skip
    targets.append({"name": "Celery task errors in the worker's log", "comparison": "==", "limit": 0,
                    "measured": task_errors, "pass": task_errors == 0})  # fmt: skip
    for group in ("gunicorn_workers", "celery"):
        largest = max(row["rss_mb"] for key in mem if key != "started" for row in mem[key][group].values())
        targets.append({"name": f"{group}: largest RSS after a run (MB)", "comparison": "<", "limit": RSS_LIMIT_MB,
                        "measured": largest, "pass": largest < RSS_LIMIT_MB})  # fmt: skip
        growth = {
            name: round(mem["after_run2"][group][name]["rss_mb"] / row["rss_mb"] - 1, 3)
            for name, row in mem["after_run1"][group].items()
        }
        steady = all(
            growth_ok(round(row["rss_mb"] * 1024), round(mem["after_run2"][group][name]["rss_mb"] * 1024))
            for name, row in mem["after_run1"][group].items()
        )
        targets.append({"name": f"{group}: RSS growth run 1 → run 2, worst process (share)", "comparison": "<=",
                        "limit": RSS_GROWTH_LIMIT, "measured": max(growth.values()), "by_process": growth,
                        "pass": steady})  # fmt: skip
    return {
        "benchmark": "load",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {
            **machine_info(),
            "loadavg_1m_start": load[0],
            "loadavg_1m_end": load[1],
            "other_benchmarks_at_start": neighbours,
        },
        "database": {**db, "copy_of": dataset["shape"], "copy_seconds": round(clone_s, 1)},
        "dataset": {"shape": dataset["shape"], "counts": dataset["counts"], "reused": dataset["reused"]},
        "server": {**server_info(), "CACHE_URL": "the private redis (db 1)"},
        "celery": {
            "worker_concurrency": concurrency,
            "pool": "prefork",
            "beat": True,
            "broker": f"redis {redis_version}",
        },
        "load": {
            "tool": f"locust {importlib.metadata.version('locust')}, headless, one process",
            "users": mix,
            "spawn_rate_per_s": SPAWN_RATE,
            "run_time": RUN_TIME,
            "think_time_s": {"responders": [1, 3], "api_readers": [0.5, 2], "siems": [1, 2]},
            "siem_batch": "20 alerts, ~10% repeats, ~1.6% high or critical (promote; critical pages)",
        },
        "warmup": warmup,
        "runs": [
            {**run, "server_cpu_s": {group: values[number] for group, values in cpu.items()}}
            for number, run in enumerate(runs)
        ],
        "memory_mb": mem,
        "alerts_outcome": {**done, "celery_task_errors": task_errors},
        "targets": targets,
        "all_targets_met": all(target["pass"] for target in targets),
    }


def print_table(result: dict[str, Any]) -> None:
    runs = result["runs"]
    print("\nclient (locust) ms, then the worker's own time (access log) ms")
    print(
        f"{'class':<12} {'run':>3} {'requests':>9} {'rps':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'fail':>5}"
        f" {'srv p50':>8} {'srv p95':>8}"
    )
    for key in (*CLASSES, "all"):
        for number, run in enumerate(runs, 1):
            row, server = run["stats"].get(key), run["server_side"].get(key, {})
            if row:
                print(
                    f"{key:<12} {number:>3} {row['requests']:>9} {row['rps']:>7} {row['p50_ms']!s:>6} "
                    f"{row['p95_ms']!s:>6} {row['p99_ms']!s:>6} {row['failures']:>5}"
                    f" {server.get('p50_ms', '')!s:>8} {server.get('p95_ms', '')!s:>8}"
                )
    for number, run in enumerate(runs, 1):
        print(f"run {number}: locust CPU {run['locust_cpu_s']} s, server CPU {run['server_cpu_s']} s, "
              f"wall {run['wall_s']} s, loadavg after {run['loadavg_1m_after']}")  # fmt: skip
    for stage, groups in result["memory_mb"].items():
        for group, rows in groups.items():
            print(f"RSS {stage:<10} {group:<17} " + ", ".join(f"{row['rss_mb']}" for row in rows.values()))
    print(f"alerts: {result['alerts_outcome']}")
    for target in result["targets"]:
        verdict = "ok  " if target["pass"] else "MISS"
        print(f"{verdict} {target['name']}: {target['measured']} (target {target['comparison']} {target['limit']})")


if __name__ == "__main__":
    sys.exit(main())
