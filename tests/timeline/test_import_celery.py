"""A 100,000-row Timesketch file, uploaded in the browser, checked and imported by a real
Celery worker through the real Redis broker, on PostgreSQL, with its progress seen on the page.

Transactional (the worker is another connection: it must see what the request committed).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from config.celery import app
from incidents.models import Activity, Verb
from timeline.models import TimelineEvent, TimelineImport

ROWS = 100_000
HTMX = {"HTTP_HX_REQUEST": "true"}


def _plaso_csv(rows: int) -> bytes:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = ["datetime,timestamp_desc,message,source_short,hostname,pid"]
    for number in range(rows):
        at = (start + timedelta(seconds=47 * number)).isoformat()
        lines.append(f"{at},Event Recorded,Process {number} started by svc-backup,EVTX,wks-{number % 300:03d},{number}")
    return ("\n".join(lines) + "\n").encode()


def _wait(imp: TimelineImport, until: set[str], seen: list[int], timeout: float = 60) -> float:
    """Poll as the page does until the import reaches one of ``until``; every ``rows_checked``
    seen meanwhile goes into ``seen``. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        imp.refresh_from_db()
        seen.append(imp.rows_checked)
        if imp.status in until:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"still {imp.status} after {timeout} s")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_100k_row_file_goes_through_the_worker_with_progress(redis_url, postgres, login, lead, incident):
    assert not app.conf.task_always_eager
    client = login(lead)
    body = _plaso_csv(ROWS)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        began = time.monotonic()
        response = client.post(
            reverse("timeline:import", args=[incident.reference]),
            {
                "default_timezone": "UTC",
                "default_kind": "attacker",
                "file": SimpleUploadedFile("plaso.csv", body, content_type="text/csv"),
            },
        )
        uploaded = time.monotonic() - began
        assert response.status_code == 302
        imp = TimelineImport.objects.get(incident=incident)
        seen: list[int] = []
        checked = _wait(imp, {"ready", "invalid", "failed"}, seen)
        assert (imp.status, imp.rows_total, imp.rows_bad, imp.failure) == ("ready", ROWS, 0, "")
        # The page saw the check move on: some count between nothing and everything.
        assert any(0 < count < ROWS for count in seen), seen

        confirm = client.post(reverse("timeline:import-confirm", args=[incident.reference, imp.pk]))
        assert confirm.status_code == 302
        polled = client.get(confirm["Location"], **HTMX).content.decode()
        assert 'hx-trigger="every 1s"' in polled or "Imported" in polled
        applied = _wait(imp, {"done", "failed"}, [])

    assert (imp.status, imp.rows_imported, imp.failure) == ("done", ROWS, "")
    assert TimelineEvent.objects.filter(incident=incident, imported_from=imp).count() == ROWS
    first = TimelineEvent.objects.filter(incident=incident).order_by("occurred_at", "id").first()
    assert (first.title, first.attributes) == (
        "Process 0 started by svc-backup",
        {"timestamp_desc": "Event Recorded", "source_short": "EVTX", "hostname": "wks-000", "pid": "0"},
    )
    entries = Activity.objects.filter(incident=incident, verb=Verb.TIMELINE_EVENT_ADDED)
    assert [entry.text for entry in entries] == ["added 100000 timeline events from plaso.csv"]
    print(f"\n100k rows: upload {uploaded:.1f} s, check {checked:.1f} s, import {applied:.1f} s")
    assert uploaded + checked + applied < 60
