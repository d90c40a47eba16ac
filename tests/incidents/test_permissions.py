"""Who may change what on an incident: the rule table of ``incidents.permissions``, written out
here and proven cell by cell through the public services.

The table below is the specification. It is never computed from ``RULES`` or ``REFUSALS``: if
someone adds a standing to a row, or takes one away, the cells for it go red here.

Personas on the ``case`` incident (unrestricted, led by lena, severity medium):

==========  ============================================================  ==========
persona     who                                                           standing
==========  ============================================================  ==========
ada         admin role and superuser, not a member                        admin
adam        admin role only (not a superuser), not a member               admin
lena        the incident's lead                                           lead
ravi        responder, responder member                                   responder
leo         global role "incident lead", but only a responder member      responder
victor      vendor collaborator, responder member (a contributor)         vendor
olga        responder invited as observer                                 observer
vera        vendor collaborator invited as observer                       observer
otto        responder, not a member (unrestricted incident)               writer
lars        global role "incident lead", not a member                     writer
erin        executive, observer member                                    reader
emil        executive, not a member                                       reader
==========  ============================================================  ==========
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import Role, User
from accounts.services import api_key_create
from incidents import services
from incidents.models import Activity, Finding, Incident, MemberRole, Membership, Severity, Status, Task
from incidents.permissions import (
    Action,
    Standing,
    assignable_users,
    case_permissions,
    lead_candidates,
    may_lead,
    standing,
)
from notifications.services import incident_acknowledge
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

ADMIN, LEAD, RESPONDER, VENDOR, OBSERVER, WRITER, READER = (
    "admin",
    "lead",
    "responder",
    "vendor",
    "observer",
    "writer",
    "reader",
)
STANDINGS = (ADMIN, LEAD, RESPONDER, VENDOR, OBSERVER, WRITER, READER)

# The rule table: for each action, the standings that may take it and those that may not.
TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "contribute": {
        "may": (ADMIN, LEAD, RESPONDER, VENDOR, WRITER),
        "may_not": (OBSERVER, READER),
    },
    "edit": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    "raise_severity": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    "lower_severity": {
        "may": (ADMIN, LEAD),
        "may_not": (RESPONDER, VENDOR, OBSERVER, WRITER, READER),
    },
    "manage_access": {
        "may": (ADMIN, LEAD),
        "may_not": (RESPONDER, VENDOR, OBSERVER, WRITER, READER),
    },
    "transition": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    "update_any_task": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    "update_own_task": {
        "may": (ADMIN, LEAD, RESPONDER, VENDOR, WRITER),
        "may_not": (OBSERVER, READER),
    },
    "be_assigned": {
        "may": (ADMIN, LEAD, RESPONDER, VENDOR, WRITER),
        "may_not": (OBSERVER, READER),
    },
    # Evidence (proven cell by cell in tests/incidents/test_evidence_access.py).
    "download_evidence": {
        "may": (ADMIN, LEAD, RESPONDER, VENDOR, OBSERVER, WRITER),
        "may_not": (READER,),
    },
    "transfer_evidence": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    "legal_hold": {
        "may": (ADMIN, LEAD),
        "may_not": (RESPONDER, VENDOR, OBSERVER, WRITER, READER),
    },
    # Vendors (proven cell by cell in tests/incidents/test_vendors_involvement.py; the access
    # items, under the same row, in tests/incidents/test_vendors_access.py).
    "manage_vendors": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    # Proven cell by cell in tests/incidents/test_vendors_containment.py.
    "override_containment": {
        "may": (ADMIN, LEAD),
        "may_not": (RESPONDER, VENDOR, OBSERVER, WRITER, READER),
    },
    # Proven cell by cell in tests/incidents/test_vendors_questions.py (a vendor collaborator only
    # for their own company's questions: another company's involvement is a 404 for them).
    "answer_vendor_questions": {
        "may": (ADMIN, LEAD, RESPONDER, VENDOR),
        "may_not": (OBSERVER, WRITER, READER),
    },
    # The timeline (proven cell by cell in tests/timeline/test_services.py): anyone who may
    # contribute adds events and changes their own; changing anyone's and importing is the case
    # members' call.
    "edit_timeline": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    "import_timeline": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    # Taking a paged incident: whoever may work it, the on-call responder who is not a member yet
    # included (a writer); never executives, observers or vendor collaborators.
    "acknowledge": {
        "may": (ADMIN, LEAD, RESPONDER, WRITER),
        "may_not": (VENDOR, OBSERVER, READER),
    },
    # The notification register (proven cell by cell, counsel included, in
    # tests/incidents/test_regulatory_permissions.py): the lead's and admins' call; responders
    # working the case draft notices. Counsel (User.counsel) may all four, whatever their standing.
    "decide_regulatory": {
        "may": (ADMIN, LEAD),
        "may_not": (RESPONDER, VENDOR, OBSERVER, WRITER, READER),
    },
    "draft_notice": {
        "may": (ADMIN, LEAD, RESPONDER),
        "may_not": (VENDOR, OBSERVER, WRITER, READER),
    },
    "approve_notice": {
        "may": (ADMIN, LEAD),
        "may_not": (RESPONDER, VENDOR, OBSERVER, WRITER, READER),
    },
    "record_notice_sent": {
        "may": (ADMIN, LEAD),
        "may_not": (RESPONDER, VENDOR, OBSERVER, WRITER, READER),
    },
}

# What each refusal says (PermissionDenied's message), written out.
REFUSED = {
    "contribute": "You may not add to this incident.",
    "edit": "Only members working this incident (its lead and responders) may change it.",
    "raise_severity": "Only members working this incident may raise its severity.",
    "lower_severity": "Only the incident's lead or an admin may lower its severity.",
    "manage_access": "Only the incident's lead or an admin may change who can see and work on it.",
    "transition": "Only members working this incident (its lead and responders) may change its status.",
    "update_any_task": "You may only tick tasks assigned to you.",
    "update_own_task": "You may not change tasks on this incident.",
    "manage_vendors": "Only members working this incident (its lead and responders) may change its vendors.",
    "override_containment": (
        "Only the incident's lead or an admin may mark it contained while vendor access is still active."
    ),
    "answer_vendor_questions": "Only the vendor's collaborator or members working this incident may answer.",
    "edit_timeline": "You may only change timeline events you recorded.",
    "import_timeline": "Only members working this incident (its lead and responders) may import a timeline.",
    "acknowledge": "Only responders and incident leads who may work this incident may acknowledge it.",
    "decide_regulatory": "Only the incident's lead, an admin or counsel may decide on notification duties.",
    "draft_notice": "Only members working this incident or counsel may draft a notice.",
    "approve_notice": "Only the incident's lead, an admin or counsel may approve a notice.",
    "record_notice_sent": "Only the incident's lead, an admin or counsel may record a notice as sent.",
}

PERSONAS = {
    "ada": ADMIN,
    "adam": ADMIN,
    "lena": LEAD,
    "ravi": RESPONDER,
    "leo": RESPONDER,
    "victor": VENDOR,
    "olga": OBSERVER,
    "vera": OBSERVER,
    "otto": WRITER,
    "lars": WRITER,
    "erin": READER,
    "emil": READER,
}
TITLE = "Phishing wave against finance"


def allowed(action: str, persona: str) -> bool:
    return PERSONAS[persona] in TABLE[action]["may"]


@dataclass
class Case:
    incident: Incident
    people: dict[str, User]
    others_task: Task  # assigned to tom, a responder member who is none of the personas

    def __getitem__(self, username: str) -> User:
        return self.people[username]

    def reload(self) -> Incident:
        return Incident.objects.get(pk=self.incident.pk)


@pytest.fixture
def case(admin, lead, responder, vendor, outsider, executive, incident) -> Case:
    people = {"ada": admin, "lena": lead, "ravi": responder, "victor": vendor, "otto": outsider, "erin": executive}
    for username, first, last, role in [
        ("adam", "Adam", "Ashby", Role.ADMIN),
        ("leo", "Leo", "Lindqvist", Role.LEAD),
        ("lars", "Lars", "Lund", Role.LEAD),
        ("olga", "Olga", "Ortiz", Role.RESPONDER),
        ("vera", "Vera", "Vance", Role.VENDOR),
        ("emil", "Emil", "Eklund", Role.EXECUTIVE),
        ("tom", "Tom", "Tran", Role.RESPONDER),
        ("nina", "Nina", "Novak", Role.RESPONDER),
    ]:
        people[username] = UserFactory(username=username, first_name=first, last_name=last, role=role)
    for username, role in [
        ("ravi", MemberRole.RESPONDER),
        ("leo", MemberRole.RESPONDER),
        ("victor", MemberRole.RESPONDER),
        ("tom", MemberRole.RESPONDER),
        ("olga", MemberRole.OBSERVER),
        ("vera", MemberRole.OBSERVER),
        ("erin", MemberRole.OBSERVER),
    ]:
        services.member_add(incident=incident, user=people[username], actor=lead, role=role)
    task = services.task_add(incident=incident, actor=lead, title="Block sender domain", assignee=people["tom"])
    return Case(incident=incident, people=people, others_task=task)


def state(incident: Incident) -> dict[str, Any]:
    """Everything a write on ``incident`` could touch, read from the database."""
    return {
        "incident": Incident.objects.filter(pk=incident.pk).values().get(),
        "activity": list(
            Activity.objects.filter(incident=incident).order_by("id").values_list("verb", "actor__username", "data")
        ),
        "members": list(
            Membership.objects.filter(incident=incident)
            .order_by("user__username")
            .values_list("user__username", "role")
        ),
        "findings": list(
            Finding.objects.filter(incident=incident).order_by("id").values_list("author__username", "body")
        ),
        "tasks": list(
            Task.objects.filter(incident=incident)
            .order_by("id")
            .values_list("title", "assignee__username", "due_on", "done", "done_at", "created_by__username")
        ),
    }


def last_activity_id(incident: Incident) -> int:
    return Activity.objects.filter(incident=incident).order_by("-id").values_list("id", flat=True)[0]


def entries_since(incident: Incident, last_id: int) -> list[tuple[str, str, dict]]:
    """The activity entries written after ``last_id``, oldest first, as (verb, actor, data)."""
    rows = Activity.objects.filter(incident=incident, id__gt=last_id).order_by("id")
    return list(rows.values_list("verb", "actor__username", "data"))


def assert_refused(incident: Incident, call: Callable[[], object], message: str) -> None:
    """``call`` raises PermissionDenied with ``message`` and writes nothing."""
    before = state(incident)
    with pytest.raises(PermissionDenied) as refused:
        call()
    assert str(refused.value) == message
    assert state(incident) == before


# --- The table itself -----------------------------------------------------------------------
def test_the_written_table_covers_every_action_and_standing_once():
    # When the code gains an action or a standing, this fails until it is written out above.
    assert set(TABLE) == {action.value for action in Action}
    assert set(STANDINGS) == {s.value for s in Standing}
    for action, row in TABLE.items():
        assert sorted(row["may"] + row["may_not"]) == sorted(STANDINGS), action


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_has_the_standing_the_table_is_about(case, persona):
    assert standing(case[persona], case.incident) == PERSONAS[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_case_permissions_offer_exactly_the_table_row(case, persona):
    expected = {action: allowed(action, persona) for action in TABLE}

    assert case_permissions(case[persona], case.incident) == expected


# --- contribute: findings and tasks ---------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_contribute_a_finding(case, persona):
    actor = case[persona]
    assert not Finding.objects.exists()

    def add() -> Finding:
        return services.finding_add(incident=case.incident, author=actor, body="Sender domain registered yesterday.")

    if not allowed("contribute", persona):
        assert_refused(case.incident, add, REFUSED["contribute"])
        return
    since = last_activity_id(case.incident)
    finding = add()
    assert list(Finding.objects.filter(incident=case.incident).values_list("author__username", "body")) == [
        (persona, "Sender domain registered yesterday.")
    ]
    assert entries_since(case.incident, since) == [("finding_added", persona, {"finding_id": finding.pk})]


@pytest.mark.parametrize("persona", PERSONAS)
def test_contribute_a_task(case, persona):
    actor = case[persona]
    assert list(case.incident.tasks.values_list("title", flat=True)) == ["Block sender domain"]

    def add() -> Task:
        return services.task_add(incident=case.incident, actor=actor, title="Reset passwords")

    if not allowed("contribute", persona):
        assert_refused(case.incident, add, REFUSED["contribute"])
        return
    since = last_activity_id(case.incident)
    task = add()
    tasks = case.incident.tasks.order_by("id").values_list("title", "assignee__username", "created_by__username")
    assert list(tasks) == [("Block sender domain", "tom", "lena"), ("Reset passwords", None, persona)]
    assert entries_since(case.incident, since) == [
        ("task_added", persona, {"task_id": task.pk, "title": "Reset passwords"})
    ]


# --- edit and severity ----------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_edit_the_title(case, persona):
    actor = case[persona]
    assert (case.incident.title, case.incident.version) == (TITLE, 1)

    def edit() -> Incident:
        return services.incident_update(
            incident=case.incident, actor=actor, version=1, changes={"title": "Phishing wave against finance and HR"}
        )

    if not allowed("edit", persona):
        assert_refused(case.incident, edit, REFUSED["edit"])
        return
    since = last_activity_id(case.incident)
    edit()
    incident = case.reload()
    assert (incident.title, incident.version) == ("Phishing wave against finance and HR", 2)
    assert entries_since(case.incident, since) == [
        ("updated", persona, {"changes": {"title": {"old": TITLE, "new": "Phishing wave against finance and HR"}}})
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_raise_the_severity(case, persona):
    actor = case[persona]
    assert case.incident.severity == Severity.MEDIUM

    def raise_() -> Incident:
        return services.incident_update(incident=case.incident, actor=actor, version=1, changes={"severity": "high"})

    if not allowed("raise_severity", persona):
        assert_refused(case.incident, raise_, REFUSED["raise_severity"])
        return
    since = last_activity_id(case.incident)
    raise_()
    incident = case.reload()
    assert (incident.severity, incident.version) == ("high", 2)
    assert entries_since(case.incident, since) == [
        ("updated", persona, {"changes": {"severity": {"old": "medium", "new": "high"}}})
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_lower_the_severity(case, persona):
    actor = case[persona]
    assert case.incident.severity == Severity.MEDIUM

    def lower() -> Incident:
        return services.incident_update(incident=case.incident, actor=actor, version=1, changes={"severity": "low"})

    if not allowed("lower_severity", persona):
        assert_refused(case.incident, lower, REFUSED["lower_severity"])
        return
    since = last_activity_id(case.incident)
    lower()
    incident = case.reload()
    assert (incident.severity, incident.version) == ("low", 2)
    assert entries_since(case.incident, since) == [
        ("updated", persona, {"changes": {"severity": {"old": "medium", "new": "low"}}})
    ]


def test_a_responder_may_lower_nothing_even_with_an_allowed_change_in_the_same_request(case):
    # One refused field refuses the whole update: the title is not applied alone.
    assert_refused(
        case.incident,
        lambda: services.incident_update(
            incident=case.incident, actor=case["ravi"], version=1, changes={"title": "Renamed", "severity": "low"}
        ),
        REFUSED["lower_severity"],
    )


# --- manage access: restricted, lead, members -----------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_access_restrict(case, persona):
    actor = case[persona]
    assert case.incident.restricted is False

    def restrict() -> Incident:
        return services.incident_update(incident=case.incident, actor=actor, version=1, changes={"restricted": True})

    if not allowed("manage_access", persona):
        assert_refused(case.incident, restrict, REFUSED["manage_access"])
        return
    since = last_activity_id(case.incident)
    restrict()
    incident = case.reload()
    assert (incident.restricted, incident.version) == (True, 2)
    assert entries_since(case.incident, since) == [
        ("updated", persona, {"changes": {"restricted": {"old": False, "new": True}}})
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_access_change_the_lead(case, persona):
    actor, lars = case[persona], case["lars"]
    assert case.incident.lead == case["lena"]

    def hand_over() -> Incident:
        return services.incident_update(incident=case.incident, actor=actor, version=1, changes={"lead": lars})

    if not allowed("manage_access", persona):
        assert_refused(case.incident, hand_over, REFUSED["manage_access"])
        return
    since = last_activity_id(case.incident)
    hand_over()
    incident = case.reload()
    assert (incident.lead, incident.version) == (lars, 2)
    roles = dict(Membership.objects.filter(incident=incident).values_list("user__username", "role"))
    assert (roles["lars"], roles["lena"]) == ("lead", "responder")
    assert entries_since(case.incident, since) == [
        ("updated", persona, {"changes": {"lead": {"old": "lena", "new": "lars"}}}),
        (
            "member_role_changed",
            persona,
            {"username": "lena", "name": str(case["lena"]), "old": "lead", "new": "responder"},
        ),
        ("member_added", persona, {"username": "lars", "name": "Lars Lund", "role": "lead"}),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_access_add_a_member(case, persona):
    actor, nina = case[persona], case["nina"]
    assert not Membership.objects.filter(incident=case.incident, user=nina).exists()

    def add() -> Membership:
        return services.member_add(incident=case.incident, user=nina, actor=actor, role=MemberRole.OBSERVER)

    if not allowed("manage_access", persona):
        assert_refused(case.incident, add, REFUSED["manage_access"])
        return
    since = last_activity_id(case.incident)
    add()
    assert Membership.objects.get(incident=case.incident, user=nina).role == "observer"
    assert entries_since(case.incident, since) == [
        ("member_added", persona, {"username": "nina", "name": "Nina Novak", "role": "observer"})
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_access_change_a_members_role(case, persona):
    actor, tom = case[persona], case["tom"]
    assert Membership.objects.get(incident=case.incident, user=tom).role == "responder"

    def demote() -> Membership:
        return services.member_role_change(incident=case.incident, user=tom, actor=actor, role=MemberRole.OBSERVER)

    if not allowed("manage_access", persona):
        assert_refused(case.incident, demote, REFUSED["manage_access"])
        return
    since = last_activity_id(case.incident)
    demote()
    assert Membership.objects.get(incident=case.incident, user=tom).role == "observer"
    assert entries_since(case.incident, since) == [
        ("member_role_changed", persona, {"username": "tom", "name": "Tom Tran", "old": "responder", "new": "observer"})
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_manage_access_remove_a_member(case, persona):
    actor, tom = case[persona], case["tom"]
    assert Membership.objects.filter(incident=case.incident, user=tom).exists()

    def remove() -> None:
        services.member_remove(incident=case.incident, user=tom, actor=actor)

    if not allowed("manage_access", persona):
        assert_refused(case.incident, remove, REFUSED["manage_access"])
        return
    since = last_activity_id(case.incident)
    remove()
    assert not Membership.objects.filter(incident=case.incident, user=tom).exists()
    assert entries_since(case.incident, since) == [
        ("member_removed", persona, {"username": "tom", "name": "Tom Tran", "role": "responder"})
    ]


# --- transition -----------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_transition(case, persona):
    actor = case[persona]
    assert (case.incident.status, case.incident.acknowledged_at) == (Status.NEW, None)

    def move() -> Incident:
        return services.incident_transition(incident=case.incident, to=Status.TRIAGE, actor=actor)

    if not allowed("transition", persona):
        assert_refused(case.incident, move, REFUSED["transition"])
        return
    since = last_activity_id(case.incident)
    move()
    incident = case.reload()
    assert (incident.status, incident.version) == ("triage", 2)
    assert incident.acknowledged_at is not None
    # Leaving new is the first acknowledgement, recorded as one (notifications.services).
    assert entries_since(case.incident, since) == [
        ("status_changed", persona, {"old": "new", "new": "triage"}),
        ("acknowledged", persona, {"channel": "status", "channel_label": "status change (left new)"}),
    ]


# --- acknowledge ----------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_acknowledge(case, persona):
    actor = case[persona]
    assert (case.incident.status, case.incident.acknowledged_at) == (Status.NEW, None)

    def take() -> object:
        return incident_acknowledge(incident=case.incident, actor=actor, channel="web")

    if not allowed("acknowledge", persona):
        assert_refused(case.incident, take, REFUSED["acknowledge"])
        return
    since = last_activity_id(case.incident)
    take()
    incident = case.reload()
    assert (incident.status, incident.version) == ("new", 2)
    assert incident.acknowledged_at is not None
    assert entries_since(case.incident, since) == [
        ("acknowledged", persona, {"channel": "web", "channel_label": "browser"})
    ]


# --- tasks: anyone's, and one's own ---------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_update_any_task_retitle_someone_elses(case, persona):
    actor, task = case[persona], case.others_task
    new_title = "Block sender domain at the mail gateway"

    def retitle() -> Task:
        return services.task_update(task=task, actor=actor, changes={"title": new_title})

    if not allowed("update_any_task", persona):
        assert_refused(case.incident, retitle, REFUSED["update_any_task"])
        return
    since = last_activity_id(case.incident)
    retitle()
    task.refresh_from_db()
    assert (task.title, task.assignee.username) == (new_title, "tom")
    assert entries_since(case.incident, since) == [
        (
            "task_updated",
            persona,
            {
                "task_id": task.pk,
                "title": new_title,
                "changes": {"title": {"old": "Block sender domain", "new": new_title}},
            },
        )
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_update_any_task_tick_someone_elses(case, persona):
    actor, task = case[persona], case.others_task
    assert (task.done, task.done_at) == (False, None)

    def tick() -> Task:
        return services.task_update(task=task, actor=actor, changes={"done": True})

    if not allowed("update_any_task", persona):
        assert_refused(case.incident, tick, REFUSED["update_any_task"])
        return
    since = last_activity_id(case.incident)
    tick()
    task.refresh_from_db()
    assert task.done is True
    assert task.done_at is not None
    assert entries_since(case.incident, since) == [
        ("task_done", persona, {"task_id": task.pk, "title": "Block sender domain", "done": True})
    ]


def _own_task(case: Case, persona: str) -> Task:
    task = services.task_add(incident=case.incident, actor=case["lena"], title="Check your mailbox rules")
    # Assigned directly, not through task_add: observers and readers can no longer be given tasks,
    # but may hold one from before (a responder since made an observer). Ticking must follow the
    # table whatever the history.
    Task.objects.filter(pk=task.pk).update(assignee=case[persona])
    task.refresh_from_db()
    return task


@pytest.mark.parametrize("persona", PERSONAS)
def test_update_own_task_tick_it(case, persona):
    actor = case[persona]
    task = _own_task(case, persona)
    assert (task.assignee, task.done, task.done_at) == (actor, False, None)

    def tick() -> Task:
        return services.task_update(task=task, actor=actor, changes={"done": True})

    if not allowed("update_own_task", persona):
        assert_refused(case.incident, tick, REFUSED["update_own_task"])
        return
    since = last_activity_id(case.incident)
    tick()
    task.refresh_from_db()
    assert task.done is True
    assert task.done_at is not None
    assert entries_since(case.incident, since) == [
        ("task_done", persona, {"task_id": task.pk, "title": "Check your mailbox rules", "done": True})
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_update_own_task_beyond_ticking_needs_update_any_task(case, persona):
    # Ticking is all "own task" allows: renaming one's own task is "update any task".
    actor = case[persona]
    task = _own_task(case, persona)

    def retitle() -> Task:
        return services.task_update(task=task, actor=actor, changes={"title": "Check mailbox rules and forwards"})

    if not allowed("update_any_task", persona):
        assert_refused(case.incident, retitle, REFUSED["update_any_task"])
        return
    retitle()
    task.refresh_from_db()
    assert task.title == "Check mailbox rules and forwards"


def test_ticking_ones_own_task_while_repeating_its_unchanged_title_is_still_ticking(case):
    # What would change decides the row, not the keys sent: a client that sends the whole task
    # back with done flipped is only ticking it.
    vendor = case["victor"]
    task = _own_task(case, "victor")
    services.task_update(task=task, actor=vendor, changes={"done": True, "title": "Check your mailbox rules"})
    task.refresh_from_db()
    assert (task.done, task.title) == (True, "Check your mailbox rules")
    assert_refused(
        case.incident,
        lambda: services.task_update(task=task, actor=vendor, changes={"done": False, "title": "Renamed"}),
        REFUSED["update_any_task"],
    )


# --- be assigned ----------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_be_assigned(case, persona):
    assignee = case[persona]

    def assign() -> Task:
        return services.task_add(incident=case.incident, actor=case["lena"], title="Review logs", assignee=assignee)

    if not allowed("be_assigned", persona):
        # Refused as bad input (the lead may add tasks; this assignee is the problem): a 400.
        before = state(case.incident)
        with pytest.raises(ValidationError) as refused:
            assign()
        assert refused.value.message_dict == {
            "assignee": [f"{persona} cannot be given tasks on {case.incident.reference}."]
        }
        assert state(case.incident) == before
        return
    since = last_activity_id(case.incident)
    task = assign()
    assert Task.objects.get(pk=task.pk).assignee == assignee
    assert entries_since(case.incident, since) == [("task_added", "lena", {"task_id": task.pk, "title": "Review logs"})]


@pytest.mark.parametrize("persona", PERSONAS)
def test_be_assigned_by_reassignment(case, persona):
    task = case.others_task

    def reassign() -> Task:
        return services.task_update(task=task, actor=case["lena"], changes={"assignee": case[persona]})

    if not allowed("be_assigned", persona):
        before = state(case.incident)
        with pytest.raises(ValidationError) as refused:
            reassign()
        assert refused.value.message_dict == {
            "assignee": [f"{persona} cannot be given tasks on {case.incident.reference}."]
        }
        assert state(case.incident) == before
        return
    reassign()
    assert Task.objects.get(pk=task.pk).assignee == case[persona]


# --- Standing edge cases --------------------------------------------------------------------
def test_the_global_role_incident_lead_is_not_the_incidents_lead(case):
    """leo holds the global role "incident lead" but lena leads this case: he works it as a
    responder and may not change who can see it; once made its lead, he may."""
    leo = case["leo"]
    assert (leo.role, may_lead(leo), case.incident.lead.username) == (Role.LEAD, True, "lena")

    assert_refused(
        case.incident,
        lambda: services.incident_update(incident=case.incident, actor=leo, version=1, changes={"restricted": True}),
        REFUSED["manage_access"],
    )

    services.incident_update(incident=case.incident, actor=case["lena"], version=1, changes={"lead": leo})
    services.incident_update(incident=case.incident, actor=leo, version=2, changes={"restricted": True})
    assert (case.reload().restricted, case.reload().version) == (True, 3)


def test_the_writer_standing_is_for_unrestricted_incidents_only(outsider, lead, restricted_incident):
    # otto may add to unrestricted incidents he is not on; on a restricted one he is a reader.
    assert standing(outsider, restricted_incident) == READER
    assert_refused(
        restricted_incident,
        lambda: services.finding_add(incident=restricted_incident, author=outsider, body="peek"),
        REFUSED["contribute"],
    )
    assert_refused(
        restricted_incident,
        lambda: services.task_add(incident=restricted_incident, actor=outsider, title="peek"),
        REFUSED["contribute"],
    )


@pytest.mark.parametrize("persona", ["ada", "lena", "ravi"])
def test_deactivated_people_may_do_nothing(case, persona):
    actor = case[persona]
    actor.is_active = False
    actor.save(update_fields=["is_active"])

    assert case_permissions(actor, case.incident) == dict.fromkeys(TABLE, False)
    assert_refused(
        case.incident,
        lambda: services.incident_update(incident=case.incident, actor=actor, version=1, changes={"title": "x"}),
        REFUSED["edit"],
    )
    assert_refused(
        case.incident,
        lambda: services.finding_add(incident=case.incident, author=actor, body="x"),
        REFUSED["contribute"],
    )


def test_an_integration_writes_as_a_writer_but_is_never_assigned(case):
    siem, _ = api_key_create(name="siem", scopes=["incidents:write"])
    robot = siem.user
    assert (robot.username, robot.role, standing(robot, case.incident)) == ("api:siem", Role.INTEGRATION, WRITER)

    finding = services.finding_add(incident=case.incident, author=robot, body="Alert 4411 matched.")
    assert finding.author == robot
    assert_refused(
        case.incident,
        lambda: services.incident_update(incident=case.incident, actor=robot, version=1, changes={"title": "x"}),
        REFUSED["edit"],
    )
    # Integrations are principals, not people who do tasks: never assignable, whatever the table
    # says about writers.
    before = state(case.incident)
    with pytest.raises(ValidationError) as refused:
        services.task_add(incident=case.incident, actor=case["lena"], title="Triage alert", assignee=robot)
    assert refused.value.message_dict == {"assignee": [f"api:siem cannot be given tasks on {case.incident.reference}."]}
    assert state(case.incident) == before
    assert case_permissions(robot, case.incident)["be_assigned"] is False


def test_an_integration_that_opened_an_incident_works_it_but_is_never_assigned(lead):
    siem, _ = api_key_create(name="siem", scopes=["incidents:write"])
    robot = siem.user
    opened = services.incident_open(opened_by=robot, title="EDR: credential dumping", lead=lead, restricted=True)

    # The opener is a member working the case (so it may read back and add to it)...
    assert list(opened.memberships.order_by("user__username").values_list("user__username", "role")) == [
        ("api:siem", "responder"),
        ("lena", "lead"),
    ]
    assert standing(robot, opened) == RESPONDER
    services.finding_add(incident=opened, author=robot, body="Dumped LSASS on host WS-12.")
    # ...but it is not a person who can do tasks.
    assert list(assignable_users(incident=opened).values_list("username", flat=True)) == ["lena"]
    with pytest.raises(ValidationError) as refused:
        services.task_add(incident=opened, actor=lead, title="Isolate WS-12", assignee=robot)
    assert refused.value.message_dict == {"assignee": [f"api:siem cannot be given tasks on {opened.reference}."]}
    assert not opened.tasks.exists()


# --- Who may be picked ----------------------------------------------------------------------
def test_lead_candidates_and_may_lead(admin, lead, responder, executive, vendor):
    UserFactory(username="adam", role=Role.ADMIN)
    UserFactory(username="lars", role=Role.LEAD)
    UserFactory(username="sue", role=Role.RESPONDER, is_superuser=True)
    UserFactory(username="ina", role=Role.LEAD, is_active=False)
    api_key_create(name="siem", scopes=["incidents:write"])

    assert list(lead_candidates().values_list("username", flat=True)) == ["ada", "adam", "lars", "lena", "sue"]
    assert {user.username: may_lead(user) for user in User.objects.all()} == {
        "ada": True,  # admin and superuser
        "adam": True,  # admin role
        "api:siem": False,  # integration
        "erin": False,  # executive
        "ina": False,  # incident lead, but deactivated
        "lars": True,  # incident lead
        "lena": True,  # incident lead
        "ravi": False,  # responder
        "sue": True,  # superuser, whatever her role
        "victor": False,  # vendor
    }


@pytest.fixture
def bystanders(db) -> None:
    """People the assignee lists must leave out: an integration, a deactivated responder, a vendor
    who is on no incident."""
    api_key_create(name="siem", scopes=["incidents:write"])
    UserFactory(username="ian", role=Role.RESPONDER, is_active=False)
    UserFactory(username="val", role=Role.VENDOR)


def test_assignable_users_on_an_unrestricted_incident(case, bystanders):
    # Admins, the lead, working members (victor too), and responders or incident leads who are
    # not members (lars, nina, otto). Not observers (olga, vera), executives (erin, emil),
    # integrations, the deactivated or vendors who are not on it (val).
    usernames = list(assignable_users(incident=case.incident).values_list("username", flat=True))

    assert usernames == ["ada", "adam", "lars", "lena", "leo", "nina", "otto", "ravi", "tom", "victor"]


def test_assignable_users_on_a_restricted_incident(case, bystanders):
    services.incident_update(incident=case.incident, actor=case["lena"], version=1, changes={"restricted": True})

    # Only admins, the lead and members working it: the non-members (lars, nina, otto) drop out.
    usernames = list(assignable_users(incident=case.incident).values_list("username", flat=True))

    assert usernames == ["ada", "adam", "lena", "leo", "ravi", "tom", "victor"]


def test_assignable_users_of_the_shared_restricted_fixture(restricted_incident, admin, outsider, executive):
    usernames = list(assignable_users(incident=restricted_incident).values_list("username", flat=True))

    assert usernames == ["ada", "lena", "ravi", "victor"]


# --- Through the HTTP layers ----------------------------------------------------------------
def test_an_integration_that_opens_a_restricted_incident_can_read_it_back(api):
    client = api("incidents:read", "incidents:write")

    created = client.post("/api/v1/incidents/", {"title": "EDR: credential dumping", "restricted": True}, format="json")

    assert created.status_code == 201
    incident = Incident.objects.get(reference=created.json()["reference"])
    assert (incident.restricted, incident.opened_by.username) == (True, "api:siem")
    assert list(incident.memberships.values_list("user__username", "role")) == [("api:siem", "responder")]
    read_back = client.get(created.headers["Location"])
    assert read_back.status_code == 200
    assert read_back.json()["title"] == "EDR: credential dumping"


def _lead_filter_options(html: str) -> list[str]:
    select = re.search(r'<select id="f-lead" name="lead">(.*?)</select>', html, re.S)
    assert select is not None
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_a_vendor_sees_only_the_leads_of_incidents_they_can_see(
    login, admin, lead, responder, vendor, outsider, restricted_incident
):
    lars = UserFactory(username="lars", first_name="Lars", last_name="Lund", role=Role.LEAD)
    leo = UserFactory(username="leo", first_name="Leo", last_name="Lindqvist", role=Role.LEAD)
    shared = make_incident(opened_by=admin, lead=admin, title="Vendor portal outage")
    services.member_add(incident=shared, user=vendor, actor=admin)
    make_incident(opened_by=lars, lead=lars, title="Payroll export on a USB stick")  # unrestricted, not victor's
    make_incident(opened_by=leo, lead=leo, title="Board mailbox accessed", restricted=True)
    make_incident(opened_by=responder, title="Nobody leads this one")

    vendor_page = login(vendor).get(reverse("incidents:list")).content.decode()

    # victor is on the restricted case (lena) and the shared one (ada): only those two leads.
    assert _lead_filter_options(vendor_page) == ["", "ada", "lena"]
    for hidden in ('value="lars"', "Lars Lund", 'value="leo"', "Leo Lindqvist", "Payroll export", "Board mailbox"):
        assert hidden not in vendor_page
    # Staff know their colleagues who may lead, including the lead of a case they cannot see.
    staff_page = login(outsider).get(reverse("incidents:list")).content.decode()
    assert _lead_filter_options(staff_page) == ["", "ada", "lars", "lena", "leo"]


@pytest.mark.parametrize("role", ["executive", "vendor"])
def test_readers_and_vendors_cannot_open_incidents(role):
    person = UserFactory(username=f"no-opener-{role}", role=role)
    with pytest.raises(PermissionDenied) as refused:
        make_incident(opened_by=person, title="Should not exist")
    assert str(refused.value) == "Your role may not open incidents."
    assert not Incident.objects.exists()


def test_an_executive_with_a_working_membership_from_before_is_still_not_assignable(lead, incident):
    # member_add only lets executives observe; a membership written before that rule (or by hand)
    # must not make them an assignee: the queryset excludes executives itself.
    erin = UserFactory(username="erin-exec", role="executive")
    Membership.objects.create(incident=incident, user=erin, role=MemberRole.RESPONDER)
    assert "erin-exec" not in list(assignable_users(incident=incident).values_list("username", flat=True))
    with pytest.raises(ValidationError):
        services.task_add(incident=incident, actor=lead, title="Brief the board", assignee=erin)
