"""How Breachline slows down guessing and flooding: login lockout (django-axes) and API rate limits.

- ``client_ip``: the client's address behind ``TRUSTED_PROXY_COUNT`` proxies; what lockout counts by.
- ``LoginLockoutHandler``: axes' database handler, except that a successful login forgives only
  the failures it explains (that account, from that address).
- ``lockout_response``: the 429 a locked-out login gets instead of the form.
- ``APIRateThrottle``: ``API_RATE_LIMIT`` requests per API key, or per user on a session.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .models import APIKey

LOCKOUT_TEMPLATE = "registration/lockout.html"


def client_ip(request: HttpRequest) -> str | None:
    """The address the outermost trusted proxy saw: the ``TRUSTED_PROXY_COUNT``-th entry from the
    right of X-Forwarded-For (each proxy appends the address it received from), else REMOTE_ADDR.

    With 0 proxies the header is ignored: anyone can send one, and an address the client picks
    would let it dodge the per-address lockout. The same rule as DRF's ``NUM_PROXIES``.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [address.strip() for address in forwarded.split(",") if address.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR") or None


class LoginLockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a narrower reset on success.

    Axes would delete every failure matching any lockout parameter: all failures from the
    address, against any account. Someone with an account of their own could then guess at
    another's password four times, log in as themselves, and start again. Here a success clears
    only the failures of that account from that address (the owner's typos); the rest age out
    with the cool-off.
    """

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).delete()
        return count


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """429 with the lockout page and Retry-After (the cool-off, in seconds).

    Every attempt during a lockout restarts the cool-off (axes' default), so the full cool-off
    is the honest wait from this attempt.
    """
    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else None
    response = render(
        request,
        LOCKOUT_TEMPLATE,
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "cool_off_minutes": minutes},
        status=429,
    )
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


class APIRateThrottle(SimpleRateThrottle):
    """``API_RATE_LIMIT`` requests per API key (by its public prefix), or per user when the API is
    used with a session. Unauthenticated requests are refused (401) before throttles run, so they
    are not counted here. Counted in the default cache (Redis when ``CACHE_URL`` is set, so all
    workers share one count); the rate is read per request, so a deployment or a test may change it.
    """

    scope = "api"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, APIKey):
            return f"throttle:api:key:{request.auth.prefix}"
        if request.user and request.user.is_authenticated:
            return f"throttle:api:user:{request.user.pk}"
        return None
