"""Second-factor pages (enrol, verify, recovery codes) and invitations (the invite page, the
link's acceptance page). Thin: parse the form, call ``accounts.mfa`` / ``accounts.invitations``,
render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from incidents import selectors
from incidents.models import Incident
from incidents.permissions import Action, require

from . import invitations, mfa
from .forms import CodeForm, InvitationAcceptForm, InviteForm
from .models import Invitation

# The pages with a form: anything but these methods is a 405, not the page as if it were a GET.
FORM_METHODS = ["GET", "HEAD", "POST"]
# Recovery codes are put here by enrolment and acceptance and shown once by the next page.
CODES_SESSION_KEY = "mfa_recovery_codes"
# An invitee's secret between showing the QR code and their first code: no user exists yet to
# hang a device on. Keyed by the invitation, so a second invitation opened in the same browser
# gets its own.
INVITE_KEY_SESSION_KEY = "invitation_totp_keys"
# The backend a session made here records: Django needs one named when several are configured.
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _next_url(request: HttpRequest, default: str = "/") -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _qr_context(key_hex: str, account: str) -> dict[str, str]:
    return {
        "qr_data_uri": mfa.qr_svg_data_uri(mfa.provisioning_uri(key_hex=key_hex, account=account)),
        "secret": mfa.key_as_base32(key_hex),
    }


# --- Second factor -------------------------------------------------------------------------
@never_cache
@login_required
@require_http_methods(FORM_METHODS)
def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """Show the QR code and the secret of a new (unconfirmed) device; a right code confirms it
    and the recovery codes are shown once. An enrolled, verified person may enrol a new app
    here (replacing the old one); an enrolled but unverified one must verify first."""
    user = request.user
    if mfa.has_second_factor(user) and not user.is_verified():
        return redirect("mfa-verify")
    device = mfa.totp_enrolment_device(user=user)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = mfa.totp_enrol_confirm(user=user, device=device, code=form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error("code", exc.message_dict.get("code", exc.messages))
        else:
            device.refresh_from_db()
            otp_login(request, device)
            request.session[CODES_SESSION_KEY] = codes
            return redirect(_recovery_url(_next_url(request)))
    context = {
        "form": form,
        "required": mfa.second_factor_required(user),
        "replacing": mfa.has_second_factor(user),
        "next": _next_url(request, ""),
        **_qr_context(device.key, user.get_username()),
    }
    return render(request, "registration/mfa_enrol.html", context, status=400 if form.errors else 200)


def _recovery_url(next_url: str = "") -> str:
    url = reverse("mfa-recovery-codes")
    return f"{url}?{urlencode({REDIRECT_FIELD_NAME: next_url})}" if next_url else url


@never_cache
@login_required
@require_http_methods(FORM_METHODS)
def mfa_verify(request: HttpRequest) -> HttpResponse:
    """Ask for a TOTP or recovery code; the device that accepts it verifies the session."""
    user = request.user
    if not mfa.has_second_factor(user):
        return redirect("mfa-enrol")
    if user.is_verified():
        return redirect(_next_url(request))
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.second_factor_verify(user=user, code=form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error("code", exc.message_dict.get("code", exc.messages))
        else:
            # A new session key once the second factor passes, as Django does at login.
            request.session.cycle_key()
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                left = mfa.recovery_codes_left(user)
                messages.warning(request, f"You used a recovery code: {left} left. Make new ones if few are left.")
            return redirect(_next_url(request))
    context = {"form": form, "next": _next_url(request, "")}
    return render(request, "registration/mfa_verify.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(FORM_METHODS)
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Show the codes just made (once: they leave the session here); a POST makes new ones
    (the old ones stop working)."""
    user = request.user
    if not (mfa.has_second_factor(user) and user.is_verified()):
        return redirect("mfa-verify" if mfa.has_second_factor(user) else "mfa-enrol")
    if request.method == "POST":
        request.session[CODES_SESSION_KEY] = mfa.recovery_codes_regenerate(user=user)
        return redirect(_recovery_url())
    codes = request.session.pop(CODES_SESSION_KEY, None)
    context = {"codes": codes, "left": mfa.recovery_codes_left(user), "next": _next_url(request)}
    return render(request, "registration/recovery_codes.html", context)


# --- Invitations ---------------------------------------------------------------------------
def _manageable_or_refused(request: HttpRequest, reference: str) -> Incident:
    """The incident if the viewer may see it (else 404) and manage its access (else 403)."""
    incident = selectors.incident_get(viewer=request.user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    require(request.user, incident, Action.MANAGE_ACCESS)
    return incident


@login_required
@require_http_methods(FORM_METHODS)
def invite(request: HttpRequest, reference: str) -> HttpResponse:
    """The incident's collaborators: the invite form and its invitations with revoke buttons.
    Only the incident's lead and admins (``Action.MANAGE_ACCESS``)."""
    incident = _manageable_or_refused(request, reference)
    form = InviteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation, _ = invitations.invitation_create(
                incident=incident,
                email=data["email"],
                role=data["role"],
                access_expires_at=data["access_expires_at"],
                vendor=data["vendor"],
                actor=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}; the link works once.")
            return redirect("invite", reference=incident.reference)
    rows = [(i, invitations.invitation_state(i)) for i in invitations.invitations_for(incident=incident)]
    context = {"incident": incident, "form": form, "invitations": rows, "max_days": invitations.MAX_ACCESS_DAYS}
    return render(request, "registration/invite.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, reference: str, invitation_id: int) -> HttpResponse:
    incident = _manageable_or_refused(request, reference)
    invitation = get_object_or_404(Invitation, pk=invitation_id, incident=incident)
    invitations.invitation_revoke(invitation=invitation, actor=request.user)
    gone = " Their access has ended and their sessions are signed out." if invitation.accepted_at else ""
    messages.success(request, f"Revoked the invitation of {invitation.email}.{gone}")
    return redirect("invite", reference=incident.reference)


_UNUSABLE_TEXT = {
    "used": "This invitation link has already been used. Log in with the username you chose.",
    "expired": "This invitation link has expired. Ask the person who invited you for a new one.",
    "revoked": "This invitation has been withdrawn. Ask the person who invited you if you think that is wrong.",
}


def _gone(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "registration/invitation_gone.html", {"reason": _UNUSABLE_TEXT[reason]}, status=410)


@never_cache
@require_http_methods(FORM_METHODS)
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link's page: choose a username and password, scan the QR code and enter the app's
    code, all at once. Success signs the new collaborator in, verified, and shows their
    recovery codes. A used, expired or withdrawn link is a 410 page; an unknown one a 404."""
    try:
        invitation = invitations.invitation_for_token(token)
    except invitations.InvitationUnusable as exc:
        return _gone(request, exc.reason)
    if invitation is None:
        raise Http404("No such invitation.")
    keys: dict[str, str] = request.session.get(INVITE_KEY_SESSION_KEY, {})
    key_hex = keys.get(str(invitation.pk))
    if key_hex is None:
        key_hex = keys[str(invitation.pk)] = mfa.new_totp_key()
        request.session[INVITE_KEY_SESSION_KEY] = keys
    form = InvitationAcceptForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            accepted = invitations.invitation_accept(
                raw_token=token,
                username=data["username"],
                password=data["password"],
                totp_key=key_hex,
                totp_code=data["code"],
            )
        except invitations.InvitationUnusable as exc:
            return _gone(request, exc.reason)
        except LookupError as exc:
            raise Http404("No such invitation.") from exc
        except PermissionDenied:
            return _gone(request, "revoked")
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            # Signed in (a new session: Django's login cycles the key) and verified with the
            # device just proven; the pending secret leaves the session.
            auth_login(request, accepted.user, backend=SESSION_BACKEND)
            otp_login(request, accepted.device)
            request.session.pop(INVITE_KEY_SESSION_KEY, None)
            request.session[CODES_SESSION_KEY] = accepted.recovery_codes
            target = accepted.invitation.incident.get_absolute_url()
            return redirect(_recovery_url(target))
    context = {
        "invitation": invitation,
        "form": form,
        **_qr_context(key_hex, form.data.get("username") or invitation.email),
    }
    return render(request, "registration/invitation_accept.html", context, status=400 if form.errors else 200)
