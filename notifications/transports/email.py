"""E-mail through Django's mail API (``EMAIL_BACKEND``; SMTP in production).

Who gets it: the person for a person's notification (``transport="email"``, ``user`` set), the
address in ``channel.target`` for an e-mail channel. Every attempt of one notification carries
the same ``Message-ID`` (``<key@breachline>``) and ``X-Breachline-Notification: <key>`` header,
so a mail system or a reader can recognise a repeat.

How SMTP errors are classified (``TransportError.permanent``):
- a refused recipient or sender, and any other 5xx reply: permanent (the server said no for good);
- the same with a 4xx reply (greylisting, a full mailbox, "try again later"): transient;
- connection refused, timeouts, a dropped connection: transient.
"""

from __future__ import annotations

import smtplib
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMessage, get_connection

from .base import Transport, TransportError

if TYPE_CHECKING:
    from notifications.models import Notification

MESSAGE_ID_DOMAIN = "breachline"


def message_id(notification: Notification) -> str:
    """The Message-ID of every attempt of ``notification``: stable, so a repeat is recognisable."""
    return f"<{notification.key}@{MESSAGE_ID_DOMAIN}>"


def recipient_address(notification: Notification) -> str:
    """The address ``notification`` goes to. Raises TransportError (permanent) when there is none."""
    if notification.channel is not None:
        address = notification.channel.target.strip()
    elif notification.user is not None:
        address = (notification.user.email or "").strip()
    else:
        address = ""
    if not address:
        who = notification.user.username if notification.user is not None else notification.recipient
        raise TransportError(f"{who} has no e-mail address.", permanent=True)
    return address


def body_text(notification: Notification) -> str:
    """The row's text, with the acknowledge link when it has one."""
    text = notification.body
    url = notification.data.get("acknowledge_url")
    if url:
        # Mail scanners open links: the link only shows a confirmation page; its button acknowledges.
        text += f"\n\nAcknowledge: {url}\n(The link opens a confirmation page; nothing happens until you confirm.)"
    return text


def _smtp_code_permanent(code: int) -> bool:
    return 500 <= code < 600


class EmailTransport(Transport):
    kind = "email"

    def notify(self, notification: Notification) -> None:
        """Send one e-mail. Returns None on success; raises TransportError otherwise."""
        address = recipient_address(notification)
        message = EmailMessage(
            subject=notification.subject,
            body=body_text(notification),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers={
                "Message-ID": message_id(notification),
                "X-Breachline-Notification": str(notification.key),
                # RFC 3834: no out-of-office replies to an automated page.
                "Auto-Submitted": "auto-generated",
            },
        )
        try:
            message.connection = get_connection(timeout=settings.NOTIFICATION_HTTP_TIMEOUT_SECONDS)
            sent = message.send()
        except (BadHeaderError, ValueError) as exc:
            # A newline in the subject, an address Python's e-mail package cannot encode: the same next time.
            raise TransportError(f"Malformed message: {exc}", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            # One recipient per message: the dict holds its (code, reply).
            replies = [f"{addr}: {code} {_text(reply)}" for addr, (code, reply) in exc.recipients.items()]
            codes = [code for code, _ in exc.recipients.values()]
            permanent = bool(codes) and all(_smtp_code_permanent(code) for code in codes)
            raise TransportError("SMTP recipient refused: " + "; ".join(replies), permanent=permanent) from None
        except smtplib.SMTPSenderRefused as exc:
            raise TransportError(
                f"SMTP sender {exc.sender} refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=_smtp_code_permanent(exc.smtp_code),
            ) from None
        except smtplib.SMTPConnectError as exc:
            # The server's greeting was not 220: it may be overloaded or restarting.
            raise TransportError(f"SMTP connection refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPResponseException as exc:
            raise TransportError(
                f"SMTP error {exc.smtp_code}: {_text(exc.smtp_error)}", permanent=_smtp_code_permanent(exc.smtp_code)
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise TransportError(f"SMTP server disconnected: {exc}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # SMTPException is an OSError too; TimeoutError is socket.timeout. All worth another try.
            raise TransportError(f"SMTP connection failed: {type(exc).__name__}: {exc}") from None
        if sent != 1:
            # A backend that reports nothing sent (fail_silently is off, so this is unexpected).
            raise TransportError("The mail backend sent nothing.")


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
