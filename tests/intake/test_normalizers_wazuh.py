"""Wazuh alerts (intake/normalizers/wazuh.py), as the integrations script posts an alerts.json
line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from intake.normalizers import NormalizedAlert
from intake.normalizers.wazuh import normalize
from tests.intake.normalizer_support import refused_by, sample

refused = refused_by(normalize)


def test_an_sshd_brute_force_alert_is_read_field_by_field():
    assert normalize(sample("wazuh_sshd.json")) == NormalizedAlert(
        source_ref="1772445600.123456",
        title="sshd: brute force trying to get access to the system. Non existent user.",
        severity="high",  # level 10
        observed_at=datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC),  # "+0000"
        rule="5712",
        host="web01",
        user="oracle",
        description="Mar  2 11:00:00 web01 sshd[1209]: Invalid user oracle from 203.0.113.7 port 51130",
        observables=[("ip", "203.0.113.7"), ("account", "oracle")],
        extra={
            "agent_id": "003",
            "agent_ip": "10.0.0.5",
            "manager": "wazuh-manager-1",
            "location": "/var/log/auth.log",
            "decoder": "sshd",
            "rule_groups": ["syslog", "sshd", "authentication_failures"],
            "mitre_ids": ["T1110"],
            "mitre_tactics": ["Credential Access"],
            "fired_times": 3,
        },
    )


def test_a_file_integrity_alert_is_read_field_by_field():
    assert normalize(sample("wazuh_syscheck.json")) == NormalizedAlert(
        source_ref="1772463917.998877",
        title="Integrity checksum changed.",
        severity="medium",  # level 7
        observed_at=datetime(2026, 3, 2, 10, 5, 17, tzinfo=timezone(timedelta(hours=-5))),
        rule="550",
        host="db-02",
        description="File '/etc/passwd' modified\nMode: realtime\nChanged attributes: size,mtime,md5,sha1,sha256",
        observables=[
            ("filename", "/etc/passwd"),
            ("sha256", "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"),
            ("sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
            ("md5", "0cc175b9c0f1b6a831c399e269772661"),
        ],
        extra={
            "agent_id": "007",
            "agent_ip": "10.0.1.7",
            "manager": "wazuh-manager-1",
            "location": "syscheck",
            "decoder": "syscheck_integrity_changed",
            "rule_groups": ["ossec", "syscheck", "syscheck_entry_modified", "syscheck_file"],
            "mitre_ids": ["T1565.001"],
            "mitre_tactics": ["Impact"],
        },
    )


def test_the_minimal_alert():
    assert normalize(sample("wazuh_minimal.json")) == NormalizedAlert(
        source_ref="1772445601.42", title="Login session opened.", severity="info", observed_at=None
    )


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        (15, "critical"),
        (13, "critical"),
        (12, "high"),
        (10, "high"),
        (9, "medium"),
        (7, "medium"),
        (6, "low"),
        (4, "low"),
        (3, "info"),
        (0, "info"),
        ("12", "high"),
    ],
)
def test_rule_levels_are_banded(level, severity):
    assert normalize({"id": "1.1", "rule": {"description": "d", "level": level}}).severity == severity


def test_a_level_that_is_no_number_is_medium_and_kept():
    alert = normalize({"id": "1.1", "rule": {"description": "d", "level": "high"}})
    assert (alert.severity, alert.extra) == ("medium", {"native_level": "high"})


def test_windows_event_fields_and_a_json_decoded_log_with_nested_url_are_read_without_refusing():
    alert = normalize(
        {
            "id": "1.2",
            "rule": {"description": "Logon failure", "level": 5, "id": 60122},
            "manager": {"name": "wazuh-1"},
            "data": {
                "win": {"eventdata": {"targetUserName": "Administrator", "ipAddress": "198.51.100.9"}},
                "url": {"path": "/login"},  # a decoder's own object: not a URL, skipped
            },
        }
    )
    assert (alert.rule, alert.host, alert.user, alert.observables) == (
        "60122",
        "wazuh-1",
        "Administrator",
        [("ip", "198.51.100.9")],
    )


def test_missing_parts_are_named_in_wazuhs_terms():
    assert refused({"rule": {"level": 3}}) == {
        "id": ["A Wazuh alert is named by its 'id'; it is missing."],
        "rule.description": ["A Wazuh alert names what fired in 'rule.description'; it is missing."],
    }


def test_wrong_types_and_an_unparsable_timestamp_are_named():
    assert refused({"id": [], "rule": "5712", "timestamp": "2026-03-02 at ten"}) == {
        "id": ["Must be a string or a number; got an array."],
        "rule.description": ["A Wazuh alert names what fired in 'rule.description'; it is missing."],
        "timestamp": [
            "Not a time: '2026-03-02 at ten'. Expected ISO 8601 with an offset (2026-03-02T10:00:00Z) or epoch seconds."
        ],
    }
    assert refused({"id": "1.1", "rule": {"description": {"text": "d"}}}) == {
        "rule.description": ["Must be text; got an object."]
    }


def test_a_numeric_id_is_its_text():
    assert normalize({"id": 1772445600.5, "rule": {"description": "d"}}).source_ref == "1772445600.5"


def test_anything_but_an_object_is_a_non_field_error():
    assert refused(None) == {"non_field_errors": ["A Wazuh alert is a JSON object; got null."]}
