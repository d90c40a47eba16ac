"""The second factor: who must use one (and is sent to enrol or verify until then), enrolment
with a QR code and recovery codes, and verification with a TOTP or a recovery code.

The rest of the suite runs with ``MFA_ENFORCED = False`` (its personas log in with
``force_login``); these tests turn it on."""

from __future__ import annotations

import re
from binascii import unhexlify

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from incidents.models import Incident

PASSWORD = "correct-horse-battery"
ENROL = "/accounts/mfa/enrol/"
VERIFY = "/accounts/mfa/verify/"
RECOVERY = "/accounts/mfa/recovery-codes/"


@pytest.fixture(autouse=True)
def _mfa_enforced(settings) -> None:
    settings.MFA_ENFORCED = True


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for ``device`` now (or ``steps_ahead`` steps on: the
    device accepts one step either way, and never a step it already accepted)."""
    totp = TOTP(unhexlify(device.key), step=30, digits=6)
    totp.time = totp.time + 30 * steps_ahead
    return f"{totp.token():06d}"


def enrolled(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def signed_in(client: Client, user: User, *, verified: bool) -> Client:
    client.force_login(user)
    if verified:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = (TOTPDevice.objects.filter(user=user).first() or enrolled(user)).persistent_id
        session.save()
    return client


# --- Enforcement per role -------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["admin", "lead", "vendor"])
def test_required_roles_without_a_device_are_sent_to_enrol_before_anything_else(
    client, request, restricted_incident: Incident, persona: str
) -> None:
    user = request.getfixturevalue(persona)
    client.force_login(user)
    for path in ("/", "/incidents/", restricted_incident.get_absolute_url(), "/notifications/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == f"{ENROL}?next={path.replace('/', '%2F')}"
    # A form post is refused too (no incident is opened), and sent to enrol without a next.
    before = Incident.objects.count()
    response = client.post("/incidents/new/", {"title": "x", "severity": "low", "category": "other"})
    assert (response.status_code, response["Location"]) == (302, ENROL)
    assert Incident.objects.count() == before
    assert client.get(ENROL).status_code == 200


@pytest.mark.parametrize("persona", ["admin", "lead", "vendor"])
def test_required_roles_with_a_device_are_sent_to_verify_until_they_do(
    client, request, restricted_incident: Incident, persona: str
) -> None:
    user = request.getfixturevalue(persona)
    device = enrolled(user)
    client.force_login(user)
    response = client.get(restricted_incident.get_absolute_url())
    assert response["Location"] == f"{VERIFY}?next=%2F{restricted_incident.get_absolute_url()[1:].replace('/', '%2F')}"
    response = client.post(VERIFY, {"code": code_for(device), "next": restricted_incident.get_absolute_url()})
    assert (response.status_code, response["Location"]) == (302, restricted_incident.get_absolute_url())
    assert client.get(restricted_incident.get_absolute_url()).status_code == 200


@pytest.mark.parametrize("persona", ["responder", "executive"])
def test_other_roles_are_prompted_once_per_session_but_not_stopped(client, request, persona: str) -> None:
    client.force_login(request.getfixturevalue(persona))
    first = client.get("/", follow=True)  # an executive's home is the dashboard
    assert first.status_code == 200
    assert 'Protect your account with a second factor: <a href="/accounts/mfa/enrol/">' in first.content.decode()
    second = client.get("/incidents/")
    assert second.status_code == 200
    assert "Protect your account" not in second.content.decode()


def test_an_optional_role_that_enrolled_must_verify_too(client, responder: User) -> None:
    enrolled(responder)
    client.force_login(responder)
    assert client.get("/")["Location"] == f"{VERIFY}?next=%2F"


def test_htmx_requests_get_a_client_redirect_not_a_page_in_a_panel(client, lead: User, incident: Incident) -> None:
    client.force_login(lead)
    response = client.get("/notifications/bell/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == ENROL
    assert response.content == b""


def test_htmx_panels_of_the_second_factor_pages_get_nothing_rather_than_a_reload_loop(client, lead: User) -> None:
    # The bell loads on every page, the enrol page's too: redirecting it would reload the page.
    client.force_login(lead)
    response = client.get(
        "/notifications/bell/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/accounts/mfa/enrol/"
    )
    assert (response.status_code, response.content, response.has_header("HX-Redirect")) == (204, b"", False)


def test_session_api_calls_are_refused_with_json_until_verified(client, lead: User, incident: Incident) -> None:
    client.force_login(lead)
    response = client.get("/api/v1/incidents/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Your role requires a second factor: set up an authenticator app. "
        "(second factor not verified in this session)"
    }
    signed_in(client, lead, verified=True)
    assert client.get("/api/v1/incidents/").status_code == 200


def test_api_keys_are_the_machine_path_and_never_asked(api, admin: User, incident: Incident) -> None:
    # An admin's key, and the admin has no second factor at all: keys carry no session.
    response = api("incidents:read", user=admin).get("/api/v1/incidents/")
    assert response.status_code == 200
    assert [row["reference"] for row in response.json()["results"]] == [incident.reference]


def test_login_logout_and_health_stay_reachable(client, admin: User) -> None:
    client.force_login(admin)
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 302  # signed in already: onwards (then stopped)
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
    assert client.get("/")["Location"] == "/accounts/login/?next=/"


def test_with_mfa_enforced_false_nobody_is_stopped(client, settings, admin: User) -> None:
    settings.MFA_ENFORCED = False
    client.force_login(admin)
    assert client.get("/").status_code == 200


def test_mfa_required_roles_is_configurable(client, settings, lead: User, responder: User) -> None:
    settings.MFA_REQUIRED_ROLES = ["responder"]
    signed_in(client, lead, verified=False)
    assert client.get("/").status_code == 200
    client.force_login(responder)
    assert client.get("/")["Location"] == f"{ENROL}?next=%2F"


# --- Enrolment ------------------------------------------------------------------------------
def test_enrolment_shows_a_qr_code_and_the_secret_then_confirms_with_a_code(client, settings, lead: User) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a wrong code, then the right one at once
    client.force_login(lead)
    page = client.get(ENROL)
    body = page.content.decode()
    device = TOTPDevice.objects.get(user=lead)
    assert device.confirmed is False
    assert '<img class="qr" src="data:image/svg+xml;charset=utf-8,' in body
    assert "<svg" not in body  # the QR code is an image, not markup in the page
    secret = re.search(r'<code class="totp-secret" id="totp-secret">([A-Z2-7]+)</code>', body).group(1)
    assert len(secret) == 32  # 160 bits in base32
    # Reloading keeps the same secret (a scanned code stays valid).
    assert secret in client.get(ENROL).content.decode()
    assert TOTPDevice.objects.filter(user=lead).count() == 1

    wrong = client.post(ENROL, {"code": "000000" if code_for(device) != "000000" else "111111"})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.content.decode()
    assert TOTPDevice.objects.get(pk=device.pk).confirmed is False
    assert client.get("/")["Location"] == f"{ENROL}?next=%2F"

    done = client.post(ENROL, {"code": code_for(device), "next": "/incidents/"})
    assert (done.status_code, done["Location"]) == (302, f"{RECOVERY}?next=%2Fincidents%2F")
    assert TOTPDevice.objects.get(pk=device.pk).confirmed is True
    assert StaticToken.objects.filter(device__user=lead).count() == 10

    codes_page = client.get(done["Location"]).content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", codes_page)
    assert sorted(codes) == sorted(StaticToken.objects.filter(device__user=lead).values_list("token", flat=True))
    assert 'href="/incidents/">Continue' in codes_page
    # Shown once: the page says how many are left, never the codes again.
    again = client.get(RECOVERY).content.decode()
    assert "You have 10 recovery codes left" in again
    assert codes[0] not in again
    # The session that enrolled is verified.
    assert client.get("/").status_code == 200


def test_recovery_codes_can_be_made_anew_and_the_old_ones_stop(client, lead: User) -> None:
    signed_in(client, lead, verified=True)
    old = StaticDevice.objects.create(user=lead, name="Recovery codes", confirmed=True)
    old.token_set.create(token="oldcode2")
    response = client.post(RECOVERY)
    assert response["Location"] == RECOVERY
    fresh = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", client.get(RECOVERY).content.decode())
    assert len(fresh) == 10
    assert not StaticToken.objects.filter(token="oldcode2").exists()


# --- Verification after the password ---------------------------------------------------------
def test_password_then_totp_reaches_the_page_asked_for(client, lead: User, incident: Incident) -> None:
    device = enrolled(lead)
    response = client.post("/accounts/login/", {"username": lead.username, "password": PASSWORD, "next": "/incidents/"})
    assert response["Location"] == "/incidents/"
    stopped = client.get("/incidents/")
    assert stopped["Location"] == f"{VERIFY}?next=%2Fincidents%2F"
    page = client.get(stopped["Location"])
    assert page.status_code == 200
    assert 'name="next" value="/incidents/"' in page.content.decode()
    session_before = client.session.session_key
    verified = client.post(VERIFY, {"code": code_for(device), "next": "/incidents/"})
    assert (verified.status_code, verified["Location"]) == (302, "/incidents/")
    assert client.session.session_key != session_before  # a new key once the second factor passes
    assert client.get("/incidents/").status_code == 200


def test_a_wrong_code_is_refused_and_locks_the_device_for_a_moment(client, lead: User) -> None:
    device = enrolled(lead)
    client.force_login(lead)
    wrong = "000000" if code_for(device) != "000000" else "111111"
    response = client.post(VERIFY, {"code": wrong})
    assert response.status_code == 400
    assert "That code is not right." in response.content.decode()
    assert client.get("/")["Location"] == f"{VERIFY}?next=%2F"
    # Right after a failure the device is locked for a second (django-otp's throttling), even
    # for the right code: guessing costs time.
    locked = client.post(VERIFY, {"code": code_for(device)})
    assert locked.status_code == 400
    assert "Too many wrong codes" in locked.content.decode()


def test_a_code_is_accepted_once(client, lead: User) -> None:
    device = enrolled(lead)
    code = code_for(device)
    client.force_login(lead)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    other = Client()
    other.force_login(lead)
    replay = other.post(VERIFY, {"code": code})
    assert replay.status_code == 400
    assert other.get("/")["Location"] == f"{VERIFY}?next=%2F"


def test_a_recovery_code_works_once(client, lead: User) -> None:
    enrolled(lead)
    device = StaticDevice.objects.create(user=lead, name="Recovery codes", confirmed=True)
    device.token_set.create(token="abcd2345")
    device.token_set.create(token="efgh6723")
    client.force_login(lead)
    # As people type it: upper case, with a space.
    response = client.post(VERIFY, {"code": "ABCD 2345"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert list(device.token_set.values_list("token", flat=True)) == ["efgh6723"]

    second = Client()
    second.force_login(lead)
    again = second.post(VERIFY, {"code": "abcd2345"})
    assert again.status_code == 400
    assert second.get("/")["Location"] == f"{VERIFY}?next=%2F"


def test_a_wrong_recovery_code_does_not_lock_the_app_codes(client, lead: User) -> None:
    totp = enrolled(lead)
    StaticDevice.objects.create(user=lead, name="Recovery codes", confirmed=True).token_set.create(token="abcd2345")
    client.force_login(lead)
    assert client.post(VERIFY, {"code": "zzzz2222"}).status_code == 400
    assert client.post(VERIFY, {"code": code_for(totp)}).status_code == 302


def test_verify_is_not_offered_to_someone_without_a_device(client, lead: User) -> None:
    client.force_login(lead)
    assert client.get(VERIFY)["Location"] == ENROL


def test_an_enrolled_unverified_person_cannot_replace_the_device_without_verifying(client, lead: User) -> None:
    enrolled(lead)
    client.force_login(lead)
    assert client.get(ENROL)["Location"] == VERIFY
    assert TOTPDevice.objects.filter(user=lead).count() == 1
