"""The auditor's pages (accounts/audit_views.py): who may browse the log, its filters, paging and
the CSV / JSON Lines exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEntry, Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOG = "/accounts/audit/"
CSV_HEADER = "id,at,actor,actor_name,action,object_type,object_id,incident_reference,summary,changes,ip,prev_hash,hash"


@pytest.fixture(autouse=True)
def _no_second_factor(settings) -> None:
    # Personas sign in with force_login (accounts.middleware).
    settings.MFA_ENFORCED = False


@pytest.fixture
def auditor(db) -> User:
    return UserFactory(username="audrey", role=Role.AUDITOR)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 1, hour, minute, tzinfo=UTC)


@pytest.fixture
def logged(monkeypatch, lead, responder) -> dict[str, AuditEntry]:
    """Three entries at known times, on top of whatever the personas' creation recorded."""

    def record_at(moment: datetime, **fields) -> AuditEntry:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return audit_record(**fields)

    entries = {
        "login": record_at(at(9), action="login", actor=lead, obj=lead, summary="logged in"),
        "read": record_at(
            at(10),
            action="read",
            actor=responder,
            object_type="incidents.incident",
            object_id="7",
            summary="read the restricted incident IR-2026-0007",
        ),
        "write": record_at(
            at(11),
            action="write",
            actor=lead,
            object_type="incidents.activity",
            object_id="42",
            summary='=HYPERLINK("http://evil") added a finding',
            changes={"finding_id": 3},
        ),
    }
    monkeypatch.undo()
    return entries


def shown_ids(response) -> list[int]:
    return [int(part.split('"')[0]) for part in response.content.decode().split('id="audit-')[1:]]


class TestWhoMayRead:
    def test_auditor_and_admin_see_it(self, login, auditor, admin):
        assert login(auditor).get(LOG).status_code == 200
        assert login(admin).get(LOG).status_code == 200

    @pytest.mark.parametrize("persona", ["lead", "responder", "executive", "vendor"])
    def test_everyone_else_gets_the_sites_404(self, request, login, persona):
        client = login(request.getfixturevalue(persona))
        for url in (LOG, f"{LOG}export.csv", f"{LOG}export.jsonl"):
            response = client.get(url)
            assert response.status_code == 404, url
            assert "404.html" in [template.name for template in response.templates], url

    def test_signed_out_goes_to_login(self, client):
        response = client.get(LOG)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_the_nav_link_is_shown_to_readers_only(self, login, auditor, lead):
        assert 'href="/accounts/audit/"' in login(auditor).get(reverse("incidents:list")).content.decode()
        assert 'href="/accounts/audit/"' not in login(lead).get(reverse("incidents:list")).content.decode()


class TestPage:
    def test_newest_first_in_three_queries(self, client, auditor, logged):
        client.force_login(auditor)
        client.get(LOG)  # the session's first request stamps its activity (SessionIdleTimeoutMiddleware)
        # Three: the session, the user, one page of entries (fetched one row long: no COUNT).
        with CaptureQueriesContext(connection) as queries:
            response = client.get(LOG)
        assert len(queries) == 3, [q["sql"] for q in queries]
        ids = shown_ids(response)
        signed_in = AuditEntry.objects.get(action="login", actor_name="audrey").pk  # force_login is a login
        assert ids[:4] == [signed_in, logged["write"].pk, logged["read"].pk, logged["login"].pk]
        assert ids == sorted(ids, reverse=True)

    def test_filters(self, client, auditor, logged):
        client.force_login(auditor)
        assert shown_ids(client.get(LOG, {"action": "read"})) == [logged["read"].pk]
        assert shown_ids(client.get(LOG, {"actor": "lena", "since": "2026-03-01T08:00"})) == [
            logged["write"].pk,
            logged["login"].pk,
        ]
        window = {"since": "2026-03-01T09:30", "until": "2026-03-01T10:00"}
        assert shown_ids(client.get(LOG, window)) == [logged["read"].pk]
        assert shown_ids(client.get(LOG, {"actor": "nobody"})) == []

    def test_incident_filter(self, client, auditor, lead, incident):
        client.force_login(auditor)
        mine = list(AuditEntry.objects.filter(incident_reference=incident.reference).values_list("pk", flat=True))
        assert mine  # opening it was a write
        assert shown_ids(client.get(LOG, {"incident": incident.reference})) == sorted(mine, reverse=True)

    def test_an_invalid_filter_is_shown_and_ignored(self, client, auditor, logged):
        client.force_login(auditor)
        response = client.get(LOG, {"incident": "not-a-ref", "action": "read"})
        assert response.status_code == 200
        assert "Enter a reference such as IR-2026-0042." in response.content.decode()
        assert shown_ids(response) == [logged["read"].pk]

    def test_paged_by_id(self, client, auditor, monkeypatch):
        from accounts import audit_views

        monkeypatch.setattr(audit_views, "PAGE_SIZE", 2)
        for n in range(3):
            audit_record(action="write", summary=f"n{n}")
        client.force_login(auditor)
        newest = list(AuditEntry.objects.order_by("-id").values_list("pk", flat=True))
        first = client.get(LOG)
        assert shown_ids(first) == newest[:2]
        assert f"before={newest[1]}" in first.content.decode()
        second = client.get(LOG, {"before": newest[1]})
        assert shown_ids(second) == newest[2:4]


class TestExports:
    def test_csv(self, client, auditor, logged):
        client.force_login(auditor)
        response = client.get(f"{LOG}export.csv", {"action": "write", "since": "2026-03-01T00:00"})
        assert response.status_code == 200
        assert response.streaming
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="audit-')
        text = b"".join(response.streaming_content).decode()
        assert text.splitlines()[0] == CSV_HEADER
        rows = list(csv.reader(io.StringIO(text)))[1:]
        write = logged["write"]
        assert rows == [
            [
                str(write.pk),
                "2026-03-01T11:00:00.000000+00:00",
                str(write.actor_id),
                "lena",
                "write",
                "incidents.activity",
                "42",
                "",
                # A spreadsheet would run it: written after a quote.
                '\'=HYPERLINK("http://evil") added a finding',
                '{"finding_id": 3}',
                "",
                write.prev_hash,
                write.hash,
            ]
        ]

    def test_json_lines(self, client, auditor, logged):
        client.force_login(auditor)
        response = client.get(f"{LOG}export.jsonl", {"action": "read"})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/jsonl; charset=utf-8"
        assert response["Content-Disposition"].endswith('.jsonl"')
        lines = b"".join(response.streaming_content).decode().splitlines()
        read = logged["read"]
        assert [json.loads(line) for line in lines] == [
            {
                "id": read.pk,
                "at": "2026-03-01T10:00:00.000000+00:00",
                "actor": read.actor_id,
                "actor_name": "ravi",
                "action": "read",
                "object_type": "incidents.incident",
                "object_id": "7",
                "incident_reference": "",
                "summary": "read the restricted incident IR-2026-0007",
                "changes": {},
                "ip": None,
                "prev_hash": read.prev_hash,
                "hash": read.hash,
            }
        ]

    def test_oldest_first_and_the_export_is_itself_recorded(self, client, auditor, logged):
        client.force_login(auditor)
        lines = b"".join(client.get(f"{LOG}export.jsonl").streaming_content).decode().splitlines()
        ids = [json.loads(line)["id"] for line in lines]
        assert ids == sorted(ids)
        last = json.loads(lines[-1])
        assert (last["action"], last["actor_name"], last["changes"]) == (
            "audit_export",
            "audrey",
            {"format": "jsonl", "filters": {}},
        )

    def test_an_invalid_filter_is_a_400(self, client, auditor):
        client.force_login(auditor)
        response = client.get(f"{LOG}export.csv", {"since": "yesterday"})
        assert response.status_code == 400
        assert AuditEntry.objects.filter(action="audit_export").count() == 0
