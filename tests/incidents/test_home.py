"""The home page (``/``): where each role lands, and what a responder's desk shows (open
incidents, tasks due, escalations waiting on them, new alerts), in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.models import Role, User
from incidents import services
from incidents.models import MemberRole, Task
from intake import services as intake_services
from intake.normalizers import NormalizedAlert
from notifications import services as paging
from notifications.models import EscalationPolicy, EscalationStep

from ..factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db
HOME = "/"
T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


@pytest.fixture
def siem(db) -> User:
    return UserFactory(username="splunk-prod", role=Role.INTEGRATION)


@pytest.fixture
def critical_policy(responder) -> EscalationPolicy:
    """Critical incidents page their lead at once (step 1) and the responder on call (step 1's
    users): every critical incident opened in a test starts a run of it."""
    policy = EscalationPolicy.objects.create(name="Critical", position=10, severities=["critical"])
    first = EscalationStep.objects.create(policy=policy, position=1, delay=timedelta(0))
    first.users.add(responder)
    EscalationStep.objects.create(policy=policy, position=2, delay=timedelta(hours=1), include_lead=False)
    return policy


def ingest(sender: User, *titles: str) -> None:
    received = [
        intake_services.Received(
            alert=NormalizedAlert(source_ref=title, title=title, severity="low", observed_at=T0, host=title),
            raw={"id": title},
        )
        for title in titles
    ]
    intake_services.alerts_ingest(received=received, source="siem", format="generic", sender=sender)


# --- Where each role lands ------------------------------------------------------------------
def test_executives_land_on_the_dashboard(login, executive):
    response = login(executive).get(HOME)
    assert (response.status_code, response["Location"]) == (302, "/dashboard/")


def test_an_admin_with_every_right_is_not_sent_away(login, admin):
    assert login(admin).get(HOME).status_code == 200


def test_anonymous_visitors_log_in_first(client):
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_only_get_and_head(login, lead):
    client = login(lead)
    assert client.post(HOME).status_code == 405
    assert client.head(HOME).status_code == 200


def test_a_vendor_collaborator_sees_the_incidents_they_were_invited_to_and_nothing_else(
    login, lead, vendor, siem, restricted_incident
):
    make_incident(opened_by=lead, lead=lead, title="Not theirs")
    closed = make_incident(opened_by=lead, lead=lead, title="Invited, now closed")
    services.member_add(incident=closed, user=vendor, actor=lead, role=MemberRole.OBSERVER)
    services.incident_close(incident=closed, actor=lead, resolution="false_positive")
    ingest(siem, "Beacon from wks-1")
    response = login(vendor).get(HOME)
    assert [i.title for i in response.context["invited"]] == [
        "Internal AI model exfiltrated via contractor",
        "Invited, now closed",
    ]
    assert (response.context["incidents"], response.context["escalations"], response.context["alerts"]) == (
        None,
        None,
        None,
    )
    page = response.content.decode()
    assert "Incidents you were invited to" in page
    assert "Not theirs" not in page
    assert "New alerts" not in page and "Beacon from wks-1" not in page
    assert "Waiting for acknowledgement" not in page


def test_a_vendor_collaborators_internal_task_stays_hidden(login, lead, vendor, restricted_incident):
    services.task_add(incident=restricted_incident, actor=lead, title="Shared with Victor", assignee=vendor,
                      internal=False)  # fmt: skip
    task = services.task_add(incident=restricted_incident, actor=lead, title="Ours", assignee=lead)
    Task.objects.filter(pk=task.pk).update(assignee=vendor)  # as if assigned before the rule
    response = login(vendor).get(HOME)
    assert [t.title for t in response.context["tasks"]] == ["Shared with Victor"]


# --- A responder's desk -----------------------------------------------------------------------
def test_my_open_incidents_leave_out_closed_ones_and_others(login, lead, responder):
    make_incident(opened_by=lead, lead=lead, title="I lead it")
    member = make_incident(opened_by=lead, lead=lead, title="I am on it")
    services.member_add(incident=member, user=responder, actor=lead)
    make_incident(opened_by=lead, lead=lead, title="Not mine")
    done = make_incident(opened_by=responder, title="Mine, closed")
    services.incident_close(incident=done, actor=responder, resolution="false_positive")
    assert [i.title for i in login(responder).get(HOME).context["incidents"]] == ["I am on it"]


def test_my_tasks_due_overdue_first_then_soonest_then_undated(login, lead, incident):
    today = date.today()
    for title, due in [("Undated", None), ("Next week", 7), ("Tomorrow", 1)]:
        services.task_add(
            incident=incident, actor=lead, title=title, assignee=lead,
            due_on=None if due is None else today + timedelta(days=due),
        )  # fmt: skip
    late = services.task_add(incident=incident, actor=lead, title="Late", assignee=lead)
    Task.objects.filter(pk=late.pk).update(due_on=today - timedelta(days=2))  # services refuse past dates
    done = services.task_add(incident=incident, actor=lead, title="Done", assignee=lead, due_on=today)
    services.task_update(task=done, actor=lead, changes={"done": True})
    response = login(lead).get(HOME)
    assert [t.title for t in response.context["tasks"]] == ["Late", "Tomorrow", "Next week", "Undated"]
    page = response.content.decode()
    assert '<span class="overdue">overdue, due' in page
    assert "· no due date" in page


def test_escalations_waiting_on_me_as_lead_or_paged(login, lead, responder, outsider, critical_policy):
    make_incident(opened_by=lead, lead=lead, title="Ransomware on FS01", severity="critical")
    make_incident(opened_by=outsider, lead=None, title="Domain admin added", severity="critical")
    make_incident(opened_by=outsider, title="Nobody paged me for this", severity="high")
    taken = make_incident(opened_by=lead, lead=lead, title="Already taken", severity="critical")
    paging.sweep(now=taken.created_at + timedelta(seconds=1))  # step 1: the lead and the responder
    paging.incident_acknowledge(incident=taken, actor=lead, channel="web")
    # Not yet swept for this one: no one has been paged, but its lead is waited on.
    make_incident(opened_by=outsider, lead=lead, title="Opened after the sweep", severity="critical")

    mine = [e.incident.title for e in login(lead).get(HOME).context["escalations"]]
    assert mine == ["Ransomware on FS01", "Opened after the sweep"]
    # The responder was paged by step 1 of every run the sweep fired; they lead none.
    theirs = [e.incident.title for e in login(responder).get(HOME).context["escalations"]]
    assert theirs == ["Ransomware on FS01", "Domain admin added"]
    assert [e.incident.title for e in login(outsider).get(HOME).context["escalations"]] == []


def test_a_restricted_incident_i_may_not_see_is_not_shown_even_if_paged(login, lead, outsider, critical_policy):
    secret = make_incident(opened_by=lead, lead=lead, title="Need to know", severity="critical", restricted=True)
    step = critical_policy.steps.get(position=1)
    step.users.add(outsider)
    paging.sweep(now=secret.created_at + timedelta(seconds=1))
    assert list(login(outsider).get(HOME).context["escalations"]) == []


def test_new_alerts_for_those_who_triage(login, lead, responder, executive, outsider, siem):
    ingest(siem, *(f"Beacon {n}" for n in range(7)))
    for person in (lead, responder):
        alerts = login(person).get(HOME).context["alerts"]
        assert alerts["count"] == 7
        assert [a.title for a in alerts["newest"]] == ["Beacon 6", "Beacon 5", "Beacon 4", "Beacon 3", "Beacon 2"]
    page = login(responder).get(HOME).content.decode()
    assert "7 to triage" in page and 'href="/alerts/"' in page


def test_the_desk_is_empty_and_says_so(login, responder):
    response = login(responder).get(HOME)
    assert response.context["alerts"] == {"count": 0, "newest": []}
    assert (list(response.context["incidents"]), list(response.context["escalations"])) == ([], [])
    page = response.content.decode()
    assert "Nothing open on your desk." in page
    assert "No tasks assigned to you." in page
    assert "No unacknowledged escalation is waiting on you." in page
    assert "The triage queue is empty." in page


# --- Queries ----------------------------------------------------------------------------------
def _world(lead: User, responder: User, siem: User, size: int) -> None:
    for n in range(size):
        incident = make_incident(opened_by=lead, lead=lead, title=f"Case {size}-{n}", severity="critical")
        services.member_add(incident=incident, user=responder, actor=lead)
        services.task_add(incident=incident, actor=lead, title=f"Task {size}-{n}", assignee=lead,
                          due_on=date.today() + timedelta(days=n))  # fmt: skip
    paging.sweep()
    ingest(siem, *(f"Alert {size}-{n}" for n in range(size)))


@pytest.mark.parametrize("size", [1, 6])
def test_the_home_page_costs_the_same_queries_whatever_the_data(
    login, lead, responder, siem, critical_policy, size, django_assert_num_queries
):
    _world(lead, responder, siem, size)
    client = login(lead)
    # session, user, my open incidents (lead joined), my tasks (incident joined), escalations
    # waiting on me (incident and policy joined), the new alerts' count, the newest five.
    with django_assert_num_queries(7):
        response = client.get(HOME)
    assert len(response.context["incidents"]) == size
    assert len(response.context["escalations"]) == size
    assert response.context["alerts"]["count"] == size


def test_a_vendor_collaborators_home_costs_four_queries(login, vendor, restricted_incident, django_assert_num_queries):
    client = login(vendor)
    # session, user, my tasks, the incidents they were invited to.
    with django_assert_num_queries(4):
        client.get(HOME)


def test_an_executive_is_redirected_without_reading_incidents(login, executive, django_assert_num_queries):
    client = login(executive)
    with django_assert_num_queries(2):  # session, user
        client.get(HOME)
