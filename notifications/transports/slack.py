"""Slack incoming webhook: a Block Kit message.

Layout (https://api.slack.com/reference/block-kit/blocks):
- ``text``: the subject, the fallback shown in notifications and by clients without blocks;
- a header block (plain text, at most 150 characters);
- for an incident: a section with its title and fields (reference, severity, status), a section with the
  detail when there is one, and an actions block with an "Open incident" button and, on pages
  that ask for it, an "Acknowledge" button (the link opens a confirmation page);
- for a message about no incident (a channel test): a section with the text.

Slack answers 200 ``ok``; its errors are a status with a short text body (``invalid_payload``
400, ``no_service`` 404, ``channel_is_archived`` 410, rate limits 429). ``post_json`` classifies
them by status (4xx permanent, 429 and 5xx transient) and keeps the body in the message, so the
Notification's ``last_error`` reads e.g. ``HTTP 410: channel_is_archived``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from incidents.models import Severity, Status

from .base import Transport
from .http import post_json

if TYPE_CHECKING:
    from notifications.models import Notification

HEADER_MAX = 150  # Slack rejects a longer header text (invalid_blocks).
SECTION_MAX = 3000  # Likewise for a section's text.
SUBJECT_PREFIX = "[Breachline] "


def mrkdwn_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives meaning to (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def choice_label(choices: type[Severity] | type[Status], value: str) -> str:
    """The label of a severity or status value ("high" → "High"); an unknown value as it is."""
    return choices(value).label if value in choices.values else value


def headline(notification: Notification) -> str:
    """The subject without the product prefix: "HIGH INC-2025-0001: needs acknowledgement"."""
    return notification.subject.removeprefix(SUBJECT_PREFIX)


def blocks(notification: Notification) -> list[dict[str, Any]]:
    """The Block Kit blocks for ``notification`` (see the module docstring)."""
    data = notification.data
    incident = data.get("incident")
    result: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(headline(notification), HEADER_MAX)}}
    ]
    if incident:
        fields = [
            ("Reference", incident.get("reference", "")),
            ("Severity", choice_label(Severity, incident.get("severity", ""))),
            ("Status", choice_label(Status, incident.get("status", ""))),
        ]
        section: dict[str, Any] = {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{mrkdwn_escape(value)}"} for name, value in fields],
        }
        if incident.get("title"):
            # "(restricted incident)" for a restricted one: services._message hides it from channels.
            section["text"] = {"type": "mrkdwn", "text": _clip(mrkdwn_escape(incident["title"]), SECTION_MAX)}
        result.append(section)
        if data.get("detail"):
            text = _clip(mrkdwn_escape(data["detail"]), SECTION_MAX)
            result.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    else:
        text = _clip(mrkdwn_escape(notification.body), SECTION_MAX)
        result.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    buttons: list[dict[str, Any]] = []
    if incident and incident.get("url"):
        buttons.append(
            {
                "type": "button",
                "action_id": "open_incident",
                "text": {"type": "plain_text", "text": "Open incident"},
                "url": incident["url"],
            }
        )
    if data.get("acknowledge_url"):
        buttons.append(
            {
                "type": "button",
                "action_id": "acknowledge",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": data["acknowledge_url"],
                "style": "primary",
            }
        )
    if buttons:
        # Slack refuses an actions block without elements, hence only when there is a button.
        result.append({"type": "actions", "elements": buttons})
    return result


def payload(notification: Notification) -> dict[str, Any]:
    return {"text": notification.subject, "blocks": blocks(notification)}


class SlackTransport(Transport):
    kind = "slack"

    def notify(self, notification: Notification) -> None:
        """POST the message to the channel's webhook URL. Returns None; raises TransportError."""
        post_json(notification.channel.target, payload(notification))
