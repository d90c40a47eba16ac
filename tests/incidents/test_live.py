"""Live updates (incidents/live.py): the incident page's poll, in-place writes that carry others'
changes along, and the list's poll."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import live, services
from incidents.models import Incident, MemberRole, Status
from tests.factories import UserFactory, make_incident

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TOKEN = re.compile(r'data-live-since="([^"]+)"')
OOB = re.compile(r'hx-swap-oob="innerHTML:#([\w-]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def token_on_page(client, incident: Incident) -> str:
    page = client.get(incident.get_absolute_url()).content.decode()
    return TOKEN.search(page).group(1)


def poll(client, incident: Incident, token: str):
    return client.get(reverse("incidents:live", args=[incident.reference]), {"since": token}, **HTMX)


def swapped(response) -> set[str]:
    return set(OOB.findall(response.content.decode()))


def touch(incident: Incident) -> None:
    """What every write must do (the contract tested at the bottom), for writes whose service
    does not do it yet."""
    Incident.objects.filter(pk=incident.pk).update(updated_at=timezone.now())


FINDINGS = {"findings-count", "findings-list"}
TASKS = {"tasks-count", "tasks-list"}
MEMBERS = {"members-count", "members-list"}
EVIDENCE = {"evidence-count", "evidence-export", "evidence-hold", "evidence-list"}
INDICATORS = {"indicators-count", "indicators-export", "indicators-list"}
VENDORS = {"vendors-count", "vendors-checklist", "vendors-list"}
HEADING = {"case-banner", "case-heading"}
CASE = HEADING | {"case-summary", "case-facts"}
ACTIVITY = {"case-activity", "live-status"}
SCOPE = {"scope-count", "scope-list"}
REGISTER = {"register-count", "register-rows"}
TIMELINE = {"timeline-count", "timeline-summary"}
EVERY_PANEL = (
    FINDINGS | TASKS | MEMBERS | EVIDENCE | INDICATORS | VENDORS | SCOPE | REGISTER | TIMELINE | CASE | ACTIVITY
)


class TestIncidentPoll:
    def test_unchanged_is_204_with_reswap_none_in_three_queries(self, login, lead, incident, django_assert_num_queries):
        client = login(lead)
        token = token_on_page(client, incident)
        # 1 session, 2 user, 3 the incident's version and updated_at through the visibility
        # selector. Nothing else: this runs every 4 s on every open incident page.
        with django_assert_num_queries(3):
            response = poll(client, incident, token)
        assert response.status_code == 204  # not 304: htmx would swap its empty body
        assert response["HX-Reswap"] == "none"
        assert response.content == b""

    def test_a_new_finding_redraws_findings_and_activity_only(
        self, login, lead, responder, incident, django_assert_num_queries
    ):
        services.member_add(incident=incident, user=responder, actor=lead)
        client = login(lead)
        token = token_on_page(client, incident)
        assert poll(client, incident, token).status_code == 204

        services.finding_add(incident=incident, author=responder, body="Beacon to 203.0.113.7 every 60 s")
        # 1 session, 2 user, 3 the stamp (moved), then the detail page's own reads: 4 the
        # incident, 5 findings, 6 tasks, 7 memberships, 8 the latest activity. Only on a change.
        with django_assert_num_queries(8):
            response = poll(client, incident, token)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        assert swapped(response) == FINDINGS | ACTIVITY
        body = response.content.decode()
        assert "Beacon to 203.0.113.7 every 60 s" in body
        assert f"{responder} added a finding." in body  # announced to screen readers
        # The add forms are not part of any panel: what the lead is typing is never redrawn.
        assert 'name="body"' not in body and "Add finding" not in body
        # The poll element comes back with the new token, and that token is current.
        new_token = TOKEN.search(body).group(1)
        assert new_token != token
        assert poll(client, incident, new_token).status_code == 204

    def test_a_status_change_redraws_the_heading_summary_and_facts(self, login, lead, incident):
        client = login(lead)
        token = token_on_page(client, incident)
        services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
        response = poll(client, incident, token)
        assert swapped(response) == CASE | ACTIVITY
        body = response.content.decode()
        assert 'class="badge status-investigating"' in body
        # The status buttons carry the new version, so the next click is not a conflict.
        assert 'name="version" value="2"' in body

    def test_a_new_task_redraws_the_tasks(self, login, lead, responder, incident):
        client = login(lead)
        token = token_on_page(client, incident)
        services.task_add(incident=incident, actor=lead, title="Pull the VPN logs", assignee=responder)
        touch(incident)
        response = poll(client, incident, token)
        assert swapped(response) == TASKS | ACTIVITY
        assert "Pull the VPN logs" in response.content.decode()
        assert "Add task" not in response.content.decode()

    def test_a_new_member_redraws_members_and_the_heading(self, login, lead, responder, incident):
        client = login(lead)
        token = token_on_page(client, incident)
        services.member_add(incident=incident, user=responder, actor=lead, role=MemberRole.OBSERVER)
        touch(incident)
        response = poll(client, incident, token)
        assert swapped(response) == MEMBERS | HEADING | ACTIVITY
        assert str(responder) in response.content.decode()

    def test_a_change_without_an_entry_the_viewer_sees_redraws_everything(self, login, lead, incident):
        client = login(lead)
        token = token_on_page(client, incident)
        touch(incident)
        assert swapped(poll(client, incident, token)) == EVERY_PANEL

    def test_a_vendor_is_not_shown_internal_findings(self, login, lead, vendor, restricted_incident):
        client = login(vendor)
        token = token_on_page(client, restricted_incident)
        services.finding_add(incident=restricted_incident, author=lead, body="Internal: HR case 4411", internal=True)
        response = poll(client, restricted_incident, token)
        assert response.status_code == 200  # the incident moved: the page learns its new token…
        assert "HR case 4411" not in response.content.decode()  # …and nothing it may not see

    def test_invisible_and_missing_incidents_are_404_like_the_page(self, login, outsider, restricted_incident):
        client = login(outsider)
        token = "1.0.0"
        assert client.get(restricted_incident.get_absolute_url()).status_code == 404
        assert poll(client, restricted_incident, token).status_code == 404
        missing = reverse("incidents:live", args=["IR-2020-9999"])
        assert client.get(missing, {"since": token}, **HTMX).status_code == 404

    def test_losing_access_while_watching_is_a_404(self, login, lead, responder, restricted_incident):
        client = login(responder)
        token = token_on_page(client, restricted_incident)
        services.member_remove(incident=restricted_incident, user=responder, actor=lead)
        assert poll(client, restricted_incident, token).status_code == 404

    @pytest.mark.parametrize("since", [None, "", "abc", "1.2", "1.2.3.4", "-1.2.3", "1.2.x"])
    def test_a_malformed_token_is_400(self, login, lead, incident, since):
        params = {} if since is None else {"since": since}
        response = login(lead).get(reverse("incidents:live", args=[incident.reference]), params, **HTMX)
        assert response.status_code == 400

    def test_only_get(self, login, lead, incident):
        url = reverse("incidents:live", args=[incident.reference])
        assert login(lead).post(url, {"since": "1.0.0"}).status_code == 405


class TestPanels:
    def test_every_panel_is_drawn_exactly_as_on_the_page(self, rf, lead, responder, incident):
        """The poll renders the page's own blocks: each part equals the inside of its element on
        the page (CSRF tokens aside, their mask changes on every render)."""
        services.member_add(incident=incident, user=responder, actor=lead)
        services.finding_add(incident=incident, author=responder, body="**C2** at 198.51.100.4")
        services.task_add(incident=incident, actor=lead, title="Block 198.51.100.4", assignee=responder)
        request = rf.get(incident.get_absolute_url())
        request.user = lead
        detail = live._detail(request, incident.reference)
        page = CSRF.sub("", detail.render().content.decode())
        parts = live.render_panels(request, detail.context_data, live.PANELS)
        assert set(parts) == EVERY_PANEL - {"live-status"}
        for target, html in parts.items():
            assert f'id="{target}"' in page, target
            assert CSRF.sub("", html) in page, target

    def test_a_template_that_lost_its_block_is_an_error(self, rf, lead, incident, monkeypatch):
        request = rf.get(incident.get_absolute_url())
        request.user = lead
        detail = live._detail(request, incident.reference)
        monkeypatch.setitem(
            live.PANELS, "facts", live.Panel("facts", "incidents/detail.html", (("no_such_block", "case-facts"),))
        )
        with pytest.raises(LookupError, match="no_such_block"):
            live.render_panels(request, detail.context_data, ["facts"])

    def test_every_verb_is_mapped_to_its_panels(self):
        # An unmapped verb redraws every panel (safe, but wasteful): map a new one when adding it.
        from incidents.models import Verb

        assert set(Verb.values) - set(live.PANELS_BY_VERB) == set()


class TestWritesCarryUpdates:
    def test_adding_a_finding_brings_the_activity_and_others_changes(self, login, lead, responder, incident):
        services.member_add(incident=incident, user=responder, actor=lead)
        client = login(lead)
        token = token_on_page(client, incident)
        # Meanwhile a colleague adds a task the lead has not seen yet.
        services.task_add(incident=incident, actor=responder, title="Reset the CFO's password")
        touch(incident)
        url = reverse("incidents:finding-add", args=[incident.reference])
        response = client.post(url, {"body": "MFA fatigue prompts at 02:14"}, HTTP_X_LIVE_SINCE=token, **HTMX)
        assert response.status_code == 200
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="findings-panel">')  # the panel itself, as before
        # Out of band: the activity, the colleague's task, and the page's new token.
        assert swapped(response) == TASKS | ACTIVITY
        assert "Reset the CFO&#x27;s password" in body
        assert '<div id="live-poll"' in body and 'hx-swap-oob="true"' in body
        new_token = TOKEN.search(body).group(1)
        assert poll(client, incident, new_token).status_code == 204

    def test_without_the_pages_token_only_the_activity_comes_along(self, login, lead, incident):
        url = reverse("incidents:finding-add", args=[incident.reference])
        response = login(lead).post(url, {"body": "Phish kit hosted on a lookalike domain"}, **HTMX)
        assert swapped(response) == {"case-activity"}
        assert 'id="live-poll"' not in response.content.decode()  # its token would skip others' changes

    def test_a_refused_add_brings_nothing_along(self, login, lead, incident):
        url = reverse("incidents:finding-add", args=[incident.reference])
        response = login(lead).post(url, {"body": "  "}, HTTP_X_LIVE_SINCE="1.0.0", **HTMX)
        assert b"This field is required." in response.content
        assert swapped(response) == set()

    def test_ticking_a_task_brings_the_activity(self, login, lead, incident):
        task = services.task_add(incident=incident, actor=lead, title="Revoke the OAuth grant", assignee=lead)
        client = login(lead)
        token = token_on_page(client, incident)
        url = reverse("incidents:task-toggle", args=[incident.reference, task.pk])
        response = client.post(url, HTTP_X_LIVE_SINCE=token, **HTMX)
        assert swapped(response) == ACTIVITY  # the tasks panel is the response itself
        assert "completed the task" in response.content.decode()


class TestListPoll:
    def url(self, since: int, **filters) -> str:
        from urllib.parse import urlencode

        return reverse("incidents:list-live") + "?" + urlencode({**filters, "since": since}, doseq=True)

    def test_the_list_page_polls_with_its_filters_and_the_time(self, login, lead, incident):
        page = login(lead).get(reverse("incidents:list"), {"severity": "medium"}).content.decode()
        match = re.search(r'id="list-live"[^>]*hx-get="([^"]+)"', page, re.S)
        assert match is not None
        assert match.group(1).startswith("/incidents/live/?severity=medium&amp;since=")

    def test_unchanged_is_204_in_three_queries(self, login, lead, incident, django_assert_num_queries):
        client = login(lead)
        since = live.list_since_now()
        # 1 session, 2 user, 3 the visible, filtered incidents changed since then (at most 100 ids).
        with django_assert_num_queries(3):
            response = client.get(self.url(since), **HTMX)
        assert response.status_code == 204
        assert response["HX-Reswap"] == "none"

    def test_changes_are_counted_within_the_lists_filters(self, login, lead, responder, incident):
        other = make_incident(opened_by=responder, title="Low: stray port scan", severity="low")
        client = login(lead)
        since = live.list_since_now()
        services.finding_add(incident=incident, author=lead, body="Seen again")
        services.finding_add(incident=other, author=responder, body="Benign")
        response = client.get(self.url(since), **HTMX)
        assert response.status_code == 200
        assert "2 incidents have changed" in response.content.decode()
        only_medium = client.get(self.url(since, severity="medium"), **HTMX)
        assert "1 incident has changed" in only_medium.content.decode()
        assert client.get(self.url(since, severity="critical"), **HTMX).status_code == 204
        assert 'href="/incidents/?severity=medium"' in only_medium.content.decode()

    def test_a_change_to_an_incident_the_viewer_cannot_see_is_not_counted(
        self, login, lead, outsider, restricted_incident
    ):
        client = login(outsider)
        since = live.list_since_now()
        services.finding_add(incident=restricted_incident, author=lead, body="Secret")
        assert client.get(self.url(since), **HTMX).status_code == 204

    def test_a_new_incident_is_counted(self, login, lead, responder):
        client = login(lead)
        since = live.list_since_now()
        make_incident(opened_by=responder, title="New: ransom note")
        assert "1 incident has changed" in client.get(self.url(since), **HTMX).content.decode()

    @pytest.mark.parametrize("since", ["", "soon", "-5", "1.5"])
    def test_a_malformed_time_is_400(self, login, lead, since):
        response = login(lead).get(reverse("incidents:list-live"), {"since": since}, **HTMX)
        assert response.status_code == 400


def _writes(lead, responder, incident):
    """Every write to a case, as (name, callable)."""
    task = services.task_add(incident=incident, actor=lead, title="Existing task", assignee=lead)
    outsider = UserFactory(username="oona", role="responder")
    services.member_add(incident=incident, user=outsider, actor=lead)
    Incident.objects.filter(pk=incident.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    return {
        "incident_update": lambda: services.incident_update(
            incident=incident, actor=lead, version=1, changes={"title": "Renamed"}
        ),
        "incident_transition": lambda: services.incident_transition(incident=incident, to="triage", actor=lead),
        "finding_add": lambda: services.finding_add(incident=incident, author=lead, body="New"),
        "task_add": lambda: services.task_add(incident=incident, actor=lead, title="New task"),
        "task_update": lambda: services.task_update(task=task, actor=lead, changes={"done": True}),
        "task_note_add": lambda: services.task_note_add(task=task, author=lead, body="Tried X"),
        "member_add": lambda: services.member_add(incident=incident, user=responder, actor=lead),
        "member_role_change": lambda: services.member_role_change(
            incident=incident, user=outsider, actor=lead, role="observer"
        ),
        "member_remove": lambda: services.member_remove(incident=incident, user=outsider, actor=lead),
    }


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(name)
        for name in [
            "incident_update",
            "incident_transition",
            "finding_add",
            "task_add",
            "task_update",
            "task_note_add",
            "member_add",
            "member_role_change",
            "member_remove",
        ]
    ],
)
def test_every_case_write_moves_updated_at(lead, write):
    """The contract the poll relies on: a write to a case moves the incident's updated_at."""
    responder = UserFactory(username="rhea", role="responder")
    incident = make_incident(opened_by=lead, lead=lead, title="Watched")
    writes = _writes(lead, responder, incident)
    before = Incident.objects.get(pk=incident.pk).updated_at
    writes[write]()
    assert Incident.objects.get(pk=incident.pk).updated_at > before
