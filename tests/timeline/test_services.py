"""The timeline's services: placing events in time, the ATT&CK check, links to the same
incident only, the rule table's timeline rows cell by cell, batches and edits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from config.errors import ConflictError
from incidents.indicators import services as indicator_services
from incidents.models import Activity
from incidents.vendors import services as vendor_services
from tests.factories import make_incident
from tests.incidents.evidence_support import add_file
from tests.incidents.test_permissions import PERSONAS, REFUSED, allowed, case  # noqa: F401
from timeline import selectors, services
from timeline.models import TimelineEvent

pytestmark = pytest.mark.django_db


def add(incident, actor, title="Event", occurred_at="2026-03-02T10:00:00Z", kind="attacker", **fields):
    return services.event_add(incident=incident, actor=actor, occurred_at=occurred_at, kind=kind, title=title, **fields)


def errors_of(exc_info) -> dict[str, list[str]]:
    return exc_info.value.message_dict


# --- Placing events in time ------------------------------------------------------------------
class TestPlacing:
    def test_mixed_offsets_and_precisions_sort_by_the_instant(self, lead, incident):
        add(incident, lead, "C: 06:10 in Kolkata (minute)", "2026-03-02T06:10:45+05:30", precision="minute")
        add(incident, lead, "A: late evening in New York", "2026-03-01T23:30:00-05:00")
        add(incident, lead, "B: the whole of 2 March", date(2026, 3, 2), precision="day")
        add(incident, lead, "D: around 09:00 UTC", "2026-03-02T09:00:00Z", precision="approximate")
        add(incident, lead, "E: the 10 o'clock hour in Berlin", "2026-03-02T10:59:59+01:00", precision="hour")
        rows = list(
            selectors.events_for(lead, incident).values_list("title", "occurred_at", "precision", "occurred_offset")
        )
        assert rows == [
            # 2026-03-02 00:00 UTC: a day event sits at the start of its day (the display zone is UTC).
            ("B: the whole of 2 March", datetime(2026, 3, 2, 0, 0, tzinfo=UTC), "day", None),
            # 06:10 +05:30 is 00:40 UTC, seconds dropped (to the minute).
            ("C: 06:10 in Kolkata (minute)", datetime(2026, 3, 2, 0, 40, tzinfo=UTC), "minute", 330),
            # 23:30 -05:00 on 1 March is 04:30 UTC on 2 March.
            ("A: late evening in New York", datetime(2026, 3, 2, 4, 30, tzinfo=UTC), "exact", -300),
            ("D: around 09:00 UTC", datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "approximate", 0),
            # 10:59:59 +01:00 known to the hour is 10:00 +01:00, 09:00 UTC.
            ("E: the 10 o'clock hour in Berlin", datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "hour", 60),
        ]

    def test_a_day_event_keeps_the_date_it_was_given_in_another_zone(self, lead, incident, settings):
        settings.TIME_ZONE = "Europe/Berlin"
        add(incident, lead, "Day in New York", "2026-03-02T23:30:00-05:00", precision="day")
        event = TimelineEvent.objects.get()
        # 2 March local to the log, 00:00 in Berlin (the timeline's zone) is 23:00 UTC on 1 March.
        assert event.occurred_at == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
        assert event.occurred_offset == -300

    @pytest.mark.parametrize(
        ("occurred_at", "precision", "message"),
        [
            (
                "2026-03-02 10:00",
                "exact",
                "Give the time with its UTC offset (e.g. +01:00 or Z): a time without one is ambiguous.",
            ),
            ("2026-03-02", "exact", "A date without a time needs the precision “to the day”."),
            ("2031-01-01T00:00:00Z", "exact", "A timeline event cannot be in the future."),
            ("2026-03-02T10:00:00+15:00", "exact", "The UTC offset must be between -12:00 and +14:00."),
            (
                "last tuesday",
                "exact",
                "“last tuesday” is not a date and time: use ISO 8601, e.g. 2026-03-02T14:05:00+01:00.",
            ),
            ("", "exact", "Enter when it happened."),
        ],
    )
    def test_times_that_cannot_be_placed_are_refused(self, lead, incident, occurred_at, precision, message):
        with pytest.raises(ValidationError) as refused:
            add(incident, lead, occurred_at=occurred_at, precision=precision)
        assert errors_of(refused) == {"occurred_at": [message]}
        assert TimelineEvent.objects.count() == 0

    def test_epoch_microseconds_like_timesketch(self, lead, incident):
        add(incident, lead, occurred_at="1772445600000000")
        assert TimelineEvent.objects.get().occurred_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


# --- ATT&CK ------------------------------------------------------------------------------------
class TestTechnique:
    def test_a_known_sub_technique_is_stored_upper_cased(self, lead, incident):
        event = add(incident, lead, technique=" t1078.004 ")
        assert TimelineEvent.objects.get(pk=event.pk).technique == "T1078.004"

    @pytest.mark.parametrize(
        ("technique", "message"),
        [
            ("T1199.001", "T1199.001 is not a technique in ATT&CK Enterprise 18.1."),
            ("T1002", "T1002 was revoked in ATT&CK Enterprise 18.1; use T1560 Archive Collected Data."),
            ("1199", "Enter an ATT&CK technique id such as T1199 or T1078.004."),
        ],
    )
    def test_an_id_not_in_the_pinned_release_is_refused(self, lead, incident, technique, message):
        with pytest.raises(ValidationError) as refused:
            add(incident, lead, technique=technique)
        assert errors_of(refused) == {"technique": [message]}


# --- Fields ------------------------------------------------------------------------------------
def test_every_bad_field_is_named_at_once(lead, incident):
    with pytest.raises(ValidationError) as refused:
        services.event_add(
            incident=incident,
            actor=lead,
            occurred_at="2026-03-02T10:00:00Z",
            kind="espionage",
            title="   ",
            precision="second",
            source="x" * 201,
            key_event="yes",
            attributes=["not", "an", "object"],
        )
    assert errors_of(refused) == {
        "kind": ["“espionage” is not one of: attacker, detection, containment, eradication, recovery, "
                 "communication, vendor, regulatory."],
        "title": ["This field is required."],
        "source": ["At most 200 characters (it has 201)."],
        "key_event": ["Must be true or false."],
        "attributes": ["Give attributes as an object of names and values."],
        "precision": ["“second” is not one of: exact, minute, hour, day, approximate."],
    }  # fmt: skip


# --- Links to the same incident only -----------------------------------------------------------
class TestLinks:
    def test_evidence_indicators_and_vendor_of_the_incident(self, lead, incident, northwind):
        evidence = add_file(incident, lead, name="vpn.log")
        [indicator] = [r.indicator for r in indicator_services.indicators_add_many(
            incident=incident, actor=lead, items=[{"type": "ip", "value": "45.137.21.9"}]
        )]  # fmt: skip
        vendor_services.involvement_add(incident=incident, vendor=northwind, actor=lead, role="entry_point")
        event = add(
            incident, lead, evidence=[evidence.pk], indicators=[indicator.pk], vendor=northwind.pk, technique="T1199"
        )
        event.refresh_from_db()
        assert list(event.evidence.values_list("name", flat=True)) == ["vpn.log"]
        assert list(event.indicators.values_list("value", flat=True)) == ["45.137.21.9"]
        assert event.vendor.name == "Northwind MSP"

    def test_links_to_another_incident_are_refused(self, lead, incident, northwind, contoso):
        other = make_incident(opened_by=lead, lead=lead, title="Other case")
        evidence = add_file(other, lead, name="other.log")
        [indicator] = [r.indicator for r in indicator_services.indicators_add_many(
            incident=other, actor=lead, items=[{"type": "domain", "value": "evil.example"}]
        )]  # fmt: skip
        vendor_services.involvement_add(incident=other, vendor=contoso, actor=lead, role="affected")
        with pytest.raises(ValidationError) as refused:
            add(incident, lead, evidence=[evidence.pk], indicators=[indicator.pk], vendor=contoso.pk)
        assert errors_of(refused) == {
            "evidence": [f"No evidence {evidence.pk} on this incident."],
            "indicators": [f"No indicator {indicator.pk} on this incident."],
            "vendor": [f"Vendor {contoso.pk} is not involved in this incident."],
        }
        assert TimelineEvent.objects.count() == 0

    def test_a_vendor_collaborator_links_only_what_they_see(
        self, lead, vendor, restricted_incident, northwind, contoso
    ):
        vendor.vendor = northwind
        vendor.save()
        internal = add_file(restricted_incident, lead, name="internal.log", internal=True)
        shared = add_file(restricted_incident, lead, name="shared.log", internal=False)
        for company in (northwind, contoso):
            vendor_services.involvement_add(incident=restricted_incident, vendor=company, actor=lead, role="affected")
        with pytest.raises(ValidationError) as refused:
            add(restricted_incident, vendor, evidence=[internal.pk, shared.pk], vendor=contoso.pk)
        assert errors_of(refused) == {
            "evidence": [f"No evidence {internal.pk} on this incident."],
            "vendor": [f"Vendor {contoso.pk} is not involved in this incident."],
        }
        event = add(restricted_incident, vendor, evidence=[shared.pk], vendor=northwind.pk, internal=True)
        # What a vendor collaborator adds is never internal: they would not see their own event.
        assert (event.internal, event.vendor_id) == (False, northwind.pk)


def test_internal_defaults_to_the_incidents_restricted_flag(lead, incident, restricted_incident):
    assert add(incident, lead).internal is False
    assert add(restricted_incident, lead).internal is True
    assert add(restricted_incident, lead, internal=False).internal is False


# --- The rule table's timeline rows, cell by cell ----------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_contribute_adds_an_event(case, persona):  # noqa: F811 - the fixture imported above
    actor = case[persona]
    if not allowed("contribute", persona):
        with pytest.raises(PermissionDenied) as refused:
            add(case.incident, actor)
        assert str(refused.value) == REFUSED["contribute"]
        assert TimelineEvent.objects.count() == 0
        return
    add(case.incident, actor, "Seen by " + persona)
    assert list(TimelineEvent.objects.values_list("title", "recorded_by__username")) == [
        ("Seen by " + persona, persona)
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_edit_timeline_changes_anyones_event(case, persona):  # noqa: F811
    event = add(case.incident, case["tom"], "Tom's event")
    actor = case[persona]
    if not allowed("edit_timeline", persona):
        with pytest.raises(PermissionDenied) as refused:
            services.event_update(event=event, actor=actor, data={"title": "Changed"})
        expected = REFUSED["edit_timeline"] if allowed("contribute", persona) else REFUSED["contribute"]
        assert str(refused.value) == expected
        assert TimelineEvent.objects.get().title == "Tom's event"
        return
    services.event_update(event=event, actor=actor, data={"title": "Changed"})
    assert TimelineEvent.objects.get().title == "Changed"


@pytest.mark.parametrize("persona", [persona for persona in PERSONAS if allowed("contribute", persona)])
def test_whoever_may_contribute_changes_their_own_event(case, persona):  # noqa: F811
    actor = case[persona]
    event = add(case.incident, actor, "Mine")
    services.event_update(event=event, actor=actor, data={"key_event": True})
    assert TimelineEvent.objects.get().key_event is True


# --- Batches -----------------------------------------------------------------------------------
def test_a_batch_keeps_the_good_items_and_names_the_bad(lead, incident):
    results = services.events_add_many(
        incident=incident,
        actor=lead,
        items=[
            {"occurred_at": "2026-03-02T10:00:00Z", "kind": "detection", "title": "EDR alert"},
            {"occurred_at": "2026-03-02T10:05:00Z", "kind": "attacker", "title": "Bad id", "technique": "T1199.001"},
            "not an object",
            {"occurred_at": "2026-03-02T09:00:00Z", "kind": "attacker", "title": "Login", "technique": "T1078.004"},
        ],
    )
    assert [(r.status, r.errors) for r in results] == [
        ("created", {}),
        ("error", {"technique": ["T1199.001 is not a technique in ATT&CK Enterprise 18.1."]}),
        ("error", {"non_field_errors": ["Each event must be an object."]}),
        ("created", {}),
    ]
    assert list(selectors.events_for(lead, incident).values_list("title", "technique")) == [
        ("Login", "T1078.004"),
        ("EDR alert", ""),
    ]
    entry = Activity.objects.filter(incident=incident, verb="timeline_event_added").get()
    assert (entry.data["count"], entry.text) == (2, "added 2 timeline events")


def test_a_batch_over_the_limit_is_refused_whole(lead, incident):
    items = [{"occurred_at": "2026-03-02T10:00:00Z", "kind": "attacker", "title": f"E{n}"} for n in range(1001)]
    with pytest.raises(ValidationError) as refused:
        services.events_add_many(incident=incident, actor=lead, items=items)
    assert errors_of(refused) == {"events": ["At most 1000 events per request."]}
    assert TimelineEvent.objects.count() == 0


# --- Edits -------------------------------------------------------------------------------------
class TestUpdate:
    def test_changes_are_recorded_old_to_new(self, lead, incident):
        event = add(incident, lead, "Login from VPN", technique="T1078")
        changes = services.event_update(
            event=event, actor=lead, data={"technique": "T1078.004", "key_event": True}, version=1
        )
        assert changes == {"technique": ("T1078", "T1078.004"), "key_event": (False, True)}
        stored = TimelineEvent.objects.get()
        assert (stored.technique, stored.key_event, stored.version) == ("T1078.004", True, 2)
        entry = Activity.objects.filter(verb="timeline_event_updated").get()
        assert entry.text == (
            "changed the timeline event “Login from VPN”: "
            "key event from False to True, technique from T1078 to T1078.004"
        )

    def test_precision_alone_re_places_the_stored_time(self, lead, incident):
        event = add(incident, lead, occurred_at="2026-03-02T10:37:12+02:00")
        services.event_update(event=event, actor=lead, data={"precision": "hour"})
        stored = TimelineEvent.objects.get()
        # Known to the hour in the offset it was given in: 10:00 +02:00.
        assert (stored.occurred_at, stored.occurred_offset) == (datetime(2026, 3, 2, 8, 0, tzinfo=UTC), 120)

    def test_a_stale_version_is_a_conflict_and_writes_nothing(self, lead, responder, incident):
        event = add(incident, lead, "Original")
        services.event_update(event=event, actor=lead, data={"title": "First edit"}, version=1)
        with pytest.raises(ConflictError) as conflict:
            services.event_update(event=event, actor=lead, data={"title": "Second edit"}, version=1)
        assert str(conflict.value) == (
            "The timeline event “First edit” was changed by someone else (you had version 1, it is now 2). "
            "Reload it and apply your change again."
        )
        assert TimelineEvent.objects.get().title == "First edit"

    def test_links_change_as_a_whole(self, lead, incident):
        first, second = add_file(incident, lead, name="a.log"), add_file(incident, lead, name="b.log")
        event = add(incident, lead, evidence=[first.pk])
        changes = services.event_update(event=event, actor=lead, data={"evidence": [second.pk]})
        assert changes == {"evidence": ([first.pk], [second.pk])}
        assert list(event.evidence.values_list("name", flat=True)) == ["b.log"]

    def test_fields_that_are_not_the_events_to_change_are_refused(self, lead, incident):
        event = add(incident, lead)
        with pytest.raises(ValidationError) as refused:
            services.event_update(event=event, actor=lead, data={"incident": 7, "recorded_by": 1})
        assert errors_of(refused) == {
            "incident": ["This field cannot be changed."],
            "recorded_by": ["This field cannot be changed."],
        }

    def test_an_unchanged_update_writes_nothing(self, lead, incident):
        event = add(incident, lead, "Same")
        before = Activity.objects.count()
        assert services.event_update(event=event, actor=lead, data={"title": "Same"}) == {}
        assert (Activity.objects.count(), TimelineEvent.objects.get().version) == (before, 1)


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_a_time_at_the_edge_of_the_calendar_is_refused(lead, incident, occurred_at):
    with pytest.raises(ValidationError) as refused:
        add(incident, lead, occurred_at=occurred_at)
    assert errors_of(refused) == {"occurred_at": ["That time is outside the calendar the timeline can hold."]}


def test_a_vendor_collaborators_edit_keeps_the_links_they_cannot_see(lead, vendor, restricted_incident):
    internal = add_file(restricted_incident, lead, name="internal.log", internal=True)
    shared = add_file(restricted_incident, lead, name="shared.log", internal=False)
    other = add_file(restricted_incident, lead, name="other.log", internal=False)
    event = add(restricted_incident, vendor, "Seen at Northwind", evidence=[shared.pk])
    services.event_update(event=event, actor=lead, data={"evidence": [shared.pk, internal.pk]})
    # Victor sees shared.log only; replacing it with other.log leaves internal.log linked.
    changes = services.event_update(event=event, actor=vendor, data={"evidence": [other.pk]})
    assert changes == {"evidence": (sorted([shared.pk, internal.pk]), sorted([other.pk, internal.pk]))}
    assert sorted(event.evidence.values_list("name", flat=True)) == ["internal.log", "other.log"]


def test_null_characters_are_refused_not_a_database_error(lead, incident):
    with pytest.raises(ValidationError) as refused:
        add(incident, lead, title="bad\x00title", source="x\x00", attributes={"host": "a\x00b"})
    assert errors_of(refused) == {
        "title": ["Null characters are not allowed."],
        "source": ["Null characters are not allowed."],
        "attributes": ["Null characters are not allowed."],
    }
