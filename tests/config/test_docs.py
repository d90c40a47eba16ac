"""The schema and Swagger views (config/docs.py) answer cleanly whatever credentials and Accept
header arrive: 200, 401 or 406, never a 500.

A bad key with ``Accept: application/json`` on /api/v1/docs/ was a 500: the 406 was rendered
with a Django template whose context processor read ``request.user``, which authenticated the
bad key mid-render.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

DOCS = "/api/v1/docs/"
SCHEMA = "/api/v1/schema/"
ACCEPTS = ["application/json", "text/html", "application/vnd.oai.openapi", "*/*", "image/png"]

# What anyone with acceptable credentials (none, a good key, a session) gets, per Accept header.
DOCS_STATUS = {
    "application/json": 406,
    "text/html": 200,
    "application/vnd.oai.openapi": 406,
    "*/*": 200,
    "image/png": 406,
}
SCHEMA_STATUS = {
    "application/json": 200,
    "text/html": 406,
    "application/vnd.oai.openapi": 200,
    "*/*": 200,
    "image/png": 406,
}


@pytest.fixture(params=["none", "good key", "session"])
def welcome_client(request, api, admin: User) -> APIClient:
    if request.param == "good key":
        return api("incidents:read", user=admin)
    client = APIClient()
    if request.param == "session":
        client.force_login(admin)
    return client


@pytest.fixture(
    params=[
        "Api-Key bl_deadbeef_xxx",  # the report: shaped like a key, matches none
        "Api-Key bl_0123abcd_not-a-real-secret",
        "Api-Key ",
        "api-key garbage",
    ]
)
def bad_key_client(request) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=request.param)
    return client


@pytest.mark.parametrize("accept", ACCEPTS)
def test_docs_with_acceptable_credentials(welcome_client, accept):
    assert welcome_client.get(DOCS, HTTP_ACCEPT=accept).status_code == DOCS_STATUS[accept]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_schema_with_acceptable_credentials(welcome_client, accept):
    assert welcome_client.get(SCHEMA, HTTP_ACCEPT=accept).status_code == SCHEMA_STATUS[accept]


@pytest.mark.parametrize("path", [DOCS, SCHEMA])
@pytest.mark.parametrize("accept", ACCEPTS)
def test_a_bad_key_is_a_401_whatever_accept_says(bad_key_client, path, accept):
    response = bad_key_client.get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"


def test_the_401_comes_in_the_format_asked_for_when_there_is_one():
    response = APIClient().get(SCHEMA, HTTP_AUTHORIZATION="Api-Key bl_deadbeef_xxx", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Invalid, revoked or expired API key."}


def test_the_reported_request_is_a_401_not_a_500():
    client = APIClient()
    response = client.get(DOCS, HTTP_AUTHORIZATION="Api-Key bl_deadbeef_xxx", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
