"""Issue 9's browser test: a lead adds a vendor as the entry point, records its API token,
revokes and rotates it, sees the containment checklist turn green, then marks the incident
contained (no override needed). Screenshots land in tests/e2e/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.models import Incident, Status
from incidents.vendors import services as vendors
from tests.factories import make_incident

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


def test_a_lead_closes_the_entry_point_vendors_token_and_contains(
    page, log_in, screenshot, admin: User, lead: User
) -> None:
    incident = make_incident(opened_by=lead, lead=lead, title="Contractor CI token used to pull model weights")
    services.incident_transition(incident=incident, to=Status.INVESTIGATING, actor=lead)
    vendors.vendor_create(actor=admin, name="Northwind Data Labs", tier="critical")
    vendors.vendor_create(actor=admin, name="Contoso Forensics", tier="medium")

    log_in(lead.username, PASSWORD)
    page.goto(incident.get_absolute_url())
    panel = page.locator("#vendors-panel")
    # The add form searches the registry as you type and offers what matches as radio buttons.
    panel.get_by_label("Vendor", exact=True).fill("north")
    expect(panel.locator("#vendor-add-choices li")).to_have_count(1)
    panel.get_by_label("Northwind Data Labs").check()
    screenshot("00-vendor-search")
    panel.get_by_label("As").select_option("entry_point")
    panel.get_by_role("button", name="Add vendor").click()
    expect(panel.locator(".notice")).to_have_text("Added Northwind Data Labs as entry point.")

    panel.get_by_text("Add access for Northwind Data Labs").click()
    panel.get_by_label("Kind").select_option("api_token")
    panel.get_by_label("System").fill("GitLab CI")
    panel.get_by_label("Identifier").fill("svc-nw-ci")
    panel.get_by_role("button", name="Add access").click()
    checklist = panel.locator(".containment-checklist")
    expect(checklist).to_have_text("Containment: 0 of 1 vendor access item revoked; API token svc-nw-ci still active.")
    expect(checklist).to_have_attribute("data-green", "false")
    screenshot("01-token-active")

    # Containment is refused while the token is active: the confirmation page names it.
    page.locator(".transitions").get_by_role("button", name="Contained").click()
    expect(page.locator(".contain-active")).to_contain_text("Northwind Data Labs: API token svc-nw-ci")
    page.get_by_role("link", name="Cancel").click()

    panel = page.locator("#vendors-panel")
    panel.get_by_label("How (for API token svc-nw-ci)").fill("Token deleted in GitLab")
    panel.get_by_role("button", name="Record the step for API token svc-nw-ci").click()
    expect(panel.locator(".notice")).to_have_text("Northwind Data Labs's API token svc-nw-ci is now revoked.")
    expect(panel.get_by_label("Next step for API token svc-nw-ci")).to_have_value("rotated")
    panel.get_by_label("How (for API token svc-nw-ci)").fill("New token issued to our own runner")
    panel.get_by_role("button", name="Record the step for API token svc-nw-ci").click()
    checklist = panel.locator(".containment-checklist")
    expect(checklist).to_have_text("Containment: 1 of 1 vendor access item revoked.")
    expect(checklist).to_have_attribute("data-green", "true")
    expect(panel.locator(".access-item")).to_have_attribute("data-state", "rotated")
    screenshot("02-checklist-green")

    page.reload()
    page.locator(".transitions").get_by_role("button", name="Contained").click()
    expect(page.locator(".badges")).to_contain_text("Contained")
    assert Incident.objects.get(pk=incident.pk).status == "contained"
    screenshot("03-contained")
