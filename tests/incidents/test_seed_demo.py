"""The demo data `make run` loads: every persona sees the product at work, within the rules."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from incidents.models import Incident
from incidents.permissions import Action, may
from incidents.selectors import incidents_visible_to

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_loads_once_and_each_persona_sees_their_share():
    assert "Seeded 6 incidents and 6 users." in _seed()
    assert "Demo data already present; nothing to do." in _seed()
    assert Incident.objects.count() == 6
    people = User.objects.exclude(role="integration").order_by("username")
    seen = {user.username: incidents_visible_to(user).count() for user in people}
    # The restricted contractor breach: lead, responder, counsel, the vendor contact and the CISO
    # (observer).
    assert seen == {"admin": 6, "counsel": 6, "exec": 6, "lead": 6, "responder": 6, "vendor": 1}


def test_demo_roles_follow_the_rule_table():
    _seed()
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


def test_demo_vendors_and_what_the_vendor_collaborator_sees_of_them():
    from incidents.models import Vendor, VendorInvolvement
    from incidents.vendors.selectors import involvements_for, registry_for

    _seed()
    assert Vendor.objects.count() == 5
    ai = Incident.objects.get(restricted=True)
    victor = User.objects.get(username="vendor")
    assert victor.vendor.name == "Northwind Data Labs"
    assert sorted(VendorInvolvement.objects.filter(incident=ai).values_list("vendor__name", "role")) == [
        ("Northwind Data Labs", "entry_point"),
        ("Tailspin Forensics", "supporting"),
    ]
    assert list(involvements_for(victor, ai).values_list("vendor__name", flat=True)) == ["Northwind Data Labs"]
    assert not registry_for(victor).exists()
    assert VendorInvolvement.objects.filter(role="affected").values_list("vendor__name", flat=True).get() == (
        "Fabrikam Payments"
    )


def test_demo_containment_checklist_of_the_contractor_breach():
    from incidents.models import VendorAccess
    from incidents.vendors.containment import Checklist

    _seed()
    ai = Incident.objects.get(restricted=True)
    items = VendorAccess.objects.filter(involvement__incident=ai).order_by("added_at", "id")
    assert Checklist.of(items).text == "2 of 3 vendor access items revoked; API token svc-nw-ci still active."
    assert list(items.values_list("state", flat=True)) == ["active", "rotated", "verified_unused"]


def test_demo_questions_to_northwind_and_the_affected_scope():
    from incidents.models import AffectedScope, VendorQuestion

    _seed()
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


def test_demo_timelines_and_their_milestones():
    from datetime import timedelta

    from timeline.selectors import events_for, milestones

    _seed()
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


def test_demo_alerts_one_promoted_one_grouped_and_a_triage_queue():
    from intake.models import Alert

    _seed()
    rows = list(Alert.objects.order_by("id").values_list("source_ref", "status", "occurrences", "incident__title"))
    assert rows == [
        ("scheduler__nobody__search__RMD5a1_at_1_101", "promoted", 1, "Ransomware canary file modified on FS01"),
        ("scheduler__nobody__search__RMD5a1_at_1_102", "linked", 1, "Ransomware canary file modified on FS01"),
        ("vpn-1", "new", 4, None),
        ("ps-1", "new", 1, None),
        ("mail-1", "new", 1, None),
    ]
