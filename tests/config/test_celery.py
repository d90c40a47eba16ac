"""The Celery app delivers through the real Redis broker to a real worker."""

from __future__ import annotations

import threading

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app

received: list[str] = []
delivered = threading.Event()


@app.task(name="tests.ping")
def ping(message: str) -> None:
    received.append(message)
    delivered.set()


@pytest.mark.redis
def test_a_task_travels_through_redis_to_a_worker(redis_url, settings):
    assert app.conf.broker_url == redis_url
    assert not app.conf.task_always_eager
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        ping.delay("wake up")
        assert delivered.wait(timeout=20)
    assert received == ["wake up"]


def test_without_a_broker_tasks_run_eagerly(settings):
    if settings.CELERY_BROKER_URL:
        pytest.skip("a broker is configured: tasks go through it (see the test above)")
    received.clear()
    ping.delay("inline")
    assert received == ["inline"]
