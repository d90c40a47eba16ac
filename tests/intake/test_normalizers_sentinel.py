"""Microsoft Sentinel (intake/normalizers/sentinel.py): incidents from the incident trigger and
SecurityAlert rows, told apart by shape."""

from __future__ import annotations

from datetime import UTC, datetime

from intake.normalizers import NormalizedAlert
from intake.normalizers.sentinel import normalize
from tests.intake.normalizer_support import refused_by, sample

GUID = "a1b2c3d4-e5f6-4711-8899-aabbccddeeff"

refused = refused_by(normalize)


def test_an_incident_from_the_logic_app_trigger_is_read_field_by_field():
    assert normalize(sample("sentinel_incident.json")) == NormalizedAlert(
        source_ref=GUID,
        title="Multistage attack involving password spray and mailbox rule creation",
        severity="high",
        observed_at=datetime(2026, 3, 2, 9, 41, tzinfo=UTC),  # first activity, not creation
        rule="9f8e7d6c-5b4a-4321-9abc-def012345678",
        host="exch-01.contoso.com",
        user="alice@contoso.com",
        description="Password spray followed by a suspicious inbox forwarding rule.",
        observables=[
            ("account", "alice@contoso.com"),
            ("ip", "203.0.113.7"),
            ("hostname", "exch-01.contoso.com"),
            ("email", "alice@contoso.com"),
            ("domain", "login-contoso.example"),
        ],
        extra={
            "incident_number": 42,
            "status": "New",
            "incident_url": "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/"
            f"subscriptions/11111111-2222-3333-4444-555555555555/incidents/{GUID}",
            "alerts_count": 2,
            "tactics": ["CredentialAccess", "Persistence"],
            "products": ["Azure Sentinel"],
        },
    )


def test_a_security_alert_row_with_entities_as_json_text_is_read_field_by_field():
    assert normalize(sample("sentinel_security_alert.json")) == NormalizedAlert(
        source_ref="8d3f0c1e-7b6a-4c59-a8e7-f6d5c4b3a291",
        title="Suspicious PowerShell download cradle",
        severity="medium",
        observed_at=datetime(2026, 3, 2, 9, 58, tzinfo=UTC),
        rule="66666666-7777-8888-9999-000000000000_9f8e7d6c-5b4a-4321-9abc-def012345678",
        host="ws-0142.corp.contoso.com",
        user="CONTOSO\\bob",
        description="PowerShell downloaded and executed a script from the internet.",
        observables=[
            ("hostname", "ws-0142.corp.contoso.com"),
            ("account", "CONTOSO\\bob"),
            ("url", "http://198.51.100.23/a.ps1"),
            ("sha256", "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c"),
            ("filename", "a.ps1"),
        ],
        extra={
            "product": "Azure Sentinel",
            "product_component": "Scheduled Alerts",
            "vendor": "Microsoft",
            "provider": "ASI Scheduled Alerts",
            "status": "New",
            "tactics": "Execution",
            "techniques": '["T1059"]',
            "compromised_entity": "ws-0142",
        },
    )


def test_a_minimal_alert_trigger_body_reads_a_time_without_offset_as_utc():
    assert normalize(sample("sentinel_alert_minimal.json")) == NormalizedAlert(
        source_ref="2b7e1516-28ae-4d2a-9f15-88099cf4f3c1",
        title="Impossible travel activity",
        severity="info",
        observed_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        observables=[("ip", "192.0.2.44")],
    )


def test_the_incident_resource_itself_is_an_incident_and_its_id_names_it_without_a_name():
    alert = normalize(
        {
            "id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.SecurityInsights/Incidents/{GUID}",
            "properties": {"title": "T", "severity": "Low", "createdTimeUtc": "2026-03-02T10:04:11.8812345Z"},
        }
    )
    assert (alert.source_ref, alert.severity, alert.observed_at) == (
        GUID,
        "low",
        datetime(2026, 3, 2, 10, 4, 11, 881234, tzinfo=UTC),
    )


def test_odd_entities_are_skipped_and_hashes_typed_by_algorithm_or_length():
    alert = normalize(
        {
            "SystemAlertId": "x",
            "AlertName": "n",
            "Entities": [
                "not an entity",
                {"$ref": "2"},
                {"Type": "filehash", "Algorithm": "MD5", "Value": "0cc175b9c0f1b6a831c399e269772661"},
                {"Type": "filehash", "Algorithm": "Unknown", "Value": "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"},
                {"Type": "host", "HostName": {"bad": 1}},
                {"Type": "account", "Name": "carol", "UPNSuffix": "contoso.com"},
                {"Type": "dns", "DomainName": "c2.example"},
                {"Type": "mailbox", "MailboxPrimaryAddress": "carol@contoso.com"},
                {"Type": "malware", "Name": "Emotet"},
            ],
        }
    )
    assert alert.observables == [
        ("md5", "0cc175b9c0f1b6a831c399e269772661"),
        ("sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
        ("account", "carol@contoso.com"),
        ("domain", "c2.example"),
        ("email", "carol@contoso.com"),
    ]
    assert (alert.host, alert.user) == ("", "carol@contoso.com")


def test_an_unknown_severity_is_medium_and_kept():
    alert = normalize({"SystemAlertId": "x", "AlertName": "n", "AlertSeverity": "Severe"})
    assert (alert.severity, alert.extra) == ("medium", {"native_severity": "Severe"})


def test_neither_shape_is_named():
    assert refused({"title": "x"}) == {
        "non_field_errors": [
            "Neither a Sentinel incident (an 'object' with 'properties', as the incident trigger sends it) "
            "nor a SecurityAlert ('SystemAlertId', 'AlertName')."
        ]
    }


def test_missing_parts_of_an_incident_are_named():
    assert refused({"object": {}}) == {
        "object.properties": ["A Sentinel incident carries its fields in 'properties'; it is missing."],
        "object.name": ["A Sentinel incident is named by its guid in 'name' (or 'id'); it is missing."],
        "object.properties.title": ["A Sentinel incident has a 'title'; it is missing."],
    }
    assert refused({"object": {"name": GUID, "properties": {"title": "t", "firstActivityTimeUtc": 1.5e300}}}) == {
        "object.properties.firstActivityTimeUtc": ["Not a time: epoch value out of range."]
    }


def test_missing_and_wrong_parts_of_an_alert_are_named():
    assert refused({"AlertName": "n"}) == {
        "SystemAlertId": ["A Sentinel SecurityAlert is named by 'SystemAlertId'; it is missing."]
    }
    # AlertName as an array stands for its first value: only the Entities text is wrong.
    assert refused({"SystemAlertId": "x", "AlertName": ["n", "m"], "Entities": "[{"}) == {
        "Entities": ["Must be a list of entities, or that list as JSON text; it does not parse."]
    }
    assert refused({"SystemAlertId": {"id": 1}, "AlertName": True, "Entities": {"Type": "ip"}}) == {
        "SystemAlertId": ["Must be a string or a number; got an object."],
        "AlertName": ["Must be text; got a boolean."],
        "Entities": ["Must be a list of entities; got an object."],
    }


def test_entities_nested_too_deep_to_parse_are_a_field_error():
    assert refused({"SystemAlertId": "x", "AlertName": "n", "Entities": "[" * 100_000}) == {
        "Entities": ["Must be a list of entities, or that list as JSON text; it does not parse."]
    }


def test_anything_but_an_object_is_a_non_field_error():
    assert refused(42) == {"non_field_errors": ["A Sentinel incident or alert is a JSON object; got a number."]}
