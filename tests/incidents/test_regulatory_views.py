"""The notification register in the browser: the incident page's panel (who sees it, who gets
its forms, decisions, clocks) and the notice page (draft → revise → approve → send, a stale
version, exports' headers). Vendor collaborators get a 404 on every register URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from incidents.models import (
    Activity,
    Applicability,
    DeadlineClock,
    Notice,
    NoticeStatus,
    NoticeVersion,
    Regime,
    RegulatoryAssessment,
)
from incidents.regulatory import services
from tests.factories import UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
MARKING = "Privileged &amp; confidential — prepared at the direction of counsel"


@pytest.fixture(autouse=True)
def builtin_regimes(db, builtin_rows) -> None:
    """The built-in regimes of migration 0016 (tests/conftest.py ``builtin_rows``)."""


@pytest.fixture
def gdpr(builtin_regimes) -> Regime:
    return Regime.objects.get(slug="gdpr-art33")


@pytest.fixture
def applying(incident, lead, gdpr) -> Regime:
    services.assessment_decide(
        incident=incident, regime=gdpr, decision="applies", reason="Customer e-mails exfiltrated", actor=lead
    )
    return gdpr


@pytest.fixture
def clock(incident, lead, applying) -> DeadlineClock:
    return services.clock_set(
        incident=incident,
        regime=applying,
        stage="notification",
        start_event="awareness",
        started_at=timezone.now() - timedelta(hours=2),
        reason="SOC confirmed the exfiltration",
        actor=lead,
    )


@pytest.fixture
def notice(incident, lead, applying) -> Notice:
    return services.notice_draft(incident=incident, regime=applying, stage="notification", actor=lead)


def register(incident) -> str:
    return f"/incidents/{incident.reference}/register"


def notice_url(notice: Notice) -> str:
    return f"/incidents/{notice.incident.reference}/register/notices/{notice.pk}/"


# --- Who sees the panel and its forms ---------------------------------------------------------------
class TestPanel:
    def test_the_lead_sees_every_regime_with_the_decision_form(self, login, lead, incident):
        body = login(lead).get(incident.get_absolute_url()).content.decode()
        assert 'id="register-panel"' in body
        for slug in ("gdpr-art33", "gdpr-art34", "nis2", "sec-8k", "hipaa", "us-state", "contractual"):
            assert f'data-regime="{slug}"' in body
        assert body.count("Not assessed") == 7
        assert f'action="{register(incident)}/gdpr-art33/decide/"' in body

    def test_a_reader_sees_the_register_without_forms(self, login, lead, executive, incident, applying, notice):
        body = login(executive).get(incident.get_absolute_url()).content.decode()
        assert 'id="register-panel"' in body
        assert "Customer e-mails exfiltrated" in body
        assert "/decide/" not in body and "/clock/" not in body and "Draft notice" not in body
        assert notice.title in body  # the notice is listed, and readable on its page

    def test_a_responder_drafts_but_does_not_decide(self, login, lead, responder, incident, applying):
        from incidents import services as case_services

        case_services.member_add(incident=incident, user=responder, actor=lead)
        body = login(responder).get(incident.get_absolute_url()).content.decode()
        assert "/decide/" not in body and "/clock/" not in body
        assert f'action="{register(incident)}/gdpr-art33/notices/"' in body

    def test_counsel_decides_on_an_incident_they_only_read(self, login, incident):
        counsel = UserFactory(username="cora", role=Role.RESPONDER, counsel=True)
        body = login(counsel).get(incident.get_absolute_url()).content.decode()
        assert f'action="{register(incident)}/gdpr-art33/decide/"' in body

    def test_a_vendor_collaborator_never_sees_it(self, login, lead, vendor, restricted_incident, gdpr):
        services.assessment_decide(
            incident=restricted_incident, regime=gdpr, decision="applies", reason="Secret reasoning", actor=lead
        )
        response = login(vendor).get(restricted_incident.get_absolute_url())
        assert response.status_code == 200
        body = response.content.decode()
        assert "register-panel" not in body and "Notification register" not in body
        assert "Secret reasoning" not in body
        assert response.context["register"].rows == []  # and the register was never queried

    def test_the_panel_costs_four_queries_for_a_lead(
        self, login, lead, incident, applying, clock, notice, django_assert_num_queries
    ):
        client = login(lead)
        # The page of tests/incidents/test_views.py (24) less the task notes (no tasks here):
        # 23, of which 4 are the register (decisions, regimes, clocks, notices): the same with
        # a decision, a clock and a notice as with none.
        with django_assert_num_queries(23):
            body = client.get(incident.get_absolute_url()).content.decode()
        assert body.count('class="clock clock-running"') == 1
        assert body.count('class="notice-item"') == 1

    def test_the_panel_costs_four_queries_for_a_reader(
        self, login, executive, incident, applying, clock, notice, django_assert_num_queries
    ):
        client = login(executive)
        # The reader's page (tests/incidents/test_views.py: 21) less the task notes: 20.
        with django_assert_num_queries(20):
            body = client.get(incident.get_absolute_url()).content.decode()
        assert 'data-countdown datetime="' in body

    def test_no_query_for_a_vendor_collaborator(
        self, postgres, login, lead, vendor, restricted_incident, django_assert_num_queries
    ):
        # Counts on PostgreSQL: the audit log's append takes an advisory lock there (none on SQLite).
        client = login(vendor)
        client.get(restricted_incident.get_absolute_url())
        # 16: the vendor's page as it was before the register (its blocks stay empty, and it
        # reads nothing of the register's tables); + 1: the audit's look-up of the vendor's last
        # read of this restricted incident (accounts.audit.record_restricted_read: the cache that
        # spares it is set on commit, which a test's transaction never reaches).
        with django_assert_num_queries(17) as captured:
            client.get(restricted_incident.get_absolute_url())
        tables = " ".join(query["sql"] for query in captured.captured_queries)
        for table in ("incidents_regime", "incidents_regulatoryassessment", "incidents_deadlineclock"):
            assert table not in tables


# --- Decisions ---------------------------------------------------------------------------------------
class TestDecide:
    def test_applies_is_recorded_with_who_and_why(self, login, lead, incident, gdpr):
        assert not RegulatoryAssessment.objects.exists()
        response = login(lead).post(
            f"{register(incident)}/gdpr-art33/decide/", {"decision": "applies", "reason": "Personal data left"}
        )
        assert response.status_code == 302
        assert response["Location"] == f"/incidents/{incident.reference}/#register-panel"
        assessment = RegulatoryAssessment.objects.get()
        assert (assessment.regime, assessment.decision, assessment.reason, assessment.decided_by) == (
            gdpr, "applies", "Personal data left", lead,
        )  # fmt: skip
        body = login(lead).get(incident.get_absolute_url()).content.decode()
        assert "Personal data left" in body and f"Decided by <strong>{lead}</strong>" in body

    def test_does_not_apply_without_a_reason_shows_the_services_error(self, login, lead, incident):
        client = login(lead)
        response = client.post(f"{register(incident)}/gdpr-art33/decide/", {"decision": "does_not_apply"}, **HTMX)
        assert response.status_code == 200  # inside the htmx swap
        body = response.content.decode()
        assert "Say why it does not apply: the reasoning is part of the register." in body
        assert not RegulatoryAssessment.objects.exists()
        # Without htmx: the incident page again, with the form open and its error.
        response = client.post(f"{register(incident)}/gdpr-art33/decide/", {"decision": "does_not_apply"})
        assert response.status_code == 400
        assert "Say why it does not apply: the reasoning is part of the register." in response.content.decode()

    def test_does_not_apply_with_a_reason(self, login, lead, incident):
        response = login(lead).post(
            f"{register(incident)}/hipaa/decide/",
            {"decision": "does_not_apply", "reason": "No PHI: no health data in scope"},
            **HTMX,
        )
        assert response.status_code == 200
        assert "HIPAA breach notification: does not apply." in response.content.decode()
        assert RegulatoryAssessment.objects.get().decision == Applicability.DOES_NOT_APPLY

    def test_a_responder_is_refused_with_403(self, login, responder, incident):
        response = login(responder).post(f"{register(incident)}/gdpr-art33/decide/", {"decision": "applies"})
        assert response.status_code == 403
        assert not RegulatoryAssessment.objects.exists()

    def test_an_unknown_regime_is_404(self, login, lead, incident):
        response = login(lead).post(f"{register(incident)}/no-such/decide/", {"decision": "applies"})
        assert response.status_code == 404


# --- Clocks --------------------------------------------------------------------------------------------
class TestClock:
    def test_set_the_awareness_clock_and_see_its_due_time(self, login, lead, incident, applying, settings):
        settings.TIME_ZONE = "Europe/Berlin"
        client = login(lead)
        body = client.get(incident.get_absolute_url()).content.decode()
        assert "not started: set its starting event." in body
        assert "Start time (Europe/Berlin)" in body
        response = client.post(
            f"{register(incident)}/gdpr-art33/clock/",
            {
                "stage": "notification",
                "start_event": "awareness",
                "started_at": "2026-01-05T09:30",  # Berlin wall time: 08:30 UTC
                "reason": "The SOC lead read the exfiltration alert",
            },
            **HTMX,
        )
        assert response.status_code == 200
        clock = DeadlineClock.objects.get()
        assert clock.started_at == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
        assert clock.due_at == datetime(2026, 1, 8, 8, 30, tzinfo=UTC)
        assert (clock.started_by, clock.start_reason) == (lead, "The SOC lead read the exfiltration alert")
        body = response.content.decode()
        assert "GDPR Art. 33 — supervisory authority, Notification (72 h): due 2026-01-08 09:30 CET." in body
        assert '<time class="clock-due" datetime="2026-01-08T09:30:00+01:00">8 Jan 2026 09:30 CET</time>' in body
        assert clock.explanation in body
        assert "overdue by" in body  # 2026-01-08 is long past: missed, counting up in red
        assert 'class="countdown overdue"' in body

    def test_a_future_start_is_refused_on_the_form(self, login, lead, incident, applying):
        later = timezone.localtime(timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        response = login(lead).post(
            f"{register(incident)}/gdpr-art33/clock/",
            {"stage": "notification", "start_event": "awareness", "started_at": later, "reason": "Guess"},
            **HTMX,
        )
        assert "The starting event cannot be in the future." in response.content.decode()
        assert not DeadlineClock.objects.exists()

    def test_a_missing_reason_is_the_forms_error(self, login, lead, incident, applying):
        response = login(lead).post(
            f"{register(incident)}/gdpr-art33/clock/",
            {"stage": "notification", "start_event": "awareness", "started_at": "2026-01-05T09:30", "reason": ""},
        )
        assert response.status_code == 400
        assert not DeadlineClock.objects.exists()


# --- Notices: draft → revise → approve → send ---------------------------------------------------------
class TestNoticeFlow:
    def test_draft_revise_approve_send(self, login, lead, incident, applying, clock):
        client = login(lead)
        assert not Notice.objects.exists()

        response = client.post(f"{register(incident)}/gdpr-art33/notices/", {"stage": "notification"})
        notice = Notice.objects.get()
        assert response.status_code == 302 and response["Location"] == notice_url(notice)
        assert (notice.status, notice.version, notice.stage) == ("draft", 1, "notification")
        page = client.get(notice_url(notice)).content.decode()
        assert MARKING in page
        assert f"<h1>{incident.title}</h1>" in page  # the template's heading, rendered from Markdown
        assert "Approve version 1" in page and 'name="body"' in page
        assert "Record as sent" not in page

        response = client.post(notice_url(notice), {"body": "# Notice\n\nWe were breached.", "version": "1"})
        assert response.status_code == 302
        notice.refresh_from_db()
        assert (notice.version, notice.body) == (2, "# Notice\n\nWe were breached.")
        assert list(NoticeVersion.objects.filter(notice=notice).values_list("number", flat=True)) == [1, 2]

        response = client.post(f"{notice_url(notice)}approve/", {"version": "2"})
        assert response.status_code == 302
        notice.refresh_from_db()
        assert (notice.status, notice.approved_by, notice.approved_version) == ("approved", lead, 2)
        page = client.get(notice_url(notice)).content.decode()
        assert "Record as sent" in page and "Approve version" not in page
        assert MARKING in page  # still privileged until sent

        response = client.post(
            f"{notice_url(notice)}send/",
            {"sent_at": "2026-01-06T10:00", "channel": "Portal", "recipient": "CNIL", "authority_reference": "N-42"},
        )
        assert response.status_code == 302
        notice.refresh_from_db()
        assert (notice.status, notice.recipient, notice.authority_reference) == ("sent", "CNIL", "N-42")
        clock.refresh_from_db()
        assert clock.stopped_at == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)  # TIME_ZONE is UTC here
        page = client.get(notice_url(notice)).content.decode()
        assert MARKING not in page
        assert 'name="body"' not in page and "Record as sent" not in page
        assert "CNIL via Portal, their reference N-42" in page
        body = client.get(incident.get_absolute_url()).content.decode()
        assert 'class="clock clock-stopped"' in body and "the notice was sent" in body
        verbs = list(Activity.objects.filter(incident=incident).values_list("verb", flat=True).order_by("id"))
        assert verbs[-4:] == ["notice_drafted", "notice_revised", "notice_approved", "notice_sent"]

    def test_a_stale_version_is_a_conflict_not_a_500(self, login, lead, responder, incident, notice):
        from incidents import services as case_services

        case_services.member_add(incident=incident, user=responder, actor=lead)
        services.notice_revise(notice=notice, body="Lead's text", actor=lead, version=1)
        response = login(responder).post(notice_url(notice), {"body": "Responder's text", "version": "1"})
        assert response.status_code == 409
        body = response.content.decode()
        assert "was changed by someone else (you had version 1, it is now 2)" in body
        assert "Responder&#x27;s text" in body  # what they typed is kept
        assert 'name="version" value="2"' in body  # saving again is a deliberate overwrite
        notice.refresh_from_db()
        assert (notice.version, notice.body) == (2, "Lead's text")

    def test_approving_a_version_that_is_not_the_current_one_is_a_conflict(self, login, lead, incident, notice):
        services.notice_revise(notice=notice, body="Second text", actor=lead, version=1)
        client = login(lead)
        page = client.get(f"{notice_url(notice)}versions/1/").content.decode()
        assert "Version 1 (not the current text)" in page and "Approve version 1" in page
        response = client.post(f"{notice_url(notice)}approve/", {"version": "1"})
        assert response.status_code == 409
        notice.refresh_from_db()
        assert notice.status == NoticeStatus.DRAFT

    def test_sending_a_draft_is_refused(self, login, lead, incident, notice):
        response = login(lead).post(
            f"{notice_url(notice)}send/", {"sent_at": "2026-01-06T10:00", "channel": "Portal", "recipient": "CNIL"}
        )
        assert response.status_code == 400
        assert "Approve the notice first: only an approved version is sent." in response.content.decode()
        notice.refresh_from_db()
        assert notice.status == NoticeStatus.DRAFT

    def test_a_reader_reads_but_may_not_approve(self, login, executive, incident, notice):
        client = login(executive)
        page = client.get(notice_url(notice)).content.decode()
        assert "Approve version" not in page and 'name="body"' not in page
        assert client.post(f"{notice_url(notice)}approve/", {"version": "1"}).status_code == 403
        assert client.post(notice_url(notice), {"body": "x", "version": "1"}).status_code == 403
        notice.refresh_from_db()
        assert (notice.status, notice.version) == ("draft", 1)

    @pytest.mark.parametrize(
        ("fmt", "content_type"),
        [("md", "text/markdown; charset=utf-8"), ("html", "text/html; charset=utf-8"), ("pdf", "application/pdf")],
    )
    def test_exports_are_attachments(self, login, lead, incident, notice, fmt, content_type):
        response = login(lead).get(f"{notice_url(notice)}export.{fmt}")
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"] == (
            f'attachment; filename="{incident.reference.lower()}-notice-{notice.pk}-v1.{fmt}"'
        )
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Legal-Privilege"] == "Privileged & confidential - prepared at the direction of counsel"


# --- Vendor collaborators: 404 everywhere -------------------------------------------------------------
def test_every_register_url_is_404_for_a_vendor_collaborator(login, lead, vendor, restricted_incident, gdpr):
    services.assessment_decide(incident=restricted_incident, regime=gdpr, decision="applies", reason="x", actor=lead)
    notice = services.notice_draft(incident=restricted_incident, regime=gdpr, actor=lead)
    base = register(restricted_incident)
    page = notice_url(notice)
    client = login(vendor)
    assert client.get(restricted_incident.get_absolute_url()).status_code == 200  # they are on the incident
    gets = [page, f"{page}versions/1/", f"{page}export.md", f"{page}export.html", f"{page}export.pdf"]
    posts = [
        (f"{base}/gdpr-art33/decide/", {"decision": "applies", "reason": "x"}),
        (f"{base}/gdpr-art33/clock/", {"stage": "notification", "start_event": "awareness",
                                       "started_at": "2026-01-05T09:30", "reason": "x"}),
        (f"{base}/gdpr-art33/notices/", {}),
        (page, {"body": "x", "version": "1"}),
        (f"{page}approve/", {"version": "1"}),
        (f"{page}send/", {"sent_at": "2026-01-06T10:00", "channel": "Portal", "recipient": "CNIL"}),
    ]  # fmt: skip
    assert [client.get(url).status_code for url in gets] == [404] * len(gets)
    assert [client.post(url, data).status_code for url, data in posts] == [404] * len(posts)
    notice.refresh_from_db()
    assert (notice.status, notice.version, DeadlineClock.objects.count(), Notice.objects.count()) == (
        "draft", 1, 0, 1,
    )  # fmt: skip


def test_an_outsider_gets_404_on_a_restricted_incidents_register(login, lead, outsider, restricted_incident, gdpr):
    services.assessment_decide(incident=restricted_incident, regime=gdpr, decision="applies", reason="x", actor=lead)
    notice = services.notice_draft(incident=restricted_incident, regime=gdpr, actor=lead)
    client = login(outsider)
    assert client.get(notice_url(notice)).status_code == 404
    assert client.get(f"{notice_url(notice)}export.pdf").status_code == 404
