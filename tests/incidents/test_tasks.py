"""Working tasks day to day: status (to do, in progress, done, cancelled with a reason), the
task's log of notes, due dates (never set in the past, overdue flagged, the year shown when it is
not this year) and "my open tasks" — through the services, the browser (htmx) and the API.

Personas from ``tests/conftest.py``: lena leads the ``incident`` (unrestricted) and the
``restricted_incident``; ravi (responder) and victor (vendor collaborator, a contributor) are
members of the restricted one; otto is on no incident (a writer on unrestricted ones); erin is an
executive (reads).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from incidents import selectors, services
from incidents.models import Activity, Task, TaskNote
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

# Every test here runs on a pinned clock (``_pinned_clock``): today is Wednesday 10 June 2026.
# Reading the real date instead made these tests fail when a run crossed midnight (the module
# read it once, the code under test again later) and near new year (a date "3 days ago" or
# "next week" changes year, and is then shown with it).
TODAY = date(2026, 6, 10)
YESTERDAY = date(2026, 6, 9)
NEXT_WEEK = date(2026, 6, 17)
PAST_DUE = "The due date cannot be in the past (today is 2026-06-10)."
SAY_WHY = "Say why the task is cancelled."


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """``django.utils.timezone.now`` (which ``timezone.localdate`` reads too) starts at noon on
    ``TODAY`` in ``TIME_ZONE``, twelve hours from either midnight, and ticks on from there, so
    what is written later still sorts later. Autouse fixtures run first: the personas' incidents
    are opened on this clock as well. Model field defaults (``default=timezone.now``) keep the
    real clock; nothing here compares them with today."""
    start, ticking = timezone.make_aware(datetime(2026, 6, 10, 12, 0)), time.monotonic()
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(seconds=time.monotonic() - ticking))


def _task(incident, actor, title="Block sender domain", **fields) -> Task:
    return services.task_add(incident=incident, actor=actor, title=title, **fields)


def _entries(task: Task, *verbs: str) -> list[tuple[str, str, dict]]:
    """The activity entries about ``task`` (oldest first) as (verb, actor, data)."""
    rows = Activity.objects.filter(incident=task.incident, data__task_id=task.pk).order_by("id")
    if verbs:
        rows = rows.filter(verb__in=verbs)
    return list(rows.values_list("verb", "actor__username", "data"))


def _row(task: Task) -> tuple:
    task.refresh_from_db()
    return (task.status, task.done, task.done_at is not None, task.cancel_reason)


def _past_due(task: Task, days: int = 3) -> Task:
    """Give an existing task a due date ``days`` before ``TODAY`` (the services refuse to set
    one in the past)."""
    Task.objects.filter(pk=task.pk).update(due_on=TODAY - timedelta(days=days))
    task.refresh_from_db()
    return task


# --- Status through the service -------------------------------------------------------------
class TestStatus:
    def test_a_task_moves_through_every_status_and_each_move_is_recorded(self, lead, incident):
        task = _task(incident, lead)
        assert _row(task) == ("todo", False, False, "")

        services.task_update(task=task, actor=lead, changes={"status": "in_progress"})
        assert _row(task) == ("in_progress", False, False, "")
        services.task_update(task=task, actor=lead, changes={"status": "done"})
        assert _row(task) == ("done", True, True, "")
        services.task_update(task=task, actor=lead, changes={"status": "cancelled", "cancel_reason": " Not needed "})
        assert _row(task) == ("cancelled", False, False, "Not needed")
        services.task_update(task=task, actor=lead, changes={"status": "todo"})
        assert _row(task) == ("todo", False, False, "")

        title = "Block sender domain"
        assert _entries(task, "task_status_changed", "task_done") == [
            (
                "task_status_changed",
                "lena",
                {"task_id": task.pk, "title": title, "old": "todo", "new": "in_progress", "reason": ""},
            ),
            ("task_done", "lena", {"task_id": task.pk, "title": title, "done": True}),
            (
                "task_status_changed",
                "lena",
                {"task_id": task.pk, "title": title, "old": "done", "new": "cancelled", "reason": "Not needed"},
            ),
            (
                "task_status_changed",
                "lena",
                {"task_id": task.pk, "title": title, "old": "cancelled", "new": "todo", "reason": ""},
            ),
        ]
        texts = [e.text for e in Activity.objects.filter(data__task_id=task.pk).exclude(verb="task_added")]
        assert texts == [
            "moved the task “Block sender domain” from cancelled to to do",
            "moved the task “Block sender domain” from done to cancelled: Not needed",
            "completed the task “Block sender domain”",
            "moved the task “Block sender domain” from to do to in progress",
        ]

    def test_unticking_a_done_task_is_the_tick_back_to_to_do(self, lead, incident):
        task = _task(incident, lead)
        services.task_update(task=task, actor=lead, changes={"done": True})
        services.task_update(task=task, actor=lead, changes={"done": False})
        assert _row(task) == ("todo", False, False, "")
        assert [data["done"] for _, _, data in _entries(task, "task_done", "task_status_changed")] == [True, False]

    @pytest.mark.parametrize(
        ("start", "changes", "errors"),
        [
            ("todo", {"status": "cancelled"}, {"cancel_reason": [SAY_WHY]}),
            ("todo", {"status": "cancelled", "cancel_reason": "  "}, {"cancel_reason": [SAY_WHY]}),
            (
                "todo",
                {"cancel_reason": "Not needed"},
                {"cancel_reason": ["Only a cancelled task has a reason: send it with status cancelled."]},
            ),
            (
                "todo",
                {"status": "done", "cancel_reason": "Not needed"},
                {"cancel_reason": ["Only a cancelled task has a reason: send it with status cancelled."]},
            ),
            (
                "todo",
                {"status": "in_progress", "done": True},
                {"done": ["done and status disagree: a task is done exactly when its status is done."]},
            ),
            ("todo", {"status": "blocked"}, {"status": ["Value 'blocked' is not a valid choice."]}),
            ("in_progress", {"status": "cancelled", "cancel_reason": "x" * 501}, {
                "cancel_reason": ["Ensure this value has at most 500 characters (it has 501)."]
            }),
        ],
    )  # fmt: skip
    def test_bad_status_changes_are_refused_and_change_nothing(self, lead, incident, start, changes, errors):
        task = _task(incident, lead)
        services.task_update(task=task, actor=lead, changes={"status": start})
        before = (_row(task), _entries(task))

        with pytest.raises(ValidationError) as refused:
            services.task_update(task=Task.objects.get(pk=task.pk), actor=lead, changes=changes)

        assert refused.value.message_dict == errors
        assert (_row(task), _entries(task)) == before

    def test_changing_a_cancelled_tasks_reason_is_recorded(self, lead, incident):
        task = _task(incident, lead)
        services.task_update(task=task, actor=lead, changes={"status": "cancelled", "cancel_reason": "Duplicate"})
        services.task_update(task=task, actor=lead, changes={"cancel_reason": "Covered by the EDR task"})
        assert _row(task) == ("cancelled", False, False, "Covered by the EDR task")
        assert _entries(task, "task_updated") == [
            (
                "task_updated",
                "lena",
                {
                    "task_id": task.pk,
                    "title": "Block sender domain",
                    "changes": {"cancel_reason": {"old": "Duplicate", "new": "Covered by the EDR task"}},
                },
            )
        ]

    def test_an_assignee_moves_their_own_task_along_but_cannot_cancel_it(self, lead, vendor, restricted_incident):
        # victor (vendor, contributor) may update only his own tasks (UPDATE_OWN_TASK).
        task = _task(restricted_incident, lead, "Rotate CI token", assignee=vendor, internal=False)
        services.task_update(task=task, actor=vendor, changes={"status": "in_progress"})
        assert _row(task) == ("in_progress", False, False, "")

        with pytest.raises(PermissionDenied) as refused:
            services.task_update(
                task=task, actor=vendor, changes={"status": "cancelled", "cancel_reason": "Done by IT"}
            )
        assert str(refused.value) == "You may only tick tasks assigned to you."
        assert _row(task) == ("in_progress", False, False, "")

        services.task_update(task=task, actor=vendor, changes={"status": "done"})
        assert _row(task) == ("done", True, True, "")

    def test_a_cancelled_task_is_the_decision_of_those_who_may_update_any_task(self, lead, vendor, restricted_incident):
        task = _task(restricted_incident, lead, "Rotate CI token", assignee=vendor, internal=False)
        services.task_update(task=task, actor=lead, changes={"status": "cancelled", "cancel_reason": "Token revoked"})
        for changes in ({"status": "todo"}, {"done": True}, {"cancel_reason": "Revoked by us"}):
            with pytest.raises(PermissionDenied) as refused:
                services.task_update(task=Task.objects.get(pk=task.pk), actor=vendor, changes=changes)
            assert str(refused.value) == "You may only tick tasks assigned to you."
        assert _row(task) == ("cancelled", False, False, "Token revoked")

    def test_someone_elses_task_status_needs_update_any_task(self, lead, responder, vendor, restricted_incident):
        task = _task(restricted_incident, lead, "Review SSO logs", assignee=responder, internal=False)
        with pytest.raises(PermissionDenied) as refused:
            services.task_update(task=task, actor=vendor, changes={"status": "in_progress"})
        assert str(refused.value) == "You may only tick tasks assigned to you."
        services.task_update(task=task, actor=responder, changes={"status": "in_progress"})  # a responder member
        assert _row(task) == ("in_progress", False, False, "")


# --- Due dates ------------------------------------------------------------------------------
class TestDueDates:
    def test_a_new_task_due_in_the_past_is_refused(self, lead, incident):
        with pytest.raises(ValidationError) as refused:
            _task(incident, lead, due_on=YESTERDAY)
        assert refused.value.message_dict == {"due_on": [PAST_DUE]}
        assert not Task.objects.exists()
        assert not Activity.objects.filter(verb="task_added").exists()

    def test_due_today_or_later_is_accepted(self, lead, incident):
        assert _task(incident, lead, "Today", due_on=TODAY).due_on == TODAY
        assert _task(incident, lead, "Next week", due_on=NEXT_WEEK).due_on == NEXT_WEEK

    def test_moving_a_due_date_into_the_past_is_refused_but_an_old_one_may_stay(self, lead, incident):
        task = _task(incident, lead, due_on=NEXT_WEEK)
        with pytest.raises(ValidationError) as refused:
            services.task_update(task=task, actor=lead, changes={"due_on": YESTERDAY})
        assert refused.value.message_dict == {"due_on": [PAST_DUE]}
        task.refresh_from_db()
        assert task.due_on == NEXT_WEEK
        # A task already overdue keeps its date when something else changes.
        task = _past_due(task)
        services.task_update(task=task, actor=lead, changes={"title": "Block the sender", "due_on": task.due_on})
        task.refresh_from_db()
        assert (task.title, task.due_on) == ("Block the sender", date(2026, 6, 7))

    @pytest.mark.parametrize(
        ("status", "due", "overdue"),
        [
            ("todo", -1, True),
            ("in_progress", -10, True),
            ("todo", 0, False),  # due today is not late yet
            ("todo", None, False),
            ("done", -1, False),
            ("cancelled", -1, False),
        ],
    )
    def test_overdue_means_a_past_due_date_on_an_open_task(self, lead, incident, status, due, overdue):
        task = _task(incident, lead)
        changes = {"status": status, **({"cancel_reason": "Not needed"} if status == "cancelled" else {})}
        services.task_update(task=task, actor=lead, changes=changes)
        Task.objects.filter(pk=task.pk).update(due_on=None if due is None else TODAY + timedelta(days=due))
        task.refresh_from_db()
        assert task.is_overdue() is overdue

    def test_due_dates_show_the_year_only_when_it_is_not_this_year(self):
        render = Template("{% load incidents %}{{ day|due_date }}").render
        assert render(Context({"day": date(2026, 3, 1)})) == "1 Mar"
        assert render(Context({"day": date(2026, 12, 31)})) == "31 Dec"
        assert render(Context({"day": date(2027, 1, 14)})) == "14 Jan 2027"
        assert render(Context({"day": date(2025, 12, 31)})) == "31 Dec 2025"
        assert render(Context({"day": None})) == ""


# --- Notes ----------------------------------------------------------------------------------
class TestNotes:
    def test_a_note_is_added_to_the_tasks_log_and_recorded(self, lead, responder, restricted_incident):
        task = _task(restricted_incident, lead, "Rotate CI token")
        assert task.internal is True  # the default on a restricted incident
        note = services.task_note_add(task=task, author=responder, body="  Token owner is on leave.\n")

        assert list(task.notes.values_list("author__username", "body")) == [("ravi", "Token owner is on leave.")]
        entry = Activity.objects.get(verb="task_note_added")
        assert (entry.actor, entry.internal) == (responder, True)  # as internal as its task
        assert entry.data == {"task_id": task.pk, "title": "Rotate CI token", "note_id": note.pk}
        assert entry.text == "added a note to the task “Rotate CI token”"

    @pytest.mark.parametrize(
        ("body", "errors"),
        [
            ("", {"body": ["This field cannot be blank."]}),
            ("  \n ", {"body": ["This field cannot be blank."]}),
            ("x" * 5_001, {"body": ["Ensure this value has at most 5000 characters (it has 5001)."]}),
        ],
    )
    def test_an_empty_or_overlong_note_is_refused(self, lead, incident, body, errors):
        task = _task(incident, lead)
        with pytest.raises(ValidationError) as refused:
            services.task_note_add(task=task, author=lead, body=body)
        assert refused.value.message_dict == errors
        assert not TaskNote.objects.exists()
        assert not Activity.objects.filter(verb="task_note_added").exists()

    def test_who_may_note_is_who_may_contribute(self, lead, responder, vendor, outsider, executive, incident):
        # Decision: a note adds to the case like a finding (Action.CONTRIBUTE), on any task one
        # can see, not only one's own: writers (otto) and contributing vendors may; observers and
        # readers may not.
        observer = UserFactory(username="olga", role="responder")
        services.member_add(incident=incident, user=observer, actor=lead, role="observer")
        services.member_add(incident=incident, user=vendor, actor=lead)
        task = _task(incident, lead, assignee=lead)
        for author in (lead, outsider, vendor):
            services.task_note_add(task=task, author=author, body=f"Note by {author.username}")
        for author in (observer, executive):
            with pytest.raises(PermissionDenied) as refused:
                services.task_note_add(task=task, author=author, body="Me too")
            assert str(refused.value) == "You may not add to this incident."
        assert list(task.notes.values_list("author__username", flat=True)) == ["lena", "otto", "victor"]

    def test_a_vendor_cannot_note_on_an_internal_task(self, lead, vendor, restricted_incident):
        task = _task(restricted_incident, lead, "Assess exposure")
        with pytest.raises(PermissionDenied):
            services.task_note_add(task=task, author=vendor, body="Let me see")
        assert not TaskNote.objects.exists()


# --- My open tasks --------------------------------------------------------------------------
def test_my_open_tasks_are_to_do_and_in_progress_only(lead, incident):
    todo = _task(incident, lead, "To do", assignee=lead, due_on=NEXT_WEEK)
    started = _task(incident, lead, "Started", assignee=lead, due_on=TODAY)
    done = _task(incident, lead, "Done", assignee=lead)
    cancelled = _task(incident, lead, "Cancelled", assignee=lead)
    _task(incident, lead, "Someone else's")
    services.task_update(task=started, actor=lead, changes={"status": "in_progress"})
    services.task_update(task=done, actor=lead, changes={"status": "done"})
    services.task_update(task=cancelled, actor=lead, changes={"status": "cancelled", "cancel_reason": "Moot"})

    assert [t.title for t in selectors.my_open_tasks(viewer=lead)] == ["Started", "To do"]
    assert todo.pk in {t.pk for t in selectors.my_open_tasks(viewer=lead)}


# --- Browser --------------------------------------------------------------------------------
def _url(name: str, task: Task) -> str:
    return reverse(f"incidents:{name}", args=[task.incident.reference, task.pk])


class TestBrowser:
    def test_the_status_control_changes_the_status_in_place(self, login, lead, incident):
        task = _task(incident, lead)
        response = login(lead).post(_url("task-status", task), {"status": "in_progress"}, HTTP_HX_REQUEST="true")

        assert response.status_code == 200
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="tasks-panel">')
        assert '<option value="in_progress" selected>In progress</option>' in body
        assert '· <span class="task-state">in progress</span>' in body
        assert _row(task) == ("in_progress", False, False, "")

    def test_cancelling_without_a_reason_shows_the_error_beside_the_task(self, login, lead, incident):
        task = _task(incident, lead)
        response = login(lead).post(
            _url("task-status", task), {"status": "cancelled", "cancel_reason": ""}, HTTP_HX_REQUEST="true"
        )

        assert response.status_code == 200  # htmx swaps it in
        body = response.content.decode()
        assert '<p class="error" role="alert">Say why the task is cancelled.</p>' in body
        assert '<details class="task-notes">' in body  # notes stay closed: this was no note
        assert '<option value="cancelled" selected>Cancelled</option>' in body  # the attempt is kept
        assert _row(task) == ("todo", False, False, "")

    def test_cancelling_with_a_reason_and_without_htmx(self, login, lead, incident):
        task = _task(incident, lead)
        client = login(lead)
        response = client.post(_url("task-status", task), {"status": "cancelled", "cancel_reason": "Sender blocked"})
        assert (response.status_code, response["Location"]) == (302, incident.get_absolute_url())
        assert _row(task) == ("cancelled", False, False, "Sender blocked")
        page = client.get(incident.get_absolute_url()).content.decode()
        assert "Cancelled: Sender blocked" in page

        refused = client.post(_url("task-status", task), {"status": "paused"}, follow=True)
        assert "The status was not saved: Select a valid choice. paused is not one of the available choices." in (
            refused.content.decode()
        )

    def test_a_reason_typed_before_choosing_another_status_is_dropped(self, login, lead, incident):
        task = _task(incident, lead)
        login(lead).post(_url("task-status", task), {"status": "done", "cancel_reason": "typed by mistake"})
        assert _row(task) == ("done", True, True, "")

    def test_an_assignee_who_may_only_move_their_own_task_is_not_offered_cancel(
        self, login, lead, vendor, restricted_incident
    ):
        own = _task(restricted_incident, lead, "Rotate CI token", assignee=vendor, internal=False)
        other = _task(restricted_incident, lead, "Review SSO logs", assignee=lead, internal=False)
        client = login(vendor)
        page = client.get(restricted_incident.get_absolute_url()).content.decode()

        assert _url("task-status", own) in page
        assert _url("task-status", other) not in page
        own_form = page.split(f'action="{_url("task-status", own)}"')[1].split("</form>")[0]
        assert '<option value="in_progress">In progress</option>' in own_form
        assert 'value="cancelled"' not in own_form and 'name="cancel_reason"' not in own_form
        cancelled = client.post(_url("task-status", own), {"status": "cancelled", "cancel_reason": "Not mine"})
        assert cancelled.status_code == 403
        assert client.post(_url("task-status", other), {"status": "in_progress"}).status_code == 403
        assert _row(own) == ("todo", False, False, "")
        assert _row(other) == ("todo", False, False, "")

    def test_status_and_notes_are_404_where_the_task_cannot_be_seen(
        self, login, lead, outsider, vendor, restricted_incident
    ):
        internal = _task(restricted_incident, lead, "Assess exposure")  # internal: hidden from vendors
        for user in (outsider, vendor):
            client = login(user)
            assert client.post(_url("task-status", internal), {"status": "done"}).status_code == 404
            assert client.post(_url("task-note-add", internal), {"body": "peek"}).status_code == 404
        assert _row(internal) == ("todo", False, False, "")
        assert not TaskNote.objects.exists()

    def test_a_reader_may_neither_move_nor_note(self, login, lead, executive, incident):
        task = _task(incident, lead)
        client = login(executive)
        page = client.get(incident.get_absolute_url()).content.decode()
        assert _url("task-status", task) not in page and _url("task-note-add", task) not in page
        assert client.post(_url("task-status", task), {"status": "done"}).status_code == 403
        assert client.post(_url("task-note-add", task), {"body": "Noted"}).status_code == 403
        assert _row(task) == ("todo", False, False, "")
        assert not TaskNote.objects.exists()

    def test_a_note_is_added_in_place(self, login, lead, responder, incident):
        task = _task(incident, lead)
        response = login(responder).post(
            _url("task-note-add", task), {"body": "Mail gateway rule 12 added."}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert '<details class="task-notes" open>' in body
        assert '<summary>Notes <span class="count">1</span></summary>' in body
        assert "Mail gateway rule 12 added." in body
        assert list(task.notes.values_list("author__username", "body")) == [("ravi", "Mail gateway rule 12 added.")]

    def test_an_empty_note_is_refused_in_place(self, login, lead, incident):
        task = _task(incident, lead)
        response = login(lead).post(_url("task-note-add", task), {"body": "  "}, HTTP_HX_REQUEST="true")
        assert '<p class="error" role="alert">This field is required.</p>' in response.content.decode()
        assert not TaskNote.objects.exists()

    def test_a_past_due_date_is_a_form_error(self, login, lead, incident):
        url = reverse("incidents:task-add", args=[incident.reference])
        response = login(lead).post(
            url, {"title": "Rotate keys", "due_on": YESTERDAY.isoformat()}, HTTP_HX_REQUEST="true"
        )
        body = response.content.decode()
        assert f'<p class="error">{PAST_DUE}</p>' in body
        assert 'min="2026-06-10"' in body  # and the date picker offers no past day
        assert not Task.objects.exists()

    def test_overdue_tasks_are_flagged_and_due_dates_show_the_year_when_not_this_year(self, login, lead, incident):
        late = _past_due(_task(incident, lead, "Late"))
        finished = _past_due(_task(incident, lead, "Finished late"))
        services.task_update(task=finished, actor=lead, changes={"done": True})
        _task(incident, lead, "Next year", due_on=date(2027, 1, 14))

        page = login(lead).get(incident.get_absolute_url()).content.decode()
        late_row = page.split(f'id="task-{late.pk}"')[1].split("</li>")[0]
        finished_row = page.split(f'id="task-{finished.pk}"')[1].split("</li>")[0]
        assert '<span class="overdue">overdue, due' in late_row
        assert "overdue" not in finished_row
        assert '<time datetime="2026-06-07">7 Jun</time>' in late_row
        assert ">14 Jan 2027</time>" in page

    def test_the_panel_lists_open_tasks_first(self, login, lead, incident):
        for title in ("First, done", "Second, open", "Third, cancelled", "Fourth, open"):
            _task(incident, lead, title)
        first, _, third, _ = Task.objects.order_by("id")
        services.task_update(task=first, actor=lead, changes={"done": True})
        services.task_update(task=third, actor=lead, changes={"status": "cancelled", "cancel_reason": "Moot"})
        tasks = login(lead).get(incident.get_absolute_url()).context["incident"].tasks.all()
        assert [t.title for t in tasks] == ["Second, open", "Fourth, open", "First, done", "Third, cancelled"]

    def test_home_leaves_out_cancelled_and_done_tasks(self, login, lead, incident):
        for title in ("Open one", "Done one", "Cancelled one"):
            _task(incident, lead, title, assignee=lead)
        services.task_update(task=Task.objects.get(title="Done one"), actor=lead, changes={"done": True})
        cancelled = Task.objects.get(title="Cancelled one")
        services.task_update(task=cancelled, actor=lead, changes={"status": "cancelled", "cancel_reason": "Moot"})
        response = login(lead).get(reverse("incidents:home"))
        assert [t.title for t in response.context["tasks"]] == ["Open one"]

    def test_home_flags_overdue_tasks_and_shows_the_year_when_not_this_year(self, login, lead, incident):
        _past_due(_task(incident, lead, "Late one", assignee=lead), days=2)
        _task(incident, lead, "Next year's", assignee=lead, due_on=date(2027, 2, 1))
        page = login(lead).get(reverse("incidents:home")).content.decode()
        assert '<span class="overdue">overdue, due <time datetime="2026-06-08">8 Jun</time></span>' in page
        assert ">1 Feb 2027</time>" in page


# --- API ------------------------------------------------------------------------------------
RW = ("incidents:read", "incidents:write")
STARTS_AS_TO_DO = "A new task starts as to do; change this with PATCH once it exists."


def tasks_url(task_or_incident, *rest: str) -> str:
    if isinstance(task_or_incident, Task):
        base = f"/api/v1/incidents/{task_or_incident.incident.reference}/tasks/{task_or_incident.pk}/"
    else:
        base = f"/api/v1/incidents/{task_or_incident.reference}/tasks/"
    return base + "".join(f"{part}/" for part in rest)


@pytest.fixture
def lena_api(api, lead):
    return api(*RW, user=lead)


@pytest.fixture
def session():
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_login(user)
        return client

    return make


class TestTaskAPI:
    def test_patch_status_and_read_it_back(self, lena_api, lead, incident):
        task = _task(incident, lead)
        response = lena_api.patch(tasks_url(task), {"status": "in_progress"}, format="json")
        assert response.status_code == 200
        body = response.json()
        assert {k: body[k] for k in ("status", "cancel_reason", "done", "done_at", "overdue")} == {
            "status": "in_progress",
            "cancel_reason": "",
            "done": False,
            "done_at": None,
            "overdue": False,
        }
        cancelled = lena_api.patch(tasks_url(task), {"status": "cancelled", "cancel_reason": "Moot"}, format="json")
        assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == ("cancelled", "Moot")
        assert _row(task) == ("cancelled", False, False, "Moot")

    @pytest.mark.parametrize(
        ("payload", "errors"),
        [
            ({"status": "cancelled"}, {"cancel_reason": ["Say why the task is cancelled."]}),
            ({"status": "paused"}, {"status": ['"paused" is not a valid choice.']}),
            (
                {"cancel_reason": "Moot"},
                {"cancel_reason": ["Only a cancelled task has a reason: send it with status cancelled."]},
            ),
            (
                {"status": "todo", "done": True},
                {"done": ["done and status disagree: a task is done exactly when its status is done."]},
            ),
            ({"due_on": YESTERDAY.isoformat()}, {"due_on": [PAST_DUE]}),
        ],
    )
    def test_bad_patches_are_400_with_field_messages(self, lena_api, lead, incident, payload, errors):
        task = _task(incident, lead)
        response = lena_api.patch(tasks_url(task), payload, format="json")
        assert (response.status_code, response.json()) == (400, errors)
        assert _row(task) == ("todo", False, False, "")

    @pytest.mark.parametrize(
        ("payload", "errors"),
        [
            ({"title": "x", "due_on": YESTERDAY.isoformat()}, {"due_on": [PAST_DUE]}),
            ({"title": "x", "status": "done"}, {"status": [STARTS_AS_TO_DO]}),
            ({"title": "x", "done": True, "cancel_reason": "y"}, {
                "done": [STARTS_AS_TO_DO], "cancel_reason": [STARTS_AS_TO_DO],
            }),
            ({"title": "x", "overdue": True}, {"overdue": ["This field is read-only."]}),
        ],
    )  # fmt: skip
    def test_bad_creations_are_400_and_store_nothing(self, lena_api, incident, payload, errors):
        response = lena_api.post(tasks_url(incident), payload, format="json")
        assert (response.status_code, response.json()) == (400, errors)
        assert not Task.objects.exists()

    def test_overdue_is_shown(self, lena_api, lead, incident):
        task = _past_due(_task(incident, lead))
        assert lena_api.get(tasks_url(task)).json()["overdue"] is True

    def test_an_assignee_cannot_cancel_their_own_task(self, session, lead, vendor, restricted_incident):
        task = _task(restricted_incident, lead, "Rotate CI token", assignee=vendor, internal=False)
        client = session(vendor)
        refused = client.patch(tasks_url(task), {"status": "cancelled", "cancel_reason": "Mine"}, format="json")
        assert (refused.status_code, refused.json()) == (403, {"detail": "You may only tick tasks assigned to you."})
        moved = client.patch(tasks_url(task), {"status": "in_progress"}, format="json")
        assert (moved.status_code, moved.json()["status"]) == (200, "in_progress")


class TestNotesAPI:
    def test_add_and_list_notes(self, lena_api, api, lead, responder, restricted_incident):
        task = _task(restricted_incident, lead, "Rotate CI token")
        assert lena_api.get(tasks_url(task, "notes")).json() == {"next": None, "previous": None, "results": []}

        created = api(*RW, user=responder).post(tasks_url(task, "notes"), {"body": " Owner on leave. "}, format="json")
        lena_api.post(tasks_url(task, "notes"), {"body": "Asked the deputy."}, format="json")

        assert created.status_code == 201
        first = created.json()
        note = TaskNote.objects.get(pk=first["id"])
        assert first == {
            "id": note.pk,
            "author": "ravi",
            "body": "Owner on leave.",
            "created_at": first["created_at"],
        }
        assert timezone.datetime.fromisoformat(first["created_at"]) == note.created_at
        listed = lena_api.get(tasks_url(task, "notes")).json()["results"]
        assert [(n["author"], n["body"]) for n in listed] == [
            ("ravi", "Owner on leave."),
            ("lena", "Asked the deputy."),
        ]

    @pytest.mark.parametrize(
        ("payload", "errors"),
        [
            ({}, {"body": ["This field is required."]}),
            ({"body": ""}, {"body": ["This field may not be blank."]}),
            ({"body": "x" * 5_001}, {"body": ["Ensure this value has at most 5000 characters (it has 5001)."]}),
            ({"body": "ok", "author": "ada"}, {"author": ["This field is read-only."]}),
            ({"body": "ok", "colour": "red"}, {"colour": ["Unknown field."]}),
        ],
    )
    def test_bad_notes_are_400(self, lena_api, lead, incident, payload, errors):
        task = _task(incident, lead)
        response = lena_api.post(tasks_url(task, "notes"), payload, format="json")
        assert (response.status_code, response.json()) == (400, errors)
        assert not TaskNote.objects.exists()

    def test_readers_are_403_and_invisible_tasks_404(
        self, api, session, lead, executive, outsider, vendor, incident, restricted_incident
    ):
        task = _task(incident, lead)
        hidden = _task(restricted_incident, lead, "Assess exposure")  # internal
        other = _task(make_incident(opened_by=lead, title="Other case"), lead, "Elsewhere")

        assert session(executive).post(tasks_url(task, "notes"), {"body": "Hm"}, format="json").status_code == 403
        assert api("incidents:read", user=lead).post(tasks_url(task, "notes"), {"body": "Hm"}).status_code == 403
        assert session(outsider).get(tasks_url(hidden, "notes")).status_code == 404
        assert session(vendor).post(tasks_url(hidden, "notes"), {"body": "Hm"}, format="json").status_code == 404
        wrong_parent = f"/api/v1/incidents/{incident.reference}/tasks/{other.pk}/notes/"
        assert session(lead).get(wrong_parent).status_code == 404
        assert not TaskNote.objects.exists()

    def test_a_write_only_key_learns_only_the_notes_id(self, api, lead, incident):
        task = _task(incident, lead)
        response = api("incidents:write", user=lead).post(tasks_url(task, "notes"), {"body": "Done"}, format="json")
        assert (response.status_code, response.json()) == (201, {"id": TaskNote.objects.get().pk})

    @pytest.mark.parametrize("notes", [1, 20])
    def test_notes_list_query_count_is_fixed(
        self, session, lead, responder, incident, notes, django_assert_num_queries
    ):
        task = _task(incident, lead)
        for n in range(notes):
            services.task_note_add(task=task, author=lead if n % 2 else responder, body=f"Note {n}")
        client = session(lead)
        # Exactly 5, whatever the number of notes:
        # 1 session, 2 user (authentication),
        # 3 the visible incident by reference (its lead and opener joined),
        # 4 the task within it, among those lena may see (its assignee joined),
        # 5 one page of notes (one row more than the page, to know if there is a next) with their
        #   authors joined. No COUNT(*), nothing per note.
        with django_assert_num_queries(5):
            response = client.get(tasks_url(task, "notes"))
        assert len(response.json()["results"]) == notes
