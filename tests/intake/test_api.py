"""The alert intake API over HTTP: authentication and scopes, one alert and batches, the
ingest URL, rate limiting, body limits and hostile input."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Role
from intake.models import Alert
from intake.tokens import ingest_token_create, ingest_token_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/alerts/"


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def siem(api_key):
    """A SIEM's client: an integration key holding alerts:write only, named "splunk-prod"."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key('alerts:write', name='splunk-prod')}")
    return client


def one(ref: str = "det-1", **fields) -> dict:
    return {"source_ref": ref, "title": "Impossible travel for j.doe", "severity": "low",
            "observed_at": "2026-03-02T10:00:00Z", **fields}  # fmt: skip


def post(client, body, path: str = URL, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.generic("POST", path, data, content_type="application/json", **extra)


# --- Authentication and scopes -------------------------------------------------------------------
def test_a_new_alert_is_201_and_a_repeat_200_with_its_count(siem):
    created = post(siem, one(observables=[{"type": "ip", "value": "45.137.21.9"}]))
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in ("source", "source_ref", "status", "occurrences", "incident", "result")} == {
        "source": "splunk-prod", "source_ref": "det-1", "status": "new", "occurrences": 1, "incident": None,
        "result": "created",
    }  # fmt: skip
    assert body["observables"] == [{"type": "ip", "value": "45.137.21.9", "role": "attacker"}]
    again = post(siem, one())
    assert (again.status_code, again.json()["occurrences"], again.json()["result"]) == (200, 2, "duplicate")
    assert Alert.objects.count() == 1


def test_an_incidents_key_cannot_post_alerts(api):
    response = post(api("incidents:read", "incidents:write"), one())
    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the 'alerts:write' scope."}
    assert Alert.objects.count() == 0


def test_a_person_in_the_browser_cannot_post_alerts(client, responder):
    client.force_login(responder)
    response = client.post(URL, json.dumps(one()), content_type="application/json")
    assert response.status_code == 403
    assert Alert.objects.count() == 0


def test_an_api_key_in_the_query_string_is_not_accepted(api_key):
    raw = api_key("alerts:write")
    response = APIClient().post(f"{URL}?api_key={raw}", one(), format="json")
    assert response.status_code == 401
    assert Alert.objects.count() == 0


# --- Batches ----------------------------------------------------------------------------------------
def test_a_batch_answers_207_with_a_result_per_item(siem):
    response = post(siem, [one("a"), {"title": "no id"}, one("a"), "not an object", one("b", severity="bogus")])
    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["errors"]) == (1, 1, 3)
    assert [(r["index"], r["status"], r["errors"]) for r in body["results"]] == [
        (0, "created", {}),
        (1, "error", {"source_ref": ["This field is required."]}),
        (2, "duplicate", {}),
        (3, "error", body["results"][3]["errors"]),
        (4, "error", body["results"][4]["errors"]),
    ]
    assert list(body["results"][3]["errors"]) == ["non_field_errors"]
    assert list(body["results"][4]["errors"]) == ["severity"]
    assert list(Alert.objects.values_list("source_ref", "occurrences")) == [("a", 2)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], {"alerts": ["The batch is empty."]}),
        ("42", {"non_field_errors": ["Send one alert (a JSON object) or a batch (an array)."]}),
        ('{"source_ref": "x", "title": "a", "title": "b"}', {"detail": "JSON parse error - duplicate key 'title'"}),
        (b'{"source_ref": "\xff\xfe", "title": "x"}', None),
        ("[" * 100 + "]" * 100, {"detail": "JSON nested too deeply: the limit is 64 levels of arrays and objects."}),
    ],
)
def test_what_is_not_an_alert_or_a_batch_is_a_400(siem, body, expected):
    response = post(siem, body)
    assert response.status_code == 400, response.content
    if expected is not None:
        assert response.json() == expected
    assert Alert.objects.count() == 0


def test_a_batch_of_1001_is_refused_whole(siem):
    response = post(siem, [one(f"a{n}") for n in range(1001)])
    assert (response.status_code, response.json()) == (400, {"alerts": ["At most 1000 alerts per request."]})
    assert Alert.objects.count() == 0


def test_a_batch_of_1000_is_taken(siem):
    response = post(siem, [one(f"a{n}") for n in range(1000)])
    assert (response.status_code, response.json()["created"]) == (207, 1000)


def test_a_batch_mixing_formats_keeps_the_generic_ones(siem):
    splunk = {"sid": "scheduler__admin__search__RMD5_at_1_1", "search_name": "Brute force", "result": {"host": "a"}}
    response = post(siem, [one("g-1"), splunk])
    assert response.status_code == 207
    assert [r["status"] for r in response.json()["results"]] == ["created", "error"]


@pytest.mark.parametrize(
    ("observed_at", "field_message"),
    [
        ("2999-01-01T00:00:00Z", "The alert's time is in the future."),
        ("2026-03-02T10:00:00", None),
    ],
)
def test_times_in_the_far_future_or_without_a_zone_are_refused(siem, observed_at, field_message):
    response = post(siem, one(observed_at=observed_at))
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["observed_at"]
    if field_message:
        assert response.json()["observed_at"] == [field_message]


def test_huge_strings_are_cut_or_refused_never_a_500(siem):
    response = post(siem, one("big", title="x" * 200_000, description="y" * 500_000, host="h" * 5_000))
    assert response.status_code == 201, response.content
    stored = Alert.objects.get()
    assert (len(stored.title), len(stored.host)) == (300, 255)
    too_long_ref = post(siem, one("r" * 5_000))
    assert too_long_ref.status_code == 400
    assert list(too_long_ref.json()) == ["source_ref"]


def test_a_body_over_the_limit_is_a_413(siem, settings):
    from intake.api import AlertIntakeView

    AlertIntakeView.json_max_bytes, old = 2_000, AlertIntakeView.json_max_bytes
    try:
        response = post(siem, [one(f"a{n}") for n in range(50)])
    finally:
        AlertIntakeView.json_max_bytes = old
    assert response.status_code == 413
    assert response.json() == {"detail": "JSON body too large: the limit is 2000 bytes."}


# --- Rate limit --------------------------------------------------------------------------------------
def test_a_key_over_its_rate_gets_429_with_retry_after(siem, api_key, settings):
    settings.INTAKE_RATE_LIMIT = "3/min"
    assert [post(siem, one(f"r{n}")).status_code for n in range(3)] == [201, 201, 201]
    refused = post(siem, one("r3"))
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert Alert.objects.count() == 3
    # Another key has its own count.
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key('alerts:write', name='elastic-prod')}")
    assert post(other, one("r3")).status_code == 201


# --- Ingest URLs -------------------------------------------------------------------------------------
SPLUNK = {
    "sid": "scheduler__admin__search__RMD5b0f7_at_1772445600_42",
    "search_name": "Brute force against VPN",
    "app": "search",
    "owner": "admin",
    "results_link": "https://splunk.example:8000/app/search/search?sid=scheduler__admin__search__RMD5b0f7",
    "result": {"_time": "1772445600", "src_ip": "45.137.21.9", "user": "j.doe", "host": "vpn-gw-01", "count": "87"},
}


def test_an_ingest_url_posts_as_its_source_in_its_format():
    integration = UserFactory(username="ingest:splunk", role=Role.INTEGRATION)
    _, raw = ingest_token_create(name="splunk", source="splunk-prod", format="splunk", user=integration)
    response = APIClient().post(f"/api/v1/ingest/{raw}/", SPLUNK, format="json")
    assert response.status_code == 201, response.content
    stored = Alert.objects.get()
    assert (stored.source, stored.format, stored.title, stored.sent_by) == (
        "splunk-prod", "splunk", "Brute force against VPN", integration,
    )  # fmt: skip


def test_a_revoked_or_unknown_ingest_url_is_refused():
    token, raw = ingest_token_create(name="splunk", source="splunk-prod", format="splunk")
    ingest_token_revoke(token=token)
    for path in (f"/api/v1/ingest/{raw}/", "/api/v1/ingest/it_00000000_" + "x" * 43 + "/", "/api/v1/ingest/nope/"):
        response = APIClient().post(path, SPLUNK, format="json")
        assert response.status_code == 403, path
        assert response.json() == {"detail": "Unknown or revoked ingest URL."}
    assert Alert.objects.count() == 0


def test_the_ingest_url_is_shown_once_by_its_command():
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("create_ingest_url", name="splunk", source="splunk-prod", format="splunk", stdout=out, stderr=err)
    url = out.getvalue().strip()
    assert url.startswith("http://127.0.0.1:8000/api/v1/ingest/it_")
    token = url.rsplit("/", 2)[-2]
    from intake.models import IngestToken

    assert token not in str(list(IngestToken.objects.values()))  # only its digest is stored


def test_a_native_format_has_its_own_endpoint(siem):
    response = post(siem, SPLUNK, path="/api/v1/alerts/splunk/")
    assert response.status_code == 201, response.content
    assert Alert.objects.get().format == "splunk"
    unknown = post(siem, SPLUNK, path="/api/v1/alerts/qradar/")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Unknown alert format “qradar”: one of splunk, elastic, sentinel, wazuh."}


def test_an_alert_joining_a_restricted_incident_does_not_name_it_to_the_sender(siem, lead, admin):
    from incidents import services as incident_services
    from intake.models import Alert as AlertModel

    restricted = incident_services.incident_open(opened_by=lead, title="Need-to-know case", restricted=True)
    first = post(siem, one("r-1", rule="c2", host="wks-7"))
    AlertModel.objects.filter(pk=first.json()["id"]).update(status="linked", incident=restricted)
    later = post(siem, one("r-2", rule="c2", host="wks-7"))
    assert later.status_code == 201
    assert (later.json()["status"], later.json()["incident"]) == ("linked", None)
    assert AlertModel.objects.get(source_ref="r-2").incident == restricted
