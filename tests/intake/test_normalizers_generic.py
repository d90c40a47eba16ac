"""The generic format (intake/normalizers/generic.py): our own documented alert object.

Strict about the fields it documents (wrong types are field messages), lenient about the rest
(unknown keys are kept in ``extra``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from intake.normalizers import NormalizedAlert
from intake.normalizers.generic import normalize
from tests.intake.normalizer_support import refused_by, sample

refused = refused_by(normalize)


def test_a_full_alert_is_read_field_by_field():
    assert normalize(sample("generic_full.json")) == NormalizedAlert(
        source_ref="soar-7f3c2a",
        title="Outbound beacon to known C2 from FIN-LAPTOP-12",
        severity="high",
        observed_at=datetime(2026, 3, 2, 11, 15, 30, tzinfo=timezone(timedelta(hours=1))),
        rule="C2 beacon (JA3 match)",
        host="fin-laptop-12.corp.example",
        user="j.doe",
        description="JA3 fingerprint matched a known C2 framework.\nBeacon interval 60 s.",
        source="crowdstrike-eu",
        observables=[
            ("ip", "203.0.113.7"),
            ("domain", "update-check[.]example"),  # refanged and lower-cased by the service
            ("sha256", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"),
        ],
        extra={"ticket": "SOAR-1234", "tags": ["c2", "beacon"]},
    )


def test_the_minimal_alert_takes_defaults_and_a_numeric_source_ref_as_text():
    assert normalize(sample("generic_minimal.json")) == NormalizedAlert(
        source_ref="42", title="Test alert", severity="medium", observed_at=None
    )


def test_observables_may_be_grouped_by_type_and_repeats_are_dropped():
    alert = normalize(
        {
            "source_ref": "a",
            "title": "t",
            "observables": {"ip": ["203.0.113.7", "203.0.113.7", "198.51.100.1"], "url": "http://x.example/"},
        }
    )
    assert alert.observables == [("ip", "203.0.113.7"), ("ip", "198.51.100.1"), ("url", "http://x.example/")]


@pytest.mark.parametrize(
    ("observed_at", "expected"),
    [
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("2026-03-02T10:00:00.5+0000", datetime(2026, 3, 2, 10, 0, 0, 500000, tzinfo=UTC)),
        (1772445600, datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        (1772445600.25, datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC)),
        (1772445600123, datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC)),  # milliseconds
        ("1772445600", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        # No offset: passed on naive; the service refuses it, alike for every format.
        ("2026-03-02T10:00:00", datetime(2026, 3, 2, 10, 0)),
    ],
)
def test_observed_at_is_iso_8601_or_epoch_seconds_or_milliseconds(observed_at, expected):
    assert normalize({"source_ref": "a", "title": "t", "observed_at": observed_at}).observed_at == expected


def test_severity_is_any_case_and_null_fields_are_absent_fields():
    alert = normalize({"source_ref": "a", "title": "t", "severity": " Critical ", "rule": None, "host": None})
    assert (alert.severity, alert.rule, alert.host) == ("critical", "", "")


def test_long_titles_are_cut_with_an_ellipsis_and_line_breaks_become_spaces():
    alert = normalize({"source_ref": "a", "title": "word\r\n\tsecond " + "x" * 400, "rule": "r" * 250})
    assert alert.title == "word second " + "x" * 287 + "…"
    assert len(alert.title) == 300
    assert alert.rule == "r" * 199 + "…"


def test_nul_and_lone_surrogates_are_dropped_since_postgresql_cannot_store_them():
    alert = normalize({"source_ref": "a\x00b", "title": "evil\x00 \ud800title", "description": "one\x00\ntwo"})
    assert (alert.source_ref, alert.title, alert.description) == ("a b", "evil title", "one\ntwo")


def test_missing_required_fields_are_named():
    assert refused({}) == {"source_ref": ["This field is required."], "title": ["This field is required."]}
    assert refused({"source_ref": "  ", "title": "\n"}) == {
        "source_ref": ["May not be blank."],
        "title": ["This field may not be blank."],
    }


def test_wrong_types_are_field_messages_all_at_once():
    assert refused(
        {
            "source_ref": {"id": 1},
            "title": 42,
            "severity": 3,
            "observed_at": True,
            "rule": ["r"],
            "host": 1.5,
            "user": {},
            "description": 7,
            "source": False,
            "observables": "203.0.113.7",
        }
    ) == {
        "source_ref": ["Must be a string or a number; got an object."],
        "title": ["Must be a string."],
        "severity": ["Must be a string."],
        "observed_at": ["Must be an ISO 8601 time or epoch seconds; got a boolean."],
        "rule": ["Must be a string."],
        "host": ["Must be a string."],
        "user": ["Must be a string."],
        "description": ["Must be a string."],
        "source": ["Must be a string."],
        "observables": ["Must be an array or an object; got a string."],
    }


def test_wrong_values_are_field_messages():
    assert refused(
        {
            "source_ref": "r" * 201,
            "title": "t",
            "severity": "urgent",
            "observed_at": "yesterday",
            "source": "s" * 65,
        }
    ) == {
        "source_ref": [
            "Ensure this field has no more than 200 characters (it has 201): it identifies the alert and is not "
            "shortened."
        ],
        "severity": ["'urgent' is not one of critical, high, medium, low, info."],
        "observed_at": [
            "Not a time: 'yesterday'. Expected ISO 8601 with an offset (2026-03-02T10:00:00Z) or epoch seconds."
        ],
        "source": ["Ensure this field has no more than 64 characters."],
    }


def test_a_source_ref_of_exactly_200_characters_is_kept_whole():
    assert normalize({"source_ref": "r" * 200, "title": "t"}).source_ref == "r" * 200


@pytest.mark.parametrize("source_ref", [True, float("nan"), float("inf")])
def test_booleans_and_non_finite_numbers_are_no_source_ref(source_ref):
    assert list(refused({"source_ref": source_ref, "title": "t"})) == ["source_ref"]


def test_bad_observables_are_named_by_item():
    assert refused(
        {
            "source_ref": "a",
            "title": "t",
            "observables": [
                {"type": "ip", "value": "203.0.113.7"},
                "203.0.113.8",
                {"type": "ipv4", "value": "203.0.113.9"},
                {"type": "ip"},
                {"type": "ip", "value": 3405803785},
            ],
        }
    ) == {
        "observables": [
            "Item 1: must be an object with 'type' and 'value'.",
            "Item 2: type 'ipv4' is not one of ip, domain, url, email, sha256, sha1, md5, hostname, account, "
            "filename, user_agent.",
            "Item 3: 'type' and 'value' are required.",
            "Item 4: the value must be a string; got a number.",
        ]
    }
    assert refused({"source_ref": "a", "title": "t", "observables": {"hash": ["x"]}}) == {
        "observables": [
            "'hash': type 'hash' is not one of ip, domain, url, email, sha256, sha1, md5, hostname, account, "
            "filename, user_agent."
        ]
    }


def test_more_than_1000_observables_are_refused_and_1000_are_taken():
    many = [{"type": "ip", "value": f"10.0.{i // 256}.{i % 256}"} for i in range(1001)]
    assert refused({"source_ref": "a", "title": "t", "observables": many}) == {
        "observables": ["Ensure there are no more than 1000 observables."]
    }
    assert len(normalize({"source_ref": "a", "title": "t", "observables": many[:1000]}).observables) == 1000
    assert refused({"source_ref": "a", "title": "t", "observables": {"ip": [m["value"] for m in many]}}) == {
        "observables": ["Ensure there are no more than 1000 observables."]
    }


@pytest.mark.parametrize(
    ("payload", "got"),
    [([{"source_ref": "a", "title": "t"}], "an array"), ("alert", "a string"), (None, "null"), (3, "a number")],
)
def test_anything_but_an_object_is_a_non_field_error(payload, got):
    assert refused(payload) == {"non_field_errors": [f"An alert is a JSON object; got {got}."]}
