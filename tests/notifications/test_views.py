"""The notification pages: the bell, the inbox, the log, the channels, and acknowledging from the
incident page and through the signed link in a message.

Escalations are set up as the app sets them up: a policy made here, an incident opened through
``incidents.services.incident_open``, then ``notifications.services.sweep()`` fires the step due
at once (the kick that would run it after commit does not run inside a test's transaction).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core import mail, signing
from django.test import Client

from accounts.models import User
from incidents import services as incident_services
from incidents.models import Incident, Severity
from notifications import services
from notifications.models import (
    Acknowledgement,
    Channel,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Notification,
)

from ..factories import UserFactory

pytestmark = pytest.mark.django_db

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def policy() -> EscalationPolicy:
    """Critical incidents page their lead at once, then the team mailbox after 15 minutes."""
    policy = EscalationPolicy.objects.create(name="Critical: lead first", severities=["critical"])
    EscalationStep.objects.create(policy=policy, position=1, delay=timedelta(0), include_lead=True)
    second = EscalationStep.objects.create(policy=policy, position=2, delay=timedelta(minutes=15), include_lead=False)
    second.channels.add(Channel.objects.create(name="soc-mailbox", kind="email", target="soc@example.com"))
    return policy


@pytest.fixture
def paged(policy, lead: User, responder: User) -> Incident:
    """A responder opens a critical incident led by the lead; the sweep pages the lead."""
    incident = incident_services.incident_open(
        opened_by=responder, title="Ransom note on the file server", severity=Severity.CRITICAL, lead=lead
    )
    services.sweep()
    return incident


def _in_app(user: User, incident: Incident) -> Notification:
    return Notification.objects.get(user=user, incident=incident, transport="in_app", reason="escalation")


def _link_token(notification: Notification) -> str:
    return notification.data["acknowledge_url"].rstrip("/").rsplit("/", 1)[1]


# --- The bell -------------------------------------------------------------------------------------
class TestBell:
    def test_every_page_loads_it_with_htmx_and_pays_no_query_for_it(self, login, lead):
        body = login(lead).get("/incidents/").content.decode()
        assert 'hx-get="/notifications/bell/"' in body
        assert 'hx-trigger="load, every 60s"' in body
        assert 'aria-label="Notifications"' in body  # before htmx has loaded the count
        assert 'id="bell-count"' not in body

    def test_counts_my_unread_in_app_notifications(self, login, lead, paged, django_assert_num_queries):
        client = login(lead)
        # 1 session, 2 user, 3 the unread count (the partial index notification_unread_idx).
        with django_assert_num_queries(3):
            response = client.get("/notifications/bell/", HTTP_HX_REQUEST="true")
        body = response.content.decode()
        assert response["Cache-Control"] == "no-store"
        assert 'aria-label="Notifications: 1 unread"' in body
        assert re.search(r'id="bell-count"[^>]*>1</span>', body)
        assert 'href="/notifications/"' in body

    def test_zero_shows_no_number(self, login, responder, paged):
        body = login(responder).get("/notifications/bell/").content.decode()
        assert 'aria-label="Notifications: none unread"' in body
        assert 'id="bell-count"' not in body

    def test_signed_out_is_204_not_a_login_redirect(self, client):
        # A session expiring under an open page must not send it to the login page from the bell.
        response = client.get("/notifications/bell/", HTTP_HX_REQUEST="true")
        assert response.status_code == 204
        assert "HX-Redirect" not in response


# --- The inbox ------------------------------------------------------------------------------------
class TestInbox:
    def test_lists_only_my_notifications_unread_highlighted(self, login, lead, responder, paged):
        body = login(lead).get("/notifications/").content.decode()
        mine = _in_app(lead, paged)
        assert f'id="notification-{mine.pk}"' in body
        assert 'class="inbox-item unread"' in body
        assert f'href="/incidents/{paged.reference}/"' in body
        assert "needs acknowledgement" in body
        assert "1 unread" in body

        theirs = login(responder).get("/notifications/").content.decode()
        assert f'id="notification-{mine.pk}"' not in theirs
        assert "No notifications yet." in theirs

    def test_an_incident_i_may_no_longer_see_is_named_but_not_linked(self, login, lead, responder, outsider):
        policy = EscalationPolicy.objects.create(name="Restricted", severities=["high"])
        step = EscalationStep.objects.create(policy=policy, position=1, include_lead=False)
        step.users.add(outsider)
        incident = incident_services.incident_open(
            opened_by=lead, title="Board member phished", severity=Severity.HIGH, lead=lead
        )
        services.sweep()
        # Made restricted afterwards: the outsider (not a member) may no longer see it.
        Incident.objects.filter(pk=incident.pk).update(restricted=True)
        body = login(outsider).get("/notifications/").content.decode()
        assert incident.reference in body
        assert f'href="/incidents/{incident.reference}/"' not in body
        assert "Board member phished" not in body
        assert "no longer visible to you" in body

    def test_query_count_does_not_grow_with_rows(self, login, lead, policy, responder, django_assert_num_queries):
        for n in range(3):
            incident_services.incident_open(
                opened_by=responder, title=f"Case {n}", severity=Severity.CRITICAL, lead=lead
            )
        services.sweep()
        client = login(lead)
        # 1 session, 2 user, 3 the page's count, 4 the page's rows with their incidents, 5 which of
        # those incidents the viewer may see, 6 the unread count: the same for 3 rows as for 25.
        with django_assert_num_queries(6):
            response = client.get("/notifications/")
        assert response.content.decode().count('class="inbox-item unread"') == 3

    def test_mark_one_read_then_all(self, login, lead, policy, responder):
        first, second = (
            incident_services.incident_open(opened_by=responder, title=t, severity=Severity.CRITICAL, lead=lead)
            for t in ("One", "Two")
        )
        services.sweep()
        one, two = _in_app(lead, first), _in_app(lead, second)
        client = login(lead)
        assert Notification.objects.unread_for(lead).count() == 2

        response = client.post("/notifications/read/", {"ids": [one.pk]})
        assert response.status_code == 302 and response["Location"] == "/notifications/"
        one.refresh_from_db()
        two.refresh_from_db()
        assert one.read_at is not None and two.read_at is None

        client.post("/notifications/read/", {})
        two.refresh_from_db()
        assert two.read_at is not None
        assert 'aria-label="Notifications: none unread"' in client.get("/notifications/bell/").content.decode()

    def test_marking_someone_elses_notification_changes_nothing(self, login, lead, responder, paged):
        theirs = _in_app(lead, paged)
        login(responder).post("/notifications/read/", {"ids": [theirs.pk]})
        theirs.refresh_from_db()
        assert theirs.read_at is None

    def test_a_bad_id_is_400(self, login, lead):
        assert login(lead).post("/notifications/read/", {"ids": ["1; drop"]}).status_code == 400

    def test_get_is_not_allowed(self, login, lead):
        assert login(lead).get("/notifications/read/").status_code == 405


# --- The log --------------------------------------------------------------------------------------
class TestLog:
    @pytest.mark.parametrize("persona", ["responder", "executive", "vendor"])
    def test_is_the_sites_404_for_others(self, request, login, persona, paged):
        response = login(request.getfixturevalue(persona)).get("/notifications/log/")
        assert response.status_code == 404
        assert "There is nothing here, or nothing you have access to." in response.content.decode()

    @pytest.mark.parametrize("persona", ["lead", "admin"])
    def test_leads_and_admins_see_every_notification(self, request, login, persona, paged):
        response = login(request.getfixturevalue(persona)).get("/notifications/log/")
        body = response.content.decode()
        assert response.status_code == 200
        # The lead paged in the app and by e-mail: two rows, the e-mail already delivered or queued.
        assert body.count('class="log-row"') == 2
        assert "2 notifications" in body
        assert f'href="/incidents/{paged.reference}/"' in body
        assert "In-app" in body and "E-mail" in body

    def test_filters(self, login, lead, paged):
        client = login(lead)
        assert client.get("/notifications/log/?transport=in_app").content.decode().count('class="log-row"') == 1
        assert client.get("/notifications/log/?reason=test").content.decode().count('class="log-row"') == 0
        by_ref = client.get(f"/notifications/log/?incident={paged.reference}").content.decode()
        assert by_ref.count('class="log-row"') == 2
        other = client.get("/notifications/log/?incident=IR-1999-0001").content.decode()
        assert other.count('class="log-row"') == 0 and "No notifications match these filters." in other

    @pytest.mark.parametrize(
        ("query", "error"),
        [
            ("status=bogus", "Status: Select a valid choice. bogus is not one of the available choices."),
            ("transport=pigeon", "Transport: Select a valid choice."),
            ("incident=nope", "Incident: Enter a reference such as IR-2026-0042."),
            ("page=zzz&reason=%00", "Reason: Select a valid choice."),
        ],
    )
    def test_a_bad_value_is_a_form_error_and_left_out(self, login, lead, paged, query, error):
        response = login(lead).get(f"/notifications/log/?{query}")
        body = response.content.decode()
        assert response.status_code == 200
        assert error in body
        assert body.count('class="log-row"') == 2  # the bad filter is left out, not applied

    @pytest.mark.parametrize("incidents", [1, 6])
    def test_query_count_is_fixed(self, login, lead, responder, policy, incidents, django_assert_num_queries):
        for n in range(incidents):
            incident_services.incident_open(
                opened_by=responder, title=f"Case {n}", severity=Severity.CRITICAL, lead=lead
            )
        services.sweep()
        client = login(lead)
        # Exactly 5 whatever the number of rows: 1 session, 2 user, 3 the page's count, 4 the page's
        # notifications with their incidents, people and channels (one joined query), 5 which of
        # those incidents the viewer may see (links only to those).
        with django_assert_num_queries(5):
            response = client.get("/notifications/log/")
        assert response.content.decode().count('class="log-row"') == 2 * incidents

    def test_a_restricted_incident_the_lead_may_not_see_is_not_named(self, login, lead, admin, policy):
        other_lead = UserFactory(username="lars", role="lead")
        hidden = incident_services.incident_open(
            opened_by=other_lead, title="Secret", severity=Severity.CRITICAL, lead=other_lead, restricted=True
        )
        services.sweep()
        body = login(lead).get("/notifications/log/").content.decode()
        assert hidden.reference not in body
        assert "a restricted incident" in body
        # Filtering by its reference does not confirm it exists.
        filtered = login(lead).get(f"/notifications/log/?incident={hidden.reference}").content.decode()
        assert filtered.count('class="log-row"') == 0
        assert hidden.reference in login(admin).get("/notifications/log/").content.decode()


# --- Channels -------------------------------------------------------------------------------------
class TestChannels:
    @pytest.fixture
    def channels(self) -> list[Channel]:
        return [
            Channel.objects.create(
                name="soc-slack", kind="slack", target="https://hooks.slack.com/services/T000/B000/XXXXSECRET"
            ),
            Channel.objects.create(name="soc-mailbox", kind="email", target="soc@example.com"),
            Channel.objects.create(name="soar", kind="webhook", target="https://soar.example.net:8443/hook?key=abc"),
        ]

    @pytest.mark.parametrize("persona", ["responder", "executive", "vendor"])
    def test_is_the_sites_404_for_others(self, request, login, persona, channels):
        client = login(request.getfixturevalue(persona))
        assert client.get("/notifications/channels/").status_code == 404
        assert client.post(f"/notifications/channels/{channels[0].pk}/test/").status_code == 404
        assert not Notification.objects.exists()

    def test_targets_are_masked(self, login, lead, channels, django_assert_num_queries):
        client = login(lead)
        # 1 session, 2 user, 3 the channels with their last test (subqueries): one for all.
        with django_assert_num_queries(3):
            body = client.get("/notifications/channels/").content.decode()
        assert "https://hooks.slack.com/…" in body
        assert "XXXXSECRET" not in body and "B000" not in body
        assert "https://soar.example.net:8443/…" in body and "key=abc" not in body
        assert "soc@example.com" in body
        assert body.count("Never tested") == 3

    def test_send_test_records_a_test_notification(self, login, lead, channels, django_capture_on_commit_callbacks):
        mailbox = channels[1]
        client = login(lead)
        assert not Notification.objects.filter(reason="test").exists()
        with django_capture_on_commit_callbacks() as enqueued:
            response = client.post(f"/notifications/channels/{mailbox.pk}/test/")
        assert response.status_code == 302 and response["Location"] == "/notifications/channels/"
        row = Notification.objects.get(reason="test")
        assert (row.channel, row.transport, row.status, len(enqueued)) == (mailbox, "email", "queued", 1)
        # What the enqueued task does (a worker with a broker, in-process without one):
        assert services.notification_deliver(notification_id=row.pk) == "delivered"
        assert [m.to for m in mail.outbox] == [["soc@example.com"]]
        page = client.get("/notifications/channels/").content.decode()
        assert "Test message queued for soc-mailbox." in page
        assert "Never tested" in page and page.count("Never tested") == 2

    def test_unknown_channel_is_404(self, login, lead):
        assert login(lead).post("/notifications/channels/999999/test/").status_code == 404


# --- Acknowledging from the incident page ----------------------------------------------------------
class TestAcknowledgeButton:
    def test_the_page_shows_the_escalation_then_who_acknowledged(self, login, lead, paged):
        client = login(lead)
        escalation = Escalation.objects.get(incident=paged)
        before = client.get(paged.get_absolute_url()).content.decode()
        assert "Escalation running:" in before and "Critical: lead first" in before
        assert "next level at" in before
        assert 'id="acknowledge"' in before
        assert paged.acknowledged_at is None and escalation.stopped_at is None

        response = client.post(f"/incidents/{paged.reference}/acknowledge/")
        assert response.status_code == 302 and response["Location"] == paged.get_absolute_url()

        ack = Acknowledgement.objects.get(incident=paged)
        assert (ack.user, ack.channel, ack.escalation) == (lead, "web", escalation)
        escalation.refresh_from_db()
        paged.refresh_from_db()
        assert escalation.stopped_at is not None and escalation.next_at is None
        assert paged.acknowledged_at == ack.at
        after = client.get(paged.get_absolute_url()).content.decode()
        assert f"You acknowledged {paged.reference}: its escalation is stopped." in after
        assert f"Acknowledged by <strong>{lead}</strong>" in after and "via browser." in after
        assert 'id="acknowledge"' not in after

    def test_a_second_press_is_a_message_not_an_error(self, login, lead, responder, paged):
        login(lead).post(f"/incidents/{paged.reference}/acknowledge/")
        client = login(responder)
        response = client.post(f"/incidents/{paged.reference}/acknowledge/", follow=True)
        assert response.status_code == 200
        assert f"{paged.reference} was already acknowledged by {lead}" in response.content.decode()
        assert Acknowledgement.objects.filter(incident=paged).count() == 1

    def test_an_executive_sees_the_state_but_no_button_and_gets_403(self, login, executive, paged):
        client = login(executive)
        body = client.get(paged.get_absolute_url()).content.decode()
        assert "Escalation running:" in body and 'id="acknowledge"' not in body
        response = client.post(f"/incidents/{paged.reference}/acknowledge/")
        assert response.status_code == 403
        assert "Only responders and incident leads who may work this incident may acknowledge it." in (
            response.content.decode()
        )
        assert not Acknowledgement.objects.exists()

    def test_a_restricted_incident_is_404_for_a_non_member(self, login, outsider, lead, responder, policy):
        hidden = incident_services.incident_open(
            opened_by=responder, title="Secret", severity=Severity.CRITICAL, lead=lead, restricted=True
        )
        services.sweep()
        response = login(outsider).post(f"/incidents/{hidden.reference}/acknowledge/")
        assert response.status_code == 404
        assert not Acknowledgement.objects.exists()
        assert Escalation.objects.get(incident=hidden).stopped_at is None

    def test_no_policy_no_banner_but_the_button(self, login, lead, incident):
        # A medium incident with no policy: nothing is running, nothing acknowledged yet.
        body = login(lead).get(incident.get_absolute_url()).content.decode()
        assert "Not acknowledged yet." in body and 'id="acknowledge"' in body

    def test_get_is_not_allowed(self, login, lead, paged):
        assert login(lead).get(f"/incidents/{paged.reference}/acknowledge/").status_code == 405


# --- The signed link ----------------------------------------------------------------------------
class TestAcknowledgeLink:
    def test_get_never_acknowledges_post_does_signed_out(self, lead, paged):
        token = _link_token(_in_app(lead, paged))
        client = Client(enforce_csrf_checks=True)  # a person's link works signed out, CSRF still checked
        page = client.get(f"/ack/{token}/")
        body = page.content.decode()
        assert page.status_code == 200
        assert "Acknowledge this incident?" in body
        assert paged.reference in body and "Critical" in body
        assert "Ransom note on the file server" in body  # the lead, whose link it is, may see it
        assert Acknowledgement.objects.count() == 0
        client.get(f"/ack/{token}/")  # a mail scanner opening it again
        assert Acknowledgement.objects.count() == 0

        refused = client.post(f"/ack/{token}/")  # no CSRF token: refused
        assert refused.status_code == 403
        assert Acknowledgement.objects.count() == 0

        csrf = CSRF_FIELD.search(body).group(1)
        response = client.post(f"/ack/{token}/", {"csrfmiddlewaretoken": csrf})
        assert response.status_code == 302 and response["Location"] == f"/ack/{token}/"
        ack = Acknowledgement.objects.get()
        assert (ack.user, ack.channel, ack.notification) == (lead, "link", _in_app(lead, paged))
        assert Escalation.objects.get(incident=paged).stopped_at is not None
        done = client.get(f"/ack/{token}/").content.decode()
        assert f"{paged.reference} is acknowledged: its escalation is stopped." in done
        assert f"Acknowledged by <strong>{lead}</strong>" in done and "via link in a message." in done

    def test_already_acknowledged_says_by_whom(self, client, login, lead, responder, paged):
        login(responder).post(f"/incidents/{paged.reference}/acknowledge/")
        client.logout()
        token = _link_token(_in_app(lead, paged))
        page = client.get(f"/ack/{token}/").content.decode()
        assert "Already acknowledged" in page and f"Acknowledged by <strong>{responder}</strong>" in page
        assert "via browser." in page and 'type="submit">Acknowledge<' not in page
        response = client.post(f"/ack/{token}/")
        assert response.status_code == 409
        assert f"Acknowledged by <strong>{responder}</strong>" in response.content.decode()
        assert Acknowledgement.objects.count() == 1

    def test_a_channels_link_needs_signing_in(self, client, login, lead, responder, paged):
        channel = Channel.objects.get(name="soc-mailbox")
        services.sweep(now=paged.created_at + timedelta(minutes=16))
        row = Notification.objects.get(channel=channel, reason="escalation")
        token = _link_token(row)
        response = client.get(f"/ack/{token}/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=" + quote(f"/ack/{token}/")
        assert client.post(f"/ack/{token}/").status_code == 302  # to the login page too
        assert Acknowledgement.objects.count() == 0

        signed_in = login(responder)
        assert "Acknowledge this incident?" in signed_in.get(f"/ack/{token}/").content.decode()
        signed_in.post(f"/ack/{token}/")
        ack = Acknowledgement.objects.get()
        assert (ack.user, ack.channel, ack.notification) == (responder, "link", row)

    @pytest.mark.parametrize("token", ["garbage", "a" * 300, "eyJuIjoiMSJ9:1uX:bad"])
    def test_a_bad_token_is_400(self, client, token):
        response = client.get(f"/ack/{token}/")
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()

    def test_a_tampered_token_is_400(self, client, lead, paged):
        token = _link_token(_in_app(lead, paged))
        tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
        assert client.get(f"/ack/{tampered}/").status_code == 400
        assert client.post(f"/ack/{tampered}/").status_code == 400
        assert not Acknowledgement.objects.exists()

    def test_a_signed_token_for_a_missing_notification_is_400(self, client):
        token = signing.dumps({"n": "00000000-0000-0000-0000-000000000000"}, salt=services.ACK_LINK_SALT)
        assert client.get(f"/ack/{token}/").status_code == 400

    def test_an_expired_token_is_410(self, client, settings, lead, paged):
        token = _link_token(_in_app(lead, paged))
        settings.ACK_LINK_MAX_AGE_SECONDS = -1
        response = client.get(f"/ack/{token}/")
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
        assert client.post(f"/ack/{token}/").status_code == 410
        assert not Acknowledgement.objects.exists()

    def test_the_title_is_hidden_from_a_viewer_who_may_not_see_it(self, client, login, outsider, lead, paged):
        # A channel's link opened by someone who may not see the (now restricted) incident.
        Incident.objects.filter(pk=paged.pk).update(restricted=True)
        services.sweep(now=paged.created_at + timedelta(minutes=16))
        token = _link_token(Notification.objects.get(channel__name="soc-mailbox", reason="escalation"))
        client = login(outsider)
        body = client.get(f"/ack/{token}/").content.decode()
        assert paged.reference in body and "Ransom note" not in body
        assert client.post(f"/ack/{token}/").status_code == 403
        assert not Acknowledgement.objects.exists()


# --- The admin ------------------------------------------------------------------------------------
class TestAdmin:
    def _post(self, client, **data):
        return client.post(
            "/admin/notifications/channel/add/", {"name": "soc", "secret": "s" * 32, "active": "on", **data}
        )

    def test_a_channel_target_is_checked_for_its_kind(self, login, admin):
        client = login(admin)
        refused = self._post(client, kind="email", target="not an address")
        assert refused.status_code == 200 and not Channel.objects.exists()
        assert "errorlist" in refused.content.decode()
        saved = self._post(client, kind="email", target="  soc@example.com ")
        assert saved.status_code == 302
        assert Channel.objects.get().target == "soc@example.com"

    def test_the_services_records_are_read_only(self, login, admin, lead, paged):
        client = login(admin)
        row = _in_app(lead, paged)
        assert client.get("/admin/notifications/notification/").status_code == 200
        assert client.get("/admin/notifications/notification/add/").status_code == 403
        assert client.post(f"/admin/notifications/notification/{row.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.get("/admin/notifications/escalation/add/").status_code == 403
        assert client.get("/admin/notifications/acknowledgement/add/").status_code == 403
        assert (
            client.get(f"/admin/notifications/escalationpolicy/{paged.escalations.get().policy_id}/change/").status_code
            == 200
        )
