"""STIX 2.1 and CSV exports: attacker-side only, TLP 2.0 markings, RED left out unless asked
(and, in the browser, confirmed); bundles validated with stix2-validator."""

from __future__ import annotations

import csv
import io
import json

import pytest
from stix2validator import ValidationOptions, validate_string

from incidents.indicators import services

pytestmark = pytest.mark.django_db

GREEN_ID = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER_STRICT_ID = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
RED_ID = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


@pytest.fixture
def indicators(lead, incident):
    add = services.indicator_add
    add(incident=incident, actor=lead, type="ip", value="45.137.21.9", tlp="green", confidence=80, source="proxy log")
    add(incident=incident, actor=lead, type="url", value="hxxp://evil[.]com/a'b", tlp="amber+strict")
    add(
        incident=incident,
        actor=lead,
        type="sha256",
        value="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    )
    add(incident=incident, actor=lead, type="user_agent", value="curl/8.4.0", tlp="clear")
    add(incident=incident, actor=lead, type="account", value="CORP\\jdoe", tlp="amber")
    add(incident=incident, actor=lead, type="domain", value="red-only.example", tlp="red")
    add(incident=incident, actor=lead, type="ip", value="10.1.4.17")  # ours: affected, never exported
    add(incident=incident, actor=lead, type="email", value="=cmd@evil.com", description="=HYPERLINK()")


def patterns(bundle: dict) -> dict[str, tuple[str, list[str]]]:
    return {
        o["pattern"]: (o["confidence"], o["object_marking_refs"]) for o in bundle["objects"] if o["type"] == "indicator"
    }


def test_the_stix_bundle_validates_and_leaves_out_red_and_ours(api, lead, incident, indicators):
    response = api("incidents:read", user=lead).get(f"/api/v1/incidents/{incident.reference}/indicators/export/stix/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith(f'attachment; filename="{incident.reference}-indicators-')
    text = response.content.decode()
    result = validate_string(text, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    assert not result.warnings, [str(w) for w in result.warnings]
    bundle = json.loads(text)
    assert patterns(bundle) == {
        "[ipv4-addr:value = '45.137.21.9']": (80, [GREEN_ID]),
        "[url:value = 'http://evil.com/a\\'b']": (50, [AMBER_STRICT_ID]),
        "[file:hashes.'SHA-256' = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08']": (
            50,
            ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
        ),
        "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'curl/8.4.0']": (
            50,
            ["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"],
        ),
        "[user-account:account_login = 'CORP\\\\jdoe']": (
            50,
            ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
        ),
        "[email-addr:value = '=cmd@evil.com']": (50, ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]),
    }
    markings = {o["id"]: o for o in bundle["objects"] if o["type"] == "marking-definition"}
    assert RED_ID not in markings
    assert markings[AMBER_STRICT_ID]["extensions"] == {
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
            "extension_type": "property-extension",
            "tlp_2_0": "amber+strict",
        }
    }
    assert markings[AMBER_STRICT_ID]["name"] == "TLP:AMBER+STRICT"


def test_red_only_when_asked(api, lead, incident, indicators):
    client = api("incidents:read", user=lead)
    url = f"/api/v1/incidents/{incident.reference}/indicators/export/stix/?include_red=true"
    text = client.get(url).content.decode()
    assert validate_string(text).is_valid
    bundle = json.loads(text)
    assert "[domain-name:value = 'red-only.example']" in patterns(bundle)
    assert RED_ID in {o["id"] for o in bundle["objects"]}


def test_the_csv(api, lead, incident, indicators):
    response = api("incidents:read", user=lead).get(f"/api/v1/incidents/{incident.reference}/indicators/export/csv/")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "type", "value", "tlp", "role", "confidence", "first_seen", "last_seen", "source", "description", "added_at",
    ]  # fmt: skip
    assert [row[:5] for row in rows[1:]] == [
        ["ip", "45.137.21.9", "TLP:GREEN", "attacker", "80"],
        ["url", "http://evil.com/a'b", "TLP:AMBER+STRICT", "attacker", "50"],
        ["sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "TLP:AMBER", "attacker", "50"],
        ["user_agent", "curl/8.4.0", "TLP:CLEAR", "attacker", "50"],
        ["account", "CORP\\jdoe", "TLP:AMBER", "attacker", "50"],
        ["email", "'=cmd@evil.com", "TLP:AMBER", "attacker", "50"],  # a formula is defused
    ]
    assert rows[1][7] == "proxy log" and rows[6][8] == "'=HYPERLINK()"


def test_the_browser_asks_before_exporting_red(login, lead, incident, indicators):
    client = login(lead)
    url = f"/incidents/{incident.reference}/indicators/export.csv"
    plain = client.get(url).content.decode()
    assert "red-only.example" not in plain
    asking = client.get(url, {"include_red": "true"})
    assert asking.status_code == 200 and "text/html" in asking["Content-Type"]
    assert "1 attacker-side indicator marked" in asking.content.decode()
    confirmed = client.get(url, {"include_red": "true", "confirm_red": "true"}).content.decode()
    assert "red-only.example" in confirmed


def test_a_vendor_exports_only_what_is_shared_with_them(login, lead, vendor, restricted_incident):
    services.indicator_add(incident=restricted_incident, actor=lead, type="ip", value="45.137.21.9", internal=False)
    services.indicator_add(incident=restricted_incident, actor=lead, type="ip", value="45.137.21.10", internal=True)
    body = login(vendor).get(f"/incidents/{restricted_incident.reference}/indicators/export.csv").content.decode()
    assert "45.137.21.9" in body and "45.137.21.10" not in body


def test_export_of_an_invisible_incident_is_404(login, api, outsider, restricted_incident):
    assert login(outsider).get(f"/incidents/{restricted_incident.reference}/indicators/export.stix").status_code == 404
    url = f"/api/v1/incidents/{restricted_incident.reference}/indicators/export/csv/"
    assert api("incidents:read", user=outsider).get(url).status_code == 404
