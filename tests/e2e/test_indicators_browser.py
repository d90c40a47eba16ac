"""Indicators in the browser: a responder pastes a phishing e-mail, sees what was found with
its types, unticks one, confirms, and sees them listed with a link to another incident that
holds one of them. Screenshot: tests/e2e/screenshots/indicators-*.png."""

from __future__ import annotations

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from accounts.models import User
from incidents import services
from incidents.indicators import services as indicators
from incidents.models import Incident

from ..factories import make_incident
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
PASTED = """From: "PayPal Billing" <billing@invoices-paypa1[.]com>
To: finance@breachline.example
Received: from mail.invoices-paypa1.com ([185.220.101.47])
X-Originating-IP: [10.20.30.40]

Pay at hxxps://invoices-paypa1[.]com/pay?id=8812 today.
"""


@pytest.fixture
def member(lead: User, responder: User, incident: Incident) -> User:
    services.member_add(incident=incident, user=responder, actor=lead)
    responder.set_password(PASSWORD)
    responder.save()
    return responder


@override_settings(OUR_DOMAINS=["breachline.example"])
def test_a_responder_pastes_text_picks_indicators_and_sees_a_correlation(
    page, lead: User, member: User, incident: Incident
) -> None:
    earlier = make_incident(opened_by=lead, lead=lead, title="Password spraying on the VPN")
    indicators.indicator_add(incident=earlier, actor=lead, type="ip", value="185.220.101.47")

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(member.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(incident.get_absolute_url())

    panel = page.locator("#indicators-panel")
    panel.locator("summary", has_text="Paste text to extract indicators").click()
    panel.get_by_label("Paste text").fill(PASTED)
    panel.get_by_role("button", name="Find indicators").click()

    candidates = panel.locator("table.candidates tbody tr")
    expect(candidates).to_have_count(6)
    found = [
        (row.locator(".candidate-type").inner_text(), row.locator(".candidate-value").inner_text())
        for row in candidates.all()
    ]
    assert found == [
        ("email", "billing@invoices-paypa1.com"),
        ("email", "finance@breachline.example"),
        ("domain", "mail.invoices-paypa1.com"),
        ("ip", "185.220.101.47"),
        ("ip", "10.20.30.40"),
        ("url", "https://invoices-paypa1.com/pay?id=8812"),
    ]  # the bare domain appears only inside the URL and the address: not proposed again
    # Ours are offered as affected assets and start unticked.
    ours = candidates.filter(has_text="finance@breachline.example")
    expect(ours.locator("input[name=pick]")).not_to_be_checked()
    expect(ours).to_contain_text("Ours · affected asset")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "indicators-1-candidates.png"), full_page=True)

    # The responder decides the mail relay is not worth recording.
    candidates.filter(has_text="mail.invoices-paypa1.com").locator("input[name=pick]").uncheck()
    panel.get_by_role("button", name="Add the ticked indicators").click()

    expect(panel.get_by_role("status")).to_have_text("Added 3 indicators.")
    rows = panel.locator("#indicators-list tr.indicator")
    expect(rows).to_have_count(3)
    values = sorted(code.inner_text() for code in panel.locator("#indicators-list .indicator-value code").all())
    assert values == sorted(
        ["billing@invoices-paypa1.com", "185.220.101.47", "https://invoices-paypa1.com/pay?id=8812"]
    )
    shared = rows.filter(has_text="185.220.101.47")
    link = shared.get_by_role("link", name=earlier.reference)
    expect(link).to_have_attribute("href", f"/incidents/{earlier.reference}/")
    expect(page.locator("#indicators-count")).to_contain_text("1 shared")
    page.locator("#indicators").screenshot(path=str(SCREENSHOTS / "indicators-2-listed.png"))
    link.click()
    page.wait_for_url(f"**/incidents/{earlier.reference}/")
    expect(page.locator("#indicators-list")).to_contain_text(incident.reference)
