"""The triage queue in the browser: three low alerts from a SIEM wait in the queue; a responder
ticks two and promotes them to one incident, then ignores the last with a reason. Screenshots:
tests/e2e/screenshots/triage-*.png and /tmp/triage_queue.png."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import Role, User
from incidents.models import Incident
from intake import services as intake_services
from intake.models import Alert
from intake.normalizers import NormalizedAlert

from ..factories import UserFactory
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
# The queue with two alerts ticked, also kept outside the repository for review.
REVIEW_COPY = Path(tempfile.gettempdir()) / "triage_queue.png"


def _ingest(sender: User) -> None:
    alerts = [
        NormalizedAlert(
            source_ref="SPL-1001",
            title="Impossible travel for j.doe",
            severity="low",
            observed_at=datetime(2026, 3, 2, 7, 40, tzinfo=UTC),
            rule="Impossible travel",
            user="j.doe",
            observables=[("ip", "185.220.101.47")],
        ),
        NormalizedAlert(
            source_ref="SPL-1002",
            title="Mailbox rule forwarding to external address",
            severity="low",
            observed_at=datetime(2026, 3, 2, 7, 52, tzinfo=UTC),
            rule="Suspicious inbox rule",
            user="j.doe",
        ),
        NormalizedAlert(
            source_ref="SPL-1003",
            title="Nessus scan from 10.0.8.15",
            severity="low",
            observed_at=datetime(2026, 3, 2, 8, 5, tzinfo=UTC),
            rule="Port scan",
            host="fw-edge-1",
        ),
    ]
    received = [intake_services.Received(alert=a, raw={"sid": a.source_ref, "title": a.title}) for a in alerts]
    results = intake_services.alerts_ingest(received=received, source="splunk-prod", format="generic", sender=sender)
    assert [result.status for result in results] == ["created", "created", "created"]


def test_a_responder_promotes_two_alerts_and_ignores_the_third(page, log_in, responder: User) -> None:
    _ingest(UserFactory(username="splunk-hec", role=Role.INTEGRATION))
    responder.set_password(PASSWORD)
    responder.save()

    log_in(responder.username, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    page.wait_for_url("**/alerts/")
    expect(page.locator("#tab-new .count")).to_have_text("3")
    rows = page.locator("tr.alert-row")
    expect(rows).to_have_count(3)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "triage-1-queue.png"), full_page=True)

    page.get_by_label("Select “Impossible travel for j.doe”").check()
    page.get_by_label("Select “Mailbox rule forwarding to external address”").check()
    page.screenshot(path=str(REVIEW_COPY), full_page=True)
    page.get_by_role("button", name="Promote", exact=True).click()

    incident = Incident.objects.get()
    expect(page.get_by_role("status")).to_have_text(f"Promoted 2 alerts to a new incident, {incident.reference}.")
    expect(page.locator("#tab-new .count")).to_have_text("1")
    expect(page.locator("#tab-promoted .count")).to_have_text("2")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Nessus scan from 10.0.8.15")
    assert incident.title == "Impossible travel for j.doe"  # the earliest observed
    assert incident.severity == "low"
    assert dict(Alert.objects.values_list("source_ref", "status")) == {
        "SPL-1001": "promoted",
        "SPL-1002": "promoted",
        "SPL-1003": "new",
    }

    page.get_by_label("Select “Nessus scan from 10.0.8.15”").check()
    page.get_by_role("button", name="Ignore", exact=True).click()
    # No reason: refused on the form, the tick kept.
    expect(page.locator("#t-reason-error")).to_have_text("Say why these alerts need no response.")
    expect(page.get_by_label("Select “Nessus scan from 10.0.8.15”")).to_be_checked()
    page.get_by_label("Reason").fill("Scheduled vulnerability scan")
    # Enter in a text box runs no action (the form's default button is a disabled one): each
    # action takes its own button. Were it to submit, the alert would be ignored by now.
    page.get_by_label("Reason").press("Enter")
    page.wait_for_timeout(300)
    assert Alert.objects.get(source_ref="SPL-1003").status == "new"
    page.screenshot(path=str(SCREENSHOTS / "triage-3-ignore-refused.png"), full_page=True)
    page.get_by_role("button", name="Ignore", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Ignored 1 alert.")
    expect(page.locator("#tab-new .count")).to_have_text("0")
    expect(page.locator("#tab-ignored .count")).to_have_text("1")
    expect(page.get_by_text("No new alerts.")).to_be_visible()
    assert Alert.objects.get(source_ref="SPL-1003").ignore_reason == "Scheduled vulnerability scan"

    # The promoted tab links each alert to its incident.
    page.locator("#tab-promoted").click()
    expect(page.locator("tr.alert-row")).to_have_count(2)
    expect(page.locator("tr.alert-row").first.get_by_role("link", name=incident.reference)).to_have_attribute(
        "href", f"/incidents/{incident.reference}/"
    )
    page.screenshot(path=str(SCREENSHOTS / "triage-2-promoted.png"), full_page=True)

    # One alert: its candidate indicator, its payload, who promoted it into which incident.
    page.get_by_role("link", name="Impossible travel for j.doe").click()
    expect(page.locator("h1")).to_have_text("Impossible travel for j.doe")
    expect(page.locator("#alert-incident")).to_contain_text(incident.reference)
    expect(page.locator("tr.observable td")).to_have_text(["ip", "185.220.101.47", "Attacker-side"])
    expect(page.locator("pre.raw-payload")).to_contain_text('"sid": "SPL-1001"')
    page.screenshot(path=str(SCREENSHOTS / "triage-4-alert.png"), full_page=True)
