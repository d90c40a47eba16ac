"""The contract every transport keeps (healthchecks.io's shape).

``Transport.notify(notification)`` sends one message and returns None on success; it raises
``TransportError(message, permanent=...)`` otherwise. The caller (``services.notification_deliver``)
records the outcome on the Notification row: a permanent error (a 4xx that will never succeed,
a malformed address) fails it at once, any other is retried with backoff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from notifications.models import Notification


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Transport:
    """One subclass per ``notifications.models.Transport`` value, registered in ``TRANSPORTS``."""

    kind: ClassVar[str]

    def notify(self, notification: Notification) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
