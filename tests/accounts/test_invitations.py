"""Vendor collaborators: invited by the incident's lead or an admin, they accept a single-use
link (password + TOTP), see that incident only, and lose access at expiry or on revocation —
open sessions included."""

from __future__ import annotations

import re
from binascii import unhexlify
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import invitations
from accounts.mfa import key_from_base32
from accounts.models import Invitation, Role, User
from accounts.tasks import end_expired_access
from incidents.models import Activity, Incident, Membership, Verb
from incidents.vendors import services as vendors
from tests.factories import UserFactory, make_incident

PASSWORD = "a long vendor pass phrase"


@pytest.fixture(autouse=True)
def _mfa_enforced(settings) -> None:
    # Collaborators must use a second factor: every test here runs with it enforced.
    settings.MFA_ENFORCED = True
    settings.SITE_URL = "https://breachline.example"


def in_days(days: float):
    return timezone.now() + timedelta(days=days)


def invite(incident: Incident, actor: User, **overrides) -> tuple[Invitation, str]:
    fields = {"email": "vic@northwind.example", "role": "responder", "access_expires_at": in_days(14)}
    return invitations.invitation_create(incident=incident, actor=actor, **{**fields, **overrides})


def code_now(key_hex: str, *, steps_ahead: int = 0) -> str:
    totp = TOTP(unhexlify(key_hex), step=30, digits=6)
    totp.time = totp.time + 30 * steps_ahead
    return f"{totp.token():06d}"


def accept(client: Client, raw_token: str, username: str = "vic") -> object:
    """Open the link, read the secret off the page, answer with the app's code."""
    url = f"/accounts/invitation/{raw_token}/"
    page = client.get(url)
    assert page.status_code == 200
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.content.decode()).group(1)
    key_hex = key_from_base32(secret).hex()
    form = {"username": username, "password": PASSWORD, "password_again": PASSWORD, "code": code_now(key_hex)}
    return client.post(url, form)


# --- Creating ------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["lead", "admin"])
def test_the_lead_or_an_admin_invites_and_the_link_is_mailed(
    request, restricted_incident: Incident, django_capture_on_commit_callbacks, persona: str
) -> None:
    actor = request.getfixturevalue(persona)
    with django_capture_on_commit_callbacks(execute=True):
        invitation, raw = invite(restricted_incident, actor)
    assert invitation.invited_by == actor
    assert invitation.token_digest != raw and raw not in invitation.token_digest
    assert invitation.link_expires_at - invitation.created_at == timedelta(hours=72)
    [message] = mail.outbox
    assert message.to == ["vic@northwind.example"]
    assert message.subject == f"Invitation to incident {restricted_incident.reference}"
    assert f"https://breachline.example/accounts/invitation/{raw}/" in message.body
    assert restricted_incident.title not in message.body  # the title may be confidential


def test_the_link_lifetime_follows_the_setting(settings, lead: User, incident: Incident) -> None:
    settings.INVITATION_LINK_HOURS = 4
    invitation, _ = invite(incident, lead)
    assert invitation.link_expires_at - invitation.created_at == timedelta(hours=4)


@pytest.mark.parametrize("persona", ["responder", "vendor", "executive"])
def test_others_may_not_invite(request, restricted_incident: Incident, persona: str) -> None:
    with pytest.raises(PermissionDenied, match="Only the incident's lead or an admin"):
        invite(restricted_incident, request.getfixturevalue(persona))
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(
    ("expires_in_days", "field", "message"),
    [
        (-1, "access_expires_at", "Access must end in the future."),
        (91, "access_expires_at", "Access may last at most 90 days; invite again to extend it."),
    ],
)
def test_access_ends_in_the_future_and_within_90_days(
    lead: User, incident: Incident, expires_in_days: int, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        invite(incident, lead, access_expires_at=in_days(expires_in_days))
    assert caught.value.message_dict == {field: [message]}
    invite(incident, lead, access_expires_at=in_days(89.9))  # inside the limit


def test_a_pending_invitation_is_not_sent_twice(lead: User, incident: Incident) -> None:
    invite(incident, lead)
    with pytest.raises(ValidationError) as caught:
        invite(incident, lead, email="VIC@northwind.example")
    assert caught.value.message_dict == {
        "email": [f"VIC@northwind.example already has a pending invitation to {incident.reference}: revoke it first."]
    }


# --- The invite page -----------------------------------------------------------------------
def _verified(client: Client, user: User) -> Client:
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def test_the_invite_page_invites_lists_and_revokes(
    client, lead: User, admin: User, restricted_incident: Incident, django_capture_on_commit_callbacks
) -> None:
    vendor = vendors.vendor_create(actor=admin, name="Northwind Data Labs", tier="critical")
    _verified(client, lead)
    url = f"/accounts/incidents/{restricted_incident.reference}/invite/"
    page = client.get(url)
    assert page.status_code == 200
    assert "No invitations yet." in page.content.decode()
    until = timezone.localtime(in_days(10)).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"email": "vic@northwind.example", "role": "observer", "access_expires_at": until, "vendor": vendor.pk}
        )
    assert response["Location"] == url
    invitation = Invitation.objects.get()
    assert (invitation.role, invitation.vendor, invitation.invited_by) == ("observer", vendor, lead)
    assert len(mail.outbox) == 1
    listed = client.get(url).content.decode()
    assert 'data-state="pending"' in listed
    assert "vic@northwind.example" in listed

    bad = client.post(url, {"email": "x@example.com", "role": "observer", "access_expires_at": "2001-01-01T00:00"})
    assert bad.status_code == 400
    assert "Access must end in the future." in bad.content.decode()

    revoked = client.post(f"/accounts/incidents/{restricted_incident.reference}/invitations/{invitation.pk}/revoke/")
    assert revoked["Location"] == url
    assert Invitation.objects.get().revoked_at is not None
    assert 'data-state="revoked"' in client.get(url).content.decode()


def test_the_invite_page_is_403_for_a_responder_and_404_for_an_outsider(
    client, responder: User, outsider: User, restricted_incident: Incident
) -> None:
    url = f"/accounts/incidents/{restricted_incident.reference}/invite/"
    client.force_login(responder)  # responders need no second factor
    assert client.get(url).status_code == 403
    assert client.post(url, {"email": "x@example.com", "role": "observer"}).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404


# --- Accepting -----------------------------------------------------------------------------
def test_accepting_creates_the_collaborator_signed_in_and_verified(
    client, lead: User, admin: User, restricted_incident: Incident
) -> None:
    vendor = vendors.vendor_create(actor=admin, name="Northwind Data Labs", tier="critical")
    access_end = in_days(14)
    invitation, raw = invite(restricted_incident, lead, vendor=vendor, access_expires_at=access_end)

    response = accept(client, raw)
    assert response.status_code == 302
    assert response["Location"] == (
        f"/accounts/mfa/recovery-codes/?next=%2Fincidents%2F{restricted_incident.reference}%2F"
    )
    user = User.objects.get(username="vic")
    assert (user.role, user.vendor, user.email, user.is_active) == (Role.VENDOR, vendor, "vic@northwind.example", True)
    assert user.check_password(PASSWORD)
    assert TOTPDevice.objects.get(user=user).confirmed is True
    assert StaticToken.objects.filter(device__user=user).count() == 10
    membership = Membership.objects.get(user=user)
    assert (membership.incident, membership.role, membership.expires_at) == (
        restricted_incident,
        "responder",
        access_end,
    )
    invitation.refresh_from_db()
    assert invitation.user == user and invitation.accepted_at is not None
    # The recovery codes are shown once, then the incident opens without another code.
    codes = client.get(response["Location"]).content.decode()
    assert len(re.findall(r"<li><code>[a-z2-7]{8}</code></li>", codes)) == 10
    assert client.get(restricted_incident.get_absolute_url()).status_code == 200


def test_the_link_works_once_then_says_so_with_a_410(client, lead: User, incident: Incident) -> None:
    _, raw = invite(incident, lead)
    assert accept(client, raw).status_code == 302
    second = Client().get(f"/accounts/invitation/{raw}/")
    assert second.status_code == 410
    assert "This invitation link has already been used." in second.content.decode()
    assert User.objects.filter(role=Role.VENDOR).count() == 1


def test_an_expired_link_is_a_410(client, lead: User, incident: Incident) -> None:
    invitation, raw = invite(incident, lead)
    Invitation.objects.filter(pk=invitation.pk).update(link_expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"/accounts/invitation/{raw}/")
    assert response.status_code == 410
    assert "This invitation link has expired." in response.content.decode()


def test_a_revoked_link_is_a_410_and_an_unknown_one_a_404(client, lead: User, incident: Incident) -> None:
    invitation, raw = invite(incident, lead)
    invitations.invitation_revoke(invitation=invitation, actor=lead)
    response = client.get(f"/accounts/invitation/{raw}/")
    assert response.status_code == 410
    assert "This invitation has been withdrawn." in response.content.decode()
    assert client.get("/accounts/invitation/not-a-token/").status_code == 404


def test_a_weak_password_or_a_wrong_code_creates_nothing(client, lead: User, incident: Incident) -> None:
    _, raw = invite(incident, lead)
    url = f"/accounts/invitation/{raw}/"
    client.get(url)
    weak = client.post(url, {"username": "vic", "password": "password", "password_again": "password", "code": "1"})
    assert weak.status_code == 400
    body = weak.content.decode()
    assert "This password is too short. It must contain at least 12 characters." in body
    assert "That code is not right: enter the six digits the app shows now." in body
    assert not User.objects.filter(username="vic").exists()
    taken = client.post(url, {"username": "LENA", "password": PASSWORD, "password_again": PASSWORD, "code": "1"})
    assert "That username is taken: choose another." in taken.content.decode()
    assert Invitation.objects.get().accepted_at is None


def test_the_secret_stays_the_same_while_the_page_is_reloaded(client, lead: User, incident: Incident) -> None:
    _, raw = invite(incident, lead)
    first = re.search(r'id="totp-secret">([A-Z2-7]+)<', client.get(f"/accounts/invitation/{raw}/").content.decode())
    again = re.search(r'id="totp-secret">([A-Z2-7]+)<', client.get(f"/accounts/invitation/{raw}/").content.decode())
    assert first.group(1) == again.group(1)
    assert "<svg" not in client.get(f"/accounts/invitation/{raw}/").content.decode()


# --- What a collaborator sees -----------------------------------------------------------------
def test_the_collaborator_sees_only_the_incident_they_were_invited_to(
    client, lead: User, restricted_incident: Incident, incident: Incident
) -> None:
    other_restricted = make_incident(opened_by=lead, lead=lead, title="Another secret case", restricted=True)
    _, raw = invite(restricted_incident, lead)
    accept(client, raw)
    listed = client.get("/incidents/").content.decode()
    assert restricted_incident.reference in listed
    assert incident.reference not in listed  # unrestricted, but not theirs
    assert other_restricted.reference not in listed
    assert client.get(incident.get_absolute_url()).status_code == 404
    assert client.get(other_restricted.get_absolute_url()).status_code == 404
    assert client.get("/vendors/").status_code == 404


# --- Ending access ---------------------------------------------------------------------------
def _collaborator(client: Client, lead: User, incident: Incident) -> User:
    _, raw = invite(incident, lead)
    assert accept(client, raw).status_code == 302
    return User.objects.get(username="vic")


def test_expiry_ends_access_at_once_even_before_the_task_runs(
    client, lead: User, restricted_incident: Incident
) -> None:
    _collaborator(client, lead, restricted_incident)
    page = restricted_incident.get_absolute_url()
    assert client.get(page).status_code == 200
    # The clock passes the expiry: the open session's next request no longer finds the incident.
    Membership.objects.filter(user__username="vic").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(page).status_code == 404
    assert restricted_incident.reference not in client.get("/incidents/").content.decode()


def test_the_expiry_task_records_it_deactivates_and_signs_out(
    client, lead: User, restricted_incident: Incident
) -> None:
    user = _collaborator(client, lead, restricted_incident)
    still_valid = UserFactory(username="wanda", role=Role.VENDOR)
    Membership.objects.create(incident=restricted_incident, user=still_valid, role="observer", expires_at=in_days(3))
    Membership.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert end_expired_access.apply().get() == 1

    assert not Membership.objects.filter(user=user).exists()
    assert Membership.objects.filter(user=still_valid).exists()
    user.refresh_from_db()
    assert user.is_active is False
    entry = Activity.objects.filter(incident=restricted_incident, verb=Verb.MEMBER_REMOVED).get()
    assert (entry.actor, entry.internal, entry.data["username"], entry.data["reason"]) == (None, True, "vic", "expired")
    # The browser left open is signed out at its next request.
    response = client.get(restricted_incident.get_absolute_url())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert end_expired_access.apply().get() == 0  # nothing left to end


def test_revocation_ends_access_and_the_open_session(client, lead: User, restricted_incident: Incident) -> None:
    user = _collaborator(client, lead, restricted_incident)
    staff_session = _verified(Client(), lead)
    assert client.get(restricted_incident.get_absolute_url()).status_code == 200

    invitations.invitation_revoke(invitation=Invitation.objects.get(), actor=lead)

    assert not Membership.objects.filter(user=user).exists()
    user.refresh_from_db()
    assert user.is_active is False
    response = client.get(restricted_incident.get_absolute_url())
    assert (response.status_code, response["Location"].split("?")[0]) == (302, "/accounts/login/")
    entry = Activity.objects.filter(incident=restricted_incident, verb=Verb.MEMBER_REMOVED).get()
    assert (entry.actor, entry.data["username"]) == (lead, "vic")
    # Only the collaborator's sessions ended.
    assert staff_session.get(restricted_incident.get_absolute_url()).status_code == 200


def test_a_collaborator_on_two_incidents_keeps_the_other_after_one_is_revoked(
    client, lead: User, restricted_incident: Incident
) -> None:
    user = _collaborator(client, lead, restricted_incident)
    second = make_incident(opened_by=lead, lead=lead, title="Second case", restricted=True)
    Membership.objects.create(incident=second, user=user, role="observer", expires_at=in_days(5))
    invitations.invitation_revoke(invitation=Invitation.objects.get(), actor=lead)
    user.refresh_from_db()
    assert user.is_active is True
    # Signed out all the same; a new login (password + TOTP) reaches the other incident only.
    assert client.get(second.get_absolute_url())["Location"].startswith("/accounts/login/")


def test_only_the_lead_or_an_admin_may_revoke(responder: User, lead: User, incident: Incident) -> None:
    invitation, _ = invite(incident, lead)
    with pytest.raises(PermissionDenied):
        invitations.invitation_revoke(invitation=invitation, actor=responder)
    assert Invitation.objects.get().revoked_at is None
