"""Working a case day to day, in the browser: others' changes appear without a reload, an expired
session loses nothing typed, an edit conflict is resolved without retyping, errors show beside
the form. Screenshots (desktop and a 390 px phone) land in tests/e2e/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.models import Finding, Incident, Severity

from .conftest import SCREENSHOTS, browser_page

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
# The page polls every 4 s: a change shows within one interval plus a request.
WITHIN_A_POLL = 6_000
PHONE = {"width": 390, "height": 844}


def sign_in(page, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.fixture
def second_page(browser, live_server) -> Iterator[object]:
    """A second person's browser: its own context (cookies, storage)."""
    with browser_page(browser, live_server) as page:
        yield page


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"live-{name}.png"), full_page=True)


def test_a_colleagues_finding_appears_without_a_reload_and_nothing_typed_is_touched(
    page, second_page, log_in, screenshot, lead: User, responder: User, incident: Incident
) -> None:
    services.member_add(incident=incident, user=responder, actor=lead)
    task = services.task_add(incident=incident, actor=lead, title="Pull the mail gateway logs", assignee=lead)
    log_in(lead.username, PASSWORD)
    page.goto(incident.get_absolute_url())
    page.evaluate("window.__samePage = true")
    # The lead is halfway through a finding and a note on a task when the colleague writes.
    typing = page.locator("#findings-panel").get_by_label("New finding")
    typing.fill("Half-typed: the lure came from")
    page.locator(f"#task-{task.pk} details.task-notes summary").click()
    note = page.get_by_label(f"Note on {task.title}")
    note.fill("Asked IT for the")
    note.focus()
    expect(page.locator("#findings-list .finding")).to_have_count(0)

    second_page.goto("/accounts/login/")
    sign_in(second_page, responder.username)
    second_page.goto(incident.get_absolute_url())
    second_page.locator("#findings-panel").get_by_label("New finding").fill("Sender domain registered 2 days ago.")
    second_page.locator("#findings-panel").get_by_role("button", name="Add finding").click()
    expect(second_page.locator("#findings-list .finding")).to_have_count(1)
    second_page.locator("#tasks-panel").get_by_label("New task").fill("Block the sender domain")
    second_page.locator("#tasks-panel").get_by_role("button", name="Add task").click()
    expect(second_page.locator("#tasks-list")).to_contain_text("Block the sender domain")
    services.incident_transition(incident=Incident.objects.get(pk=incident.pk), to="investigating", actor=responder)

    # Within one poll, without a reload, in the lead's page: finding, count, activity, status.
    finding = page.locator("#findings-list .finding")
    expect(finding).to_have_count(1, timeout=WITHIN_A_POLL)
    expect(finding).to_contain_text("Sender domain registered 2 days ago.")
    expect(page.locator("#findings-count")).to_have_text("1")
    expect(page.locator("#case-activity")).to_contain_text(f"{responder} added a finding", timeout=WITHIN_A_POLL)
    expect(page.locator("#case-heading .badge.status-investigating")).to_be_visible(timeout=WITHIN_A_POLL)
    assert page.evaluate("window.__samePage") is True
    # What the lead was typing is as they left it, focus and all.
    expect(typing).to_have_value("Half-typed: the lure came from")
    expect(page.get_by_label(f"Note on {task.title}")).to_have_value("Asked IT for the")
    expect(page.get_by_label(f"Note on {task.title}")).to_be_focused()
    screenshot("01-colleagues-changes-arrived")

    # The lead adds their finding: it lands in place, focused, and the activity follows.
    typing.fill("The lure came from a lookalike of our payroll vendor.")
    page.locator("#findings-panel").get_by_role("button", name="Add finding").click()
    expect(page.locator("#findings-list .finding")).to_have_count(2)
    expect(page.locator("#findings-list .finding").last).to_be_focused()
    expect(page.locator("#case-activity li").first).to_contain_text(f"{lead} added a finding")
    expect(page.locator("#findings-panel").get_by_label("New finding")).to_have_value("")
    assert page.evaluate(
        "sessionStorage.length === 0 || !Object.keys(sessionStorage).some(k => k.includes('/findings/'))"
    )
    screenshot("02-own-finding-focused")

    page.set_viewport_size(PHONE)
    screenshot("03-phone")


def test_the_session_expires_while_a_finding_is_typed_and_the_text_survives_the_login(
    page, log_in, screenshot, lead: User, incident: Incident
) -> None:
    log_in(lead.username, PASSWORD)
    page.goto(incident.get_absolute_url())
    text = "Mailbox rule forwards invoices to an outside address (created 03:12 UTC)."
    page.locator("#findings-panel").get_by_label("New finding").fill(text)

    Session.objects.all().delete()  # the session expires (or is revoked) on the server

    # The poll notices and says so, without taking the page away from the person typing.
    banner = page.locator("#session-expired")
    expect(banner).to_contain_text("Your session has expired", timeout=WITHIN_A_POLL)
    expect(page.locator("#findings-panel").get_by_label("New finding")).to_have_value(text)
    screenshot("01-session-expired-banner")

    # Saving sends them to log in (not the login page drawn inside the panel)…
    page.locator("#findings-panel").get_by_role("button", name="Add finding").click()
    page.wait_for_url(re.compile(r"/accounts/login/\?next=%2Fincidents%2F"))
    expect(page.locator("#findings-panel")).to_have_count(0)
    screenshot("02-login")
    assert Finding.objects.count() == 0

    # …and back to the case, with what they typed put back, not yet saved.
    sign_in(page, lead.username)
    assert page.url.endswith(incident.get_absolute_url())
    expect(page.locator("#findings-panel").get_by_label("New finding")).to_have_value(text)
    expect(page.locator(".draft-note")).to_contain_text("Restored what you typed earlier in this tab")
    screenshot("03-restored-after-login")

    page.locator("#findings-panel").get_by_role("button", name="Add finding").click()
    expect(page.locator("#findings-list .finding")).to_contain_text(text)
    assert list(Finding.objects.values_list("body", flat=True)) == [text]
    # Saved, so the draft is gone: a reload shows an empty form.
    page.reload()
    expect(page.locator("#findings-panel").get_by_label("New finding")).to_have_value("")
    expect(page.locator(".draft-note")).to_have_count(0)


def test_an_error_answer_shows_beside_the_form_and_keeps_the_text(
    page, log_in, screenshot, lead: User, responder: User, restricted_incident: Incident
) -> None:
    log_in(responder.username, PASSWORD)
    page.goto(restricted_incident.get_absolute_url())
    text = "Contractor token used from 198.51.100.23."
    page.locator("#findings-panel").get_by_label("New finding").fill(text)
    # The lead takes the responder off the restricted case: the next save is a 404.
    services.member_remove(incident=restricted_incident, user=responder, actor=lead)
    page.locator("#findings-panel").get_by_role("button", name="Add finding").click()
    error = page.locator("#findings-panel .live-error")
    expect(error).to_contain_text("no longer available to you (404)")
    expect(page.locator("#findings-panel").get_by_label("New finding")).to_have_value(text)
    screenshot("01-inline-error")
    assert not Finding.objects.exists()


def test_an_edit_conflict_is_resolved_without_retyping(
    page, log_in, screenshot, lead: User, responder: User, incident: Incident
) -> None:
    services.member_add(incident=incident, user=responder, actor=lead)
    log_in(lead.username, PASSWORD)
    page.goto(f"/incidents/{incident.reference}/edit/")
    page.get_by_label("Title").fill("Phishing wave against finance and HR")
    page.get_by_label("Summary").fill("Lures impersonate the payroll vendor.\n\nHR mailboxes hit since Monday.")

    # Meanwhile a colleague raises the severity and flags personal data.
    services.incident_update(
        incident=Incident.objects.get(pk=incident.pk),
        actor=responder,
        version=1,
        changes={"severity": Severity.HIGH, "personal_data": True},
    )
    with page.expect_response(lambda r: r.url.endswith("/edit/") and r.request.method == "POST") as saved:
        page.get_by_role("button", name="Save").click()
    assert saved.value.status == 409

    conflict = page.locator(".conflict")
    expect(conflict).to_contain_text(f"Changed by {responder} at")
    rows = conflict.locator("table.diff tbody tr")
    expect(rows).to_have_count(4)  # their severity and personal data, your title and summary
    expect(conflict.locator("tr[data-field=severity] del")).to_have_text("Medium")
    expect(conflict.locator("tr[data-field=severity] ins")).to_have_text("High")
    expect(conflict.locator("tr[data-field=severity]")).to_contain_text(f"by {responder} at")
    expect(conflict.locator("tr[data-field=title]")).to_contain_text("Phishing wave against finance and HR")
    expect(conflict.locator("tr[data-field=title]")).to_contain_text("not changed")
    screenshot("01-conflict")
    page.set_viewport_size(PHONE)
    screenshot("02-conflict-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Apply my changes on top of theirs").click()
    expect(page).to_have_url(re.compile(rf"/incidents/{incident.reference}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Phishing wave against finance and HR")
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.personal_data, incident.version) == (
        "Phishing wave against finance and HR",
        Severity.HIGH,
        True,
        3,
    )
    assert (
        incident.summary.replace("\r\n", "\n")
        == "Lures impersonate the payroll vendor.\n\nHR mailboxes hit since Monday."
    )
    # Saved: the edit page's draft is gone, the next edit starts from the incident.
    page.goto(f"/incidents/{incident.reference}/edit/")
    expect(page.get_by_label("Title")).to_have_value("Phishing wave against finance and HR")
    expect(page.locator(".draft-note")).to_have_count(0)
    screenshot("03-merged")


def test_the_list_offers_a_reload_when_incidents_change(
    page, log_in, screenshot, lead: User, responder: User, incident: Incident
) -> None:
    log_in(lead.username, PASSWORD)
    page.goto("/incidents/")
    expect(page.locator("#list-live .live-banner")).to_have_count(0)
    services.finding_add(incident=incident, author=lead, body="Second wave started")
    notice = page.locator("#list-live .live-banner")
    expect(notice).to_contain_text("1 incident has changed", timeout=WITHIN_A_POLL)
    screenshot("01-list-notice")
    page.set_viewport_size(PHONE)
    screenshot("02-list-notice-phone")
    notice.get_by_role("link", name="Reload the list").click()
    expect(page.locator("#list-live .live-banner")).to_have_count(0)


def test_error_pages(page, log_in, lead: User, outsider: User, restricted_incident: Incident) -> None:
    log_in(outsider.username, PASSWORD)
    response = page.goto(restricted_incident.get_absolute_url())
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("link", name="Back to my work")).to_be_visible()
    shot(page, "404-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "404-phone")
    page.get_by_role("link", name="Back to my work").click()
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
