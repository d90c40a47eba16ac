"""E-mail through Django's SMTP backend to a real SMTP server (aiosmtpd) on 127.0.0.1, through
``notification_deliver``: what arrives, and how each SMTP answer is recorded on the row."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from notifications.models import Channel, Notification
from notifications.services import channel_test, notification_deliver

from .receivers import SmtpSink, escalation_page, smtp_sink, unused_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings) -> Iterator[SmtpSink]:
    """Django's SMTP backend pointed at a fresh sink."""
    with smtp_sink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.DEFAULT_FROM_EMAIL = "breachline@example.org"
        settings.SITE_URL = "https://breachline.example"
        yield sink


def person_email(user) -> Notification:
    return Notification.objects.get(user=user, transport="email")


def test_page_to_a_person(smtp, lead) -> None:
    incident = escalation_page(opened_by=lead, include_lead=True, lead=lead, title="Ransom note on file server")
    row = person_email(lead)
    assert (row.status, row.attempts) == ("queued", 0)

    assert notification_deliver(notification_id=row.pk) == "delivered"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, "")
    [mail] = smtp.messages
    assert mail.mail_from == "breachline@example.org"
    assert mail.rcpt_tos == ["lena@example.com"]
    message = mail.message
    ref = incident.reference
    assert message["Subject"] == f"[Breachline] HIGH {ref}: needs acknowledgement"
    assert message["From"] == "breachline@example.org"
    assert message["To"] == "lena@example.com"
    assert message["Message-ID"] == f"<{row.key}@breachline>"
    assert message["X-Breachline-Notification"] == str(row.key)
    assert message["Auto-Submitted"] == "auto-generated"
    ack = row.data["acknowledge_url"]
    assert ack.startswith("https://breachline.example/ack/")
    # SMTP lines end in CRLF on the wire.
    assert message.get_content().replace("\r\n", "\n") == (
        f"{ref} — Ransom note on file server\nSeverity: High\nStatus: New\n\n"
        "Escalation policy “Default paging”, level 1.\n\n"
        f"Open it: https://breachline.example/incidents/{ref}/\n\n"
        f"Acknowledge: {ack}\n"
        "(The link opens a confirmation page; nothing happens until you confirm.)\n"
    )


def test_test_message_to_an_email_channel(smtp, admin) -> None:
    channel = Channel.objects.create(name="soc-mailbox", kind="email", target="soc@example.org")
    row = channel_test(channel=channel, actor=admin)

    assert notification_deliver(notification_id=row.pk) == "delivered"

    [mail] = smtp.messages
    assert mail.rcpt_tos == ["soc@example.org"]
    assert mail.message["Subject"] == "[Breachline] Test message for soc-mailbox"
    assert mail.message["Message-ID"] == f"<{row.key}@breachline>"
    assert "Acknowledge" not in mail.message.get_content()


def test_refused_recipient_fails_for_good(smtp, lead, responder) -> None:
    responder.email = "gone@example.com"
    responder.save()
    smtp.refuse["gone@example.com"] = "550 5.1.1 No such user"
    escalation_page(opened_by=lead, users=[responder])
    row = person_email(responder)

    assert notification_deliver(notification_id=row.pk) == "failed"
    assert notification_deliver(notification_id=row.pk) == "skipped"

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "SMTP recipient refused: gone@example.com: 550 5.1.1 No such user"
    assert [entry["error"] for entry in row.attempt_log] == [row.last_error]
    assert smtp.refused == ["gone@example.com"]
    assert smtp.messages == []


def test_greylisted_recipient_is_retried_then_delivered(smtp, lead) -> None:
    smtp.refuse["lena@example.com"] = "451 4.7.1 Greylisted, try again later"
    escalation_page(opened_by=lead, include_lead=True, lead=lead)
    row = person_email(lead)

    assert notification_deliver(notification_id=row.pk) == "retry"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == "SMTP recipient refused: lena@example.com: 451 4.7.1 Greylisted, try again later"

    del smtp.refuse["lena@example.com"]
    assert notification_deliver(notification_id=row.pk) == "delivered"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, "")
    [mail] = smtp.messages
    assert mail.message["Message-ID"] == f"<{row.key}@breachline>"


@pytest.mark.parametrize(
    ("reply", "outcome", "row_status"),
    [("553 5.7.1 Sender not allowed", "failed", "failed"), ("451 4.3.0 Try later", "retry", "queued")],
)
def test_refused_sender(smtp, lead, reply: str, outcome: str, row_status: str) -> None:
    smtp.refuse_senders["breachline@example.org"] = reply
    escalation_page(opened_by=lead, include_lead=True, lead=lead)
    row = person_email(lead)

    assert notification_deliver(notification_id=row.pk) == outcome

    row.refresh_from_db()
    assert row.status == row_status
    assert row.last_error == f"SMTP sender breachline@example.org refused: {reply}"


def test_person_without_an_address_fails_for_good(smtp, lead) -> None:
    escalation_page(opened_by=lead, include_lead=True, lead=lead)
    row = person_email(lead)
    # The address was removed after the page was written.
    lead.email = ""
    lead.save()

    assert notification_deliver(notification_id=row.pk) == "failed"

    row.refresh_from_db()
    assert (row.status, row.last_error) == ("failed", "lena has no e-mail address.")
    assert smtp.messages == []


def test_connection_refused_is_transient(smtp, settings, lead) -> None:
    settings.EMAIL_PORT = unused_port()
    escalation_page(opened_by=lead, include_lead=True, lead=lead)
    row = person_email(lead)

    assert notification_deliver(notification_id=row.pk) == "retry"

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == "SMTP connection failed: ConnectionRefusedError: [Errno 111] Connection refused"


def test_a_server_that_never_greets_is_transient(smtp, settings, lead) -> None:
    settings.NOTIFICATION_HTTP_TIMEOUT_SECONDS = 1
    # Listening, never accepting: the kernel completes the handshake, no greeting ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings.EMAIL_PORT = silent.getsockname()[1]
        escalation_page(opened_by=lead, include_lead=True, lead=lead)
        row = person_email(lead)
        started = time.monotonic()
        assert notification_deliver(notification_id=row.pk) == "retry"
        assert time.monotonic() - started < 5

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 1)
    # smtplib turns the read timeout while waiting for the greeting into a disconnection.
    assert row.last_error == "SMTP server disconnected: Connection unexpectedly closed: timed out"
