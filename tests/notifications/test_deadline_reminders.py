"""Regulatory deadline reminders with real processes: a Celery worker and beat as subprocesses
(``tests/notifications/processes.py``), real Redis and PostgreSQL. A GDPR clock falls due a few
seconds from now with reminders 4 s and 2 s before; beat's sweep (every second) must write each
reminder once and the missed alert once, and nothing more on the sweeps after.

The subprocesses read pytest's test database, so this test commits (``transaction=True``). Select it
with ``-m redis``; it needs ``CELERY_BROKER_URL=redis://…`` and a PostgreSQL ``DATABASE_URL``, and
skips without them (fails with CI=true).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.utils import timezone

from incidents import services as case_services
from incidents.models import DeadlineClock, Regime
from incidents.regulatory import services
from notifications.models import Notification

from .processes import CeleryStack, database_url, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]

FAST = {"ESCALATION_SWEEP_SECONDS": 1, "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}


@pytest.fixture
def stack(postgres, redis_url: str, tmp_path: Path, settings) -> Iterator[CeleryStack]:
    settings.ESCALATION_SWEEP_SECONDS = 1
    redis.Redis.from_url(redis_url).flushdb()
    celery = CeleryStack(
        database_url=database_url(connection.settings_dict), broker_url=redis_url, tmp=tmp_path, **FAST
    )
    yield celery
    celery.close()
    print(celery.logs())  # shown by pytest only when the test failed


def rows(clock: DeadlineClock) -> list[tuple[str, str, str]]:
    """(reason, dedupe key, recipient) of every notification about ``clock``, sorted."""
    found = Notification.objects.filter(dedupe_key__startswith=f"deadline:{clock.pk}:")
    return sorted(found.values_list("reason", "dedupe_key", "recipient"))


def test_beat_and_worker_remind_once_per_lead_time_then_alert_the_miss_once(
    stack, builtin_rows, admin, lead, responder, incident
):
    case_services.member_add(incident=incident, user=responder, actor=lead)
    gdpr = Regime.objects.get(slug="gdpr-art33")
    services.assessment_decide(incident=incident, regime=gdpr, decision="applies", reason="PII.", actor=lead)
    stack.worker()
    stack.beat()

    # Awareness 72 h minus 15 s ago: due in 15 s, reminders 10 s and 5 s before that (5 s apart, so a
    # sweep running late on a loaded CI machine still sends them as two).
    clock = services.clock_set(
        incident=incident, regime=gdpr, stage="notification", start_event="awareness",
        started_at=timezone.now() - timedelta(hours=72) + timedelta(seconds=15), reason="SOC ticket 4411.",
        actor=lead, reminder_leads=[10, 5],
    )  # fmt: skip
    assert (clock.reminder_leads, clock.reminders_sent) == ([10, 5], [])

    missed = f"deadline:{clock.pk}:missed"
    wait_until(
        lambda: Notification.objects.filter(dedupe_key=missed).exists(),
        timeout=30,
        what="the missed alert written",
        seen=lambda: rows(clock),
    )
    time.sleep(3)  # three more sweeps: nothing new

    def to(*users) -> list[str]:
        return [f"user:{user.pk}:{transport}" for user in users for transport in ("email", "in_app")]

    expected = (
        [("deadline_missed", missed, recipient) for recipient in to(admin, lead, responder)]
        + [("deadline_reminder", f"deadline:{clock.pk}:10", recipient) for recipient in to(lead, responder)]
        + [("deadline_reminder", f"deadline:{clock.pk}:5", recipient) for recipient in to(lead, responder)]
    )
    assert rows(clock) == sorted(expected), stack.logs()
    clock.refresh_from_db()
    assert clock.reminders_sent == [10, 5]
    assert clock.missed_at is not None and clock.next_alert_at is None
