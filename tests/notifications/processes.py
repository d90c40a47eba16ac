"""Real Celery workers, beat and a private redis-server as subprocesses, for the reliability tests.

Every process starts in a session of its own (``start_new_session``), so its process group is
the process and everything it forks (a worker's pool children): stopping or killing means the
whole group, never a name. ``stop`` is idempotent and the fixtures call it in teardown whatever
the test did, so nothing outlives a test.

The subprocesses read the database the test process uses (``database_url(connection.settings_dict)``
inside the test: pytest's test database). They see only committed rows, so the tests that use
them run with ``transactional_db`` / ``django_db(transaction=True)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

T = TypeVar("T")


class NotReached(AssertionError):
    """``wait_until`` ran out of time; the message says what was awaited and what was seen."""


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    seen: Callable[[], Any] | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that. Raises NotReached
    after ``timeout`` seconds, naming ``what`` and (with ``seen``) the state it last saw, so a
    timeout in CI reads as a failed expectation rather than a hang."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f"; last seen: {seen()!r}" if seen is not None else ""
            raise NotReached(f"not within {timeout:g} s: {what}{detail}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """``DATABASE_URL`` for a subprocess that must use the same PostgreSQL database as the
    caller's connection (in a test: the test database pytest created)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def celery_env(*, database_url: str, broker_url: str, schedule_dir: Path, **overrides: str | int) -> dict[str, str]:
    """The environment of a worker or beat: this one, the database and broker given, beat's
    schedule file in ``schedule_dir`` (never the development ``.celerybeat-schedule``), and
    ``overrides`` (``ESCALATION_SWEEP_SECONDS=1``, ``EMAIL_PORT=…``) as strings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(
        # The settings the caller runs with (pytest-django's --ds included).
        DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CELERY_BEAT_SCHEDULE_FILENAME=str(schedule_dir / f"celerybeat-{uuid.uuid4().hex[:8]}"),
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class Process:
    """One subprocess in its own process group, its output in ``log``."""

    def __init__(self, command: list[str], *, env: Mapping[str, str], log: Path) -> None:
        self.command = command
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(  # noqa: S603 - fixed argv built above, no shell
                command, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the whole group (the process and its children); a group already
        gone is not an error."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the group at once, as the OOM killer or a lost host would: nothing runs its
        shutdown code, unacked messages stay unacked."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the group and wait; SIGKILL what is left after ``timeout``. Idempotent."""
        if self.running:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Pool children may outlive their parent: whatever is left of the group goes.
        self.signal_group(signal.SIGKILL)
        if self.running:
            self.popen.wait(timeout=10)

    def wait_for_output(self, text: str, *, timeout: float) -> None:
        """Until ``text`` appears in the log; fails early (with the log) if the process exits."""

        def seen() -> bool:
            if not self.running:
                raise NotReached(f"{self.command[1:4]} exited with {self.popen.returncode}:\n{self.output()[-3000:]}")
            return text in self.output()

        try:
            wait_until(seen, timeout=timeout, what=f"{text!r} in {self.log.name}", interval=0.1)
        except NotReached as exc:
            raise NotReached(f"{exc}\n{self.output()[-3000:]}") from None


def start_worker(env: Mapping[str, str], log_dir: Path, *, concurrency: int = 2, ready_timeout: float = 30) -> Process:
    """``celery -A config worker`` (prefork pool, ``concurrency`` children), waited for until it
    says it is ready to consume. A fresh node name each start: a restarted worker is a new node."""
    name = f"w{uuid.uuid4().hex[:8]}"
    command = [
        str(CELERY), "-A", "config", "worker", "--loglevel=info", "--pool=prefork", f"--concurrency={concurrency}",
        "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = Process(command, env=env, log=log_dir / f"worker-{name}.log")
    worker.wait_for_output(" ready.", timeout=ready_timeout)
    return worker


def start_beat(env: Mapping[str, str], log_dir: Path, *, ready_timeout: float = 30) -> Process:
    """``celery -A config beat``: sends ``notifications.sweep`` every ``ESCALATION_SWEEP_SECONDS``
    of its environment. Waited for until it has started its scheduler."""
    beat = Process(
        [str(CELERY), "-A", "config", "beat", "--loglevel=info"],
        env=env,
        log=log_dir / f"beat-{uuid.uuid4().hex[:8]}.log",
    )
    beat.wait_for_output("beat: Starting", timeout=ready_timeout)
    return beat


class CeleryStack:
    """The workers and beats one test starts, against one database and broker, with the same
    setting overrides; ``close`` stops every one of them (the fixture's teardown).

    ``broker_url`` may be changed before starting (a private redis-server)."""

    def __init__(self, *, database_url: str, broker_url: str, tmp: Path, **overrides: str | int) -> None:
        self.database_url = database_url
        self.broker_url = broker_url
        self.tmp = tmp
        self.overrides = overrides
        self.processes: list[Process] = []

    def env(self, **more: str | int) -> dict[str, str]:
        return celery_env(
            database_url=self.database_url,
            broker_url=self.broker_url,
            schedule_dir=self.tmp,
            **{**self.overrides, **more},
        )

    def worker(self, **more: str | int) -> Process:
        worker = start_worker(self.env(**more), self.tmp)
        self.processes.append(worker)
        return worker

    def beat(self, **more: str | int) -> Process:
        beat = start_beat(self.env(**more), self.tmp)
        self.processes.append(beat)
        return beat

    def logs(self) -> str:
        """Every process's log, for a failure message."""
        return "\n".join(f"--- {p.log.name}\n{p.output()[-4000:]}" for p in self.processes)

    def close(self) -> None:
        # SIGTERM all at once, so their warm shutdowns overlap; then wait for (or kill) each.
        for process in self.processes:
            if process.running:
                process.signal_group(signal.SIGTERM)
        for process in self.processes:
            process.stop(timeout=5)


class RedisServer:
    """A private ``redis-server`` on its own port, without persistence, that a test stops and
    starts again on the same port (a broker outage). ``url(db)`` is the broker URL."""

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_dir = log_dir
        self.process: Process | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10) -> RedisServer:
        command = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        self.process = Process(command, env=os.environ, log=self.log_dir / f"redis-{self.port}.log")
        wait_until(self.ping, timeout=timeout, what=f"redis-server on port {self.port} answering PING")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop it and wait until the port refuses connections. Idempotent."""
        if self.process is not None:
            self.process.stop(timeout=5)
            self.process = None
        wait_until(lambda: not self.ping(), timeout=5, what=f"redis-server on port {self.port} gone")


# --- A receiver that holds requests open --------------------------------------------------------
# The shared ``tests.notifications.receivers.http_receiver`` delays every request alike; the kill
# test needs the first attempt held open (the worker is killed while it waits) and the second
# answered at once, so this one takes a delay per request.


@dataclass
class Received:
    """One request as the receiver saw it (headers with the sender's names)."""

    at: float  # time.time() on arrival
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HoldingReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 recording every POST. The n-th request is answered
    ``statuses[n]`` (200 once the list is spent) after ``hold[n]`` seconds (0 when missing); a
    client gone by then is not an error. Stopping cuts every hold short."""

    def __init__(self, statuses: list[int] | None = None, hold: list[float] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.hold = list(hold or [])
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    index = len(receiver.requests)
                    receiver.requests.append(Received(time.time(), self.path, dict(self.headers.items()), body))
                status = receiver.statuses[index] if index < len(receiver.statuses) else 200
                if index < len(receiver.hold):
                    receiver._stopping.wait(receiver.hold[index])
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender was killed or timed out while the request was held

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, name="holding-receiver", daemon=True)

    def keys(self) -> list[str]:
        """The Idempotency-Key of every request, in arrival order."""
        with self._lock:
            return [request.headers.get("Idempotency-Key", "") for request in self.requests]

    def __enter__(self) -> HoldingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
