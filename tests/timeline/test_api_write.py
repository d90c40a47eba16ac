"""The timeline API, writing: ``POST …/timeline/`` (one event → 201, an array → 207 with a
result per item) and ``PATCH …/timeline/{id}/`` (409 on a stale version). Who may write is in
``test_api_access.py``.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from incidents.evidence.services import evidence_text_add
from incidents.indicators.services import indicator_add
from incidents.models import Activity, Verb
from incidents.vendors import services as vendor_services
from timeline import services
from timeline.models import TimelineEvent

from ..factories import make_incident

pytestmark = pytest.mark.django_db

READ, WRITE = "incidents:read", "incidents:write"


def url(incident, suffix=""):
    return f"/api/v1/incidents/{incident.reference}/timeline/{suffix}"


def event_rows(incident):
    return list(
        TimelineEvent.objects.filter(incident=incident)
        .order_by("id")
        .values_list("title", "kind", "occurred_at__date", "technique")
    )


@pytest.fixture
def writer(api, lead):
    return api(READ, WRITE, user=lead)


# --- One event ------------------------------------------------------------------------------
def test_post_one_event(writer, lead, incident):
    assert event_rows(incident) == []

    response = writer.post(
        url(incident),
        {
            "occurred_at": "2026-03-02T14:05:33-05:00",
            "precision": "hour",
            "kind": "attacker",
            "title": "  Contractor   token used ",
            "technique": "t1078.004",
            "key_event": True,
            "attributes": {"ip": "45.137.21.9"},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    event = TimelineEvent.objects.get()
    assert response["Location"] == f"/api/v1/incidents/{incident.reference}/timeline/{event.pk}/"
    assert (body["id"], body["title"], body["occurred_at"], body["occurred_at_utc"]) == (
        event.pk,
        "Contractor token used",
        "2026-03-02T14:00:00-05:00",
        "2026-03-02T19:00:00Z",
    )
    assert (body["technique"], body["technique_name"], body["key_event"], body["recorded_by"]) == (
        "T1078.004",
        "Valid Accounts: Cloud Accounts",
        True,
        "lena",
    )
    assert (event.technique, event.occurred_offset, event.attributes) == ("T1078.004", -300, {"ip": "45.137.21.9"})
    entry = Activity.objects.filter(incident=incident, verb=Verb.TIMELINE_EVENT_ADDED).get()
    assert entry.actor == lead


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"technique": "T1199.001"},
            {"technique": ["T1199.001 is not a technique in ATT&CK Enterprise 18.1."]},
        ),
        (
            {"occurred_at": "2026-03-02T14:05:00"},
            {"occurred_at": ["Give the time with its UTC offset (e.g. +01:00 or Z): a time without one is ambiguous."]},
        ),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, {"occurred_at": ["A timeline event cannot be in the future."]}),
        (
            {"occurred_at": True},
            {"occurred_at": ["Give the time as an ISO 8601 string with its UTC offset, a date, or an epoch number."]},
        ),
        ({"kind": "lunch"}, {"kind": ['"lunch" is not a valid choice.']}),
        ({"title": ""}, {"title": ["This field may not be blank."]}),
        ({"colour": "red"}, {"colour": ["Unknown field."]}),
        ({"technique_name": "x"}, {"technique_name": ["Named from the technique id."]}),
        ({"version": 3}, {"version": ["This field is read-only."]}),
        ({"evidence": ["one"]}, {"evidence": {"0": ["A valid integer is required."]}}),
        ({"attributes": ["a"]}, {"attributes": ['Expected a dictionary of items but got type "list".']}),
        ({"attributes": {"note": "a\x00b"}}, {"attributes": ["Null characters are not allowed."]}),
        ({"title": "a\x00b"}, {"title": ["Null characters are not allowed."]}),
    ],
)
def test_post_refuses_bad_input_naming_the_field(writer, incident, payload, errors):
    body = {"occurred_at": "2026-03-02T14:05:00Z", "kind": "attacker", "title": "Token used", **payload}
    response = writer.post(url(incident), body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert event_rows(incident) == []


def test_links_only_to_this_incidents_own_objects(writer, lead, incident, northwind, contoso):
    other = make_incident(opened_by=lead, lead=lead, title="Another case")
    vendor_services.involvement_add(incident=incident, vendor=northwind, actor=lead)
    vendor_services.involvement_add(incident=other, vendor=contoso, actor=lead)
    ours = evidence_text_add(incident=incident, actor=lead, name="ours.log", text="a")
    foreign_evidence = evidence_text_add(incident=other, actor=lead, name="theirs.log", text="b")
    foreign_indicator = indicator_add(incident=other, actor=lead, type="ip", value="45.137.21.9")
    base = {"occurred_at": "2026-03-02T14:05:00Z", "kind": "attacker", "title": "Token used"}

    response = writer.post(
        url(incident),
        {
            **base,
            "evidence": [ours.pk, foreign_evidence.pk],
            "indicators": [foreign_indicator.pk],
            "vendor": contoso.pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "evidence": [f"No evidence {foreign_evidence.pk} on this incident."],
        "indicators": [f"No indicator {foreign_indicator.pk} on this incident."],
        "vendor": [f"Vendor {contoso.pk} is not involved in this incident."],
    }
    assert event_rows(incident) == []
    good = writer.post(url(incident), {**base, "evidence": [ours.pk], "vendor": northwind.pk}, format="json")
    assert good.status_code == 201
    assert (good.json()["evidence"], good.json()["vendor"]["name"]) == ([ours.pk], "Northwind MSP")


# --- Batches --------------------------------------------------------------------------------
def test_a_batch_reports_each_item_and_keeps_the_good_ones(writer, lead, incident):
    items = [
        {"occurred_at": "2026-03-02T13:05:00Z", "kind": "attacker", "title": "Mailbox rule", "technique": "T1114.003"},
        {"occurred_at": "2026-03-02T16:00:00", "kind": "containment", "title": "Account disabled"},
        "not an object",
        {"occurred_at": "2026-03-02T15:40:00+01:00", "kind": "detection", "title": "EDR alert", "key_event": True},
        {"occurred_at": "2026-03-02T15:41:00Z", "kind": "detection", "title": "Bad", "technique": "T1199.001"},
        {"kind": "nap", "title": ""},
        {"occurred_at": 1772467200, "kind": "recovery", "title": "Restored from backup", "evidence": ["x"]},
        {"occurred_at": 1772467200, "kind": "recovery", "title": "Restored from backup"},
    ]

    response = writer.post(url(incident), items, format="json")

    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["created"], body["errors"]) == (3, 5)
    summary = [
        (row["index"], row["status"], row["event"]["title"] if row["event"] else None, row["errors"])
        for row in body["results"]
    ]
    assert summary == [
        (0, "created", "Mailbox rule", {}),
        (1, "error", None, {"occurred_at": [
            "Give the time with its UTC offset (e.g. +01:00 or Z): a time without one is ambiguous."]}),
        (2, "error", None, {"non_field_errors": ["Each event must be an object."]}),
        (3, "created", "EDR alert", {}),
        (4, "error", None, {"technique": ["T1199.001 is not a technique in ATT&CK Enterprise 18.1."]}),
        (5, "error", None, {
            "occurred_at": ["This field is required."],
            "kind": ['"nap" is not a valid choice.'],
            "title": ["This field may not be blank."],
        }),
        (6, "error", None, {"evidence": ["item 0: A valid integer is required."]}),
        (7, "created", "Restored from backup", {}),
    ]  # fmt: skip
    created = {row["id"]: row for row in body["results"] if row["status"] == "created"}
    assert sorted(created) == sorted(TimelineEvent.objects.values_list("pk", flat=True))
    assert body["results"][3]["event"]["occurred_at"] == "2026-03-02T15:40:00+01:00"
    assert body["results"][7]["event"]["occurred_at_utc"] == "2026-03-02T16:00:00Z"  # epoch seconds
    assert event_rows(incident) == [
        ("Mailbox rule", "attacker", body_date("2026-03-02"), "T1114.003"),
        ("EDR alert", "detection", body_date("2026-03-02"), ""),
        ("Restored from backup", "recovery", body_date("2026-03-02"), ""),
    ]
    # One activity entry for the batch, not one per event.
    assert Activity.objects.filter(incident=incident, verb=Verb.TIMELINE_EVENT_ADDED).count() == 1


def body_date(text):
    return date.fromisoformat(text)


def test_a_batch_must_hold_one_to_a_thousand_events(writer, incident):
    item = {"occurred_at": "2026-03-02T13:05:00Z", "kind": "attacker", "title": "Mailbox rule"}
    empty = writer.post(url(incident), [], format="json")
    assert (empty.status_code, empty.json()) == (400, {"non_field_errors": ["Send at least one event."]})
    too_many = writer.post(url(incident), [item] * 1_001, format="json")
    assert too_many.status_code == 400
    assert too_many.json() == {"non_field_errors": ["At most 1,000 events per request (this one has 1,001)."]}
    assert event_rows(incident) == []


def test_a_soar_batch_of_a_thousand(postgres, api, lead, incident, django_assert_num_queries):
    # PostgreSQL: SQLite caps the variables of one statement, so Django splits the INSERTs there.
    evidence = evidence_text_add(incident=incident, actor=lead, name="edr.json", text="{}")
    client = api(READ, WRITE)  # an integration's key: its own principal, a non-member writer
    client.post(
        url(incident), [{"occurred_at": "2026-03-01T00:00:00Z", "kind": "detection", "title": "warm"}], format="json"
    )  # fmt: skip - the key's first use stamps last_used_at: keep it out

    def batch(size, start):
        return [
            {
                "occurred_at": f"2026-03-02T{(start + n) // 3600 % 24:02d}:{(start + n) // 60 % 60:02d}:"
                f"{(start + n) % 60:02d}Z",
                "kind": "attacker" if n % 2 else "detection",
                "title": f"SOAR event {start + n}",
                "source": "Cortex XSOAR",
                "description": "Playbook output. " * 80,  # 1,000 of these pass the default 1 MiB body limit
                "technique": "T1078.004" if n % 2 else "",
                "evidence": [evidence.pk],
                "attributes": {"playbook": "phishing", "n": n},
            }
            for n in range(size)
        ]

    assert len(json.dumps(batch(1_000, 100))) > 1024 * 1024
    counts = {}
    for size, start in ((10, 0), (1_000, 100)):
        # 17 queries for any size: 1. the key with its user; 2. the incident; 3. the key's
        # standing on it (may it contribute?), before the body is read (incidents.api
        # RuleFirstMixin); 4. the same again in events_add_many (services check their own rule);
        # 5. the evidence ids it may link (indicators and vendors are not read: no item names
        # one); 6. a savepoint; 7. one INSERT of all the events; 8. one of all their evidence
        # links; 9. the activity entry (one per batch); 10-12. its audit entry (advisory lock,
        # chain head, insert: accounts.audit); 13. the incident's updated_at; 14. the savepoint's
        # release; 15-17. the created events read back as the list reads a page (events, their
        # evidence, their indicators).
        with django_assert_num_queries(17) as captured:
            response = client.post(url(incident), batch(size, start), format="json")
        assert response.status_code == 207
        assert (response.json()["created"], response.json()["errors"]) == (size, 0)
        counts[size] = len(captured)
    assert counts[10] == counts[1_000]
    body = response.json()["results"]
    assert [row["index"] for row in body] == list(range(1_000))
    assert body[999]["event"]["title"] == "SOAR event 1099"
    assert body[999]["event"]["technique_name"] == "Valid Accounts: Cloud Accounts"
    assert TimelineEvent.objects.filter(incident=incident).count() == 1_011
    assert TimelineEvent.evidence.through.objects.filter(evidence=evidence).count() == 1_010


# --- Changes --------------------------------------------------------------------------------
def test_patch_changes_what_is_sent_and_refuses_a_stale_version(writer, lead, incident):
    event = services.event_add(
        incident=incident, actor=lead, occurred_at="2026-03-02T14:05:00+01:00", kind="attacker", title="Token used"
    )

    changed = writer.patch(
        url(incident, f"{event.pk}/"), {"technique": "T1199", "key_event": True, "version": 1}, format="json"
    )

    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["technique"], body["technique_name"], body["key_event"], body["version"]) == (
        "T1199",
        "Trusted Relationship",
        True,
        2,
    )
    assert body["occurred_at"] == "2026-03-02T14:05:00+01:00"  # untouched
    stale = writer.patch(url(incident, f"{event.pk}/"), {"title": "Overwritten", "version": 1}, format="json")
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    event.refresh_from_db()
    assert (event.title, event.version) == ("Token used", 2)

    bad = writer.patch(url(incident, f"{event.pk}/"), {"technique": "T1199.001"}, format="json")
    assert (bad.status_code, bad.json()) == (
        400,
        {"technique": ["T1199.001 is not a technique in ATT&CK Enterprise 18.1."]},
    )


def test_patch_replaces_links_and_refuses_another_incidents(writer, lead, incident, northwind):
    other = make_incident(opened_by=lead, lead=lead, title="Another case")
    vendor_services.involvement_add(incident=incident, vendor=northwind, actor=lead)
    first = evidence_text_add(incident=incident, actor=lead, name="first.log", text="a")
    second = evidence_text_add(incident=incident, actor=lead, name="second.log", text="b")
    foreign = indicator_add(incident=other, actor=lead, type="domain", value="evil.example")
    event = services.event_add(
        incident=incident, actor=lead, occurred_at="2026-03-02T14:05:00Z", kind="attacker", title="Token used",
        evidence=[first.pk], vendor=northwind.pk,
    )  # fmt: skip
    link = url(incident, f"{event.pk}/")

    refused = writer.patch(link, {"indicators": [foreign.pk], "title": "Renamed"}, format="json")
    assert (refused.status_code, refused.json()) == (
        400,
        {"indicators": [f"No indicator {foreign.pk} on this incident."]},
    )
    event.refresh_from_db()
    assert (event.title, event.version) == ("Token used", 1)

    changed = writer.patch(link, {"evidence": [second.pk], "vendor": None}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["evidence"], changed.json()["vendor"], changed.json()["version"]) == ([second.pk], None, 2)


def test_no_put_no_delete(writer, lead, incident):
    event = services.event_add(
        incident=incident, actor=lead, occurred_at="2026-03-02T14:05:00Z", kind="attacker", title="Token used"
    )
    body = {"occurred_at": "2026-03-02T14:05:00Z", "kind": "attacker", "title": "Replaced"}
    assert writer.put(url(incident, f"{event.pk}/"), body, format="json").status_code == 405
    assert writer.delete(url(incident, f"{event.pk}/")).status_code == 405
    assert TimelineEvent.objects.get().title == "Token used"


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_a_time_at_the_edge_of_the_calendar_is_a_400_not_a_500(writer, incident, moment):
    # In UTC these fall before year 1 or after 9999, which Python's datetime cannot hold.
    response = writer.post(url(incident), {"occurred_at": moment, "kind": "attacker", "title": "Odd"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["occurred_at"]
