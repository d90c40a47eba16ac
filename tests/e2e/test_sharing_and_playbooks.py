"""Sharing a case and starting one from a playbook, in the browser: a lead invites a responder
and a vendor collaborator, who then sees only what is shared; opening from the vendor-compromise
playbook lists its tasks with their due dates.

Screenshots of each final state land in tests/e2e/screenshots/ (gitignored) for reviewing the UI.
"""

from __future__ import annotations

import importlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.models import Incident, Membership, Playbook, Severity, Task
from tests.factories import make_incident

from .conftest import SCREENSHOTS, browser_page

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
DETAIL_URL = re.compile(r"/incidents/(IR-\d{4}-\d{4})/$")
# A new playbook task's line under its title: nobody assigned, a due date, not overdue, to do.
DUE_META = re.compile(r"^unassigned · due \d{1,2} [A-Z][a-z]{2}( \d{4})? · to do$")
SHARED_FINDING = "The contractor's VPN token was used from 203.0.113.77 on Sunday night."
INTERNAL_FINDING = "Our own audit logging on the build server was off since March."


def sign_in(page, user: User) -> None:
    """Log in through the real form, in a page other than the ``page`` fixture's."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"sharing-{name}.png"), full_page=True)


def test_a_lead_adds_a_member_and_a_vendor_collaborator_who_then_sees_only_shared_findings(
    page, log_in, screenshot, browser, live_server, lead: User, responder: User, vendor: User
) -> None:
    incident = make_incident(
        opened_by=lead,
        lead=lead,
        title="Contractor token used from an unknown host",
        restricted=True,
        severity=Severity.HIGH,
    )
    services.finding_add(incident=incident, author=lead, body=SHARED_FINDING, internal=False)
    services.finding_add(incident=incident, author=lead, body=INTERNAL_FINDING, internal=True)
    assert list(Membership.objects.filter(incident=incident).values_list("user__username", "role")) == [
        ("lena", "lead")
    ]

    # The lead invites a responder and the vendor's contact from the members panel (htmx).
    log_in(lead.username, PASSWORD)
    page.goto(incident.get_absolute_url())
    members = page.locator("#members-panel")
    expect(members.locator("li.member")).to_have_count(1)
    expect(members.locator(".help.warning")).to_have_text(
        "This incident is restricted: the person you add will see it, "
        "and everything on it that is shared with their role."
    )
    for person in (responder, vendor):
        page.locator("#members-panel").get_by_label("Add a person").select_option(
            label=f"{person.get_full_name()} ({person.username})"
        )
        page.locator("#members-panel").get_by_label("As", exact=True).select_option("responder")
        with page.expect_response(lambda r: r.url.endswith("/members/") and r.request.method == "POST") as posted:
            page.locator("#members-panel").get_by_role("button", name="Add member").click()
        assert posted.value.status == 200
        expect(page.locator("#members-panel [role=status]")).to_have_text(
            f"Added {person} as responder. They can now see this restricted incident."
        )
    members = page.locator("#members-panel li.member")
    expect(members).to_have_count(3)
    expect(members.filter(has_text=str(vendor)).locator(".badge.vendor")).to_have_text("Vendor")
    expect(members.filter(has_text=str(responder)).locator(".badge.vendor")).to_have_count(0)
    assert sorted(Membership.objects.filter(incident=incident).values_list("user__username", "role")) == [
        ("lena", "lead"),
        ("ravi", "responder"),
        ("victor", "responder"),
    ]
    # The lead sees both findings, the internal one marked as such.
    expect(page.locator("#findings-list .finding")).to_have_count(2)
    expect(page.locator("#findings-list .finding", has_text=INTERNAL_FINDING).locator(".badge.internal")).to_have_text(
        "Internal"
    )
    screenshot("01-lead-added-members")

    # The vendor collaborator, in a browser of their own, sees the shared finding only.
    with browser_page(browser, live_server) as vendor_page:
        sign_in(vendor_page, vendor)
        vendor_page.goto(incident.get_absolute_url())
        expect(vendor_page.get_by_role("heading", level=1)).to_have_text("Contractor token used from an unknown host")
        findings = vendor_page.locator("#findings-list .finding")
        expect(findings).to_have_count(1)
        expect(findings.locator(".prose")).to_have_text(SHARED_FINDING)
        expect(vendor_page.locator("#findings-count")).to_have_text("1")
        expect(vendor_page.locator("body")).not_to_contain_text(INTERNAL_FINDING)
        expect(vendor_page.locator(".badge.internal")).to_have_count(0)
        # Of the people, only the lead (their contact) and themselves: not the responder, not
        # even in the activity (member entries are internal).
        expect(vendor_page.locator("#members-panel li.member")).to_have_count(2)
        expect(vendor_page.locator("body")).not_to_contain_text(str(responder))
        # A contributor: findings and tasks may be added (never internal ones), nothing else.
        expect(vendor_page.locator("#findings-panel").get_by_role("button", name="Add finding")).to_be_visible()
        expect(vendor_page.locator("#findings-panel .internal-check")).to_have_count(0)
        expect(vendor_page.locator("#tasks-panel").get_by_role("button", name="Add task")).to_be_visible()
        expect(vendor_page.locator("#tasks-panel").get_by_label("Internal")).to_have_count(0)
        expect(vendor_page.locator("#case-heading .transitions")).to_have_count(0)
        expect(vendor_page.get_by_role("link", name="Edit")).to_have_count(0)
        expect(vendor_page.get_by_role("button", name="Add member")).to_have_count(0)
        expect(vendor_page.locator("#members-panel select")).to_have_count(0)
        expect(vendor_page.get_by_role("button", name=re.compile(r"^Remove "))).to_have_count(0)
        shot(vendor_page, "02-vendor-sees-shared-only")


# Written out from incidents/playbook_data.py ("third-party-compromise"): title, due after
# opening, internal (hidden from vendor collaborators).
VENDOR_COMPROMISE_TASKS = [
    ("Revoke the vendor's access to our systems", timedelta(hours=4), True),
    ("Rotate every credential the vendor held (accounts, tokens, keys)", timedelta(hours=8), True),
    ("Collect the vendor's logs for the affected period", timedelta(days=1), False),
    ("Confirm the vendor's own containment in writing", timedelta(days=1), False),
    ("Assess what data the vendor's access exposed", timedelta(days=2), True),
    ("Assess notification duties (GDPR, NIS2, contracts)", timedelta(days=2), True),
]


@pytest.fixture
def shipped_playbooks(transactional_db) -> None:
    """The shipped playbooks, as the data migration writes them. A live_server test empties every
    table when it ends, so a browser test that runs after another finds none; serialized_rollback
    would restore them, but clashes with the content types that flush re-creates. The loader skips
    playbooks that already exist."""
    from django.apps import apps

    importlib.import_module("incidents.migrations.0003_case_work").playbooks_load(apps, None)


def test_opening_from_the_vendor_compromise_playbook_creates_its_tasks(
    page, log_in, screenshot, lead: User, shipped_playbooks: None
) -> None:
    assert Playbook.objects.filter(slug="third-party-compromise", active=True).exists()
    assert not Incident.objects.exists()

    log_in(lead.username, PASSWORD)
    page.get_by_role("link", name="New incident").click()
    expect(page).to_have_url(re.compile(r"/incidents/new/$"))
    page.locator(".playbook-picker").get_by_role("link", name="Third-party / vendor compromise").click()
    expect(page).to_have_url(re.compile(r"/incidents/new/\?playbook=third-party-compromise$"))
    expect(page.locator(".playbook-picker .chosen")).to_have_text("Third-party / vendor compromise")
    # The playbook fills in the form; the opener gives the title.
    expect(page.locator("#id_playbook")).to_have_value("third-party-compromise")
    expect(page.get_by_label("Severity")).to_have_value("high")
    expect(page.get_by_label("Category")).to_have_value("third_party")
    expect(page.get_by_label("Summary")).to_have_value(re.compile(r"^## What happened"))
    page.get_by_label("Title").fill("Payroll provider breached: our SSO token exposed")
    page.get_by_role("button", name="Open incident").click()

    expect(page).to_have_url(DETAIL_URL)
    reference = DETAIL_URL.search(page.url).group(1)
    expect(page.get_by_role("status")).to_have_text(f"Opened {reference}.")
    incident = Incident.objects.get(reference=reference)
    assert (incident.playbook.slug, incident.severity, incident.category) == (
        "third-party-compromise",
        "high",
        "third_party",
    )

    # Every task of the playbook, in its order (soonest due first), each with its due date
    # counted from the moment the incident was opened.
    expected_due = [
        timezone.localtime(incident.created_at + after).date().isoformat() for _, after, _ in VENDOR_COMPROMISE_TASKS
    ]
    rows = page.locator("#tasks-list li.task")
    expect(rows).to_have_count(6)
    expect(page.locator("#tasks-count")).to_have_text("6")
    expect(rows.locator(".title")).to_have_text([title for title, _, _ in VENDOR_COMPROMISE_TASKS])
    expect(rows.locator(".meta time")).to_have_count(6)
    for i, (title, _, internal) in enumerate(VENDOR_COMPROMISE_TASKS):
        row = rows.nth(i)
        expect(row.locator(".title")).to_have_text(title)
        # Shown as "26 Nov" (or "2 Jan 2027" across the new year), dated in the markup.
        expect(row.locator(".meta")).to_have_text(DUE_META)
        expect(row.locator(".meta time")).to_have_attribute("datetime", expected_due[i])
        expect(row.locator(".badge.internal")).to_have_count(1 if internal else 0)
    assert list(Task.objects.filter(incident=incident).order_by("id").values_list("title", "internal", "status")) == [
        (title, internal, "todo") for title, _, internal in VENDOR_COMPROMISE_TASKS
    ]
    assert [task.due_on.isoformat() for task in Task.objects.filter(incident=incident).order_by("id")] == expected_due
    screenshot("01-opened-from-playbook")
