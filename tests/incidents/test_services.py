"""incidents.services: opening, the NIST status flow, optimistic locking, findings and tasks."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from incidents import services
from incidents.models import TRANSITIONS, Activity, Incident, Membership, Status
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db


# How to reach each status from new through the service, written out (set-up only).
PATH_TO = {
    "new": [],
    "triage": ["triage"],
    "investigating": ["investigating"],
    "contained": ["investigating", "contained"],
    "eradicated": ["investigating", "contained", "eradicated"],
    "recovered": ["investigating", "contained", "eradicated", "recovered"],
    "closed": ["closed"],
}


def _at_status(incident: Incident, status: str, actor) -> Incident:
    for step in PATH_TO[status]:
        if step == "closed":  # closing has its own service: it asks for a resolution
            incident = services.incident_close(incident=incident, actor=actor, resolution="false_positive")
        else:
            incident = services.incident_transition(incident=incident, to=step, actor=actor)
    return incident


def _move(incident: Incident, old: str, new: str, actor) -> Incident:
    """Take a move of the flow through its service: closing asks for a resolution
    (incident_close), leaving closed for a reason (incident_reopen), the rest is a transition."""
    if new == "closed":
        return services.incident_close(incident=incident, actor=actor, resolution="false_positive")
    if (old, new) == ("closed", "investigating"):  # reopening always goes back to investigating
        return services.incident_reopen(incident=incident, actor=actor, reason="Same sender is back")
    return services.incident_transition(incident=incident, to=new, actor=actor)


# The one activity entry each kind of move writes, written out.
def _move_entry(old: str, new: str) -> tuple[str, dict]:
    if new == "closed":
        return "closed", {"old": old, "resolution": "false_positive", "duplicate_of": None, "closing_summary": ""}
    if old == "closed":
        return "reopened", {
            "old": "closed",
            "new": new,
            "reason": "Same sender is back",
            "resolution": "false_positive",
            "duplicate_of": None,
        }
    return "status_changed", {"old": old, "new": new}


MOVE_VERBS = ("status_changed", "closed", "reopened")


class TestOpen:
    def test_reference_is_sequential_per_year(self, lead):
        year = timezone.now().year
        first = make_incident(opened_by=lead)
        second = make_incident(opened_by=lead)
        assert first.reference == f"IR-{year}-0001"
        assert second.reference == f"IR-{year}-0002"

    def test_opener_and_lead_become_members_and_activity_is_written(self, lead, responder):
        incident = make_incident(opened_by=responder, lead=lead)
        roles = dict(Membership.objects.filter(incident=incident).values_list("user__username", "role"))
        assert roles == {"ravi": "responder", "lena": "lead"}
        assert incident.status == Status.NEW
        assert incident.version == 1
        assert list(Activity.objects.filter(incident=incident).values_list("verb", flat=True)) == [
            "member_added",
            "member_added",
            "opened",
        ]

    def test_executive_cannot_open(self, executive):
        with pytest.raises(PermissionDenied):
            make_incident(opened_by=executive)
        assert Incident.objects.count() == 0

    @pytest.mark.parametrize(
        ("fields", "error_field"),
        [
            ({"title": ""}, "title"),
            ({"title": "x" * 201}, "title"),
            ({"severity": "apocalyptic"}, "severity"),
            ({"category": "aliens"}, "category"),
            ({"summary": "x" * 50_001}, "summary"),
        ],
    )
    def test_invalid_input_is_refused_and_nothing_is_stored(self, lead, fields, error_field):
        with pytest.raises(ValidationError) as exc:
            make_incident(opened_by=lead, **fields)
        assert error_field in exc.value.message_dict
        assert Incident.objects.count() == 0

    def test_detection_in_the_future_is_refused(self, lead):
        with pytest.raises(ValidationError) as exc:
            make_incident(opened_by=lead, detected_at=timezone.now() + timedelta(hours=1))
        assert "detected_at" in exc.value.message_dict


# NIST SP 800-61 as this product applies it, written out here and not read from TRANSITIONS: a
# wrong table in the code must fail this test.
ALLOWED_MOVES = {
    ("new", "triage"),
    ("new", "investigating"),
    ("new", "closed"),
    ("triage", "investigating"),
    ("triage", "closed"),
    ("investigating", "contained"),
    ("investigating", "closed"),
    ("contained", "eradicated"),
    ("contained", "investigating"),
    ("eradicated", "recovered"),
    ("eradicated", "investigating"),
    ("recovered", "closed"),
    ("recovered", "investigating"),
    ("closed", "investigating"),
}
STATUSES = ["new", "triage", "investigating", "contained", "eradicated", "recovered", "closed"]
ALL_MOVES = [(old, new) for old in STATUSES for new in STATUSES if old != new]


class TestTransitions:
    @pytest.mark.parametrize(("old", "new"), ALL_MOVES)
    def test_every_move_is_allowed_or_refused_as_the_flow_says(self, lead, old, new):
        # Each move through its own service (_move): closing and reopening are moves of the same
        # flow, with more to say than a status.
        incident = _at_status(make_incident(opened_by=lead), old, lead)
        version = incident.version
        entries_before = Activity.objects.filter(incident=incident, verb__in=MOVE_VERBS).count()
        if (old, new) in ALLOWED_MOVES:
            moved = _move(incident, old, new, lead)
            assert moved.status == new
            assert moved.version == version + 1
            entry = Activity.objects.filter(incident=incident, verb__in=MOVE_VERBS).first()
            assert (entry.verb, entry.data) == _move_entry(old, new)
            assert Activity.objects.filter(incident=incident, verb__in=MOVE_VERBS).count() == entries_before + 1
        else:
            with pytest.raises(ValidationError) as exc:
                _move(incident, old, new, lead)
            if new == "closed":  # closing names no target field: the incident cannot close now
                assert exc.value.messages == [
                    f"{incident.reference} cannot be closed while {old}; it can be from: "
                    "new, triage, investigating, recovered."
                ]
            else:
                assert "to" in exc.value.message_dict
            incident.refresh_from_db()
            assert (incident.status, incident.version) == (old, version)
            assert Activity.objects.filter(incident=incident, verb__in=MOVE_VERBS).count() == entries_before

    def test_the_table_in_the_code_has_exactly_these_moves(self):
        assert {(old, new) for old, targets in TRANSITIONS.items() for new in targets} == ALLOWED_MOVES

    def test_milestones_are_stamped_along_the_flow(self, lead):
        incident = make_incident(opened_by=lead)
        assert incident.acknowledged_at is None
        incident = services.incident_transition(incident=incident, to=Status.TRIAGE, actor=lead)
        acknowledged = incident.acknowledged_at
        assert acknowledged is not None
        incident = services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
        assert incident.acknowledged_at == acknowledged  # stamped once
        incident = services.incident_transition(incident=incident, to=Status.CONTAINED, actor=lead)
        assert incident.contained_at is not None
        incident = services.incident_transition(incident=incident, to=Status.ERADICATED, actor=lead)
        incident = services.incident_transition(incident=incident, to=Status.RECOVERED, actor=lead)
        assert incident.resolved_at is not None
        incident = services.incident_close(
            incident=incident, actor=lead, resolution="true_positive", closing_summary="Phishing kit taken down."
        )
        assert incident.closed_at is not None
        assert incident.version == 7

    def test_reopening_clears_closed_resolved_and_containment(self, lead):
        incident = _at_status(make_incident(opened_by=lead), "recovered", lead)
        incident = services.incident_close(incident=incident, actor=lead, resolution="benign")
        assert None not in (incident.closed_at, incident.resolved_at, incident.contained_at)
        incident = services.incident_reopen(incident=incident, actor=lead, reason="It came back")
        assert (incident.closed_at, incident.resolved_at, incident.contained_at) == (None, None, None)
        assert incident.acknowledged_at is not None  # the first acknowledgement stays

    def test_failed_containment_clears_contained_at_and_a_new_one_restamps_it(self, lead):
        incident = _at_status(make_incident(opened_by=lead), "contained", lead)
        first = incident.contained_at
        assert first is not None
        incident = services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
        assert incident.contained_at is None
        incident = services.incident_transition(incident=incident, to=Status.CONTAINED, actor=lead)
        assert incident.contained_at is not None and incident.contained_at > first

    def test_falling_back_from_recovered_clears_resolved_at(self, lead):
        incident = _at_status(make_incident(opened_by=lead), "recovered", lead)
        assert incident.resolved_at is not None
        incident = services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
        assert (incident.resolved_at, incident.contained_at) == (None, None)

    def test_closing_early_resolves_without_containment(self, lead):
        incident = services.incident_close(incident=make_incident(opened_by=lead), actor=lead, resolution="benign")
        assert incident.closed_at is not None and incident.resolved_at == incident.closed_at
        assert incident.contained_at is None

    def test_unknown_status_is_a_validation_error(self, lead):
        incident = make_incident(opened_by=lead)
        with pytest.raises(ValidationError):
            services.incident_transition(incident=incident, to="pwned", actor=lead)

    def test_stale_version_is_a_conflict(self, lead):
        incident = make_incident(opened_by=lead)
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Renamed"})
        with pytest.raises(services.ConflictError):
            services.incident_transition(incident=incident, to=Status.TRIAGE, actor=lead, version=1)
        incident.refresh_from_db()
        assert incident.status == Status.NEW

    def test_executive_cannot_move_an_incident(self, lead, executive, incident):
        with pytest.raises(PermissionDenied):
            services.incident_transition(incident=incident, to=Status.TRIAGE, actor=executive)


class TestUpdate:
    def test_update_bumps_version_and_records_changed_fields(self, lead, incident):
        updated = services.incident_update(
            incident=incident, actor=lead, version=1, changes={"title": "New title", "severity": "medium"}
        )
        assert updated.title == "New title"
        assert updated.version == 2
        entry = Activity.objects.get(incident=incident, verb="updated")
        # severity was already medium: not a change
        assert entry.data == {"changes": {"title": {"old": "Phishing wave against finance", "new": "New title"}}}
        assert entry.text == "changed title from Phishing wave against finance to New title"

    def test_severity_raised_is_recorded_old_to_new(self, lead, responder, incident):
        services.member_add(incident=incident, user=responder, actor=lead)
        services.incident_update(incident=incident, actor=responder, version=1, changes={"severity": "critical"})
        entry = Activity.objects.get(incident=incident, verb="updated")
        assert entry.actor == responder
        assert entry.data == {"changes": {"severity": {"old": "medium", "new": "critical"}}}
        assert entry.text == "changed severity from medium to critical"

    def test_stale_version_overwrites_nothing(self, lead, responder, incident):
        services.member_add(incident=incident, user=responder, actor=lead)
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Lead's title"})
        stale = Incident.objects.get(pk=incident.pk)
        stale.version = 1
        with pytest.raises(services.ConflictError) as exc:
            services.incident_update(incident=stale, actor=responder, version=1, changes={"title": "Mine"})
        assert exc.value.incident.version == 2
        incident.refresh_from_db()
        assert incident.title == "Lead's title"
        assert incident.version == 2
        assert Activity.objects.filter(incident=incident, verb="updated").count() == 1

    def test_update_without_changes_keeps_the_version_but_still_detects_staleness(self, lead, incident):
        same = services.incident_update(incident=incident, actor=lead, version=1, changes={"title": incident.title})
        assert same.version == 1
        assert not Activity.objects.filter(incident=incident, verb="updated").exists()
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Moved on"})
        with pytest.raises(services.ConflictError):
            services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Moved on"})

    def test_status_and_reference_cannot_be_edited(self, lead, incident):
        with pytest.raises(ValidationError) as exc:
            services.incident_update(
                incident=incident, actor=lead, version=1, changes={"status": "closed", "reference": "IR-1"}
            )
        assert set(exc.value.message_dict) == {"status", "reference"}

    def test_invalid_value_is_refused_without_bumping(self, lead, incident):
        with pytest.raises(ValidationError):
            services.incident_update(incident=incident, actor=lead, version=1, changes={"severity": "huge"})
        incident.refresh_from_db()
        assert (incident.severity, incident.version) == ("medium", 1)

    def test_new_lead_becomes_a_member_and_the_old_one_stays_as_responder(self, lead, incident):
        other = UserFactory(username="lars", role="lead")
        services.incident_update(incident=incident, actor=lead, version=1, changes={"lead": other})
        roles = dict(Membership.objects.filter(incident=incident).values_list("user__username", "role"))
        assert roles == {"lena": "responder", "lars": "lead"}
        entry = Activity.objects.get(incident=incident, verb="updated")
        assert entry.data == {"changes": {"lead": {"old": "lena", "new": "lars"}}}

    @pytest.mark.parametrize("role", ["responder", "executive", "vendor", "integration"])
    def test_only_the_incident_lead_role_or_admins_may_lead(self, lead, incident, role):
        candidate = UserFactory(username=f"would-be-{role}", role=role)
        with pytest.raises(ValidationError) as exc:
            services.incident_update(incident=incident, actor=lead, version=1, changes={"lead": candidate})
        assert exc.value.message_dict == {
            "lead": [f"would-be-{role} cannot lead incidents: only incident leads and admins can."]
        }
        incident.refresh_from_db()
        assert (incident.lead, incident.version) == (lead, 1)
        assert not Membership.objects.filter(incident=incident, user=candidate).exists()


class TestFindingsAndTasks:
    def test_finding_is_added_with_author(self, responder, incident):
        finding = services.finding_add(incident=incident, author=responder, body="  Beacon to 203.0.113.7  ")
        assert finding.body == "Beacon to 203.0.113.7"
        assert finding.author == responder
        assert Activity.objects.filter(incident=incident, verb="finding_added").count() == 1

    def test_empty_finding_is_refused(self, responder, incident):
        with pytest.raises(ValidationError) as exc:
            services.finding_add(incident=incident, author=responder, body="   ")
        assert "body" in exc.value.message_dict
        assert incident.findings.count() == 0

    def test_executive_cannot_add_findings(self, executive, incident):
        with pytest.raises(PermissionDenied):
            services.finding_add(incident=incident, author=executive, body="I think…")

    def test_invited_vendor_can_add_a_finding(self, vendor, restricted_incident):
        finding = services.finding_add(incident=restricted_incident, author=vendor, body="Our CI token leaked.")
        assert finding.pk is not None

    def test_task_assignee_must_see_a_restricted_incident(self, lead, outsider, responder, restricted_incident):
        with pytest.raises(ValidationError) as exc:
            services.task_add(incident=restricted_incident, actor=lead, title="Rotate keys", assignee=outsider)
        assert exc.value.message_dict == {
            "assignee": [f"otto cannot be given tasks on {restricted_incident.reference}."]
        }
        assert restricted_incident.tasks.count() == 0
        task = services.task_add(incident=restricted_incident, actor=lead, title="Rotate keys", assignee=responder)
        assert task.assignee == responder

    def test_completing_a_task_stamps_and_clears_done_at(self, lead, incident):
        task = services.task_add(incident=incident, actor=lead, title="Block sender domain")
        task = services.task_update(task=task, actor=lead, changes={"done": True})
        assert task.done and task.done_at is not None
        task = services.task_update(task=task, actor=lead, changes={"done": False})
        assert not task.done and task.done_at is None
        assert Activity.objects.filter(incident=incident, verb="task_done").count() == 2

    def test_task_update_changes_only_its_own_fields(self, lead, incident, restricted_incident):
        task = services.task_add(incident=incident, actor=lead, title="Block sender domain")
        for field, value in [
            ("incident", restricted_incident),
            ("created_by", None),
            ("done_at", timezone.now()),
            ("id", 999),
        ]:
            with pytest.raises(ValidationError) as exc:
                services.task_update(task=task, actor=lead, changes={field: value})
            assert exc.value.message_dict == {field: ["This field cannot be changed here."]}
        task.refresh_from_db()
        assert (task.incident_id, task.created_by, task.done_at, task.done) == (incident.pk, lead, None, False)

    def test_task_changes_are_recorded_old_to_new(self, lead, responder, incident):
        task = services.task_add(incident=incident, actor=lead, title="Block sender domain")
        services.task_update(task=task, actor=lead, changes={"title": " Block the sender ", "assignee": responder})
        task.refresh_from_db()
        assert (task.title, task.assignee) == ("Block the sender", responder)
        entry = Activity.objects.get(incident=incident, verb="task_updated")
        assert entry.data == {
            "task_id": task.pk,
            "title": "Block the sender",
            "changes": {
                "assignee": {"old": None, "new": "ravi"},
                "title": {"old": "Block sender domain", "new": "Block the sender"},
            },
        }


@pytest.mark.django_db(transaction=True)
def test_references_stay_unique_under_concurrent_opening(postgres):
    """Eight threads open incidents at once on PostgreSQL: every reference is unique and the
    numbers run without gaps, because the year's counter row is locked until commit."""
    opener = UserFactory(username="concurrent", role="lead")
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                make_incident(opened_by=opener)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    references = list(Incident.objects.values_list("reference", flat=True))
    assert len(references) == len(set(references)) == threads * per_thread
    numbers = sorted(int(re.fullmatch(r"IR-\d{4}-(\d{4})", ref).group(1)) for ref in references)
    assert numbers == list(range(1, threads * per_thread + 1))


def test_opener_who_leads_is_added_once_as_lead(lead):
    incident = make_incident(opened_by=lead, lead=lead)
    assert list(Membership.objects.filter(incident=incident).values_list("role", flat=True)) == ["lead"]
    entry = Activity.objects.get(incident=incident, verb="member_added")
    assert entry.text == f"added {lead} as lead"


def test_promoting_a_member_to_lead_is_recorded(lead, incident):
    other = UserFactory(username="lars", first_name="Lars", last_name="Lund", role="lead")
    services.member_add(incident=incident, user=other, actor=lead)
    services.incident_update(incident=incident, actor=lead, version=1, changes={"lead": other})
    assert Membership.objects.get(incident=incident, user=other).role == "lead"
    entries = [e.text for e in Activity.objects.filter(incident=incident, verb="member_role_changed")]
    assert sorted(entries) == sorted(["made Lars Lund lead (was responder)", f"made {lead} responder (was lead)"])


def test_opening_makes_an_integration_a_member_so_it_can_read_what_it_opened(lead):
    from accounts.services import api_key_create
    from incidents.selectors import incidents_visible_to

    key, _ = api_key_create(name="soar", scopes=["incidents:write"])
    incident = make_incident(opened_by=key.user, restricted=True, lead=lead)
    roles = dict(Membership.objects.filter(incident=incident).values_list("user__username", "role"))
    assert roles == {"api:soar": "responder", "lena": "lead"}
    assert list(incidents_visible_to(key.user).values_list("reference", flat=True)) == [incident.reference]


@pytest.mark.parametrize(
    ("status", "milestones"),
    [
        ("new", {"closed_at": "now"}),  # closed_at only while closed
        ("closed", {"closed_at": None}),
        ("investigating", {"contained_at": "now"}),  # containment failed: no longer contained
        ("contained", {"contained_at": None}),
        ("eradicated", {"contained_at": None}),
        ("recovered", {"resolved_at": None}),
        ("closed", {"resolved_at": None}),
        ("contained", {"resolved_at": "now"}),  # not resolved before recovery
    ],
)
def test_the_database_refuses_milestones_that_contradict_the_status(lead, status, milestones):
    from django.db import IntegrityError, transaction

    incident = _at_status(make_incident(opened_by=lead), status, lead)
    values = {field: timezone.now() if value == "now" else None for field, value in milestones.items()}
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(**values)


@pytest.mark.parametrize(("field", "value"), [("severity", "huge"), ("status", "pwned"), ("category", "aliens")])
def test_the_database_refuses_values_outside_the_choices(lead, field, value):
    # CHECK constraints back the choices for writes that bypass model validation.
    from django.db import IntegrityError, transaction

    incident = make_incident(opened_by=lead)
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(**{field: value})


@pytest.mark.django_db(transaction=True)
def test_an_edit_racing_the_removal_of_its_author_is_refused(postgres):
    """Lena takes Ravi off a restricted case while Ravi's edit is on its way. The removal holds
    the incident's row until it commits; the edit reads the rule table only once it has the row,
    so it sees that Ravi is gone and writes nothing (it used to check first, then wait, then write)."""
    from django.db import transaction

    lena = UserFactory(username="lena-race", role="lead")
    ravi = UserFactory(username="ravi-race", role="responder")
    incident = make_incident(opened_by=lena, lead=lena, restricted=True, title="Board mailbox")
    services.member_add(incident=incident, user=ravi, actor=lena)
    removal_holds_the_row = threading.Event()
    outcome: list[object] = []

    def remove() -> None:
        try:
            with transaction.atomic():
                services.member_remove(incident=incident, user=ravi, actor=lena)
                removal_holds_the_row.set()
                time.sleep(0.5)  # Ravi's edit arrives now
        finally:
            connection.close()

    def edit() -> None:
        removal_holds_the_row.wait(timeout=10)
        try:
            services.incident_update(incident=incident, actor=ravi, version=1, changes={"title": "Ravi's title"})
            outcome.append("written")
        except PermissionDenied as refused:
            outcome.append(str(refused))
        finally:
            connection.close()

    workers = [threading.Thread(target=remove), threading.Thread(target=edit)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert outcome == ["Only members working this incident (its lead and responders) may change it."]
    assert Incident.objects.get(pk=incident.pk).title == "Board mailbox"


def test_incidents_restricted_from_their_opening_have_their_own_series(lead):
    """An outsider paging through IR- references sees no gap where a restricted incident sits
    (docs/architecture.md, "References"): those opened restricted are numbered IRR-."""
    year = timezone.now().year
    first = make_incident(opened_by=lead, lead=lead)
    secret = make_incident(opened_by=lead, lead=lead, restricted=True)
    second = make_incident(opened_by=lead, lead=lead)
    later_secret = make_incident(opened_by=lead, lead=lead, restricted=True)

    assert [first.reference, second.reference] == [f"IR-{year}-0001", f"IR-{year}-0002"]
    assert [secret.reference, later_secret.reference] == [f"IRR-{year}-0001", f"IRR-{year}-0002"]
    # Restricting an incident later keeps its reference: people already know it.
    services.incident_update(incident=second, actor=lead, version=second.version, changes={"restricted": True})
    second.refresh_from_db()
    assert (second.reference, second.restricted) == (f"IR-{year}-0002", True)
