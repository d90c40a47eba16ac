"""A responder's day in the browser: log in, open an incident, add a finding (htmx), move it on.

Runs Debian's chromium headless against ``live_server``; screenshots of each step land in
tests/e2e/screenshots/ (gitignored) for reviewing the UI.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.models import Finding, Incident, Severity, Status

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
DETAIL_URL = re.compile(r"/incidents/(IR-\d{4}-\d{4})/$")


def test_lead_opens_incident_adds_finding_and_starts_investigating(page, log_in, screenshot, lead: User) -> None:
    assert not Incident.objects.exists()

    log_in(lead.username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    screenshot("01-home")

    # Open an incident through the "New incident" form.
    page.get_by_role("link", name="New incident").click()
    expect(page).to_have_url(re.compile(r"/incidents/new/$"))
    page.get_by_label("Title").fill("Ransom note on file server FS-02")
    page.get_by_label("Severity").select_option(Severity.CRITICAL)
    page.get_by_label("Category").select_option("ransomware")
    page.get_by_label("Summary").fill("EDR quarantined `locker.exe` on **FS-02** at 03:12 UTC.")
    screenshot("02-new-incident-form")
    page.get_by_role("button", name="Open incident").click()

    expect(page).to_have_url(DETAIL_URL)
    reference = DETAIL_URL.search(page.url).group(1)
    assert reference.startswith(f"IR-{timezone.now().year}-")
    expect(page.locator(".ref")).to_have_text(reference)
    expect(page.get_by_role("heading", level=1)).to_have_text("Ransom note on file server FS-02")
    expect(page.get_by_role("status")).to_have_text(f"Opened {reference}.")
    expect(page.locator(".heading .badge.status-new")).to_have_text("New")
    expect(page.locator(".heading .badge.sev-critical")).to_have_text("Critical")
    expect(page.locator(".prose code").first).to_have_text("locker.exe")
    incident = Incident.objects.get(reference=reference)
    assert (incident.title, incident.status, incident.opened_by) == ("Ransom note on file server FS-02", "new", lead)
    assert incident.findings.count() == 0
    screenshot("03-detail-opened")

    # Add a finding: htmx posts it and swaps #findings-panel in place, without navigating.
    detail_url = page.url
    page.evaluate("window.__samePage = true")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    finding_text = "Ransom note HOW_TO_RESTORE.txt dropped in 1,204 folders on FS-02."
    panel = page.locator("#findings-panel")
    expect(panel.get_by_text("No findings yet.")).to_be_visible()
    panel.get_by_label("New finding").fill(finding_text)
    with page.expect_response(lambda r: r.url.endswith("/findings/") and r.request.method == "POST") as posted:
        panel.get_by_role("button", name="Add finding").click()
    assert posted.value.status == 200
    assert posted.value.request.headers.get("hx-request") == "true"

    expect(page.locator("#findings-panel .finding")).to_have_count(1)
    expect(page.locator("#findings-panel .finding .prose")).to_have_text(finding_text)
    expect(page.locator("#findings-panel h2 .count")).to_have_text("1")
    expect(page.locator("#findings-panel").get_by_label("New finding")).to_have_value("")
    assert page.evaluate("window.__samePage") is True, "the page reloaded instead of swapping the panel"
    assert page.url == detail_url
    assert navigations == []
    assert list(Finding.objects.filter(incident=incident).values_list("body", "author")) == [(finding_text, lead.pk)]
    screenshot("04-finding-added")

    # Move to investigating: a plain form post, then back on the detail page.
    page.get_by_role("button", name="Move to investigating").click()
    expect(page.locator(".heading .badge.status-investigating")).to_have_text("Investigating")
    expect(page.get_by_role("status")).to_have_text(f"{reference} is now investigating.")
    expect(page.get_by_role("button", name="Move to contained")).to_be_visible()
    expect(page.get_by_role("button", name="Move to investigating")).to_have_count(0)
    # The finding is still there after the full page load.
    expect(page.locator("#findings-panel .finding .prose")).to_have_text(finding_text)
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.acknowledged_at is not None
    assert Finding.objects.filter(incident=incident).count() == 1
    screenshot("05-investigating")


def test_stale_edit_shows_conflict_and_keeps_the_other_save(
    page, log_in, screenshot, lead: User, responder: User, incident: Incident
) -> None:
    assert (incident.version, incident.title) == (1, "Phishing wave against finance")
    services.member_add(incident=incident, user=responder, actor=lead)  # works the case: may edit it

    log_in(lead.username, PASSWORD)
    page.goto(f"/incidents/{incident.reference}/edit/")
    title = page.get_by_label("Title")
    expect(title).to_have_value("Phishing wave against finance")
    title.fill("Phishing wave against finance and HR")
    screenshot("01-editing")

    # Meanwhile a colleague saves the incident.
    services.incident_update(
        incident=Incident.objects.get(pk=incident.pk),
        actor=responder,
        version=1,
        changes={"title": "Phishing wave against finance (BEC)", "severity": Severity.HIGH},
    )

    with page.expect_response(lambda r: r.url.endswith("/edit/") and r.request.method == "POST") as saved:
        page.get_by_role("button", name="Save").click()
    assert saved.value.status == 409

    conflict = page.locator(".conflict")
    expect(conflict).to_contain_text(f"{incident.reference} changed while you were editing")
    # Who changed it, not "someone else"; field by field (tests/e2e/test_live_and_drafts.py merges).
    expect(conflict).to_contain_text(f"Changed by {responder} at")
    expect(conflict).to_contain_text("It is now at version 2")
    expect(conflict).to_contain_text("Phishing wave against finance (BEC)")
    expect(conflict).not_to_contain_text("someone else")
    # Both changed the title: one click cannot choose, so it is not offered.
    expect(conflict).to_contain_text("You both changed title")
    expect(page.get_by_role("button", name="Apply my changes on top of theirs")).to_have_count(0)
    # The editor's text is kept so it can be copied into the current version.
    expect(page.get_by_label("Title")).to_have_value("Phishing wave against finance and HR")
    screenshot("02-conflict")

    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.version) == (
        "Phishing wave against finance (BEC)",
        Severity.HIGH,
        2,
    )
