"""Vendor collaborators: invited by e-mail to one incident, until a date; their access ends then
or when revoked, and their open sessions end with it.

- ``invitation_create``: the incident's lead or an admin (``Action.MANAGE_ACCESS``) invites an
  e-mail address as observer (reads) or responder (contributes), with an access expiry at most
  ``MAX_ACCESS_DAYS`` ahead. The e-mail carries a single-use link (a random token of which only
  the SHA-256 is stored) valid ``INVITATION_LINK_HOURS``.
- ``invitation_accept``: the link's page creates the person (role vendor, the invitation's
  company), with a password and a TOTP device proven by a code, and their membership with
  ``expires_at``. The link then answers 410.
- ``invitation_revoke``: the link dies; an accepted invitation's membership goes and the person's
  sessions are deleted (deactivated too when no membership is left).
- ``end_expired_access`` (every minute, ``accounts.tasks``): removes memberships past their
  expiry. Visibility already ignores them (``incidents.models.current_memberships``), so access
  ends exactly at expiry whatever the task has done yet; the task records it and tidies up.

Sessions are found by decoding the database sessions (``django.contrib.sessions``, the
configured engine) and comparing ``_auth_user_id``: one pass over the live sessions, paid only
when access ends, and nothing to keep in step at login.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents import events
from incidents import services as incident_services
from incidents.models import Incident, MemberRole, Membership, Vendor
from incidents.permissions import Action, require

from . import mfa
from .models import Invitation, Role, User

MAX_ACCESS_DAYS = 90
INVITED_ROLES = (MemberRole.OBSERVER, MemberRole.RESPONDER)
DEFAULT_LINK_HOURS = 72


class InvitationUnusable(Exception):
    """The link cannot be used (any more): ``reason`` is one of ``used``, ``expired``,
    ``revoked``; the page says which, with a 410."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _digest(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def link_hours() -> int:
    return int(getattr(settings, "INVITATION_LINK_HOURS", DEFAULT_LINK_HOURS))


def invitation_url(raw_token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("invitation-accept", args=[raw_token])


def invitation_state(invitation: Invitation, now: datetime | None = None) -> str:
    """``revoked``, ``accepted``, ``link expired`` or ``pending``: what the invite page shows."""
    now = now or timezone.now()
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.link_expires_at <= now:
        return "link expired"
    return "pending"


def invitation_create(
    *,
    incident: Incident,
    email: str,
    role: str,
    access_expires_at: datetime,
    actor: User,
    vendor: Vendor | None = None,
) -> tuple[Invitation, str]:
    """Invite ``email`` onto ``incident`` and e-mail them the link (after the commit). Returns
    the invitation and the raw token (in the link; never stored, never shown again).

    Raises PermissionDenied unless ``actor`` may manage access (the incident's lead, an admin);
    ValidationError for a bad address or role, an expiry not in the future or more than
    ``MAX_ACCESS_DAYS`` ahead, or an invitation to the same address still pending."""
    require(actor, incident, Action.MANAGE_ACCESS)
    now = timezone.now()
    email = email.strip()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid e-mail address."]
    if role not in INVITED_ROLES:
        errors["role"] = ["Invite as observer (reads) or responder (contributes)."]
    if access_expires_at <= now:
        errors["access_expires_at"] = ["Access must end in the future."]
    elif access_expires_at > now + timedelta(days=MAX_ACCESS_DAYS):
        errors["access_expires_at"] = [f"Access may last at most {MAX_ACCESS_DAYS} days; invite again to extend it."]
    if "email" not in errors and _pending(incident).filter(email__iexact=email).exists():
        errors["email"] = [f"{email} already has a pending invitation to {incident.reference}: revoke it first."]
    if errors:
        raise ValidationError(errors)

    raw_token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            email=email,
            incident=incident,
            role=role,
            vendor=vendor,
            invited_by=actor,
            created_at=now,
            token_digest=_digest(raw_token),
            link_expires_at=now + timedelta(hours=link_hours()),
            access_expires_at=access_expires_at,
        )
        # Sent once the invitation exists for good: a rolled-back one never mails a dead link.
        transaction.on_commit(lambda: _send_invitation(invitation, raw_token))
    return invitation, raw_token


def _pending(incident: Incident) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        incident=incident, accepted_at=None, revoked_at=None, link_expires_at__gt=timezone.now()
    )


def _send_invitation(invitation: Invitation, raw_token: str) -> None:
    """The e-mail: who invites, to what, until when, and the link (nothing from the case itself:
    the incident's title may be confidential, so only its reference)."""
    inviter = invitation.invited_by
    until = timezone.localtime(invitation.access_expires_at)
    link_until = timezone.localtime(invitation.link_expires_at)
    body = (
        f"{inviter or 'The incident response team'} invites you to collaborate on incident "
        f"{invitation.incident.reference} in Breachline, as {invitation.role}, until {until:%-d %b %Y %H:%M %Z}.\n\n"
        f"Open this link to choose a username and password and set up an authenticator app:\n"
        f"{invitation_url(raw_token)}\n\n"
        f"The link works once, until {link_until:%-d %b %Y %H:%M %Z}. If you did not expect it, ignore this e-mail.\n"
    )
    send_mail(
        subject=f"Invitation to incident {invitation.incident.reference}",
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


def invitation_for_token(raw_token: str, *, for_update: bool = False) -> Invitation | None:
    """The invitation the link names if it may still be used; None for an unknown token. Raises
    InvitationUnusable (used, revoked, expired) for a known one that may not."""
    rows = Invitation.objects.select_related("incident", "vendor", "invited_by")
    if for_update:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(token_digest=_digest(raw_token)).first()
    if invitation is None:
        return None
    if invitation.revoked_at is not None:
        raise InvitationUnusable("revoked")
    if invitation.accepted_at is not None:
        raise InvitationUnusable("used")
    if invitation.link_expires_at <= timezone.now():
        raise InvitationUnusable("expired")
    return invitation


@dataclass(frozen=True)
class Accepted:
    """What ``invitation_accept`` made: the person, their verified TOTP device (for
    ``django_otp.login``) and their recovery codes (shown once)."""

    user: User
    device: TOTPDevice
    recovery_codes: list[str]
    invitation: Invitation


def invitation_accept(*, raw_token: str, username: str, password: str, totp_key: str, totp_code: str) -> Accepted:
    """Use the link once: create the vendor collaborator with ``password`` (Django's validators)
    and the TOTP secret ``totp_key`` (hex) that ``totp_code`` proves they hold, and their
    membership until the invitation's access expiry.

    Raises InvitationUnusable (the link is used, revoked or expired; nothing is created),
    LookupError for an unknown token, ValidationError with field messages (username taken,
    weak password, wrong code), PermissionDenied when whoever invited may no longer manage the
    incident's access (their invitation no longer stands)."""
    username = username.strip()
    with transaction.atomic():
        invitation = invitation_for_token(raw_token, for_update=True)
        if invitation is None:
            raise LookupError("No such invitation.")
        errors: dict[str, list[str]] = {}
        if not username:
            errors["username"] = ["Choose a username."]
        elif User.objects.filter(username__iexact=username).exists():
            errors["username"] = ["That username is taken: choose another."]
        else:
            try:
                User.username_validator(username)
            except ValidationError as exc:
                errors["username"] = exc.messages
        candidate = User(username=username, email=invitation.email, role=Role.VENDOR)
        try:
            password_validation.validate_password(password, candidate)
        except ValidationError as exc:
            errors["password"] = exc.messages
        check = mfa.totp_check(key_hex=totp_key, code=totp_code)
        if check.step is None:
            errors["code"] = ["That code is not right: enter the six digits the app shows now."]
        if errors:
            raise ValidationError(errors)

        user = User(username=username, email=invitation.email, role=Role.VENDOR, vendor=invitation.vendor)
        user.set_password(password)
        user.save()
        device, codes = mfa.totp_device_create_confirmed(user=user, key_hex=totp_key, last_step=check.step)
        actor = invitation.invited_by
        if actor is None:
            raise PermissionDenied("This invitation no longer stands: ask the incident's lead for a new one.")
        # The inviter adds them (their right is checked again now) and the membership gets its
        # end; nobody sees it between the two writes (one transaction).
        membership = incident_services.member_add(
            incident=invitation.incident, user=user, actor=actor, role=invitation.role
        )
        Membership.objects.filter(pk=membership.pk).update(expires_at=invitation.access_expires_at)
        invitation.accepted_at = timezone.now()
        invitation.user = user
        invitation.save(update_fields=["accepted_at", "user"])
    return Accepted(user=user, device=device, recovery_codes=codes, invitation=invitation)


def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    """End the invitation now (``Action.MANAGE_ACCESS``): a pending link stops working; an
    accepted one's membership is removed (an activity entry ``member_removed``), the person's
    sessions are deleted and, with no membership left, they are deactivated. Idempotent."""
    require(actor, invitation.incident, Action.MANAGE_ACCESS)
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",)).select_related("incident", "user").get(pk=invitation.pk)
        )
        if invitation.revoked_at is not None:
            return invitation
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        person = invitation.user
        if person is not None:
            if Membership.objects.filter(incident=invitation.incident, user=person).exists():
                incident_services.member_remove(incident=invitation.incident, user=person, actor=actor)
            _end_sessions_and_maybe_deactivate(person)
    return invitation


def end_expired_access(*, now: datetime | None = None) -> int:
    """Remove every membership whose ``expires_at`` has passed, recording ``member_removed``
    (reason ``expired``, no actor: the clock did it); then deactivate vendor collaborators with
    no membership left and delete their sessions. Returns how many memberships ended.

    Rows are claimed with ``skip_locked`` so two overlapping runs never remove one twice."""
    now = now or timezone.now()
    ended = 0
    people: set[int] = set()
    with transaction.atomic():
        expired = (
            Membership.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("incident", "user")
            .filter(expires_at__lte=now)
        )
        for membership in expired:
            events.member_removed_event(membership=membership, actor=None, reason="expired")
            Incident.objects.filter(pk=membership.incident_id).update(updated_at=now)
            people.add(membership.user_id)
            membership.delete()
            ended += 1
    for person in User.objects.filter(pk__in=people):
        _end_sessions_and_maybe_deactivate(person)
    return ended


def _end_sessions_and_maybe_deactivate(person: User) -> None:
    """A vendor collaborator with no membership left is deactivated (they came for those
    incidents only); their sessions are deleted either way, so a browser left open is signed
    out at its next request."""
    if person.role == Role.VENDOR and not Membership.objects.filter(user=person).exists():
        User.objects.filter(pk=person.pk).update(is_active=False)
    sessions_end(user=person)


def sessions_end(*, user: User) -> int:
    """Delete every live session signed in as ``user``; returns how many. One pass over the
    unexpired sessions, decoding each (only the database engine keeps them enumerable)."""
    mine = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(pk__in=mine).delete()
    return len(mine)


def invitations_for(*, incident: Incident) -> QuerySet[Invitation]:
    """The incident's invitations for its invite page, newest first."""
    return Invitation.objects.filter(incident=incident).select_related("invited_by", "user", "vendor")
