"""Working a case in the browser: a task's status and notes change in place (htmx), closing asks
for a resolution and for a decision about open tasks, reopening asks why.

Screenshots of each step land in tests/e2e/screenshots/ (gitignored) for reviewing the UI.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.models import Activity, Incident, Task

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


def test_lead_works_tasks_in_place_then_closes_and_reopens(
    page, log_in, screenshot, lead: User, responder: User, incident: Incident
) -> None:
    services.task_add(incident=incident, actor=lead, title="Block the sender domain", assignee=responder)
    services.task_add(incident=incident, actor=lead, title="Reset the clicked users' passwords", assignee=lead)
    block, reset = Task.objects.order_by("id")

    log_in(lead.username, PASSWORD)
    page.goto(incident.get_absolute_url())
    page.evaluate("window.__samePage = true")
    # New: the forward move (triage) is the primary button, the others secondary.
    expect(page.get_by_role("button", name="Move to triage")).not_to_have_class("secondary")
    expect(page.get_by_role("button", name="Move to investigating")).to_have_class("secondary")
    screenshot("01-detail")

    # Status control: in progress, in place.
    row = page.locator(f"#task-{block.pk}")
    row.get_by_label("Status of Block the sender domain").select_option("in_progress")
    with page.expect_response(lambda r: r.url.endswith("/status/") and r.request.method == "POST"):
        row.get_by_role("button", name="Set").click()
    expect(page.locator(f"#task-{block.pk} .task-state")).to_have_text("in progress")
    block.refresh_from_db()
    assert block.status == "in_progress"

    # A note, in place: the task's notes stay open with the new line.
    row = page.locator(f"#task-{block.pk}")
    row.locator("summary").click()
    row.get_by_label("Note on Block the sender domain").fill("Gateway rule 12 blocks it; waiting for DNS.")
    with page.expect_response(lambda r: r.url.endswith("/notes/") and r.request.method == "POST"):
        row.get_by_role("button", name="Add note").click()
    expect(page.locator(f"#task-{block.pk} .note")).to_contain_text("Gateway rule 12 blocks it; waiting for DNS.")
    expect(page.locator(f"#task-{block.pk} details.task-notes")).to_have_attribute("open", "")
    assert page.evaluate("window.__samePage") is True, "the page reloaded instead of swapping the panel"
    screenshot("02-task-worked")

    # Close: the form lists the open tasks and needs a decision about them.
    page.get_by_role("link", name="Close…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Close {incident.reference}")
    expect(page.locator(".open-tasks")).to_contain_text("2 tasks are still open")
    page.get_by_label("True positive").check()
    page.get_by_label("Closing summary").fill("Phishing kit taken down; **14** mailboxes reset.")
    page.get_by_role("button", name="Close incident").click()
    expect(page.locator(".open-tasks .error")).to_contain_text("2 tasks are still open")
    screenshot("03-close-needs-a-decision")
    page.get_by_label("Cancel them, with the closing as the reason").check()
    page.get_by_role("button", name="Close incident").click()

    expect(page.get_by_role("status")).to_have_text(f"Closed {incident.reference} as true positive.")
    expect(page.locator(".facts .resolution")).to_have_text("True positive")
    expect(page.locator(".facts .closing-summary strong")).to_have_text("14")
    assert list(Task.objects.order_by("id").values_list("status", flat=True)) == ["cancelled", "cancelled"]
    screenshot("04-closed")

    # Reopen: the primary button now, and it asks why.
    page.locator("summary", has_text="Reopen…").click()
    page.get_by_label("Why reopen it?").fill("Same sender is back with a new domain.")
    page.get_by_role("button", name="Reopen", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(f"Reopened {incident.reference}: it is now investigating.")
    expect(page.locator(".facts .resolution")).to_have_count(0)
    incident.refresh_from_db()
    assert (incident.status, incident.resolution) == ("investigating", "")
    assert Activity.objects.filter(incident=incident, verb="reopened").get().data["reason"] == (
        "Same sender is back with a new domain."
    )
    screenshot("05-reopened")
    assert reset.pk  # both tasks were listed and cancelled above
