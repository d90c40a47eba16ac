"""An incident with everything a report shows (``full``), built through the services as the app
builds it: key events (one internal), two vendors (the vendor collaborator's company and another),
access items, affected scope, indicators and evidence (one of each internal), a met and a missed
regulatory deadline, and the SLA clocks opening starts."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from incidents import services as incident_services
from incidents.evidence import services as evidence_services
from incidents.indicators import services as indicator_services
from incidents.models import MemberRole, Regime, VendorRole
from incidents.regulatory import services as regulatory_services
from incidents.vendors import scope as scope_services
from incidents.vendors import services as vendor_services
from timeline import services as timeline_services


@pytest.fixture
def full(db, builtin_rows, admin, lead, vendor, incident):
    now = timezone.now()
    northwind = vendor_services.vendor_create(actor=admin, name="Northwind MSP", tier="critical")
    contoso = vendor_services.vendor_create(actor=admin, name="Contoso Payroll", tier="high")
    vendor.vendor = northwind
    vendor.save(update_fields=["vendor"])
    incident_services.member_add(incident=incident, user=vendor, actor=lead, role=MemberRole.RESPONDER)

    incident_services.incident_update(
        incident=incident, actor=lead, version=incident.version,
        changes={"summary": "Attackers sent **invoice** lures to finance staff."},
    )  # fmt: skip
    incident.refresh_from_db()

    timeline_services.event_add(
        incident=incident, actor=lead, occurred_at=now - timedelta(days=2), kind="attacker",
        title="First lure delivered to finance", key_event=True, technique="T1566.001", internal=False,
    )  # fmt: skip
    timeline_services.event_add(
        incident=incident, actor=lead, occurred_at=now - timedelta(days=1), kind="detection",
        title="SOC flagged the mailbox rule", key_event=True, internal=False,
    )  # fmt: skip
    timeline_services.event_add(
        incident=incident, actor=lead, occurred_at=now - timedelta(hours=20), kind="attacker",
        title="Insider suspicion under review", key_event=True, internal=True,
    )  # fmt: skip
    timeline_services.event_add(
        incident=incident, actor=lead, occurred_at=now - timedelta(hours=19), kind="communication",
        title="Routine status call", key_event=False, internal=False,
    )  # fmt: skip

    nw = vendor_services.involvement_add(incident=incident, vendor=northwind, actor=lead, role=VendorRole.ENTRY_POINT)
    co = vendor_services.involvement_add(incident=incident, vendor=contoso, actor=lead, role=VendorRole.AFFECTED)
    token = vendor_services.access_add(
        involvement=nw, actor=lead, kind="api_token", system="CI", identifier="svc-nw-ci"
    )
    vpn = vendor_services.access_add(involvement=nw, actor=lead, kind="vpn_account", system="VPN", identifier="nw-vpn")
    vendor_services.access_step(access=vpn, actor=lead, to="revoked")
    vendor_services.access_add(involvement=co, actor=lead, kind="api_token", system="HR", identifier="contoso-hr")

    scope_services.scope_add(
        incident=incident, actor=lead, kind="data_set", name="Payroll export", data_categories=["personal"],
        records=1200, jurisdictions=["DE"], internal=False,
    )  # fmt: skip
    scope_services.scope_add(
        incident=incident, actor=lead, kind="system", name="Secret HR vault", internal=True,
    )  # fmt: skip

    indicator_services.indicator_add(incident=incident, actor=lead, type="domain", value="invoice-lure.example",
                                     internal=False)  # fmt: skip
    indicator_services.indicator_add(incident=incident, actor=lead, type="ip", value="203.0.113.66",
                                     internal=True)  # fmt: skip

    headers = evidence_services.evidence_text_add(
        incident=incident, actor=lead, name="lure-headers.txt", text="Received: from invoice-lure.example",
        internal=False,
    )  # fmt: skip
    evidence_services.evidence_text_add(
        incident=incident, actor=lead, name="insider-notes.txt", text="THE SECRET CONTENT", internal=True
    )

    gdpr = Regime.objects.get(slug="gdpr-art33")
    nis2 = Regime.objects.get(slug="nis2")
    for regime in (gdpr, nis2):
        regulatory_services.assessment_decide(
            incident=incident, regime=regime, decision="applies", reason="Payroll data", actor=lead
        )
    regulatory_services.clock_set(
        incident=incident, regime=gdpr, stage="notification", start_event="awareness",
        started_at=now - timedelta(hours=30), reason="Confirmed", actor=lead,
    )  # fmt: skip
    notice = regulatory_services.notice_draft(incident=incident, regime=gdpr, stage="notification", actor=lead)
    notice = regulatory_services.notice_approve(notice=notice, actor=lead, version=notice.version)
    regulatory_services.notice_send(
        notice=notice, actor=lead, sent_at=now - timedelta(hours=1), channel="Portal", recipient="BfDI"
    )
    regulatory_services.clock_set(
        incident=incident, regime=nis2, stage="early_warning", start_event="awareness",
        started_at=now - timedelta(hours=30), reason="Confirmed", actor=lead,
    )  # fmt: skip

    task_open = incident_services.task_add(incident=incident, actor=lead, title="Reset finance passwords")
    incident.refresh_from_db()
    return SimpleNamespace(
        incident=incident, northwind=northwind, contoso=contoso, token=token, headers=headers, task=task_open
    )
