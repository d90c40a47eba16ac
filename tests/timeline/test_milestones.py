"""Derived milestones (dwell time, time to contain, time to recover), which source wins, and the
incident page's timeline panel with its live redraw."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from incidents import services as case_services
from incidents.models import Incident
from tests.factories import make_incident
from tests.incidents.test_live import poll, swapped, token_on_page
from timeline import selectors, services

pytestmark = pytest.mark.django_db


def add(incident, actor, kind, occurred_at, title=None, **fields):
    return services.event_add(
        incident=incident, actor=actor, kind=kind, occurred_at=occurred_at, title=title or kind, **fields
    )


@pytest.fixture
def breach(lead):
    incident = make_incident(
        opened_by=lead,
        lead=lead,
        title="Contractor VPN breach",
        detected_at=datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
    )
    add(incident, lead, "attacker", "2026-02-20T03:15:00Z", "First VPN login with the contractor's token")
    add(incident, lead, "attacker", "2026-02-25T01:00:00Z", "Staging of archives")
    add(incident, lead, "detection", "2026-03-10T08:30:00Z", "EDR alert on the file server")
    add(incident, lead, "containment", "2026-03-11T14:30:00Z", "Contractor VPN account disabled")
    add(incident, lead, "recovery", "2026-03-13T10:00:00Z", "File server restored")
    add(incident, lead, "recovery", "2026-03-15T18:00:00Z", "Last workstation reimaged")
    return incident


def test_the_spans_follow_the_timeline(breach):
    found = selectors.milestones(breach)
    # 20 Feb 03:15 → 10 Mar 08:30 (2026 is not a leap year): 18 days 5 h 15 min.
    assert found.dwell_time == timedelta(days=18, hours=5, minutes=15)
    # 10 Mar 08:30 → 11 Mar 14:30.
    assert found.time_to_contain == timedelta(days=1, hours=6)
    # 10 Mar 08:30 → the last recovery event, 15 Mar 18:00.
    assert found.time_to_recover == timedelta(days=5, hours=9, minutes=30)
    assert [(p.name, p.source) for p in found.points] == [
        ("attacker", "timeline"),
        ("detection", "timeline"),
        ("containment", "timeline"),
        ("recovery", "timeline"),
    ]


def test_the_timeline_wins_over_the_incident_record_and_both_are_shown(breach):
    found = selectors.milestones(breach)
    # The record says detected at 09:00, the timeline's event 08:30 (exact): they disagree.
    assert found.detection.at == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)
    assert found.detection.recorded == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert found.detection.disagrees is True
    assert [p.name for p in found.disagreements] == ["detection"]


def test_an_events_precision_is_the_tolerance(lead):
    incident = make_incident(opened_by=lead, detected_at=datetime(2026, 3, 10, 17, 45, tzinfo=UTC))
    add(incident, lead, "detection", "2026-03-10", precision="day")
    # Known to the day: 17:45 that day agrees with it.
    assert selectors.milestones(incident).detection.disagrees is False


def test_without_timeline_events_the_incident_record_stands_in(lead):
    incident = make_incident(opened_by=lead, detected_at=datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    Incident.objects.filter(pk=incident.pk).update(
        status="contained", acknowledged_at=datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
        contained_at=datetime(2026, 3, 12, 9, 0, tzinfo=UTC),
    )  # fmt: skip
    incident.refresh_from_db()
    found = selectors.milestones(incident)
    assert (found.detection.source, found.containment.source, found.attacker.source) == ("incident", "incident", "")
    assert found.time_to_contain == timedelta(days=2)
    assert found.dwell_time is None


def test_a_vendor_collaborator_gets_milestones_from_shared_events_only(lead, vendor, restricted_incident):
    add(restricted_incident, lead, "attacker", "2026-02-01T00:00:00Z", internal=True)
    add(restricted_incident, lead, "attacker", "2026-02-05T00:00:00Z", internal=False)
    assert selectors.milestones(restricted_incident).attacker.at == datetime(2026, 2, 1, tzinfo=UTC)
    assert selectors.milestones(restricted_incident, viewer=vendor).attacker.at == datetime(2026, 2, 5, tzinfo=UTC)


def test_dashboards_read_every_incidents_milestones_in_one_query(breach, lead, django_assert_num_queries):
    make_incident(opened_by=lead, title="No timeline")
    with django_assert_num_queries(1):
        rows = list(
            selectors.milestone_times(Incident.objects.order_by("id")).values_list(
                "title", "tl_first_attacker", "tl_detection", "tl_containment", "tl_recovery"
            )
        )
    assert rows == [
        (
            "Contractor VPN breach",
            datetime(2026, 2, 20, 3, 15, tzinfo=UTC),
            datetime(2026, 3, 10, 8, 30, tzinfo=UTC),
            datetime(2026, 3, 11, 14, 30, tzinfo=UTC),
            datetime(2026, 3, 15, 18, 0, tzinfo=UTC),
        ),
        ("No timeline", None, None, None, None),
    ]


def text_of(html: str, css_class: str) -> str:
    match = re.search(rf'class="{css_class}"[^>]*>([^<]*)<', html)
    return match.group(1) if match else ""


def test_the_incident_page_shows_the_milestones_and_key_events(login, lead, breach):
    add(breach, lead, "attacker", "2026-02-20T03:20:00Z", "Trusted relationship abused", key_event=True,
        technique="T1199")  # fmt: skip
    body = login(lead).get(breach.get_absolute_url()).content.decode()
    assert text_of(body, "dwell-time") == "18 d 5 h"
    assert text_of(body, "time-to-contain") == "1 d 6 h"
    assert text_of(body, "time-to-recover") == "5 d 9 h"
    assert "The incident record says" in body  # detection disagrees: both shown
    assert "Trusted relationship abused" in body and "T1199" in body
    assert reverse("timeline:page", args=[breach.reference]) in body


def test_a_new_event_redraws_the_timeline_panel_only(login, lead, responder, incident):
    case_services.member_add(incident=incident, user=responder, actor=lead)
    client = login(lead)
    token = token_on_page(client, incident)
    add(incident, responder, "detection", "2026-03-10T08:30:00Z", "EDR alert", key_event=True)
    response = poll(client, incident, token)
    assert swapped(response) == {"timeline-count", "timeline-summary", "case-activity", "live-status"}
    assert "EDR alert" in response.content.decode()


def test_staff_read_events_and_imports_in_the_admin_without_changing_them(client, admin, breach):
    client.force_login(admin)
    listed = client.get("/admin/timeline/timelineevent/")
    assert listed.status_code == 200
    assert "First VPN login with the contractor&#x27;s token" in listed.content.decode()
    assert client.get("/admin/timeline/timelineevent/add/").status_code == 403
    assert client.get("/admin/timeline/timelineimport/").status_code == 200
