"""benchmarks/generate.py: the benchmarks' data set is deterministic, writes what it reports,
and its rows hold the models' rules (the database checks them: CHECK constraints on COPY, the
deferred foreign keys once forced)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"
# Loaded by path: benchmarks/ is not a package, and it holds an incidents.py that would shadow the app.
_spec = importlib.util.spec_from_file_location("bench_generate", SCRIPT)
generate_module = importlib.util.module_from_spec(_spec)
sys.modules["bench_generate"] = generate_module  # dataclasses look their module up
_spec.loader.exec_module(generate_module)
Shape = generate_module.Shape

SMALL = Shape(incidents=50, events=500, alerts=300, vendors=10, seed=3, anchor="2026-06-01")


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every generated table's rows by natural keys (ids come from the sequences and differ)."""
    from accounts.models import User
    from incidents.models import (
        DeadlineClock,
        Finding,
        Incident,
        Indicator,
        Membership,
        Task,
        Vendor,
        VendorAccess,
        VendorInvolvement,
    )
    from intake.models import Alert
    from notifications.models import SlaClock
    from timeline.models import TimelineEvent

    return {
        "users": sorted(User.objects.values_list("username", "role")),
        "incidents": sorted(
            Incident.objects.values_list(
                "reference",
                "title",
                "summary",
                "severity",
                "status",
                "category",
                "restricted",
                "resolution",
                "duplicate_of__reference",
                "lead__username",
                "opened_by__username",
                "personal_data",
                "records_affected",
                "detected_at",
                "acknowledged_at",
                "contained_at",
                "resolved_at",
                "closed_at",
                "created_at",
            )
        ),
        "findings": sorted(
            Finding.objects.values_list("incident__reference", "author__username", "body", "created_at", "internal")
        ),
        "tasks": sorted(
            Task.objects.values_list(
                "incident__reference", "title", "status", "assignee__username", "due_on", "done_at", "created_at"
            )
        ),
        "tags": sorted(Incident.tags.through.objects.values_list("incident__reference", "tag__name")),
        "search": sorted(
            Incident.objects.values_list("reference", "search_document", "search_findings", "search_internal")
        ),
        "memberships": sorted(Membership.objects.values_list("incident__reference", "user__username", "role")),
        "vendors": sorted(Vendor.objects.values_list("name", "tier", "domains")),
        "involvements": sorted(VendorInvolvement.objects.values_list("incident__reference", "vendor__name", "role")),
        "access": sorted(
            VendorAccess.objects.values_list(
                "involvement__incident__reference",
                "involvement__vendor__name",
                "kind",
                "identifier",
                "state",
                "state_changed_at",
            )
        ),
        "events": sorted(
            TimelineEvent.objects.values_list(
                "incident__reference",
                "occurred_at",
                "kind",
                "title",
                "technique",
                "precision",
                "key_event",
                "internal",
                "vendor__name",
            )
        ),
        "indicators": sorted(
            Indicator.objects.values_list("incident__reference", "type", "value", "stix_id", "first_seen")
        ),
        "sla": sorted(SlaClock.objects.values_list("incident__reference", "kind", "due_at", "met_at", "breached_at")),
        "deadlines": sorted(
            DeadlineClock.objects.values_list("incident__reference", "due_at", "stopped_at", "missed_at")
        ),
        "alerts": sorted(
            Alert.objects.values_list(
                "source", "source_ref", "status", "severity", "incident__reference", "received_at", "fingerprint"
            )
        ),
    }


def generated(shape: Any) -> tuple[Any, dict[str, list[tuple[Any, ...]]]]:
    """Generate ``shape``, take the snapshot, and roll the rows back (the sequences keep moving)."""
    with transaction.atomic():
        result = generate_module.generate(shape, log=lambda line: None)
        rows = snapshot()
        transaction.set_rollback(True)
    return result, rows


def test_the_same_shape_and_seed_give_the_same_rows_and_another_seed_others(postgres) -> None:
    _, first = generated(SMALL)
    _, again = generated(SMALL)
    _, other = generated(Shape(**{**SMALL.__dict__, "seed": 4}))

    assert again == first
    assert other["incidents"] != first["incidents"]
    assert other["findings"] != first["findings"]
    assert other["tasks"] != first["tasks"]
    assert other["tags"] != first["tags"]
    assert other["events"] != first["events"]
    assert other["alerts"] != first["alerts"]


def test_it_writes_what_it_reports_and_what_was_asked(postgres) -> None:
    from django.db.models import Count

    from incidents.models import (
        Finding,
        Incident,
        Indicator,
        ReferenceCounter,
        RestrictedReferenceCounter,
        Tag,
        Task,
        Vendor,
    )
    from intake.models import Alert
    from timeline.models import TimelineEvent

    assert Incident.objects.count() == 0
    result = generate_module.generate(SMALL, log=lambda line: None)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign keys, checked now

    assert Incident.objects.count() == result.counts["incidents"] == 50
    assert TimelineEvent.objects.count() == result.counts["timeline_events"] == 500
    assert Alert.objects.count() == result.counts["alerts"] == 300
    assert Vendor.objects.count() == result.counts["vendors"] == 10
    assert result.counts["users"] == 41
    # 2.5 findings per incident on average; the 61 tags, each incident 0 to 4 of them.
    assert Finding.objects.count() == result.counts["findings"] == 125
    assert Task.objects.count() == result.counts["tasks"] > 0
    assert Tag.objects.count() == result.counts["tags"] == 61
    assert Incident.tags.through.objects.count() == result.counts["incident_tags"]
    assert max(Incident.objects.annotate(n=Count("tags")).values_list("n", flat=True)) <= 4
    # Twice the incidents by default; a draw that repeats an incident's value is skipped.
    assert 95 <= Indicator.objects.count() == result.counts["indicators"] <= 100
    assert set(result.users) >= {"bench-admin", "bench-exec", "bench-lead"}

    # References: one series per prefix and year, no gaps, and each counter at its highest number,
    # so incident_open continues the series.
    references = list(Incident.objects.values_list("reference", flat=True))
    assert len(set(references)) == 50
    numbers: dict[tuple[str, int], list[int]] = {}
    for reference in references:
        match = re.fullmatch(r"(IRR?)-(\d{4})-(\d{4})", reference)
        assert match, reference
        numbers.setdefault((match[1], int(match[2])), []).append(int(match[3]))
    for (prefix, year), used in numbers.items():
        assert sorted(used) == list(range(1, len(used) + 1)), (prefix, year)
        counter = ReferenceCounter if prefix == "IR" else RestrictedReferenceCounter
        assert counter.objects.get(year=year).last == len(used)


def test_rows_are_what_the_app_would_store(postgres) -> None:
    from incidents.indicators.normalize import normalize
    from incidents.models import Incident, Indicator, Status
    from intake.models import Alert
    from timeline import attack
    from timeline.models import TimelineEvent
    from timeline.selectors import milestone_times

    generate_module.generate(SMALL, log=lambda line: None)

    # Indicators are stored normalized (what correlation looks up); techniques are real ids.
    for kind, value in Indicator.objects.values_list("type", "value"):
        assert normalize(kind, value) == value
    techniques = set(TimelineEvent.objects.exclude(technique="").values_list("technique", flat=True))
    assert techniques and all(attack.technique(tid) is not None for tid in techniques)

    # The timeline's milestones are in order where known: attacker, detection, containment.
    for incident in milestone_times(Incident.objects.all()):
        if incident.tl_first_attacker and incident.tl_detection:
            assert incident.tl_first_attacker <= incident.tl_detection, incident.reference
        if incident.tl_containment and incident.tl_detection:
            assert incident.tl_detection <= incident.tl_containment, incident.reference

    # Every status and every kind the dashboard counts is there, and nothing is after the anchor.
    statuses = set(Incident.objects.values_list("status", flat=True))
    assert Status.CLOSED in statuses and statuses & {"new", "triage", "investigating", "contained", "eradicated"}
    kinds = set(TimelineEvent.objects.values_list("kind", flat=True))
    assert {"attacker", "detection", "containment", "recovery"} <= kinds
    assert set(Alert.objects.values_list("status", flat=True)) == {"new", "linked", "promoted", "ignored"}
    anchor = SMALL.anchor_time
    assert not Incident.objects.filter(updated_at__gt=anchor).exists()
    assert not TimelineEvent.objects.filter(occurred_at__gt=anchor).exists()
    assert not Alert.objects.filter(last_seen_at__gt=anchor).exists()


def test_case_content_is_what_the_pages_show_and_search_finds(postgres) -> None:
    from accounts.models import User
    from incidents.models import Finding, Incident, Task, VendorInvolvement
    from incidents.selectors import incident_filter

    generate_module.generate(SMALL, log=lambda line: None)

    # Tasks agree with their incident: a closed one's are done or cancelled, done ones have a
    # time (the database's CHECKs hold the rest), nothing is done after the anchor.
    for status, done_at, cancel_reason, incident_status in Task.objects.values_list(
        "status", "done_at", "cancel_reason", "incident__status"
    ):
        if incident_status == "closed":
            assert status in {"done", "cancelled"}
        assert (done_at is not None) == (status == "done")
        assert bool(cancel_reason) == (status == "cancelled")
    assert not Task.objects.filter(done_at__gt=SMALL.anchor_time).exists()
    assert {"todo", "done"} <= set(Task.objects.values_list("status", flat=True))

    # Findings name what responders search for; a fifth are internal.
    bodies = list(Finding.objects.values_list("body", flat=True))
    assert all(re.search(r"`wks-\d{4}`", body) and re.search(r"user `[a-z]+\.[a-z]+`", body) for body in bodies)
    assert 0.05 < Finding.objects.filter(internal=True).count() / len(bodies) < 0.4
    assert 250 < sum(map(len, bodies)) / len(bodies) < 400

    # Summaries are Markdown of ~450 characters and name the vendors involved.
    summaries = dict(Incident.objects.values_list("pk", "summary"))
    assert 350 < sum(map(len, summaries.values())) / len(summaries) < 600
    for incident_id, vendor in VendorInvolvement.objects.values_list("incident_id", "vendor__name"):
        assert vendor in summaries[incident_id]

    # The stored search documents are filled: a workstation named in one finding finds its incident.
    assert not Incident.objects.filter(search_document__isnull=True).exists()
    finding = Finding.objects.filter(internal=False).select_related("incident").first()
    host = re.search(r"wks-\d{4}", finding.body)[0]
    admin = User.objects.get(username="bench-admin")
    assert finding.incident in incident_filter(viewer=admin, filters={"q": host}).qs
