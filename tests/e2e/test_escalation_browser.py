"""Escalation in the browser: a policy pages an incident's lead at once; a responder opens a
critical incident; the lead signs in, sees 1 on the bell, opens the inbox, follows the link to
the incident and acknowledges it. Screenshots: tests/e2e/screenshots/escalation-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from accounts.models import User
from incidents import services as incident_services
from incidents.models import Severity
from notifications import services
from notifications.models import Acknowledgement, Escalation, EscalationPolicy, EscalationStep

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


def test_the_lead_acknowledges_from_the_bell(page, log_in, lead: User, responder: User) -> None:
    policy = EscalationPolicy.objects.create(name="Critical: lead first", severities=["critical"])
    EscalationStep.objects.create(policy=policy, position=1, delay=timedelta(0), include_lead=True)
    EscalationStep.objects.create(policy=policy, position=2, delay=timedelta(minutes=15), include_lead=True)
    incident = incident_services.incident_open(
        opened_by=responder, title="Ransom note on the file server", severity=Severity.CRITICAL, lead=lead
    )
    services.sweep()  # the step due at once (the in-process kick may have run it already: nothing twice)
    lead.set_password(PASSWORD)
    lead.save()
    SCREENSHOTS.mkdir(exist_ok=True)

    log_in(lead.username, PASSWORD)
    bell = page.locator("#bell-link")
    expect(page.locator("#bell-count")).to_have_text("1")
    expect(bell).to_have_attribute("aria-label", "Notifications: 1 unread")
    page.screenshot(path=str(SCREENSHOTS / "escalation-1-bell.png"))

    bell.click()
    page.wait_for_url("**/notifications/")
    item = page.locator("li.inbox-item.unread")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("needs acknowledgement")
    page.screenshot(path=str(SCREENSHOTS / "escalation-2-inbox.png"), full_page=True)

    item.get_by_role("link", name=incident.reference).click()
    page.wait_for_url(f"**/incidents/{incident.reference}/")
    expect(page.locator("#paging-state")).to_contain_text("Escalation running: policy “Critical: lead first”")
    page.screenshot(path=str(SCREENSHOTS / "escalation-3-running.png"))

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#paging-state")).to_contain_text(f"Acknowledged by {lead} at")
    expect(page.locator("#paging-state")).to_contain_text("via browser.")
    expect(page.get_by_role("status").first).to_have_text(
        f"You acknowledged {incident.reference}: its escalation is stopped."
    )
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "escalation-4-acknowledged.png"))

    ack = Acknowledgement.objects.get(incident=incident)
    assert (ack.user, ack.channel) == (lead, "web")
    assert Escalation.objects.get(incident=incident).stopped_at is not None
