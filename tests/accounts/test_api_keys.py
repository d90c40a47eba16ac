"""API keys: hashed at rest, scoped, revocable, expiring; and the command that issues them."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import APIKey, Role, User
from accounts.services import LAST_USED_RESOLUTION, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

LIST = "/api/v1/incidents/"


def client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def keyed(raw_key: str) -> APIClient:
    return client_with(f"Api-Key {raw_key}")


def every_stored_value() -> list[str]:
    """Every cell of every table, as text: what someone with a database dump would have."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.django_table_names(only_existing=True):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names from Django)
            values.extend(str(cell) for row in cursor.fetchall() for cell in row)
    return values


# --- At rest --------------------------------------------------------------------------------
def test_key_is_stored_only_as_a_digest(lead):
    key, raw = api_key_create(name="siem", scopes=["incidents:read"], user=lead)

    stored = APIKey.objects.get(pk=key.pk)
    assert raw.startswith(f"bl_{stored.prefix}_")
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert all(raw not in value for value in every_stored_value())
    assert raw not in str(stored)
    # ...and the digest is what lets it in.
    assert keyed(raw).get(LIST).status_code == 200


def test_key_without_user_gets_its_own_integration_principal():
    key, _ = api_key_create(name="splunk", scopes=["alerts:write", "incidents:read", "alerts:write"])

    assert key.user.username == "api:splunk"
    assert key.user.role == Role.INTEGRATION
    assert not key.user.has_usable_password()
    assert key.scopes == ["alerts:write", "incidents:read"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "siem", "scopes": ["incidents:delete"]}, "scopes"),
        ({"name": "siem", "scopes": []}, "scopes"),
        ({"name": "  ", "scopes": ["incidents:read"]}, "name"),
        ({"name": "siem", "scopes": ["incidents:read"], "expires_at": "past"}, "expires_at"),
    ],
)
def test_key_create_refuses_bad_input(kwargs, field):
    if kwargs.get("expires_at") == "past":
        kwargs["expires_at"] = timezone.now() - timedelta(seconds=1)

    with pytest.raises(ValidationError) as caught:
        api_key_create(**kwargs)

    assert field in caught.value.message_dict
    assert not APIKey.objects.exists()


# --- Scopes ---------------------------------------------------------------------------------
def test_read_scope_reads_but_cannot_write(api_key, lead):
    client = keyed(api_key("incidents:read", user=lead))

    read = client.get(LIST)
    write = client.post(LIST, {"title": "Should not exist"}, format="json")

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json() == {"detail": "This API key lacks the 'incidents:write' scope."}
    assert read.json()["results"] == []  # nothing was created by the refused POST


def test_write_scope_alone_cannot_read(api_key, lead):
    client = keyed(api_key("incidents:write", user=lead))

    assert client.post(LIST, {"title": "Opened by a writer"}, format="json").status_code == 201
    response = client.get(LIST)

    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the 'incidents:read' scope."}


def test_alerts_only_key_cannot_touch_incidents(api_key, incident):
    client = keyed(api_key("alerts:write"))

    assert client.get(LIST).status_code == 403
    assert client.get(f"/api/v1/incidents/{incident.reference}/").status_code == 403
    assert client.post(LIST, {"title": "x"}, format="json").status_code == 403


def test_scopes_do_not_widen_what_the_user_may_do(api_key, executive, incident):
    # An executive's key with the write scope is still an executive: the role decides.
    client = keyed(api_key("incidents:read", "incidents:write", user=executive))

    assert client.get(LIST).status_code == 200
    assert client.post(LIST, {"title": "x"}, format="json").status_code == 403


# --- 401s -----------------------------------------------------------------------------------
def test_no_header_is_401_with_challenge():
    response = client_with(None).get(LIST)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key",
        "Api-Key    ",
        "Api-Key not-a-key",
        "Api-Key bl_",
        "Api-Key bl_zzzzzzzz_secret",
        "Api-Key bl_\x00_secret",  # was a 500 on PostgreSQL (text cannot hold NUL)
        "Api-Key bl_0123456789abcdef0123_secret",
        "Bearer bl_0123abcd_secret",
        "Basic dXNlcjpwYXNz",
        "api-key",
    ],
)
def test_malformed_header_is_401(api_key, header):
    api_key("incidents:read")

    response = client_with(header).get(LIST)

    assert response.status_code == 401


def test_unknown_key_is_401(api_key):
    raw = api_key("incidents:read")
    prefix = raw.split("_")[1]

    unknown = keyed("bl_0123abcd_" + "x" * 43).get(LIST)
    wrong_secret = keyed(f"bl_{prefix}_" + "x" * 43).get(LIST)
    right = keyed(raw).get(LIST)

    assert (unknown.status_code, wrong_secret.status_code, right.status_code) == (401, 401, 200)
    assert unknown.json() == {"detail": "Invalid, revoked or expired API key."}


def test_keyword_is_case_insensitive(api_key):
    raw = api_key("incidents:read")

    assert client_with(f"api-key {raw}").get(LIST).status_code == 200


def test_revoked_key_is_401(api_key):
    raw = api_key("incidents:read")
    key = APIKey.objects.get()
    assert keyed(raw).get(LIST).status_code == 200

    api_key_revoke(key=key)

    assert key.revoked_at is not None
    assert keyed(raw).get(LIST).status_code == 401


def test_expired_key_is_401(api_key):
    raw = api_key("incidents:read", expires_at=timezone.now() + timedelta(hours=1))
    assert keyed(raw).get(LIST).status_code == 200

    APIKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = keyed(raw).get(LIST)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid, revoked or expired API key."}


def test_key_of_a_deactivated_user_is_401(api_key, responder):
    raw = api_key("incidents:read", user=responder)
    assert keyed(raw).get(LIST).status_code == 200

    User.objects.filter(pk=responder.pk).update(is_active=False)

    assert keyed(raw).get(LIST).status_code == 401


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.text(alphabet=st.characters(max_codepoint=0xFF, exclude_characters="\r\n"), max_size=80))
def test_any_header_value_is_401_never_500(api_key, secret):
    # WSGI headers are latin-1 text, so that is the alphabet an attacker has.
    api_key("incidents:read")

    for header in (f"Api-Key {secret}", f"Api-Key bl_{secret}", f"Api-Key bl_0123abcd_{secret}"):
        assert client_with(header).get(LIST).status_code == 401


# --- last_used_at ---------------------------------------------------------------------------
def apikey_updates(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "apikey" in q["sql"]]


def test_last_used_at_is_stamped_on_use_at_most_once_a_minute(api_key):
    raw = api_key("incidents:read")
    key = APIKey.objects.get()
    assert key.last_used_at is None

    before = timezone.now()
    keyed(raw).get(LIST)
    key.refresh_from_db()
    first_use = key.last_used_at
    assert before <= first_use <= timezone.now()

    # Used again within the resolution: no UPDATE, the stamp stays.
    with CaptureQueriesContext(connection) as queries:
        assert keyed(raw).get(LIST).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == first_use
    assert apikey_updates(queries) == []

    # Once the stamp is older than the resolution, the next use moves it.
    stale = timezone.now() - LAST_USED_RESOLUTION - timedelta(seconds=1)
    APIKey.objects.update(last_used_at=stale)
    with CaptureQueriesContext(connection) as queries:
        keyed(raw).get(LIST)
    key.refresh_from_db()
    assert key.last_used_at > first_use
    assert len(apikey_updates(queries)) == 1


def test_failed_authentication_does_not_stamp_last_used_at(api_key):
    raw = api_key("incidents:read")
    key = APIKey.objects.get()

    keyed(raw[:-1] + ("A" if raw[-1] != "A" else "B")).get(LIST)

    key.refresh_from_db()
    assert key.last_used_at is None


# --- Integration principal and visibility ---------------------------------------------------
def test_integration_key_sees_unrestricted_incidents_only(api_key, incident, restricted_incident):
    client = keyed(api_key("incidents:read"))

    listed = client.get(LIST)
    visible = client.get(f"/api/v1/incidents/{incident.reference}/")
    hidden = client.get(f"/api/v1/incidents/{restricted_incident.reference}/")
    hidden_findings = client.get(f"/api/v1/incidents/{restricted_incident.reference}/findings/")

    assert [row["reference"] for row in listed.json()["results"]] == [incident.reference]
    assert visible.status_code == 200
    assert visible.json()["title"] == "Phishing wave against finance"
    assert hidden.status_code == 404
    assert hidden_findings.status_code == 404


def test_key_acting_as_a_member_sees_the_restricted_incident(api_key, responder, restricted_incident):
    client = keyed(api_key("incidents:read", user=responder))

    response = client.get(f"/api/v1/incidents/{restricted_incident.reference}/")

    assert response.status_code == 200
    assert response.json()["restricted"] is True


# --- create_api_key -------------------------------------------------------------------------
def run_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_the_key_alone_on_the_last_line():
    out, err = run_command("splunk-prod", "--scopes", "incidents:read")

    raw = out.strip().splitlines()[-1]
    assert raw.startswith("bl_")
    assert out == raw + "\n"  # nothing else on stdout, so `| tail -1` or `$(...)` captures it
    assert raw not in err
    assert "cannot be shown again" in err
    assert "api:splunk-prod" in err
    key = APIKey.objects.get()
    assert (key.name, key.scopes, key.expires_at) == ("splunk-prod", ["incidents:read"], None)
    assert key.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert keyed(raw).get(LIST).status_code == 200


def test_command_with_several_scopes_and_a_user(lead, incident):
    out, _ = run_command("soar", "--scopes", "incidents:read, incidents:write", "--user", "lena")
    raw = out.strip().splitlines()[-1]

    key = APIKey.objects.get()
    assert key.scopes == ["incidents:read", "incidents:write"]
    assert key.user == lead
    client = keyed(raw)
    assert client.get(LIST).status_code == 200
    assert client.post(LIST, {"title": "Opened by the SOAR as lena"}, format="json").status_code == 201


def test_command_expires_in_days():
    before = timezone.now()

    run_command("temp", "--scopes", "incidents:read", "--expires-in-days", "7")

    key = APIKey.objects.get()
    assert before + timedelta(days=7) <= key.expires_at <= timezone.now() + timedelta(days=7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["siem", "--scopes", "incidents:read,incidents:delete"], "Unknown scope(s): incidents:delete"),
        (["siem", "--scopes", ","], "at least one scope"),
        (["siem", "--scopes", "incidents:read", "--user", "nobody"], "No user named 'nobody'"),
        (["siem", "--scopes", "incidents:read", "--expires-in-days", "0"], "must be positive"),
        (["siem", "--scopes", "incidents:read", "--expires-in-days", "-3"], "must be positive"),
        (["siem", "--scopes", "incidents:read", "--expires-in-days", "soon"], "invalid int value"),
        (["siem"], "--scopes"),
    ],
)
def test_command_refuses_bad_arguments_and_creates_nothing(args, message):
    with pytest.raises(CommandError) as caught:
        run_command(*args)

    assert message in str(caught.value)
    assert not APIKey.objects.exists()
