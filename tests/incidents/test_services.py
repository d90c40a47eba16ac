"""incidents.services: opening, the NIST status flow, optimistic locking, findings and tasks."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from incidents import services
from incidents.models import TRANSITIONS, Activity, Incident, Membership, Status
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db


def _at_status(incident: Incident, status: str) -> Incident:
    """Put an incident in ``status`` directly (test set-up only; the app uses the service)."""
    Incident.objects.filter(pk=incident.pk).update(status=status)
    incident.refresh_from_db()
    return incident


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


ALL_MOVES = [(old, new) for old in Status.values for new in Status.values if old != new]


class TestTransitions:
    @pytest.mark.parametrize(("old", "new"), ALL_MOVES)
    def test_every_move_is_allowed_or_refused_as_the_flow_says(self, lead, old, new):
        incident = _at_status(make_incident(opened_by=lead), old)
        if new in TRANSITIONS[old]:
            moved = services.incident_transition(incident=incident, to=new, actor=lead)
            assert moved.status == new
            assert moved.version == incident.version + 1
            entry = Activity.objects.filter(incident=incident, verb="status_changed").get()
            assert entry.data == {"old": old, "new": new}
        else:
            with pytest.raises(ValidationError) as exc:
                services.incident_transition(incident=incident, to=new, actor=lead)
            assert "to" in exc.value.message_dict
            incident.refresh_from_db()
            assert incident.status == old
            assert not Activity.objects.filter(incident=incident, verb="status_changed").exists()

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
        incident = services.incident_transition(incident=incident, to=Status.CLOSED, actor=lead)
        assert incident.closed_at is not None
        assert incident.version == 7

    def test_reopening_clears_closed_and_resolved(self, lead):
        incident = make_incident(opened_by=lead)
        incident = services.incident_transition(incident=incident, to=Status.CLOSED, actor=lead)
        assert incident.closed_at is not None and incident.resolved_at is not None
        incident = services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
        assert incident.closed_at is None and incident.resolved_at is None
        assert incident.acknowledged_at is not None

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
        assert entry.data == {"fields": ["title"]}  # severity was already medium

    def test_stale_version_overwrites_nothing(self, lead, responder, incident):
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Lead's title"})
        stale = Incident.objects.get(pk=incident.pk)
        stale.version = 1
        with pytest.raises(services.ConflictError) as exc:
            services.incident_update(incident=stale, actor=responder, version=1, changes={"title": "Mine"})
        assert exc.value.incident.version == 2
        incident.refresh_from_db()
        assert incident.title == "Lead's title"
        assert incident.version == 2

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

    def test_new_lead_becomes_a_member(self, lead, responder, incident):
        services.incident_update(incident=incident, actor=lead, version=1, changes={"lead": responder})
        assert Membership.objects.get(incident=incident, user=responder).role == "lead"


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
        assert "assignee" in exc.value.message_dict
        task = services.task_add(incident=restricted_incident, actor=lead, title="Rotate keys", assignee=responder)
        assert task.assignee == responder

    def test_completing_a_task_stamps_and_clears_done_at(self, lead, incident):
        task = services.task_add(incident=incident, actor=lead, title="Block sender domain")
        task = services.task_update(task=task, actor=lead, changes={"done": True})
        assert task.done and task.done_at is not None
        task = services.task_update(task=task, actor=lead, changes={"done": False})
        assert not task.done and task.done_at is None
        assert Activity.objects.filter(incident=incident, verb="task_done").count() == 2


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


def test_promoting_a_member_to_lead_is_recorded(lead, responder, incident):
    services.member_add(incident=incident, user=responder, actor=lead)
    services.incident_update(incident=incident, actor=lead, version=1, changes={"lead": responder})
    assert Membership.objects.get(incident=incident, user=responder).role == "lead"
    entry = Activity.objects.get(incident=incident, verb="member_role_changed")
    assert entry.text == f"made {responder} lead (was responder)"


@pytest.mark.parametrize(("field", "value"), [("severity", "huge"), ("status", "pwned"), ("category", "aliens")])
def test_the_database_refuses_values_outside_the_choices(lead, field, value):
    # CHECK constraints back the choices for writes that bypass model validation.
    from django.db import IntegrityError, transaction

    incident = make_incident(opened_by=lead)
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(**{field: value})
