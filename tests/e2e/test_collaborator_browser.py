"""Issue 14's browser test: a vendor collaborator accepts an invitation (password and an
authenticator app, whose secret they read off the page), logs in again with a TOTP code, sees
only the incident they were invited to and is refused everything else. Screenshots land in
tests/e2e/screenshots/."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from playwright.sync_api import expect

from accounts import invitations
from accounts.mfa import key_from_base32
from accounts.models import Role, User
from incidents.models import Incident
from tests.factories import make_incident

pytestmark = pytest.mark.e2e

PASSWORD = "a long vendor pass phrase"


def app_code(secret: str, *, steps_ahead: int = 0) -> str:
    """What the collaborator's authenticator app shows (``steps_ahead`` steps later)."""
    totp = TOTP(key_from_base32(secret), step=30, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def test_a_vendor_collaborator_joins_with_totp_and_sees_only_their_incident(
    page, screenshot, settings, lead: User, restricted_incident: Incident
) -> None:
    settings.MFA_ENFORCED = True
    other = make_incident(opened_by=lead, lead=lead, title="Unrelated ransomware case", restricted=True)
    unrestricted = make_incident(opened_by=lead, lead=lead, title="Phishing wave against finance")
    _, raw = invitations.invitation_create(
        incident=restricted_incident,
        email="nina@northwind.example",
        role="responder",
        access_expires_at=timezone.now() + timedelta(days=14),
        actor=lead,
    )

    page.goto(f"/accounts/invitation/{raw}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Join incident {restricted_incident.reference}")
    expect(page.locator("img.qr")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_label("Code from the app").fill(app_code(secret))
    screenshot("01-accept-invitation")
    page.get_by_role("button", name="Create my account").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    screenshot("02-recovery-codes")
    page.get_by_role("link", name="Continue").click()
    expect(page.locator("h1")).to_contain_text(restricted_incident.title)
    assert User.objects.get(username="nina").role == Role.VENDOR

    # Log out, then in again: the password, then the app's code. The code used to enrol may
    # not be used again, so the app's next one (the device accepts one step ahead).
    page.get_by_role("button", name="Log out").click()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    # Nothing else is reachable before the code.
    page.goto(restricted_incident.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    page.get_by_label("Code", exact=True).fill(app_code(secret, steps_ahead=1))
    screenshot("03-verify")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("h1")).to_contain_text(restricted_incident.title)

    page.goto("/incidents/")
    listing = page.locator("#content")
    expect(listing).to_contain_text(restricted_incident.reference)
    expect(listing).not_to_contain_text(other.reference)
    expect(listing).not_to_contain_text(unrestricted.reference)
    expect(page.get_by_role("link", name="Vendors")).to_have_count(0)
    screenshot("04-only-their-incident")

    for refused in (other.get_absolute_url(), unrestricted.get_absolute_url(), "/vendors/"):
        response = page.goto(refused)
        assert response.status == 404, refused
    screenshot("05-refused")
