"""Reliability of paging with real processes (issue 12): a Celery worker and beat as subprocesses,
real Redis, real PostgreSQL, a webhook receiver and an SMTP sink on 127.0.0.1.

The subprocesses use pytest's test database, so these tests commit (``transaction=True``). They
run with short timings so the whole module stays within a few minutes: a sweep every second, a
4 s lease, a 2 s HTTP timeout and a 1 s retry base (set alike in the subprocesses and here, where
the test process itself writes rows).

Select them with ``-m redis`` (or deselect with ``-m "not redis"``); they need
``CELERY_BROKER_URL=redis://…`` and a PostgreSQL ``DATABASE_URL``, and skip without them (fail
with CI=true).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from accounts.models import Role, User
from incidents.models import Activity, Incident, Severity, Verb
from notifications import services
from notifications.models import (
    Channel,
    ChannelKind,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Notification,
)

from ..factories import UserFactory, make_incident
from .processes import CeleryStack, HoldingReceiver, RedisServer, database_url, wait_until
from .receivers import http_receiver, smtp_sink

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]

FAST = {
    "ESCALATION_SWEEP_SECONDS": 1,
    "NOTIFICATION_LEASE_SECONDS": 4,
    "NOTIFICATION_HTTP_TIMEOUT_SECONDS": 2,
    "NOTIFICATION_RETRY_BASE_SECONDS": 1,
}
SECRET = "reliability-test-secret-0123456789"  # a test channel's signing secret


@pytest.fixture
def stack(postgres, redis_url: str, tmp_path: Path, settings) -> Iterator[CeleryStack]:
    """Workers and beat for this test, on the test database and Redis db of CELERY_BROKER_URL
    (emptied first: a message left by an earlier test's killed worker must not leak in).
    Everything started is stopped in teardown, before pytest-django empties the tables."""
    for name, value in FAST.items():
        setattr(settings, name, value)
    redis.Redis.from_url(redis_url).flushdb()
    celery = CeleryStack(
        database_url=database_url(connection.settings_dict), broker_url=redis_url, tmp=tmp_path, **FAST
    )
    yield celery
    celery.close()
    # Shown by pytest only when the test failed: what the worker and beat said.
    print(celery.logs())


def paging_policy(*, channels: Sequence[Channel] = (), users: Sequence[User] = ()) -> EscalationPolicy:
    """Critical incidents: step 1, at once, pages ``channels`` and ``users`` (not the lead)."""
    policy = EscalationPolicy.objects.create(name="Critical paging", severities=[Severity.CRITICAL])
    step = EscalationStep.objects.create(policy=policy, position=1, delay=timedelta(0), include_lead=False)
    step.channels.set(channels)
    step.users.set(users)
    return policy


def webhook(url: str, name: str = "soar") -> Channel:
    return Channel.objects.create(name=name, kind=ChannelKind.WEBHOOK, target=url, secret=SECRET)


def open_critical(opener: User, title: str = "Ransomware on the file servers") -> Incident:
    return make_incident(opened_by=opener, title=title, severity=Severity.CRITICAL)


def rows_of(incident: Incident) -> dict[str, Notification]:
    return {row.recipient: row for row in Notification.objects.filter(incident=incident)}


def all_settled(incidents: list[Incident]) -> bool:
    """Every notification about ``incidents`` delivered or failed (and at least one written)."""
    rows = Notification.objects.filter(incident__in=incidents)
    return rows.exists() and not rows.filter(status__in=services.PENDING).exists()


def states(incidents: list[Incident]) -> list[tuple]:
    """What a timeout reports: each notification's recipient, status, attempts and last error."""
    return list(
        Notification.objects.filter(incident__in=incidents).values_list("recipient", "status", "attempts", "last_error")
    )


# --- 1. The whole path --------------------------------------------------------------------------


def test_worker_and_beat_page_a_signed_webhook_and_an_email(stack, lead, responder):
    with http_receiver(statuses=[200]) as rx, smtp_sink() as smtp:
        soar = webhook(rx.url)
        paging_policy(channels=[soar], users=[responder])
        stack.worker(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=smtp.port
        )
        stack.beat()
        assert rx.requests == [] and smtp.messages == []

        incident = open_critical(lead)

        request = rx.wait_for(1, timeout=20)[0]
        mail = smtp.wait_for(1, timeout=20)[0]
        wait_until(lambda: all_settled([incident]), timeout=10, what="rows settled", seen=lambda: states([incident]))

    # The signature, recomputed here from the channel's secret: sha256 over "<timestamp>.<body>".
    timestamp = request.header("X-Breachline-Timestamp")
    expected = hmac.new(SECRET.encode(), f"{timestamp}.{request.body.decode()}".encode(), hashlib.sha256).hexdigest()
    assert request.header("X-Breachline-Signature") == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 60
    rows = rows_of(incident)
    assert request.header("Idempotency-Key") == str(rows[f"channel:{soar.pk}"].key)
    body = request.json()
    assert body["event"] == "escalation"
    assert body["incident"]["reference"] == incident.reference
    assert body["level"] == 1

    assert mail.rcpt_tos == ["ravi@example.com"]
    assert mail.message["Subject"] == f"[Breachline] CRITICAL {incident.reference}: needs acknowledgement"

    # One row per recipient of step 1: the channel, and the responder in the app and by e-mail.
    assert sorted(rows) == sorted([f"channel:{soar.pk}", f"user:{responder.pk}:in_app", f"user:{responder.pk}:email"])
    assert {row.dedupe_key for row in rows.values()} == {f"esc:{incident.escalations.get().pk}:1"}
    assert {recipient: (row.status, row.attempts) for recipient, row in rows.items()} == {
        f"channel:{soar.pk}": ("delivered", 1),
        f"user:{responder.pk}:in_app": ("delivered", 0),
        f"user:{responder.pk}:email": ("delivered", 1),
    }


# --- 2. A worker killed mid-delivery --------------------------------------------------------------


def test_worker_killed_mid_delivery_is_recovered_with_the_same_idempotency_key(stack, lead):
    # The first attempt is held open far past the kill; the second is answered at once.
    with HoldingReceiver(hold=[60]) as rx:
        soar = webhook(rx.url)
        paging_policy(channels=[soar])
        worker = stack.worker()
        stack.beat()

        incident = open_critical(lead)
        wait_until(lambda: rx.requests, timeout=20, what="the first attempt at the receiver")
        row = Notification.objects.get(incident=incident)
        assert (row.status, row.attempts) == ("sending", 1)

        worker.kill()  # SIGKILL to the whole group: main process and pool children alike
        assert not worker.running
        stack.worker()

        wait_until(
            lambda: Notification.objects.filter(pk=row.pk, status="delivered").exists(),
            timeout=30,
            what="the notification delivered after the restart",
            seen=lambda: states([incident]),
        )
        time.sleep(2)  # two more sweeps: nothing else may go out
        keys = rx.keys()

    row.refresh_from_db()
    assert keys == [str(row.key), str(row.key)]
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, "")
    # Exactly one row for the one recipient of the one step.
    assert list(Notification.objects.filter(incident=incident).values_list("dedupe_key", "recipient")) == [
        (f"esc:{incident.escalations.get().pk}:1", f"channel:{soar.pk}")
    ]


# --- 3. Redis down when the incident opens --------------------------------------------------------


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """This process's Celery app publishes to ``broker_url`` (not eagerly) until the block ends;
    its connection pool is dropped on the way in and out, so no connection to the other broker
    is reused."""
    from config.celery import app

    saved = {"broker_url": app.conf.broker_url, "task_always_eager": app.conf.task_always_eager}
    app.close()
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    try:
        yield
    finally:
        app.close()
        app.conf.update(**saved)


def test_incident_opened_while_redis_is_down_is_paged_once_redis_is_back(stack, lead, tmp_path):
    broker = RedisServer(tmp_path).start()
    try:
        broker.stop()
        stack.broker_url = broker.url(0)
        with http_receiver(statuses=[200]) as rx, publishing_to(broker.url(0)):
            soar = webhook(rx.url)
            paging_policy(channels=[soar])

            started = time.monotonic()
            first = open_critical(lead, title="Opened with Redis down, swept here")
            assert time.monotonic() - started < 3  # opening never waits on the broker
            assert Incident.objects.filter(pk=first.pk).exists()
            escalation = Escalation.objects.get(incident=first)
            assert escalation.next_at <= timezone.now() and escalation.stopped_at is None

            # A sweep in this process (a worker or run_sweeper whose broker just went away): the
            # rows are written and committed; enqueueing fails and does not raise.
            started = time.monotonic()
            result = services.sweep()
            sweep_seconds = time.monotonic() - started
            assert result.steps == 1
            assert sweep_seconds < 15  # one failed publish per batch, bounded by the connect timeout
            assert list(Notification.objects.filter(incident=first).values_list("status", "attempts")) == [
                ("queued", 0)
            ]
            # And one that only beat's sweep will find, once Redis is back.
            second = open_critical(lead, title="Opened with Redis down, left for beat")
            assert Notification.objects.filter(incident=second).count() == 0

            broker.start()  # the same port
            stack.worker()
            stack.beat()
            wait_until(
                lambda: all_settled([first, second]) and Notification.objects.filter(incident=second).exists(),
                timeout=30,
                what="both incidents' pages delivered",
                seen=lambda: states([first, second]),
            )
            time.sleep(2)
            keys = [request.header("Idempotency-Key") for request in rx.requests]
    finally:
        broker.stop()

    delivered = Notification.objects.filter(incident__in=[first, second])
    assert sorted(delivered.values_list("status", flat=True)) == ["delivered", "delivered"]
    assert sorted(keys) == sorted(str(key) for key in delivered.values_list("key", flat=True))


# --- 4. Two sweeps at once ------------------------------------------------------------------------


def test_two_concurrent_sweeps_page_every_recipient_once(stack, lead):
    quiet = UserFactory(username="quinn", role=Role.RESPONDER, email="")  # in the app only
    with http_receiver(statuses=[200]) as rx:
        soar = webhook(rx.url)
        paging_policy(channels=[soar], users=[quiet])
        incidents = [open_critical(lead, title=f"Wave {n}") for n in range(50)]
        assert Notification.objects.count() == 0  # with a broker, opening leaves paging to the sweep
        stack.worker()

        barrier = threading.Barrier(2)
        results: list[services.SweepResult] = []
        errors: list[BaseException] = []

        def sweep() -> None:
            try:
                barrier.wait(timeout=10)
                # Small batches, so the two sweeps interleave claim after claim.
                results.append(services.sweep(batch=5))
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []

        rx.wait_for(50, timeout=30)
        wait_until(lambda: all_settled(incidents), timeout=10, what="all delivered", seen=lambda: states(incidents))
        time.sleep(1)  # anything sent twice would arrive now
        keys = [request.header("Idempotency-Key") for request in rx.requests]

    assert sum(result.steps for result in results) == 50
    enqueued = [pk for result in results for pk in result.notifications]
    assert len(enqueued) == len(set(enqueued)) == 50
    assert len(keys) == len(set(keys)) == 50
    assert Notification.objects.count() == 100  # per incident: the channel, and quinn in the app
    per_recipient = Notification.objects.values("dedupe_key", "recipient").annotate(n=Count("id"))
    assert Counter(row["n"] for row in per_recipient) == {1: 100}
    assert Activity.objects.filter(verb=Verb.ESCALATED).count() == 50
    assert set(Escalation.objects.values_list("steps_fired", flat=True)) == {1}


# --- 5. Retries and permanent failures ------------------------------------------------------------


def test_a_500_is_retried_and_a_410_fails_at_once(stack, lead):
    with http_receiver(statuses=[500, 200]) as flaky, http_receiver(statuses=[410]) as gone:
        flaky_channel = webhook(flaky.url, name="flaky")
        gone_channel = webhook(gone.url, name="gone")
        paging_policy(channels=[flaky_channel, gone_channel])
        stack.worker()
        stack.beat()

        incident = open_critical(lead)
        wait_until(lambda: all_settled([incident]), timeout=30, what="both settled", seen=lambda: states([incident]))
        time.sleep(3.5)  # three more sweeps: a failed row is not taken up again
        flaky_requests, gone_requests = len(flaky.requests), len(gone.requests)

    rows = rows_of(incident)
    retried, failed = rows[f"channel:{flaky_channel.pk}"], rows[f"channel:{gone_channel.pk}"]
    assert (retried.status, retried.attempts, retried.last_error) == ("delivered", 2, "")
    assert [entry["error"] for entry in retried.attempt_log] == ["HTTP 500", ""]
    assert flaky_requests == 2

    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "HTTP 410")
    assert [entry["error"] for entry in failed.attempt_log] == ["HTTP 410"]
    assert gone_requests == 1
