"""Slack incoming webhook, through ``notification_deliver`` against a real HTTP receiver: the
Block Kit message as Slack receives it, and Slack's error answers recorded on the row."""

from __future__ import annotations

import pytest

from incidents.models import Severity
from notifications.models import Channel, Notification
from notifications.services import channel_test, notification_deliver

from .receivers import escalation_page, http_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings) -> None:
    settings.SITE_URL = "https://breachline.example"


def slack(url: str) -> Channel:
    return Channel.objects.create(name="sec-ops", kind="slack", target=url)


def test_escalation_page_as_block_kit(lead) -> None:
    with http_receiver(statuses=[(200, "ok")]) as rx:
        channel = slack(rx.url)
        # The policy's name reaches the detail: Slack's three mrkdwn characters must be escaped.
        incident = escalation_page(
            opened_by=lead,
            channels=[channel],
            policy_name="Finance <on-call> & friends",
            title="Invoice fraud <script>",
            severity=Severity.HIGH,
        )
        row = Notification.objects.get(channel=channel)
        assert notification_deliver(notification_id=row.pk) == "delivered"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, "")
    [request] = rx.requests
    assert request.header("Content-Type") == "application/json"
    ack = row.data["acknowledge_url"]
    assert ack.startswith("https://breachline.example/ack/")
    ref = incident.reference
    assert request.json() == {
        "text": f"[Breachline] HIGH {ref}: needs acknowledgement",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"HIGH {ref}: needs acknowledgement"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Invoice fraud &lt;script&gt;"},
                "fields": [
                    {"type": "mrkdwn", "text": f"*Reference*\n{ref}"},
                    {"type": "mrkdwn", "text": "*Severity*\nHigh"},
                    {"type": "mrkdwn", "text": "*Status*\nNew"},
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Escalation policy “Finance &lt;on-call&gt; &amp; friends”, level 1.",
                },
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "open_incident",
                        "text": {"type": "plain_text", "text": "Open incident"},
                        "url": f"https://breachline.example/incidents/{ref}/",
                    },
                    {
                        "type": "button",
                        "action_id": "acknowledge",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "url": ack,
                        "style": "primary",
                    },
                ],
            },
        ],
    }


def test_test_message_renders_without_an_incident(admin) -> None:
    admin.first_name, admin.last_name = "Ada", "Lovelace"
    admin.save()
    with http_receiver(statuses=[(200, "ok")]) as rx:
        channel = slack(rx.url)
        row = channel_test(channel=channel, actor=admin)
        assert notification_deliver(notification_id=row.pk) == "delivered"

    [request] = rx.requests
    assert request.json() == {
        "text": "[Breachline] Test message for sec-ops",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Test message for sec-ops"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Ada Lovelace sent this test from Breachline (https://breachline.example). "
                    "If you can read it, the channel works.",
                },
            },
        ],
    }


def test_restricted_incident_shows_no_title_in_a_shared_room(lead) -> None:
    with http_receiver(statuses=[(200, "ok")]) as rx:
        channel = slack(rx.url)
        escalation_page(opened_by=lead, channels=[channel], title="CFO mailbox compromised", restricted=True)
        row = Notification.objects.get(channel=channel)
        assert notification_deliver(notification_id=row.pk) == "delivered"

    [request] = rx.requests
    assert b"CFO mailbox" not in request.body
    assert request.json()["blocks"][1]["text"] == {"type": "mrkdwn", "text": "(restricted incident)"}


@pytest.mark.parametrize(
    ("answer", "outcome", "row_status", "error"),
    [
        ((400, "invalid_payload"), "failed", "failed", "HTTP 400: invalid_payload"),
        ((403, "action_prohibited"), "failed", "failed", "HTTP 403: action_prohibited"),
        ((404, "no_service"), "failed", "failed", "HTTP 404: no_service"),
        ((410, "channel_is_archived"), "failed", "failed", "HTTP 410: channel_is_archived"),
        ((429, "rate_limited"), "retry", "queued", "HTTP 429: rate_limited"),
        ((500, "rollup_error"), "retry", "queued", "HTTP 500: rollup_error"),
    ],
)
def test_slack_errors_are_recorded_with_their_text(lead, answer, outcome: str, row_status: str, error: str) -> None:
    with http_receiver(statuses=[answer]) as rx:
        channel = slack(rx.url)
        escalation_page(opened_by=lead, channels=[channel])
        row = Notification.objects.get(channel=channel)
        assert notification_deliver(notification_id=row.pk) == outcome

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (row_status, 1, error)
    assert [entry["error"] for entry in row.attempt_log] == [error]
