"""Microsoft Teams through a Workflows (Power Automate) webhook: an Adaptive Card.

Office 365 connectors ("incoming webhooks") are retired; a Workflows flow triggered by "When a
Teams webhook request is received" takes a ``message`` whose attachment is an Adaptive Card
and posts the card to a channel or chat. The flow answers 202 Accepted (``post_json`` takes any
2xx); a 4xx (a malformed card, a deleted flow) is permanent, a 429 or 5xx transient.

The card (Adaptive Cards 1.4, https://adaptivecards.io/explorer/): a bold title, the detail or
text, a FactSet (reference, severity, status) for an incident, and Action.OpenUrl buttons for
"Open incident" and, on pages that ask for it, "Acknowledge" (the link opens a confirmation page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from incidents.models import Severity, Status

from .base import Transport
from .http import post_json
from .slack import choice_label, headline

if TYPE_CHECKING:
    from notifications.models import Notification

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def card(notification: Notification) -> dict[str, Any]:
    """The Adaptive Card for ``notification``."""
    data = notification.data
    incident = data.get("incident")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": headline(notification), "size": "Large", "weight": "Bolder", "wrap": True}
    ]
    if incident:
        body.append({"type": "TextBlock", "text": incident.get("title", ""), "wrap": True, "isSubtle": True})
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Reference", "value": incident.get("reference", "")},
                    {"title": "Severity", "value": choice_label(Severity, incident.get("severity", ""))},
                    {"title": "Status", "value": choice_label(Status, incident.get("status", ""))},
                ],
            }
        )
        if data.get("detail"):
            body.append({"type": "TextBlock", "text": data["detail"], "wrap": True})
    else:
        body.append({"type": "TextBlock", "text": notification.body, "wrap": True})
    actions: list[dict[str, Any]] = []
    if incident and incident.get("url"):
        actions.append({"type": "Action.OpenUrl", "title": "Open incident", "url": incident["url"]})
    if data.get("acknowledge_url"):
        actions.append(
            {"type": "Action.OpenUrl", "title": "Acknowledge", "url": data["acknowledge_url"], "style": "positive"}
        )
    content: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
    if actions:
        content["actions"] = actions
    return content


def payload(notification: Notification) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(notification)}],
    }


class TeamsTransport(Transport):
    kind = "teams"

    def notify(self, notification: Notification) -> None:
        """POST the card to the channel's Workflows URL. Returns None; raises TransportError."""
        post_json(notification.channel.target, payload(notification))
