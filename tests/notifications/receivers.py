"""Real receivers on 127.0.0.1 for notification tests: an HTTP endpoint and an SMTP sink.

Only the network outside this machine is faked: these are real servers, the transports talk to
them over real sockets. Both are context managers that start on a free port and stop on exit.

    with http_receiver(statuses=[500, 200]) as rx:
        channel.target = rx.url              # http://127.0.0.1:<port>/hook
        ...                                  # deliver
        rx.requests[0].headers["Idempotency-Key"], rx.requests[0].json()

    with smtp_sink(refuse={"gone@example.com": "550 5.1.1 No such user"}) as smtp:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        ...
        smtp.messages[0].rcpt_tos, smtp.messages[0].message["Subject"]

``escalation_page(...)`` writes real rows to deliver: an incident paged through a one-step policy.

For deliveries that happen in another process (a Celery worker), ``rx.wait_for(n)`` and
``smtp.wait_for(n)`` block until ``n`` requests or messages have arrived (or fail after a timeout).
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller

from incidents.models import Severity

if TYPE_CHECKING:
    from accounts.models import User
    from incidents.models import Incident
    from notifications.models import Channel

HOST = "127.0.0.1"


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now): for "connection refused"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as it arrived. ``headers`` keeps the sender's names; ``header()`` looks one up
    case-insensitively."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A running receiver. ``requests`` fills as requests arrive (in arrival order)."""

    url: str
    port: int
    requests: list[ReceivedRequest] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        _wait(lambda: len(self.requests) >= count, timeout, f"{count} HTTP request(s) at {self.url}")
        return list(self.requests)

    def keys(self) -> list[str | None]:
        """The ``Idempotency-Key`` of every request so far, in arrival order (None where absent)."""
        return [request.header("Idempotency-Key") for request in list(self.requests)]


Response = int | tuple[int, str]


def _scripted(responses: Iterable[Response]) -> list[tuple[int, str]]:
    script = [(item, "") if isinstance(item, int) else (item[0], item[1]) for item in responses]
    if not script:
        raise ValueError("statuses: give at least one status")
    return script


@contextmanager
def http_receiver(
    statuses: Iterable[Response] = (200,), *, delay: float = 0.0, path: str = "/hook"
) -> Iterator[HttpReceiver]:
    """An HTTP server on 127.0.0.1 (a free port) recording every request and answering from a script.

    ``statuses``: one answer per request, in order; each is a status (empty body) or a
    ``(status, body)`` pair (Slack's ``(410, "channel_is_archived")``). Once the script runs out
    the last answer repeats. ``delay``: seconds to wait before answering every request (to make a
    client time out); cut short when the receiver stops. ``path`` is what ``rx.url`` points at;
    the receiver answers on any path and records it.
    """
    script = _scripted(statuses)
    lock = threading.Lock()
    stopping = threading.Event()
    answered = 0
    receiver: HttpReceiver

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            nonlocal answered
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                status, text = script[min(answered, len(script) - 1)]
                answered += 1
                # Recorded before the delay: a client that times out was still seen.
                receiver.requests.append(
                    ReceivedRequest(self.command, self.path, dict(self.headers.items()), body, status)
                )
            if delay:
                stopping.wait(delay)
            payload = text.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a timeout test)

        do_POST = do_GET = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    receiver = HttpReceiver(url=f"http://{HOST}:{port}{path}", port=port)
    thread = threading.Thread(target=server.serve_forever, name=f"http-receiver-{port}", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: the envelope and the parsed message (``email.policy.default``)."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    message: email.message.EmailMessage


@dataclass
class SmtpSink:
    """A running sink. ``refuse`` and ``refuse_senders`` map addresses (any case) to the reply
    given at RCPT TO / MAIL FROM; they may be changed while it runs (refuse, then accept)."""

    port: int
    refuse: dict[str, str] = field(default_factory=dict)
    refuse_senders: dict[str, str] = field(default_factory=dict)
    messages: list[ReceivedMail] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # addresses answered with a refusal, in order

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        _wait(lambda: len(self.messages) >= count, timeout, f"{count} e-mail(s) on port {self.port}")
        return list(self.messages)


def _refusal(table: dict[str, str], address: str) -> str | None:
    wanted = address.lower()
    return next((reply for key, reply in table.items() if key.lower() == wanted), None)


class _Handler:
    """aiosmtpd handler: refuses the sink's listed senders and recipients, records accepted messages."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address: str, mail_options) -> str:
        reply = _refusal(self.sink.refuse_senders, address)
        if reply is not None:
            self.sink.refused.append(address)
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        reply = _refusal(self.sink.refuse, address)
        if reply is not None:
            self.sink.refused.append(address)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or envelope.content
        self.sink.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=content,
                message=email.message_from_bytes(content, policy=email.policy.default),
            )
        )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink(
    refuse: dict[str, str] | None = None, *, refuse_senders: dict[str, str] | None = None
) -> Iterator[SmtpSink]:
    """An SMTP server (aiosmtpd) on 127.0.0.1, a free port, recording every accepted message.

    ``refuse`` maps recipient addresses to the reply given at RCPT TO, e.g.
    ``{"gone@example.com": "550 5.1.1 No such user"}`` (permanent) or ``"450 4.2.1 Try later"``;
    ``refuse_senders`` likewise at MAIL FROM.
    """
    sink = SmtpSink(port=unused_port(), refuse=dict(refuse or {}), refuse_senders=dict(refuse_senders or {}))
    controller = Controller(_Handler(sink), hostname=HOST, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --- Something to deliver ---------------------------------------------------------------------


def escalation_page(
    *,
    opened_by: User,
    channels: Iterable[Channel] = (),
    users: Iterable[User] = (),
    include_lead: bool = False,
    policy_name: str = "Default paging",
    **incident_fields: Any,
) -> Incident:
    """Open an incident under a one-step policy (no delay) paging ``channels`` and ``users``, and
    run the sweep: the Notification rows are written, queued, as production writes them. Nothing
    is sent (in tests ``on_commit`` does not fire): call ``notification_deliver`` yourself."""
    from notifications import services
    from notifications.models import EscalationPolicy, EscalationStep

    from ..factories import make_incident

    severity = incident_fields.setdefault("severity", Severity.HIGH)
    policy = EscalationPolicy.objects.create(name=policy_name, severities=[severity])
    step = EscalationStep.objects.create(policy=policy, position=1, include_lead=include_lead)
    step.channels.set(channels)
    step.users.set(users)
    incident = make_incident(opened_by=opened_by, **incident_fields)
    services.sweep()
    return incident
