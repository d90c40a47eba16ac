"""Properties of every normalizer (intake/normalizers/), over generated and hostile input.

Whatever JSON arrives, ``normalize`` either returns a ``NormalizedAlert`` that fits the Alert's
columns or raises ``NormalizeError`` with field messages — never another exception, which the
API would answer with a 500. Generated payloads are arbitrary JSON values, and the realistic
samples with one part replaced by an arbitrary value or removed (so the success path is
exercised too, not only the refusals).
"""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.normalizers import NormalizedAlert, NormalizeError, elastic, generic, sentinel, splunk, wazuh
from tests.intake.normalizer_support import SAMPLES, sample

FORMATS = {"generic": generic, "splunk": splunk, "elastic": elastic, "sentinel": sentinel, "wazuh": wazuh}
SEVERITIES = {"critical", "high", "medium", "low", "info"}
INDICATOR_TYPES = {
    "ip", "domain", "url", "email", "sha256", "sha1", "md5", "hostname", "account", "filename", "user_agent",
}  # fmt: skip
SAMPLE_FILES = sorted(path.name for path in SAMPLES.glob("*.json"))
# Keys the normalizers read, so generated objects sometimes look like the real thing.
KNOWN_KEYS = [
    "source_ref", "title", "severity", "observed_at", "observables", "type", "value",
    "sid", "search_name", "result", "_time", "urgency", "src", "file_hash",
    "kibana.alert.uuid", "kibana.alert.rule.name", "kibana", "alert", "uuid", "rule", "name", "risk_score",
    "@timestamp", "_id", "_source", "host.name",
    "object", "properties", "SystemAlertId", "AlertName", "Entities", "Type", "kind", "relatedEntities",
    "id", "level", "description", "timestamp", "agent", "data", "srcip", "syscheck",
]  # fmt: skip

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["", " ", "\x00", "\ud800", "2026-03-02T10:00:00+0000", "1772445600", "high", "10"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=30,
)


def module_of(sample_name: str):
    return FORMATS[sample_name.split("_")[0]]


def assert_fits(module, payload) -> NormalizedAlert | None:
    """The property: a NormalizedAlert that fits the columns, or field messages."""
    try:
        alert = module.normalize(payload)
    except NormalizeError as refused:
        assert isinstance(refused.errors, dict)
        assert refused.errors
        for field, messages in refused.errors.items():
            assert isinstance(field, str)
            assert field
            assert isinstance(messages, list)
            assert messages
            assert all(isinstance(message, str) and message for message in messages)
        return None
    assert isinstance(alert, NormalizedAlert)
    assert isinstance(alert.source_ref, str)
    assert 0 < len(alert.source_ref) <= 200
    assert isinstance(alert.title, str)
    assert 0 < len(alert.title) <= 300
    assert alert.severity in SEVERITIES
    assert alert.observed_at is None or isinstance(alert.observed_at, datetime)
    assert len(alert.rule) <= 200
    assert len(alert.host) <= 255
    assert len(alert.user) <= 255
    assert len(alert.source) <= 64
    assert len(alert.description) <= 10_000
    for text in (alert.source_ref, alert.title, alert.rule, alert.host, alert.user, alert.source, alert.description):
        assert isinstance(text, str)
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: PostgreSQL takes UTF-8 only
    assert isinstance(alert.observables, list)
    for kind, value in alert.observables:
        assert kind in INDICATOR_TYPES
        assert isinstance(value, str)
        assert value
        value.encode("utf-8")
    assert isinstance(alert.extra, dict)
    return alert


@settings(max_examples=300, deadline=None)
@given(payload=JSON, name=st.sampled_from(list(FORMATS)))
def test_any_json_value_is_an_alert_that_fits_or_field_messages(payload, name):
    assert_fits(FORMATS[name], payload)


def _paths(value, prefix=()):
    """Every key path of a nested sample, including list items."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


@st.composite
def mutated_samples(draw):
    name = draw(st.sampled_from(SAMPLE_FILES))
    payload = sample(name)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(payload))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            parent[path[-1]] = draw(JSON)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    return name, payload


@settings(max_examples=500, deadline=None)
@given(case=mutated_samples())
def test_a_sample_with_parts_replaced_or_removed_is_an_alert_that_fits_or_field_messages(case):
    name, payload = case
    assert_fits(module_of(name), payload)


# Where each sample carries text the normalizer copies into a column (or parses, for Entities).
TEXT_FIELDS = {
    "generic_full.json": [("source_ref",), ("title",), ("rule",), ("host",), ("user",), ("description",), ("source",)],
    "splunk_es_notable.json": [("sid",), ("search_name",), ("result", "host"), ("result", "user"), ("result", "_raw"),
                               ("result", "src"), ("result", "_time")],
    "elastic_nested.json": [("kibana", "alert", "uuid"), ("kibana", "alert", "rule", "name"), ("host", "name"),
                            ("kibana", "alert", "reason"), ("@timestamp",), ("kibana", "alert", "original_time")],
    "sentinel_incident.json": [("object", "name"), ("object", "properties", "title"),
                               ("object", "properties", "description"), ("object", "properties", "severity")],
    "sentinel_security_alert.json": [("SystemAlertId",), ("AlertName",), ("Entities",), ("CompromisedEntity",),
                                     ("StartTime",)],
    "wazuh_sshd.json": [("id",), ("rule", "description"), ("agent", "name"), ("full_log",), ("timestamp",),
                        ("data", "srcuser")],
}  # fmt: skip
# Any code point, lone surrogates included (valid in JSON text, not in UTF-8), with the
# characters PostgreSQL or a one-line display cannot take made likely.
ANY_TEXT = st.text(
    st.characters(exclude_categories=[]) | st.sampled_from(["\x00", "\ud800", "\udfff", "\u2028", "\n", "\x85"])
)
FIELD_CASES = [(name, path) for name, paths in TEXT_FIELDS.items() for path in paths]


@settings(max_examples=400, deadline=None)
@given(case=st.sampled_from(FIELD_CASES), text=ANY_TEXT)
def test_any_text_in_a_field_comes_out_storable_or_as_a_field_message(case, text):
    name, path = case
    payload = sample(name)
    _set(payload, path, text)
    assert_fits(module_of(name), payload)


# Hostile inputs, written out.

MEGABYTE = "A" * 1_000_000


def _deep(levels: int, leaf: object = "x") -> object:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("name", "title_path", "ref_path"),
    [
        ("generic_full.json", ("title",), ("source_ref",)),
        ("splunk_es_notable.json", ("search_name",), ("sid",)),
        ("elastic_nested.json", ("kibana", "alert", "rule", "name"), ("kibana", "alert", "uuid")),
        ("sentinel_incident.json", ("object", "properties", "title"), ("object", "name")),
        ("sentinel_security_alert.json", ("AlertName",), ("SystemAlertId",)),
        ("wazuh_sshd.json", ("rule", "description"), ("id",)),
    ],
)
def test_a_megabyte_title_is_cut_to_300_and_a_megabyte_id_is_refused(name, title_path, ref_path):
    module = module_of(name)
    payload = sample(name)
    _set(payload, title_path, MEGABYTE)
    assert module.normalize(payload).title == "A" * 299 + "…"

    _set(payload, ref_path, MEGABYTE)
    with pytest.raises(NormalizeError) as caught:
        module.normalize(payload)
    field = ".".join(ref_path)
    assert caught.value.errors == {
        field: [
            "Ensure this field has no more than 200 characters (it has 1000000): it identifies the alert and is not "
            "shortened."
        ]
    }


def test_megabyte_strings_everywhere_else_are_cut_or_skipped():
    payload = sample("splunk_es_notable.json")
    for key in payload["result"]:
        payload["result"][key] = MEGABYTE
    alert = splunk.normalize(payload)
    assert (len(alert.host), len(alert.user), len(alert.description)) == (255, 255, 10_000)
    assert alert.observed_at is None
    assert alert.observables == []  # longer than any indicator may be
    assert alert.extra["_time"] == "A" * 499 + "…"


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_200_levels_of_nesting_anywhere_is_no_crash(name):
    module = module_of(name)
    assert_fits(module, _deep(200))
    payload = sample(name)
    for path in list(_paths(payload)):
        mutated = sample(name)
        _set(mutated, path, _deep(200))
        assert_fits(module, mutated)


def test_a_deep_structure_where_text_is_expected_is_a_type_message():
    with pytest.raises(NormalizeError) as caught:
        generic.normalize({"source_ref": "a", "title": _deep(200)})
    assert caught.value.errors == {"title": ["Must be a string."]}
    with pytest.raises(NormalizeError) as caught:
        wazuh.normalize({"id": "1.1", "rule": {"description": _deep(200)}})
    assert caught.value.errors == {"rule.description": ["Must be text; got an object."]}


def test_unicode_is_kept_as_sent():
    title = "Подозрительный вход — 不審なログイン 🚨 مشبوه e\u0301"
    assert generic.normalize({"source_ref": "ü-1", "title": title}).title == title
    assert wazuh.normalize({"id": "1.1", "rule": {"description": title}}).title == title
    alert = elastic.normalize({"kibana.alert.uuid": "ü-1", "kibana.alert.rule.name": title, "user.name": "jürgen"})
    assert (alert.source_ref, alert.title, alert.user) == ("ü-1", title, "jürgen")


def test_numbers_where_text_is_expected_are_text_in_vendor_formats_and_refused_in_ours():
    assert splunk.normalize({"sid": 7, "search_name": 8.5, "result": {}}).title == "8.5"
    assert sentinel.normalize({"SystemAlertId": 10**30, "AlertName": -1}).source_ref == "1" + "0" * 30
    assert wazuh.normalize({"id": 1.0, "rule": {"description": 5710}}).source_ref == "1"
    with pytest.raises(NormalizeError) as caught:
        generic.normalize({"source_ref": 7, "title": 8.5, "host": 1})
    assert caught.value.errors == {"title": ["Must be a string."], "host": ["Must be a string."]}


def _set(payload, path, value):
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


def test_the_samples_are_not_changed_by_normalizing():
    for name in SAMPLE_FILES:
        payload = sample(name)
        before = copy.deepcopy(payload)
        module_of(name).normalize(payload)
        assert payload == before
