"""The API's request parsers (config/parsers.py): JSON depth and size limits, the upload limit.

Driven over HTTP against the real endpoints, except where a limit is per view (a small test view
under ``tests/config/probe_urls.py``) and the one contract HTTP under WSGI cannot show (a body
longer than its Content-Length), which is checked on the parser itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from config.parsers import JSONParser, RequestTooLarge
from incidents.models import Incident
from intake.tokens import ingest_token_create

pytestmark = pytest.mark.django_db

LIST = "/api/v1/incidents/"
TOO_DEEP = {"detail": "JSON nested too deeply: the limit is 64 levels of arrays and objects."}


def nested_lists(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def writer(api, admin: User) -> APIClient:
    return api("incidents:read", "incidents:write", "alerts:write", user=admin)


def post_json(client: APIClient, path: str, body: str | bytes, **extra) -> object:
    return client.generic("POST", path, body, content_type="application/json", **extra)


# --- Depth ------------------------------------------------------------------------------------
def test_json_nested_to_the_limit_reaches_the_serializer(writer):
    # The object is level 1, so 63 nested lists under "title" make 64 levels: accepted by the
    # parser, refused by the serializer for what it is.
    response = post_json(writer, LIST, '{"title": ' + nested_lists(63) + "}")
    assert response.status_code == 400
    assert response.json() == {"title": ["Not a valid string."]}


def test_json_one_level_past_the_limit_is_refused_by_the_parser(writer):
    response = post_json(writer, LIST, '{"title": ' + nested_lists(64) + "}")
    assert response.status_code == 400
    assert response.json() == TOO_DEEP


@pytest.mark.parametrize("levels", [1_000, 100_000])
def test_json_nested_past_the_recursion_limit_is_a_400_not_a_500(writer, levels):
    # Python's parser raises RecursionError around 1,000 levels; this used to escape as a 500.
    response = post_json(writer, LIST, nested_lists(levels))
    assert response.status_code == 400
    assert response.json() == TOO_DEEP


def test_an_object_naming_a_key_twice_is_refused(writer):
    # Which "title" would count is the parser's guess; two systems reading one payload must agree.
    response = post_json(writer, LIST, '{"title": "Phishing", "severity": "low", "title": "Ransomware"}')
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - duplicate key 'title'"}
    assert Incident.objects.count() == 0


def test_the_depth_limit_is_a_setting(writer, settings):
    settings.API_JSON_MAX_DEPTH = 3
    response = post_json(writer, LIST, '{"title": [[[]]]}')
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested too deeply: the limit is 3 levels of arrays and objects."}


def _json_write_operations() -> list[tuple[str, str]]:
    """Every operation in the OpenAPI schema that takes a JSON body, so new ones are covered."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    )


@pytest.fixture
def real_url(writer) -> Callable[[str], str]:
    """Fill a schema path with real objects: an incident, and the task, finding, indicator, timeline
    event or evidence ``{id}`` names."""
    response = writer.post(LIST, {"title": "Ransomware note on file server", "severity": "high"}, format="json")
    assert response.status_code == 201, response.content
    reference = response.json()["reference"]
    ids = {}
    for collection, body in (
        ("tasks", {"title": "Image the server"}),
        ("findings", {"body": "Note found"}),
        ("indicators", {"type": "ip", "value": "45.137.21.9"}),
        ("timeline", {"occurred_at": "2026-03-02T10:00:00Z", "kind": "attacker", "title": "VPN login"}),
    ):
        created = writer.post(f"{LIST}{reference}/{collection}/", body, format="json")
        assert created.status_code == 201, created.content
        ids[collection] = created.json()["id"]
    evidence = writer.post(
        f"{LIST}{reference}/evidence/", {"file": SimpleUploadedFile("auth.log", b"sshd: failed")}, format="multipart"
    )
    assert evidence.status_code == 201, evidence.content
    ids["evidence"] = evidence.json()[0]["id"]
    # A vendor in the registry, and its involvement on the incident (both under ".../vendors/{id}/").
    vendor = writer.post("/api/v1/vendors/", {"name": "Northwind MSP"}, format="json")
    assert vendor.status_code == 201, vendor.content
    involvement = writer.post(f"{LIST}{reference}/vendors/", {"vendor": vendor.json()["id"]}, format="json")
    assert involvement.status_code == 201, involvement.content
    # An access item on the involvement (".../vendors/{involvement_id}/access/{id}/").
    access = writer.post(
        f"{LIST}{reference}/vendors/{involvement.json()['id']}/access/",
        {"kind": "api_token", "system": "CI", "identifier": "svc-nw-ci"},
        format="json",
    )
    assert access.status_code == 201, access.content
    # A question to the vendor (".../vendors/{involvement_id}/questions/{id}/answer/").
    question = writer.post(
        f"{LIST}{reference}/vendors/{involvement.json()['id']}/questions/",
        {"question": "Root cause?", "due_at": "2999-01-01T00:00:00Z"},
        format="json",
    )
    assert question.status_code == 201, question.content

    # The notification register: GDPR Art. 33 applies, and a notice drafted for it (".../notices/{id}/").
    decided = writer.put(
        f"{LIST}{reference}/register/gdpr-art33/", {"decision": "applies", "reason": "Customer data."}, format="json"
    )
    assert decided.status_code == 200, decided.content
    notice = writer.post(f"{LIST}{reference}/notices/", {"regime": "gdpr-art33"}, format="json")
    assert notice.status_code == 201, notice.content
    ids["notices"] = notice.json()["id"]

    _, ingest_token = ingest_token_create(name="splunk-prod", source="splunk-prod", format="splunk")

    def fill(path: str) -> str:
        path = path.replace("{alert_format}", "splunk").replace("{token}", ingest_token)
        path = path.replace("{involvement_id}", str(involvement.json()["id"]))
        path = path.replace("{vendor_id}", str(vendor.json()["id"]))
        path = path.replace("/access/{id}/", f"/access/{access.json()['id']}/")
        path = path.replace("/questions/{id}/", f"/questions/{question.json()['id']}/")
        path = path.replace("{reference}/vendors/{id}/", f"{reference}/vendors/{involvement.json()['id']}/")
        path = path.replace("/vendors/{id}/", f"/vendors/{vendor.json()['id']}/")
        path = path.replace("{reference}", reference)
        path = path.replace("{regime}", "gdpr-art33").replace("{stage}", "notification")
        for collection, pk in ids.items():
            path = path.replace(f"/{collection}/{{id}}/", f"/{collection}/{pk}/")
        return path

    return fill


@pytest.mark.parametrize(("method", "path"), _json_write_operations())
def test_every_json_endpoint_refuses_deep_json(writer, real_url, method, path):
    response = writer.generic(method, real_url(path), nested_lists(5_000), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == TOO_DEEP


def test_the_operations_above_include_those_known_today():
    # Guards the test above against silently covering nothing (e.g. if the schema's shape changed);
    # a subset, so adding an endpoint needs no edit here.
    assert {
        ("PATCH", "/api/v1/incidents/{reference}/"),
        ("PATCH", "/api/v1/incidents/{reference}/tasks/{id}/"),
        ("POST", "/api/v1/incidents/"),
        ("POST", "/api/v1/incidents/{reference}/findings/"),
        ("POST", "/api/v1/incidents/{reference}/tasks/"),
        ("POST", "/api/v1/incidents/{reference}/transition/"),
    } <= set(_json_write_operations())


# --- Size -----------------------------------------------------------------------------------
def test_a_50_mb_json_body_is_a_json_413_naming_the_limit(writer):
    body = json.dumps({"title": "Huge", "summary": "x" * (50 * 1024 * 1024)})
    response = post_json(writer, LIST, body)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "JSON body too large: the limit is 1048576 bytes."}
    assert Incident.objects.count() == 0


def test_a_json_body_at_the_limit_is_parsed(writer, settings):
    settings.API_JSON_MAX_BYTES = 100
    body = json.dumps({"title": "Phish", "severity": "low", "summary": ""}).ljust(100)
    assert len(body) == 100
    response = post_json(writer, LIST, body)
    assert response.status_code == 201, response.content


def test_a_json_body_one_byte_past_the_limit_is_refused(writer, settings):
    settings.API_JSON_MAX_BYTES = 100
    body = json.dumps({"title": "Phish", "severity": "low", "summary": ""}).ljust(101)
    response = post_json(writer, LIST, body)
    assert response.status_code == 413
    assert response.json() == {"detail": "JSON body too large: the limit is 100 bytes."}


def test_a_claimed_length_past_the_limit_is_refused_before_reading(writer):
    # Content-Length says 2 MiB; the body is tiny. Refused on the header alone.
    response = post_json(writer, LIST, b'{"title": "x"}', CONTENT_LENGTH=str(2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json() == {"detail": "JSON body too large: the limit is 1048576 bytes."}


def test_a_body_longer_than_its_content_length_is_read_only_that_far(writer):
    # Under WSGI Django reads no further than Content-Length: the rest is never seen.
    body = json.dumps({"title": "Phish", "summary": "x" * (2 * 1024 * 1024)})
    response = post_json(writer, LIST, body, CONTENT_LENGTH="16")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_the_parser_reads_at_most_one_byte_past_the_limit_whatever_content_length_says(settings):
    # ASGI hands Django the whole body whatever Content-Length claims, and chunked bodies have
    # none: the parser itself must stop reading.
    settings.API_JSON_MAX_BYTES = 1000
    request = APIRequestFactory().post(LIST, b"{}", content_type="application/json")
    request.META["CONTENT_LENGTH"] = "10"
    stream = CountingStream(b"[" + b"1," * 100_000 + b"1]")
    with pytest.raises(RequestTooLarge) as raised:
        JSONParser().parse(stream, "application/json", {"request": request, "view": None})
    assert str(raised.value.detail) == "JSON body too large: the limit is 1000 bytes."
    assert stream.bytes_read == 1001


# --- Per-view limits ----------------------------------------------------------------------------
@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.mark.urls("tests.config.probe_urls")
def test_a_view_may_declare_a_larger_json_limit(anonymous: APIClient, settings):
    settings.API_JSON_MAX_BYTES = 1000
    body = json.dumps({"alerts": ["a" * 100] * 30})  # ~3 KB: over the default, under the view's 4096
    assert 1000 < len(body) < 4096
    assert post_json(anonymous, "/default/", body).status_code == 413
    response = post_json(anonymous, "/batch/", body)
    assert response.status_code == 200
    assert response.json() == {"alerts": 30}
    too_big = post_json(anonymous, "/batch/", json.dumps({"alerts": ["a" * 100] * 50}))
    assert too_big.status_code == 413
    assert too_big.json() == {"detail": "JSON body too large: the limit is 4096 bytes."}


@pytest.mark.urls("tests.config.probe_urls")
def test_a_view_limit_may_exceed_djangos_in_memory_limit(anonymous: APIClient, settings):
    # The parser reads the stream itself, so DATA_UPLOAD_MAX_MEMORY_SIZE does not cap a view
    # that declared more (alert batches).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"alerts": ["a" * 100] * 30})
    response = post_json(anonymous, "/batch/", body)
    assert response.status_code == 200
    assert response.json() == {"alerts": 30}


# --- Multipart -----------------------------------------------------------------------------------
@pytest.mark.urls("tests.config.probe_urls")
def test_uploads_are_not_held_to_the_json_limit(anonymous: APIClient, settings):
    settings.API_JSON_MAX_BYTES = 1000
    upload = SimpleUploadedFile("capture.pcap", b"\x00" * 50_000, content_type="application/octet-stream")
    response = anonymous.post("/default/", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json() == {"file_bytes": 50_000}


@pytest.mark.urls("tests.config.probe_urls")
def test_uploads_have_a_limit_of_their_own(anonymous: APIClient, settings):
    settings.API_UPLOAD_MAX_BYTES = 10_000
    upload = SimpleUploadedFile("capture.pcap", b"\x00" * 50_000, content_type="application/octet-stream")
    response = anonymous.post("/default/", {"file": upload}, format="multipart")
    assert response.status_code == 413
    assert response.json() == {"detail": "Upload too large: the limit is 10000 bytes."}


def test_form_fields_past_djangos_limit_are_a_json_413(writer: APIClient):
    # Django raises RequestDataTooBig for form fields past DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB);
    # untreated it was Django's HTML 400 page.
    response = writer.post(LIST, {"title": "x", "summary": "a" * 3_000_000}, format="multipart")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Request body too large: the limit is 2621440 bytes."}


def test_a_url_encoded_body_past_djangos_limit_is_a_json_413(writer: APIClient):
    body = "title=x&summary=" + "a" * 3_000_000
    response = writer.generic("POST", LIST, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: the limit is 2621440 bytes."}


def test_a_session_form_post_past_djangos_limit_is_a_json_413(admin: User, settings):
    # With session authentication the CSRF check reads request.POST first: the same 413.
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin)
    # Without a CSRF cookie the check refuses (403) before it reads the body.
    client.cookies[settings.CSRF_COOKIE_NAME] = "k" * 32
    body = "title=x&summary=" + "a" * 3_000_000
    response = client.generic("POST", LIST, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: the limit is 2621440 bytes."}
