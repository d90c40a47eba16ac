"""Writes that used to leave no audit entry (issue 14): API keys changed in the admin, anything
saved through the admin, bulk ``update()`` of people's permissions; the audit page's index on
``actor_name``; the second-factor middleware's per-request device query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import connection
from django.db.models import F, Value
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import tasks
from accounts.audit import chain_problems
from accounts.models import APIKey, AuditEntry, Role, User
from accounts.services import api_key_create
from incidents.models import Membership
from notifications.models import Channel, EscalationPolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SLACK_URL = "https://hooks.slack.com/services/T000/B000/very-secret-token"
SLACK_URL_FINGERPRINT = "sha256:72f0217b7abf"  # sha256(SLACK_URL)[:12], worked out once by hand


def recorded(**filters) -> list[tuple[str, str, str, str, dict]]:
    """(action, actor_name, object_type, object_id, changes) of the matching entries, oldest first."""
    rows = AuditEntry.objects.filter(**filters).order_by("id")
    return [(e.action, e.actor_name, e.object_type, e.object_id, e.changes) for e in rows]


@pytest.fixture
def key(db) -> APIKey:
    key, _ = api_key_create(name="siem", scopes=["incidents:read"])
    return key


# --- 1. API keys in the admin -----------------------------------------------------------------
class TestAPIKeyAdmin:
    def change_url(self, key: APIKey) -> str:
        return reverse("admin:accounts_apikey_change", args=[key.pk])

    def test_revoke_selected_keys_goes_through_the_service(self, login, admin, key):
        assert key.revoked_at is None
        response = login(admin).post(
            reverse("admin:accounts_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}
        )
        assert response.status_code == 302
        key.refresh_from_db()
        assert key.revoked_at is not None
        [entry] = AuditEntry.objects.filter(action="api_key_revoked")
        assert (entry.actor_name, entry.object_type, entry.object_id) == ("ada", "accounts.apikey", str(key.pk))
        # Stored as JSON: the time to the millisecond, in UTC.
        assert entry.changes == {"revoked_at": {"old": None, "new": key.revoked_at.isoformat()[:23] + "Z"}}

    def test_revoked_at_cannot_be_set_in_the_change_form(self, login, admin, key):
        response = login(admin).post(
            self.change_url(key),
            {
                "name": "siem",
                "scopes": '["incidents:read"]',
                "expires_at_0": "",
                "expires_at_1": "",
                "revoked_at_0": "2026-01-01",
                "revoked_at_1": "10:00:00",
            },
        )
        assert response.status_code == 302
        key.refresh_from_db()
        assert key.revoked_at is None
        assert recorded(action="api_key_revoked") == []
        assert recorded(action="api_key_changed") == []

    def test_changing_scopes_and_expiry_records_old_and_new(self, login, admin, key):
        response = login(admin).post(
            self.change_url(key),
            {
                "name": "siem",
                "scopes": '["incidents:read", "incidents:write"]',
                "expires_at_0": "2099-03-01",
                "expires_at_1": "09:30:00",
            },
        )
        assert response.status_code == 302
        key.refresh_from_db()
        assert (key.scopes, key.expires_at) == (
            ["incidents:read", "incidents:write"],
            datetime(2099, 3, 1, 9, 30, tzinfo=UTC),
        )
        assert recorded(action="api_key_changed") == [
            (
                "api_key_changed",
                "ada",
                "accounts.apikey",
                str(key.pk),
                {
                    "scopes": {"old": ["incidents:read"], "new": ["incidents:read", "incidents:write"]},
                    "expires_at": {"old": None, "new": "2099-03-01T09:30:00Z"},
                },
            )
        ]
        # The admin's own entry (gap 2) sits beside it; the digest is never in either.
        [admin_entry] = AuditEntry.objects.filter(action="admin")
        assert admin_entry.changes["action_flag"] == "changed"
        assert admin_entry.changes["change_message"] == "Changed Scopes and Expires at."
        assert set(admin_entry.changes["fields"]) == {"scopes", "expires_at"}

    def test_a_past_expiry_or_an_unknown_scope_is_a_form_error_and_records_nothing(self, login, admin, key):
        response = login(admin).post(
            self.change_url(key),
            {"name": "siem", "scopes": '["incidents:rule"]', "expires_at_0": "2001-01-01", "expires_at_1": "00:00:00"},
        )
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert errors["scopes"] == [
            "Unknown scope(s): incidents:rule. Known: incidents:read, incidents:write, alerts:write."
        ]
        assert errors["expires_at"] == ["The expiry must be in the future."]
        key.refresh_from_db()
        assert (key.scopes, key.expires_at) == (["incidents:read"], None)
        assert recorded(action__in=["api_key_changed", "admin"]) == []

    def test_keys_are_revoked_not_deleted(self, login, admin, key):
        client = login(admin)
        assert client.get(reverse("admin:accounts_apikey_delete", args=[key.pk])).status_code == 403
        assert APIKey.objects.filter(pk=key.pk).exists()


# --- 2. Anything saved through the admin ------------------------------------------------------
class TestAdminWrites:
    def test_a_channel_changed_in_the_admin_records_old_and_new_but_never_the_secret(self, login, admin):
        channel = Channel.objects.create(name="soc", kind="slack", target=SLACK_URL, secret="s3cr3t")
        response = login(admin).post(
            reverse("admin:notifications_channel_change", args=[channel.pk]),
            {"name": "soc-oncall", "kind": "slack", "target": SLACK_URL, "secret": "n3w-s3cr3t", "active": ""},
        )
        assert response.status_code == 302
        [entry] = AuditEntry.objects.filter(action="admin")
        assert (entry.actor_name, entry.object_type, entry.object_id) == (
            "ada",
            "notifications.channel",
            str(channel.pk),
        )
        assert entry.summary == (
            "admin: changed notifications.channel “soc-oncall (Slack incoming webhook)”. "
            "Changed Name, Secret and Active."
        )
        fields = entry.changes["fields"]
        assert fields["name"] == {"old": "soc", "new": "soc-oncall"}
        assert fields["active"] == {"old": True, "new": False}
        assert set(fields["secret"]) == {"old", "new"}
        assert fields["secret"]["old"].startswith("sha256:") and fields["secret"]["new"].startswith("sha256:")
        assert "target" not in fields  # unchanged
        assert "s3cr3t" not in str(entry.changes)

    def test_a_channel_added_in_the_admin_shows_its_target_only_as_a_fingerprint(self, login, admin):
        response = login(admin).post(
            reverse("admin:notifications_channel_add"),
            {"name": "soc", "kind": "slack", "target": SLACK_URL, "secret": "s3cr3t", "active": "on"},
        )
        assert response.status_code == 302
        channel = Channel.objects.get(name="soc")
        [entry] = AuditEntry.objects.filter(action="admin")
        assert (entry.object_type, entry.object_id, entry.changes["action_flag"]) == (
            "notifications.channel",
            str(channel.pk),
            "added",
        )
        assert entry.changes["fields"]["name"] == {"old": None, "new": "soc"}
        assert entry.changes["fields"]["target"] == {"old": None, "new": SLACK_URL_FINGERPRINT}
        assert "very-secret-token" not in str(entry.changes)

    def test_delete_selected_records_every_object_once(self, login, admin):
        first = EscalationPolicy.objects.create(name="sev1", severities=["critical"])
        second = EscalationPolicy.objects.create(name="sev2", severities=["high"])
        response = login(admin).post(
            reverse("admin:notifications_escalationpolicy_changelist"),
            {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
        )
        assert response.status_code == 302
        assert not EscalationPolicy.objects.exists()
        assert [
            (action, actor, kind, pk, changes["action_flag"])
            for action, actor, kind, pk, changes in recorded(action="admin")
        ] == [
            ("admin", "ada", "notifications.escalationpolicy", str(first.pk), "deleted"),
            ("admin", "ada", "notifications.escalationpolicy", str(second.pk), "deleted"),
        ]

    def test_deleting_one_object_records_it_once(self, login, admin):
        policy = EscalationPolicy.objects.create(name="sev1", severities=["critical"])
        client = login(admin)
        response = client.post(
            reverse("admin:notifications_escalationpolicy_changelist"),
            {"action": "delete_selected", "_selected_action": [policy.pk], "post": "yes"},
        )
        assert response.status_code == 302
        other = EscalationPolicy.objects.create(name="sev2", severities=["high"])
        response = client.post(reverse("admin:notifications_escalationpolicy_delete", args=[other.pk]), {"post": "yes"})
        assert response.status_code == 302
        assert [(kind, pk, changes["action_flag"]) for _, _, kind, pk, changes in recorded(action="admin")] == [
            ("notifications.escalationpolicy", str(policy.pk), "deleted"),
            ("notifications.escalationpolicy", str(other.pk), "deleted"),
        ]
        assert list(chain_problems()) == []

    def test_a_save_outside_the_admin_takes_no_snapshot(self):
        channel = Channel.objects.create(name="soc", kind="email", target="soc@example.com")
        with CaptureQueriesContext(connection) as queries:
            channel.active = False
            channel.save()
        assert len(queries) == 1  # the UPDATE: no read of the old row
        assert recorded(action="admin") == []


# --- 3. Bulk updates of people's permissions ------------------------------------------------------
class TestUserBulkUpdate:
    def test_a_role_changed_with_update_is_a_permission_change(self, responder):
        before = AuditEntry.objects.count()
        assert User.objects.filter(pk=responder.pk).update(role=Role.ADMIN) == 1
        assert recorded()[before:] == [
            ("permission", "", "accounts.user", str(responder.pk), {"role": {"old": "responder", "new": "admin"}})
        ]
        assert AuditEntry.objects.order_by("-id").first().summary == "ravi: role responder → admin"

    @pytest.mark.parametrize(
        ("field", "old", "new"),
        [
            ("is_active", True, False),
            ("is_staff", False, True),
            ("is_superuser", False, True),
            ("counsel", False, True),
        ],
    )
    def test_every_permission_field_counts(self, responder, field, old, new):
        before = AuditEntry.objects.count()
        User.objects.filter(pk=responder.pk).update(**{field: new})
        assert recorded()[before:] == [
            ("permission", "", "accounts.user", str(responder.pk), {field: {"old": old, "new": new}})
        ]

    def test_only_the_people_it_changed_are_recorded(self, responder, outsider, executive):
        User.objects.filter(pk=outsider.pk).update(is_active=False)
        before = AuditEntry.objects.count()
        count = User.objects.filter(username__in=["ravi", "otto", "erin"]).update(is_active=False)
        assert count == 3  # what Django's update returns: rows matched
        assert [(pk, changes) for _, _, _, pk, changes in recorded()[before:]] == [
            (str(responder.pk), {"is_active": {"old": True, "new": False}}),
            (str(executive.pk), {"is_active": {"old": True, "new": False}}),
        ]

    def test_expressions_and_bulk_update_are_recorded_with_the_stored_result(self, responder, executive):
        before = AuditEntry.objects.count()
        User.objects.filter(pk=responder.pk).update(counsel=~F("counsel"))
        executive.role = Role.LEAD
        User.objects.bulk_update([executive], ["role"])
        assert [(pk, changes) for _, _, _, pk, changes in recorded()[before:]] == [
            (str(responder.pk), {"counsel": {"old": False, "new": True}}),
            (str(executive.pk), {"role": {"old": "executive", "new": "lead"}}),
        ]

    def test_an_update_of_other_fields_records_nothing_and_costs_one_query(self, responder):
        before = AuditEntry.objects.count()
        with CaptureQueriesContext(connection) as queries:
            User.objects.filter(pk=responder.pk).update(first_name=Value("Ravi"))
        assert len(queries) == 1
        assert AuditEntry.objects.count() == before

    def test_a_person_saved_in_the_admin_is_one_permission_change(self, login, admin, responder):
        # The save's receivers record the permission change (the bulk update() is not involved):
        # one entry for the role, by the signed-in admin, beside the admin's own entry.
        response = login(admin).post(
            reverse("admin:accounts_user_change", args=[responder.pk]),
            {
                "username": "ravi",
                "first_name": responder.first_name,
                "last_name": responder.last_name,
                "email": responder.email,
                "role": "lead",
                "vendor": "",
                "is_active": "on",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
            },
        )
        assert response.status_code == 302
        created, *changed = recorded(action="permission", object_id=str(responder.pk))
        assert created[4]["role"] == {"old": None, "new": "responder"}  # the fixture's account
        assert [(actor, changes) for _, actor, _, _, changes in changed] == [
            ("ada", {"role": {"old": "responder", "new": "lead"}})
        ]
        [entry] = AuditEntry.objects.filter(action="admin")
        assert entry.changes["fields"]["role"] == {"old": "responder", "new": "lead"}
        assert "password" not in entry.changes["fields"]

    def test_ending_expired_access_deactivates_a_collaborator_with_one_entry(self, vendor, restricted_incident):
        Membership.objects.filter(user=vendor).update(expires_at=timezone.now() - timedelta(seconds=1))
        before = AuditEntry.objects.filter(action="permission").count()
        assert tasks.end_expired_access() == 1
        vendor.refresh_from_db()
        assert vendor.is_active is False
        assert recorded(action="permission")[before:] == [
            ("permission", "", "accounts.user", str(vendor.pk), {"is_active": {"old": True, "new": False}})
        ]
        # Run again: nothing left to end, nothing recorded.
        assert tasks.end_expired_access() == 0
        assert AuditEntry.objects.filter(action="permission").count() == before + 1

    def test_the_manager_is_still_djangos(self):
        assert isinstance(User.objects, DjangoUserManager)
        user = User.objects.create_user("nina", "nina@example.com", "pw-long-enough-1")
        assert user.check_password("pw-long-enough-1")
        assert User.objects.get_by_natural_key("nina") == user
        superuser = User.objects.create_superuser("sam", "sam@example.com", "pw-long-enough-2")
        assert (superuser.is_staff, superuser.is_superuser) == (True, True)


# --- 4. The audit page's "Person" filter is indexed ------------------------------------------------
def test_actor_name_is_indexed_for_the_audit_pages_filter():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, AuditEntry._meta.db_table)
    indexed = [c["columns"] for c in constraints.values() if c["index"]]
    assert ["actor_name", "id"] in indexed


# --- 5. The second-factor middleware's device query ------------------------------------------------
class TestSecondFactorQuery:
    PAGE = "/accounts/audit/"  # a 404 page for a responder: the middleware runs, the view costs little

    def queries_for(self, client) -> int:
        with CaptureQueriesContext(connection) as queries:
            client.get(self.PAGE)
        return len(queries)

    def test_an_unenrolled_optional_role_costs_no_extra_query_on_an_ordinary_page(self, client, settings, responder):
        client.force_login(responder)
        client.get(self.PAGE)  # the first request starts the idle clock (a session write)
        settings.MFA_ENFORCED = False
        without_middleware = self.queries_for(client)
        settings.MFA_ENFORCED = True
        first = self.queries_for(client)
        then = self.queries_for(client)
        # Session and user (2). The first request with the middleware asks for a device (1) and
        # saves the session with the answer (and the enrolment prompt) in it: SAVEPOINT, UPDATE,
        # RELEASE (3). The next asks nothing: the same 2 as without the middleware.
        assert (without_middleware, first, then) == (2, 6, 2)

    def test_a_device_added_elsewhere_is_noticed_after_the_recheck_window(
        self, client, settings, responder, monkeypatch
    ):
        settings.MFA_ENFORCED = True
        client.force_login(responder)
        assert client.get(self.PAGE).status_code == 404
        TOTPDevice.objects.create(user=responder, name="Authenticator app", confirmed=True)
        assert client.get(self.PAGE).status_code == 404  # within the window: still the cached "no"
        later = timezone.now().timestamp() + 301
        monkeypatch.setattr("accounts.mfa.time.time", lambda: later)
        response = client.get(self.PAGE)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("mfa-verify"))

    def test_the_answer_is_never_read_for_someone_else(self, client, settings, responder):
        settings.MFA_ENFORCED = True
        client.force_login(responder)
        assert client.get(self.PAGE).status_code == 404
        enrolled = UserFactory(username="enid", role=Role.RESPONDER)
        TOTPDevice.objects.create(user=enrolled, name="Authenticator app", confirmed=True)
        session = client.session
        remembered = session["mfa_unenrolled"]
        client.force_login(enrolled)  # Django flushes the session for another person…
        session = client.session
        session["mfa_unenrolled"] = remembered  # …and a stale answer planted anyway is ignored
        session.save()
        response = client.get(self.PAGE)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("mfa-verify"))
