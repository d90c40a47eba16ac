"""The attack timeline in the browser: a responder opens an incident's timeline, adds two events
in place (one a key event, one not), edits one, then filters to key events only. Screenshots:
/tmp/timeline_page.png (the temporary directory) and tests/e2e/screenshots/timeline-*.png."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.models import Incident
from timeline import services as timeline
from timeline.models import TimelineEvent

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


@pytest.fixture
def member(lead: User, responder: User, incident: Incident) -> User:
    services.member_add(incident=incident, user=responder, actor=lead)
    responder.set_password(PASSWORD)
    responder.save()
    return responder


def test_a_responder_adds_events_in_place_and_filters_to_key_events(
    page, log_in, lead: User, member: User, incident: Incident
) -> None:
    # What was already reconstructed, in three offsets and three precisions.
    timeline.event_add(
        incident=incident, actor=lead, title="Phishing mail opened by the CFO's assistant",
        occurred_at="2026-03-01T23:30:00-05:00", precision="exact", kind="attacker", technique="T1566.001",
        source="Mail gateway", description="Attachment `invoice.xlsm` opened; macro ran.",
    )  # fmt: skip
    timeline.event_add(
        incident=incident, actor=lead, title="Mailbox forwarding rule created",
        occurred_at=date(2026, 3, 2), precision="day", kind="attacker", technique="T1114.003",
    )  # fmt: skip
    timeline.event_add(
        incident=incident, actor=lead, title="EDR flagged the macro's child process",
        occurred_at="2026-03-02T10:12:00+01:00", precision="minute", kind="detection", key_event=True,
        source="EDR",
    )  # fmt: skip

    log_in(member.username, PASSWORD)
    page.goto(f"/incidents/{incident.reference}/timeline/")
    expect(page.get_by_role("heading", name="Attack timeline")).to_be_visible()
    events = page.locator("#timeline-events")
    expect(events.locator("h3.event-title")).to_have_count(3)

    form = page.locator("#event-add-form")
    # A key event, in the source's own clock (India).
    form.locator("#event-add-occurred_at").fill("2026-03-02T06:10")
    form.locator("#event-add-zone").select_option("Asia/Kolkata")
    form.locator("#event-add-precision").select_option("minute")
    form.locator("#event-add-kind").select_option("attacker")
    form.locator("#event-add-title").fill("VPN sign-in with the contractor's token")
    form.locator("#event-add-technique").fill("T1078.004")
    form.locator("#event-add-source").fill("VPN concentrator")
    form.get_by_label("Key event").check()
    form.get_by_role("button", name="Add event").click()

    new = events.locator("li.event", has_text="VPN sign-in with the contractor's token")
    expect(new).to_be_visible()
    expect(new.locator(".event-time")).to_have_text("00:40")
    expect(new.locator(".source-clock")).to_have_text("06:10 +05:30 at source")
    expect(new.locator(".event-technique")).to_have_text("T1078.004 Valid Accounts: Cloud Accounts")
    expect(new.locator(".key-badge")).to_be_visible()
    expect(events.locator(".timeline-notice")).to_contain_text("Added “VPN sign-in with the contractor's token”")
    expect(page.locator("#event-add-title")).to_have_value("")  # the form was reset

    # A refused one keeps what was typed and says why.
    form = page.locator("#event-add-form")
    form.locator("#event-add-occurred_at").fill("2026-03-02T11:00")
    form.locator("#event-add-kind").select_option("containment")
    form.locator("#event-add-title").fill("Contractor account disabled")
    form.locator("#event-add-technique").fill("T1199.001")
    form.get_by_role("button", name="Add event").click()
    expect(page.locator("#event-add-technique-error")).to_have_text(
        "T1199.001 is not a technique in ATT&CK Enterprise 18.1."
    )
    expect(page.locator("#event-add-title")).to_have_value("Contractor account disabled")
    page.locator("#event-add-technique").fill("")
    page.locator("#event-add-form").get_by_role("button", name="Add event").click()
    expect(events.locator("li.event", has_text="Contractor account disabled")).to_be_visible()

    # Edited in place: the row becomes its form, then the row again.
    SCREENSHOTS.mkdir(exist_ok=True)
    row = events.locator("li.event", has_text="Contractor account disabled")
    row.get_by_role("link", name="Edit").click()
    editing = events.locator("li.event.editing")
    expect(editing.locator("input[name=title]")).to_have_value("Contractor account disabled")
    page.screenshot(path=str(SCREENSHOTS / "timeline-0-editing.png"), full_page=True)
    # Meanwhile the lead changes it: the save is refused (409) with the form kept, then repeated.
    current = TimelineEvent.objects.get(title="Contractor account disabled")
    timeline.event_update(event=current, actor=lead, data={"source": "IdP audit log"})
    editing.locator("input[name=title]").fill("Contractor account disabled at the IdP")
    editing.get_by_role("button", name="Save event").click()
    expect(editing.get_by_role("alert")).to_contain_text("Someone changed this event since you opened it")
    expect(editing.locator("input[name=title]")).to_have_value("Contractor account disabled at the IdP")
    page.screenshot(path=str(SCREENSHOTS / "timeline-0-conflict.png"), full_page=True)
    editing.get_by_role("button", name="Save event").click()
    saved = events.locator("li.event", has_text="Contractor account disabled at the IdP")
    expect(saved.locator(".event-saved")).to_have_text("Saved.")
    expect(saved.locator(".event-source")).to_have_text("IdP audit log")  # their change kept too
    expect(events.locator("li.event.editing")).to_have_count(0)

    assert list(TimelineEvent.objects.order_by("occurred_at").values_list("title", "key_event")) == [
        ("Mailbox forwarding rule created", False),
        ("VPN sign-in with the contractor's token", True),
        ("Phishing mail opened by the CFO's assistant", False),
        ("EDR flagged the macro's child process", True),
        ("Contractor account disabled at the IdP", False),
    ]
    expect(events.locator("h2.day-header")).to_have_text(["Monday 2 March 2026"])
    page.evaluate("window.scrollTo(0, 0)")  # the sticky date header would sit mid-screenshot
    page.screenshot(path=str(SCREENSHOTS / "timeline-1-added.png"), full_page=True)

    page.get_by_label("Key events only").check()
    page.locator("form.timeline-filters").get_by_role("button", name="Filter").click()
    page.wait_for_url("**/timeline/?*key=on*")
    expect(events.locator("h3.event-title")).to_have_text(
        ["VPN sign-in with the contractor's token", "EDR flagged the macro's child process"]
    )
    expect(page.get_by_label("Key events only")).to_be_checked()
    page.screenshot(path=str(SCREENSHOTS / "timeline-2-key-events.png"), full_page=True)

    # The executive's summary: one line per key event.
    page.get_by_role("link", name="Key events").click()
    page.wait_for_url(f"**/incidents/{incident.reference}/timeline/key/")
    lines = page.locator("table.key-events tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.first).to_contain_text("VPN sign-in with the contractor's token")
    expect(lines.first.locator(".c-technique")).to_have_text("T1078.004 Valid Accounts: Cloud Accounts")
    page.screenshot(path=str(SCREENSHOTS / "timeline-3-key-view.png"), full_page=True)
    for step, name in (
        ("1-added", "timeline_page"),
        ("2-key-events", "timeline_page_key"),
        ("3-key-view", "timeline_key_view"),
        ("0-editing", "timeline_editing"),
        ("0-conflict", "timeline_conflict"),
    ):
        shutil.copy(SCREENSHOTS / f"timeline-{step}.png", Path(tempfile.gettempdir()) / f"{name}.png")
