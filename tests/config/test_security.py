"""Security settings and middleware: idle session expiry (config/middleware.py), CSP and the other
headers, API throttling per key (accounts/throttles.py), and a clean ``check --deploy``."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from config.middleware import LAST_ACTIVITY

ROOT = Path(__file__).resolve().parents[2]
HOME = "/"
BELL = "/notifications/bell/"
INCIDENTS_API = "/api/v1/incidents/"

CSP_DIRECTIVES = [
    "default-src 'self'",
    "script-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), usb=()"
)


# --- Idle session expiry --------------------------------------------------------------------
def _idle_for(client: Client, seconds: int) -> None:
    """Time travel: make the session's last recorded activity ``seconds`` ago."""
    session = client.session
    session[LAST_ACTIVITY] = int(time.time()) - seconds
    session.save()


@pytest.fixture
def signed_in(client, responder) -> Client:
    client.force_login(responder)
    assert client.get(HOME).status_code == 200  # the first request starts the idle clock
    return client


def test_a_session_idle_for_29_minutes_lives_and_is_touched(signed_in):
    _idle_for(signed_in, 29 * 60)
    assert signed_in.get(HOME).status_code == 200
    assert int(time.time()) - signed_in.session[LAST_ACTIVITY] < 5


def test_a_session_idle_for_31_minutes_is_ended(signed_in):
    _idle_for(signed_in, 31 * 60)
    response = signed_in.get(HOME)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert SESSION_KEY not in signed_in.session
    # Ended, not paused: coming back does not restore it.
    assert signed_in.get(HOME).status_code == 302


def test_the_idle_timeout_is_a_setting(signed_in, settings):
    settings.SESSION_IDLE_TIMEOUT = 5 * 60
    _idle_for(signed_in, 6 * 60)
    assert signed_in.get(HOME).status_code == 302


def test_live_polls_do_not_keep_a_session_alive(signed_in):
    _idle_for(signed_in, 29 * 60)
    before = signed_in.session[LAST_ACTIVITY]
    assert signed_in.get(BELL, HTTP_HX_REQUEST="true").status_code == 200  # answered...
    assert signed_in.session[LAST_ACTIVITY] == before  # ...but not counted as activity
    _idle_for(signed_in, 31 * 60)
    # The bell's own answer to a signed-out session: 204, the page stays as it is.
    assert signed_in.get(BELL, HTTP_HX_REQUEST="true").status_code == 204
    assert SESSION_KEY not in signed_in.session


def test_activity_within_a_minute_is_not_written_again(signed_in):
    _idle_for(signed_in, 30)
    before = signed_in.session[LAST_ACTIVITY]
    signed_in.get(HOME)
    assert signed_in.session[LAST_ACTIVITY] == before


def test_activity_does_not_stretch_the_absolute_lifetime(signed_in):
    # Pinned at the first request: login + SESSION_COOKIE_AGE (12 hours).
    pinned = signed_in.session.get_expiry_date()
    assert abs(pinned - (timezone.now() + timedelta(hours=12))) < timedelta(seconds=30)
    _idle_for(signed_in, 10 * 60)
    signed_in.get(HOME)  # activity: LAST_ACTIVITY written, the session saved
    assert signed_in.session.get_expiry_date() == pinned


# --- Headers --------------------------------------------------------------------------------
def test_development_reports_the_policy_without_enforcing_it(client, db):
    response = client.get("/accounts/login/")
    assert "Content-Security-Policy" not in response
    for directive in CSP_DIRECTIVES:
        assert directive in response["Content-Security-Policy-Report-Only"]


def test_the_enforced_policy_production_sends(client, db, settings):
    # What config/settings.py does with DJANGO_ENV=production (the subprocess test below checks
    # that it does): the same policy, enforced.
    settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = None
    response = client.get("/accounts/login/")
    policy = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    for directive in CSP_DIRECTIVES:
        assert directive in policy
    # style-src: ours, plus the one inline <style> of each standalone error page, by hash.
    style = next(part for part in policy if part.startswith("style-src "))
    assert style.startswith("style-src 'self' 'sha256-")
    assert style.count("'sha256-") == 2
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "Content-Security-Policy-Report-Only" not in response


def test_the_error_page_styles_are_the_ones_allowed(client, db, settings):
    import base64
    import hashlib
    import re

    from config.middleware import service_unavailable

    settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    html = service_unavailable(Client().get("/").wsgi_request).content.decode()
    style = re.search(r"<style>(.*?)</style>", html, re.S)[1]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy


def test_other_security_headers(client, db):
    response = client.get("/accounts/login/")
    assert response["Permissions-Policy"] == PERMISSIONS_POLICY
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


# --- API throttling -------------------------------------------------------------------------
@pytest.fixture
def three_a_minute(settings):
    settings.API_RATE_LIMIT = "3/min"
    cache.clear()
    yield
    cache.clear()


def test_a_key_over_the_api_rate_gets_429_with_retry_after(three_a_minute, api_key, responder):
    raw = api_key("incidents:read", user=responder)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert [client.get(INCIDENTS_API).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get(INCIDENTS_API)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    # Per key: another key of the same user has its own count.
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key('incidents:read', user=responder, name='other')}")
    assert other.get(INCIDENTS_API).status_code == 200


def test_session_use_of_the_api_is_counted_per_user(three_a_minute, client, responder, outsider):
    client.force_login(responder)
    assert [client.get(INCIDENTS_API).status_code for _ in range(4)] == [200, 200, 200, 429]
    someone_else = Client()
    someone_else.force_login(outsider)
    assert someone_else.get(INCIDENTS_API).status_code == 200


def test_alert_intake_keeps_its_own_rate(three_a_minute, api_key, settings):
    # AlertRateThrottle (INTAKE_RATE_LIMIT) replaces the API rate on the intake views.
    settings.INTAKE_RATE_LIMIT = "600/min"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key('alerts:write')}")
    alert = {"title": "Impossible travel for j.doe", "severity": "low", "observed_at": "2026-03-02T10:00:00Z"}
    statuses = [
        client.post("/api/v1/alerts/", {**alert, "source_ref": f"det-{n}"}, format="json").status_code for n in range(5)
    ]
    assert statuses == [201, 201, 201, 201, 201]


# --- Production -----------------------------------------------------------------------------
def _production(*args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_ENV"}}
    env = {
        **clean,
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "x.example",
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production():
    result = _production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


PROBE = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/healthz", secure=True, HTTP_HOST="x.example")
print(json.dumps({name: response.get(name) for name in [
    "Content-Security-Policy", "Content-Security-Policy-Report-Only", "Permissions-Policy",
    "Cross-Origin-Opener-Policy", "Strict-Transport-Security"]}))
"""


def test_production_enforces_the_policy():
    result = _production("-c", PROBE)
    assert result.returncode == 0, result.stderr
    headers = json.loads(result.stdout.strip().splitlines()[-1])
    assert headers["Content-Security-Policy-Report-Only"] is None
    for directive in CSP_DIRECTIVES:
        assert directive in headers["Content-Security-Policy"]
    assert headers["Permissions-Policy"] == PERMISSIONS_POLICY
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


# --- make lint's dependency audit (config/audit_dependencies.py) ------------------------------
def _report(*dependencies: dict) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def test_the_audit_fails_on_a_known_vulnerability():
    from config.audit_dependencies import verdict

    stdout = _report(
        {"name": "django", "version": "5.2.0", "vulns": [{"id": "PYSEC-2025-1", "fix_versions": ["5.2.1"]}]},
        {"name": "celery", "skip_reason": "Dependency not found on PyPI and could not be audited: celery (5.7.0)"},
    )
    assert verdict(1, stdout, "") == (
        1,
        "pip-audit: known vulnerabilities:\n  django 5.2.0: PYSEC-2025-1 (fixed in 5.2.1)",
    )


def test_the_audit_says_it_could_not_check_when_offline_and_passes():
    from config.audit_dependencies import verdict

    skipped = "Dependency not found on PyPI and could not be audited: {} (1.0)"
    stdout = _report({"name": "django", "skip_reason": skipped.format("django")}, {"name": "nh3", "skip_reason": "x"})
    status, message = verdict(0, stdout, "No known vulnerabilities found")
    assert status == 0
    assert message.startswith("pip-audit: could not check any of 2 dependencies")
    # pip itself could not reach the index: no report at all.
    assert verdict(1, "", "ERROR: Max retries exceeded with url: /simple/django/") == (
        0,
        "pip-audit: could not check dependencies: the package index or the vulnerability service is down",
    )


def test_the_audit_passes_clean_dependencies_and_shows_other_failures():
    from config.audit_dependencies import verdict

    clean = _report({"name": "django", "version": "5.2.19", "vulns": []})
    assert verdict(0, clean, "") == (0, "pip-audit: no known vulnerabilities in 1 dependencies")
    assert verdict(1, "", "Invalid requirement: 'djang0=='") == (
        2,
        "pip-audit failed (exit 1):\nInvalid requirement: 'djang0=='",
    )
