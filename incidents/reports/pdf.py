"""The report and the brief as A4 PDFs (ReportLab, as ``incidents.regulatory.exports`` renders
notices: its Markdown blocks and inline markup are reused). Everything written here comes from
``incidents.reports.content``, already limited to what the viewer may see; every string is
XML-escaped before ReportLab reads it as markup.

The brief is one page by construction: its lists are cut (``content.brief_lists``) and the whole
story sits in a ``KeepInFrame`` that shrinks rather than spill onto a second page.
"""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from typing import Any

# Escaping only (it writes XML, parses nothing): bandit B406 flags any xml.sax import.
from xml.sax.saxutils import escape as xml_escape  # nosec B406

from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepInFrame,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from timeline.templatetags.milestones import duration

from ..regulatory import exports
from .content import ReportContent, brief_lists

MARGIN = 15 * mm
_GRID = colors.HexColor("#d0d5dd")
_RED = colors.HexColor("#b42318")

_styles = getSampleStyleSheet()
CELL = ParagraphStyle("Cell", parent=_styles["Normal"], fontSize=8, leading=10)
CELL_MONO = ParagraphStyle("CellMono", parent=CELL, fontName="Courier", fontSize=7, leading=9)
# A SHA-256 on one line: 64 Courier characters at 6 pt are 230 pt wide (the column is 88 mm).
HASH = ParagraphStyle("Hash", parent=CELL_MONO, fontSize=6, leading=8)
BODY = ParagraphStyle("Body", parent=_styles["BodyText"], fontSize=9, leading=12)
MUTED = ParagraphStyle("Muted", parent=BODY, textColor=colors.HexColor("#667085"))
H1 = ParagraphStyle("H1", parent=_styles["Title"], fontSize=16, leading=20, alignment=0, spaceAfter=4)
H2 = ParagraphStyle("H2", parent=_styles["Heading2"], fontSize=12, leading=15, spaceBefore=8, spaceAfter=4)
ITEM = ParagraphStyle("Item", parent=BODY, leftIndent=12, bulletIndent=2, spaceAfter=1)
MARKING = ParagraphStyle("Marking", parent=BODY, textColor=_RED, fontName="Helvetica-Bold")


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


def _p(text: Any, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(xml_escape(str(text)), style)


def _table(header: list[str], rows: list[list[Any]], widths: list[float | None]) -> Table:
    """A grid of wrapped cells with a bold header row repeated on each page."""
    data = [[Paragraph(f"<b>{xml_escape(h)}</b>", CELL) for h in header]]
    data += [[cell if isinstance(cell, Flowable) else _p(cell) for cell in row] for row in rows]
    table = Table(data, colWidths=widths, hAlign="LEFT", repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GRID),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f2f4f7")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _facts(rows: list[tuple[str, str]]) -> Table:
    data = [[Paragraph(f"<b>{xml_escape(label)}</b>", CELL), _p(value)] for label, value in rows]
    table = Table(data, colWidths=[38 * mm, None], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GRID),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def markdown_flowables(body: str) -> list[Flowable]:
    """``body`` (Markdown) as flowables in the report's styles (the notice PDF's renderer)."""
    return exports.markdown_flowables(
        body, body_style=BODY, item_style=ITEM, headings={f"h{n}": H2 for n in range(1, 7)}, code_style=_styles["Code"]
    )


def incident_facts(content: ReportContent) -> list[tuple[str, str]]:
    """The summary's facts, in order, as (label, value): the report's table, HTML and PDF."""
    incident = content.incident
    resolution = incident.get_resolution_display() or "—"
    if incident.duplicate_of_reference:
        resolution += f" of {incident.duplicate_of_reference}"
    records = f", {incident.records_affected:,} records" if incident.records_affected is not None else ""
    return [
        ("Reference", incident.reference),
        ("Severity", incident.get_severity_display()),
        ("Status", incident.get_status_display()),
        ("Category", incident.get_category_display()),
        ("Lead", str(incident.lead) if incident.lead else "—"),
        ("Opened", _when(incident.created_at)),
        ("Detected", _when(incident.detected_at)),
        ("Reported", _when(incident.reported_at)),
        ("Acknowledged", _when(incident.acknowledged_at)),
        ("Contained", _when(incident.contained_at)),
        ("Resolved", _when(incident.resolved_at)),
        ("Closed", _when(incident.closed_at)),
        ("Resolution", resolution),
        ("Personal data", f"Yes{records}" if incident.personal_data else "No"),
    ]


def _document(buffer: BytesIO, content: ReportContent, kind: str) -> SimpleDocTemplate:
    incident = content.incident
    return SimpleDocTemplate(
        buffer, pagesize=A4, title=f"{incident.reference} {kind}: {incident.title}", author="Breachline",
        subject=f"{incident.reference} {kind}", leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN,
    )  # fmt: skip


def _footer(content: ReportContent, kind: str):
    incident = content.incident

    def draw(canvas, document) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        text = f"{incident.reference} · {kind} · generated {_when(content.generated_at)} · page {document.page}"
        canvas.drawString(document.leftMargin, 8 * mm, text)
        if incident.restricted:
            canvas.setFillColor(_RED)
            canvas.setFont("Helvetica-Bold", 7)
            canvas.drawRightString(A4[0] - document.rightMargin, 8 * mm, "RESTRICTED — need-to-know")
        canvas.restoreState()

    return draw


def _none(text: str) -> Paragraph:
    return _p(text, MUTED)


# --- The report --------------------------------------------------------------------------------
def report_pdf(content: ReportContent) -> bytes:
    """The full report as an A4 PDF, as many pages as it takes."""
    incident = content.incident
    story: list[Flowable] = [
        _p(f"Incident report · {incident.reference}", MUTED),
        _p(incident.title, H1),
    ]
    if incident.restricted:
        story.append(_p("Restricted: need-to-know. Do not share outside the response team.", MARKING))
    story += [_facts(incident_facts(content)), Paragraph("Summary", H2)]
    story += markdown_flowables(incident.summary) or [_none("No summary recorded.")]
    if incident.closing_summary:
        story += [Paragraph("Closing summary", H2), *markdown_flowables(incident.closing_summary)]

    milestones = content.milestones
    story.append(Paragraph("Milestones and key events", H2))
    spans = (
        f"Dwell time {duration(milestones.dwell_time)} · time to contain {duration(milestones.time_to_contain)}"
        f" · time to recover {duration(milestones.time_to_recover)}"
    )
    story.append(_p(spans, BODY))
    rows = [[point.label, _when(point.at), point.source or "—"] for point in milestones.points]
    story.append(_table(["Milestone", "When", "From"], rows, [50 * mm, 50 * mm, None]))
    story.append(Spacer(1, 3 * mm))
    if content.key_events:
        rows = [
            [_when(line.event.occurred_at), line.event.get_kind_display(), line.event.title, line.technique or "—"]
            for line in content.key_events
        ]
        story.append(_table(["When", "Kind", "What happened", "ATT&CK"], rows, [32 * mm, 26 * mm, None, 40 * mm]))
        if content.key_events_more:
            story.append(_none(f"Only the first {len(content.key_events)} key events are listed."))
    else:
        story.append(_none("No key events recorded."))

    story.append(Paragraph("Vendors and containment", H2))
    if content.involvements:
        story.append(_p(content.checklist.text, BODY))
        rows = []
        for involvement in content.involvements:
            access = "; ".join(f"{item.label} ({item.get_state_display()})" for item in involvement.access)
            rows.append([involvement.vendor.name, involvement.get_role_display(), access or "No access recorded."])
        story.append(_table(["Vendor", "Role", "Access items (state)"], rows, [45 * mm, 28 * mm, None]))
    else:
        story.append(_none("No vendors recorded."))

    story.append(Paragraph("Affected scope", H2))
    if content.scope:
        rows = [
            [row.get_kind_display(), row.name, ", ".join(row.category_labels) or "—",
             f"{row.records:,}" if row.records is not None else "—", ", ".join(row.jurisdictions or []) or "—"]
            for row in content.scope
        ]  # fmt: skip
        story.append(
            _table(["Kind", "Name", "Data", "Records", "Where"], rows, [22 * mm, None, 40 * mm, 22 * mm, 22 * mm])
        )
    else:
        story.append(_none("No affected scope recorded."))

    story.append(Paragraph("Indicators", H2))
    if content.indicators:
        rows = [
            [ind.get_type_display(), _p(ind.value, CELL_MONO), ind.get_role_display(), ind.get_tlp_display()]
            for ind in content.indicators
        ]
        story.append(_table(["Type", "Value", "Role", "TLP"], rows, [25 * mm, None, 25 * mm, 25 * mm]))
    else:
        story.append(_none("No indicators recorded."))

    story.append(Paragraph("Evidence", H2))
    if content.evidence:
        rows = [
            [item.name, filesizeformat(item.size), _when(item.collected_at), _p(item.sha256, HASH)]
            for item in content.evidence
        ]
        story.append(_table(["Name", "Size", "Collected", "SHA-256"], rows, [None, 16 * mm, 30 * mm, 88 * mm]))
    else:
        story.append(_none("No evidence recorded."))

    if content.reads_register:
        story.append(Paragraph("Regulatory deadlines", H2))
        if content.deadlines:
            rows = [[row.regime, row.stage, _when(row.clock.due_at), _when(row.sent_at), row.state_text]
                    for row in content.deadlines]  # fmt: skip
            widths = [None, 35 * mm, 32 * mm, 32 * mm, 30 * mm]
            story.append(_table(["Regime", "Deadline", "Due", "Notice sent", "State"], rows, widths))
        else:
            story.append(_none("No regulatory deadlines recorded."))
        story.append(Paragraph("SLA", H2))
        if content.sla:
            rows = [[row.kind, _when(row.due_at), _when(row.met_at), row.state_text] for row in content.sla]
            story.append(_table(["SLA", "Due", "Met", "State"], rows, [40 * mm, 40 * mm, 40 * mm, None]))
        else:
            story.append(_none("No SLA clocks recorded."))

    buffer = BytesIO()
    footer = _footer(content, "incident report")
    _document(buffer, content, "report").build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


# --- The brief ---------------------------------------------------------------------------------
def _bullets(items: list[str], more: int, empty: str) -> list[Flowable]:
    if not items:
        return [_none(empty)]
    out: list[Flowable] = [Paragraph(xml_escape(text), ITEM, bulletText="•") for text in items]
    if more:
        out.append(_p(f"and {more} more", MUTED))
    return out


def key_numbers(content: ReportContent) -> list[tuple[str, str]]:
    """The brief's figures, as (label, value)."""
    incident = content.incident
    numbers = [
        ("Records affected", f"{incident.records_affected:,}" if incident.records_affected is not None else "—"),
        ("Vendors involved", str(len(content.involvements))),
        ("Vendor access still active", str(content.vendors_active_access)),
        ("Indicators", str(len(content.indicators))),
        ("Evidence items", str(len(content.evidence))),
        ("Open tasks", str(len(content.open_tasks))),
        ("Time to contain", duration(content.milestones.time_to_contain)),
    ]
    if content.reads_register:
        numbers.append(("Deadlines missed", str(len(content.missed_deadlines))))
        numbers.append(("SLA breaches", str(len(content.breached_sla))))
    return numbers


def brief_pdf(content: ReportContent) -> bytes:
    """The executive brief on exactly one A4 page."""
    incident = content.incident
    lists = brief_lists(content)
    story: list[Flowable] = [_p(f"Executive brief · {incident.reference}", MUTED), _p(incident.title, H1)]
    if incident.restricted:
        story.append(_p("Restricted: need-to-know. Do not share outside the response team.", MARKING))

    story += [Paragraph("What happened", H2), _p(lists["summary"] or "No summary recorded.", BODY)]

    records = f"{incident.records_affected:,} records" if incident.records_affected is not None else "records unknown"
    impact = f"Severity {incident.get_severity_display()}. " + (
        f"Personal data affected ({records})." if incident.personal_data else "No personal data known to be affected."
    )
    story += [Paragraph("Impact", H2), _p(impact, BODY)]
    scope = [f"{row.get_kind_display()}: {row.name}" for row in lists["scope"].items]
    story += _bullets(scope, lists["scope"].more, "No affected scope recorded.")

    story.append(Paragraph("Where it stands", H2))
    story.append(_p(f"Status {incident.get_status_display()} · {content.checklist.text}", BODY))
    vendors = [
        f"{inv.vendor.name} ({inv.get_role_display().lower()}): {inv.checklist.text}" for inv in lists["vendors"].items
    ]
    if vendors:
        story += _bullets(vendors, lists["vendors"].more, "")

    if content.reads_register:
        story.append(Paragraph("Deadlines", H2))
        deadlines = [
            f"{row.regime} — {row.stage}: due {_when(row.clock.due_at)} · {row.state_text}"
            for row in lists["deadlines"].items
        ]
        story += _bullets(deadlines, lists["deadlines"].more, "No regulatory deadlines recorded.")

    story.append(Paragraph("Next steps", H2))
    tasks = [
        task.title
        + (f" — {task.assignee}" if task.assignee else "")
        + (f", due {task.due_on:%Y-%m-%d}" if task.due_on else "")
        for task in lists["tasks"].items
    ]
    story += _bullets(tasks, lists["tasks"].more, "No open tasks recorded.")

    story += [Paragraph("Key numbers", H2), _facts(key_numbers(content))]

    width, height = A4[0] - 2 * MARGIN, A4[1] - 2 * MARGIN - 6 * mm
    buffer = BytesIO()
    footer = _footer(content, "executive brief")
    document = _document(buffer, content, "brief")
    document.build([KeepInFrame(width, height, story, mode="shrink")], onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
