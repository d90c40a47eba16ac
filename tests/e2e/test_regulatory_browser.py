"""The notification register in the browser, from "applies" to "sent": the incident's lead decides
that GDPR Art. 33 applies, sets the awareness clock, watches the countdown tick, drafts the
notice, approves it and records it as sent, which stops the clock.
Screenshots: tests/e2e/screenshots/regulatory-*.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from accounts.models import User
from incidents.models import DeadlineClock, Incident, Notice, RegulatoryAssessment

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
# Two hours (and under a minute) into 72: "in 2 d 21 h 59 min 12 s" or so.
COUNTDOWN = re.compile(r"^in 2 d 2[12] h \d+ min \d+ s$")
MARKING = "Privileged & confidential — prepared at the direction of counsel"


def local_minute(moment: datetime) -> str:
    """A datetime-local value: the server reads it in TIME_ZONE (UTC in the tests)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def test_from_applies_to_sent(page, log_in, lead: User, incident: Incident, builtin_rows: None) -> None:
    lead.set_password(PASSWORD)
    lead.save()
    SCREENSHOTS.mkdir(exist_ok=True)
    log_in(lead.username, PASSWORD)
    page.goto(incident.get_absolute_url())
    row = page.locator('article[data-regime="gdpr-art33"]')
    expect(row.locator(".register-head .badge")).to_have_text("Not assessed")

    # 1. The decision, with its reasoning.
    row.get_by_text("Decide", exact=True).click()
    row.locator("#decide-gdpr-art33-decision").select_option("applies")
    row.locator("#decide-gdpr-art33-reason").fill("Customer e-mail addresses of EU residents were exfiltrated.")
    row.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status").first).to_have_text("GDPR Art. 33 — supervisory authority: applies.")
    row = page.locator('article[data-regime="gdpr-art33"]')
    expect(row.locator(".register-head .badge")).to_have_text("Applies")
    expect(row.locator(".register-decided")).to_contain_text("Customer e-mail addresses of EU residents")
    expect(row.locator('li.clock[data-stage="notification"]')).to_have_attribute("data-state", "unset")

    # 2. The awareness clock, started two hours ago: due in about 70 hours.
    started = datetime.now(UTC) - timedelta(hours=2)
    row.locator("#clock-gdpr-art33-start_event").select_option("awareness")
    row.locator("#clock-gdpr-art33-started_at").fill(local_minute(started))
    row.locator("#clock-gdpr-art33-reason").fill("The SOC lead confirmed the exfiltration in the proxy logs.")
    row.get_by_role("button", name="Set the clock").click()
    row = page.locator('article[data-regime="gdpr-art33"]')
    clock = row.locator('li.clock[data-stage="notification"]')
    expect(clock).to_have_attribute("data-state", "running")
    expect(clock.locator(".clock-explanation")).not_to_be_empty()
    expect(clock).to_contain_text("set by")
    countdown = clock.locator("time[data-countdown]")
    expect(countdown).to_have_text(COUNTDOWN)

    # 3. It ticks in the browser, with no request: read it, then again a second and a bit later
    # (expect retries the second reading: a full-page screenshot can hold the page's timers).
    first = countdown.inner_text()
    clock.screenshot(path=str(SCREENSHOTS / "regulatory-1-clock-a.png"))
    page.wait_for_timeout(1_200)
    expect(countdown).not_to_have_text(first)
    expect(countdown).to_have_text(COUNTDOWN)
    clock.screenshot(path=str(SCREENSHOTS / "regulatory-2-clock-b.png"))
    db_clock = DeadlineClock.objects.get(incident=incident)
    assert (db_clock.started_by, db_clock.start_event) == (lead, "awareness")
    assert db_clock.due_at == started.replace(second=0, microsecond=0) + timedelta(hours=72)

    # 4. The notice: drafted from the template, privileged, approved, recorded as sent.
    row.get_by_role("button", name="Draft notice").click()
    page.wait_for_url("**/register/notices/*/")
    expect(page.locator("#privilege-marking")).to_have_text(MARKING)
    expect(page.locator("#notice-status")).to_have_text("Draft")
    expect(page.locator(".notice-body")).to_contain_text(
        "Notification of a personal data breach under Article 33 GDPR."
    )
    page.screenshot(path=str(SCREENSHOTS / "regulatory-3-draft.png"), full_page=True)

    page.get_by_role("button", name="Approve version 1").click()
    expect(page.locator("#notice-status")).to_have_text("Approved")
    expect(page.locator("#notice-approved")).to_contain_text(f"version 1 by {lead}")
    expect(page.locator("#privilege-marking")).to_have_text(MARKING)  # privileged until sent

    sent_at = datetime.now(UTC) - timedelta(minutes=5)
    page.locator("#send-sent_at").fill(local_minute(sent_at))
    page.locator("#send-channel").fill("Authority portal")
    page.locator("#send-recipient").fill("CNIL")
    page.locator("#send-authority_reference").fill("CNIL-2026-0042")
    page.screenshot(path=str(SCREENSHOTS / "regulatory-4-approved.png"), full_page=True)
    page.get_by_role("button", name="Record as sent").click()
    expect(page.locator("#notice-status")).to_have_text("Sent")
    expect(page.locator("#notice-sent")).to_contain_text("to CNIL via Authority portal, their reference CNIL-2026-0042")
    expect(page.locator("#privilege-marking")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "regulatory-5-sent.png"), full_page=True)

    # 5. Back on the incident: the clock is stopped, no countdown left.
    page.get_by_role("link", name="Notification register").click()
    row = page.locator('article[data-regime="gdpr-art33"]')
    clock = row.locator('li.clock[data-stage="notification"]')
    expect(clock).to_have_attribute("data-state", "stopped")
    expect(clock).to_contain_text("the notice was sent")
    expect(clock.locator("time[data-countdown]")).to_have_count(0)
    expect(row.locator(".notice-item .badge").first).to_have_text("Sent")
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "regulatory-6-stopped.png"), full_page=True)

    assert RegulatoryAssessment.objects.get(incident=incident).decided_by == lead
    notice = Notice.objects.get(incident=incident)
    assert (notice.status, notice.recipient, notice.approved_by) == ("sent", "CNIL", lead)
    db_clock.refresh_from_db()
    assert db_clock.stopped_at == sent_at.replace(second=0, microsecond=0)
    assert db_clock.stopped_by_notice == notice
