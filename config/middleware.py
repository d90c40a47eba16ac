"""A lost database is an outage, not a bug: answer 503 (JSON for the API, a static page for people).

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
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

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
