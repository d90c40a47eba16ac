"""The second factor: TOTP devices (an authenticator app) and single-use recovery codes.

Who must use one is ``second_factor_required``; the middleware
(``accounts.middleware.SecondFactorRequiredMiddleware``) sends them to enrol or verify. A person
has at most one confirmed TOTP device and one recovery-code device (django-otp's
``StaticDevice``), both replaced on a new enrolment. A session becomes *verified* when a view
calls ``django_otp.login(request, device)`` with the device that accepted a code.

Codes are told apart by their shape: six digits are a TOTP code, anything else a recovery code.
Each device counts its own failures (django-otp's throttling: 1, 2, 4… seconds locked), so
trying one kind never locks the other.
"""

from __future__ import annotations

import re
import time
from base64 import b32decode, b32encode
from binascii import unhexlify
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from .models import Role, User

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
# TOTPDevice's defaults (RFC 6238 as authenticator apps implement it): 30-second steps, six
# digits, one step of clock difference either way.
TOTP_STEP = 30
TOTP_DIGITS = 6
TOTP_TOLERANCE = 1
# The roles whose people must use a second factor (admins also by is_superuser); the setting
# MFA_REQUIRED_ROLES overrides it.
DEFAULT_REQUIRED_ROLES = (Role.ADMIN, Role.LEAD, Role.VENDOR)

WRONG_CODE = "That code is not right."
WRONG_ENROLMENT_CODE = "That code is not right: check the app's clock and try the next one."

_TOTP_CODE = re.compile(rf"\d{{{TOTP_DIGITS}}}")


def enforced() -> bool:
    """``MFA_ENFORCED`` (default True): False turns the middleware off, for the test suite's
    personas who log in with ``force_login`` or the password alone. Never False in production."""
    return bool(getattr(settings, "MFA_ENFORCED", True))


def second_factor_required(user: User) -> bool:
    """Whether ``user`` may do nothing before enrolling and verifying: admins (and superusers),
    people with the incident-lead role and vendor collaborators, or ``MFA_REQUIRED_ROLES``."""
    roles = set(getattr(settings, "MFA_REQUIRED_ROLES", DEFAULT_REQUIRED_ROLES))
    if user.is_superuser and Role.ADMIN in roles:
        return True
    return user.role in roles


def confirmed_totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def has_second_factor(user: User) -> bool:
    """Whether ``user`` has finished enrolling (a confirmed TOTP device). Recovery codes alone
    do not count: they come with the TOTP device and are only its spare."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


# The middleware asks ``has_second_factor`` of every unverified person on every request; a "no"
# (an optional role, not enrolled) is kept in the session for this long, so their ordinary pages
# cost no query for it. Enrolling clears it in the session that enrols (which is verified then
# anyway); another session of theirs notices the new device within this time.
UNENROLLED_SESSION_KEY = "mfa_unenrolled"
UNENROLLED_RECHECK_SECONDS = 300


def session_has_second_factor(request: HttpRequest) -> bool:
    """``has_second_factor(request.user)``, answering a recent "no" from the session (stored
    with the person's id and a deadline, so it is never read for someone else or for longer than
    ``UNENROLLED_RECHECK_SECONDS``)."""
    user = request.user
    remembered = request.session.get(UNENROLLED_SESSION_KEY)
    now = time.time()
    if isinstance(remembered, dict) and remembered.get("user") == user.pk and remembered.get("until", 0) > now:
        return False
    enrolled = has_second_factor(user)
    if enrolled:
        request.session.pop(UNENROLLED_SESSION_KEY, None)
    else:
        request.session[UNENROLLED_SESSION_KEY] = {"user": user.pk, "until": now + UNENROLLED_RECHECK_SECONDS}
    return enrolled


def _forget_unenrolled(user: User) -> None:
    """A device was just confirmed for ``user``: the session being served, if it is theirs,
    forgets its "not enrolled" answer (``session_has_second_factor``)."""
    from .audit import current_request  # the request being served (AuditContextMiddleware)

    request = current_request()
    session = getattr(request, "session", None)
    remembered = session.get(UNENROLLED_SESSION_KEY) if session is not None else None
    if isinstance(remembered, dict) and remembered.get("user") == user.pk:
        del session[UNENROLLED_SESSION_KEY]


def new_totp_key() -> str:
    """A fresh secret as TOTPDevice keeps it (40 hex digits: 160 bits, RFC 4226's advice)."""
    return random_hex(20)


def key_as_base32(key_hex: str) -> str:
    """The secret as people type it into an authenticator app (RFC 4648 base32, unpadded)."""
    return b32encode(unhexlify(key_hex)).decode().rstrip("=")


def key_from_base32(secret: str) -> bytes:
    """Inverse of ``key_as_base32`` (spaces and case ignored): for tests and scripts."""
    cleaned = secret.replace(" ", "").upper()
    return b32decode(cleaned + "=" * (-len(cleaned) % 8))


def provisioning_uri(*, key_hex: str, account: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code. The issuer is
    ``OTP_TOTP_ISSUER`` (default "Breachline"), so the app labels the entry."""
    issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "") or "Breachline").replace(":", "")
    params = urlencode(
        {"secret": key_as_base32(key_hex), "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": TOTP_STEP}
    )
    return f"otpauth://totp/{quote(issuer)}:{quote(account)}?{params}&issuer={quote(issuer)}"


def qr_svg_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG ``data:`` URI for an ``<img src>``: drawn here by segno,
    nothing fetched from elsewhere, no ``<svg>`` element in the page."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#111827", light="#ffffff")


@dataclass(frozen=True)
class CodeCheck:
    """What checking a code against a secret found: the time step it matched (None: it did
    not), so the device can refuse that step again (``TOTPDevice.last_t``)."""

    step: int | None


def totp_check(*, key_hex: str, code: str, at: float | None = None, after_step: int = -1) -> CodeCheck:
    """Check ``code`` against a secret not yet stored (an invitation's enrolment): the current
    step, one before or one after. Returns the matched step, or ``CodeCheck(None)``."""
    code = code.strip().replace(" ", "")
    if not _TOTP_CODE.fullmatch(code):
        return CodeCheck(None)
    totp = TOTP(unhexlify(key_hex), step=TOTP_STEP, digits=TOTP_DIGITS)
    totp.time = time.time() if at is None else at
    if not totp.verify(int(code), tolerance=TOTP_TOLERANCE, min_t=after_step + 1):
        return CodeCheck(None)
    return CodeCheck(totp.t())  # t() counts the drift the match needed


def _recovery_codes_create(user: User) -> list[str]:
    """Replace ``user``'s recovery codes with ``RECOVERY_CODE_COUNT`` new ones; returns them (the
    only time they are readable as a list: each is deleted when used)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def totp_enrolment_device(*, user: User) -> TOTPDevice:
    """The unconfirmed device ``user`` is enrolling with: the same one (the same secret) until
    confirmed, so reloading the enrolment page does not invalidate a scanned QR code."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_enrol_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str]:
    """Confirm ``device`` with a code the app shows, replacing any earlier TOTP device and
    recovery codes. Returns the new recovery codes. Raises ValidationError on a wrong code."""
    if device.user_id != user.pk or device.confirmed:
        raise ValidationError({"code": ["This enrolment is no longer open: start again."]})
    # A refusal leaves the transaction by returning, not raising: the failure count django-otp
    # writes (its throttling) must be committed, or wrong codes would cost nothing.
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        refusal = _refusal(device, code.strip().replace(" ", ""), wrong=WRONG_ENROLMENT_CODE)
        if refusal is None:
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _recovery_codes_create(user)
            _forget_unenrolled(user)
    if refusal is not None:
        raise ValidationError({"code": [refusal]})
    return codes


def _refusal(device: Device, code: str, *, wrong: str = WRONG_CODE) -> str | None:
    """Why ``device`` refuses ``code`` (locked after wrong ones, or wrong), None if it accepts it
    (which uses it up: a TOTP step or a recovery code is accepted once)."""
    allowed, details = device.verify_is_allowed()
    if not allowed:
        return _throttled_message(details)
    if not device.verify_token(code):
        return wrong
    return None


def totp_device_create_confirmed(*, user: User, key_hex: str, last_step: int) -> tuple[TOTPDevice, list[str]]:
    """Store a secret already proven with a code (``totp_check``) as ``user``'s confirmed device
    and give them recovery codes; ``last_step`` is the step that code used (not accepted again)."""
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, key=key_hex, confirmed=True, last_t=last_step)
    _forget_unenrolled(user)
    return device, _recovery_codes_create(user)


def recovery_codes_regenerate(*, user: User) -> list[str]:
    """New recovery codes for an enrolled person (the old ones stop working)."""
    if not has_second_factor(user):
        raise ValidationError("Set up an authenticator app first: recovery codes come with it.")
    with transaction.atomic():
        return _recovery_codes_create(user)


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def second_factor_verify(*, user: User, code: str) -> Device:
    """The device that accepts ``code`` from ``user``: six digits go to the TOTP device, anything
    else to the recovery codes (case, spaces and dashes ignored; a used code is deleted).
    Raises ValidationError (wrong code, or locked for a few seconds after wrong ones)."""
    cleaned = code.strip().replace(" ", "").replace("-", "")
    model = TOTPDevice if _TOTP_CODE.fullmatch(cleaned) else StaticDevice
    if model is StaticDevice:
        cleaned = cleaned.lower()
    with transaction.atomic():
        # Locked for the check, so two requests never both use one code (django_otp.verify_token);
        # a refusal is raised after the commit, which keeps the failure count (_refusal).
        device = model.objects.devices_for_user(user, confirmed=True).select_for_update().first()
        refusal = WRONG_CODE if device is None else _refusal(device, cleaned)
    if refusal is not None:
        raise ValidationError({"code": [refusal]})
    return device


def _throttled_message(details: dict | None) -> str:
    until = (details or {}).get("locked_until")
    if isinstance(until, datetime):
        return f"Too many wrong codes: wait until {until:%H:%M:%S} UTC and try again."
    return "Too many wrong codes: wait a few seconds and try again."
