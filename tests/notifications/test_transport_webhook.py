"""The generic webhook, through ``notification_deliver`` against a real HTTP receiver on 127.0.0.1:
a signed JSON body, one idempotency key per notification, and how each answer is recorded."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from incidents.models import Severity
from notifications.models import Channel, Notification
from notifications.services import channel_test, notification_deliver

from .receivers import escalation_page, http_receiver, unused_port

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-0123456789"


@pytest.fixture(autouse=True)
def _site(settings) -> None:
    settings.SITE_URL = "https://breachline.example"


def webhook(url: str) -> Channel:
    return Channel.objects.create(name="soar", kind="webhook", target=url, secret=SECRET)


def expected_signature(timestamp: str, body: bytes, secret: str = SECRET) -> str:
    # Written from the contract in docs/api.md, not from the transport.
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_escalation_page_is_posted_signed(lead) -> None:
    with http_receiver(statuses=[200]) as rx:
        channel = webhook(rx.url)
        incident = escalation_page(
            opened_by=lead, channels=[channel], title="Ransom note on file server", severity=Severity.CRITICAL
        )
        row = Notification.objects.get(channel=channel)
        assert (row.status, row.attempts) == ("queued", 0)

        before = int(time.time())
        assert notification_deliver(notification_id=row.pk) == "delivered"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, "")
    assert [entry["error"] for entry in row.attempt_log] == [""]
    assert row.delivered_at is not None

    [request] = rx.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == "Breachline"
    assert request.header("Idempotency-Key") == str(row.key)
    assert request.header("X-Breachline-Event") == "escalation"
    timestamp = request.header("X-Breachline-Timestamp")
    assert before - 1 <= int(timestamp) <= int(time.time()) + 1
    assert request.header("X-Breachline-Signature") == expected_signature(timestamp, request.body)
    # Sanity of the check itself: another secret, or another timestamp, does not verify.
    assert request.header("X-Breachline-Signature") != expected_signature(timestamp, request.body, "other")
    assert request.header("X-Breachline-Signature") != expected_signature(str(int(timestamp) - 1), request.body)

    ack = row.data["acknowledge_url"]
    assert ack.startswith("https://breachline.example/ack/")
    assert request.json() == {
        "id": str(row.key),
        "event": "escalation",
        "created_at": row.created_at.isoformat(),
        "subject": f"[Breachline] CRITICAL {incident.reference}: needs acknowledgement",
        "text": (
            f"{incident.reference} — Ransom note on file server\nSeverity: Critical\nStatus: New\n\n"
            "Escalation policy “Default paging”, level 1.\n\n"
            f"Open it: https://breachline.example/incidents/{incident.reference}/"
        ),
        "headline": "needs acknowledgement",
        "detail": "Escalation policy “Default paging”, level 1.",
        "incident": {
            "reference": incident.reference,
            "title": "Ransom note on file server",
            "severity": "critical",
            "status": "new",
            "category": "third_party",
            "restricted": False,
            "url": f"https://breachline.example/incidents/{incident.reference}/",
        },
        "acknowledge_url": ack,
        "policy": "Default paging",
        "level": 1,
    }


def test_500_then_200_retries_with_the_same_idempotency_key(lead) -> None:
    with http_receiver(statuses=[(500, "upstream down"), 200]) as rx:
        channel = webhook(rx.url)
        escalation_page(opened_by=lead, channels=[channel])
        row = Notification.objects.get(channel=channel)

        assert notification_deliver(notification_id=row.pk) == "retry"
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == ("queued", 1, "HTTP 500: upstream down")
        assert [entry["error"] for entry in row.attempt_log] == ["HTTP 500: upstream down"]

        assert notification_deliver(notification_id=row.pk) == "delivered"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, "")
    assert [entry["error"] for entry in row.attempt_log] == ["HTTP 500: upstream down", ""]
    first, second = rx.requests
    assert [first.status, second.status] == [500, 200]
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key") == str(row.key)
    # Same content, each attempt signed over its own timestamp.
    assert first.body == second.body
    for request in (first, second):
        timestamp = request.header("X-Breachline-Timestamp")
        assert request.header("X-Breachline-Signature") == expected_signature(timestamp, request.body)


def test_410_fails_for_good_and_is_not_sent_again(lead) -> None:
    with http_receiver(statuses=[(410, "gone")]) as rx:
        channel = webhook(rx.url)
        escalation_page(opened_by=lead, channels=[channel])
        row = Notification.objects.get(channel=channel)

        assert notification_deliver(notification_id=row.pk) == "failed"
        assert notification_deliver(notification_id=row.pk) == "skipped"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "HTTP 410: gone")
    assert [entry["error"] for entry in row.attempt_log] == ["HTTP 410: gone"]
    assert row.delivered_at is None
    assert len(rx.requests) == 1


@pytest.mark.parametrize(
    ("status", "outcome", "row_status"),
    [
        (400, "failed", "failed"),
        (401, "failed", "failed"),
        (404, "failed", "failed"),
        (301, "failed", "failed"),  # redirects are not followed: a moved webhook is fixed by hand
        (408, "retry", "queued"),
        (429, "retry", "queued"),
        (502, "retry", "queued"),
        (503, "retry", "queued"),
    ],
)
def test_answers_are_permanent_or_transient(lead, status: int, outcome: str, row_status: str) -> None:
    with http_receiver(statuses=[status]) as rx:
        channel = webhook(rx.url)
        escalation_page(opened_by=lead, channels=[channel])
        row = Notification.objects.get(channel=channel)
        assert notification_deliver(notification_id=row.pk) == outcome

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (row_status, 1, f"HTTP {status}")


def test_a_receiver_too_slow_is_a_transient_error(lead, settings) -> None:
    settings.NOTIFICATION_HTTP_TIMEOUT_SECONDS = 1
    with http_receiver(statuses=[200], delay=5) as rx:
        channel = webhook(rx.url)
        escalation_page(opened_by=lead, channels=[channel])
        row = Notification.objects.get(channel=channel)
        started = time.monotonic()
        assert notification_deliver(notification_id=row.pk) == "retry"
        assert time.monotonic() - started < 4

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "No answer within 1 s.")
    assert len(rx.requests) == 1


def test_connection_refused_is_a_transient_error(lead) -> None:
    port = unused_port()
    channel = webhook(f"http://127.0.0.1:{port}/hook")
    escalation_page(opened_by=lead, channels=[channel])
    row = Notification.objects.get(channel=channel)

    assert notification_deliver(notification_id=row.pk) == "retry"

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == f"Connection failed: [Errno 111] Connection refused (127.0.0.1:{port})"


def test_channel_test_message(admin) -> None:
    with http_receiver(statuses=[204]) as rx:
        channel = webhook(rx.url)
        row = channel_test(channel=channel, actor=admin)
        assert notification_deliver(notification_id=row.pk) == "delivered"

    [request] = rx.requests
    assert request.header("X-Breachline-Event") == "test"
    body = request.json()
    assert {key: body[key] for key in ("id", "event", "subject", "headline", "sent_by")} == {
        "id": str(row.key),
        "event": "test",
        "subject": "[Breachline] Test message for soar",
        "headline": "test message",
        "sent_by": "ada",
    }
    assert "incident" not in body
