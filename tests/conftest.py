"""Shared fixtures: named personas, incidents they can and cannot see, API clients, and the
gates for tests that need the real stack (PostgreSQL, Redis, Chromium).

Outside CI a missing service skips its tests with a one-line reason; with CI=true it fails them,
so CI always proves the real stack.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Role, User
from accounts.services import api_key_create
from incidents import services
from incidents.models import Incident, MemberRole, Severity

from .factories import UserFactory, make_incident

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def require(available: bool, reason: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires the real stack)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def postgres(db) -> None:
    from django.db import connection

    require(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://…")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = settings.CELERY_BROKER_URL
    require(url.startswith("redis://"), "needs Redis: set CELERY_BROKER_URL=redis://…")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require(False, f"Redis at {url} is not reachable: {exc}")
    return url


@pytest.fixture(scope="session")
def chromium() -> str:
    require(shutil.which(CHROMIUM) is not None, f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


# --- Personas -------------------------------------------------------------------------------
@pytest.fixture
def admin(db) -> User:
    return UserFactory(username="ada", role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def lead(db) -> User:
    return UserFactory(username="lena", role=Role.LEAD)


@pytest.fixture
def responder(db) -> User:
    return UserFactory(username="ravi", role=Role.RESPONDER)


@pytest.fixture
def executive(db) -> User:
    return UserFactory(username="erin", role=Role.EXECUTIVE)


@pytest.fixture
def outsider(db) -> User:
    """A responder who is on no incident: sees unrestricted ones only."""
    return UserFactory(username="otto", role=Role.RESPONDER)


@pytest.fixture
def vendor(db) -> User:
    return UserFactory(username="victor", role=Role.VENDOR)


@pytest.fixture
def incident(lead: User) -> Incident:
    return make_incident(opened_by=lead, lead=lead, title="Phishing wave against finance", severity=Severity.MEDIUM)


@pytest.fixture
def restricted_incident(lead: User, responder: User, vendor: User) -> Incident:
    """Need-to-know: lead, responder and the invited vendor (a contributor: responder membership)
    are members; nobody else may see it."""
    incident = make_incident(
        opened_by=lead,
        lead=lead,
        title="Internal AI model exfiltrated via contractor",
        summary="Secret details: model weights pulled with a contractor token.",
        restricted=True,
        severity=Severity.CRITICAL,
    )
    services.member_add(incident=incident, user=responder, actor=lead)
    services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)
    return incident


# --- Clients --------------------------------------------------------------------------------
@pytest.fixture
def api_key(db) -> Callable[..., str]:
    """Make a key: ``api_key("incidents:read", user=lead)`` returns the raw key."""

    def make(*scopes: str, user: User | None = None, name: str = "siem", **kwargs) -> str:
        _, raw = api_key_create(name=name, scopes=list(scopes), user=user, **kwargs)
        return raw

    return make


@pytest.fixture
def api(api_key) -> Callable[..., APIClient]:
    """An API client authenticated with a fresh key holding ``scopes``."""

    def make(*scopes: str, user: User | None = None) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key(*scopes, user=user)}")
        return client

    return make


@pytest.fixture
def login(client) -> Callable[[User], object]:
    def log_in(user: User):
        client.force_login(user)
        return client

    return log_in


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's deliberate slowness buys nothing in tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def evidence_root(settings) -> Iterator[Path]:
    """Every test keeps evidence in a directory of its own, removed afterwards (so large test
    files never pile up, and the development ``var/evidence`` is never touched): ``store/`` is
    the evidence storage, ``tmp/`` where uploads stream to (``FILE_UPLOAD_TEMP_DIR``)."""
    root = Path(tempfile.mkdtemp(prefix="breachline-evidence-"))
    (root / "tmp").mkdir()
    evidence = settings.STORAGES["evidence"]
    options = {**evidence.get("OPTIONS", {}), "location": root / "store"}
    settings.STORAGES = {**settings.STORAGES, "evidence": {**evidence, "OPTIONS": options}}
    settings.FILE_UPLOAD_TEMP_DIR = str(root / "tmp")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def builtin_rows(django_db_blocker) -> None:
    """The rows data migrations write (the built-in regulatory regimes, the default SLA targets),
    written again if missing: a transactional test (live_server, real workers) flushes every
    table when it ends, migration data included, and pytest-django runs those tests last, so a
    later one finds none. serialized_rollback would restore them but clashes with the content
    types the flush re-creates. Both loaders skip what exists."""
    from django.apps import apps

    with django_db_blocker.unblock():
        importlib.import_module("incidents.migrations.0016_builtin_regimes").create(apps, None)
        importlib.import_module("notifications.migrations.0002_default_sla_targets").create(apps, None)


@pytest.fixture(autouse=True)
def _second_factor_not_enforced(settings) -> None:
    """The personas log in with force_login or the password form alone; the second-factor tests
    (tests/accounts/test_mfa.py, test_invitations.py, e2e/test_collaborator_browser.py) turn
    MFA_ENFORCED back on in a fixture of their own."""
    settings.MFA_ENFORCED = False
