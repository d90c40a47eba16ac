"""Closing and reopening a case: a resolution (true positive, false positive, duplicate of another
incident, benign, out of scope) and a closing summary; a decision about tasks still open; a
reason to reopen. Through the services, the browser and the API; and the status buttons, whose
primary one is the forward move of the NIST flow.

Personas from ``tests/conftest.py``: lena leads ``incident`` (unrestricted, "Phishing wave
against finance") and ``restricted_incident``; ravi (responder) and victor (vendor collaborator)
are members of the restricted one; otto is on no incident; erin is an executive; ada an admin.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Activity, Incident, Status, Task
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

RW = ("incidents:read", "incidents:write")
NOT_WORKING_IT = "Only members working this incident (its lead and responders) may change its status."
CHOOSE_RESOLUTION = "Choose one of: true_positive, false_positive, duplicate, benign, out_of_scope."
TRUE_POSITIVE_NEEDS_SUMMARY = "A true positive needs a closing summary: what happened and what was done."
NAME_THE_ORIGINAL = "Name the incident this one duplicates, by its reference (IR-2026-0042)."
ONLY_DUPLICATES_NAME_ONE = "Only a duplicate names another incident: choose the resolution duplicate."
CANNOT_CLOSE_CONTAINED = (
    "{ref} cannot be closed while contained; it can be from: new, triage, investigating, recovered."
)
CANNOT_CLOSE_ERADICATED = (
    "{ref} cannot be closed while eradicated; it can be from: new, triage, investigating, recovered."
)


def _state(incident: Incident) -> dict:
    """What closing or reopening may touch, from the database."""
    row = Incident.objects.filter(pk=incident.pk).values(
        "status", "resolution", "closing_summary", "duplicate_of__reference", "version", "closed_at", "resolved_at"
    )[0]
    return {
        **row,
        "tasks": list(Task.objects.filter(incident=incident).order_by("id").values_list("title", "status")),
        "activity": Activity.objects.filter(incident=incident).count(),
    }


def _entry(incident: Incident, verb: str) -> Activity:
    return Activity.objects.filter(incident=incident, verb=verb).order_by("-id").first()


def _close(incident: Incident, actor, **fields) -> Incident:
    fields.setdefault("resolution", "false_positive")
    return services.incident_close(incident=incident, actor=actor, **fields)


# --- Closing through the service ------------------------------------------------------------
class TestClose:
    def test_closing_records_the_resolution_and_one_closed_entry(self, lead, incident):
        assert (incident.status, incident.resolution, incident.closed_at) == ("new", "", None)
        entries_before = Activity.objects.filter(incident=incident).count()

        closed = services.incident_close(
            incident=incident,
            actor=lead,
            resolution="true_positive",
            closing_summary="  Kit taken down; **12** mailboxes reset.  ",
            version=1,
        )

        assert (closed.status, closed.resolution, closed.closing_summary, closed.version) == (
            "closed",
            "true_positive",
            "Kit taken down; **12** mailboxes reset.",
            2,
        )
        assert closed.closed_at is not None and closed.resolved_at == closed.closed_at
        # No status_changed too; closing straight from new is also the first acknowledgement.
        assert list(
            Activity.objects.filter(incident=incident).order_by("id").values_list("verb", flat=True)[entries_before:]
        ) == ["closed", "acknowledged"]
        entry = _entry(incident, "closed")
        assert (entry.actor, entry.internal) == (lead, False)
        assert entry.data == {
            "old": "new",
            "resolution": "true_positive",
            "duplicate_of": None,
            "closing_summary": "Kit taken down; **12** mailboxes reset.",
        }
        assert entry.text == "closed it as true positive"

    @pytest.mark.parametrize("resolution", ["false_positive", "benign", "out_of_scope"])
    def test_a_summary_is_optional_except_for_a_true_positive(self, lead, incident, resolution):
        closed = _close(incident, lead, resolution=resolution)
        assert (closed.status, closed.resolution, closed.closing_summary) == ("closed", resolution, "")

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            ({"resolution": ""}, {"resolution": [CHOOSE_RESOLUTION]}),
            ({"resolution": "solved"}, {"resolution": [CHOOSE_RESOLUTION]}),
            ({"resolution": "true_positive"}, {"closing_summary": [TRUE_POSITIVE_NEEDS_SUMMARY]}),
            (
                {"resolution": "true_positive", "closing_summary": "   "},
                {"closing_summary": [TRUE_POSITIVE_NEEDS_SUMMARY]},
            ),
            (
                {"resolution": "benign", "closing_summary": "x" * 20_001},
                {"closing_summary": ["At most 20,000 characters (it has 20,001)."]},
            ),
            ({"resolution": "duplicate"}, {"duplicate_of": [NAME_THE_ORIGINAL]}),
            ({"resolution": "benign", "duplicate_of": "IR-2026-0002"}, {"duplicate_of": [ONLY_DUPLICATES_NAME_ONE]}),
        ],
    )
    def test_bad_input_is_refused_and_nothing_changes(self, lead, incident, fields, errors):
        make_incident(opened_by=lead, title="Another case")  # IR-…-0002 exists
        before = _state(incident)
        with pytest.raises(ValidationError) as refused:
            services.incident_close(incident=incident, actor=lead, **fields)
        assert refused.value.message_dict == errors
        assert _state(incident) == before

    def test_a_duplicate_links_the_original(self, lead, incident):
        original = make_incident(opened_by=lead, title="Phishing wave, first report")
        closed = _close(incident, lead, resolution="duplicate", duplicate_of=f" {original.reference} ")
        assert (closed.resolution, closed.duplicate_of) == ("duplicate", original)
        assert list(original.duplicates.all()) == [incident]
        entry = _entry(incident, "closed")
        assert entry.data == {
            "old": "new",
            "resolution": "duplicate",
            "duplicate_of": original.reference,
            "closing_summary": "",
        }
        assert entry.text == f"closed it as duplicate of {original.reference}"

    def test_the_original_must_be_visible_to_the_closer_and_not_the_incident_itself(
        self, lead, responder, incident, restricted_incident
    ):
        services.member_add(incident=incident, user=responder, actor=lead)  # ravi works this one
        hidden = make_incident(opened_by=lead, lead=lead, title="Board mailbox", restricted=True)  # not ravi's
        before = _state(incident)
        for reference, message in [
            (hidden.reference, f"There is no incident {hidden.reference} that you can see."),
            ("IR-1999-0001", "There is no incident IR-1999-0001 that you can see."),
            (incident.reference, "An incident cannot be a duplicate of itself."),
        ]:
            with pytest.raises(ValidationError) as refused:
                _close(incident, responder, resolution="duplicate", duplicate_of=reference)
            assert refused.value.message_dict == {"duplicate_of": [message]}
        assert _state(incident) == before
        # ravi is on the restricted incident: that one he may name.
        assert _close(incident, responder, resolution="duplicate", duplicate_of=restricted_incident.reference)

    def test_the_original_must_not_be_a_duplicate_itself(self, lead, incident):
        root = make_incident(opened_by=lead, title="First report")
        second = make_incident(opened_by=lead, title="Second report")
        _close(second, lead, resolution="duplicate", duplicate_of=root.reference)
        with pytest.raises(ValidationError) as refused:
            _close(incident, lead, resolution="duplicate", duplicate_of=second.reference)
        assert refused.value.message_dict == {
            "duplicate_of": [f"{second.reference} is itself a duplicate of {root.reference}: name that one."]
        }
        # Which also rules out cycles: root cannot now be closed as a duplicate of second.
        with pytest.raises(ValidationError):
            _close(root, lead, resolution="duplicate", duplicate_of=second.reference)

    @pytest.mark.parametrize(
        ("status", "message"),
        [
            ("contained", CANNOT_CLOSE_CONTAINED),
            ("eradicated", CANNOT_CLOSE_ERADICATED),
            ("closed", "{ref} is already closed."),
        ],
    )
    def test_only_the_flow_closes(self, lead, incident, status, message):
        steps = {
            "contained": ["investigating", "contained"],
            "eradicated": ["investigating", "contained", "eradicated"],
        }
        for step in steps.get(status, []):
            incident = services.incident_transition(incident=incident, to=step, actor=lead)
        if status == "closed":
            incident = _close(incident, lead)
        before = _state(incident)
        with pytest.raises(ValidationError) as refused:
            _close(incident, lead, resolution="benign")
        assert refused.value.messages == [message.format(ref=incident.reference)]
        assert _state(incident) == before

    def test_a_stale_version_is_a_conflict(self, lead, incident):
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Renamed"})
        before = _state(incident)
        with pytest.raises(services.ConflictError):
            _close(incident, lead, version=1)
        assert _state(incident) == before


class TestOpenTasks:
    @pytest.fixture
    def tasks(self, lead, incident) -> dict[str, Task]:
        made = {title: services.task_add(incident=incident, actor=lead, title=title) for title in ("A", "B", "C", "D")}
        services.task_update(task=made["B"], actor=lead, changes={"status": "in_progress"})
        services.task_update(task=made["C"], actor=lead, changes={"done": True})
        services.task_update(task=made["D"], actor=lead, changes={"status": "cancelled", "cancel_reason": "Moot"})
        return made

    def test_closing_with_open_tasks_asks_what_to_do_with_them(self, lead, incident, tasks):
        before = _state(incident)
        with pytest.raises(ValidationError) as refused:
            _close(incident, lead)
        assert refused.value.message_dict == {
            "open_tasks": [
                "2 tasks are still open: “A”, “B”. Choose keep (they stay open as follow-up work) or cancel "
                "(they are cancelled, the closing as the reason)."
            ]
        }
        assert _state(incident) == before
        with pytest.raises(ValidationError) as refused:
            _close(incident, lead, open_tasks="maybe")
        assert list(refused.value.message_dict) == ["open_tasks"]

    def test_keep_closes_and_leaves_them_open(self, lead, incident, tasks):
        closed = _close(incident, lead, open_tasks="keep")
        assert closed.status == "closed"
        assert _state(incident)["tasks"] == [("A", "todo"), ("B", "in_progress"), ("C", "done"), ("D", "cancelled")]
        assert not Activity.objects.filter(incident=incident, verb="task_status_changed", data__new="cancelled")[1:]

    def test_cancel_cancels_only_the_open_ones_with_the_closing_as_reason(self, lead, incident, tasks):
        since = Activity.objects.filter(incident=incident).order_by("-id").values_list("id", flat=True)[0]

        _close(incident, lead, open_tasks="cancel")

        reason = f"{incident.reference} was closed as false positive."
        rows = Task.objects.filter(incident=incident).order_by("id").values_list("title", "status", "cancel_reason")
        assert list(rows) == [
            ("A", "cancelled", reason),
            ("B", "cancelled", reason),
            ("C", "done", ""),
            ("D", "cancelled", "Moot"),
        ]
        written = Activity.objects.filter(incident=incident, id__gt=since).order_by("id")
        assert list(written.values_list("verb", "actor__username", "data")) == [
            (
                "task_status_changed",
                "lena",
                {"task_id": tasks["A"].pk, "title": "A", "old": "todo", "new": "cancelled", "reason": reason},
            ),
            (
                "task_status_changed",
                "lena",
                {"task_id": tasks["B"].pk, "title": "B", "old": "in_progress", "new": "cancelled", "reason": reason},
            ),
            (
                "closed",
                "lena",
                {"old": "new", "resolution": "false_positive", "duplicate_of": None, "closing_summary": ""},
            ),
            # Closing straight from new is the first acknowledgement too (notifications.services).
            ("acknowledged", "lena", {"channel": "status", "channel_label": "status change (left new)"}),
        ]

    def test_without_open_tasks_nothing_is_asked(self, lead, incident, tasks):
        for title in ("A", "B"):
            services.task_update(task=tasks[title], actor=lead, changes={"done": True})
        assert _close(incident, lead).status == "closed"


# --- Reopening ------------------------------------------------------------------------------
class TestReopen:
    def test_reopening_clears_the_resolution_and_records_why(self, lead, incident):
        original = make_incident(opened_by=lead, title="First report")
        _close(incident, lead, resolution="duplicate", duplicate_of=original.reference, closing_summary="Same kit.")
        version = Incident.objects.get(pk=incident.pk).version

        reopened = services.incident_reopen(incident=incident, actor=lead, reason="  Different sender after all. ")

        assert _state(incident) | {"activity": None, "tasks": None} == {
            "status": "investigating",
            "resolution": "",
            "closing_summary": "",
            "duplicate_of__reference": None,
            "version": version + 1,
            "closed_at": None,
            "resolved_at": None,
            "activity": None,
            "tasks": None,
        }
        assert reopened.status == "investigating"
        entry = _entry(incident, "reopened")
        assert entry.actor == lead
        assert entry.data == {
            "old": "closed",
            "new": "investigating",
            "reason": "Different sender after all.",
            "resolution": "duplicate",
            "duplicate_of": original.reference,
        }
        assert entry.text == "reopened it: Different sender after all."
        # The closing summary is gone from the incident, not from the log.
        assert _entry(incident, "closed").data["closing_summary"] == "Same kit."

    @pytest.mark.parametrize(
        ("reason", "errors"),
        [
            ("", {"reason": ["Say why the incident is reopened."]}),
            ("   ", {"reason": ["Say why the incident is reopened."]}),
            ("x" * 1_001, {"reason": ["At most 1,000 characters (it has 1,001)."]}),
        ],
    )
    def test_a_reason_is_required(self, lead, incident, reason, errors):
        _close(incident, lead)
        before = _state(incident)
        with pytest.raises(ValidationError) as refused:
            services.incident_reopen(incident=incident, actor=lead, reason=reason)
        assert refused.value.message_dict == errors
        assert _state(incident) == before

    def test_only_a_closed_incident_is_reopened(self, lead, incident):
        before = _state(incident)
        with pytest.raises(ValidationError) as refused:
            services.incident_reopen(incident=incident, actor=lead, reason="Why not")
        assert refused.value.messages == [
            f"{incident.reference} is not closed: only a closed incident can be reopened."
        ]
        assert _state(incident) == before

    def test_a_stale_version_is_a_conflict(self, lead, incident):
        closed = _close(incident, lead)
        with pytest.raises(services.ConflictError):
            services.incident_reopen(incident=incident, actor=lead, reason="Back", version=closed.version - 1)
        assert _state(incident)["status"] == "closed"


class TestTransitionIsNotTheWayToCloseOrReopen:
    def test_transition_to_closed_points_to_close(self, lead, incident):
        before = _state(incident)
        with pytest.raises(ValidationError) as refused:
            services.incident_transition(incident=incident, to=Status.CLOSED, actor=lead)
        assert refused.value.message_dict == {
            "to": [
                "Closing asks for a resolution: close the incident "
                f"(POST /api/v1/incidents/{incident.reference}/close/), not a transition."
            ]
        }
        assert _state(incident) == before

    def test_transition_out_of_closed_points_to_reopen(self, lead, incident):
        _close(incident, lead)
        before = _state(incident)
        with pytest.raises(ValidationError) as refused:
            services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
        assert refused.value.message_dict == {
            "to": [
                "Reopening asks for a reason: reopen the incident "
                f"(POST /api/v1/incidents/{incident.reference}/reopen/), not a transition."
            ]
        }
        assert _state(incident) == before


def test_the_database_allows_a_resolution_only_while_closed(lead, incident):
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(resolution="benign")
    _close(incident, lead)
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(resolution="duplicate")  # names no original


# --- Who may close and reopen: the TRANSITION row of the rule table -------------------------
# Written out: the standings that may change the status (and so close and reopen).
MAY_CLOSE = {"ada": True, "lena": True, "ravi": True, "victor": False, "olga": False, "otto": False, "erin": False}


@pytest.fixture
def people(admin, lead, responder, vendor, outsider, executive, incident) -> dict:
    olga = UserFactory(username="olga", role="responder")
    for user, role in [(responder, "responder"), (vendor, "responder"), (olga, "observer"), (executive, "observer")]:
        services.member_add(incident=incident, user=user, actor=lead, role=role)
    return {u.username: u for u in (admin, lead, responder, vendor, olga, outsider, executive)}


@pytest.mark.parametrize("persona", MAY_CLOSE)
def test_close_and_reopen_follow_the_transition_row(people, incident, persona):
    actor = people[persona]
    if not MAY_CLOSE[persona]:
        before = _state(incident)
        with pytest.raises(PermissionDenied) as refused:
            _close(incident, actor)
        assert str(refused.value) == NOT_WORKING_IT
        assert _state(incident) == before
        _close(incident, people["lena"])
        before = _state(incident)
        with pytest.raises(PermissionDenied) as refused:
            services.incident_reopen(incident=incident, actor=actor, reason="I disagree")
        assert str(refused.value) == NOT_WORKING_IT
        assert _state(incident) == before
        return
    assert _close(incident, actor).status == "closed"
    assert _entry(incident, "closed").actor == actor
    assert services.incident_reopen(incident=incident, actor=actor, reason="Recurred").status == "investigating"
    assert _entry(incident, "reopened").actor == actor


# --- Browser --------------------------------------------------------------------------------
def _buttons(page: str) -> list[tuple[str, bool]]:
    """The status controls of the heading, in order, as (label, primary)."""
    import re

    block = page.split('<div class="transitions">')[1].split("</div>")[0]
    found = re.findall(
        r'<(button type="submit"|a class="button[^"]*"|summary class="button[^"]*")([^>]*)>([^<]+)<', block
    )
    return [(label, "secondary" not in tag + attrs) for tag, attrs, label in found if label not in ("Reopen", "Edit")]


# The primary button per status is the forward move of the NIST flow, written out.
BUTTONS = {
    "new": [("Move to triage", True), ("Move to investigating", False), ("Close…", False)],
    "triage": [("Move to investigating", True), ("Close…", False)],
    "investigating": [("Move to contained", True), ("Close…", False)],
    "contained": [("Move to eradicated", True), ("Move to investigating", False)],
    "eradicated": [("Move to recovered", True), ("Move to investigating", False)],
    "recovered": [("Close…", True), ("Move to investigating", False)],
    "closed": [("Reopen…", True)],
}
PATH = {
    "new": [],
    "triage": ["triage"],
    "investigating": ["investigating"],
    "contained": ["investigating", "contained"],
    "eradicated": ["investigating", "contained", "eradicated"],
    "recovered": ["investigating", "contained", "eradicated", "recovered"],
}


class TestBrowser:
    @pytest.mark.parametrize("status", BUTTONS)
    def test_the_forward_move_is_the_primary_button(self, login, lead, incident, status):
        for step in PATH.get(status, []):
            incident = services.incident_transition(incident=incident, to=step, actor=lead)
        if status == "closed":
            incident = _close(incident, lead)
        page = login(lead).get(incident.get_absolute_url()).content.decode()
        assert _buttons(page) == BUTTONS[status]

    def test_close_form_lists_open_tasks_and_needs_a_choice(self, login, lead, responder, incident):
        services.task_add(incident=incident, actor=lead, title="Reset passwords", assignee=responder)
        url = reverse("incidents:close", args=[incident.reference])
        client = login(lead)

        page = client.get(url).content.decode()
        assert "1 task is still open" in page
        assert "Reset passwords" in page and 'name="open_tasks" value="cancel"' in page

        refused = client.post(url, {"resolution": "false_positive", "version": 1})
        assert refused.status_code == 200
        assert "1 task is still open: “Reset passwords”. Choose keep" in refused.content.decode()
        assert _state(incident)["status"] == "new"

        closed = client.post(url, {"resolution": "false_positive", "version": 1, "open_tasks": "cancel"}, follow=True)
        assert closed.redirect_chain == [(incident.get_absolute_url(), 302)]
        body = closed.content.decode()
        assert f"Closed {incident.reference} as false positive." in body
        assert '<dt>Resolution</dt><dd class="resolution">False positive</dd>' in body
        assert _state(incident)["tasks"] == [("Reset passwords", "cancelled")]

    def test_closing_as_a_duplicate_links_it_on_the_page(self, login, lead, incident):
        original = make_incident(opened_by=lead, title="First report")
        url = reverse("incidents:close", args=[incident.reference])
        client = login(lead)
        page = client.post(
            url,
            {
                "resolution": "duplicate",
                "duplicate_of": original.reference,
                "closing_summary": "Same **kit**.",
                "version": 1,
            },
            follow=True,
        ).content.decode()
        link = f'<a href="/incidents/{original.reference}/">{original.reference}</a>'
        assert f'<dd class="resolution">Duplicate of {link}</dd>' in page
        assert "<p>Same <strong>kit</strong>.</p>" in page

    def test_form_errors_name_the_field(self, login, lead, incident):
        url = reverse("incidents:close", args=[incident.reference])
        response = login(lead).post(url, {"resolution": "true_positive", "version": 1})
        assert response.status_code == 200
        assert TRUE_POSITIVE_NEEDS_SUMMARY in response.content.decode()
        assert _state(incident)["status"] == "new"

    def test_a_stale_close_form_is_a_409(self, login, lead, incident):
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Renamed"})
        url = reverse("incidents:close", args=[incident.reference])
        response = login(lead).post(url, {"resolution": "benign", "version": 1})
        assert response.status_code == 409
        assert "was changed by someone else" in response.content.decode()
        assert _state(incident)["status"] == "new"

    def test_close_is_refused_to_readers_and_404_to_outsiders(
        self, login, executive, outsider, incident, restricted_incident
    ):
        url = reverse("incidents:close", args=[incident.reference])
        refused = login(executive).post(url, {"resolution": "benign", "version": 1}, follow=True)
        assert NOT_WORKING_IT in refused.content.decode()
        hidden = reverse("incidents:close", args=[restricted_incident.reference])
        assert login(outsider).get(hidden).status_code == 404
        assert login(outsider).post(hidden, {"resolution": "benign", "version": 1}).status_code == 404
        assert (_state(incident)["status"], _state(restricted_incident)["status"]) == ("new", "new")

    def test_a_transition_post_to_closed_is_refused_with_a_pointer(self, login, lead, incident):
        url = reverse("incidents:transition", args=[incident.reference])
        response = login(lead).post(url, {"to": "closed", "version": 1}, follow=True)
        assert "Closing asks for a resolution" in response.content.decode()
        assert _state(incident)["status"] == "new"

    def test_reopen_asks_why(self, login, lead, incident):
        _close(incident, lead)
        url = reverse("incidents:reopen", args=[incident.reference])
        client = login(lead)
        version = _state(incident)["version"]

        refused = client.post(url, {"reason": "", "version": version}, follow=True)
        assert f"{incident.reference} was not reopened: This field is required." in refused.content.decode()
        assert _state(incident)["status"] == "closed"

        reopened = client.post(url, {"reason": "Recurred on Monday", "version": version}, follow=True)
        assert f"Reopened {incident.reference}: it is now investigating." in reopened.content.decode()
        assert (_state(incident)["status"], _entry(incident, "reopened").data["reason"]) == (
            "investigating",
            "Recurred on Monday",
        )

    def test_reopen_is_refused_to_readers(self, login, lead, executive, incident):
        closed = _close(incident, lead)
        url = reverse("incidents:reopen", args=[incident.reference])
        refused = login(executive).post(url, {"reason": "Hm", "version": closed.version}, follow=True)
        assert NOT_WORKING_IT in refused.content.decode()
        assert _state(incident)["status"] == "closed"


# --- API ------------------------------------------------------------------------------------
def _api_url(incident: Incident, action: str = "") -> str:
    return f"/api/v1/incidents/{incident.reference}/" + (f"{action}/" if action else "")


@pytest.fixture
def lena_api(api, lead) -> APIClient:
    return api(*RW, user=lead)


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


class TestAPI:
    def test_close_answers_the_incident_with_its_resolution(self, lena_api, lead, incident):
        original = make_incident(opened_by=lead, title="First report")
        response = lena_api.post(
            _api_url(incident, "close"),
            {"resolution": "duplicate", "duplicate_of": original.reference, "version": 1},
            format="json",
        )
        assert response.status_code == 200
        body = response.json()
        assert {k: body[k] for k in ("status", "resolution", "closing_summary", "duplicate_of", "version")} == {
            "status": "closed",
            "resolution": "duplicate",
            "closing_summary": "",
            "duplicate_of": original.reference,
            "version": 2,
        }
        assert body == lena_api.get(_api_url(incident)).json()  # what a read shows right after
        listed = {row["reference"]: row for row in lena_api.get("/api/v1/incidents/").json()["results"]}
        assert (listed[incident.reference]["resolution"], listed[incident.reference]["duplicate_of"]) == (
            "duplicate",
            original.reference,
        )
        assert "closing_summary" not in listed[incident.reference]  # like the summary, left to the detail

    @pytest.mark.parametrize(
        ("payload", "errors"),
        [
            ({}, {"resolution": ["This field is required."]}),
            ({"resolution": "solved"}, {"resolution": ['"solved" is not a valid choice.']}),
            ({"resolution": "true_positive"}, {"closing_summary": [TRUE_POSITIVE_NEEDS_SUMMARY]}),
            (
                {"resolution": "duplicate", "duplicate_of": "IR-1999-0001"},
                {"duplicate_of": ["There is no incident IR-1999-0001 that you can see."]},
            ),
            ({"resolution": "benign", "open_tasks": "later"}, {"open_tasks": ['"later" is not a valid choice.']}),
            ({"resolution": "benign", "reason": "x"}, {"reason": ["Unknown field."]}),
            ({"resolution": "benign", "version": 0}, {"version": ["Ensure this value is greater than or equal to 1."]}),
        ],
    )
    def test_close_bad_input_is_400(self, lena_api, incident, payload, errors):
        response = lena_api.post(_api_url(incident, "close"), payload, format="json")
        assert (response.status_code, response.json()) == (400, errors)
        assert _state(incident)["status"] == "new"

    def test_close_with_open_tasks_is_400_until_told_what_to_do(self, lena_api, lead, incident):
        services.task_add(incident=incident, actor=lead, title="Reset passwords")
        refused = lena_api.post(_api_url(incident, "close"), {"resolution": "benign"}, format="json")
        assert (refused.status_code, refused.json()) == (
            400,
            {
                "open_tasks": [
                    "1 task is still open: “Reset passwords”. Choose keep (they stay open as follow-up work) "
                    "or cancel (they are cancelled, the closing as the reason)."
                ]
            },
        )
        kept = lena_api.post(_api_url(incident, "close"), {"resolution": "benign", "open_tasks": "keep"}, format="json")
        assert kept.status_code == 200
        assert _state(incident)["tasks"] == [("Reset passwords", "todo")]

    def test_close_when_it_cannot_is_400_without_a_field(self, lena_api, lead, incident):
        services.incident_transition(incident=incident, to="investigating", actor=lead)
        services.incident_transition(incident=incident, to="contained", actor=lead)
        response = lena_api.post(_api_url(incident, "close"), {"resolution": "benign"}, format="json")
        assert (response.status_code, response.json()) == (
            400,
            {
                "non_field_errors": [
                    f"{incident.reference} cannot be closed while contained; it can be from: "
                    "new, triage, investigating, recovered."
                ]
            },
        )

    def test_close_refusals(self, api, lead, executive, outsider, incident, restricted_incident):
        payload = {"resolution": "benign"}
        executive_says = _session(executive).post(_api_url(incident, "close"), payload, format="json")
        assert (executive_says.status_code, executive_says.json()) == (403, {"detail": NOT_WORKING_IT})
        assert api("incidents:read", user=lead).post(_api_url(incident, "close"), payload).status_code == 403
        assert _session(outsider).post(_api_url(restricted_incident, "close"), payload).status_code == 404
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Renamed"})
        stale = api(*RW, user=lead).post(_api_url(incident, "close"), {**payload, "version": 1}, format="json")
        assert (stale.status_code, stale.json()["current_version"]) == (409, 2)
        assert (_state(incident)["status"], _state(restricted_incident)["status"]) == ("new", "new")

    def test_a_write_only_key_learns_only_reference_and_version(self, api, lead, incident):
        client = api("incidents:write", user=lead)
        closed = client.post(_api_url(incident, "close"), {"resolution": "benign"}, format="json")
        reopened = client.post(_api_url(incident, "reopen"), {"reason": "Recurred"}, format="json")
        assert closed.json() == {"reference": incident.reference, "version": 2}
        assert reopened.json() == {"reference": incident.reference, "version": 3}

    def test_reopen(self, lena_api, lead, incident):
        not_closed = lena_api.post(_api_url(incident, "reopen"), {"reason": "Why not"}, format="json")
        assert (not_closed.status_code, not_closed.json()) == (
            400,
            {"non_field_errors": [f"{incident.reference} is not closed: only a closed incident can be reopened."]},
        )
        _close(incident, lead, resolution="benign")
        missing = lena_api.post(_api_url(incident, "reopen"), {}, format="json")
        assert (missing.status_code, missing.json()) == (400, {"reason": ["This field is required."]})
        blank = lena_api.post(_api_url(incident, "reopen"), {"reason": " "}, format="json")
        assert (blank.status_code, blank.json()) == (400, {"reason": ["This field may not be blank."]})

        reopened = lena_api.post(_api_url(incident, "reopen"), {"reason": "Recurred", "version": 2}, format="json")
        assert reopened.status_code == 200
        body = reopened.json()
        assert {k: body[k] for k in ("status", "resolution", "duplicate_of", "closed_at", "version")} == {
            "status": "investigating",
            "resolution": None,
            "duplicate_of": None,
            "closed_at": None,
            "version": 3,
        }
        stale = lena_api.post(_api_url(incident, "reopen"), {"reason": "Again", "version": 2}, format="json")
        assert stale.status_code == 409

    def test_reopen_refusals(self, lead, executive, outsider, incident, restricted_incident):
        _close(incident, lead)
        refused = _session(executive).post(_api_url(incident, "reopen"), {"reason": "Hm"}, format="json")
        assert (refused.status_code, refused.json()) == (403, {"detail": NOT_WORKING_IT})
        assert _session(outsider).post(_api_url(restricted_incident, "reopen"), {"reason": "Hm"}).status_code == 404
        assert _state(incident)["status"] == "closed"

    def test_transition_to_closed_is_400_pointing_to_close(self, lena_api, incident):
        response = lena_api.post(_api_url(incident, "transition"), {"to": "closed"}, format="json")
        assert (response.status_code, response.json()) == (
            400,
            {
                "to": [
                    "Closing asks for a resolution: close the incident "
                    f"(POST /api/v1/incidents/{incident.reference}/close/), not a transition."
                ]
            },
        )

    @pytest.mark.parametrize("field", ["resolution", "closing_summary", "duplicate_of"])
    def test_resolution_fields_are_set_only_by_close(self, lena_api, incident, field):
        patched = lena_api.patch(_api_url(incident), {"version": 1, field: "benign"}, format="json")
        assert (patched.status_code, patched.json()) == (
            400,
            {field: ["Set when closing: POST /api/v1/incidents/{reference}/close/."]},
        )

    def test_the_list_costs_no_more_queries_with_duplicates(self, api, lead, django_assert_num_queries):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        originals = [make_incident(opened_by=lead, title=f"Original {n}") for n in range(3)]
        dupes = [make_incident(opened_by=lead, title=f"Dupe {n}") for n in range(3)]
        client = api("incidents:read", user=lead)
        client.get("/api/v1/incidents/")  # the key's first use stamps last_used_at
        with CaptureQueriesContext(connection) as plain:
            client.get("/api/v1/incidents/")
        for dupe, original in zip(dupes, originals, strict=True):
            _close(dupe, lead, resolution="duplicate", duplicate_of=original.reference)
        # The original's reference is joined into the page's query: nothing per row.
        with django_assert_num_queries(len(plain)):
            rows = client.get("/api/v1/incidents/").json()["results"]
        assert sorted(r["duplicate_of"] for r in rows if r["duplicate_of"]) == [o.reference for o in originals]


def test_a_duplicate_never_names_an_original_the_viewer_may_not_see(
    api, login, lead, outsider, incident, restricted_incident
):
    """Lena closes an open incident as a duplicate of a restricted one. Otto sees the duplicate
    but not the original: he learns that it is a duplicate, not of what (on the page, in the API's
    list and single answer)."""
    _close(incident, lead, resolution="duplicate", duplicate_of=restricted_incident.reference)
    link = f'<a href="/incidents/{restricted_incident.reference}/">{restricted_incident.reference}</a>'

    lenas_page = login(lead).get(reverse("incidents:detail", args=[incident.reference])).content.decode()
    ottos_page = login(outsider).get(reverse("incidents:detail", args=[incident.reference])).content.decode()
    otto = api("incidents:read", user=outsider)
    ottos_list = otto.get("/api/v1/incidents/", {"include_closed": "true"}).json()["results"]
    ottos_one = otto.get(_api_url(incident)).json()

    assert f'<dd class="resolution">Duplicate of {link}</dd>' in lenas_page
    assert '<dd class="resolution">Duplicate</dd>' in ottos_page
    assert restricted_incident.reference not in ottos_page.replace(
        f"closed it as duplicate of {restricted_incident.reference}", ""
    )
    assert [(row["reference"], row["resolution"], row["duplicate_of"]) for row in ottos_list] == [
        (incident.reference, "duplicate", None)
    ]
    assert (ottos_one["resolution"], ottos_one["duplicate_of"]) == ("duplicate", None)
    assert (
        api("incidents:read", user=lead).get(_api_url(incident)).json()["duplicate_of"] == restricted_incident.reference
    )
