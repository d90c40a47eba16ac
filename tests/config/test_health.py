"""/healthz and /readyz: no login, JSON, 503 naming what failed."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_alive_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_in_eager_mode(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok (eager: no broker configured)"}


def test_readyz_with_real_redis(client, settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_reports_an_unreachable_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
    assert "127.0.0.1" not in body["checks"]["broker"]  # hosts stay in the log


def test_readyz_reports_a_broken_database(client, monkeypatch):
    from config import health

    def broken() -> str:
        raise OSError("db down")

    monkeypatch.setattr(health, "_check_database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: OSError"
