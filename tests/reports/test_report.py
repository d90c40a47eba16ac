"""The incident report and the executive brief (incidents/reports/): what they show, to whom, in
how many queries, and that the PDFs are PDFs (the brief on exactly one page)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.audit import AuditAction
from accounts.models import AuditEntry
from incidents import services as incident_services
from incidents.indicators import services as indicator_services
from timeline import services as timeline_services

from ..pdf_support import pdf_text

SHA = "d3e0bf69f864c5014323959d6e0d5c2c38fdb4aeb973987718d475c985b2bf38"


def report_url(incident, suffix: str = "report/") -> str:
    return f"/incidents/{incident.reference}/{suffix}"


def pdf_pages(pdf: bytes) -> int:
    """Page objects in the PDF (pypdf is not installed): ReportLab writes each page's dictionary
    uncompressed as ``/Type /Page``; the page tree is ``/Type /Pages``."""
    return len(re.findall(rb"/Type /Page(?![s\w])", pdf))


def assert_pdf(response) -> bytes:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    body = response.content
    assert body.startswith(b"%PDF-1.") and body.rstrip().endswith(b"%%EOF")
    assert re.search(rb"/Type /Catalog", body) and b"xref" in body
    return body


# --- Everything -----------------------------------------------------------------------------------
def test_report_of_an_incident_with_everything(login, lead, full):
    body = login(lead).get(report_url(full.incident)).content.decode()
    for expected in (
        "<h1>Phishing wave against finance</h1>",
        f"<dt>Reference</dt><dd>{full.incident.reference}</dd>",
        "<dt>Severity</dt><dd>Medium</dd>",
        "<dt>Status</dt><dd>New</dd>",
        f"<dt>Lead</dt><dd>{full.incident.lead.get_full_name()}</dd>",  # the factory names people
        "<dt>Acknowledged</dt><dd>—</dd>",
        "<dt>Resolution</dt><dd>—</dd>",
        "Attackers sent <strong>invoice</strong> lures to finance staff.",
        # Key events: the shared and the internal one; not the event that is not a key event.
        "<td>First lure delivered to finance</td>",
        "<td>SOC flagged the mailbox rule</td>",
        "<td>Insider suspicion under review</td>",
        "T1566.001",
        # Vendors and containment.
        "1 of 3 vendor access items revoked; API token svc-nw-ci and API token contoso-hr still active.",
        "<td>Northwind MSP</td><td>Entry point</td>",
        "<td>Contoso Payroll</td><td>Affected</td>",
        "VPN account nw-vpn (Revoked)",
        "API token svc-nw-ci (Active)",
        "<td>Payroll export</td><td>Personal</td><td>1200</td><td>DE</td>",
        "<td>Secret HR vault</td>",
        '<td class="mono">invoice-lure.example</td>',
        '<td class="mono">203.0.113.66</td>',
        "lure-headers.txt",
        "insider-notes.txt",
        f'<td class="mono hash">{SHA}</td>',
        "<td>35\xa0bytes</td>",
        # Deadlines: the GDPR notice went out 1 h ago, inside 72 h; NIS2's 24 h early warning did not.
        '<tr class="deadline deadline-met"><td>GDPR Art. 33 — supervisory authority</td><td>Notification (72 h)</td>',
        '<tr class="deadline deadline-missed"><td>NIS2 Art. 23 — CSIRT / competent authority</td>'
        "<td>Early warning (24 h)</td>",
        '<tr class="sla sla-running"><td>Time to acknowledge</td>',
        '<tr class="sla sla-running"><td>Time to contain</td>',
    ):
        assert expected in body, expected
    assert "Routine status call" not in body  # not a key event
    assert "THE SECRET CONTENT" not in body  # evidence contents never appear
    assert "No key events recorded." not in body


def test_report_of_a_just_opened_incident_says_none_recorded(login, lead, incident):
    response = login(lead).get(report_url(incident))
    assert response.status_code == 200
    body = response.content.decode()
    for line in (
        "No summary recorded.",
        "No key events recorded.",
        "No vendors recorded.",
        "No affected scope recorded.",
        "No indicators recorded.",
        "No evidence recorded.",
        "No regulatory deadlines recorded.",
    ):
        assert line in body, line
    assert "<dt>Contained</dt><dd>—</dd>" in body


def test_brief_of_a_just_opened_incident(login, lead, incident):
    client = login(lead)
    body = client.get(report_url(incident, "brief/")).content.decode()
    for line in ("No summary recorded.", "No affected scope recorded.", "No open tasks recorded.",
                 "No regulatory deadlines recorded.", "No vendor access recorded."):  # fmt: skip
        assert line in body, line
    assert pdf_pages(assert_pdf(client.get(report_url(incident, "brief.pdf")))) == 1
    assert pdf_pages(assert_pdf(client.get(report_url(incident, "report.pdf")))) == 1


def test_report_pdf_is_a_pdf_with_the_facts(login, lead, full):
    pdf = assert_pdf(login(lead).get(report_url(full.incident, "report.pdf")))
    assert pdf_pages(pdf) >= 1
    text = pdf_text(pdf)
    for expected in (b"Phishing wave against finance", b"Northwind MSP", SHA.encode(), b"GDPR Art. 33", b"Missed"):
        assert expected in text, expected
    assert b"THE SECRET CONTENT" not in text


# --- The brief: one page whatever the content -----------------------------------------------------
def test_brief_pdf_is_one_page_with_a_lot_of_content(login, lead, full):
    incident = full.incident
    incident_services.incident_update(
        incident=incident, actor=lead, version=incident.version,
        changes={"summary": "\n\n".join(f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 40 for n in range(30))},
    )  # fmt: skip
    for n in range(40):
        incident_services.task_add(incident=incident, actor=lead, title=f"Follow-up task {n:02d} " + "x" * 150)
    client = login(lead)
    pdf = assert_pdf(client.get(report_url(incident, "brief.pdf")))
    assert pdf_pages(pdf) == 1
    assert b"and 36 more" in pdf_text(pdf)  # 41 open tasks, 5 listed
    body = client.get(report_url(incident, "brief/")).content.decode()
    assert '<p class="muted more">and 36 more</p>' in body
    # The long report runs on as many pages as it needs.
    assert pdf_pages(assert_pdf(client.get(report_url(incident, "report.pdf")))) > 1


def test_brief_states_impact_and_standing(login, lead, full):
    body = login(lead).get(report_url(full.incident, "brief/")).content.decode()
    for expected in (
        "Attackers sent invoice lures to finance staff.",
        "Personal data affected (1200 records).",
        "<li>Data set: Payroll export</li>",
        "Status <strong>New</strong>",
        "<li>Northwind MSP (entry point): 1 of 2 vendor access items revoked; API token svc-nw-ci still active.</li>",
        "NIS2",
        "<li>Reset finance passwords</li>",
        "<dt>Deadlines missed</dt><dd>1</dd>",
    ):
        assert expected in body, expected


# --- Who sees what --------------------------------------------------------------------------------
def test_vendor_collaborator_sees_no_internal_content_and_no_other_vendor(login, vendor, full):
    client = login(vendor)
    body = client.get(report_url(full.incident)).content.decode()
    assert "<td>First lure delivered to finance</td>" in body
    assert "<td>Northwind MSP</td><td>Entry point</td>" in body
    assert "lure-headers.txt" in body and '<td class="mono">invoice-lure.example</td>' in body
    for hidden in (
        "Insider suspicion under review",  # internal event
        "Contoso Payroll",  # another vendor
        "contoso-hr",
        "Secret HR vault",  # internal scope
        "203.0.113.66",  # internal indicator
        "insider-notes.txt",  # internal evidence
        "Regulatory deadlines",  # never the register
        "GDPR",
        "<h2>SLA</h2>",
    ):
        assert hidden not in body, hidden
    brief = client.get(report_url(full.incident, "brief/")).content.decode()
    assert "Contoso" not in brief and "Deadlines" not in brief and "Secret HR vault" not in brief
    for suffix in ("report.pdf", "brief.pdf"):
        text = pdf_text(assert_pdf(client.get(report_url(full.incident, suffix))))
        for hidden in (b"Contoso", b"Insider suspicion", b"203.0.113.66", b"insider-notes", b"GDPR"):
            assert hidden not in text, (suffix, hidden)


def test_executive_gets_the_report_without_download_links(login, lead, executive, full):
    download = f"/incidents/{full.incident.reference}/evidence/{full.headers.pk}/download/"
    assert download in login(lead).get(report_url(full.incident)).content.decode()
    body = login(executive).get(report_url(full.incident)).content.decode()
    assert "lure-headers.txt" in body and SHA in body
    assert "/download/" not in body
    assert pdf_pages(assert_pdf(login(executive).get(report_url(full.incident, "brief.pdf")))) == 1


@pytest.mark.parametrize("suffix", ["report/", "report.pdf", "brief/", "brief.pdf"])
def test_outsider_gets_404_for_a_restricted_incident(login, outsider, restricted_incident, suffix):
    assert login(outsider).get(report_url(restricted_incident, suffix)).status_code == 404


@pytest.mark.parametrize("suffix", ["report/", "report.pdf", "brief/", "brief.pdf"])
def test_only_get_and_head(login, lead, incident, suffix):
    client = login(lead)
    assert client.post(report_url(incident, suffix)).status_code == 405
    assert client.head(report_url(incident, suffix)).status_code == 200


def test_anonymous_is_sent_to_log_in(client, incident):
    response = client.get(report_url(incident))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_reading_a_restricted_report_is_audited(login, responder, restricted_incident):
    def reads() -> int:
        return AuditEntry.objects.filter(
            action=AuditAction.READ, actor=responder, incident_reference=restricted_incident.reference
        ).count()

    assert reads() == 0
    assert login(responder).get(report_url(restricted_incident, "brief.pdf")).status_code == 200
    assert reads() == 1


# --- Queries --------------------------------------------------------------------------------------
def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("suffix", ["report/", "report.pdf", "brief/", "brief.pdf"])
def test_query_count_is_pinned(login, lead, full, django_assert_num_queries, suffix):
    client = login(lead)
    # session 1, user 1, incident 1, milestones 1, key events 1, involvements + access items 2,
    # scope 1, indicators 1, evidence 1, open tasks 1, deadline clocks 1, SLA clocks 1: 13. The
    # lead's standing needs no membership query (they lead it).
    with django_assert_num_queries(13):
        assert client.get(report_url(full.incident, suffix)).status_code == 200


def test_query_count_does_not_grow_with_events_and_indicators(login, lead, full):
    client = login(lead)
    before = _count(client, report_url(full.incident))
    for n in range(15):
        timeline_services.event_add(
            incident=full.incident, actor=lead, occurred_at=f"2026-01-0{1 + n % 9}T10:00:00+00:00",
            kind="attacker", title=f"More activity {n}", key_event=True,
        )  # fmt: skip
        indicator_services.indicator_add(incident=full.incident, actor=lead, type="domain", value=f"bad{n}.example")
    assert _count(client, report_url(full.incident)) == before
