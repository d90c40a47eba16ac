"""A small hand-built world for the dashboard and the metrics API, with every expected figure
worked out by hand in the test modules (``tests/dashboard/test_metrics.py`` explains each).

The period is March 2026 (``?from=2026-03-01&to=2026-03-31``; weeks start on Monday: 23 Feb,
2, 9, 16, 23 and 30 March). Incidents opened in it, all at 10:00 UTC:

- A 2 Mar, critical phishing, contained: acknowledged +10 min; attacker activity -2 h on the
  timeline (T1566); contained_at +1 h; no recovery.
- B 3 Mar, high phishing, recovered: acknowledged +20 min; attacker -4 h (T1566); containment
  event +3 h (T1078) although contained_at says +5 h; recovery events +8 h and +12 h although
  resolved_at says +10 h.
- C 10 Mar, low malware, closed: acknowledged +60 min; a detection event -30 min (T1204);
  resolved and closed +1 h; no containment.
- D 11 Mar, medium malware, new: nothing but a containment event 1 h *before* detection (a
  span that ends before it starts is no span).
- R 12 Mar, critical ransomware, new, restricted (lead ``lena`` only): acknowledged +100 min;
  attacker -1 h (T1486).
- E 20 Feb (before the period), medium, new: acknowledged +5 min.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from incidents.models import (
    AccessKind,
    AccessState,
    Category,
    DeadlineClock,
    Incident,
    Regime,
    Severity,
    Status,
    Vendor,
    VendorAccess,
    VendorInvolvement,
    VendorRole,
    VendorTier,
)
from intake.models import Alert, AlertStatus
from notifications.models import SlaClock
from timeline.models import EventKind, TimelineEvent

from ..factories import make_incident

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def at(day: int, month: int = 3, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def incident_at(
    opened_by: User,
    when: datetime,
    *,
    severity: str,
    category: str,
    status: str = Status.NEW,
    restricted: bool = False,
    **milestones: datetime | None,
) -> Incident:
    """An incident opened at ``when`` and moved straight to ``status`` with ``milestones``
    (the model's constraints hold: contained_at with a contained status, resolved_at and
    closed_at with recovered/closed). Dates are set with update(): the services stamp now."""
    incident = make_incident(
        opened_by=opened_by, lead=opened_by, severity=severity, category=category, restricted=restricted
    )
    Incident.objects.filter(pk=incident.pk).update(
        created_at=when, reported_at=when, detected_at=when, status=status, **milestones
    )
    incident.refresh_from_db()
    return incident


def event(incident: Incident, kind: str, when: datetime, technique: str = "") -> TimelineEvent:
    return TimelineEvent.objects.create(
        incident=incident, kind=kind, occurred_at=when, title=f"{kind} at {when:%H:%M}", technique=technique
    )


def breach(incident: Incident, kind: str, when: datetime) -> None:
    SlaClock.objects.update_or_create(incident=incident, kind=kind, defaults={"due_at": when, "breached_at": when})


def alert(ref: str, received: datetime, status: str = AlertStatus.NEW, incident: Incident | None = None) -> Alert:
    return Alert.objects.create(
        source="siem",
        source_ref=ref,
        fingerprint=ref * 8,
        title=f"Alert {ref}",
        observed_at=received,
        received_at=received,
        status=status,
        incident=incident,
    )


@dataclass
class World:
    a: Incident
    b: Incident
    c: Incident
    d: Incident
    e: Incident
    r: Incident
    northwind: Vendor
    contoso: Vendor
    fabrikam: Vendor
    initech: Vendor


@pytest.fixture
def world(lead: User) -> World:
    a = incident_at(
        lead, at(2), severity=Severity.CRITICAL, category=Category.PHISHING, status=Status.CONTAINED,
        acknowledged_at=at(2, minute=10), contained_at=at(2, hour=11),
    )  # fmt: skip
    event(a, EventKind.ATTACKER, at(2, hour=8), "T1566")
    b = incident_at(
        lead, at(3), severity=Severity.HIGH, category=Category.PHISHING, status=Status.RECOVERED,
        acknowledged_at=at(3, minute=20), contained_at=at(3, hour=15), resolved_at=at(3, hour=20),
    )  # fmt: skip
    event(b, EventKind.ATTACKER, at(3, hour=6), "T1566")
    event(b, EventKind.CONTAINMENT, at(3, hour=13), "T1078")
    event(b, EventKind.RECOVERY, at(3, hour=18))
    event(b, EventKind.RECOVERY, at(3, hour=22))
    c = incident_at(
        lead, at(10), severity=Severity.LOW, category=Category.MALWARE, status=Status.CLOSED,
        acknowledged_at=at(10, hour=11), resolved_at=at(10, hour=11), closed_at=at(10, hour=11),
    )  # fmt: skip
    event(c, EventKind.DETECTION, at(10, hour=9, minute=30), "T1204")
    d = incident_at(lead, at(11), severity=Severity.MEDIUM, category=Category.MALWARE)
    event(d, EventKind.CONTAINMENT, at(11, hour=9))
    r = incident_at(
        lead, at(12), severity=Severity.CRITICAL, category=Category.RANSOMWARE, restricted=True,
        acknowledged_at=at(12, hour=11, minute=40),
    )  # fmt: skip
    event(r, EventKind.ATTACKER, at(12, hour=9), "T1486")
    e = incident_at(
        lead, at(20, month=2), severity=Severity.MEDIUM, category=Category.OTHER, acknowledged_at=at(20, 2, 10, 5)
    )

    # SLA breaches: A's in the period; R's restricted; E's before it.
    breach(a, "acknowledge", at(2, minute=5))
    breach(r, "acknowledge", at(12, minute=30))
    breach(e, "acknowledge", at(20, month=2, minute=5))

    # Regulatory clocks, relative to now: B's missed, A's due in 10 h, C's in 100 h (later than
    # 72 h), D's stopped, R's restricted.
    now = timezone.now()
    regime = Regime.objects.create(
        slug="test-regime", name="Test regime", authority="The regulator", duration=timedelta(hours=72)
    )
    for incident, due, stopped in ((a, 10, None), (b, -5, None), (c, 100, None), (d, -1, now), (r, 1, None)):
        DeadlineClock.objects.create(
            incident=incident, regime=regime, stage="notification", rule="duration",
            start_event="awareness", started_at=now - timedelta(days=3), start_reason="Test",
            due_at=now + timedelta(hours=due), stopped_at=stopped,
        )  # fmt: skip

    # Vendors: Northwind (critical) on A and B, Contoso (high) on B, Fabrikam (low) on C and E,
    # Initech (medium) on R only.
    northwind = Vendor.objects.create(name="Northwind", tier=VendorTier.CRITICAL)
    contoso = Vendor.objects.create(name="Contoso", tier=VendorTier.HIGH)
    fabrikam = Vendor.objects.create(name="Fabrikam", tier=VendorTier.LOW)
    initech = Vendor.objects.create(name="Initech", tier=VendorTier.MEDIUM)
    involved = {}
    for incident, vendor in ((a, northwind), (b, northwind), (b, contoso), (c, fabrikam), (e, fabrikam), (r, initech)):
        involved[incident.pk, vendor.pk] = VendorInvolvement.objects.create(
            incident=incident, vendor=vendor, role=VendorRole.AFFECTED
        )
    # Access not yet revoked: A's token (counted), B's revoked account (not), R's key (restricted).
    for (incident, vendor), kind, identifier, state in (
        ((a, northwind), AccessKind.API_TOKEN, "svc-nw-ci", AccessState.ACTIVE),
        ((b, northwind), AccessKind.USER_ACCOUNT, "nw-admin", AccessState.REVOKED),
        ((r, initech), AccessKind.SSH_KEY, "initech-deploy", AccessState.ACTIVE),
    ):
        VendorAccess.objects.create(
            involvement=involved[incident.pk, vendor.pk], kind=kind, system="ci.example.com",
            identifier=identifier, state=state, added_at=at(2, hour=12),
        )  # fmt: skip

    # Alerts received in March: two became incident work (A's promoted, B's linked), one waits
    # in triage, one was ignored, R's is restricted; one arrived in February.
    alert("a1", at(2, hour=9, minute=55), AlertStatus.PROMOTED, a)
    alert("a2", at(3, hour=9), AlertStatus.LINKED, b)
    alert("a3", at(4, hour=9))
    alert("a4", at(12, hour=9), AlertStatus.PROMOTED, r)
    alert("a5", at(10, hour=9), AlertStatus.IGNORED)
    alert("a6", at(20, month=2))
    return World(a, b, c, d, e, r, northwind, contoso, fabrikam, initech)
