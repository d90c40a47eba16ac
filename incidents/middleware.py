"""Send people who meet the login page in the middle of their work back to what they were doing.

Django's ``login_required`` answers a 302 to ``LOGIN_URL?next=<this request's path>``. Two kinds
of request cannot simply follow that:

- **htmx requests**: the XMLHttpRequest would follow the redirect and swap the login page into a
  panel of the incident page. They get ``HX-Redirect`` instead (django-htmx's
  ``HttpResponseClientRedirect``, 200, empty body), so the browser goes to the login page, and
  ``next`` is the page the person is on (``HX-Current-URL``), not the endpoint they posted to.
  static/js/app.js keeps what they typed (drafts in sessionStorage) and puts it back afterwards.
- **form posts** (the edit page, a transition button): ``next`` would be a POST-only URL (a 405
  after logging in), so it becomes the page the form was on (``Referer``).

Only same-origin pages are used as ``next``; otherwise Django's answer is left as it is.
Install after ``django.contrib.sessions`` (anywhere: it only reads the response).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _is_login_redirect(response: HttpResponse) -> bool:
    if response.status_code not in _REDIRECTS:
        return False
    return urlsplit(response.get("Location", "")).path == urlsplit(resolve_url(settings.LOGIN_URL)).path


def _page_of(request: HttpRequest, url: str | None) -> str | None:
    """The path and query of ``url`` if it is a page of this site (not the login page itself)."""
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(url)
    if not parts.path.startswith("/") or parts.path == urlsplit(resolve_url(settings.LOGIN_URL)).path:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


class LoginRedirectMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_htmx = request.headers.get("HX-Request") == "true"
        if not (is_htmx or request.method not in ("GET", "HEAD")) or not _is_login_redirect(response):
            return response
        back = _page_of(request, request.headers.get("HX-Current-URL") if is_htmx else request.headers.get("Referer"))
        login = resolve_url(settings.LOGIN_URL)
        if is_htmx:
            # Without a page to return to, the login page alone: the endpoint itself takes POSTs only.
            return HttpResponseClientRedirect(f"{login}?{urlencode({REDIRECT_FIELD_NAME: back})}" if back else login)
        if back:
            response["Location"] = f"{login}?{urlencode({REDIRECT_FIELD_NAME: back})}"
        return response
