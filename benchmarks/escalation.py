"""Escalation: 1,000 incidents falling due at once, from due to webhook received (issue 12).

In one run, on a fresh PostgreSQL database (``BENCH_ESCALATION_DATABASE_URL``, its name must
contain "bench") and a private ``redis-server`` on a free port (no persistence, stopped at the end):

1. **Seeds** a lead, a webhook channel pointing at a local receiver, a person without an e-mail
   address (paged in the app: a row written, nothing sent) and a policy for critical incidents
   whose step 1 (no delay) pages both; then opens ``BENCH_ESCALATION_INCIDENTS`` (1,000) critical
   incidents through ``incident_open``. Their escalations start due at once; they are moved to
   2100 until the measurement, so nothing fires early.
2. **Starts one worker** (``celery -A config worker``, default concurrency: one pool process per
   core) **and beat** with ``ESCALATION_SWEEP_SECONDS=15`` (every other setting at its default:
   a 10 s HTTP timeout, a 60 s lease), as ``make worker`` and ``make beat`` do.
3. **Waits for a sweep to finish**, then sets every escalation's ``next_at`` to the same instant
   T (one UPDATE, ahead of time, as a step's delay sets it): 1 s after beat's next sweep, whose
   look finds nothing due yet: without more, the one after, a whole interval later, would be the
   first to see them (the worst phase). That beat sweep books a sweep at T (``tasks.sweep``'s
   wake-up), which is what this measures. ``BENCH_ESCALATION_PHASE=best``: 0.5 s before a sweep.
4. **Measures**, at a ThreadingHTTPServer on 127.0.0.1 that records the arrival time of each
   Idempotency-Key: the time from T to each webhook received (p50, p95 nearest rank, max); when the
   sweep that found them started after T (``Notification.created_at`` is the sweep's now) and
   how long it ran (the worker's log); deliveries per second from the first arrival to the last.
5. **The floor**, same run, same receiver: the 1,000 bodies that were delivered POSTed again
   straight from this process with ``requests.post`` (a new connection each, as the transport
   does), one at a time and from as many threads as the worker has pool processes. The ratio is
   the worker's delivery time (first to last arrival) over the floor's with the same parallelism.
6. **Checks** that every notification was delivered once: 1,000 distinct keys, 1,000 requests.

Target (issue 12): p95 from due to received < 20 s with a 15 s sweep. Writes
``benchmarks/results/escalation.json``, prints a summary, exits 1 if the target is missed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import ROOT, configure_environment, database_info, free_port, git_state, loadavg, machine_info
from harness import recreate_database as recreate

DATABASE_URL = os.environ.get(
    "BENCH_ESCALATION_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/breachline_bench_escalation"
)
INCIDENTS = int(os.environ.get("BENCH_ESCALATION_INCIDENTS", "1000"))
SWEEP_SECONDS = int(os.environ.get("BENCH_ESCALATION_SWEEP_SECONDS", "15"))
TIMEOUT = float(os.environ.get("BENCH_ESCALATION_TIMEOUT", "180"))  # give up waiting for deliveries
# "worst": due right after a sweep finished (the next is a whole interval away); "best": due
# half a second before the next sweep is sent. The target is for the default, the worst.
PHASE = os.environ.get("BENCH_ESCALATION_PHASE", "worst")
# Empty: the worker's default (one pool process per core), what `make worker` runs.
CONCURRENCY = os.environ.get("BENCH_ESCALATION_CONCURRENCY", "")
TARGET_P95_S = 20.0
# Anything but the defaults writes its own file, so results/escalation.json keeps their history.
_VARIANT = "".join(
    (
        f"-{INCIDENTS}" if INCIDENTS != 1000 else "",
        f"-{PHASE}" if PHASE != "worst" else "",
        f"-sweep{SWEEP_SECONDS}" if SWEEP_SECONDS != 15 else "",
        f"-c{CONCURRENCY}" if CONCURRENCY else "",
    )
)
RESULT = ROOT / "benchmarks" / "results" / f"escalation{_VARIANT}.json"
CELERY = ROOT / ".venv" / "bin" / "celery"
PHASES = {
    "worst": "worst: due 1 s after a sweep looked (beat's next is a whole interval away; its wake-up is booked at T)",
    "best": "best: due 0.5 s before beat sends a sweep",
}
SECRET = "bench-escalation-secret"  # noqa: S105 - the bench channel's signing secret, not a credential


# --- Receiver ------------------------------------------------------------------------------------
class Receiver:
    """Records ``time.time()`` on arrival per Idempotency-Key (and every body, for the floor);
    answers 200 with an empty body, as a SOAR's webhook endpoint would."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, float] = {}
        self.bodies: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                key = self.headers.get("Idempotency-Key", "")
                with receiver.lock:
                    receiver.requests += 1
                    receiver.arrivals.setdefault(key, at)
                    receiver.bodies.setdefault(key, (body, dict(self.headers.items())))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.arrivals, self.bodies, self.requests = {}, {}, 0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Processes -----------------------------------------------------------------------------------
class Process:
    """A subprocess in its own process group (a worker's pool children included), its output in
    ``log``; ``stop`` ends the whole group."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float, *, after: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log past offset ``after``; exits on timeout or death."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.compile(pattern).search(self.output(), after)
            if match:
                return match
            if self.popen.poll() is not None:
                sys.exit(f"bench: {self.log.name} exited with {self.popen.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        sys.exit(f"bench: {pattern!r} not in {self.log.name} within {timeout:.0f} s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


def start_redis(tmp: Path) -> tuple[Process, int, str]:
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("bench: needs redis-server on PATH (apt-get install redis-server)")
    port = free_port()
    server = Process(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        dict(os.environ),
        tmp / "redis.log",
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            version = client.info("server")["redis_version"]
            return server, port, version
        except redis.RedisError:
            if time.monotonic() > deadline:
                server.stop()
                sys.exit(f"bench: redis-server did not answer:\n{server.output()[-2000:]}")
            time.sleep(0.05)


# --- Steps ---------------------------------------------------------------------------------------
def seed(receiver_url: str) -> dict[str, Any]:
    """The lead, the channel, the in-app recipient, the policy, and ``INCIDENTS`` critical
    incidents opened through the service; their escalations parked in 2100."""
    from accounts.models import Role, User
    from incidents.services import incident_open
    from notifications.models import Channel, ChannelKind, Escalation, EscalationPolicy, EscalationStep

    def person(username: str, role: str, email: str) -> User:
        user = User(username=username, first_name=username.title(), last_name="Bench", email=email, role=role)
        user.set_unusable_password()
        user.save()
        return user

    lead = person("bench-lead", Role.LEAD, "bench-lead@example.com")
    on_call = person("bench-oncall", Role.RESPONDER, "")  # in the app only: no SMTP in this bench
    channel = Channel.objects.create(name="bench-soar", kind=ChannelKind.WEBHOOK, target=receiver_url, secret=SECRET)
    policy = EscalationPolicy.objects.create(name="Critical paging", severities=["critical"])
    step = EscalationStep.objects.create(policy=policy, position=1, include_lead=False)
    step.channels.set([channel])
    step.users.set([on_call])
    began = time.perf_counter()
    for n in range(INCIDENTS):
        incident_open(opened_by=lead, title=f"Bench incident {n:04d}: ransomware on host {n}", severity="critical")
    opened_s = time.perf_counter() - began
    parked = Escalation.objects.update(next_at=datetime(2100, 1, 1, tzinfo=UTC))
    return {"incidents": INCIDENTS, "escalations": parked, "incident_open_seconds": round(opened_s, 2)}


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def floor(bodies: list[tuple[bytes, dict[str, str]]], url: str, threads: int) -> dict[str, Any]:
    """The same bodies and headers POSTed straight from Python with ``requests.post``."""
    import requests

    def post(item: tuple[bytes, dict[str, str]]) -> int:
        body, headers = item
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
        return requests.post(url, data=body, headers=keep, timeout=10, allow_redirects=False).status_code

    began = time.perf_counter()
    statuses = [post(item) for item in bodies]
    sequential_s = time.perf_counter() - began
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        statuses += list(pool.map(post, bodies))
    parallel_s = time.perf_counter() - began
    if set(statuses) != {200}:
        sys.exit(f"bench: the floor's POSTs answered {sorted(set(statuses))}")
    return {
        "requests": len(bodies),
        "one_thread": {"seconds": round(sequential_s, 3), "per_s": round(len(bodies) / sequential_s)},
        f"{threads}_threads": {"seconds": round(parallel_s, 3), "per_s": round(len(bodies) / parallel_s)},
        "threads": threads,
        "client": f"requests {requests.__version__}, requests.post (a new connection per request)",
    }


def main() -> int:
    load_start = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="breachline-bench-escalation-"))
    redis_server, redis_port, redis_version = start_redis(tmp)
    broker_url = f"redis://127.0.0.1:{redis_port}/0"
    # Not eager: with a broker, opening an incident leaves paging to beat's sweep (no in-process kick).
    os.environ["CELERY_BROKER_URL"] = broker_url
    os.environ["ESCALATION_SWEEP_SECONDS"] = str(SWEEP_SECONDS)
    os.environ["CELERY_BEAT_SCHEDULE_FILENAME"] = str(tmp / "celerybeat-schedule")
    env = configure_environment(database_url=DATABASE_URL)
    receiver = Receiver()
    processes: list[Process] = [redis_server]
    try:
        name = recreate(DATABASE_URL, variable="BENCH_ESCALATION_DATABASE_URL")
        print(f"bench: recreated database {name}; migrating")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections
        from django.utils import timezone

        from notifications.models import Escalation, Notification

        call_command("migrate", verbosity=0, interactive=False)
        db = database_info()
        print(f"bench: opening {INCIDENTS:,} critical incidents")
        seeded = seed(receiver.url)
        connections.close_all()

        print(f"bench: starting a worker and beat (sweep every {SWEEP_SECONDS} s)")
        command = [str(CELERY), "-A", "config", "worker", "--loglevel=info"]
        if CONCURRENCY:
            command.append(f"--concurrency={CONCURRENCY}")
        worker = Process(command, env, tmp / "worker.log")
        processes.append(worker)
        worker.wait_for(r" ready\.", 60)
        concurrency = int(worker.wait_for(r"\.> concurrency: (\d+)", 5).group(1))
        beat = Process([str(CELERY), "-A", "config", "beat", "--loglevel=info"], env, tmp / "beat.log")
        processes.append(beat)
        beat.wait_for("beat: Starting", 60)
        # A sweep sent and finished: from here on beat's schedule is known and the worker idle.
        done = r"Task notifications\.sweep\[[^\]]+\] succeeded in ([0-9.e-]+)s"
        beat.wait_for("Sending due task escalation-sweep", SWEEP_SECONDS * 2 + 30)
        sent_at = time.monotonic()  # within the 50 ms the log is polled at
        mark = worker.wait_for(done, 30).end()
        # Beat sends every SWEEP_SECONDS after the send just seen. T is set now, ahead of time, as
        # a policy's step delay sets it: worst, 1 s after the next sweep has looked; best, 0.5 s
        # before it looks.
        offset = SWEEP_SECONDS + (1.0 if PHASE == "worst" else -0.5)
        due = timezone.now() + timedelta(seconds=sent_at + offset - time.monotonic())
        Escalation.objects.update(next_at=due)
        connections.close_all()
        due_ts = due.timestamp()
        print(f"bench: {INCIDENTS:,} escalations due at {due.isoformat(timespec='milliseconds')}; waiting")

        deadline = time.monotonic() + TIMEOUT
        while len(receiver.arrivals) < INCIDENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(receiver.arrivals) < INCIDENTS:
            sys.exit(f"bench: {len(receiver.arrivals)} of {INCIDENTS} webhooks within {TIMEOUT:.0f} s")
        # The sweeps that fired steps (one, unless it ran past the next interval).
        worker.wait_for(done + r": \{'steps': [1-9]", 30, after=mark)
        working = [
            (float(m.group(1)), int(m.group(2)))
            for m in re.finditer(done + r": \{'steps': (\d+)", worker.output()[mark:])
            if int(m.group(2))
        ]
        time.sleep(2)  # a repeat would arrive now
        latencies = [at - due_ts for at in receiver.arrivals.values()]
        arrivals = sorted(receiver.arrivals.values())
        rows = Notification.objects.filter(reason="escalation")
        statuses = {
            status: rows.filter(status=status).count() for status in ("queued", "sending", "delivered", "failed")
        }
        sweep_started = min(rows.values_list("created_at", flat=True)).timestamp() - due_ts
        keys = {str(key) for key in rows.filter(transport="webhook").values_list("key", flat=True)}
        delivered_webhooks = rows.filter(transport="webhook", status="delivered").count()
        requests_seen = receiver.requests
        received_keys = set(receiver.arrivals)
        bodies = list(receiver.bodies.values())
        connections.close_all()
        beat.stop()
        worker.stop()

        print(f"bench: the floor: {len(bodies):,} POSTs straight from Python")
        receiver.reset()
        floor_result = floor(bodies, receiver.url, concurrency)
        load_end = loadavg()
    finally:
        for process in reversed(processes):
            process.stop()
        receiver.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    delivery_s = arrivals[-1] - arrivals[0]
    parallel_floor_s = floor_result[f"{concurrency}_threads"]["seconds"]
    p95 = nearest_rank(latencies, 0.95)
    targets = [
        {"name": "due to webhook received, p95 (s)", "comparison": "<", "limit": TARGET_P95_S,
         "measured": round(p95, 2)},
        {"name": "webhooks received once each", "comparison": "==", "limit": INCIDENTS, "measured": requests_seen},
        {"name": "webhook rows delivered", "comparison": "==", "limit": INCIDENTS, "measured": delivered_webhooks},
        {"name": "keys received = keys written", "comparison": "==", "limit": True, "measured": keys == received_keys},
    ]  # fmt: skip
    for target in targets:
        target["pass"] = (
            target["measured"] < target["limit"]
            if target["comparison"] == "<"
            else target["measured"] == target["limit"]
        )
    result = {
        "benchmark": "escalation",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {**machine_info(), "loadavg_1m_start": load_start, "loadavg_1m_end": load_end},
        "database": db,
        "broker": {"redis": redis_version, "private_server": True},
        "worker": {
            "command": "celery -A config worker --loglevel=info (as make worker)",
            "pool": "prefork",
            "concurrency": concurrency,
        },
        "settings": {
            "ESCALATION_SWEEP_SECONDS": settings.ESCALATION_SWEEP_SECONDS,
            "ESCALATION_SWEEP_BATCH": settings.ESCALATION_SWEEP_BATCH,
            "NOTIFICATION_HTTP_TIMEOUT_SECONDS": settings.NOTIFICATION_HTTP_TIMEOUT_SECONDS,
            "NOTIFICATION_LEASE_SECONDS": settings.NOTIFICATION_LEASE_SECONDS,
        },
        "seeded": {**seeded, "recipients_per_step": "1 webhook channel + 1 person in the app (no e-mail)"},
        "phase": PHASES[PHASE],
        "due_at": due.isoformat(timespec="milliseconds"),
        "due_to_received_s": {
            "p50": round(nearest_rank(latencies, 0.50), 2),
            "p95": round(p95, 2),
            "max": round(max(latencies), 2),
            "min": round(min(latencies), 2),
        },
        "sweep": {
            "started_after_due_s": round(sweep_started, 2),
            "seconds": round(sum(seconds for seconds, _ in working), 3),
            "runs": [{"seconds": round(seconds, 3), "steps": steps} for seconds, steps in working],
            "notifications_written": sum(statuses.values()),
        },
        "delivery": {
            "first_received_after_due_s": round(arrivals[0] - due_ts, 2),
            "last_received_after_due_s": round(arrivals[-1] - due_ts, 2),
            "first_to_last_s": round(delivery_s, 2),
            "deliveries_per_s": round(INCIDENTS / delivery_s) if delivery_s else None,
            "statuses": statuses,
        },
        "floor": floor_result,
        "ratios": {
            "delivery_vs_floor_same_threads": round(delivery_s / parallel_floor_s, 2),
            "delivery_vs_floor_one_thread": round(delivery_s / floor_result["one_thread"]["seconds"], 2),
        },
        "targets": targets,
        "all_targets_met": all(target["pass"] for target in targets),
    }
    RESULT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print_summary(result)
    print(f"bench: wrote {RESULT.relative_to(ROOT)}")
    return 0 if result["all_targets_met"] else 1


def print_summary(result: dict[str, Any]) -> None:
    lat, sweep, delivery = result["due_to_received_s"], result["sweep"], result["delivery"]
    print(f"\n{result['seeded']['incidents']:,} escalations due at once, sweep every "
          f"{result['settings']['ESCALATION_SWEEP_SECONDS']} s, one worker ({result['worker']['concurrency']} "
          f"processes), {result['phase']}")  # fmt: skip
    print(f"  due → webhook received: p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s")
    print(f"  sweep started {sweep['started_after_due_s']} s after due and ran {sweep['seconds']} s"
          f" ({sweep['notifications_written']:,} rows)")  # fmt: skip
    print(f"  deliveries: first {delivery['first_received_after_due_s']} s, last "
          f"{delivery['last_received_after_due_s']} s after due; {delivery['deliveries_per_s']}/s")  # fmt: skip
    floor_result = result["floor"]
    threads = floor_result["threads"]
    print(f"  floor, requests.post from Python: one thread {floor_result['one_thread']['per_s']}/s,"
          f" {threads} threads {floor_result[f'{threads}_threads']['per_s']}/s;"
          f" worker/floor time ratio {result['ratios']['delivery_vs_floor_same_threads']}")  # fmt: skip
    for target in result["targets"]:
        verdict = "ok  " if target["pass"] else "MISS"
        print(f"{verdict} {target['name']}: {target['measured']} (target {target['comparison']} {target['limit']})")


if __name__ == "__main__":
    sys.exit(main())
