"""Elastic Security alert documents (intake/normalizers/elastic.py): nested, flattened and
mixed ECS keys, search hits, 7.x ``signal.*`` documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intake.normalizers import NormalizedAlert
from intake.normalizers.elastic import normalize
from tests.intake.normalizer_support import refused_by, sample

refused = refused_by(normalize)


def test_a_nested_alert_document_is_read_field_by_field():
    assert normalize(sample("elastic_nested.json")) == NormalizedAlert(
        source_ref="7b2f4c7a9e0d4b8f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a",
        title="Suspicious MS Office Child Process",
        severity="high",
        observed_at=datetime(2026, 3, 2, 9, 59, 58, tzinfo=UTC),  # original_time, not @timestamp
        rule="c6a3b8e0-1f2d-11ee-9a1b-0242ac120002",
        host="fin-laptop-12",
        user="j.doe",
        description="process event with process powershell.exe, parent process winword.exe, by j.doe on "
        "fin-laptop-12 created high alert Suspicious MS Office Child Process.",
        observables=[
            ("ip", "198.51.100.23"),
            ("domain", "cdn.bad-example.net"),
            ("url", "http://cdn.bad-example.net/payload.ps1"),
            ("sha256", "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c"),
            ("filename", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
            ("account", "j.doe"),
        ],
        extra={
            "risk_score": 73,
            "workflow_status": "open",
            "rule_id": "a624863f-a70d-417f-a7d2-7a404638d47f",
            "rule_tags": ["Elastic", "Host", "Windows", "Threat Detection", "Initial Access"],
            "space_ids": ["default"],
            "event_action": "start",
            "event_category": ["process"],
        },
    )


def test_a_flattened_document_is_read_the_same_way():
    assert normalize(sample("elastic_flattened.json")) == NormalizedAlert(
        source_ref="4f1e2d3c-0000-4000-8000-000000000001",
        title="Potential DNS Tunneling via NsLookup",
        severity="medium",  # no severity: risk score 47 is in the medium band
        observed_at=datetime(2026, 3, 2, 10, 0, 5, 412000, tzinfo=UTC),
        rule="3a59fc81-99d3-47ea-8cd6-d48d561fca20",
        host="dc-02",
        user="svc_backup",
        observables=[
            ("ip", "10.20.1.9"),
            ("domain", "aGVsbG8.t.tunnel-example.org"),
            ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("user_agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
            ("account", "svc_backup"),
        ],
        extra={"risk_score": 47, "rule_id": "3a59fc81-99d3-47ea-8cd6-d48d561fca20"},
    )


def test_a_search_hit_is_read_from_its_source_with_its_id():
    assert normalize(sample("elastic_hit_minimal.json")) == NormalizedAlert(
        source_ref="f0e1d2c3b4a5",
        title="Endpoint Security",
        severity="critical",  # legacy signal.rule.risk_score 99
        observed_at=None,
        extra={"index": ".internal.alerts-security.alerts-default-000001"},
    )


def test_mixed_nesting_and_dots_meet():
    alert = normalize({"kibana.alert": {"uuid": "u1", "rule.name": "R"}, "kibana": {"alert": {"severity": "low"}}})
    assert (alert.source_ref, alert.title, alert.severity) == ("u1", "R", "low")


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (100, "critical"),
        (74, "critical"),
        (73.9, "high"),
        (48, "high"),
        (47, "medium"),
        ("22", "medium"),
        (21, "low"),
        (0, "low"),
        ("high", "medium"),
        (None, "medium"),
    ],
)
def test_risk_score_bands(score, severity):
    payload = {"kibana.alert.uuid": "u", "kibana.alert.rule.name": "r", "kibana.alert.risk_score": score}
    assert normalize(payload).severity == severity


def test_an_unknown_severity_name_falls_back_to_the_risk_score_and_is_kept():
    alert = normalize(
        {
            "kibana.alert.uuid": "u",
            "kibana.alert.rule.name": "r",
            "kibana.alert.severity": "urgent",
            "kibana.alert.risk_score": 80,
        }
    )
    assert (alert.severity, alert.extra) == ("critical", {"risk_score": 80, "native_severity": "urgent"})


def test_missing_parts_are_named_in_elastics_terms():
    assert refused({"@timestamp": "2026-03-02T10:00:00Z"}) == {
        "kibana.alert.uuid": [
            "Elastic Security names the alert in 'kibana.alert.uuid' (or the document's '_id'); it is missing."
        ],
        "kibana.alert.rule.name": [
            "Elastic Security names the detection rule in 'kibana.alert.rule.name'; it is missing."
        ],
    }


def test_wrong_types_and_an_unparsable_timestamp_are_named():
    assert refused(
        {"kibana": {"alert": {"uuid": ["a", "b"], "rule": {"name": {"en": "x"}}}}, "@timestamp": "last tuesday"}
    ) == {
        "kibana.alert.rule.name": ["Must be text; got an object."],
        "@timestamp": [
            "Not a time: 'last tuesday'. Expected ISO 8601 with an offset (2026-03-02T10:00:00Z) or epoch seconds."
        ],
    }


def test_an_array_id_stands_for_its_first_value_and_event_fields_of_odd_types_are_skipped():
    alert = normalize(
        {"kibana.alert.uuid": ["a", "b"], "kibana.alert.rule.name": "r", "host": {"name": {"x": 1}}, "source.ip": 7}
    )
    assert (alert.source_ref, alert.host, alert.observables) == ("a", "", [("ip", "7")])


def test_anything_but_an_object_is_a_non_field_error():
    assert refused("kibana") == {
        "non_field_errors": ["An Elastic Security alert document is a JSON object; got a string."]
    }
