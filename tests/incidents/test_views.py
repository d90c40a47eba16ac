"""Browser views: list, create, detail, edit (optimistic locking), transitions, htmx partials."""

from __future__ import annotations

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Finding, Incident, Status
from tests.factories import UserFactory, make_incident
from timeline import services as timeline_services

pytestmark = pytest.mark.django_db

XSS_SUMMARY = (
    "Hello <script>alert('xss')</script> **bold**\n\n"
    '<img src=x onerror="alert(1)"> <a href="javascript:alert(2)">click</a> [md](javascript:alert(3))\n\n'
    '<iframe src="https://evil.example"></iframe><svg onload=alert(4)></svg>'
)


def test_pages_need_a_login(client, incident):
    for url in [reverse("incidents:home"), reverse("incidents:list"), incident.get_absolute_url()]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_login_and_logout(client, lead):
    bad = client.post(reverse("login"), {"username": "lena", "password": "wrong"})
    assert b"Please enter a correct username and password" in bad.content
    response = client.post(reverse("login"), {"username": "lena", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get(reverse("incidents:home")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("incidents:home")).status_code == 302


def test_home_lists_my_open_incidents_and_tasks(login, lead, responder, django_assert_num_queries):
    mine = [make_incident(opened_by=responder, lead=lead, title=f"Mine {n}") for n in range(8)]
    make_incident(opened_by=responder, title="Not mine")
    services.incident_close(incident=mine[0], actor=lead, resolution="false_positive")
    for incident in mine[1:4]:
        services.task_add(incident=incident, actor=lead, title=f"Task on {incident.reference}", assignee=lead)
    client = login(lead)
    # session, user, my open incidents (lead joined), my open tasks (incident joined), escalations
    # waiting on me, the new alerts' count and the newest five (see tests/incidents/test_home.py)
    with django_assert_num_queries(7):
        response = client.get(reverse("incidents:home"))
    assert [i.title for i in response.context["incidents"]] == [f"Mine {n}" for n in range(7, 0, -1)]
    assert len(response.context["tasks"]) == 3


class TestList:
    def test_filters_and_search(self, login, lead, responder):
        make_incident(opened_by=lead, title="Ransom note on file server", severity="critical", category="ransomware")
        make_incident(opened_by=responder, title="Vendor VPN brute force", severity="low")
        client = login(lead)

        def titles(**params) -> list[str]:
            response = client.get(reverse("incidents:list"), params)
            assert response.status_code == 200
            return [i.title for i in response.context["page"].object_list]

        assert titles() == ["Vendor VPN brute force", "Ransom note on file server"]
        assert titles(severity="critical") == ["Ransom note on file server"]
        assert titles(category="ransomware") == ["Ransom note on file server"]
        assert titles(q="vpn") == ["Vendor VPN brute force"]
        assert titles(mine="true") == ["Ransom note on file server"]  # lena opened only that one
        assert titles(status="closed") == []

    def test_invalid_filter_is_reported_not_a_500(self, login, lead, incident):
        response = login(lead).get(reverse("incidents:list"), {"severity": "apocalyptic"})
        assert response.status_code == 200
        assert b"Select a valid choice" in response.content

    @pytest.mark.parametrize("page_size", [5, 50])
    def test_query_count_is_independent_of_page_size(self, login, lead, settings, page_size, django_assert_num_queries):
        for n in range(60):
            make_incident(opened_by=lead, title=f"Incident {n}", lead=lead)
        settings.INCIDENT_PAGE_SIZE = page_size
        client = login(lead)
        # 5 = session + user + count + page (lead joined) + lead choices for the filter form.
        with django_assert_num_queries(5):
            response = client.get(reverse("incidents:list"))
        assert len(response.context["page"].object_list) == page_size

    def test_pagination_keeps_filters(self, login, lead, settings):
        settings.INCIDENT_PAGE_SIZE = 2
        for n in range(5):
            make_incident(opened_by=lead, title=f"Phish {n}", severity="high")
        response = login(lead).get(reverse("incidents:list"), {"severity": "high", "page": 2})
        assert [i.title for i in response.context["page"].object_list] == ["Phish 2", "Phish 1"]
        assert b"severity=high&amp;page=3" in response.content


class TestCreate:
    def test_create_redirects_to_the_new_incident(self, login, lead):
        response = login(lead).post(
            reverse("incidents:create"),
            {"title": "Contractor laptop beaconing", "severity": "high", "category": "third_party", "summary": ""},
        )
        incident = Incident.objects.get()
        assert response.status_code == 302
        assert response["Location"] == incident.get_absolute_url()
        assert (incident.title, incident.opened_by, incident.status) == ("Contractor laptop beaconing", lead, "new")

    def test_invalid_form_shows_errors_and_stores_nothing(self, login, lead):
        response = login(lead).post(
            reverse("incidents:create"),
            {"title": "", "severity": "nope", "category": "third_party", "records_affected": "-5"},
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert set(errors) == {"title", "severity", "records_affected"}
        assert Incident.objects.count() == 0

    def test_executive_cannot_open(self, login, executive):
        client = login(executive)
        assert client.get(reverse("incidents:create")).status_code == 403
        response = client.post(reverse("incidents:create"), {"title": "x", "severity": "low", "category": "other"})
        assert response.status_code == 403
        assert Incident.objects.count() == 0


class TestDetail:
    def test_summary_markdown_is_rendered_and_xss_is_inert(self, login, lead):
        incident = make_incident(opened_by=lead, summary=XSS_SUMMARY)
        services.finding_add(incident=incident, author=lead, body=XSS_SUMMARY)
        body = login(lead).get(incident.get_absolute_url()).content.decode()
        assert "<strong>bold</strong>" in body
        for payload in ["<script>alert", "onerror", "javascript:", "<iframe", "onload", "<svg"]:
            assert payload not in body, payload

    def test_markdown_is_sanitized_from_the_render_cache_and_past_it(self, login, lead):
        """Renders are kept per process (``incidents.markdown``, texts up to 4,000 characters):
        a page drawn again from that cache, and a text too long for it, are as clean as the first."""
        short = make_incident(opened_by=lead, summary=XSS_SUMMARY)
        long = make_incident(opened_by=lead, summary=XSS_SUMMARY + "\n\n" + "More detail. " * 400)
        client = login(lead)
        for incident in (short, short, long, long):
            body = client.get(incident.get_absolute_url()).content.decode()
            assert "<strong>bold</strong>" in body
            for payload in ["<script>alert", "onerror", "javascript:", "<iframe", "onload", "<svg"]:
                assert payload not in body, payload

    @pytest.mark.parametrize("items", [1, 10])
    def test_detail_query_count_is_fixed(self, login, lead, responder, incident, items, django_assert_num_queries):
        services.member_add(incident=incident, user=responder, actor=lead)
        for n in range(items):
            services.finding_add(incident=incident, author=responder, body=f"Finding {n}")
            services.task_add(incident=incident, actor=lead, title=f"Task {n}", assignee=responder)
            timeline_services.event_add(
                incident=incident, actor=lead, occurred_at=f"2026-03-0{n % 9 + 1}T10:00:00Z", kind="attacker",
                title=f"Event {n}", key_event=True, technique="T1199",
            )  # fmt: skip
        client = login(lead)
        # Exactly 24, whatever the number of findings, tasks and timeline events:
        # 1 session, 2 user (authentication),
        # 3 the visible incident with its lead and opener (one query, joined),
        # 4 findings with their authors, 5 tasks with their assignees, 6 the tasks' notes,
        # 7 memberships with their users (also what the rule table reads for the viewer's standing:
        #   case_permissions costs no query of its own),
        # 8 the latest 50 activity entries with their actors,
        # 9 the assignee choices of the add-task form (built only for those who may contribute),
        # 10 the people who could be added as members (only for those who manage access),
        # 11 the evidence with its collectors, 12 the active legal hold (the evidence's custody
        #   trails are one more once there is evidence: tests/incidents/test_evidence_page.py),
        # 13 the indicators with who added them (their correlations are one more once there are
        #   indicators: tests/incidents/test_indicators_correlation.py),
        # 14 the vendors on the incident with their registry rows, 15 the registry's vendors not on
        #   it yet (the add form's choices, only for those who manage vendors),
        # 16 the affected scope rows (issue 9; the vendors' access items and questions are one
        #   more each once there are vendors: tests/incidents/test_vendors_questions.py),
        # 17 the timeline's milestones (the marking event of each kind, one query), 18 its latest
        #   key events, 19 the number of events it shows (issue 10),
        # 20 the paging state: the running escalation and the latest acknowledgement (issue 12),
        # 21-24 the notification register: the decisions, the regimes, the deadline clocks and the
        #   notices, one query each whatever their number (issue 13; tests/incidents/test_regulatory_views.py).
        with django_assert_num_queries(24):
            response = client.get(incident.get_absolute_url())
        assert response.status_code == 200
        assert response.content.decode().count('class="finding"') == items

    def test_detail_for_a_reader_skips_the_assignee_choices(
        self, login, lead, executive, incident, django_assert_num_queries
    ):
        services.task_add(incident=incident, actor=lead, title="Block the sender")
        client = login(executive)
        # session, user, incident, findings, tasks, task notes, memberships, activity, evidence,
        # legal hold, indicators, vendors, affected scope, the timeline's milestones, key events
        # and count, the paging state, the register's decisions, regimes, clocks and notices (21):
        # no assignee, member or vendor choices for a reader.
        with django_assert_num_queries(21):
            response = client.get(incident.get_absolute_url())
        assert response.context["task_form"] is None

    @pytest.mark.parametrize("reference", ["%00", "IR-2026-00%0001", "nope", "IR-26-1"])
    def test_malformed_reference_is_404(self, login, lead, reference):
        assert login(lead).get(f"/incidents/{reference}/").status_code == 404

    def test_restricted_incident_is_404_for_outsiders(self, login, outsider, executive, restricted_incident):
        for user in (outsider, executive):
            assert login(user).get(restricted_incident.get_absolute_url()).status_code == 404


class TestEdit:
    def _form(self, incident: Incident, **changes) -> dict:
        data = {
            "title": incident.title,
            "severity": incident.severity,
            "category": incident.category,
            "lead": incident.lead_id or "",
            "detected_at": incident.detected_at.strftime("%Y-%m-%dT%H:%M"),
            "summary": incident.summary,
            "records_affected": "",
            "version": incident.version,
        }
        data.update(changes)
        return data

    def test_edit_saves_and_bumps_version(self, login, lead, incident):
        response = login(lead).post(
            reverse("incidents:edit", args=[incident.reference]), self._form(incident, title="Renamed")
        )
        assert response.status_code == 302
        incident.refresh_from_db()
        assert (incident.title, incident.version) == ("Renamed", 2)

    def test_stale_edit_shows_a_conflict_and_overwrites_nothing(self, login, lead, responder, incident):
        services.member_add(incident=incident, user=responder, actor=lead)
        form = self._form(incident, title="Responder's title", severity="critical")  # loaded at version 1
        services.incident_update(incident=incident, actor=lead, version=1, changes={"title": "Lead's title"})
        response = login(responder).post(reverse("incidents:edit", args=[incident.reference]), form)
        assert response.status_code == 409
        body = response.content.decode()
        # Who changed it and what, not "someone else" (field by field: tests/incidents/test_edit_conflict.py).
        assert f"{incident.reference} changed while you were editing" in body
        assert f"Changed by <strong>{lead}</strong>" in body
        assert "someone else" not in body
        assert "Lead&#x27;s title" in body
        # Both changed the title: no one-click merge.
        assert "You both changed title" in body
        assert "Apply my changes on top of theirs" not in body
        incident.refresh_from_db()
        assert (incident.title, incident.severity, incident.version) == ("Lead's title", "medium", 2)

    def test_edit_is_404_on_an_invisible_incident(self, login, outsider, restricted_incident):
        url = reverse("incidents:edit", args=[restricted_incident.reference])
        assert login(outsider).get(url).status_code == 404

    def test_a_writer_who_is_not_a_member_cannot_edit(self, login, outsider, incident):
        client = login(outsider)
        page = client.get(reverse("incidents:detail", args=[incident.reference])).content.decode()
        assert "Move to" not in page and ">Edit</a>" not in page
        assert client.get(reverse("incidents:edit", args=[incident.reference])).status_code == 403
        response = client.post(reverse("incidents:edit", args=[incident.reference]), self._form(incident, title="X"))
        assert response.status_code == 403
        incident.refresh_from_db()
        assert (incident.title, incident.version) == ("Phishing wave against finance", 1)

    def test_a_responder_member_sees_lead_and_restricted_disabled(self, login, lead, responder, incident):
        services.member_add(incident=incident, user=responder, actor=lead)
        client = login(responder)
        url = reverse("incidents:edit", args=[incident.reference])
        form = client.get(url).context["form"]
        assert (form.fields["lead"].disabled, form.fields["restricted"].disabled) == (True, True)
        # Posting them anyway changes nothing: a disabled field keeps its initial value.
        response = client.post(url, self._form(incident, title="Renamed", restricted="on", lead=responder.pk))
        assert response.status_code == 302
        incident.refresh_from_db()
        assert (incident.title, incident.restricted, incident.lead) == ("Renamed", False, lead)

    def test_lowering_severity_as_a_responder_is_a_form_error(self, login, lead, responder, incident):
        services.member_add(incident=incident, user=responder, actor=lead)
        response = login(responder).post(
            reverse("incidents:edit", args=[incident.reference]), self._form(incident, severity="low")
        )
        assert response.status_code == 200
        assert "Only the incident&#x27;s lead or an admin may lower its severity." in response.content.decode()
        incident.refresh_from_db()
        assert (incident.severity, incident.version) == ("medium", 1)


class TestTransitionsAndPartials:
    def test_transition_from_the_page(self, login, lead, incident):
        client = login(lead)
        url = reverse("incidents:transition", args=[incident.reference])
        response = client.post(url, {"to": "investigating", "version": 1}, follow=True)
        assert b"is now investigating" in response.content
        incident.refresh_from_db()
        assert incident.status == Status.INVESTIGATING
        refused = client.post(url, {"to": "recovered", "version": 2}, follow=True)
        assert b"Cannot move from investigating to recovered" in refused.content
        stale = client.post(url, {"to": "contained", "version": 1}, follow=True)
        assert b"was changed by someone else" in stale.content
        incident.refresh_from_db()
        assert (incident.status, incident.version) == (Status.INVESTIGATING, 2)

    @pytest.mark.parametrize("version", ["abc", "1.0", "-1", "²", "1 "])
    def test_a_malformed_version_is_a_400_not_a_skipped_lock(self, login, lead, incident, version):
        url = reverse("incidents:transition", args=[incident.reference])
        response = login(lead).post(url, {"to": "investigating", "version": version})
        assert response.status_code == 400
        assert b"The form's version is not a number" in response.content
        incident.refresh_from_db()
        assert (incident.status, incident.version) == ("new", 1)

    def test_an_observer_gets_no_buttons_and_a_refused_transition(self, login, lead, executive, incident):
        observer = UserFactory(username="olga", role="responder")
        services.member_add(incident=incident, user=observer, actor=lead, role="observer")
        client = login(observer)
        page = client.get(reverse("incidents:detail", args=[incident.reference])).content.decode()
        assert "Move to" not in page and "Add task" not in page and "Add finding" not in page
        url = reverse("incidents:transition", args=[incident.reference])
        refused = client.post(url, {"to": "investigating", "version": 1}, follow=True)
        assert b"Only members working this incident (its lead and responders) may change its status." in (
            refused.content
        )
        incident.refresh_from_db()
        assert (incident.status, incident.version) == ("new", 1)

    def test_a_vendor_may_tick_only_their_own_tasks(self, login, lead, vendor, restricted_incident):
        own = services.task_add(
            incident=restricted_incident, actor=lead, title="Rotate CI token", assignee=vendor, internal=False
        )
        other = services.task_add(
            incident=restricted_incident, actor=lead, title="Review SSO logs", assignee=lead, internal=False
        )
        client = login(vendor)
        page = client.get(reverse("incidents:detail", args=[restricted_incident.reference])).content.decode()
        assert f"/tasks/{own.pk}/toggle/" in page
        assert f"/tasks/{other.pk}/toggle/" not in page
        toggle = "incidents:task-toggle"
        assert client.post(reverse(toggle, args=[restricted_incident.reference, own.pk])).status_code == 302
        assert client.post(reverse(toggle, args=[restricted_incident.reference, other.pk])).status_code == 403
        own.refresh_from_db()
        other.refresh_from_db()
        assert (own.done, other.done) == (True, False)

    def test_finding_added_with_htmx_returns_the_panel(self, login, responder, incident):
        url = reverse("incidents:finding-add", args=[incident.reference])
        response = login(responder).post(url, {"body": "C2 at 198.51.100.4"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="findings-panel">')
        assert "C2 at 198.51.100.4" in body
        assert Finding.objects.filter(incident=incident).count() == 1

    def test_empty_finding_shows_the_error_in_the_panel(self, login, responder, incident):
        url = reverse("incidents:finding-add", args=[incident.reference])
        response = login(responder).post(url, {"body": "  "}, HTTP_HX_REQUEST="true")
        assert b"This field is required." in response.content
        assert Finding.objects.count() == 0

    def test_without_htmx_the_form_posts_and_redirects(self, login, responder, incident):
        url = reverse("incidents:finding-add", args=[incident.reference])
        client = login(responder)
        saved = client.post(url, {"body": "Beacon every 60 s"})
        assert saved.status_code == 302 and saved["Location"] == incident.get_absolute_url()
        refused = client.post(url, {"body": ""}, follow=True)
        assert b"The finding was not saved: This field is required." in refused.content
        assert list(incident.findings.values_list("body", flat=True)) == ["Beacon every 60 s"]

    def test_task_add_and_toggle(self, login, lead, responder, incident):
        client = login(lead)
        add = reverse("incidents:task-add", args=[incident.reference])
        response = client.post(add, {"title": "Rotate VPN PSK", "assignee": responder.pk}, HTTP_HX_REQUEST="true")
        assert b"Rotate VPN PSK" in response.content
        task = incident.tasks.get()
        toggle = reverse("incidents:task-toggle", args=[incident.reference, task.pk])
        client.post(toggle, HTTP_HX_REQUEST="true")
        task.refresh_from_db()
        assert task.done and task.done_at is not None

    def test_executive_gets_403_on_writes(self, login, executive, incident):
        url = reverse("incidents:finding-add", args=[incident.reference])
        assert login(executive).post(url, {"body": "hmm"}).status_code == 403
        assert Finding.objects.count() == 0
