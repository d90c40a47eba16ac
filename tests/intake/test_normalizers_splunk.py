"""Splunk's webhook alert action (intake/normalizers/splunk.py): sid, search_name and the first
result row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intake.normalizers import NormalizedAlert
from intake.normalizers.splunk import normalize
from tests.intake.normalizer_support import refused_by, sample

SID = "scheduler__admin__search__RMD5c0ffee0123456789_at_1772445600_42"

refused = refused_by(normalize)


def test_an_enterprise_security_alert_is_read_field_by_field():
    assert normalize(sample("splunk_es_notable.json")) == NormalizedAlert(
        source_ref="scheduler__admin__SplunkEnterpriseSecuritySuite__RMD5a1b2c3d4e5f60718_at_1772445600_1234",
        title="Access - Brute Force Access Behavior Detected - Rule",
        severity="high",  # urgency wins over severity (medium)
        observed_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        rule="Access - Brute Force Access Behavior Detected - Rule",
        host="vpn-gw-01",
        user="alice",  # the first value of a multivalue field
        description="Mar  2 10:00:00 vpn-gw-01 sshd[812]: Failed password for alice from 203.0.113.7 port 51122 ssh2",
        observables=[
            ("ip", "203.0.113.7"),
            ("hostname", "vpn-gw-01.corp.example"),
            ("ip", "10.20.0.5"),
            ("url", "https://vpn.example.com/remote/login"),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("user_agent", "python-requests/2.31.0"),
            ("account", "alice"),
            ("account", "bob"),
        ],
        extra={
            "app": "SplunkEnterpriseSecuritySuite",
            "owner": "admin",
            "results_link": "https://splunk.example.com:8000/app/SplunkEnterpriseSecuritySuite/@go?sid="
            "scheduler__admin__SplunkEnterpriseSecuritySuite__RMD5a1b2c3d4e5f60718_at_1772445600_1234",
        },
    )


def test_an_ad_hoc_search_without_a_name_takes_the_result_signature_as_title():
    assert normalize(sample("splunk_minimal.json")) == NormalizedAlert(
        source_ref="rt_md_1772445600.42",
        title="Mongo auth failures",
        severity="medium",
        observed_at=None,
        extra={
            "app": "search",
            "owner": "admin",
            "results_link": "http://splunk.example.local:8000/app/search/@go?sid=rt_md_1772445600.42",
        },
    )


@pytest.mark.parametrize(
    ("row", "severity"),
    [
        ({"urgency": "informational"}, "info"),
        ({"urgency": "CRITICAL", "severity": "low"}, "critical"),
        ({"severity": "low"}, "low"),
        ({"severity": "unknown"}, "medium"),
        ({}, "medium"),
    ],
)
def test_severity_comes_from_urgency_then_severity(row, severity):
    assert normalize({"sid": SID, "search_name": "s", "result": row}).severity == severity


def test_an_unknown_severity_is_medium_and_kept_in_extra():
    alert = normalize({"sid": SID, "search_name": "s", "result": {"severity": "warning"}})
    assert (alert.severity, alert.extra) == ("medium", {"native_severity": "warning"})


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("1772445600", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("1772445600.500", datetime(2026, 3, 2, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-02T11:00:00.000+01:00", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("2026-03-02T10:00:00.000+0000", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
    ],
)
def test_time_is_epoch_text_or_iso(time, expected):
    assert normalize({"sid": SID, "search_name": "s", "result": {"_time": time}}).observed_at == expected


def test_a_time_a_search_rewrote_into_something_else_is_the_time_received():
    alert = normalize({"sid": SID, "search_name": "s", "result": {"_time": "Mon Mar 2 10:00:00 2026"}})
    assert (alert.observed_at, alert.extra) == (None, {"_time": "Mon Mar 2 10:00:00 2026"})


def test_cim_fields_become_observables_by_kind():
    alert = normalize(
        {
            "sid": SID,
            "search_name": "s",
            "result": {
                "src": "laptop-7",
                "dest": "2001:db8::1",
                "query": "evil.example",
                "file_hash": ["a" * 64, "b" * 40, "not-a-hash"],
                "sha256": "c" * 64,
                "file_name": "invoice.pdf.exe",
                "sender": "ceo@evil.example",
                "recipient": ["ap@corp.example"],
            },
        }
    )
    assert alert.observables == [
        ("hostname", "laptop-7"),
        ("ip", "2001:db8::1"),
        ("domain", "evil.example"),
        ("sha256", "a" * 64),
        ("sha1", "b" * 40),
        ("sha256", "c" * 64),
        ("filename", "invoice.pdf.exe"),
        ("email", "ceo@evil.example"),
        ("email", "ap@corp.example"),
    ]
    assert alert.host == "2001:db8::1"  # no host field: dest


def test_odd_values_in_the_result_row_are_skipped_not_refused():
    alert = normalize(
        {
            "sid": SID,
            "search_name": "s",
            "result": {"host": {"name": "x"}, "user": [], "src_ip": [{"a": 1}, "203.0.113.7"], "dest_ip": True},
        }
    )
    assert (alert.host, alert.user, alert.observables) == ("", "", [("ip", "203.0.113.7")])


def test_numbers_are_taken_as_text():
    alert = normalize({"sid": 1772445600, "search_name": 404, "result": {"host": 10, "user": 0}})
    assert (alert.source_ref, alert.title, alert.host, alert.user) == ("1772445600", "404", "10", "0")


def test_missing_parts_are_named_in_splunks_terms():
    assert refused({}) == {
        "sid": ["Splunk's webhook identifies the search run by 'sid'; it is missing."],
        "result": ["Splunk's webhook sends the first result row as 'result'; it is missing."],
        "search_name": [
            "Splunk names the alert in 'search_name'; it is missing or blank, and the result row has no "
            "'signature' either."
        ],
    }


def test_wrong_types_are_named():
    assert refused({"sid": {"id": 1}, "search_name": "s", "result": ["row"]}) == {
        "sid": ["Must be a string or a number; got an object."],
        "result": ["Must be an object (the first result row); got an array."],
    }


def test_an_over_long_sid_is_refused_not_cut():
    assert refused({"sid": "s" * 201, "search_name": "s", "result": {}}) == {
        "sid": [
            "Ensure this field has no more than 200 characters (it has 201): it identifies the alert and is not "
            "shortened."
        ]
    }


def test_anything_but_an_object_is_a_non_field_error():
    assert refused([{"sid": SID}]) == {"non_field_errors": ["A Splunk webhook payload is a JSON object; got an array."]}
