"""One transport class per kind (``notifications.models.Transport``); see ``base``."""

from __future__ import annotations

from .base import Transport, TransportError
from .email import EmailTransport
from .in_app import InAppTransport
from .slack import SlackTransport
from .teams import TeamsTransport
from .webhook import WebhookTransport

TRANSPORTS: dict[str, type[Transport]] = {
    cls.kind: cls for cls in (EmailTransport, WebhookTransport, SlackTransport, TeamsTransport, InAppTransport)
}


def transport_for(kind: str) -> Transport:
    """The transport for ``kind``; raises TransportError (permanent) for an unknown kind."""
    try:
        return TRANSPORTS[kind]()
    except KeyError:
        raise TransportError(f"No transport for {kind!r}.", permanent=True) from None


__all__ = ["TRANSPORTS", "Transport", "TransportError", "transport_for"]
