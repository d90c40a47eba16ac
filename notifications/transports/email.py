"""Placeholder: being written."""

from __future__ import annotations

from .base import Transport, TransportError


class EmailTransport(Transport):
    kind = "email"

    def notify(self, notification) -> None:
        raise TransportError("not written yet", permanent=True)
