"""A notice exported as Markdown, HTML and PDF (incidents/regulatory/exports.py): the facts, the
body, and the privilege marking while — and only while — it is not sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import Notice, Regime
from incidents.regulatory import exports, services

from ..pdf_support import pdf_text

MARKING = "Privileged & confidential — prepared at the direction of counsel"


@pytest.fixture
def tiny(db) -> Regime:
    return Regime.objects.create(
        slug="tiny",
        name="Tiny regime",
        kind="custom",
        authority="The regulator",
        duration=timedelta(hours=24),
        notice_template="## What happened\n\nHello {reference}: *see* **below** & <b>more</b>.\n\n- one\n- two\n",
    )


@pytest.fixture
def draft(incident, lead, tiny) -> Notice:
    services.assessment_decide(incident=incident, regime=tiny, decision="applies", reason="Contract", actor=lead)
    return services.notice_draft(incident=incident, regime=tiny, actor=lead)


@pytest.fixture
def sent(draft, lead) -> Notice:
    services.notice_approve(notice=draft, actor=lead, version=1)
    return services.notice_send(
        notice=draft,
        actor=lead,
        sent_at=datetime(2026, 1, 6, 10, 0, tzinfo=UTC),
        channel="Portal",
        recipient="CNIL",
        authority_reference="N-42",
    )


def test_markdown_of_a_draft(draft, incident):
    ref = incident.reference
    assert exports.notice_markdown(draft) == (
        f"# Tiny regime — Notification — {ref}\n"
        "\n"
        "> **Privileged & confidential — prepared at the direction of counsel**\n"
        "\n"
        f"- **Incident:** {ref} — Phishing wave against finance\n"
        "- **Regime:** Tiny regime (The regulator)\n"
        "- **Deadline:** Notification\n"
        "- **Version:** 1\n"
        "- **Status:** Draft\n"
        "\n"
        "---\n"
        "\n"
        "## What happened\n"
        "\n"
        f"Hello {ref}: *see* **below** & <b>more</b>.\n"
        "\n"
        "- one\n"
        "- two\n"
    )


def test_markdown_of_a_sent_notice_has_where_it_went_and_no_marking(sent, lead, settings):
    text = exports.notice_markdown(sent)
    assert MARKING not in text
    assert "- **Status:** Sent\n" in text
    assert re.search(rf"- \*\*Approved:\*\* version 1 by {re.escape(lead.get_full_name())} at \d{{4}}-", text)
    assert "- **Sent:** 2026-01-06 10:00 UTC to CNIL via Portal\n- **Their reference:** N-42\n" in text


def test_html_is_marked_while_draft_and_not_after_sent(draft, lead):
    html = exports.notice_html(draft)
    assert html.startswith("<!doctype html>")
    assert (
        '<p class="marking" role="note">Privileged &amp; confidential — prepared at the direction of counsel</p>'
        in html
    )
    assert "<h2>What happened</h2>" in html
    assert "<em>see</em> <strong>below</strong> &amp;" in html
    assert "<script" not in html and "<link" not in html
    services.notice_approve(notice=draft, actor=lead, version=1)
    assert 'class="marking"' in exports.notice_html(Notice.objects.get(pk=draft.pk))  # approved: still privileged
    services.notice_send(
        notice=draft, actor=lead, sent_at=datetime(2026, 1, 6, 10, 0, tzinfo=UTC), channel="Portal", recipient="CNIL"
    )
    html = exports.notice_html(Notice.objects.select_related("incident", "regime").get(pk=draft.pk))
    assert "Privileged" not in html
    assert "<dt>Sent</dt><dd>2026-01-06 10:00 UTC to CNIL via Portal</dd>" in html


def test_pdf_marking_appears_only_while_privileged(draft, lead):
    pdf = exports.notice_pdf(draft)
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    text = pdf_text(pdf)
    assert b"Privileged & confidential" in text
    assert b"What happened" in text and b"one" in text
    # The body's HTML is text, not markup (drawn in pieces: join the pieces of one line).
    assert b"& <b>more</b>." in text.replace(b") Tj (", b"")
    services.notice_approve(notice=draft, actor=lead, version=1)
    sent = services.notice_send(
        notice=draft, actor=lead, sent_at=datetime(2026, 1, 6, 10, 0, tzinfo=UTC), channel="Portal", recipient="CNIL"
    )
    text = pdf_text(exports.notice_pdf(sent))
    assert b"Privileged" not in text
    assert b"CNIL" in text


@pytest.mark.parametrize(
    ("body", "blocks"),
    [
        (
            "# Title\nText one\ntext two\n\n- a *b*\n1. c",
            [("h1", "Title"), ("p", "Text one<br/>text two"), ("li", "a <i>b</i>"), ("ol:1", "c")],
        ),
        ("Ampersand & <tag> **bold**", [("p", "Ampersand &amp; &lt;tag&gt; <b>bold</b>")]),
        ("```\n<x> & y\n```\n---", [("pre", "<x> & y"), ("hr", "")]),
        ("[site](https://example.com) `code`", [("p", 'site (https://example.com) <font face="Courier">code</font>')]),
    ],
)
def test_markdown_blocks(body, blocks):
    assert exports.markdown_blocks(body) == blocks
