"""Ingesting alerts (intake.services): dedupe in the database, also under concurrency, grouping
into open incidents, promotion, candidate indicators, and what is refused."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from accounts.models import Role
from incidents import services as incident_services
from incidents.models import Activity, Incident, Status
from intake import services
from intake.models import Alert
from intake.normalizers import NormalizedAlert
from tests.factories import UserFactory
from timeline.models import TimelineEvent

pytestmark = pytest.mark.django_db
SEEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def siem(db):
    return UserFactory(username="api:splunk-prod", role=Role.INTEGRATION)


def alert(ref: str, title: str = "Impossible travel for j.doe", severity: str = "low", **fields) -> NormalizedAlert:
    fields.setdefault("observed_at", SEEN)
    return NormalizedAlert(source_ref=ref, title=title, severity=severity, **fields)


def ingest(sender, *alerts: NormalizedAlert | None, errors=None, source="splunk-prod"):
    received = [
        services.Received(alert=a, raw={"ref": a.source_ref} if a else {"bad": True}, errors=errors or {})
        for a in alerts
    ]
    return services.alerts_ingest(received=received, source=source, format="generic", sender=sender)


def rows():
    return list(Alert.objects.order_by("id").values_list("source", "source_ref", "occurrences", "status"))


# --- Dedupe ----------------------------------------------------------------------------------------
def test_a_repeat_raises_the_count_and_moves_last_seen_never_a_second_row(siem):
    [first] = ingest(siem, alert("det-1"))
    assert (first.status, rows()) == ("created", [("splunk-prod", "det-1", 1, "new")])
    before = Alert.objects.get().last_seen_at
    [again] = ingest(siem, alert("det-1", title="Impossible travel (again)"))
    assert (again.status, again.alert.pk) == ("duplicate", first.alert.pk)
    assert rows() == [("splunk-prod", "det-1", 2, "new")]
    stored = Alert.objects.get()
    assert stored.last_seen_at > before
    assert stored.title == "Impossible travel for j.doe"  # the first one's content stays


def test_repeats_inside_one_batch_are_folded(siem):
    results = ingest(siem, alert("a"), alert("b"), alert("a"), alert("a"))
    assert [r.status for r in results] == ["created", "created", "duplicate", "duplicate"]
    assert results[2].alert.pk == results[0].alert.pk
    assert rows() == [("splunk-prod", "a", 3, "new"), ("splunk-prod", "b", 1, "new")]


def test_the_same_ref_from_two_sources_is_two_alerts(siem):
    ingest(siem, alert("det-1"), source="splunk-prod")
    ingest(siem, alert("det-1"), source="elastic-prod")
    assert rows() == [("splunk-prod", "det-1", 1, "new"), ("elastic-prod", "det-1", 1, "new")]


@pytest.mark.django_db(transaction=True)
def test_parallel_posts_of_one_alert_make_one_row_with_every_occurrence(siem):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks (SQLite serializes writers)")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def post() -> None:
        try:
            start.wait()
            for _ in range(5):
                [result] = ingest(siem, alert("race-1"))
                outcomes.append(result.status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rows() == [("splunk-prod", "race-1", 40, "new")]
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 39


# --- Refusals --------------------------------------------------------------------------------------
def test_bad_items_are_errors_and_lose_no_good_one(siem):
    results = ingest(
        siem,
        alert("ok-1"),
        alert("future", observed_at=timezone.now() + timedelta(days=2)),
        alert("naive", observed_at=datetime(2026, 3, 2, 10, 0)),
        alert("  ", title="No id"),
        alert("bad-sev", severity="urgent"),
        alert("nul\x00", title="NUL"),
        alert("ok-2"),
    )
    assert [(r.status, r.errors) for r in results] == [
        ("created", {}),
        ("error", {"observed_at": ["The alert's time is in the future."]}),
        ("error", {"observed_at": ["Give the time with its UTC offset (e.g. +01:00 or Z)."]}),
        ("error", {"source_ref": ["The alert has no id of its own (source_ref)."]}),
        ("error", {"severity": ["“urgent” is not one of: critical, high, medium, low, info."]}),
        ("error", {"source_ref": ["Null characters are not allowed."]}),
        ("created", {}),
    ]
    assert [ref for _, ref, _, _ in rows()] == ["ok-1", "ok-2"]


def test_a_normalizers_errors_come_back_as_the_items_errors(siem):
    [result] = ingest(siem, None, errors={"result": ["Splunk's webhook sends the first result row as 'result'."]})
    assert (result.status, result.errors) == (
        "error",
        {"result": ["Splunk's webhook sends the first result row as 'result'."]},
    )
    assert rows() == []


def test_a_batch_over_the_limit_is_refused_whole(siem):
    with pytest.raises(ValidationError) as refused:
        ingest(siem, *[alert(f"a{n}") for n in range(1001)])
    assert refused.value.message_dict == {"alerts": ["At most 1000 alerts per request."]}
    assert rows() == []


def test_a_huge_payload_keeps_the_alert_but_not_the_payload(siem, settings):
    settings.INTAKE_RAW_MAX_BYTES = 100
    received = [services.Received(alert=alert("big"), raw={"blob": "x" * 500})]
    services.alerts_ingest(received=received, source="s", format="generic", sender=siem)
    assert Alert.objects.get().raw == {"_truncated": True, "_bytes": 512, "_limit": 100}


# --- Candidate indicators ------------------------------------------------------------------------
def test_observables_are_normalized_like_indicators_with_their_role(siem, settings):
    settings.OUR_DOMAINS = ["breachline.example"]
    ingest(
        siem,
        alert(
            "obs",
            observables=[
                ("ip", "45.137.21[.]9"),
                ("domain", "Evil.Example."),
                ("domain", "evil.example"),
                ("email", "finance@breachline.example"),
                ("ip", "10.8.0.14"),
                ("ip", "not an address"),
                ("weird", "x"),
            ],
        ),
    )
    assert Alert.objects.get().observables == [
        {"type": "ip", "value": "45.137.21.9", "role": "attacker"},
        {"type": "domain", "value": "evil.example", "role": "attacker"},
        {"type": "email", "value": "finance@breachline.example", "role": "affected"},
        {"type": "ip", "value": "10.8.0.14", "role": "affected"},
    ]


# --- Grouping and promotion --------------------------------------------------------------------------
def test_an_alert_at_the_threshold_opens_an_incident_through_the_service(siem, settings):
    settings.INTAKE_PROMOTE_SEVERITY = "high"
    [result] = ingest(siem, alert("p-1", title="Ransomware note on FS01", severity="critical", host="fs01"))
    incident = Incident.objects.get()
    assert (result.alert.status, result.alert.incident_id) == ("promoted", incident.pk)
    assert (incident.title, incident.severity, incident.status, incident.opened_by) == (
        "Ransomware note on FS01", "critical", "new", siem,
    )  # fmt: skip
    assert Activity.objects.filter(incident=incident, verb="opened").count() == 1
    assert list(TimelineEvent.objects.values_list("kind", "title", "source")) == [
        ("detection", "Alert: Ransomware note on FS01", "splunk-prod p-1")
    ]


def test_a_later_alert_with_the_same_fingerprint_joins_the_open_incident(siem):
    ingest(siem, alert("g-1", title="Beacon to C2", severity="high", host="wks-7", rule="c2-beacon"))
    incident = Incident.objects.get()
    [later] = ingest(siem, alert("g-2", title="Beacon to C2 (2)", severity="low", host="wks-7", rule="c2-beacon"))
    assert (later.alert.status, later.alert.incident_id) == ("linked", incident.pk)
    assert Incident.objects.count() == 1
    assert list(TimelineEvent.objects.filter(incident=incident).values_list("title", flat=True)) == [
        "Alert: Beacon to C2",
        "Alert: Beacon to C2 (2)",
    ]


def test_alerts_of_one_batch_promote_once_and_join_each_other(siem):
    results = ingest(
        siem,
        alert("b-1", title="Beacon", severity="critical", host="wks-7", rule="c2"),
        alert("b-2", title="Beacon", severity="critical", host="wks-7", rule="c2"),
    )
    incident = Incident.objects.get()
    assert [(r.alert.status, r.alert.incident_id) for r in results] == [
        ("promoted", incident.pk), ("linked", incident.pk),
    ]  # fmt: skip


def test_a_different_host_or_a_closed_incident_or_an_old_match_does_not_group(siem, lead, settings):
    ingest(siem, alert("c-1", severity="high", host="wks-7", rule="c2"))
    first = Incident.objects.get()
    [other_host] = ingest(siem, alert("c-2", severity="low", host="wks-8", rule="c2"))
    assert other_host.alert.status == "new"
    incident_services.incident_close(incident=first, actor=siem, resolution="false_positive", closing_summary="FP")
    [after_close] = ingest(siem, alert("c-3", severity="low", host="wks-7", rule="c2"))
    assert after_close.alert.status == "new"
    # Outside the window: an alert received 25 h ago does not group with a new one.
    incident_services.incident_reopen(incident=Incident.objects.get(pk=first.pk), actor=siem, reason="more")
    Alert.objects.filter(source_ref="c-1").update(received_at=timezone.now() - timedelta(hours=25))
    [late] = ingest(siem, alert("c-4", severity="low", host="wks-7", rule="c2"))
    assert late.alert.status == "new"
    assert Incident.objects.get(pk=first.pk).status == Status.INVESTIGATING


def test_below_the_threshold_with_no_match_waits_in_triage(siem, settings):
    settings.INTAKE_PROMOTE_SEVERITY = "critical"
    [result] = ingest(siem, alert("t-1", severity="high"))
    assert (result.alert.status, Incident.objects.count()) == ("new", 0)


def test_the_fingerprint_follows_its_setting(siem, settings):
    settings.INTAKE_FINGERPRINT_FIELDS = ["rule"]
    first = ingest(siem, alert("f-1", rule="r", host="a"))[0].alert
    second = ingest(siem, alert("f-2", rule="R ", host="b"))[0].alert
    assert first.fingerprint == second.fingerprint
    settings.INTAKE_FINGERPRINT_FIELDS = ["rule", "host"]
    third = ingest(siem, alert("f-3", rule="r", host="b"))[0].alert
    assert third.fingerprint != first.fingerprint


def test_a_payload_with_nul_or_lone_surrogates_is_stored_cleaned(siem):
    received = [services.Received(alert=alert("nul"), raw={"k\x00": "a\x00b", "s": "\ud800x", "n": [1, {"x": "\x00"}]})]
    services.alerts_ingest(received=received, source="s", format="generic", sender=siem)
    assert Alert.objects.get().raw == {"k\ufffd": "a\ufffdb", "s": "\ufffdx", "n": [1, {"x": "\ufffd"}]}
