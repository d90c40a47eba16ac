"""Generic webhook: the notification as JSON, signed.

Headers on every attempt of one notification:
- ``Idempotency-Key``: the notification's key (a UUID), the same on every retry, so a receiver
  can drop a repeat;
- ``X-Breachline-Timestamp``: Unix seconds of this attempt;
- ``X-Breachline-Signature``: ``sha256=<hex>``, HMAC-SHA256 with the channel's secret over
  ``<timestamp>.<body>``. Receivers recompute it, compare in constant time and refuse old
  timestamps (docs/api.md, "Webhooks").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from .base import Transport
from .http import post_json

if TYPE_CHECKING:
    from notifications.models import Notification


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def payload(notification: Notification) -> dict[str, Any]:
    """What a webhook receives: stable fields a SOAR can map."""
    return {
        "id": str(notification.key),
        "event": notification.reason,
        "created_at": notification.created_at.isoformat(),
        "subject": notification.subject,
        "text": notification.body,
        **{key: value for key, value in notification.data.items() if key != "event"},
    }


class WebhookTransport(Transport):
    kind = "webhook"

    def notify(self, notification: Notification) -> None:
        channel = notification.channel
        body = json.dumps(payload(notification), separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Idempotency-Key": str(notification.key),
            "X-Breachline-Timestamp": timestamp,
            "X-Breachline-Signature": signature(channel.secret, timestamp, body),
            "X-Breachline-Event": notification.reason,
        }
        post_json(channel.target, None, headers=headers, body=body)
