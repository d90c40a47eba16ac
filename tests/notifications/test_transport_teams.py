"""Microsoft Teams through a Workflows webhook, through ``notification_deliver`` against a real
HTTP receiver: the Adaptive Card message as the flow receives it (it answers 202)."""

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


def teams(url: str) -> Channel:
    return Channel.objects.create(name="ir-room", kind="teams", target=url)


def test_escalation_page_as_adaptive_card(lead) -> None:
    with http_receiver(statuses=[202]) as rx:
        channel = teams(rx.url)
        incident = escalation_page(
            opened_by=lead, channels=[channel], title="Payroll export on a paste site", severity=Severity.CRITICAL
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
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": f"CRITICAL {ref}: needs acknowledgement",
                            "size": "Large",
                            "weight": "Bolder",
                            "wrap": True,
                        },
                        {"type": "TextBlock", "text": "Payroll export on a paste site", "wrap": True, "isSubtle": True},
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Reference", "value": ref},
                                {"title": "Severity", "value": "Critical"},
                                {"title": "Status", "value": "New"},
                            ],
                        },
                        {"type": "TextBlock", "text": "Escalation policy “Default paging”, level 1.", "wrap": True},
                    ],
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "Open incident",
                            "url": f"https://breachline.example/incidents/{ref}/",
                        },
                        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": ack, "style": "positive"},
                    ],
                },
            }
        ],
    }


def test_test_message_card_has_no_actions(admin) -> None:
    admin.first_name, admin.last_name = "Ada", "Lovelace"
    admin.save()
    with http_receiver(statuses=[202]) as rx:
        channel = teams(rx.url)
        row = channel_test(channel=channel, actor=admin)
        assert notification_deliver(notification_id=row.pk) == "delivered"

    [request] = rx.requests
    [attachment] = request.json()["attachments"]
    assert attachment["content"] == {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": "Test message for ir-room",
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
            },
            {
                "type": "TextBlock",
                "text": "Ada Lovelace sent this test from Breachline (https://breachline.example). "
                "If you can read it, the channel works.",
                "wrap": True,
            },
        ],
    }


def test_restricted_incident_card_hides_the_title(lead) -> None:
    with http_receiver(statuses=[202]) as rx:
        channel = teams(rx.url)
        escalation_page(opened_by=lead, channels=[channel], title="CFO mailbox compromised", restricted=True)
        row = Notification.objects.get(channel=channel)
        assert notification_deliver(notification_id=row.pk) == "delivered"

    [request] = rx.requests
    assert b"CFO mailbox" not in request.body
    body = request.json()["attachments"][0]["content"]["body"]
    assert body[1] == {"type": "TextBlock", "text": "(restricted incident)", "wrap": True, "isSubtle": True}


@pytest.mark.parametrize(
    ("answer", "outcome", "row_status", "error"),
    [
        ((400, '{"error":{"code":"InvalidRequestContent"}}'), "failed", "failed",
         'HTTP 400: {"error":{"code":"InvalidRequestContent"}}'),
        ((404, "WorkflowNotFound"), "failed", "failed", "HTTP 404: WorkflowNotFound"),
        ((429, "TooManyRequests"), "retry", "queued", "HTTP 429: TooManyRequests"),
        ((502, ""), "retry", "queued", "HTTP 502"),
    ],
)  # fmt: skip
def test_workflow_errors(lead, answer, outcome: str, row_status: str, error: str) -> None:
    with http_receiver(statuses=[answer]) as rx:
        channel = teams(rx.url)
        escalation_page(opened_by=lead, channels=[channel])
        row = Notification.objects.get(channel=channel)
        assert notification_deliver(notification_id=row.pk) == outcome

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (row_status, 1, error)
