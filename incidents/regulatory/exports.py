"""A notice as a file: Markdown, a standalone printable HTML document, or a PDF (ReportLab).

Each carries the incident, the regime, the version and status, who approved it and when, where
it was sent, and — while the notice is not sent — the legal privilege marking
(``incidents.models.PRIVILEGE_MARKING``). Used by the notice pages
(``incidents.regulatory.views.notice_export``) and the API (``incidents.regulatory.api``).

The caller has checked that the viewer may read the register. ``notice.incident``,
``notice.regime``, ``approved_by`` and ``sent_by`` are read (select them with the notice).
"""

from __future__ import annotations

import re
from datetime import datetime
from io import BytesIO
from typing import Any

# Escaping only (it writes XML, parses nothing): bandit B406 flags any xml.sax import.
from xml.sax.saxutils import escape as xml_escape  # nosec B406

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from incidents.markdown import render_markdown
from incidents.models import PRIVILEGE_MARKING, Notice

from .services import stage_of

CONTENT_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else ""


def _person(user: object | None) -> str:
    if user is None:
        return "someone"
    full = user.get_full_name()  # type: ignore[attr-defined]
    return full or user.username  # type: ignore[attr-defined]


def metadata(notice: Notice) -> list[tuple[str, str]]:
    """The facts every export shows, in order, as (label, value); empty values left out."""
    incident = notice.incident
    stage = stage_of(notice.regime, notice.stage) if notice.stage else None
    rows = [
        ("Incident", f"{incident.reference} — {incident.title}"),
        ("Regime", f"{notice.regime.name} ({notice.regime.authority})"),
        ("Deadline", stage.label if stage else ""),
        ("Version", str(notice.version)),
        ("Status", notice.get_status_display()),
    ]
    if notice.approved_at:
        rows.append(
            (
                "Approved",
                f"version {notice.approved_version} by {_person(notice.approved_by)} at {_when(notice.approved_at)}",
            )
        )
    if notice.sent_at:
        sent = f"{_when(notice.sent_at)} to {notice.recipient} via {notice.sent_channel}"
        rows.append(("Sent", sent))
        if notice.authority_reference:
            rows.append(("Their reference", notice.authority_reference))
    return [(label, value) for label, value in rows if value]


def filename(notice: Notice, fmt: str) -> str:
    """``IR-2026-0001-notice-7-v3.pdf``: what the download is saved as."""
    return f"{slugify(notice.incident.reference) or 'incident'}-notice-{notice.pk}-v{notice.version}.{fmt}"


def notice_markdown(notice: Notice) -> str:
    """The notice as Markdown: its title, the marking (while privileged) as a quote, the facts
    as a list, a rule, then the body as written. Ends with one newline."""
    lines = [f"# {notice.title}", ""]
    if notice.privileged:
        lines += [f"> **{PRIVILEGE_MARKING}**", ""]
    lines += [f"- **{label}:** {value}" for label, value in metadata(notice)]
    lines += ["", "---", "", notice.body.strip(), ""]
    return "\n".join(lines)


def notice_html(notice: Notice) -> str:
    """A standalone HTML document (no script, no external resource; its CSS in a ``<style>``),
    printable as it is. The body is rendered from Markdown and sanitized
    (``incidents.markdown.render_markdown``); everything else is escaped by the template."""
    return render_to_string(
        "regulatory/export.html",
        {
            "notice": notice,
            "marking": PRIVILEGE_MARKING if notice.privileged else "",
            "facts": metadata(notice),
            "body": render_markdown(notice.body),
        },
    )


# --- PDF -----------------------------------------------------------------------------------------
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*(\d{1,4})[.)]\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?!\*)|(?<![_\w])_(?!\s)(.+?)(?<!\s)_(?![_\w])")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def inline(text: str) -> str:
    """One line of Markdown as ReportLab paragraph markup: XML-escaped first, then ``**bold**``,
    ``*italic*``, ```code``` and ``[text](url)`` (shown as "text (url)"). Nothing else
    in the text becomes markup."""
    text = xml_escape(text)
    text = _CODE.sub(lambda m: f'<font face="Courier">{m.group(1)}</font>', text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _BOLD.sub(lambda m: f"<b>{m.group(1) or m.group(2)}</b>", text)
    return _ITALIC.sub(lambda m: f"<i>{m.group(1) or m.group(2)}</i>", text)


def markdown_blocks(body: str) -> list[tuple[str, str]]:
    """The body as (kind, markup) blocks: ``h1``…``h6``, ``p`` (consecutive lines joined, a line
    ending a bold-label line kept apart), ``li`` / ``ol:<n>`` list items, ``hr``, ``pre``
    (fenced code, kept verbatim and escaped)."""
    blocks: list[tuple[str, str]] = []
    paragraph: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if paragraph:
            blocks.append(("p", "<br/>".join(inline(line) for line in paragraph)))
            paragraph.clear()

    for raw in body.splitlines():
        line = raw.rstrip()
        if code is not None:
            if line.strip().startswith("```"):
                blocks.append(("pre", "\n".join(code)))
                code = None
            else:
                code.append(raw)
            continue
        if line.strip().startswith("```"):
            flush()
            code = []
        elif not line.strip():
            flush()
        elif heading := _HEADING.match(line):
            flush()
            blocks.append((f"h{len(heading.group(1))}", inline(heading.group(2))))
        elif _RULE.match(line):
            flush()
            blocks.append(("hr", ""))
        elif bullet := _BULLET.match(line):
            flush()
            blocks.append(("li", inline(bullet.group(1))))
        elif numbered := _NUMBERED.match(line):
            flush()
            blocks.append((f"ol:{numbered.group(1)}", inline(numbered.group(2))))
        else:
            paragraph.append(line.strip())
    if code is not None:
        blocks.append(("pre", "\n".join(code)))
    flush()
    return blocks


def markdown_flowables(
    body: str, *, body_style: Any, item_style: Any, headings: dict[str, Any], code_style: Any
) -> list[Any]:
    """``body`` (Markdown) as ReportLab flowables, block by block (``markdown_blocks``): shared by
    the notice PDF and the incident report (``incidents.reports.pdf``)."""
    from reportlab.lib import colors
    from reportlab.platypus import HRFlowable, Paragraph, Preformatted

    story: list[Any] = []
    for kind, markup in markdown_blocks(body):
        if kind in headings:
            story.append(Paragraph(markup, headings[kind]))
        elif kind == "li":
            story.append(Paragraph(markup, item_style, bulletText="•"))
        elif kind.startswith("ol:"):
            story.append(Paragraph(markup, item_style, bulletText=f"{kind[3:]}."))
        elif kind == "hr":
            story.append(HRFlowable(width="100%", thickness=0.5, color=colors.HexColor("#98a2b3")))
        elif kind == "pre":
            story.append(Preformatted(markup, code_style))
        else:
            story.append(Paragraph(markup, body_style))
    return story


def notice_pdf(notice: Notice) -> bytes:
    """The notice as an A4 PDF: the title, the marking in red while privileged, the facts as a
    table, then the body converted block by block (``markdown_blocks``)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    marking_style = ParagraphStyle(
        "Marking", parent=styles["Normal"], textColor=colors.HexColor("#b42318"), fontName="Helvetica-Bold",
        borderColor=colors.HexColor("#b42318"), borderWidth=1, borderPadding=4, spaceAfter=10, spaceBefore=4,
    )  # fmt: skip
    item_style = ParagraphStyle("Item", parent=styles["Normal"], leftIndent=14, bulletIndent=4, spaceAfter=2)
    cell_style = ParagraphStyle("Cell", parent=styles["Normal"], fontSize=9, leading=11)
    headings = {f"h{n}": styles[f"Heading{min(n, 6)}"] for n in range(1, 7)}

    story: list = [Paragraph(xml_escape(notice.title), styles["Title"])]
    if notice.privileged:
        story.append(Paragraph(xml_escape(PRIVILEGE_MARKING), marking_style))
    facts = [
        [Paragraph(f"<b>{xml_escape(label)}</b>", cell_style), Paragraph(xml_escape(value), cell_style)]
        for label, value in metadata(notice)
    ]
    table = Table(facts, colWidths=[35 * mm, None], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d0d5dd")),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    story += [table, Spacer(1, 6 * mm)]
    story += markdown_flowables(
        notice.body, body_style=styles["BodyText"], item_style=item_style, headings=headings, code_style=styles["Code"]
    )

    def footer(canvas, document) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        text = f"{notice.incident.reference} · {notice.title[:90]} · version {notice.version} · page {document.page}"
        canvas.drawString(document.leftMargin, 10 * mm, text)
        if notice.privileged:
            canvas.setFillColor(colors.HexColor("#b42318"))
            canvas.setFont("Helvetica-Bold", 8)
            canvas.drawString(document.leftMargin, A4[1] - 10 * mm, PRIVILEGE_MARKING)
        canvas.restoreState()

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=notice.title, author="Breachline", subject=f"{notice.incident.reference} notice",
        leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
    )  # fmt: skip
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
