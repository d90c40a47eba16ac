"""The audit log (accounts/audit.py): the hash chain, its verification, and what is recorded."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.cache import cache
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEntry, Role
from accounts.services import api_key_create, api_key_revoke
from incidents import services
from tests.factories import UserFactory, make_incident
from tests.incidents.evidence_support import add_file, api_url

pytestmark = pytest.mark.django_db

GENESIS = "0" * 64


@pytest.fixture(autouse=True)
def _no_second_factor(settings) -> None:
    # Personas sign in with force_login or a password alone (accounts.middleware).
    settings.MFA_ENFORCED = False


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # The restricted-read window lives in the cache (locmem in tests, shared by the process).
    cache.clear()
    yield
    cache.clear()


def frozen_clock(monkeypatch, *moments: datetime) -> None:
    """timezone.now() answers ``moments`` in turn (then the last one forever)."""
    queue = list(moments)
    monkeypatch.setattr(timezone, "now", lambda: queue.pop(0) if len(queue) > 1 else queue[0])


def entries(**filters) -> list[tuple[str, str, str, str]]:
    """(action, actor_name, incident_reference, summary) of the matching entries, oldest first."""
    rows = AuditEntry.objects.filter(**filters).order_by("id")
    return [(e.action, e.actor_name, e.incident_reference, e.summary) for e in rows]


def verify() -> tuple[int, list[str]]:
    """``manage.py verify_audit`` run as from the shell: its exit status and output lines."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_audit", stdout=out)
        status = 0
    except CommandError:
        status = 1
    return status, out.getvalue().splitlines()


# --- The chain ----------------------------------------------------------------------------------
class TestChain:
    def test_two_entries_hash_as_documented(self, monkeypatch):
        """The canonical JSON is written out here, character by character: sorted keys, no
        whitespace, UTC times with microseconds, changes as stored (a time inside them as its
        ISO string), non-ASCII as itself."""
        frozen_clock(
            monkeypatch,
            datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            datetime(2026, 3, 1, 9, 30, 1, 250000, tzinfo=UTC),
        )
        first = audit_record(action="write", summary="first", changes={"b": 1, "a": "x"})
        request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.7")
        paris = dt_timezone(timedelta(hours=1))
        second = audit_record(
            action="login_failed",
            actor_name="zoë",
            summary="second  →\n entry",
            changes={"when": datetime(2026, 3, 1, 10, 30, tzinfo=paris)},
            request=request,
        )

        canonical_first = (
            '{"action":"write","actor":null,"actor_name":"","at":"2026-03-01T09:30:00.000000+00:00",'
            '"changes":{"a":"x","b":1},"incident_reference":"","ip":null,"object_id":"","object_type":"",'
            '"summary":"first"}'
        )
        canonical_second = (
            '{"action":"login_failed","actor":null,"actor_name":"zoë","at":"2026-03-01T09:30:01.250000+00:00",'
            '"changes":{"when":"2026-03-01T10:30:00+01:00"},"incident_reference":"","ip":"203.0.113.7",'
            '"object_id":"","object_type":"","summary":"second → entry"}'
        )
        first_hash = hashlib.sha256((GENESIS + canonical_first).encode()).hexdigest()
        second_hash = hashlib.sha256((first_hash + canonical_second).encode()).hexdigest()
        assert first_hash == "456a427de86d8be8bed39399e73d601ad553357d706ec497be2521a014152e30"
        assert second_hash == "f8df90d7f9b24d66f8b1d77c89d73dcfa4c9900f5c55fde885260342fe5eac9e"

        stored = list(AuditEntry.objects.order_by("id").values_list("prev_hash", "hash", "ip", "summary"))
        assert stored == [
            (GENESIS, first_hash, None, "first"),
            (first_hash, second_hash, "203.0.113.7", "second → entry"),
        ]
        assert (first.hash, second.hash) == (first_hash, second_hash)
        assert verify() == (0, [f"2 entries, chain intact (head {second_hash})"])

    def test_empty_log_is_intact(self):
        assert verify() == (0, [f"0 entries, chain intact (head {GENESIS})"])

    def test_orm_refuses_to_change_or_delete(self):
        entry = audit_record(action="write", summary="kept")
        entry.summary = "rewritten"
        with pytest.raises(PermissionError):
            entry.save()
        with pytest.raises(PermissionError):
            entry.delete()
        with pytest.raises(PermissionError):
            AuditEntry.objects.filter(pk=entry.pk).update(summary="rewritten")
        with pytest.raises(PermissionError):
            AuditEntry.objects.filter(pk=entry.pk).delete()
        assert list(AuditEntry.objects.values_list("summary", flat=True)) == ["kept"]

    def test_a_rolled_back_write_leaves_no_entry(self):
        lead = UserFactory(username="lena", role=Role.LEAD)
        incident = make_incident(opened_by=lead, lead=lead)
        before = AuditEntry.objects.count()
        with pytest.raises(RuntimeError), transaction.atomic():
            services.finding_add(incident=incident, author=lead, body="Beacon to 198.51.100.4")
            assert AuditEntry.objects.count() == before + 1  # written inside the transaction…
            raise RuntimeError("the write fails after its entry")
        assert AuditEntry.objects.count() == before  # …and gone with it
        assert verify()[0] == 0


class TestTamperDetection:
    """Each tampering is done in raw SQL, as someone with database access would."""

    @pytest.fixture
    def three(self) -> list[AuditEntry]:
        return [audit_record(action="write", summary=f"entry {n}") for n in (1, 2, 3)]

    def test_an_edited_entry(self, three):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_auditentry SET summary = 'nothing happened' WHERE id = %s", [three[1].pk])
        assert verify() == (
            1,
            [f"entry {three[1].pk}: its hash does not match its contents (edited, or inserted with a forged hash)"],
        )

    def test_an_edited_entry_whose_hash_was_recomputed(self, three):
        from accounts.audit import chain_hash, hashed_fields

        forged = AuditEntry.objects.get(pk=three[1].pk)
        forged.summary = "nothing happened"
        new_hash = chain_hash(forged.prev_hash, hashed_fields(forged))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE accounts_auditentry SET summary = %s, hash = %s WHERE id = %s",
                [forged.summary, new_hash, forged.pk],
            )
        assert verify() == (
            1,
            [
                f"entry {three[2].pk}: prev_hash does not match entry {three[1].pk}'s hash and no entry has it "
                f"(the entry between them was deleted, or entry {three[1].pk} was edited and re-hashed)"
            ],
        )

    def test_a_deleted_entry(self, three):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM accounts_auditentry WHERE id = %s", [three[1].pk])
        assert verify() == (
            1,
            [
                f"entry {three[2].pk}: prev_hash does not match entry {three[0].pk}'s hash and no entry has it "
                f"(the entry between them was deleted, or entry {three[0].pk} was edited and re-hashed)"
            ],
        )

    def test_the_first_entry_deleted(self, three):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM accounts_auditentry WHERE id = %s", [three[0].pk])
        assert verify() == (
            1,
            [f"entry {three[1].pk}: the chain does not start at it (entries before it were deleted)"],
        )

    def test_an_entry_inserted_between_two(self, postgres):
        """The forger knows the algorithm and chains their row onto the one before: the row after
        still names its real predecessor. (The id between them is one a rolled-back append used.)"""
        from accounts.audit import chain_hash, hashed_fields

        first = audit_record(action="write", summary="entry 1")
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(action="write", summary="rolled back")
            raise RuntimeError
        last = audit_record(action="write", summary="entry 2")
        free_id = first.pk + 1
        assert last.pk == first.pk + 2
        forged = AuditEntry(
            id=free_id, at=first.at, action="login", actor_name="mallory", summary="alibi", prev_hash=first.hash
        )
        forged.hash = chain_hash(first.hash, hashed_fields(forged))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_auditentry (id, at, actor_name, action, object_type, object_id, "
                "incident_reference, summary, changes, prev_hash, hash) "
                "VALUES (%s, %s, 'mallory', 'login', '', '', '', 'alibi', '{}', %s, %s)",
                [free_id, first.at, first.hash, forged.hash],
            )
        assert verify() == (
            1,
            [
                f"entry {last.pk}: chains onto entry {first.pk}, not entry {free_id} "
                f"(entries after {first.pk} up to {free_id} were inserted)"
            ],
        )

    def test_an_entry_appended_with_a_made_up_hash(self, three):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_auditentry (at, actor_name, action, object_type, object_id, "
                "incident_reference, summary, changes, prev_hash, hash) "
                "VALUES (%s, 'mallory', 'login', '', '', '', '', '{}', %s, %s) RETURNING id",
                [timezone.now(), three[2].hash, "f" * 64],
            )
            inserted = cursor.fetchone()[0]
        assert verify() == (
            1,
            [f"entry {inserted}: its hash does not match its contents (edited, or inserted with a forged hash)"],
        )

    def test_the_command_exits_1_on_a_problem(self, three):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_auditentry SET action = 'read' WHERE id = %s", [three[0].pk])
        with pytest.raises(SystemExit) as exit:
            execute_from_command_line(["manage.py", "verify_audit"])
        assert exit.value.code == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(postgres):
    """Four connections append at once; the advisory lock makes each chain onto the last."""
    barrier = threading.Barrier(4)

    def append(n: int) -> None:
        try:
            barrier.wait()
            for i in range(15):
                with transaction.atomic():
                    audit_record(action="write", summary=f"writer {n} entry {i}")
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    prev_hashes = list(AuditEntry.objects.values_list("prev_hash", flat=True))
    assert len(prev_hashes) == 60
    assert len(set(prev_hashes)) == 60  # no two entries chained onto the same one
    assert verify()[0] == 0


# --- What is recorded ---------------------------------------------------------------------------
class TestCaseWrites:
    def test_one_entry_per_activity_entry_with_old_and_new(self, lead, incident):
        before = AuditEntry.objects.count()
        services.incident_update(
            incident=incident, actor=lead, version=incident.version, changes={"title": "Phishing wave, contained"}
        )
        assert AuditEntry.objects.count() == before + 1
        entry = AuditEntry.objects.order_by("id").last()
        assert (entry.action, entry.actor_name, entry.incident_reference, entry.object_type) == (
            "write",
            "lena",
            incident.reference,
            "incidents.activity",
        )
        assert entry.summary == (
            "updated: changed title from Phishing wave against finance to Phishing wave, contained"
        )
        assert entry.changes == {
            "changes": {"title": {"old": "Phishing wave against finance", "new": "Phishing wave, contained"}}
        }

    def test_the_address_of_the_request_that_wrote(self, settings, login, lead, incident):
        """Activity constructors have no request in hand: AuditContextMiddleware lends it."""
        at = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
        settings.MIDDLEWARE = [
            *settings.MIDDLEWARE[:at],
            "accounts.audit.AuditContextMiddleware",
            *settings.MIDDLEWARE[at:],
        ]
        response = login(lead).post(
            reverse("incidents:finding-add", args=[incident.reference]),
            {"body": "Beacon to 198.51.100.4"},
            REMOTE_ADDR="198.51.100.20",
        )
        assert response.status_code == 302
        last = AuditEntry.objects.order_by("id").last()
        assert (last.action, last.actor_name, last.incident_reference, last.summary, last.ip) == (
            "write",
            "lena",
            incident.reference,
            "finding_added: added a finding",
            "198.51.100.20",
        )

    def test_a_permission_change_made_in_a_request_names_who_made_it(self, settings, login, admin, responder):
        at = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
        settings.MIDDLEWARE = [
            *settings.MIDDLEWARE[:at],
            "accounts.audit.AuditContextMiddleware",
            *settings.MIDDLEWARE[at:],
        ]
        response = login(admin).post(
            reverse("admin:accounts_user_change", args=[responder.pk]),
            {
                "username": "ravi",
                "role": "lead",
                "is_active": "on",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
            },
            REMOTE_ADDR="192.0.2.1",
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        last = AuditEntry.objects.filter(action="permission").order_by("id").last()
        assert (last.actor_name, last.ip, last.changes) == (
            "ada",
            "192.0.2.1",
            {"role": {"old": "responder", "new": "lead"}},
        )


class TestApiKeys:
    def test_created_and_revoked(self, lead):
        key, _ = api_key_create(name="siem", scopes=["incidents:read"], user=lead)
        api_key_revoke(key=key)
        api_key_revoke(key=key)  # already revoked: nothing changes, nothing recorded
        assert entries(action__startswith="api_key") == [
            ("api_key_created", "", "", f"created the API key siem ({key.prefix}…) acting as lena"),
            ("api_key_revoked", "", "", f"revoked the API key siem ({key.prefix}…)"),
        ]
        created = AuditEntry.objects.get(action="api_key_created")
        assert created.changes == {"name": "siem", "user": "lena", "scopes": ["incidents:read"], "expires_at": None}
        assert (created.object_type, created.object_id) == ("accounts.apikey", str(key.pk))

    def test_use_is_recorded_once_a_minute(self, lead, monkeypatch):
        key, raw = api_key_create(name="siem", scopes=["incidents:read"], user=lead)
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        assert client.get("/api/v1/incidents/", REMOTE_ADDR="192.0.2.44").status_code == 200
        assert client.get("/api/v1/incidents/", REMOTE_ADDR="192.0.2.44").status_code == 200
        used = list(AuditEntry.objects.filter(action="api_key_used").values_list("actor_name", "ip", "object_id"))
        assert used == [("lena", "192.0.2.44", str(key.pk))]

        later = timezone.now() + timedelta(minutes=2)
        monkeypatch.setattr(timezone, "now", lambda: later)
        assert client.get("/api/v1/incidents/").status_code == 200
        assert AuditEntry.objects.filter(action="api_key_used").count() == 2


class TestPermissionChanges:
    def test_role_and_flags_old_and_new(self, responder):
        responder.role = Role.ADMIN
        responder.is_staff = True
        responder.counsel = True
        responder.save()
        entry = AuditEntry.objects.filter(action="permission").order_by("id").last()
        assert entry.summary == "ravi: role responder → admin, counsel False → True, is_staff False → True"
        assert entry.changes == {
            "role": {"old": "responder", "new": "admin"},
            "counsel": {"old": False, "new": True},
            "is_staff": {"old": False, "new": True},
        }
        assert (entry.object_type, entry.object_id) == ("accounts.user", str(responder.pk))

    def test_deactivation(self, responder):
        responder.is_active = False
        responder.save(update_fields=["is_active"])
        assert AuditEntry.objects.filter(action="permission").order_by("id").last().changes == {
            "is_active": {"old": True, "new": False}
        }

    def test_other_changes_are_not_permission_changes(self, responder):
        before = AuditEntry.objects.count()
        responder.first_name = "Ravindra"
        responder.save()
        responder.last_login = timezone.now()
        responder.save(update_fields=["last_login"])
        assert AuditEntry.objects.count() == before

    def test_a_new_account(self, db):
        UserFactory(username="audrey", role=Role.AUDITOR)
        assert entries(action="permission") == [
            (
                "permission",
                "",
                "",
                "created audrey (role None → auditor, is_active None → True, counsel None → False, "
                "is_staff None → False, is_superuser None → False)",
            )
        ]


class TestSignIns:
    def test_login_and_logout(self, client, responder):
        response = client.post(
            reverse("login"), {"username": "ravi", "password": "correct-horse-battery"}, REMOTE_ADDR="192.0.2.9"
        )
        assert response.status_code == 302
        client.post(reverse("logout"), REMOTE_ADDR="192.0.2.9")
        assert list(
            AuditEntry.objects.filter(action__in=["login", "logout"]).values_list("action", "actor_name", "ip")
        ) == [
            ("logout", "ravi", "192.0.2.9"),
            ("login", "ravi", "192.0.2.9"),
        ]

    def test_the_address_behind_the_trusted_proxy(self, settings, client, responder):
        """The app's one client-address rule (TRUSTED_PROXY_COUNT), as the login lockout uses."""
        settings.TRUSTED_PROXY_COUNT = 1
        client.post(
            reverse("login"),
            {"username": "ravi", "password": "correct-horse-battery"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.50",
        )
        assert AuditEntry.objects.get(action="login").ip == "203.0.113.50"

    def test_failed_login_keeps_the_name_never_the_password(self, client, responder):
        response = client.post(
            reverse("login"), {"username": "ravi", "password": "Tr0ub4dor&3-guess"}, REMOTE_ADDR="192.0.2.66"
        )
        assert response.status_code == 200
        entry = AuditEntry.objects.get(action="login_failed")
        assert (entry.actor_id, entry.actor_name, entry.ip, entry.summary, entry.changes) == (
            None,
            "ravi",
            "192.0.2.66",
            "failed login as “ravi”",
            {"username": "ravi"},
        )
        row = AuditEntry.objects.filter(pk=entry.pk).values().get()
        assert "Tr0ub4dor" not in json.dumps(row, default=str)


class TestEvidenceDownloads:
    def test_page_and_api_downloads(self, login, api, lead, responder, incident):
        evidence = add_file(incident, lead)
        page = login(responder).get(
            reverse("incidents:evidence-download", args=[incident.reference, evidence.pk]), REMOTE_ADDR="192.0.2.5"
        )
        assert page.status_code == 200
        assert api("incidents:read", user=lead).get(api_url(incident, f"{evidence.pk}/download/")).status_code == 200
        assert entries(action="download") == [
            ("download", "ravi", incident.reference, "downloaded the evidence “auth.log”"),
            ("download", "lena", incident.reference, "downloaded the evidence “auth.log”"),
        ]
        first = AuditEntry.objects.filter(action="download").order_by("id").first()
        assert (first.ip, first.object_type, first.object_id) == ("192.0.2.5", "incidents.evidence", str(evidence.pk))

    def test_a_refused_download_is_not_a_download(self, login, lead, executive, incident):
        evidence = add_file(incident, lead)
        url = reverse("incidents:evidence-download", args=[incident.reference, evidence.pk])
        assert login(executive).get(url).status_code == 403
        assert entries(action="download") == []


class TestRestrictedReads:
    def page(self, client, incident):
        return client.get(incident.get_absolute_url())

    def test_once_per_person_per_incident_per_15_minutes(self, login, responder, restricted_incident, monkeypatch):
        client = login(responder)
        assert self.page(client, restricted_incident).status_code == 200
        assert self.page(client, restricted_incident).status_code == 200
        reads = [(restricted_incident.reference, "ravi")]
        assert list(AuditEntry.objects.filter(action="read").values_list("incident_reference", "actor_name")) == reads

        # The cache forgets (another worker, a restart): the database still knows.
        cache.clear()
        assert self.page(client, restricted_incident).status_code == 200
        assert AuditEntry.objects.filter(action="read").count() == 1

        later = timezone.now() + timedelta(minutes=15, seconds=1)
        monkeypatch.setattr(timezone, "now", lambda: later)
        cache.clear()
        assert self.page(client, restricted_incident).status_code == 200
        assert AuditEntry.objects.filter(action="read").count() == 2

    def test_once_committed_the_cache_answers_repeats_without_a_query(
        self, login, responder, restricted_incident, django_capture_on_commit_callbacks
    ):
        client = login(responder)
        with django_capture_on_commit_callbacks(execute=True):
            assert self.page(client, restricted_incident).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            assert self.page(client, restricted_incident).status_code == 200
        assert [q["sql"] for q in queries if "accounts_auditentry" in q["sql"]] == []
        assert AuditEntry.objects.filter(action="read").count() == 1

    def test_each_person_and_incident_counts_apart(self, login, lead, responder, restricted_incident):
        other = make_incident(opened_by=lead, lead=lead, restricted=True, title="Second restricted")
        services.member_add(incident=other, user=responder, actor=lead)
        self.page(login(responder), restricted_incident)
        self.page(login(responder), other)
        self.page(login(lead), restricted_incident)
        assert entries(action="read") == [
            (
                "read",
                "ravi",
                restricted_incident.reference,
                f"read the restricted incident {restricted_incident.reference}",
            ),
            ("read", "ravi", other.reference, f"read the restricted incident {other.reference}"),
            (
                "read",
                "lena",
                restricted_incident.reference,
                f"read the restricted incident {restricted_incident.reference}",
            ),
        ]

    def test_an_admin_who_is_not_a_member_is_audited(self, login, admin, restricted_incident):
        assert self.page(login(admin), restricted_incident).status_code == 200
        assert entries(action="read") == [
            (
                "read",
                "ada",
                restricted_incident.reference,
                f"read the restricted incident {restricted_incident.reference}",
            )
        ]

    def test_api_retrieve(self, api, responder, restricted_incident):
        response = api("incidents:read", user=responder).get(f"/api/v1/incidents/{restricted_incident.reference}/")
        assert response.status_code == 200
        assert response.json()["reference"] == restricted_incident.reference
        assert entries(action="read") == [
            (
                "read",
                "ravi",
                restricted_incident.reference,
                f"read the restricted incident {restricted_incident.reference}",
            )
        ]

    def test_unrestricted_incidents_and_lists_are_not_audited_reads(self, login, api, responder, incident):
        assert self.page(login(responder), incident).status_code == 200
        assert api("incidents:read", user=responder).get(f"/api/v1/incidents/{incident.reference}/").status_code == 200
        assert entries(action="read") == []

    def test_a_refused_read_is_not_a_read(self, login, outsider, restricted_incident):
        assert self.page(login(outsider), restricted_incident).status_code == 404
        assert entries(action="read") == []

    def test_a_live_poll_with_nothing_new_is_not_a_read(self, login, responder, restricted_incident, monkeypatch):
        import re

        client = login(responder)
        page = self.page(client, restricted_incident).content.decode()
        token = re.search(r'data-live-since="([^"]+)"', page).group(1)
        # Past the window, the poll is still not a read.
        later = timezone.now() + timedelta(minutes=20)
        monkeypatch.setattr(timezone, "now", lambda: later)
        cache.clear()
        poll = client.get(
            reverse("incidents:live", args=[restricted_incident.reference]), {"since": token}, HTTP_HX_REQUEST="true"
        )
        assert poll.status_code == 204
        assert AuditEntry.objects.filter(action="read").count() == 1
