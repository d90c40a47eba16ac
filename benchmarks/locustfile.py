"""The users of the load run (``benchmarks/load.py``): responders in the browser, API readers, SIEMs.

Run by locust (``locust -f benchmarks/locustfile.py --headless …``), never imported by the app:
locust patches the standard library with gevent, so nothing here touches Django. What the users
need (session cookies, API keys, the references each may open) comes from the JSON file named by
``BREACHLINE_LOAD_USERS``, which ``load.py`` writes from the cloned database before the run.

Each request is named by its endpoint class (``list_page``, ``detail_page``, ``search_page``,
``list_api``, ``detail_api``, ``alerts_post``), so locust's statistics group by class, not by
URL. Think times are a person's: responders 1-3 s between pages, API readers 0.5-2 s, a SIEM a
batch of ~20 alerts every 1-2 s.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from locust import HttpUser, between, task

RESPONDERS = int(os.environ.get("BENCH_LOAD_RESPONDERS", "30"))
API_READERS = int(os.environ.get("BENCH_LOAD_API_READERS", "15"))
SIEMS = int(os.environ.get("BENCH_LOAD_SIEMS", "5"))
RUN = os.environ.get("BREACHLINE_LOAD_RUN", "1")  # part of every source_ref: runs never collide
BATCH = 20
REPEAT_SHARE = 0.10  # a SIEM re-sending an alert it sent before (same payload, same source_ref)
# Of new alerts: high opens an incident (INTAKE_PROMOTE_SEVERITY, default high), critical opens
# one and pages (the run's escalation policy). About one incident every 2-3 s over five SIEMs.
SEVERITIES = (("low", 45.0), ("medium", 40.0), ("info", 13.4), ("high", 1.2), ("critical", 0.4))
LIST_ORDERINGS = ("", "", "", "-severity", "-updated", "status", "-age")
API_FILTERS = ("", "", "&severity=critical&severity=high", "&status=investigating", "&ordering=-severity",
               "&mine=true", "&category=phishing", "&include_closed=true")  # fmt: skip
SEARCHES = ("northwind", "ransomware", "vpn-gw-01", "phishing wave", "contoso", "payroll", "okta", "exfiltration")


def _load_users() -> dict[str, Any]:
    path = os.environ.get("BREACHLINE_LOAD_USERS")
    if not path:
        return {"responders": [], "api_readers": [], "siems": []}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


USERS = _load_users()
# Each user instance takes the next identity of its kind, round robin.
_NEXT = {kind: itertools.count() for kind in ("responders", "api_readers", "siems")}


def _identity(kind: str) -> dict[str, Any]:
    pool = USERS[kind]
    if not pool:
        raise RuntimeError(f"no {kind} in BREACHLINE_LOAD_USERS")
    return pool[next(_NEXT[kind]) % len(pool)]


def _weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([value for value, _ in choices], weights=[weight for _, weight in choices])[0]


class Responder(HttpUser):
    """A responder in the browser: the incident list (a few pages, sort orders), searches, and
    the detail pages of incidents they can see. Signed in with a verified session (a second
    factor passed), sent as a fixed Cookie header."""

    fixed_count = RESPONDERS
    wait_time = between(1, 3)

    def on_start(self) -> None:
        me = _identity("responders")
        self.references: list[str] = me["references"]
        self.client.headers.update({"Cookie": me["cookie"], "Accept": "text/html"})

    @task(5)
    def list_page(self) -> None:
        ordering = random.choice(LIST_ORDERINGS)
        page = random.choice((1, 1, 1, 2, 2, 3, 4, 5))
        query = f"?page={page}" + (f"&ordering={ordering}" if ordering else "")
        self.client.get(f"/incidents/{query}", name="list_page")

    @task(1)
    def search_page(self) -> None:
        self.client.get("/incidents/", params={"q": random.choice(SEARCHES)}, name="search_page")

    @task(5)
    def detail_page(self) -> None:
        self.client.get(f"/incidents/{random.choice(self.references)}/", name="detail_page")


class APIReader(HttpUser):
    """A script or dashboard reading the API with a lead's key: lists of 50 with some filters,
    and the detail of incidents it can see."""

    fixed_count = API_READERS
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        me = _identity("api_readers")
        self.references = me["references"]
        self.client.headers.update({"Authorization": f"Api-Key {me['api_key']}", "Accept": "application/json"})

    @task(1)
    def list_api(self) -> None:
        page = random.choice((1, 1, 1, 2, 3))
        self.client.get(f"/api/v1/incidents/?page_size=50&page={page}{random.choice(API_FILTERS)}", name="list_api")

    @task(1)
    def detail_api(self) -> None:
        self.client.get(f"/api/v1/incidents/{random.choice(self.references)}/", name="detail_api")


class Siem(HttpUser):
    """A SIEM posting batches of ~20 generic-format alerts with its own key: ~10% repeat one it
    sent before, a few are high or critical and open an incident. A batch is a failure unless
    every alert comes back created or duplicate."""

    fixed_count = SIEMS
    wait_time = between(1, 2)

    def on_start(self) -> None:
        me = _identity("siems")
        self.siem_name = me["name"]
        self.rng = random.Random(f"{RUN}-{me['name']}")
        self.sent: list[dict[str, Any]] = []
        self.counter = 0
        self.client.headers.update({"Authorization": f"Api-Key {me['api_key']}", "Accept": "application/json"})

    def new_alert(self) -> dict[str, Any]:
        self.counter += 1
        rng, n = self.rng, self.counter
        key = rng.randrange(10**9)  # rule, host, user and address: a fingerprint of its own, almost surely
        host, user = f"wks-{key % 5000:04d}.corp", f"user{key % 797:03d}"
        ip = f"{45 + key % 50}.{(key // 50) % 250}.{(key // 12_500) % 250 + 1}.{key % 251 + 1}"
        rule = ("impossible-travel", "edr-malware", "dns-tunnel", "mass-file-rename", "beacon-interval")[key % 5]
        observed = datetime.now(UTC) - timedelta(seconds=rng.randrange(5, 600))
        return {
            "source_ref": f"load{RUN}-{self.siem_name}-{n:07d}",
            "title": f"{rule} for {user} on {host}",
            "severity": _weighted(rng, SEVERITIES),
            "observed_at": observed.isoformat(),
            "rule": rule,
            "host": host,
            "user": user,
            "description": f"{rule}: {user} on {host} contacted {ip}. See the SIEM for the raw events.",
            "observables": [{"type": "ip", "value": ip}, {"type": "domain", "value": f"cdn{key % 997}.bad.example"}],
        }

    @task
    def alerts_post(self) -> None:
        batch = []
        for _ in range(BATCH):
            if self.sent and self.rng.random() < REPEAT_SHARE:
                batch.append(self.rng.choice(self.sent[-200:]))
            else:
                alert = self.new_alert()
                self.sent.append(alert)
                batch.append(alert)
        with self.client.post("/api/v1/alerts/", json=batch, name="alerts_post", catch_response=True) as response:
            if response.status_code != 207:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
                return
            body = response.json()
            if body.get("errors") or body.get("created", 0) + body.get("duplicates", 0) != len(batch):
                response.failure(f"207 with errors: {json.dumps(body)[:300]}")
