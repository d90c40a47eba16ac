"""The incident report and the executive brief: ``/incidents/<ref>/report/`` (HTML for print),
``report.pdf``, ``brief/`` and ``brief.pdf``. Anyone who may see the incident may read them,
each part limited as the incident page limits it (``incidents.reports.content``); reading a
restricted incident's report is audited like reading its page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from accounts.audit import record_restricted_read

from . import pdf
from .content import ReportContent, brief_lists, report_content, report_incident


def _content(request: HttpRequest, reference: str) -> ReportContent:
    incident = report_incident(viewer=request.user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    record_restricted_read(request=request, incident=incident)
    return report_content(viewer=request.user, incident=incident)


def _pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(False, filename)
    response["X-Content-Type-Options"] = "nosniff"
    # Case content: never kept by a shared cache or the browser's.
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def report(request: HttpRequest, reference: str, format: str = "html") -> HttpResponse:
    """The full report: summary, milestones and key events, vendors and containment, affected
    scope, indicators, evidence (hashes, never contents), deadlines and SLAs."""
    content = _content(request, reference)
    if format == "pdf":
        return _pdf_response(pdf.report_pdf(content), f"{content.incident.reference}-report.pdf")
    response = render(
        request,
        "incidents/reports/report.html",
        {"report": content, "incident": content.incident, "facts": pdf.incident_facts(content)},
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def brief(request: HttpRequest, reference: str, format: str = "html") -> HttpResponse:
    """One page for executives: what happened, the impact, where it stands, deadlines, next
    steps and key numbers; long lists end in "and N more" so the PDF stays one A4 page."""
    content = _content(request, reference)
    if format == "pdf":
        return _pdf_response(pdf.brief_pdf(content), f"{content.incident.reference}-brief.pdf")
    response = render(
        request,
        "incidents/reports/brief.html",
        {
            "report": content,
            "incident": content.incident,
            "brief": brief_lists(content),
            "numbers": pdf.key_numbers(content),
        },
    )
    response["Cache-Control"] = "private, no-store"
    return response
