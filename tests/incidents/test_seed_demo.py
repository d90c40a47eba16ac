"""The demo data `make run` loads: every persona sees the product at work, within the rules."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings

from accounts.models import User
from incidents.models import Incident
from incidents.permissions import Action, may
from incidents.selectors import incidents_visible_to

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory) -> None:
    """The demo data, seeded once for the tests that only read it (seeding takes seconds): in a
    transaction rolled back when the module ends, each test's own transaction nesting in it. Its
    evidence files go to a directory of the module's own."""
    evidence = settings.STORAGES["evidence"]
    options = {**evidence.get("OPTIONS", {}), "location": tmp_path_factory.mktemp("demo-evidence")}
    storages = {**settings.STORAGES, "evidence": {**evidence, "OPTIONS": options}}
    with django_db_blocker.unblock(), override_settings(STORAGES=storages), transaction.atomic():
        _seed()
        yield
        transaction.set_rollback(True)


def test_seed_demo_loads_once_and_each_persona_sees_their_share():
    assert "Seeded 46 incidents and 6 users." in _seed()
    assert "Demo data already present; nothing to do." in _seed()
    assert Incident.objects.count() == 46  # 6 recent cases and 40 of history
    people = User.objects.exclude(role="integration").order_by("username")
    seen = {user.username: incidents_visible_to(user).count() for user in people}
    # The restricted contractor breach: lead, responder, counsel, the vendor contact and the CISO
    # (observer). The history is unrestricted and Victor is on none of it.
    assert seen == {"admin": 46, "counsel": 46, "exec": 46, "lead": 46, "responder": 46, "vendor": 1}


def test_demo_roles_follow_the_rule_table(seeded):
    ai = Incident.objects.get(restricted=True)
    users = {user.username: user for user in User.objects.all()}
    assert may(users["vendor"], Action.CONTRIBUTE, ai) is True
    assert may(users["vendor"], Action.TRANSITION, ai) is False
    assert may(users["exec"], Action.CONTRIBUTE, ai) is False
    assert may(users["responder"], Action.RAISE_SEVERITY, ai) is True
    assert may(users["responder"], Action.LOWER_SEVERITY, ai) is False
    assert list(ai.tasks.filter(assignee__username="vendor").values_list("title", flat=True)) == [
        "Send the EDR timeline of the infected developer laptop"
    ]


def test_demo_vendors_and_what_the_vendor_collaborator_sees_of_them(seeded):
    from incidents.models import Vendor, VendorInvolvement
    from incidents.vendors.selectors import involvements_for, registry_for

    assert Vendor.objects.count() == 9  # 5 in the recent cases, 4 more in the history
    ai = Incident.objects.get(restricted=True)
    victor = User.objects.get(username="vendor")
    assert victor.vendor.name == "Northwind Data Labs"
    assert sorted(VendorInvolvement.objects.filter(incident=ai).values_list("vendor__name", "role")) == [
        ("Northwind Data Labs", "entry_point"),
        ("Tailspin Forensics", "supporting"),
    ]
    assert list(involvements_for(victor, ai).values_list("vendor__name", flat=True)) == ["Northwind Data Labs"]
    assert not registry_for(victor).exists()
    recent = VendorInvolvement.objects.exclude(incident__tags__name="demo-history")
    assert recent.filter(role="affected").values_list("vendor__name", flat=True).get() == "Fabrikam Payments"


def test_demo_containment_checklist_of_the_contractor_breach(seeded):
    from incidents.models import VendorAccess
    from incidents.vendors.containment import Checklist

    ai = Incident.objects.get(restricted=True)
    items = VendorAccess.objects.filter(involvement__incident=ai).order_by("added_at", "id")
    assert Checklist.of(items).text == "2 of 3 vendor access items revoked; API token svc-nw-ci still active."
    assert list(items.values_list("state", flat=True)) == ["active", "rotated", "verified_unused"]


def test_demo_questions_to_northwind_and_the_affected_scope(seeded):
    from incidents.models import AffectedScope, VendorQuestion

    ai = Incident.objects.get(restricted=True)
    questions = VendorQuestion.objects.filter(involvement__incident=ai).order_by("question")
    assert [(q.question, q.status, getattr(q.answered_by, "username", None)) for q in questions] == [
        ("Are other customers affected by the same token leak?", "overdue", None),
        ("What is the root cause on your side?", "answered", "vendor"),
    ]
    scope = AffectedScope.objects.filter(incident=ai).order_by("id")
    assert [(s.kind, s.name, s.records, s.jurisdictions) for s in scope] == [
        ("data_set", "Assistant evaluation data set", 12_400, ["DE", "FR", "US"]),
        ("system", "ML artifact store", None, []),
    ]
    # Derived from the scope (the data set carries personal data), not typed in.
    assert (ai.personal_data, ai.records_affected) == (True, 12_400)


def test_demo_timelines_and_their_milestones(seeded):
    from datetime import timedelta

    from timeline.selectors import events_for, milestones

    ai = Incident.objects.get(restricted=True)
    phish = Incident.objects.get(title__startswith="Invoice-themed")
    lead, victor = User.objects.get(username="lead"), User.objects.get(username="vendor")
    assert list(events_for(lead, ai).values_list("kind", "technique", "internal")) == [
        ("attacker", "T1566.001", False),
        ("attacker", "T1204.002", False),
        ("attacker", "T1552.001", False),
        ("attacker", "T1199", True),
        ("attacker", "T1530", True),
        ("detection", "", True),
        ("communication", "", False),
        ("vendor", "", False),
        ("regulatory", "", True),
    ]
    # Victor sees what Northwind told us and what we shared, never the internal reconstruction.
    assert list(events_for(victor, ai).values_list("title", flat=True)) == [
        "Northwind developer opens a malicious attachment (date from Northwind's report)",
        "Infostealer stealer.exe starts on nw-dev-laptop-07",
        "The CI token svc-nw-ci is read from a .env file by stealer.exe",
        "Northwind's security team told; they open NW-SEC-2291",
        "Northwind reimages nw-dev-laptop-07 and rotates its developers' tokens",
    ]
    # The phishing wave: the look-alike domain registered 2 d 2 h before the report (the first
    # attacker activity), the sender blocked 3 h after it, the last recovery step 28 h after.
    found = milestones(phish, viewer=lead)
    assert (found.dwell_time, found.time_to_contain, found.time_to_recover) == (
        timedelta(days=2, hours=2),
        timedelta(hours=3),
        timedelta(hours=28),
    )


def test_demo_alerts_one_promoted_one_grouped_and_a_triage_queue(seeded):
    from intake.models import Alert

    recent = Alert.objects.filter(source="splunk-prod").order_by("id")
    rows = list(recent.values_list("source_ref", "status", "occurrences", "incident__title"))
    assert rows == [
        ("scheduler__nobody__search__RMD5a1_at_1_101", "promoted", 1, "Ransomware canary file modified on FS01"),
        ("scheduler__nobody__search__RMD5a1_at_1_102", "linked", 1, "Ransomware canary file modified on FS01"),
        ("vpn-1", "new", 4, None),
        ("ps-1", "new", 1, None),
        ("mail-1", "new", 1, None),
    ]


# --- The history behind the dashboard ----------------------------------------------------------
def _counts(queryset, field: str) -> dict[str, int]:
    from django.db.models import Count

    return dict(queryset.order_by().values_list(field).annotate(n=Count("id")))


def test_demo_history_spreads_forty_incidents_over_120_days(seeded):
    from django.utils import timezone

    history = Incident.objects.filter(tags__name="demo-history")
    assert history.count() == 40
    assert _counts(history, "status") == {"closed": 34, "contained": 4, "investigating": 2}
    assert _counts(history, "severity") == {"critical": 8, "high": 16, "medium": 12, "low": 4}
    assert _counts(history, "category") == {
        "account_compromise": 8, "data_exfiltration": 4, "denial_of_service": 4, "insider": 4, "malware": 4,
        "phishing": 4, "ransomware": 4, "third_party": 4, "vulnerability": 4,
    }  # fmt: skip
    now = timezone.now()
    ages = sorted((now - detected).days for detected in history.values_list("detected_at", flat=True))
    assert (ages[0], ages[-1]) == (6, 119)
    # Some milestones missing, as in real cases: never acknowledged, never contained.
    missing = {f: history.filter(**{f"{f}__isnull": True}).count() for f in ("acknowledged_at", "contained_at")}
    assert missing == {"acknowledged_at": 5, "contained_at": 10}
    assert history.filter(resolved_at__isnull=True).count() == 6  # the open ones
    # Milestones in order wherever both are known.
    for row in history.values("reported_at", "acknowledged_at", "contained_at", "resolved_at", "closed_at"):
        known = [row[f] for f in ("reported_at", "acknowledged_at", "contained_at", "resolved_at", "closed_at")]
        known = [t for t in known if t is not None]
        assert known == sorted(known) and known[-1] < now


def test_demo_history_timelines_carry_attack_techniques(seeded):
    from timeline.models import TimelineEvent

    events = TimelineEvent.objects.filter(incident__tags__name="demo-history")
    assert _counts(events, "kind") == {"attacker": 51, "detection": 40, "containment": 30, "recovery": 34}
    assert events.filter(kind="attacker").values("incident").distinct().count() == 30  # first activity known
    assert _counts(events.exclude(technique=""), "technique") == {
        "T1021.001": 4, "T1059.001": 4, "T1078": 3, "T1078.004": 3, "T1110.003": 2, "T1114.002": 3, "T1133": 4,
        "T1190": 4, "T1199": 4, "T1204.002": 4, "T1486": 4, "T1498": 2, "T1566.001": 4, "T1566.002": 2,
        "T1567.002": 4,
    }  # fmt: skip


def test_demo_history_vendors_across_tiers_and_access_still_active(seeded):
    from incidents.models import VendorAccess, VendorInvolvement

    involvements = VendorInvolvement.objects.filter(incident__tags__name="demo-history")
    assert _counts(involvements, "vendor__tier") == {"critical": 6, "high": 3, "medium": 2, "low": 3}
    access = VendorAccess.objects.filter(involvement__incident__tags__name="demo-history")
    assert _counts(access, "state") == {"active": 2, "revoked": 26}
    # The active ones are on open incidents.
    assert set(access.filter(state="active").values_list("involvement__incident__status", flat=True)) <= {
        "investigating",
        "contained",
    }


def test_demo_history_alerts_sla_breaches_and_a_clock_due_soon(seeded):
    from datetime import timedelta

    from django.utils import timezone

    from incidents.models import DeadlineClock
    from intake.models import Alert
    from notifications.models import Escalation, SlaClock

    alerts = Alert.objects.filter(source="sentinel-prod")
    assert _counts(alerts, "status") == {"ignored": 146, "promoted": 14}
    assert not alerts.filter(status="promoted", incident__isnull=True).exists()
    clocks = SlaClock.objects.filter(incident__tags__name="demo-history")
    assert _counts(clocks.filter(breached_at__isnull=False), "kind") == {"acknowledge": 9, "contain": 14}
    assert clocks.filter(met_at__isnull=False).count() == 57
    # The only page still waiting is the ransomware incident's (the history's are acknowledged).
    assert list(Escalation.objects.filter(stopped_at__isnull=True).values_list("incident__title", flat=True)) == [
        "Ransomware canary file modified on FS01"
    ]
    now = timezone.now()
    due_soon = DeadlineClock.objects.filter(
        stopped_at__isnull=True, due_at__gt=now, due_at__lte=now + timedelta(hours=72)
    )
    assert sorted(due_soon.values_list("incident__title", flat=True)) == [
        "Bulk upload from engineering to personal cloud storage",
        "Restricted internal AI model accessed through contractor environment",
    ]
