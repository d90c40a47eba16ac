"""In-app: the Notification row is the message (the bell and ``/notifications/`` read it), so
there is nothing to send; rows are written delivered (``services._row``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Transport

if TYPE_CHECKING:
    from notifications.models import Notification


class InAppTransport(Transport):
    kind = "in_app"

    def notify(self, notification: Notification) -> None:
        return None
