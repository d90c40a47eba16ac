"""Second factor before anything else, for the people who must use one.

After the password, a signed-in person whose session has not passed its second factor
(``request.user.is_verified()``, from django-otp's ``OTPMiddleware``, installed before this) is:

- sent to **verify** (a TOTP or recovery code) if they have a confirmed device, whatever their
  role: a second factor someone chose to set up is always asked for;
- sent to **enrol** if their role requires one (``accounts.mfa.second_factor_required``: admins,
  incident leads, vendor collaborators) and they have none;
- otherwise let through, with a one-per-session message suggesting they set one up.

"Sent" is a 302 to the page with ``next``; an htmx request gets ``HX-Redirect`` instead (a 200
django-htmx's client redirect), so the page is not swapped into a panel; an API call is a 403
JSON body. Requests carrying an API key (``Authorization: Api-Key …``) are never touched: keys
are the machine path and carry no session. Exempt: the login, logout, second-factor and
invitation pages, static files and the health probes.

``MFA_ENFORCED=False`` turns all of this off (the test suite's personas log in with
``force_login`` or the password alone); it must never be False in production.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.html import format_html
from django_htmx.http import HttpResponseClientRedirect

from . import mfa
from .authentication import KEYWORD as API_KEY_KEYWORD

# URL names reachable before the second factor (accounts/urls.py, config/urls.py).
EXEMPT_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "mfa-enrol",
        "mfa-verify",
        "mfa-recovery-codes",
        "invitation-accept",
        "healthz",
        "readyz",
    }
)
PROMPTED_SESSION_KEY = "mfa_prompted"


class SecondFactorRequiredMiddleware:
    """Install after ``django_otp.middleware.OTPMiddleware``. Works in ``process_view`` so the
    URL is resolved (exemptions by name) and the messages middleware has run (the prompt)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if not mfa.enforced():
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return None
        if _carries_api_key(request) or _exempt(request):
            return None
        # A "not enrolled" is remembered in the session for a few minutes: an optional role's
        # ordinary page costs no device query (mfa.session_has_second_factor).
        if mfa.session_has_second_factor(request):
            return _send_to(request, "mfa-verify", "Enter the code from your authenticator app to continue.")
        if mfa.second_factor_required(user):
            return _send_to(request, "mfa-enrol", "Your role requires a second factor: set up an authenticator app.")
        _prompt_once(request)
        return None


def _carries_api_key(request: HttpRequest) -> bool:
    keyword, _, _ = request.headers.get("Authorization", "").partition(" ")
    return keyword.lower() == API_KEY_KEYWORD.lower()


def _exempt(request: HttpRequest) -> bool:
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return True
    match = request.resolver_match
    return match is not None and match.url_name in EXEMPT_URL_NAMES


def _on_exempt_page(request: HttpRequest) -> bool:
    """Whether the page an htmx request comes from (``HX-Current-URL``) is exempt itself."""
    try:
        match = resolve(urlsplit(request.headers.get("HX-Current-URL", "")).path or "/")
    except Resolver404:
        return False
    return match.url_name in EXEMPT_URL_NAMES


def _is_api(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.namespace == "api"


def _send_to(request: HttpRequest, url_name: str, reason: str) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": f"{reason} (second factor not verified in this session)"}, status=403)
    target = reverse(url_name)
    if request.headers.get("HX-Request") == "true":
        if _on_exempt_page(request):
            # A panel of the enrol or verify page itself (the bell, loaded on every page):
            # redirecting would reload that page, and its bell again, for ever. A 204 carries
            # nothing, and htmx swaps nothing and shows no error for it.
            return HttpResponse(status=204)
        # The page the person is on goes, not the panel endpoint the htmx request hit.
        return HttpResponseClientRedirect(target)
    if request.method in ("GET", "HEAD"):
        target = f"{target}?{urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})}"
    return HttpResponseRedirect(target)


def _prompt_once(request: HttpRequest) -> None:
    """Suggest enrolment once per session, on a page (not a panel or a poll)."""
    if request.method != "GET" or request.headers.get("HX-Request") == "true" or _is_api(request):
        return
    if request.session.get(PROMPTED_SESSION_KEY):
        return
    request.session[PROMPTED_SESSION_KEY] = True
    messages.info(
        request,
        format_html(
            'Protect your account with a second factor: <a href="{}">set up an authenticator app</a>.',
            reverse("mfa-enrol"),
        ),
        extra_tags="mfa-prompt",
    )
