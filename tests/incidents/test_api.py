"""The incidents REST API (``/api/v1/incidents/``), driven over HTTP as an integration or a person would.

Personas come from ``tests/conftest.py``: ada (admin), lena (lead), ravi (responder), erin
(executive), otto (outsider: on no incident), victor (vendor, invited to the restricted incident
only). Who may change what is ``tests/incidents/test_permissions.py``'s subject; here the same rules
are seen through HTTP (403 with the table's message, 400 naming the field).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import Role, User
from incidents import services
from incidents.models import Category, Finding, Incident, Membership, Playbook, Severity, Status, Task
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

RW = ("incidents:read", "incidents:write")
LIST = "/api/v1/incidents/"
# A due date that stays in the future (a past one is refused when set).
IN_A_MONTH = (timezone.localdate() + timedelta(days=30)).isoformat()


def detail(incident: Incident | str) -> str:
    reference = incident if isinstance(incident, str) else incident.reference
    return f"/api/v1/incidents/{reference}/"


def refs(response) -> list[str]:
    return [row["reference"] for row in response.json()["results"]]


@pytest.fixture
def session() -> Callable[[User], APIClient]:
    """An API client logged in as ``user`` through the browser session (no key, no scopes)."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def lena_api(api, lead) -> APIClient:
    return api(*RW, user=lead)


# --- List -----------------------------------------------------------------------------------
@pytest.fixture
def cases(lead, responder, incident) -> dict[str, Incident]:
    """Three visible incidents with different status/severity/category/lead, and one restricted.

    ravi opened the ransomware case (so works it as a member); lars, a second incident lead, leads it.
    """
    lars = UserFactory(username="lars", role=Role.LEAD)
    ransomware = make_incident(
        opened_by=responder,
        lead=lars,
        title="Ransomware on the file server",
        summary="Encrypted shares on FS01; the note names LockBit.",
        severity=Severity.CRITICAL,
        category=Category.RANSOMWARE,
    )
    services.incident_transition(incident=ransomware, to=Status.TRIAGE, actor=responder)
    vendor_breach = make_incident(
        opened_by=lead, lead=lead, title="Payroll vendor breach", severity=Severity.LOW, category=Category.THIRD_PARTY
    )
    secret = make_incident(opened_by=lead, lead=lead, title="Board member mailbox accessed", restricted=True)
    return {"phishing": incident, "ransomware": ransomware, "vendor": vendor_breach, "secret": secret}


def test_list_shows_visible_incidents_newest_first(api, cases, outsider, lead):
    outsider_view = api("incidents:read", user=outsider).get(LIST, {"count": "true"})
    lead_view = api("incidents:read", user=lead).get(LIST)

    assert outsider_view.status_code == 200
    assert outsider_view.json()["count"] == 3
    assert refs(outsider_view) == [cases[k].reference for k in ("vendor", "ransomware", "phishing")]
    # The member of the restricted incident sees it; the outsider does not even learn it exists.
    assert refs(lead_view) == [cases[k].reference for k in ("secret", "vendor", "ransomware", "phishing")]
    row = lead_view.json()["results"][-1]
    assert row["title"] == "Phishing wave against finance"
    assert row["lead"] == "lena"
    assert row["status"] == "new"
    assert row["allowed_transitions"] == ["triage", "investigating", "closed"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=triage", ["ransomware"]),
        ("status=new&status=triage", ["vendor", "ransomware", "phishing"]),
        ("severity=critical", ["ransomware"]),
        ("severity=low&severity=medium", ["vendor", "phishing"]),
        ("category=third_party", ["vendor", "phishing"]),
        ("lead=lars", ["ransomware"]),
        ("lead=ravi", []),  # ravi opened the ransomware case but does not lead it
        ("lead=nobody", []),
        ("q=ransomWARE", ["ransomware"]),  # title, case-insensitive
        ("q=lockbit", ["ransomware"]),  # summary
        ("q=payroll&severity=critical", []),  # filters combine
        ("restricted=true", []),  # otto cannot see the restricted one, so it cannot be filtered in
    ],
)
def test_list_filters(api, cases, outsider, query, expected):
    response = api("incidents:read", user=outsider).get(f"{LIST}?{query}")

    assert response.status_code == 200
    assert refs(response) == [cases[name].reference for name in expected]


def test_choosing_several_values_reads_no_duplicates_away(api, cases, outsider, django_assert_num_queries):
    """Several statuses or severities filter the incident's own column: no SELECT DISTINCT (which
    sorted every match, all columns, before the page's LIMIT)."""
    client = api("incidents:read", user=outsider)
    client.get(LIST)  # the key's first use stamps last_used_at

    with django_assert_num_queries(3) as captured:
        response = client.get(f"{LIST}?severity=critical&severity=low&status=new&status=triage")

    assert refs(response) == [cases["vendor"].reference, cases["ransomware"].reference]
    assert "DISTINCT" not in captured.captured_queries[1]["sql"]


def test_list_search_by_exact_reference(api, cases, outsider):
    reference = cases["vendor"].reference

    response = api("incidents:read", user=outsider).get(LIST, {"q": reference.lower()})

    assert refs(response) == [reference]


def test_list_mine_is_relative_to_the_caller(api, cases, responder):
    client = api("incidents:read", user=responder)

    mine = client.get(LIST, {"mine": "true"})
    not_mine = client.get(LIST, {"mine": "false"})

    # ravi opened the ransomware case (the opener is a member), and is on no other incident.
    assert refs(mine) == [cases["ransomware"].reference]
    assert refs(not_mine) == [cases["vendor"].reference, cases["phishing"].reference]


@pytest.mark.parametrize("query", ["severity=catastrophic", "status=done", "category=aliens", "q=%00"])
def test_list_bad_filter_value_is_400(api, cases, outsider, query):
    response = api("incidents:read", user=outsider).get(f"{LIST}?{query}")

    assert response.status_code == 400
    field = query.split("=")[0]
    assert response.json()[field]


def test_list_pagination_with_page_size(api, cases, lead):
    client = api("incidents:read", user=lead)

    first = client.get(LIST, {"page_size": 3})
    counted = client.get(LIST, {"page_size": 3, "count": "true"})
    second = client.get(LIST, {"page_size": 3, "page": 2})
    beyond = client.get(LIST, {"page_size": 3, "page": 3})

    assert first.status_code == 200
    body = first.json()
    assert "count" not in body  # the total is opt-in: counting costs more than the page
    assert counted.json()["count"] == 4
    assert counted.json()["results"] == body["results"]
    assert len(body["results"]) == 3
    assert body["previous"] is None
    assert "page=2" in body["next"]
    assert "page_size=3" in body["next"]
    assert refs(second) == [cases["phishing"].reference]
    assert second.json()["next"] is None
    assert second.json()["previous"].endswith("/api/v1/incidents/?page_size=3")
    assert beyond.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page": "two"}, "page"), ({"page": "0"}, "page"), ({"page": "-1"}, "page"), ({"count": "maybe"}, "count")],
)
def test_bad_pagination_parameters_are_400(api, cases, lead, params, field):
    response = api("incidents:read", user=lead).get(LIST, params)
    assert response.status_code == 400
    assert field in response.json()


def test_list_rows_leave_the_summary_to_the_detail(api, cases, lead):
    row = api("incidents:read", user=lead).get(LIST).json()["results"][0]
    assert "summary" not in row and "summary_html" not in row
    assert row["title"] == "Board member mailbox accessed"


def test_list_items_are_the_detail_without_its_summaries(api, lead, responder, outsider):
    """The list builds its items from ``values()`` (``incidents.api.IncidentListRows``), the
    detail from the model through ``IncidentSerializer``: each list item must be the detail minus
    the summaries, field for field and in the same order, whatever the row holds."""
    hidden = make_incident(opened_by=lead, lead=lead, title="Restricted original", restricted=True)
    shown = make_incident(opened_by=lead, lead=lead, title="Visible original", records_affected=1200)
    from_playbook = services.incident_open(
        opened_by=lead,
        playbook=Playbook.objects.get(slug="third-party-compromise"),
        title="Opened from a playbook",
        tags=["VPN", "contractor", "apt-29"],
        personal_data=True,
    )
    no_lead = make_incident(opened_by=responder, title="Nobody leads this yet")
    services.incident_close(incident=no_lead, actor=responder, resolution="false_positive")
    dup_of_hidden = make_incident(opened_by=lead, lead=lead, title="Duplicate of the restricted one")
    services.incident_close(incident=dup_of_hidden, actor=lead, resolution="duplicate", duplicate_of=hidden.reference)
    dup_of_shown = make_incident(opened_by=lead, lead=lead, title="Duplicate of the visible one")
    services.incident_close(incident=dup_of_shown, actor=lead, resolution="duplicate", duplicate_of=shown.reference)

    for viewer in (lead, outsider):
        client = api("incidents:read", user=viewer)
        items = client.get(LIST).json()["results"]
        assert items, viewer
        for item in items:
            whole = client.get(detail(item["reference"])).json()
            expected = {k: v for k, v in whole.items() if k not in {"summary", "summary_html", "closing_summary"}}
            assert list(item.items()) == list(expected.items())

    by_ref = {row["reference"]: row for row in api("incidents:read", user=outsider).get(LIST).json()["results"]}
    assert by_ref[dup_of_hidden.reference]["duplicate_of"] is None  # the outsider may not see the original
    assert by_ref[dup_of_shown.reference]["duplicate_of"] == shown.reference
    assert by_ref[dup_of_shown.reference]["resolution"] == "duplicate"
    assert by_ref[no_lead.reference]["lead"] is None
    assert by_ref[no_lead.reference]["allowed_transitions"] == ["investigating"]  # reopening
    assert by_ref[from_playbook.reference]["tags"] == ["apt-29", "contractor", "vpn"]
    assert by_ref[from_playbook.reference]["playbook"] == "third-party-compromise"
    assert by_ref[from_playbook.reference]["personal_data"] is True
    assert by_ref[shown.reference]["records_affected"] == 1200
    assert by_ref[shown.reference]["closed_at"] is None
    assert by_ref[shown.reference]["created_at"].endswith("Z")


def test_list_query_count_does_not_grow_with_page_size(api, admin, lead, responder, django_assert_num_queries):
    for n in range(60):
        make_incident(opened_by=responder, lead=lead if n % 2 else admin, title=f"Incident {n}")
    client = api("incidents:read", user=lead)
    client.get(LIST, {"page_size": 1})  # the key's first use stamps last_used_at (an UPDATE): keep it out

    counts = {}
    for page_size in (5, 50):
        # 3 queries: the API key (joined with its user); the page itself (one row more than
        # asked, to know if there is a next page) with its lead, playbook and duplicate's
        # reference joined in; the page's tags (one prefetch for all rows).
        # No COUNT(*) unless ?count=true; nothing per row: allowed_transitions is computed
        # in Python from the row.
        with django_assert_num_queries(3) as captured:
            response = client.get(LIST, {"page_size": page_size})
        assert len(response.json()["results"]) == page_size
        counts[page_size] = len(captured)

    assert counts[5] == counts[50]


def test_list_requires_authentication():
    response = APIClient().get(LIST)

    assert response.status_code == 401


# --- Create ---------------------------------------------------------------------------------
def test_create_returns_201_with_a_fresh_reference_and_location(api, lead, responder):
    # ravi opens it and names lena, an incident lead, to lead it: both become members.
    ravi_api = api(*RW, user=responder)
    detected = timezone.now() - timedelta(hours=2)
    assert Incident.objects.count() == 0

    response = ravi_api.post(
        LIST,
        {
            "title": "  Stolen laptop with customer export  ",
            "summary": "Laptop left on a **train**.",
            "severity": "high",
            "category": "data_exfiltration",
            "lead": "lena",
            "restricted": True,
            "personal_data": True,
            "records_affected": 1200,
            "detected_at": detected.isoformat(),
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    year = timezone.now().year
    # Restricted from its opening: the restricted series (docs/architecture.md, "References").
    assert re.fullmatch(rf"IRR-{year}-\d{{4}}", body["reference"])
    assert response.headers["Location"] == f"/api/v1/incidents/{body['reference']}/"
    incident = Incident.objects.get(reference=body["reference"])
    assert incident.title == "Stolen laptop with customer export"
    assert incident.severity == Severity.HIGH
    assert incident.category == Category.DATA_EXFILTRATION
    assert incident.status == Status.NEW
    assert incident.lead == lead
    assert incident.opened_by == responder
    assert incident.restricted is True
    assert incident.personal_data is True
    assert incident.records_affected == 1200
    assert incident.detected_at == detected
    assert incident.version == 1
    memberships = Membership.objects.filter(incident=incident).order_by("user__username")
    assert list(memberships.values_list("user__username", "role")) == [("lena", "lead"), ("ravi", "responder")]
    assert body["lead"] == "lena"
    assert "<strong>train</strong>" in body["summary_html"]
    # The Location is the API resource the caller can read back (restricted: as a member).
    assert ravi_api.get(response.headers["Location"]).json()["title"] == "Stolen laptop with customer export"


def test_create_hands_out_consecutive_references(lena_api):
    first = lena_api.post(LIST, {"title": "One"}, format="json").json()["reference"]
    second = lena_api.post(LIST, {"title": "Two"}, format="json").json()["reference"]

    year = timezone.now().year
    assert (first, second) == (f"IR-{year}-0001", f"IR-{year}-0002")


def test_create_defaults(lena_api):
    before = timezone.now()

    body = lena_api.post(LIST, {"title": "Minimal"}, format="json").json()

    assert (body["severity"], body["category"], body["status"]) == ("medium", "other", "new")
    assert body["lead"] is None
    assert body["restricted"] is False
    incident = Incident.objects.get(reference=body["reference"])
    assert before <= incident.detected_at <= timezone.now()
    assert incident.reported_at == incident.created_at


def future() -> str:
    return (timezone.now() + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "x", "severity": "catastrophic"}, "severity"),
        ({"title": "x", "severity": None}, "severity"),
        ({"title": "x", "category": "aliens"}, "category"),
        ({"title": "x", "category": ["malware"]}, "category"),
        ({"title": "x", "lead": "nobody"}, "lead"),
        ({"title": "x", "lead": "api:siem"}, "lead"),  # integrations cannot lead
        ({"title": "x", "lead": "le\x00na"}, "lead"),  # was a 500 on PostgreSQL
        ({"title": "x", "lead": {"username": "lena"}}, "lead"),
        ({"title": "x", "records_affected": -1}, "records_affected"),
        ({"title": "x", "records_affected": "many"}, "records_affected"),
        ({"title": "x", "records_affected": 1.5}, "records_affected"),
        ({"title": "x", "records_affected": 2**64}, "records_affected"),
        ({"title": "x", "detected_at": "yesterday"}, "detected_at"),
        ({"title": "x", "detected_at": future}, "detected_at"),
        ({"title": "x", "summary": {"text": "hi"}}, "summary"),
        ({"title": "x", "summary": ["hi"]}, "summary"),
        ({"title": "x", "summary": None}, "summary"),
        ({"title": "x", "restricted": "maybe"}, "restricted"),
    ],
)
def test_create_invalid_field_is_400_with_a_message_and_nothing_created(api_key, lena_api, payload, field):
    api_key("incidents:read", name="siem")  # makes the integration user "api:siem" exist
    payload = {key: value() if callable(value) else value for key, value in payload.items()}

    response = lena_api.post(LIST, payload, format="json")

    assert response.status_code == 400
    messages = response.json()[field]
    assert messages
    assert all(isinstance(m, str) and m for m in messages)
    assert Incident.objects.count() == 0


def test_create_detected_in_the_future_says_why(lena_api):
    response = lena_api.post(LIST, {"title": "x", "detected_at": future()}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detected_at": ["Detection time cannot be in the future."]}


@pytest.mark.parametrize(
    "body",
    ["[]", '[{"title": "x"}]', '"just a string"', "42", "null", "{not json", "", "\xff\xfe"],
    ids=["empty-list", "list", "string", "number", "null", "garbage", "empty", "not-utf8"],
)
def test_create_body_that_is_not_an_object_is_400(lena_api, body):
    response = lena_api.post(LIST, body.encode("latin-1"), content_type="application/json")

    assert response.status_code == 400
    assert Incident.objects.count() == 0


def test_create_as_executive_session_is_403(session, executive):
    response = session(executive).post(LIST, {"title": "Exec wants a case"}, format="json")

    assert response.status_code == 403
    assert Incident.objects.count() == 0


def test_create_with_key_acting_as_executive_is_403(api, executive):
    response = api(*RW, user=executive).post(LIST, {"title": "Exec wants a case"}, format="json")

    assert response.status_code == 403
    assert Incident.objects.count() == 0


def test_create_as_session_lead_is_201(session, lead):
    response = session(lead).post(LIST, {"title": "Opened from a script with my login"}, format="json")

    assert response.status_code == 201
    assert Incident.objects.get().opened_by == lead


def test_create_with_integration_key_holding_write_scope(api):
    response = api(*RW).post(LIST, {"title": "Opened by the SOAR"}, format="json")

    assert response.status_code == 201
    incident = Incident.objects.get(reference=response.json()["reference"])
    assert incident.opened_by.username == "api:siem"
    # The opener is always a member, an integration too, so it can read back what it opened.
    assert list(incident.memberships.values_list("user__username", "role")) == [("api:siem", "responder")]


# Any JSON value in any field: a 400 with field messages, or a 201 — never a 500.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=5,
)
plausible = {
    "title": st.text(max_size=210),
    "summary": st.text(max_size=50),
    "severity": st.sampled_from([*Severity.values, "CRITICAL", ""]),
    "category": st.sampled_from([*Category.values, "Third-party compromise"]),
    "lead": st.sampled_from(["lena", "ravi", "otto", "nobody", "api:siem", "", "le\x00na"]) | st.text(max_size=10),
    "restricted": st.booleans() | st.sampled_from(["true", "false", "yes", 0, 1]),
    "personal_data": st.booleans(),
    "records_affected": st.integers() | st.sampled_from(["10", "-1", "1e3"]),
    "detected_at": st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat())
    | st.sampled_from(["2026-13-01", "0001-01-01T00:00:00+05:00"]),
}
payloads = st.fixed_dictionaries({}, optional={field: plausible[field] | json_values for field in plausible})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_create_never_fails_with_500(api_key, lena_api, responder, outsider, payload):
    api_key("incidents:read", name="siem")
    before = Incident.objects.count()

    # json.dumps escapes to ASCII, so lone surrogates and NUL reach the server intact.
    response = lena_api.post(LIST, json.dumps(payload), content_type="application/json")

    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        incident = Incident.objects.get(reference=response.json()["reference"])
        if isinstance(payload["title"], str):
            assert incident.title == payload["title"].strip()
        assert Incident.objects.count() == before + 1
    else:
        assert response.json()  # field messages, never an empty 400
        assert Incident.objects.count() == before


def test_create_naming_status_and_reference_is_400_naming_both(lena_api):
    # Neither is set by the caller: the status by the transition endpoint, the reference by Breachline.
    response = lena_api.post(LIST, {"status": "closed", "reference": "IR-1-1"}, format="json")
    with_title = lena_api.post(
        LIST, {"title": "Closed at birth", "status": "closed", "reference": "IR-1-1"}, format="json"
    )

    expected = {
        "status": ["Open the incident, then change its status with POST /api/v1/incidents/{reference}/transition/."],
        "reference": ["References are assigned by Breachline."],
    }
    assert (response.status_code, response.json()) == (400, expected)
    assert (with_title.status_code, with_title.json()) == (400, expected)
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"title": "x", "colour": "red"}, {"colour": ["Unknown field."]}),
        ({"title": "x", "Title": "y"}, {"Title": ["Unknown field."]}),  # names are exact
        ({"title": "x", "version": 7}, {"version": ["This field is read-only."]}),
        ({"title": "x", "summary_html": "<b>x</b>"}, {"summary_html": ["This field is read-only."]}),
        ({"title": "x", "closed_at": "2026-01-01T00:00:00Z"}, {"closed_at": ["This field is read-only."]}),
        (
            {"title": "x", "colour": "red", "allowed_transitions": []},
            {"colour": ["Unknown field."], "allowed_transitions": ["This field is read-only."]},
        ),
    ],
)
def test_create_with_unknown_or_read_only_fields_is_400_naming_them(lena_api, payload, errors):
    response = lena_api.post(LIST, payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    ("username", "role"),
    [("ravi", Role.RESPONDER), ("victor", Role.VENDOR), ("erin", Role.EXECUTIVE)],
)
def test_create_with_a_lead_who_may_not_lead_is_400(lena_api, responder, vendor, executive, username, role):
    # Only the global roles incident lead and admin may lead; the others exist and are active.
    assert User.objects.get(username=username).role == role

    response = lena_api.post(LIST, {"title": "x", "lead": username}, format="json")

    assert response.status_code == 400
    assert response.json() == {"lead": [f"{username} cannot lead incidents: only incident leads and admins can."]}
    assert Incident.objects.count() == 0


def test_create_with_an_admin_as_lead_is_201(lena_api, admin):
    response = lena_api.post(LIST, {"title": "Admin takes it", "lead": "ada"}, format="json")

    assert response.status_code == 201
    incident = Incident.objects.get(reference=response.json()["reference"])
    assert incident.lead == admin
    assert list(incident.memberships.order_by("user__username").values_list("user__username", "role")) == [
        ("ada", "lead"),
        ("lena", "responder"),
    ]


# --- Retrieve -------------------------------------------------------------------------------
def test_retrieve_visible_incident(api, incident, outsider):
    response = api("incidents:read", user=outsider).get(detail(incident))

    assert response.status_code == 200
    assert response.json()["reference"] == incident.reference
    assert response.json()["title"] == "Phishing wave against finance"


@pytest.mark.parametrize("persona", ["lead", "responder", "vendor", "admin"])
def test_retrieve_restricted_incident_as_member_or_admin(request, api, session, restricted_incident, persona):
    user = request.getfixturevalue(persona)

    by_key = api("incidents:read", user=user).get(detail(restricted_incident))
    by_session = session(user).get(detail(restricted_incident))

    assert by_key.status_code == by_session.status_code == 200
    assert by_key.json()["title"] == "Internal AI model exfiltrated via contractor"


@pytest.mark.parametrize("persona", ["outsider", "executive"])
def test_retrieve_restricted_incident_as_non_member_is_404(request, api, session, restricted_incident, persona):
    user = request.getfixturevalue(persona)

    by_key = api("incidents:read", user=user).get(detail(restricted_incident))
    by_session = session(user).get(detail(restricted_incident))

    assert by_key.status_code == 404
    assert by_session.status_code == 404
    assert "exfiltrated" not in by_key.content.decode() + by_session.content.decode()


def test_vendor_sees_only_the_incident_they_were_invited_to(session, vendor, restricted_incident, incident):
    client = session(vendor)

    assert client.get(detail(incident)).status_code == 404
    assert refs(client.get(LIST)) == [restricted_incident.reference]


@pytest.mark.parametrize("reference", ["IR-1999-0001", "%00", "IR-2026-0001%00"])
def test_retrieve_unknown_reference_is_404(lena_api, incident, reference):
    # "%00" was a 500 on PostgreSQL (text cannot hold NUL).
    response = lena_api.get(f"/api/v1/incidents/{reference}/")

    assert response.status_code == 404


# --- Partial update -------------------------------------------------------------------------
def test_patch_with_current_version_applies_and_bumps_version(lena_api, incident):
    assert (incident.version, incident.severity) == (1, Severity.MEDIUM)

    response = lena_api.patch(
        detail(incident),
        {"version": 1, "severity": "high", "title": "Phishing wave against finance and HR", "records_affected": 40},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["severity"] == "high"
    incident.refresh_from_db()
    assert incident.version == 2
    assert incident.severity == Severity.HIGH
    assert incident.title == "Phishing wave against finance and HR"
    assert incident.records_affected == 40
    assert incident.activities.filter(verb="updated").get().data == {
        "changes": {
            "records_affected": {"old": None, "new": 40},
            "severity": {"old": "medium", "new": "high"},
            "title": {"old": "Phishing wave against finance", "new": "Phishing wave against finance and HR"},
        }
    }


def test_patch_with_stale_version_is_409_and_changes_nothing(lena_api, incident):
    assert lena_api.patch(detail(incident), {"version": 1, "title": "First edit"}, format="json").status_code == 200

    response = lena_api.patch(
        detail(incident), {"version": 1, "title": "Second edit", "severity": "low"}, format="json"
    )

    # lena_api holds incidents:read, so the conflict may tell it the version to reload.
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"{incident.reference} was changed by someone else (you had version 1, it is now 2). "
        "Reload it and apply your change again.",
        "current_version": 2,
    }
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.version) == ("First edit", Severity.MEDIUM, 2)


def test_patch_with_stale_version_by_a_write_only_key_is_409_and_changes_nothing(api, lead, incident):
    # A key without incidents:read learns it lost the race, not the incident's current version.
    client = api("incidents:write", user=lead)
    assert client.patch(detail(incident), {"version": 1, "title": "First edit"}, format="json").status_code == 200

    response = client.patch(detail(incident), {"version": 1, "title": "Second edit"}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"{incident.reference} was changed since the version you sent; nothing was written."
    }
    incident.refresh_from_db()
    assert (incident.title, incident.version) == ("First edit", 2)


def test_patch_without_version_is_400(lena_api, incident):
    response = lena_api.patch(detail(incident), {"title": "No version"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"version": ["This field is required."]}
    incident.refresh_from_db()
    assert (incident.title, incident.version) == ("Phishing wave against finance", 1)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"version": 1, "severity": "catastrophic"}, "severity"),
        ({"version": 1, "lead": "nobody"}, "lead"),
        ({"version": 1, "records_affected": -5}, "records_affected"),
        ({"version": 1, "title": ""}, "title"),
        ({"version": 0, "title": "x"}, "version"),
        ({"version": "one", "title": "x"}, "version"),
    ],
)
def test_patch_invalid_field_is_400_and_changes_nothing(lena_api, incident, payload, field):
    response = lena_api.patch(detail(incident), payload, format="json")

    assert response.status_code == 400
    assert response.json()[field]
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.version) == ("Phishing wave against finance", "medium", 1)


def test_patch_future_detection_is_400(lena_api, incident):
    response = lena_api.patch(detail(incident), {"version": 1, "detected_at": future()}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detected_at": ["Detection time cannot be in the future."]}
    incident.refresh_from_db()
    assert incident.version == 1


def test_patch_cannot_change_status_or_reference(lena_api, incident):
    # status has its own endpoint (/transition/) and reference is immutable: a PATCH naming
    # either is refused with a message saying so, and nothing else in it is applied.
    reference = incident.reference

    response = lena_api.patch(
        detail(incident),
        {"version": 1, "title": "Renamed", "status": "closed", "reference": "IR-1999-9999"},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["status"] == ["Change the status with POST /api/v1/incidents/{reference}/transition/."]
    assert body["reference"] == ["The reference cannot be changed."]
    incident.refresh_from_db()
    assert (incident.status, incident.reference, incident.title, incident.version) == (
        Status.NEW,
        reference,
        "Phishing wave against finance",
        1,
    )


def test_patch_that_changes_nothing_keeps_the_version(lena_api, incident):
    response = lena_api.patch(detail(incident), {"version": 1, "title": incident.title}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    stale = lena_api.patch(detail(incident), {"version": 1, "severity": "low"}, format="json")
    assert stale.json()["version"] == 2
    again = lena_api.patch(detail(incident), {"version": 1, "severity": "low"}, format="json")
    assert again.status_code == 409  # no-op, but the caller's version is stale


def test_patch_as_executive_is_403_and_changes_nothing(session, executive, incident):
    response = session(executive).patch(detail(incident), {"version": 1, "title": "Exec edit"}, format="json")

    assert response.status_code == 403
    incident.refresh_from_db()
    assert (incident.title, incident.version) == ("Phishing wave against finance", 1)


def test_patch_restricted_incident_as_outsider_is_404(api, outsider, restricted_incident):
    response = api(*RW, user=outsider).patch(detail(restricted_incident), {"version": 1, "title": "x"}, format="json")

    assert response.status_code == 404
    restricted_incident.refresh_from_db()
    assert restricted_incident.version == 1


@pytest.mark.parametrize("method", ["put", "delete"])
def test_put_and_delete_are_405(lena_api, incident, method):
    response = getattr(lena_api, method)(detail(incident), {"version": 1, "title": "Replaced"}, format="json")

    assert response.status_code == 405
    incident.refresh_from_db()
    assert incident.title == "Phishing wave against finance"


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"version": 1, "colour": "red"}, {"colour": ["Unknown field."]}),
        ({"version": 1, "created_at": "2026-01-01T00:00:00Z"}, {"created_at": ["This field is read-only."]}),
        ({"version": 1, "summary_html": ""}, {"summary_html": ["This field is read-only."]}),
        (
            {"version": 1, "title": "Renamed", "acknowledged_at": None, "owner": "lena"},
            {"acknowledged_at": ["This field is read-only."], "owner": ["Unknown field."]},
        ),
    ],
)
def test_patch_with_unknown_or_read_only_fields_is_400_and_changes_nothing(lena_api, incident, payload, errors):
    response = lena_api.patch(detail(incident), payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    incident.refresh_from_db()
    assert (incident.title, incident.version, incident.acknowledged_at) == ("Phishing wave against finance", 1, None)


def test_patch_making_the_vendor_collaborator_lead_is_400_and_they_still_cannot_see_it(
    lena_api, session, vendor, incident
):
    victor = session(vendor)
    assert victor.get(detail(incident)).status_code == 404

    response = lena_api.patch(detail(incident), {"version": 1, "lead": "victor"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"lead": ["victor cannot lead incidents: only incident leads and admins can."]}
    incident.refresh_from_db()
    assert (incident.lead.username, incident.version) == ("lena", 1)
    assert not incident.memberships.filter(user=vendor).exists()
    # Leading would have made him a member, and so let him see the case: he still cannot.
    assert victor.get(detail(incident)).status_code == 404
    assert refs(victor.get(LIST)) == []


# The rule table's refusals, as the API shows them (see tests/incidents/test_permissions.py).
MAY_NOT_EDIT = "Only members working this incident (its lead and responders) may change it."
MAY_NOT_LOWER = "Only the incident's lead or an admin may lower its severity."
MAY_NOT_MANAGE = "Only the incident's lead or an admin may change who can see and work on it."


@pytest.mark.parametrize(
    ("persona", "fixture", "changes", "message"),
    [
        # ravi works the restricted case as a responder: he may raise severity, not lower it.
        ("responder", "restricted_incident", {"severity": "high"}, MAY_NOT_LOWER),
        # On the unrestricted case he is not a member: he may add findings, not change the incident.
        # Whoever may change no field at all is refused before the body is read, with EDIT's
        # message whatever they sent (tests/api/test_permission_order.py).
        ("responder", "incident", {"severity": "critical"}, MAY_NOT_EDIT),
        ("responder", "incident", {"title": "Renamed"}, MAY_NOT_EDIT),
        # victor contributes to the restricted case but never changes its fields.
        ("vendor", "restricted_incident", {"title": "Renamed"}, MAY_NOT_EDIT),
        ("vendor", "restricted_incident", {"severity": "high"}, MAY_NOT_EDIT),
        # Who can see it is the incident's lead's (or an admin's) call.
        ("responder", "restricted_incident", {"restricted": False}, MAY_NOT_MANAGE),
        ("outsider", "incident", {"restricted": True}, MAY_NOT_EDIT),
    ],
)
def test_patch_refused_by_the_rule_table_is_403_with_its_message(request, session, persona, fixture, changes, message):
    user, incident = request.getfixturevalue(persona), request.getfixturevalue(fixture)
    before = Incident.objects.filter(pk=incident.pk).values().get()

    response = session(user).patch(detail(incident), {"version": 1, **changes}, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": message}
    assert Incident.objects.filter(pk=incident.pk).values().get() == before


def test_patch_allowed_by_the_rule_table(session, admin, lead, responder, restricted_incident):
    # Side by side with the refusals above: the lead lowers, a responder member edits, an admin restricts.
    assert (restricted_incident.severity, restricted_incident.version) == ("critical", 1)

    lowered = session(lead).patch(detail(restricted_incident), {"version": 1, "severity": "high"}, format="json")
    retitled = session(responder).patch(
        detail(restricted_incident), {"version": 2, "title": "Model exfiltrated"}, format="json"
    )
    opened_up = session(admin).patch(detail(restricted_incident), {"version": 3, "restricted": False}, format="json")

    assert [r.status_code for r in (lowered, retitled, opened_up)] == [200, 200, 200]
    restricted_incident.refresh_from_db()
    assert (
        restricted_incident.severity,
        restricted_incident.title,
        restricted_incident.restricted,
        restricted_incident.version,
    ) == ("high", "Model exfiltrated", False, 4)
    entries = restricted_incident.activities.filter(verb="updated").order_by("id")
    assert [(entry.actor.username, entry.data) for entry in entries] == [
        ("lena", {"changes": {"severity": {"old": "critical", "new": "high"}}}),
        (
            "ravi",
            {"changes": {"title": {"old": "Internal AI model exfiltrated via contractor", "new": "Model exfiltrated"}}},
        ),
        ("ada", {"changes": {"restricted": {"old": True, "new": False}}}),
    ]


# --- Transition -----------------------------------------------------------------------------
def transition(incident: Incident) -> str:
    return f"{detail(incident)}transition/"


def test_transition_allowed_moves_and_stamps_milestone(lena_api, incident, lead):
    assert (incident.status, incident.acknowledged_at) == (Status.NEW, None)

    response = lena_api.post(transition(incident), {"to": "triage", "version": 1}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["version"]) == ("triage", 2)
    assert body["allowed_transitions"] == ["investigating", "closed"]
    incident.refresh_from_db()
    assert incident.status == Status.TRIAGE
    assert incident.acknowledged_at is not None
    assert incident.contained_at is None
    assert incident.activities.filter(verb="status_changed").get().data == {"old": "new", "new": "triage"}


def test_transition_to_contained_stamps_contained_at(lena_api, incident):
    lena_api.post(transition(incident), {"to": "investigating"}, format="json")

    response = lena_api.post(transition(incident), {"to": "contained"}, format="json")

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.CONTAINED
    assert incident.contained_at is not None
    assert response.json()["contained_at"] is not None


def test_transition_refused_is_400_with_a_message_on_to(lena_api, incident):
    response = lena_api.post(transition(incident), {"to": "recovered"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"to": ["Cannot move from new to recovered; allowed: triage, investigating, closed."]}
    incident.refresh_from_db()
    assert (incident.status, incident.version, incident.acknowledged_at) == (Status.NEW, 1, None)


@pytest.mark.parametrize("payload", [{"to": "solved"}, {"to": ""}, {"to": None}, {}, {"to": "triage", "version": 0}])
def test_transition_bad_input_is_400(lena_api, incident, payload):
    response = lena_api.post(transition(incident), payload, format="json")

    assert response.status_code == 400
    assert set(response.json()) <= {"to", "version"}
    incident.refresh_from_db()
    assert incident.status == Status.NEW


def test_transition_with_stale_version_is_409(lena_api, incident):
    lena_api.patch(detail(incident), {"version": 1, "severity": "high"}, format="json")

    response = lena_api.post(transition(incident), {"to": "triage", "version": 1}, format="json")

    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_at) == (Status.NEW, None)


def test_transition_as_executive_is_403(session, executive, incident):
    response = session(executive).post(transition(incident), {"to": "triage"}, format="json")

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == Status.NEW


def test_transition_with_read_only_key_is_403(api, lead, incident):
    response = api("incidents:read", user=lead).post(transition(incident), {"to": "triage"}, format="json")

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == Status.NEW


def test_transition_invisible_incident_is_404(api, outsider, restricted_incident):
    response = api(*RW, user=outsider).post(transition(restricted_incident), {"to": "triage"}, format="json")

    assert response.status_code == 404
    restricted_incident.refresh_from_db()
    assert restricted_incident.status == Status.NEW


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"to": "triage", "colour": "red"}, {"colour": ["Unknown field."]}),
        ({"to": "triage", "status": "triage"}, {"status": ["Unknown field."]}),
        ({"to": "triage", "reason": "dupe", "note": ""}, {"reason": ["Unknown field."], "note": ["Unknown field."]}),
    ],
)
def test_transition_with_unknown_fields_is_400_and_moves_nothing(lena_api, incident, payload, errors):
    response = lena_api.post(transition(incident), payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    incident.refresh_from_db()
    assert (incident.status, incident.version) == (Status.NEW, 1)


@pytest.mark.parametrize(
    ("persona", "fixture"),
    [("vendor", "restricted_incident"), ("responder", "incident"), ("outsider", "incident")],
    ids=["vendor-collaborator", "responder-not-a-member", "outsider"],
)
def test_transition_by_someone_not_working_the_case_is_403(request, session, persona, fixture):
    user, incident = request.getfixturevalue(persona), request.getfixturevalue(fixture)

    response = session(user).post(transition(incident), {"to": "triage"}, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only members working this incident (its lead and responders) may change its status."
    }
    incident.refresh_from_db()
    assert (incident.status, incident.version) == (Status.NEW, 1)


def test_transition_by_a_responder_member_is_200(session, responder, restricted_incident):
    response = session(responder).post(transition(restricted_incident), {"to": "investigating"}, format="json")

    assert response.status_code == 200
    restricted_incident.refresh_from_db()
    assert (restricted_incident.status, restricted_incident.version) == (Status.INVESTIGATING, 2)


# --- Findings -------------------------------------------------------------------------------
def findings(incident: Incident) -> str:
    return f"{detail(incident)}findings/"


def test_findings_create_and_list(lena_api, api, responder, incident):
    assert lena_api.get(findings(incident)).json()["results"] == []

    created = lena_api.post(findings(incident), {"body": "Sender domain registered **yesterday**."}, format="json")
    api(*RW, user=responder).post(findings(incident), {"body": "  Ten users clicked.  "}, format="json")
    listed = lena_api.get(findings(incident))

    assert created.status_code == 201
    assert created.json()["author"] == "lena"
    assert "<strong>yesterday</strong>" in created.json()["body_html"]
    assert [(row["author"], row["body"]) for row in listed.json()["results"]] == [
        ("lena", "Sender domain registered **yesterday**."),
        ("ravi", "Ten users clicked."),
    ]
    assert Finding.objects.filter(incident=incident).count() == 2


@pytest.mark.parametrize("payload", [{}, {"body": ""}, {"body": "   "}, {"body": None}, {"body": ["x"]}])
def test_findings_empty_body_is_400(lena_api, incident, payload):
    response = lena_api.post(findings(incident), payload, format="json")

    assert response.status_code == 400
    assert response.json()["body"]
    assert not Finding.objects.exists()


def test_findings_on_invisible_incident_are_404(api, outsider, restricted_incident):
    client = api(*RW, user=outsider)

    assert client.get(findings(restricted_incident)).status_code == 404
    assert client.post(findings(restricted_incident), {"body": "peek"}, format="json").status_code == 404
    assert client.get("/api/v1/incidents/%00/findings/").status_code == 404  # was a 500 on PostgreSQL
    assert not Finding.objects.exists()


def test_findings_by_executive_are_readable_not_writable(session, executive, incident):
    client = session(executive)

    assert client.get(findings(incident)).status_code == 200
    assert client.post(findings(incident), {"body": "Exec note"}, format="json").status_code == 403
    assert not Finding.objects.exists()


def test_findings_by_invited_vendor_are_allowed(session, vendor, restricted_incident):
    response = session(vendor).post(findings(restricted_incident), {"body": "Token issued 3 May."}, format="json")

    assert response.status_code == 201
    assert Finding.objects.get().author == vendor


def test_findings_with_read_only_key_cannot_be_added(api, lead, incident):
    response = api("incidents:read", user=lead).post(findings(incident), {"body": "x"}, format="json")

    assert response.status_code == 403
    assert not Finding.objects.exists()


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"body": "x", "colour": "red"}, {"colour": ["Unknown field."]}),
        ({"body": "x", "author": "ada"}, {"author": ["This field is read-only."]}),
        ({"body": "x", "id": 7, "created_at": "2026-01-01T00:00:00Z"}, {
            "id": ["This field is read-only."],
            "created_at": ["This field is read-only."],
        }),
        ({"body": "x", "body_html": "<p>x</p>"}, {"body_html": ["This field is read-only."]}),
    ],
)  # fmt: skip
def test_findings_with_unknown_or_read_only_fields_are_400(lena_api, incident, payload, errors):
    response = lena_api.post(findings(incident), payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not Finding.objects.exists()


def test_findings_by_an_observer_are_403(session, lead, restricted_incident):
    olga = UserFactory(username="olga", role=Role.RESPONDER)
    services.member_add(incident=restricted_incident, user=olga, actor=lead, role="observer")

    client = session(olga)

    assert client.get(findings(restricted_incident)).status_code == 200
    response = client.post(findings(restricted_incident), {"body": "Observed"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "You may not add to this incident."}
    assert not Finding.objects.exists()


# --- Tasks ----------------------------------------------------------------------------------
def tasks(incident: Incident, task_id: object = None) -> str:
    return f"{detail(incident)}tasks/" + (f"{task_id}/" if task_id is not None else "")


def test_tasks_create_and_list(lena_api, incident, responder):
    response = lena_api.post(
        tasks(incident), {"title": " Reset passwords ", "assignee": "ravi", "due_on": IN_A_MONTH}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["title"], body["assignee"], body["due_on"], body["done"], body["done_at"]) == (
        "Reset passwords",
        "ravi",
        IN_A_MONTH,
        False,
        None,
    )
    task = Task.objects.get(pk=body["id"])
    assert (task.incident, task.assignee) == (incident, responder)
    assert [row["id"] for row in lena_api.get(tasks(incident)).json()["results"]] == [task.pk]
    assert lena_api.get(tasks(incident, task.pk)).json()["title"] == "Reset passwords"


def test_task_patch_done_stamps_done_at_and_undone_clears_it(lena_api, incident, lead):
    task = services.task_add(incident=incident, actor=lead, title="Block sender domain")
    assert (task.done, task.done_at) == (False, None)

    done = lena_api.patch(tasks(incident, task.pk), {"done": True}, format="json")
    task.refresh_from_db()
    done_at = task.done_at

    assert done.status_code == 200
    assert done.json()["done"] is True
    assert task.done is True
    assert done_at is not None
    assert done.json()["done_at"] is not None

    undone = lena_api.patch(tasks(incident, task.pk), {"done": False}, format="json")
    task.refresh_from_db()

    assert undone.status_code == 200
    assert (task.done, task.done_at) == (False, None)


def test_task_assignee_who_cannot_see_a_restricted_incident_is_400(lena_api, restricted_incident, outsider):
    response = lena_api.post(tasks(restricted_incident), {"title": "Review logs", "assignee": "otto"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"assignee": [f"otto cannot be given tasks on {restricted_incident.reference}."]}
    assert not Task.objects.exists()


def test_task_reassigned_to_someone_who_cannot_see_it_is_400(lena_api, restricted_incident, lead, responder):
    task = services.task_add(incident=restricted_incident, actor=lead, title="Rotate tokens", assignee=responder)

    response = lena_api.patch(tasks(restricted_incident, task.pk), {"assignee": "otto"}, format="json")

    assert response.status_code == 400
    assert response.json()["assignee"]
    task.refresh_from_db()
    assert task.assignee == responder


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x", "assignee": "nobody"}, "assignee"),
        ({"title": "x", "assignee": "ot\x00to"}, "assignee"),  # was a 500 on PostgreSQL
        ({"title": "x", "due_on": "next week"}, "due_on"),
    ],
)
def test_task_invalid_input_is_400(lena_api, incident, outsider, payload, field):
    response = lena_api.post(tasks(incident), payload, format="json")

    assert response.status_code == 400
    assert response.json()[field]
    assert not Task.objects.exists()


@pytest.mark.parametrize("task_id", ["abc", "1.5", "-1", "99999999999999999999999"])
def test_task_bad_or_unknown_id_is_404(lena_api, incident, task_id):
    response = lena_api.get(tasks(incident, task_id))

    assert response.status_code == 404


def test_task_of_another_incident_is_404(lena_api, incident, lead):
    other = make_incident(opened_by=lead, title="Other case")
    task = services.task_add(incident=other, actor=lead, title="Not yours here")

    assert lena_api.get(tasks(incident, task.pk)).status_code == 404
    assert lena_api.patch(tasks(incident, task.pk), {"done": True}, format="json").status_code == 404
    task.refresh_from_db()
    assert task.done is False


def test_task_put_is_405(lena_api, incident, lead):
    task = services.task_add(incident=incident, actor=lead, title="Block sender domain")

    response = lena_api.put(tasks(incident, task.pk), {"title": "Replaced", "done": True}, format="json")

    assert response.status_code == 405
    task.refresh_from_db()
    assert (task.title, task.done) == ("Block sender domain", False)


def test_tasks_by_executive_are_403(session, executive, incident, lead):
    task = services.task_add(incident=incident, actor=lead, title="Block sender domain")
    client = session(executive)

    assert client.post(tasks(incident), {"title": "Exec task"}, format="json").status_code == 403
    assert client.patch(tasks(incident, task.pk), {"done": True}, format="json").status_code == 403
    task.refresh_from_db()
    assert task.done is False
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"title": "x", "done_at": "2026-01-01T00:00:00Z"}, {"done_at": ["This field is read-only."]}),
        ({"title": "x", "colour": "red"}, {"colour": ["Unknown field."]}),
        ({"title": "x", "created_by": "lena", "id": 3}, {
            "created_by": ["Unknown field."],
            "id": ["This field is read-only."],
        }),
    ],
)  # fmt: skip
def test_task_create_with_unknown_or_read_only_fields_is_400(lena_api, incident, payload, errors):
    response = lena_api.post(tasks(incident), payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"done": True, "done_at": "2026-01-01T00:00:00Z"}, {"done_at": ["This field is read-only."]}),
        ({"colour": "red"}, {"colour": ["Unknown field."]}),
        ({"incident": "IR-2026-0002"}, {"incident": ["Unknown field."]}),
    ],
)
def test_task_patch_with_unknown_or_read_only_fields_is_400_and_changes_nothing(
    lena_api, incident, lead, payload, errors
):
    task = services.task_add(incident=incident, actor=lead, title="Block sender domain")

    response = lena_api.patch(tasks(incident, task.pk), payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    task.refresh_from_db()
    assert (task.title, task.done, task.done_at) == ("Block sender domain", False, None)


@pytest.mark.parametrize(
    ("assignee", "why"),
    [("erin", "an executive"), ("olga", "an observer"), ("otto", "not a member of a restricted incident")],
)
def test_task_assignee_outside_the_assignable_people_is_400(
    lena_api, lead, executive, outsider, restricted_incident, assignee, why
):
    olga = UserFactory(username="olga", role=Role.RESPONDER)
    services.member_add(incident=restricted_incident, user=olga, actor=lead, role="observer")
    services.member_add(incident=restricted_incident, user=executive, actor=lead, role="observer")

    response = lena_api.post(tasks(restricted_incident), {"title": "Review logs", "assignee": assignee}, format="json")

    assert response.status_code == 400, why
    assert response.json() == {"assignee": [f"{assignee} cannot be given tasks on {restricted_incident.reference}."]}
    assert not Task.objects.exists()


def test_a_vendor_collaborator_may_tick_only_their_own_task(session, lead, responder, vendor, restricted_incident):
    # Shared with the vendor (not internal), so what stops them is the rule table, not visibility.
    own = services.task_add(
        incident=restricted_incident, actor=lead, title="Revoke contractor tokens", assignee=vendor, internal=False
    )
    others = services.task_add(
        incident=restricted_incident, actor=lead, title="Rotate keys", assignee=responder, internal=False
    )
    hidden = services.task_add(incident=restricted_incident, actor=lead, title="Assess exposure", assignee=responder)
    client = session(vendor)
    assert hidden.internal is True  # the default on a restricted incident
    assert client.patch(tasks(restricted_incident, hidden.pk), {"done": True}, format="json").status_code == 404

    ticked = client.patch(tasks(restricted_incident, own.pk), {"done": True}, format="json")
    renamed = client.patch(tasks(restricted_incident, own.pk), {"title": "Done already"}, format="json")
    not_theirs = client.patch(tasks(restricted_incident, others.pk), {"done": True}, format="json")

    assert ticked.status_code == 200
    assert (ticked.json()["done"], ticked.json()["title"]) == (True, "Revoke contractor tokens")
    assert (renamed.status_code, renamed.json()) == (403, {"detail": "You may only tick tasks assigned to you."})
    assert (not_theirs.status_code, not_theirs.json()) == (403, {"detail": "You may only tick tasks assigned to you."})
    own.refresh_from_db()
    others.refresh_from_db()
    assert (own.title, own.done) == ("Revoke contractor tokens", True)
    assert (others.title, others.done, others.done_at) == ("Rotate keys", False, None)


# --- What a write answers -------------------------------------------------------------------
TIMES = (
    "detected_at",
    "reported_at",
    "acknowledged_at",
    "contained_at",
    "resolved_at",
    "closed_at",
    "created_at",
    "updated_at",
)


def _times(body: dict) -> dict:
    """Pop the timestamps out of an incident body, parsed, to compare with the database."""
    values = {name: body.pop(name) for name in TIMES}
    return {name: None if value is None else datetime.fromisoformat(value) for name, value in values.items()}


def test_write_only_key_learns_only_what_it_needs_to_write_again(api, lead, incident):
    client = api("incidents:write", user=lead)

    created = client.post(LIST, {"title": "From the SOAR", "summary": "Secret details."}, format="json")
    reference = created.json()["reference"]
    patched = client.patch(detail(reference), {"version": 1, "severity": "high"}, format="json")
    moved = client.post(transition(reference), {"to": "triage", "version": 2}, format="json")
    finding = client.post(findings(incident), {"body": "Matched rule 4411."}, format="json")
    task = client.post(tasks(incident), {"title": "Isolate host", "assignee": "lena"}, format="json")
    ticked = client.patch(tasks(incident, task.json()["id"]), {"done": True}, format="json")

    assert (created.status_code, created.json()) == (201, {"reference": reference, "version": 1})
    assert created.headers["Location"] == f"/api/v1/incidents/{reference}/"
    assert (patched.status_code, patched.json()) == (200, {"reference": reference, "version": 2})
    assert (moved.status_code, moved.json()) == (200, {"reference": reference, "version": 3})
    assert (finding.status_code, finding.json()) == (201, {"id": Finding.objects.get().pk})
    assert (task.status_code, task.json()) == (201, {"id": Task.objects.get().pk})
    assert (ticked.status_code, ticked.json()) == (200, {"id": Task.objects.get().pk})
    # The writes all happened; only the answers were short.
    written = Incident.objects.get(reference=reference)
    assert (written.severity, written.status, written.summary) == ("high", "triage", "Secret details.")
    assert Task.objects.get().done is True
    # And reading is what the key cannot do.
    assert client.get(created.headers["Location"]).status_code == 403


def test_read_write_key_gets_the_whole_incident_back(api, lead):
    client = api(*RW, user=lead)

    created = client.post(LIST, {"title": "From the SOAR", "summary": "Laptop left on a **train**."}, format="json")
    body = created.json()
    incident = Incident.objects.get(reference=body["reference"])
    times = _times(body)

    assert created.status_code == 201
    assert body == {
        "reference": incident.reference,
        "title": "From the SOAR",
        "summary": "Laptop left on a **train**.",
        "summary_html": "<p>Laptop left on a <strong>train</strong>.</p>",
        "severity": "medium",
        "status": "new",
        "category": "other",
        "lead": None,
        "restricted": False,
        "personal_data": False,
        "records_affected": None,
        "version": 1,
        "allowed_transitions": ["triage", "investigating", "closed"],
        "resolution": None,
        "closing_summary": "",
        "duplicate_of": None,
        "tags": [],
        "playbook": None,
    }
    assert times == {
        "detected_at": incident.detected_at,
        "reported_at": incident.reported_at,
        "acknowledged_at": None,
        "contained_at": None,
        "resolved_at": None,
        "closed_at": None,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
    }
    # Later writes answer the whole incident too: what a read would show right after.
    patched = client.patch(detail(incident), {"version": 1, "severity": "high"}, format="json")
    assert (patched.status_code, patched.json()["version"]) == (200, 2)
    assert patched.json() == client.get(detail(incident)).json()
    moved = client.post(transition(incident), {"to": "triage"}, format="json")
    assert (moved.status_code, moved.json()["status"]) == (200, "triage")
    assert moved.json() == client.get(detail(incident)).json()


def test_read_write_key_gets_whole_findings_and_tasks_back(api, lead, incident):
    client = api(*RW, user=lead)

    finding = client.post(findings(incident), {"body": "Matched rule **4411**."}, format="json").json()
    task = client.post(
        tasks(incident), {"title": "Isolate host", "assignee": "lena", "due_on": IN_A_MONTH}, format="json"
    ).json()

    stored_finding, stored_task = Finding.objects.get(), Task.objects.get()
    assert datetime.fromisoformat(finding.pop("created_at")) == stored_finding.created_at
    assert finding == {
        "id": stored_finding.pk,
        "author": "lena",
        "body": "Matched rule **4411**.",
        "body_html": "<p>Matched rule <strong>4411</strong>.</p>",
        "critical": False,
        "internal": False,
    }
    assert datetime.fromisoformat(task.pop("created_at")) == stored_task.created_at
    assert task == {
        "id": stored_task.pk,
        "title": "Isolate host",
        "assignee": "lena",
        "due_on": IN_A_MONTH,
        "status": "todo",
        "cancel_reason": "",
        "done": False,
        "done_at": None,
        "overdue": False,
        "internal": False,
    }


# --- Query counts ---------------------------------------------------------------------------
def test_detail_query_count_with_an_api_key(
    postgres, api, lead, incident, restricted_incident, django_assert_num_queries
):
    # Counts on PostgreSQL: the audit log's append takes an advisory lock there (none on SQLite).
    client = api("incidents:read", user=lead)
    # A fresh key's first request also stamps last_used_at (an UPDATE, then at most once a minute)
    # and audits that use: 3 more (advisory lock, chain head, insert: accounts.audit.audit_record).
    with django_assert_num_queries(7):
        assert client.get(detail(incident)).status_code == 200

    for case in (incident, restricted_incident):
        # 1. the API key by its prefix, its user joined in (authentication);
        # 2. the incident by reference, within what lena may see (unrestricted, or a membership
        #    subquery in the same statement), its lead and playbook joined in (select_related);
        # 3. its tags (prefetch).
        # Nothing else: allowed_transitions and summary_html are computed in Python.
        # A restricted incident's read is audited once per 15 minutes: 4 more the first time (the
        # last read in the window, then lock, chain head, insert: accounts.audit).
        with django_assert_num_queries(7 if case.restricted else 3):
            response = client.get(detail(case))
        assert response.json()["reference"] == case.reference


def test_detail_query_count_with_a_session(
    postgres, session, lead, admin, incident, restricted_incident, django_assert_num_queries
):
    # Counts on PostgreSQL: the audit log's append takes an advisory lock there (none on SQLite).
    for user in (lead, admin):
        client = session(user)
        for case in (incident, restricted_incident):
            # 1. the session row; 2. its user (authentication);
            # 3. the incident by reference within what the user may see, its lead and playbook
            #    joined in; 4. its tags (prefetch).
            # A restricted incident's first read in 15 minutes is audited, admins' too: 4 more
            # (the last read in the window, then lock, chain head, insert: accounts.audit).
            with django_assert_num_queries(8 if case.restricted else 4):
                response = client.get(detail(case))
            assert response.json()["reference"] == case.reference


def test_detail_of_an_invisible_incident_costs_the_same(api, outsider, restricted_incident, django_assert_num_queries):
    client = api("incidents:read", user=outsider)
    client.get(LIST)  # the key's first use stamps last_used_at: keep it out

    # 1. the key and its user; 2. the incident lookup, which finds nothing visible: a 404.
    with django_assert_num_queries(2):
        assert client.get(detail(restricted_incident)).status_code == 404


# --- Schema and docs ------------------------------------------------------------------------
def test_schema_is_openapi_3_and_declares_the_api_key():
    response = APIClient().get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Breachline API"
    assert "/api/v1/incidents/{reference}/transition/" in schema["paths"]
    assert "put" not in schema["paths"]["/api/v1/incidents/{reference}/"]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Api-Key <key>`; create one with `manage.py create_api_key`.",
    }


def test_docs_page_serves_its_assets_locally():
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode().lower()
    assert "swagger" in html
    # The split view: the page's own script (no inline script, for the CSP) names the schema.
    script = APIClient().get("/api/v1/docs/", {"script": ""}).content.decode()
    assert "/api/v1/schema/" in script
    for cdn in ("cdn", "jsdelivr", "unpkg"):
        assert cdn not in html and cdn not in script
