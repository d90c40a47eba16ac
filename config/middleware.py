"""Project-wide middleware: the 503 for a lost database, idle session expiry, Permissions-Policy.

A lost database is an outage, not a bug: answer 503 (JSON for the API, a static page for people).

Only connection-level errors count (``OperationalError``: cannot connect, server gone;
``InterfaceError``: the connection is already closed). An ``IntegrityError`` or a
``ProgrammingError`` is a bug and stays a 500.

Django wraps every layer of the middleware stack in ``convert_exception_to_response``, so an
exception never reaches an outer middleware's ``__call__``: it arrives as a finished 500. Hence
two hooks:

- ``process_exception`` sees what the view raised (including what DRF re-raises, and template
  rendering); that covers the session and user lookups, which are lazy and run when a view or
  template first reads ``request.user``.
- what a middleware raises (e.g. ``LoginRequiredMiddleware`` reading ``request.user`` in
  ``process_view``) reaches no ``process_exception``. Django turns it into a 500 and sends
  ``got_request_exception`` while handling it; the receiver below marks the request, and
  ``__call__``, outside every middleware that touches the database, swaps that 500 for the 503.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.base import SessionBase
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (OperationalError, InterfaceError)
# Long enough for a failover or a restart, short enough that a SIEM retrying loses little.
RETRY_AFTER_SECONDS = 30
API_PREFIX = "/api/"
API_MESSAGE = "Service temporarily unavailable: the database cannot be reached. Retry in a moment."
_MARK = "_breachline_database_unavailable"


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 that touches neither the database nor the session: JSON under /api/, else 503.html.

    The page is rendered without the request, so no context processor (user, messages) runs.
    """
    if request.path_info.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse({"detail": API_MESSAGE}, status=503)
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _mark_connection_failure(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Sent from inside Django's ``except`` block, so the exception is the one being handled.
    exc = sys.exc_info()[1]
    if request is not None and isinstance(exc, CONNECTION_ERRORS):
        setattr(request, _MARK, exc)


got_request_exception.connect(_mark_connection_failure, dispatch_uid="breachline-database-unavailable")


class DatabaseUnavailableMiddleware:
    """Place it before every middleware that may use the database (first after Security)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        exc = getattr(request, _MARK, None)
        if exc is not None and response.status_code == 500:
            # Django has already logged the traceback as a 500 ("Internal Server Error").
            logger.error("Database unavailable (%s), answered 503: %s", type(exc).__name__, request.path)
            return service_unavailable(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, CONNECTION_ERRORS):
            return None
        logger.error("Database unavailable, answered 503: %s", request.path, exc_info=exception)
        return service_unavailable(request)


# When the session last saw its user (epoch seconds). Written at most every TOUCH_SECONDS, so an
# active login costs one session write a minute, not one per request; the price is that a
# session may end up to TOUCH_SECONDS before SESSION_IDLE_TIMEOUT has fully passed, never after.
LAST_ACTIVITY = "_breachline_last_activity"
TOUCH_SECONDS = 60


class SessionIdleTimeoutMiddleware:
    """End a login unused for ``SESSION_IDLE_TIMEOUT`` seconds; cap it at ``SESSION_COOKIE_AGE``.

    Place it right after ``AuthenticationMiddleware``: a session found idle is logged out
    (flushed, ``user_logged_out`` sent) before anything else reads ``request.user``, so the
    request goes on as anonymous (a page redirects to log in; an htmx poll gets HX-Redirect).

    Requests to ``SESSION_IDLE_PASSIVE_VIEWS`` (the live polls and the bell, which a page sends on
    its own every few seconds) are not activity: a tab left open does not keep its login alive.

    The clock starts at login (``start_idle_clock``, on ``user_logged_in``), which also pins the
    session's expiry to login + ``SESSION_COOKIE_AGE``: Django would otherwise push the expiry
    back whenever the session is saved, and the activity writes here would make that forever.
    A login from before this middleware (no clock yet) is started on its next request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now = int(time.time())
        # Reading the session needs the database. If it is unreachable, let the view meet that:
        # there DatabaseUnavailableMiddleware.process_exception answers 503; raised here, it
        # would be an unhandled error first (logged as a 500, re-raised by the test client).
        with suppress(*CONNECTION_ERRORS):
            last = request.session.get(LAST_ACTIVITY)
            if last is not None and SESSION_KEY in request.session and now - last >= settings.SESSION_IDLE_TIMEOUT:
                logout(request)
        response = self.get_response(request)
        if response.status_code < 500 and SESSION_KEY in request.session:
            last = request.session.get(LAST_ACTIVITY)
            if last is None:
                _start(request.session, now)
            elif now - last >= TOUCH_SECONDS and not _is_passive(request):
                request.session[LAST_ACTIVITY] = now
        return response


def _start(session: SessionBase, now: int) -> None:
    session.set_expiry(timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE))
    session[LAST_ACTIVITY] = now


def start_idle_clock(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: the idle clock and the absolute expiry start at login, in the
    session write the login makes anyway (so the first request after it writes nothing)."""
    if request is not None and hasattr(request, "session"):
        _start(request.session, int(time.time()))


# Connected when this module is imported: when Django loads the middleware (at start-up under
# WSGI; on the test client's first request) or from an app's ready(). A login before that (the
# test client's force_login in a fresh process) has its clock started on its next request.
user_logged_in.connect(start_idle_clock, dispatch_uid="breachline-session-idle-clock")


def _is_passive(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name in settings.SESSION_IDLE_PASSIVE_VIEWS


class PermissionsPolicyMiddleware:
    """Send ``Permissions-Policy: <PERMISSIONS_POLICY>`` on every response that has none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
