"""The chain of custody: how each event is chained and hashed, that recorded rows never change
through the app, and that ``verify_evidence`` names every kind of tampering done behind its back
(edit, delete and insert rows with SQL; change or remove the stored file)."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from incidents.evidence import services
from incidents.models import CustodyEvent, Evidence

from .evidence_support import AUTH_LOG, AUTH_LOG_SHA256, add_file

pytestmark = pytest.mark.django_db


def expected_hash(row: CustodyEvent) -> str:
    """The chain's format, written out: SHA-256 over these fields as compact, key-sorted JSON."""
    payload = {
        "v": 1,
        "evidence": row.evidence_id,
        "sequence": row.sequence,
        "action": row.action,
        "actor": row.actor_name,
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "recipient": row.recipient,
        "note": row.note,
        "details": row.details,
        "prev": row.prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rows(evidence: Evidence) -> list[CustodyEvent]:
    return list(CustodyEvent.objects.filter(evidence=evidence).order_by("sequence"))


@pytest.fixture
def handled(lead, responder, incident) -> Evidence:
    """auth.log, collected by lena, transferred, downloaded and exported: four events."""
    evidence = add_file(incident, lead)
    services.evidence_transfer(evidence=evidence, actor=lead, recipient="Ravi (forensics)", reason="Log analysis")
    services.evidence_access(evidence=evidence, actor=responder)
    services.evidence_export(incident=incident, actor=lead, format="csv")
    evidence.refresh_from_db()
    return evidence


def verify(*args: str) -> tuple[list[str], str | None]:
    """verify_evidence's lines and, when it fails, its error (the exit status is then 1)."""
    out = StringIO()
    try:
        call_command("verify_evidence", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue().splitlines(), str(exc)
    return out.getvalue().splitlines(), None


def sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


class TestChain:
    def test_each_event_is_chained_to_the_one_before_it_from_the_contents_hash(self, handled):
        chain = rows(handled)
        assert [(row.sequence, row.action, row.actor_name) for row in chain] == [
            (1, "collect", "lena"),
            (2, "transfer", "lena"),
            (3, "access", "ravi"),
            (4, "export", "lena"),
        ]
        assert chain[0].prev_hash == AUTH_LOG_SHA256
        assert [row.prev_hash for row in chain[1:]] == [row.hash for row in chain[:-1]]
        assert [row.hash for row in chain] == [expected_hash(row) for row in chain]
        assert (handled.custody_head, handled.custody_count) == (chain[-1].hash, 4)
        assert (chain[1].recipient, chain[1].note) == ("Ravi (forensics)", "Log analysis")

    def test_the_collect_event_records_the_evidence_as_collected(self, handled):
        recorded = rows(handled)[0].details["evidence"]
        assert recorded == {
            "kind": "file",
            "name": "auth.log",
            "stored_name": handled.stored_name,
            "size": len(AUTH_LOG),
            "content_type": "text/plain",
            "sha256": AUTH_LOG_SHA256,
            "md5": handled.md5,
            "sha1": handled.sha1,
            "collected_by": "lena",
            "collected_at": handled.collected_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "source_system": "",
            "description": "",
            "internal": False,
            "privileged": False,
            "malware": False,
            "vendor_id": None,
        }

    def test_recorded_rows_are_never_changed_or_deleted_through_the_app(self, handled):
        event = rows(handled)[1]
        event.note = "Rewritten"
        with pytest.raises(TypeError, match="append-only"):
            event.save()
        with pytest.raises(TypeError, match="append-only"):
            event.delete()
        with pytest.raises(TypeError, match="note cannot be changed"):
            CustodyEvent.objects.filter(pk=event.pk).update(note="Rewritten")
        with pytest.raises(TypeError, match="never deleted"):
            CustodyEvent.objects.filter(evidence=handled).delete()
        handled.name = "innocent.log"
        with pytest.raises(TypeError, match="never edited"):
            handled.save()
        with pytest.raises(TypeError, match="name cannot be changed"):
            Evidence.objects.filter(pk=handled.pk).update(name="innocent.log")
        with pytest.raises(TypeError, match="never deleted"):
            Evidence.objects.get(pk=handled.pk).delete()
        assert rows(Evidence.objects.get(pk=handled.pk))[1].note == "Log analysis"

    def test_the_admin_only_shows_them(self, admin, client, handled):
        client.force_login(admin)
        event = rows(handled)[0]
        assert client.get("/admin/incidents/evidence/").status_code == 200
        assert client.get(f"/admin/incidents/evidence/{handled.pk}/change/").status_code == 200
        assert client.get("/admin/incidents/custodyevent/").status_code == 200
        assert client.get("/admin/incidents/evidence/add/").status_code == 403
        assert client.get(f"/admin/incidents/evidence/{handled.pk}/delete/").status_code == 403
        assert client.post(f"/admin/incidents/custodyevent/{event.pk}/change/", {"note": "x"}).status_code == 403
        assert client.get(f"/admin/incidents/custodyevent/{event.pk}/delete/").status_code == 403
        assert rows(handled)[0].note == event.note


class TestVerifyEvidence:
    def test_a_clean_run_records_a_verify_event_on_each_item_and_exits_0(self, lead, incident, handled):
        text = services.evidence_text_add(incident=incident, actor=lead, name="Mail headers", text="Received: x\n")

        lines, error = verify()

        assert error is None
        assert lines == [
            "Verified 2 evidence items on 1 incident: content and 5 custody events intact; "
            "a verify event was recorded on each."
        ]
        assert [row.action for row in rows(handled)][-1] == "verify"
        assert (rows(handled)[-1].actor_name, rows(handled)[-1].actor_id) == ("system", None)
        assert [row.action for row in rows(text)] == ["collect", "verify"]
        # The verify events are part of the chain: the next run is clean too.
        assert verify() == (
            [
                "Verified 2 evidence items on 1 incident: content and 7 custody events intact; "
                "a verify event was recorded on each."
            ],
            None,
        )

    def test_one_incident_only(self, lead, incident, restricted_incident, handled):
        add_file(restricted_incident, lead)
        lines, error = verify("--incident", restricted_incident.reference)
        assert (lines, error) == (
            [
                f"Verified 1 evidence item of {restricted_incident.reference}: content and 1 custody event intact; "
                "a verify event was recorded on each."
            ],
            None,
        )
        assert rows(handled)[-1].action == "export"  # not verified this time
        assert verify("--incident", "IR-1999-0001") == ([], "No incident IR-1999-0001.")

    def test_an_edited_row(self, handled):
        sql(
            "UPDATE incidents_custodyevent SET note = %s WHERE evidence_id = %s AND sequence = 2",
            ["Kept it", handled.pk],
        )
        lines, error = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: custody event #2 (transfer) edited: "
            "its contents no longer match its hash"
        ]
        assert error == "1 problem in 1 of 1 evidence items on 1 incident; the 0 intact were recorded as verified."
        assert [row.action for row in rows(handled)][-1] == "export"  # nothing appended to a broken chain

    def test_an_edited_row_whose_hash_was_recomputed(self, handled):
        event = rows(handled)[1]
        event.note = "Kept it"
        sql(
            "UPDATE incidents_custodyevent SET note = %s, hash = %s WHERE id = %s",
            [event.note, expected_hash(event), event.pk],
        )
        lines, _ = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: custody chain broken at #3: "
            "it does not follow #2 (an event was deleted or rewritten)"
        ]

    def test_a_deleted_row(self, handled):
        sql("DELETE FROM incidents_custodyevent WHERE evidence_id = %s AND sequence = 3", [handled.pk])
        lines, error = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: custody event #3 deleted: "
            "#4 does not follow #2"
        ]
        assert error is not None

    def test_the_last_row_deleted(self, handled):
        sql("DELETE FROM incidents_custodyevent WHERE evidence_id = %s AND sequence = 4", [handled.pk])
        lines, _ = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: custody event #4 deleted: "
            "the evidence records 4 events, the chain ends at #3"
        ]

    def test_a_row_inserted_after_the_head_even_with_a_valid_hash(self, responder, handled):
        forged = CustodyEvent(
            evidence=handled,
            sequence=5,
            action="transfer",
            actor=responder,
            actor_name="ravi",
            at=timezone.now(),
            recipient="Shred bin",
            note="Disposed",
            details={},
            prev_hash=handled.custody_head,
        )
        forged.hash = expected_hash(forged)
        forged.save()  # a new row: only updates are refused
        lines, _ = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: custody event #5 inserted after "
            "the recorded head (#4)"
        ]

    def test_a_row_slipped_into_the_middle(self, responder, handled):
        chain = rows(handled)
        for row in reversed(chain[2:]):  # make room at #3, one row at a time (the sequence is unique)
            sql("UPDATE incidents_custodyevent SET sequence = sequence + 1 WHERE id = %s", [row.pk])
        forged = CustodyEvent(
            evidence=handled,
            sequence=3,
            action="access",
            actor=responder,
            actor_name="ravi",
            at=chain[1].at,
            prev_hash=chain[1].hash,
        )
        forged.hash = expected_hash(forged)
        forged.save()
        lines, _ = verify()
        prefix = f"{handled.incident.reference} evidence {handled.pk} “auth.log”: "
        assert lines == [
            # Renumbering the rows after it is an edit of each (the sequence is hashed)...
            prefix + "custody event #4 (access) edited: its contents no longer match its hash",
            prefix + "custody event #5 (export) edited: its contents no longer match its hash",
            # ...and the row after it still points past it.
            prefix + "custody event #3 inserted: #4 follows the event before it",
            prefix + f"head mismatch: the evidence records {handled.custody_head[:16]}… after 4 events, "
            f"the chain ends at #5 with {handled.custody_head[:16]}…",
        ]

    def test_the_head_changed(self, handled):
        sql("UPDATE incidents_evidence SET custody_head = %s WHERE id = %s", ["f" * 64, handled.pk])
        lines, _ = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: head mismatch: the evidence records "
            f"ffffffffffffffff… after 4 events, the chain ends at #4 with {handled.custody_head[:16]}…"
        ]

    def test_the_evidence_row_edited(self, handled):
        sql("UPDATE incidents_evidence SET name = %s, malware = %s WHERE id = %s", ["notes.txt", True, handled.pk])
        lines, _ = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “notes.txt”: evidence record edited: "
            "malware, name differ from the collect event"
        ]

    def test_the_file_changed_on_disk(self, handled, evidence_root):
        stored = evidence_root / "store" / handled.stored_name
        stored.write_bytes(AUTH_LOG.replace(b"root", b"toor"))
        lines, error = verify()
        changed = hashlib.sha256(AUTH_LOG.replace(b"root", b"toor")).hexdigest()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: file changed: SHA-256 is {changed} "
            f"(59 bytes), recorded {AUTH_LOG_SHA256} (59 bytes)"
        ]
        assert error is not None

    def test_the_file_missing(self, handled, evidence_root):
        (evidence_root / "store" / handled.stored_name).unlink()
        lines, _ = verify()
        assert lines == [
            f"{handled.incident.reference} evidence {handled.pk} “auth.log”: file missing from storage "
            f"({handled.stored_name})"
        ]

    def test_a_text_excerpt_changed(self, lead, incident):
        text = services.evidence_text_add(incident=incident, actor=lead, name="Headers", text="Received: a\n")
        sql("UPDATE incidents_evidence SET text = %s WHERE id = %s", ["Received: b\n", text.pk])
        lines, _ = verify()
        changed, recorded = (hashlib.sha256(text).hexdigest() for text in (b"Received: b\n", b"Received: a\n"))
        assert lines == [
            f"{incident.reference} evidence {text.pk} “Headers”: text changed: SHA-256 is {changed}, "
            f"recorded {recorded}"
        ]

    def test_problems_on_one_item_do_not_stop_the_others_being_verified(self, lead, incident, handled):
        intact = add_file(incident, lead, name="b.log", content=b"b")
        sql("DELETE FROM incidents_custodyevent WHERE evidence_id = %s AND sequence = 4", [handled.pk])
        lines, error = verify()
        assert len(lines) == 1
        assert error == "1 problem in 1 of 2 evidence items on 1 incident; the 1 intact were recorded as verified."
        assert [row.action for row in rows(intact)] == ["collect", "verify"]

    def test_the_exit_status_is_1_on_problems(self, handled):
        call_command("verify_evidence", stdout=StringIO())  # clean: returns, exit status 0
        sql("DELETE FROM incidents_custodyevent WHERE evidence_id = %s AND sequence = 2", [handled.pk])
        out = StringIO()
        with pytest.raises(CommandError) as failed:
            call_command("verify_evidence", stdout=out)
        # manage.py exits with a CommandError's returncode.
        assert failed.value.returncode == 1
        assert "custody event #2 deleted: #3 does not follow #1" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_serialize_on_the_evidence_row(postgres, lead, responder, incident):
    evidence = add_file(incident, lead)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def download() -> None:
        try:
            barrier.wait()
            services.evidence_access(
                evidence=Evidence.objects.select_related("incident").get(pk=evidence.pk), actor=responder
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=download) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    chain = rows(evidence)
    assert [row.sequence for row in chain] == list(range(1, 10))
    assert [row.prev_hash for row in chain[1:]] == [row.hash for row in chain[:-1]]
    evidence.refresh_from_db()
    assert (evidence.custody_count, evidence.custody_head) == (9, chain[-1].hash)


def test_the_demo_evidence_is_whole(evidence_root):
    call_command("seed_demo", stdout=StringIO())
    kinds = list(Evidence.objects.order_by("id").values_list("name", "kind", "malware", "privileged", "internal"))
    assert kinds == [
        ("artifact-store-audit.jsonl", "file", False, False, True),
        ("northwind-edr-timeline.csv", "file", False, False, False),  # the contractor's own
        ("stealer-sample.exe", "file", True, False, True),
        ("gdpr-exposure-memo.pdf", "file", False, True, True),
        ("Headers of the invoice lure", "text", False, False, False),
        ("invoice-lure.html", "file", False, False, False),
    ]
    lines, error = verify()
    assert error is None, lines
    assert lines[0].startswith("Verified 6 evidence items on 2 incidents")
