"""Triage services (intake.triage): promote, link, ignore — each action and its refusals.

Alerts are made the way the API makes them (``alerts_ingest`` with ``NormalizedAlert`` objects),
at low severity so that they wait in the queue as *new*.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Role, User
from incidents import services as incident_services
from incidents.models import Activity, Incident, MemberRole, Membership, Status
from intake import services as intake_services
from intake.models import Alert
from intake.normalizers import NormalizedAlert
from intake.triage import alerts_ignore, alerts_link, alerts_promote
from timeline.models import TimelineEvent

from ..factories import UserFactory, make_incident

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


@pytest.fixture
def siem(db) -> User:
    return UserFactory(username="splunk-prod", role=Role.INTEGRATION)


def normalized(ref: str, **fields) -> NormalizedAlert:
    fields.setdefault("title", f"Alert {ref}")
    fields.setdefault("severity", "low")
    fields.setdefault("observed_at", T0)
    return NormalizedAlert(source_ref=ref, **fields)


def ingest(sender: User, *alerts: NormalizedAlert) -> list[Alert]:
    received = [intake_services.Received(alert=alert, raw={"id": alert.source_ref}) for alert in alerts]
    results = intake_services.alerts_ingest(received=received, source="siem", format="generic", sender=sender)
    assert [result.status for result in results] == ["created"] * len(alerts)
    return [result.alert for result in results]


@pytest.fixture
def three(siem: User) -> list[Alert]:
    return ingest(
        siem,
        normalized(
            "A-1", title="Impossible travel for j.doe", rule="Impossible travel", user="j.doe",
            observed_at=datetime(2026, 3, 2, 8, 20, tzinfo=UTC),
        ),
        normalized(
            "A-2", title="Mass download from SharePoint", rule="Mass download", user="j.doe", severity="info",
            observed_at=datetime(2026, 3, 2, 7, 55, tzinfo=UTC),
        ),
        normalized("A-3", title="Port scan from 203.0.113.9", rule="Port scan", host="fw-edge-1"),
    )  # fmt: skip


def events_of(incident: Incident) -> list[tuple[str, str]]:
    return list(TimelineEvent.objects.filter(incident=incident).order_by("occurred_at").values_list("kind", "title"))


# --- Promote ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_promote_opens_one_incident_for_the_selected_alerts(responder: User, three: list[Alert]) -> None:
    first, second, _third = three
    assert Incident.objects.count() == 0
    assert [a.status for a in three] == ["new", "new", "new"]

    incident = alerts_promote(alerts=[first, second.pk], actor=responder)

    assert Incident.objects.count() == 1
    # The earliest-observed alert (A-2, 07:55) names it and dates it; the highest severity (low
    # beats info) sets it.
    assert incident.title == "Mass download from SharePoint"
    assert incident.severity == "low"
    assert incident.detected_at == datetime(2026, 3, 2, 7, 55, tzinfo=UTC)
    assert incident.category == "other"
    assert incident.opened_by == responder
    assert incident.summary == (
        "Opened in triage from 2 alerts:\n"
        "\n"
        "- **Informational** Mass download from SharePoint — siem `A-2` (rule `Mass download`, account `j.doe`)\n"
        "- **Low** Impossible travel for j.doe — siem `A-1` (rule `Impossible travel`, account `j.doe`)"
    )
    assert Membership.objects.filter(incident=incident, user=responder, role=MemberRole.RESPONDER).exists()
    rows = {a.source_ref: a for a in Alert.objects.all()}
    assert (rows["A-1"].status, rows["A-1"].incident_id, rows["A-1"].triaged_by) == ("promoted", incident.pk, responder)
    assert (rows["A-2"].status, rows["A-2"].incident_id, rows["A-2"].triaged_by) == ("promoted", incident.pk, responder)
    assert rows["A-1"].triaged_at is not None
    assert (rows["A-3"].status, rows["A-3"].incident_id, rows["A-3"].triaged_at) == ("new", None, None)
    assert events_of(incident) == [
        ("detection", "Alert: Mass download from SharePoint"),
        ("detection", "Alert: Impossible travel for j.doe"),
    ]
    verbs = set(Activity.objects.filter(incident=incident).values_list("verb", flat=True))
    assert {"opened", "timeline_event_added"} <= verbs


@pytest.mark.django_db
def test_promote_takes_the_title_and_severity_it_is_given(lead: User, three: list[Alert]) -> None:
    incident = alerts_promote(alerts=[three[2]], actor=lead, title="  Edge scanning  ", severity="high")
    assert (incident.title, incident.severity) == ("Edge scanning", "high")


@pytest.mark.django_db
def test_promote_maps_the_highest_alert_severity(settings, responder: User, siem: User) -> None:
    settings.INTAKE_PROMOTE_SEVERITY = "critical"  # so that a high alert waits in the queue
    info_only = ingest(siem, normalized("I-1", severity="info"), normalized("I-2", severity="info"))
    mixed = ingest(siem, normalized("M-1", severity="low"), normalized("M-2", severity="high"))
    assert alerts_promote(alerts=info_only, actor=responder).severity == "low"  # incidents have no info
    assert alerts_promote(alerts=mixed, actor=responder).severity == "high"


@pytest.mark.django_db
def test_promote_refuses_alerts_already_triaged_and_writes_nothing(responder: User, three: list[Alert]) -> None:
    alerts_ignore(alerts=[three[0]], actor=responder, reason="Known VPN egress")
    with pytest.raises(ValidationError) as caught:
        alerts_promote(alerts=[three[0], three[1]], actor=responder)
    assert caught.value.message_dict == {
        "alerts": ["Only new alerts can be promoted; already triaged: “Impossible travel for j.doe” (ignored)."]
    }
    assert Incident.objects.count() == 0
    assert Alert.objects.get(source_ref="A-2").status == "new"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ([], "Select at least one alert."),
        ([987654], "No such alert: 987654."),
        (["x1"], "“x1” is not an alert."),
        ([2**63], f"“{2**63}” is not an alert."),
    ],
)
def test_promote_refuses_a_bad_selection(responder: User, three: list[Alert], selection, message) -> None:
    with pytest.raises(ValidationError) as caught:
        alerts_promote(alerts=selection, actor=responder)
    assert caught.value.message_dict == {"alerts": [message]}
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_promote_refuses_a_bad_title_or_severity_and_leaves_the_alerts_new(responder: User, three) -> None:
    with pytest.raises(ValidationError) as caught:
        alerts_promote(alerts=three, actor=responder, severity="info")
    assert caught.value.message_dict == {"severity": ["“info” is not one of: critical, high, medium, low."]}
    with pytest.raises(ValidationError) as caught:
        alerts_promote(alerts=three, actor=responder, title="x" * 201)
    assert list(caught.value.message_dict) == ["title"]
    assert Incident.objects.count() == 0
    assert set(Alert.objects.values_list("status", flat=True)) == {"new"}


@pytest.mark.django_db
def test_a_later_alert_like_a_promoted_one_joins_its_incident(responder: User, siem: User, three) -> None:
    """Triage feeds grouping: the promoted alert's incident is the one its repeats link to."""
    incident = alerts_promote(alerts=[three[2]], actor=responder)
    (again,) = ingest(siem, normalized("A-3b", title="Port scan from 203.0.113.9", rule="Port scan", host="fw-edge-1"))
    assert (again.status, again.incident_id) == ("linked", incident.pk)


# --- Link ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_link_joins_an_open_incident_with_a_timeline_entry_each(
    responder: User, incident: Incident, three: list[Alert]
) -> None:
    assert events_of(incident) == []
    linked = alerts_link(alerts=[three[2].pk, three[0].pk], incident=incident, actor=responder)
    assert [a.source_ref for a in linked] == ["A-3", "A-1"]  # earliest observed first (08:15, 08:20)
    rows = {a.source_ref: a for a in Alert.objects.all()}
    assert (rows["A-1"].status, rows["A-1"].incident_id, rows["A-1"].triaged_by) == ("linked", incident.pk, responder)
    assert (rows["A-3"].status, rows["A-3"].incident_id) == ("linked", incident.pk)
    assert rows["A-2"].status == "new"
    assert events_of(incident) == [
        ("detection", "Alert: Port scan from 203.0.113.9"),
        ("detection", "Alert: Impossible travel for j.doe"),
    ]
    assert Incident.objects.count() == 1  # no new incident


@pytest.mark.django_db
def test_link_refuses_a_closed_incident(lead: User, responder: User, incident: Incident, three) -> None:
    incident_services.incident_close(incident=incident, actor=lead, resolution="false_positive")
    with pytest.raises(ValidationError) as caught:
        alerts_link(alerts=three, incident=incident, actor=responder)
    assert caught.value.message_dict == {
        "incident": [f"{incident.reference} is closed: reopen it first, or promote the alerts to a new incident."]
    }
    assert set(Alert.objects.values_list("status", flat=True)) == {"new"}


@pytest.mark.django_db
def test_link_refuses_an_incident_the_actor_may_not_contribute_to(
    lead: User, outsider: User, restricted_incident: Incident, three
) -> None:
    # A restricted incident the outsider is not on…
    with pytest.raises(PermissionDenied, match=r"You may not add to this incident\."):
        alerts_link(alerts=three, incident=restricted_incident, actor=outsider)
    # …nor one they may only observe.
    incident_services.member_add(incident=restricted_incident, user=outsider, actor=lead, role=MemberRole.OBSERVER)
    with pytest.raises(PermissionDenied, match=r"You may not add to this incident\."):
        alerts_link(alerts=three, incident=restricted_incident, actor=outsider)
    assert set(Alert.objects.values_list("status", flat=True)) == {"new"}
    assert events_of(restricted_incident) == []


@pytest.mark.django_db
def test_link_refuses_alerts_already_triaged(responder: User, lead: User, three) -> None:
    other = make_incident(opened_by=lead, title="Credential stuffing")
    promoted_into = alerts_promote(alerts=[three[0]], actor=responder)
    with pytest.raises(ValidationError) as caught:
        alerts_link(alerts=[three[0], three[1]], incident=other, actor=responder)
    assert caught.value.message_dict == {
        "alerts": ["Only new alerts can be linked; already triaged: “Impossible travel for j.doe” (promoted)."]
    }
    assert Alert.objects.get(source_ref="A-1").incident_id == promoted_into.pk


# --- Ignore ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_ignore_records_the_reason(responder: User, three: list[Alert]) -> None:
    ignored = alerts_ignore(alerts=[three[2]], actor=responder, reason="  Quarterly scan by our pentesters ")
    assert [a.source_ref for a in ignored] == ["A-3"]
    row = Alert.objects.get(source_ref="A-3")
    assert (row.status, row.ignore_reason, row.incident_id, row.triaged_by) == (
        "ignored",
        "Quarterly scan by our pentesters",
        None,
        responder,
    )
    assert row.triaged_at is not None
    assert Incident.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Say why these alerts need no response."),
        ("   ", "Say why these alerts need no response."),
        ("x" * 501, "At most 500 characters (it has 501)."),
        ("scan\x00", "Null characters are not allowed."),
    ],
)
def test_ignore_needs_a_reason(responder: User, three: list[Alert], reason: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        alerts_ignore(alerts=three, actor=responder, reason=reason)
    assert caught.value.message_dict == {"reason": [message]}
    assert set(Alert.objects.values_list("status", flat=True)) == {"new"}


@pytest.mark.django_db
def test_ignore_takes_a_reason_of_exactly_500_characters(responder: User, three: list[Alert]) -> None:
    alerts_ignore(alerts=[three[0]], actor=responder, reason="y" * 500)
    assert Alert.objects.get(source_ref="A-1").ignore_reason == "y" * 500


# --- Who may triage --------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["executive", "vendor", "siem"])
def test_only_admins_leads_and_responders_may_triage(request, persona: str, incident: Incident, three) -> None:
    actor = request.getfixturevalue(persona)
    with pytest.raises(PermissionDenied, match=r"Your role may not triage alerts\."):
        alerts_promote(alerts=three, actor=actor)
    with pytest.raises(PermissionDenied, match=r"Your role may not triage alerts\."):
        alerts_link(alerts=three, incident=incident, actor=actor)
    with pytest.raises(PermissionDenied, match=r"Your role may not triage alerts\."):
        alerts_ignore(alerts=three, actor=actor, reason="noise")
    assert set(Alert.objects.values_list("status", flat=True)) == {"new"}
    assert Incident.objects.count() == 1  # the fixture's own


@pytest.mark.django_db
def test_admins_and_leads_triage_too(admin: User, lead: User, three: list[Alert]) -> None:
    alerts_ignore(alerts=[three[0]], actor=admin, reason="Test alert")
    alerts_ignore(alerts=[three[1]], actor=lead, reason="Test alert")
    assert sorted(Alert.objects.filter(status="ignored").values_list("triaged_by__username", flat=True)) == [
        "ada",
        "lena",
    ]


@pytest.mark.django_db
def test_an_inactive_responder_may_not_triage(responder: User, three: list[Alert]) -> None:
    responder.is_active = False
    responder.save()
    with pytest.raises(PermissionDenied):
        alerts_ignore(alerts=three, actor=responder, reason="noise")


@pytest.mark.django_db
def test_the_incident_of_a_closed_status_check_uses_the_current_row(
    lead: User, responder: User, incident: Incident, three
) -> None:
    """The service reads the incident again (locked): a stale object saying "new" is not enough."""
    stale = Incident.objects.get(pk=incident.pk)
    incident_services.incident_close(incident=incident, actor=lead, resolution="benign")
    assert stale.status == Status.NEW
    with pytest.raises(ValidationError):
        alerts_link(alerts=three, incident=stale, actor=responder)


@pytest.mark.django_db(transaction=True)
def test_two_people_promoting_the_same_alert_at_once_open_one_incident(postgres, lead: User, responder: User, siem):
    """The rows are locked before their status is read: the second promote waits, then finds
    the alert promoted and is refused (without the lock both would open an incident)."""
    import threading

    from django.db import connection

    (alert,) = ingest(siem, normalized("RACE-1", title="Beacon to 198.51.100.7"))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def promote(actor: User) -> None:
        try:
            barrier.wait()
            alerts_promote(alerts=[alert.pk], actor=actor)
            outcomes.append("promoted")
        except ValidationError as exc:
            outcomes.append(exc.message_dict["alerts"][0][:36])
        finally:
            connection.close()

    threads = [threading.Thread(target=promote, args=(actor,)) for actor in (lead, responder)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["Only new alerts can be promoted; alr", "promoted"]
    assert Incident.objects.count() == 1
    assert Alert.objects.get(pk=alert.pk).incident_id == Incident.objects.get().pk
