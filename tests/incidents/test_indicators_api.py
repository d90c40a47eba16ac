"""The indicators API: create/update per incident, bulk create with per-item results, and the
lookup endpoint's visibility."""

from __future__ import annotations

import pytest

from incidents.indicators import services
from incidents.models import Activity, Indicator, Verb

from ..factories import make_incident

pytestmark = pytest.mark.django_db


def url(incident, suffix=""):
    return f"/api/v1/incidents/{incident.reference}/indicators/{suffix}"


def test_create_then_update(api, lead, incident):
    client = api("incidents:read", "incidents:write", user=lead)
    created = client.post(
        url(incident), {"type": "domain", "value": "Evil[.]COM", "tlp": "amber+strict"}, format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["value"], body["role"], body["tlp"], body["confidence"]) == (
        "evil.com",
        "attacker",
        "amber+strict",
        50,
    )
    changed = client.patch(url(incident, f"{body['id']}/"), {"tlp": "red", "confidence": 90}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["tlp"], changed.json()["confidence"]) == ("red", 90)
    entry = Activity.objects.filter(incident=incident, verb=Verb.INDICATOR_UPDATED).get()
    assert entry.data["changes"] == {"tlp": {"old": "amber+strict", "new": "red"}, "confidence": {"old": 50, "new": 90}}
    assert entry.text == "changed the indicator domain evil.com: confidence from 50 to 90, tlp from amber+strict to red"


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"type": "ip", "value": "45.137.21.9", "confidence": 101}, "confidence", "less than or equal to 100"),
        ({"type": "ip", "value": "45.137.21.9", "tlp": "white"}, "tlp", "is not a valid choice"),
        ({"type": "hash", "value": "abc"}, "type", "is not a valid choice"),
        ({"type": "ip", "value": "45.137.21.9", "colour": "red"}, "colour", "Unknown field."),
        ({"type": "ip", "value": "45.137.21.9", "id": 3}, "id", "This field is read-only."),
        ({"type": "ip", "value": "45.137.21.9\x00"}, "value", "Null characters are not allowed."),
    ],
)
def test_create_refuses_bad_input_with_field_messages(api, lead, incident, payload, field, message):
    response = api("incidents:read", "incidents:write", user=lead).post(url(incident), payload, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not Indicator.objects.exists()


def test_a_duplicate_is_a_400_on_value(api, lead, incident):
    client = api("incidents:read", "incidents:write", user=lead)
    client.post(url(incident), {"type": "ip", "value": "45.137.21.9"}, format="json")
    again = client.post(url(incident), {"type": "ip", "value": "45[.]137[.]21[.]9"}, format="json")
    assert again.status_code == 400
    assert again.json() == {"value": ["The ip address or network 45.137.21.9 is already on this incident."]}


def test_update_cannot_change_what_it_is(api, lead, incident):
    indicator = services.indicator_add(incident=incident, actor=lead, type="ip", value="45.137.21.9")
    response = api("incidents:read", "incidents:write", user=lead).patch(
        url(incident, f"{indicator.pk}/"), {"value": "1.1.1.1"}, format="json"
    )
    assert response.status_code == 400
    assert "add a new one instead" in response.json()["value"][0]


def test_executive_may_not_add(api, executive, incident):
    response = api("incidents:read", "incidents:write", user=executive).post(
        url(incident), {"type": "ip", "value": "45.137.21.9"}, format="json"
    )
    assert response.status_code == 403


def test_bulk_reports_each_item_and_keeps_the_good_ones(api, lead, incident):
    services.indicator_add(incident=incident, actor=lead, type="domain", value="known.example")
    items = [
        {"type": "ip", "value": "45.137.21.9"},
        {"type": "ip", "value": "999.1.1.1"},
        {"type": "domain", "value": "KNOWN[.]example"},
        {"type": "url", "value": "hxxp://evil[.]com/x", "tlp": "red"},
        {"type": "ip", "value": "45[.]137[.]21[.]9"},
        "not an object",
        {"type": "md5", "value": "44d88612fea8a8f36de82e1278abb02f", "confidence": "high"},
        {"type": "ip", "value": "10.0.0.8"},
    ]
    response = api("incidents:read", "incidents:write", user=lead).post(
        url(incident, "bulk/"), {"indicators": items}, format="json"
    )
    assert response.status_code == 207
    body = response.json()
    assert (body["created"], body["duplicates"], body["errors"]) == (3, 2, 3)
    statuses = [(r["index"], r["status"], r["value"]) for r in body["results"]]
    assert statuses == [
        (0, "created", "45.137.21.9"),
        (1, "error", None),
        (2, "duplicate", "known.example"),
        (3, "created", "http://evil.com/x"),
        (4, "duplicate", "45.137.21.9"),
        (5, "error", None),
        (6, "error", None),
        (7, "created", "10.0.0.8"),
    ]
    assert "is not an IPv4 or IPv6 address" in body["results"][1]["errors"]["value"][0]
    assert body["results"][5]["errors"] == {"non_field_errors": ["Each item must be an object with type and value."]}
    assert body["results"][6]["errors"] == {"confidence": ["A valid integer is required."]}
    assert incident.indicators.get(value="10.0.0.8").role == "affected"  # ours
    assert incident.indicators.count() == 4


def test_bulk_refuses_an_empty_or_malformed_envelope(api, lead, incident):
    client = api("incidents:read", "incidents:write", user=lead)
    assert client.post(url(incident, "bulk/"), {"indicators": []}, format="json").status_code == 400
    assert client.post(url(incident, "bulk/"), {"items": [{}]}, format="json").status_code == 400


def test_lookup_answers_only_visible_incidents(api, lead, responder, outsider, vendor, incident, restricted_incident):
    services.indicator_add(incident=incident, actor=lead, type="url", value="http://evil.com/x")
    services.indicator_add(
        incident=restricted_incident, actor=lead, type="url", value="HTTP://EVIL.com/x", internal=True
    )
    third = make_incident(opened_by=lead, lead=lead, title="Closed long ago")
    services.indicator_add(incident=third, actor=lead, type="domain", value="evil.com")

    def lookup(user, **params):
        response = api("incidents:read", user=user).get("/api/v1/indicators/", params)
        assert response.status_code == 200, response.content
        return sorted(row["reference"] for row in response.json()["incidents"])

    assert lookup(responder, value="hxxp://evil[.]com/x") == sorted([incident.reference, restricted_incident.reference])
    assert lookup(outsider, value="hxxp://evil[.]com/x") == [incident.reference]
    assert lookup(vendor, value="hxxp://evil[.]com/x") == []  # on their incident, but internal there
    assert lookup(outsider, value="evil[.]com") == [third.reference]
    assert lookup(outsider, value="evil.com", type="hostname") == []  # the same text, another type


@pytest.mark.parametrize(
    "params", [{}, {"value": ""}, {"value": "not a thing at all ?"}, {"value": "x", "type": "nope"}]
)
def test_lookup_refuses_what_it_cannot_search(api, lead, params):
    response = api("incidents:read", user=lead).get("/api/v1/indicators/", params)
    assert response.status_code == 400


def test_vendor_may_not_make_an_indicator_internal(api, lead, vendor, restricted_incident):
    indicator = services.indicator_add(incident=restricted_incident, actor=vendor, type="ip", value="45.137.21.9")
    assert indicator.internal is False  # a vendor's own work is never internal
    response = api("incidents:read", "incidents:write", user=vendor).patch(
        url(restricted_incident, f"{indicator.pk}/"), {"internal": True}, format="json"
    )
    assert response.status_code == 403
