"""Notification pages (browser): the bell, the inbox, the log, the channels and acknowledging.

Thin: parse, call a selector or a ``notifications.services`` function, answer. The log and the
channels are a 404 for whoever may not see them (``services.may_see_notification_log``), like the
alert queue for those who may not triage: they must not learn the pages exist. Acknowledging from
the incident page starts from the visibility selector, so an incident the viewer may not see is
the site's one 404; acknowledging through a signed link answers 400 (bad link) or 410 (expired)
with a page of its own, never a stack trace.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST, require_safe

from accounts.models import User
from incidents import selectors as incident_selectors
from incidents.permissions import Action, require

from . import selectors, services
from .forms import LogFilterForm, MarkReadForm
from .models import AckChannel, Channel, Notification, NotificationStatus, Reason, Transport

INBOX_PAGE_SIZE = 25
LOG_PAGE_SIZE = 50


def _log_viewer_or_404(user: User) -> None:
    if not services.may_see_notification_log(user):
        raise Http404("No such page.")


@require_GET
def bell(request: HttpRequest) -> HttpResponse:
    """``GET /notifications/bell/`` (htmx, on load and every minute): the bell's link with the
    unread count. Signed out (a session that expired under an open page): 204, so htmx leaves
    the bell as it is and the page is not sent to the login page by a background request."""
    if not request.user.is_authenticated:
        return HttpResponse(status=204)
    response = render(request, "notifications/_bell.html", {"unread": selectors.unread_count(request.user)})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """``GET /notifications/``: the signed-in person's in-app notifications, newest first."""
    page = Paginator(selectors.inbox(request.user), INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    visible = selectors.visible_incident_ids(request.user, page.object_list)
    rows = [
        {"notification": n, "linked": n.incident_id in visible, "unread": n.read_at is None} for n in page.object_list
    ]
    return render(
        request,
        "notifications/inbox.html",
        {"page": page, "rows": rows, "unread": selectors.unread_count(request.user)},
    )


@require_POST
@login_required
def mark_read(request: HttpRequest) -> HttpResponse:
    """``POST /notifications/read/``: mark the posted ``ids`` read (all unread ones without
    ids), then back to the inbox page it came from."""
    form = MarkReadForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("ids must be notification ids.")
    ids = form.cleaned_data["ids"] or None
    marked = services.notifications_mark_read(user=request.user, ids=ids)
    if ids is None:
        messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} read.")
    page = request.POST.get("page", "")
    target = redirect("notifications:inbox")
    if page.isascii() and page.isdigit() and page != "1":
        target["Location"] += f"?page={page}"
    return target


@login_required
@require_safe
def log(request: HttpRequest) -> HttpResponse:
    """``GET /notifications/log/``: every notification with its delivery record, filtered by
    status, transport, reason and incident; 50 a page. Admins and incident leads only."""
    _log_viewer_or_404(request.user)
    form = LogFilterForm(request.GET)
    form.is_valid()  # invalid fields are shown on the form and left out of cleaned_data
    filters = form.valid_filters()
    page = Paginator(selectors.notification_log(viewer=request.user, filters=filters), LOG_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    visible = selectors.visible_incident_ids(request.user, page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "notifications/log.html",
        {
            "form": form,
            "page": page,
            "rows": [{"n": n, "linked": n.incident_id in visible} for n in page.object_list],
            "query": query.urlencode(),
            "filtered": bool(filters),
            "statuses": NotificationStatus.choices,
            "transports": Transport.choices,
            "reasons": Reason.choices,
        },
    )


@login_required
@require_safe
def channels(request: HttpRequest) -> HttpResponse:
    """``GET /notifications/channels/``: every channel, its target masked, and how its last
    test went. Admins and incident leads only; editing is in the Django admin."""
    _log_viewer_or_404(request.user)
    rows = [
        {"channel": channel, "target": selectors.target_masked(channel.kind, channel.target)}
        for channel in selectors.channels_with_last_test()
    ]
    return render(request, "notifications/channels.html", {"rows": rows})


@require_POST
@login_required
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    """``POST /notifications/channels/<id>/test/``: send a test message now, then back to the
    channels with what became of it (delivered already when Celery runs in-process)."""
    _log_viewer_or_404(request.user)
    channel = get_object_or_404(Channel, pk=channel_id)
    row = services.channel_test(channel=channel, actor=request.user)  # PermissionDenied → 403 page
    row.refresh_from_db(fields=["status", "last_error"])
    if row.status == NotificationStatus.DELIVERED:
        messages.success(request, f"Test message delivered to {channel.name}.")
    elif row.status == NotificationStatus.FAILED:
        messages.error(request, f"Test message to {channel.name} failed: {row.last_error}")
    elif row.last_error:
        messages.warning(request, f"Test message to {channel.name} will be retried: {row.last_error}")
    else:
        messages.success(request, f"Test message queued for {channel.name}.")
    return redirect("notifications:channels")


@require_POST
@login_required
def acknowledge(request: HttpRequest, reference: str) -> HttpResponse:
    """``POST /incidents/<ref>/acknowledge/``: the incident page's button. 404 for an incident
    the viewer may not see, 403 (the site's page) when their standing may not acknowledge; a
    second acknowledgement or a closed incident is a message on the incident page."""
    incident = incident_selectors.incident_get(viewer=request.user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    require(request.user, incident, Action.ACKNOWLEDGE)  # the service checks again, under its lock
    try:
        services.incident_acknowledge(incident=incident, actor=request.user, channel=AckChannel.WEB)
    except services.AlreadyAcknowledged as exc:
        messages.warning(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"You acknowledged {incident.reference}: its escalation is stopped.")
    return redirect(incident)


def _link_refused(request: HttpRequest, *, expired: bool) -> HttpResponse:
    status = 410 if expired else 400
    return render(
        request,
        "notifications/ack_link_invalid.html",
        {"expired": expired, "status": status, "max_days": settings.ACK_LINK_MAX_AGE_SECONDS // 86400},
        status=status,
    )


def _resolve(token: str) -> Notification | None:
    """The notification a link names, or None for a link that was tampered with, cut short or
    names nothing (raises ``signing.SignatureExpired`` for an expired one)."""
    try:
        notification = services.acknowledge_link_resolve(token)
    except signing.SignatureExpired:
        raise
    except (signing.BadSignature, Notification.DoesNotExist, ValidationError, KeyError, TypeError, ValueError):
        return None
    return notification if notification.incident is not None else None


def acknowledge_link(request: HttpRequest, token: str) -> HttpResponse:
    """``/ack/<token>/``: the link in a page.

    GET shows a confirmation page and never acknowledges (mail scanners and link previews open
    links); its form POSTs here. A person's link needs no sign-in: the link is their credential
    for this one act, and they are the viewer (the title is shown only if they may see the
    incident). A channel's link (a shared room) needs someone signed in, who is recorded.
    """
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    try:
        notification = _resolve(token)
    except signing.SignatureExpired:
        return _link_refused(request, expired=True)
    if notification is None:
        return _link_refused(request, expired=False)
    if notification.user is None and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    viewer = notification.user if notification.user is not None else request.user
    incident = notification.incident
    status = 200
    if request.method == "POST":
        try:
            services.acknowledge_by_link(notification=notification, user=request.user)
        except services.AlreadyAcknowledged:
            status = 409
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 409
        else:
            messages.success(request, f"{incident.reference} is acknowledged: its escalation is stopped.")
            return redirect(request.get_full_path())
        # PermissionDenied propagates: the site's 403 page.
    sees = incident_selectors.incidents_visible_to(viewer).filter(pk=incident.pk).exists()
    state = selectors.paging_state(incident)
    incident.refresh_from_db(fields=["status", "acknowledged_at", "severity"])
    pending = incident.is_open and (incident.acknowledged_at is None or state.running)
    return render(
        request,
        "notifications/ack_link.html",
        {
            "notification": notification,
            "incident": incident,
            "title_shown": sees,
            "state": state,
            "pending": pending,
            "viewer": viewer,
            "signed_in": request.user.is_authenticated,
        },
        status=status,
    )
