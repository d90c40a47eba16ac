"""What the benchmarks share: settings for a benchmark process, a fresh bench database, gunicorn
serving the app on a free loopback port, and what a result file records about the run.

The scripts run as ``python benchmarks/<name>.py``, so ``benchmarks/`` is first on ``sys.path``
and ``import harness`` finds this module. The same directory holds ``incidents.py``, which would
shadow the app package ``incidents``: ``configure_environment`` puts the project root first, and
nothing may import the app before it has run.
"""

from __future__ import annotations

import http.client
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Sized to the cores as gunicorn's documentation advises, 2 * cores + 1: while one worker waits
# on PostgreSQL another uses the core. gthread's threads keep connections alive.
GUNICORN_WORKERS = 2 * (os.cpu_count() or 1) + 1
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "2"))

# --- Setup ------------------------------------------------------------------------------------


def configure_environment(
    *, default_database_url: str | None = None, database_url: str | None = None
) -> dict[str, str]:
    """The environment for this process and for gunicorn: the configured DB, benchmark-safe settings.

    ``database_url`` replaces ``DATABASE_URL``; ``default_database_url`` applies only when the
    environment names none.
    """
    if database_url is not None:
        os.environ["DATABASE_URL"] = database_url
    elif default_database_url is not None:
        os.environ.setdefault("DATABASE_URL", default_database_url)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "false"
    # Production settings force an HTTPS redirect, which a loopback benchmark cannot follow.
    os.environ["DJANGO_ENV"] = "development"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    # A benchmark is one key sending thousands of requests a minute: the per-key limit would
    # answer 429 and measure nothing.
    os.environ["API_RATE_LIMIT"] = "1000000/s"
    # First, even if PYTHONPATH already lists it: benchmarks/ (sys.path[0]) holds an incidents.py.
    if str(ROOT) in sys.path:
        sys.path.remove(str(ROOT))
    sys.path.insert(0, str(ROOT))
    return dict(os.environ)


def _maintenance_connection(cfg: dict[str, Any]) -> Any:
    """An autocommit connection to the server's ``postgres`` database, to create and drop others."""
    import psycopg

    return psycopg.connect(
        host=cfg["HOST"] or None,
        port=cfg["PORT"] or None,
        user=cfg["USER"] or None,
        password=cfg["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def recreate_database(url: str, *, variable: str = "DATABASE_URL") -> str:
    """Drop and create the bench database so every run starts from the same state.

    Refuses anything but PostgreSQL, and any database whose name lacks "bench": this wipes it.
    ``variable`` is the setting named in those refusals.
    """
    import dj_database_url
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    if cfg["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"bench: needs PostgreSQL, {variable} is {cfg['ENGINE']}")
    name = cfg["NAME"]
    if "bench" not in name:
        sys.exit(f"bench: refusing to wipe database {name!r}; point {variable} at a database named *bench*")
    with _maintenance_connection(cfg) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def clone_database(source_url: str, name: str) -> str:
    """A fresh copy of the database at ``source_url`` named ``name`` (``CREATE DATABASE … TEMPLATE``,
    a file copy: seconds for the generated 100k data set), so a benchmark that writes leaves the
    shared generated data as it was. Returns the copy's URL. Same refusals as ``recreate_database``."""
    import dj_database_url
    from psycopg import sql

    cfg = dj_database_url.parse(source_url)
    if cfg["ENGINE"] != "django.db.backends.postgresql" or "bench" not in name:
        sys.exit(f"bench: refusing to clone into {name!r}: PostgreSQL only, and the name must contain 'bench'")
    with _maintenance_connection(cfg) as conn:
        # A template must have no other session: end any left by an earlier run.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [cfg["NAME"]],
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(cfg["NAME"]))
        )
    return source_url.rsplit("/", 1)[0] + "/" + name


# --- Server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    # The production settings file (config/gunicorn.conf.py: gthread workers, which keep
    # connections alive, and the malloc tuning for uploads), sized for this 2-core machine.
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(ROOT / "config" / "gunicorn.conf.py"),
        "config.wsgi:application", "--chdir", str(ROOT), "--bind", f"127.0.0.1:{port}",
        "--workers", str(GUNICORN_WORKERS), "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench: gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"bench: /healthz did not answer within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def server_info() -> dict[str, Any]:
    """How ``start_gunicorn`` serves the app, for the result file."""
    import django
    import gunicorn

    return {
        "gunicorn": gunicorn.__version__,
        "django": django.get_version(),
        "workers": GUNICORN_WORKERS,
        "worker_class": "gthread",
        "threads": GUNICORN_THREADS,
        "config": "config/gunicorn.conf.py",
        "DEBUG": False,
        "DJANGO_ENV": "development",
    }


# --- Processes (Linux /proc) ------------------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (for gunicorn's master: its workers), from /proc."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return sorted(children)


def proc_status_kib(pid: int) -> dict[str, int]:
    """The ``Vm*``/``Rss*`` lines of /proc/<pid>/status, in KiB (VmRSS: resident now; VmHWM: the
    peak resident set since the process started or since ``reset_peak_rss``)."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key.startswith(("Vm", "Rss")) and rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0])
    return values


def reset_peak_rss(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (``echo 5 > /proc/<pid>/clear_refs``, Linux
    4.0 and later; needs to own the process). False where that is not possible."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- Report -----------------------------------------------------------------------------------


def database_info() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return {"vendor": connection.vendor, "version": version, "name": connection.settings_dict["NAME"]}


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the working tree had uncommitted changes on top of it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        # The results a run writes as it goes are not what it measured.
        status = ["git", "status", "--porcelain", "--", ".", ":!benchmarks/results"]
        dirty = subprocess.run(status, cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip() or None, "dirty": bool(dirty.stdout.strip())}


def machine_info() -> dict[str, Any]:
    """The machine measured on (add ``loadavg_1m`` with ``loadavg()`` at the start and the end)."""
    return {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def loadavg() -> float:
    """The 1-minute load average. At the start of a run it is others' work; at the end it includes
    the run's own."""
    return os.getloadavg()[0]


def verified_login(client: Any, user: Any) -> None:
    """Sign ``user`` in on the test ``client`` with a second factor passed, as a lead's real
    session is (the middleware sends an unverified one to verify): an authenticator is enrolled
    and the session carries it, so the pages measured pay the second-factor check they pay in
    production."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="bench", confirmed=True
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def request_headers(auth: str, creds: dict[str, str]) -> dict[str, str]:
    """Headers for ``auth``: "api_key" (``creds["api_key"]``), "session" (``creds["cookie"]``) or none."""
    if auth == "api_key":
        return {"Accept": "application/json", "Authorization": f"Api-Key {creds['api_key']}"}
    if auth == "session":
        return {"Accept": "text/html", "Cookie": creds["cookie"]}
    return {}


def round_robin(
    port: int,
    eps: dict[str, tuple[str, str]],
    creds: dict[str, str],
    *,
    warmup: int,
    requests: int,
    timeout: float = 60,
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """GET each endpoint (key → (path, auth)) in turn on one kept-alive connection, ``warmup``
    untimed rounds then ``requests`` timed ones: client-side times (ms) and body sizes per key.
    Exits on any answer but 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    samples: dict[str, list[float]] = {key: [] for key in eps}
    sizes: dict[str, int] = {}
    try:
        for round_ in range(warmup + requests):
            for key, (path, auth) in eps.items():
                start = time.perf_counter()
                conn.request("GET", path, headers=request_headers(auth, creds))
                response = conn.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - start) * 1000
                if response.status != 200:
                    sys.exit(f"bench: GET {path} answered {response.status}: {body[:300]!r}")
                if round_ >= warmup:
                    samples[key].append(elapsed)
                    sizes[key] = len(body)
    finally:
        conn.close()
    return samples, sizes
