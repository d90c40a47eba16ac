"""An unreachable database is a 503 (config/middleware.py): JSON with Retry-After for the API, a
standalone page for people. Nothing is mocked: the connection is pointed at a database that
really is not there (a closed port on 127.0.0.1, or an SQLite file in a directory that does not
exist), Django really fails to connect, and the real connection is put back afterwards.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from incidents.models import Incident

# Transactional: the requests below run with no test transaction open around them, as in
# production, and the database is really disconnected in the middle of the test.
pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/api/v1/incidents/"
API_503 = {"detail": "Service temporarily unavailable: the database cannot be reached. Retry in a moment."}


def _closed_port() -> int:
    # Bound and released at once, never listened on: connecting to it is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def database_unreachable(tmp_path: Path) -> Iterator[None]:
    saved = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        # The SQLite test database lives in memory, as long as its connection (Django ignores
        # close() on it): park the live handle rather than close it, and hand it back after.
        parked = connection.connection
        connection.connection = None
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-directory" / "db.sqlite3")
    else:
        parked = None
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    try:
        yield
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        if parked is not None:
            connection.connection = parked
        else:
            connection.close()  # the next query reconnects with the real settings


@pytest.fixture
def ada_session(admin: User) -> Client:
    client = Client()
    client.force_login(admin)  # writes the session while the database is up
    return client


@pytest.fixture
def ada_key(api, admin: User) -> APIClient:
    return api("incidents:read", "incidents:write", user=admin)


def assert_api_503(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert response.json() == API_503


def assert_page_503(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Retry-After"] == "30"
    assert "Breachline is temporarily unavailable" in response.content.decode()


def test_api_reads_and_writes_are_a_json_503_until_the_database_is_back(ada_key, tmp_path):
    assert ada_key.get(LIST).status_code == 200
    with database_unreachable(tmp_path):
        assert_api_503(ada_key.get(LIST))
        assert_api_503(ada_key.post(LIST, {"title": "Phishing", "severity": "low"}, format="json"))
    assert ada_key.get(LIST).status_code == 200
    assert Incident.objects.count() == 0


def test_api_with_a_session_cookie_is_a_json_503(tmp_path):
    client = APIClient()
    client.cookies["sessionid"] = "a" * 32  # SessionAuthentication looks it up: in the database
    with database_unreachable(tmp_path):
        assert_api_503(client.get(LIST))


def test_pages_are_a_503_page(ada_session, tmp_path):
    with database_unreachable(tmp_path):
        # The session and the user are looked up (lazily) when the view first reads request.user.
        assert_page_503(ada_session.get("/"))
        assert_page_503(ada_session.get("/incidents/"))
        assert_page_503(ada_session.post("/incidents/new/", {"title": "Phishing", "severity": "low"}))
    assert ada_session.get("/").status_code == 200


def test_a_failure_inside_another_middleware_is_a_503_too(ada_session, tmp_path, settings):
    # LoginRequiredMiddleware reads request.user in process_view, outside the view: no
    # process_exception sees that, so the outermost middleware replaces Django's 500.
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.contrib.auth.middleware.LoginRequiredMiddleware"]
    client = Client(raise_request_exception=False)  # Django still reports the exception it handled
    client.cookies = ada_session.cookies
    with database_unreachable(tmp_path):
        assert_page_503(client.get("/incidents/"))
        assert_api_503(client.get(LIST))
    assert client.get("/incidents/").status_code == 200


@pytest.mark.urls("tests.config.probe_urls")
def test_an_integrity_error_is_a_bug_and_stays_a_500():
    response = Client(raise_request_exception=False).get("/duplicate/")
    assert response.status_code == 500
