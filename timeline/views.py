"""The incident's attack timeline in the browser: the date-grouped page with its filters and
keyset pagination, adding and editing events in place (htmx), and the key-events view.

Thin, as the other pages: the incident is found through ``incident_get`` (the one visibility
rule: 404 otherwise), events through ``timeline.selectors``, writes through
``timeline.services``. htmx gets parts of the page back; a plain form POST is redirected (PRG)
or shown the page again with the form's errors (400, or 409 for a stale edit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from config.errors import ConflictError
from incidents.forms import add_service_errors
from incidents.models import Incident
from incidents.permissions import Action, case_permissions, require
from incidents.selectors import incident_get

from . import attack, selectors, services, when
from .forms import EventEditForm, EventForm, FilterForm, LinkChoices, rebase, vendor_choices
from .models import Precision, TimelineEvent

# Events per page: a screenful of a busy day; "Later events" loads the next ones.
PAGE_SIZE = 100
# The key-events view is a summary: past this many key events it says so instead of growing.
KEY_EVENTS_MAX = 500
_CURSOR_SALT = "timeline.page.cursor"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FILTER_PARAMS = ("kind", "key", "vendor", "technique")


# --- How an event is shown -------------------------------------------------------------------
def _clock(moment: datetime, precision: str) -> str:
    """The time of day as precisely as it is known."""
    if precision == Precision.EXACT:
        return moment.strftime("%H:%M:%S")
    if precision == Precision.HOUR:
        return moment.strftime("%H:00")
    if precision == Precision.APPROXIMATE:
        return f"≈ {moment:%H:%M}"
    return moment.strftime("%H:%M")


def time_text(local: datetime, precision: str) -> str:
    """``14:05:09`` (exact), ``14:05`` (minute), ``14:00 (hour)``, ``whole day``, ``≈ 14:05``."""
    if precision == Precision.DAY:
        return "whole day"
    if precision == Precision.HOUR:
        return f"{_clock(local, precision)} (hour)"
    return _clock(local, precision)


def source_clock_text(event: TimelineEvent, local: datetime) -> str:
    """The source's own clock when it differs from the timeline's (``14:05 +05:30 at source``,
    with its date when that differs too); "" otherwise and for whole days."""
    offset = event.occurred_offset
    if offset is None or event.precision == Precision.DAY:
        return ""
    shown = local.utcoffset() or timedelta(0)
    if shown == timedelta(minutes=offset):
        return ""
    there = event.occurred_at.astimezone(dt_timezone(timedelta(minutes=offset)))
    day = f"{there.day} {there:%b} " if there.date() != local.date() else ""
    return f"{day}{_clock(there, event.precision)} {when.offset_text(offset)} at source"


@dataclass
class Row:
    """One event as the page shows it."""

    event: TimelineEvent
    local: datetime
    time: str
    source_clock: str
    technique: attack.Technique | None
    vendor: Any
    can_edit: bool
    # An imported row's extra columns (Timesketch's), as (name, value) pairs by name (jsonb
    # keeps no order). A list, not the dict: ``attributes.items`` would read a column "items".
    attributes: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class DayGroup:
    day: date
    continued: bool  # the previous page ended on this date too
    rows: list[Row] = field(default_factory=list)


def _row(event: TimelineEvent, viewer: User, can: dict[str, bool]) -> Row:
    local = event.occurred_at.astimezone(when.display_zone())
    return Row(
        event=event,
        local=local,
        time=time_text(local, event.precision),
        source_clock=source_clock_text(event, local),
        technique=attack.technique(event.technique) if event.technique else None,
        vendor=selectors.vendor_shown(event, viewer),
        can_edit=_may_edit(event, viewer, can),
        attributes=sorted(event.attributes.items()) if isinstance(event.attributes, dict) else [],
    )


def _may_edit(event: TimelineEvent, viewer: User, can: dict[str, bool]) -> bool:
    """What ``services.event_update`` accepts: anyone's event under EDIT_TIMELINE, one's own
    under CONTRIBUTE."""
    return can["edit_timeline"] or (can["contribute"] and event.recorded_by_id == viewer.pk)


def _groups(rows: list[Row], after_day: date | None) -> list[DayGroup]:
    groups: list[DayGroup] = []
    for row in rows:
        day = row.local.date()
        if not groups or groups[-1].day != day:
            groups.append(DayGroup(day, continued=not groups and day == after_day))
        groups[-1].rows.append(row)
    return groups


# --- Keyset pagination -----------------------------------------------------------------------
def cursor_for(occurred_at: datetime, pk: int) -> str:
    """An opaque, signed cursor: the page that follows starts after (occurred_at, pk)."""
    micros = (occurred_at - _EPOCH) // timedelta(microseconds=1)
    return signing.Signer(salt=_CURSOR_SALT).sign_object([micros, pk])


def cursor_read(text: str) -> tuple[datetime, int] | None:
    """The position in a cursor; None for a missing, tampered or nonsensical one (the first page)."""
    if not text or len(text) > 200:
        return None
    try:
        micros, pk = signing.Signer(salt=_CURSOR_SALT).unsign_object(text)
        if not (isinstance(micros, int) and isinstance(pk, int)) or isinstance(micros, bool):
            return None
        return _EPOCH + timedelta(microseconds=micros), pk
    except (signing.BadSignature, ValueError, TypeError, OverflowError):
        return None


def _after(queryset: QuerySet[TimelineEvent], position: tuple[datetime, int]) -> QuerySet[TimelineEvent]:
    at, pk = position
    # (occurred_at, id) > (at, pk); the ``gte`` lets the (incident, occurred_at, id) index seek.
    return queryset.filter(Q(occurred_at__gte=at), Q(occurred_at__gt=at) | Q(pk__gt=pk))


@dataclass
class Window:
    groups: list[DayGroup]
    next_cursor: str | None
    count: int


def _window(
    viewer: User, incident: Incident, filters: dict[str, Any], position: tuple[datetime, int] | None, can: dict
) -> Window:
    """One page of the (filtered) timeline after ``position``: three queries whatever its
    length (the events with who recorded them and their vendor, then the evidence and the
    indicators linked to them), none for the links when the page is empty."""
    queryset = selectors.filtered(selectors.events_for(viewer, incident), **filters)
    if position is not None:
        queryset = _after(queryset, position)
    events = list(selectors.with_links(queryset, viewer)[: PAGE_SIZE + 1])
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    rows = [_row(event, viewer, can) for event in events]
    after_day = position[0].astimezone(when.display_zone()).date() if position else None
    last = events[-1] if more else None
    return Window(_groups(rows, after_day), cursor_for(last.occurred_at, last.pk) if last else None, len(rows))


def _position_of(viewer: User, incident: Incident, filters: dict[str, Any], event: TimelineEvent) -> str:
    """The cursor of the page that starts with ``event`` (the event before it in the same
    filtered timeline; "" when it is the first): for "show it" links and redirects."""
    before = (
        selectors.filtered(selectors.events_for(viewer, incident), **filters)
        .filter(Q(occurred_at__lte=event.occurred_at), Q(occurred_at__lt=event.occurred_at) | Q(pk__lt=event.pk))
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", "pk")
        .first()
    )
    return cursor_for(*before) if before else ""


# --- Page ------------------------------------------------------------------------------------
def _visible_or_404(user: User, reference: str, *, needs: Action | None = None) -> Incident:
    """The incident ``user`` sees (else 404) and, with ``needs``, may take that action on (else
    403), before the body is looked at; as ``incidents.views._visible_or_404``."""
    incident = incident_get(viewer=user, reference=reference)
    if incident is None:
        raise Http404("No such incident.")
    if needs is not None:
        require(user, incident, needs)
    return incident


def _filter_query(request: HttpRequest) -> str:
    """The filters of the request's query string, without the page position."""
    pairs = [(name, value) for name in _FILTER_PARAMS for value in request.GET.getlist(name)]
    return urlencode(pairs)


def _page_url(incident: Incident, query: str = "", anchor: str = "") -> str:
    url = reverse("timeline:page", args=[incident.reference])
    return f"{url}{'?' + query if query else ''}{'#' + anchor if anchor else ''}"


def _with_cursor(query: str, cursor: str) -> str:
    return "&".join(part for part in (query, urlencode({"after": cursor}) if cursor else "") if part)


@dataclass
class PageState:
    """What every part of the page needs, read once per request."""

    incident: Incident
    viewer: User
    can: dict[str, bool]
    filter_form: FilterForm
    filters: dict[str, Any]
    filter_query: str
    vendors: list[tuple[int, str]]


def _state(request: HttpRequest, incident: Incident) -> PageState:
    viewer = request.user
    vendors = vendor_choices(incident, viewer)
    filter_form = FilterForm(request.GET or None, vendors=vendors)
    return PageState(
        incident=incident,
        viewer=viewer,
        can=case_permissions(viewer, incident),
        filter_form=filter_form,
        filters=filter_form.filters(),
        filter_query=_filter_query(request),
        vendors=vendors,
    )


def _events_context(state: PageState, position: tuple[datetime, int] | None, **extra: Any) -> dict[str, Any]:
    window = _window(state.viewer, state.incident, state.filters, position, state.can)
    more_query = _with_cursor(state.filter_query, window.next_cursor) if window.next_cursor else ""
    return {
        "incident": state.incident,
        "groups": window.groups,
        "event_count": window.count,
        "more_url": _page_url(state.incident, more_query) if window.next_cursor else "",
        "filtered": state.filter_form.active,
        "first_page": position is None,
        "filter_query": state.filter_query,
        **extra,
    }


def _add_form(state: PageState, data: Any = None) -> EventForm | None:
    if not state.can["contribute"]:
        return None
    choices = LinkChoices(state.incident, state.viewer, vendors=state.vendors)
    return EventForm(data, incident=state.incident, viewer=state.viewer, choices=choices)


def _render_page(
    request: HttpRequest,
    state: PageState,
    *,
    position: tuple[datetime, int] | None = None,
    add_form: EventForm | None = None,
    editing: EventEditForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = _events_context(state, position, editing=editing)
    context.update(
        {
            "can": state.can,
            "filter_form": state.filter_form,
            "filter_query": state.filter_query,
            "add_form": add_form or _add_form(state),
            "milestones": selectors.milestones(state.incident, viewer=state.viewer),
            "techniques": attack.technique_choices(),
            "attack_release": attack.RELEASE,
        }
    )
    return render(request, "timeline/page.html", context, status=status)


@login_required
@require_GET
def timeline_page(request: HttpRequest, reference: str) -> HttpResponse:
    """``GET /incidents/<ref>/timeline/``: the timeline from its first event (or after the
    ``after`` cursor), filtered by ``kind``, ``key``, ``vendor`` and ``technique``.

    An htmx request (the "Later events" control) gets only the next page's groups and its own
    "Later events" control, appended where the control was."""
    incident = _visible_or_404(request.user, reference)
    state = _state(request, incident)
    position = cursor_read(request.GET.get("after", ""))
    if request.htmx and not request.htmx.boosted:
        return render(request, "timeline/_events.html", _events_context(state, position))
    return _render_page(request, state, position=position)


# --- Adding ----------------------------------------------------------------------------------
def _added_notice(state: PageState, event: TimelineEvent, shown: list[DayGroup]) -> dict[str, str]:
    """What the page says after an add: where the event went, with a link when it is not in
    the first page shown (later in the timeline, or hidden by the filters)."""
    local = event.occurred_at.astimezone(when.display_zone())
    text = f"Added “{event.title}” ({local.day} {local:%b %Y}, {time_text(local, event.precision)})."
    if any(row.event.pk == event.pk for group in shown for row in group.rows):
        return {"text": text, "url": ""}
    matches = selectors.filtered(selectors.events_for(state.viewer, state.incident), **state.filters)
    if not matches.filter(pk=event.pk).exists():
        return {"text": f"{text} The filters hide it.", "url": ""}
    cursor = _position_of(state.viewer, state.incident, state.filters, event)
    return {
        "text": text,
        "url": _page_url(state.incident, _with_cursor(state.filter_query, cursor), f"event-{event.pk}"),
    }


@login_required
@require_POST
def event_add(request: HttpRequest, reference: str) -> HttpResponseBase:
    """``POST /incidents/<ref>/timeline/add/`` (``Action.CONTRIBUTE``, else 403). htmx: the add
    form comes back reset, and the timeline's first page out of band with the event in it;
    refused, the form with its errors (400). A plain POST is redirected to the event on the page."""
    incident = _visible_or_404(request.user, reference, needs=Action.CONTRIBUTE)
    state = _state(request, incident)
    choices = LinkChoices(incident, request.user, vendors=state.vendors)
    form = EventForm(request.POST, incident=incident, viewer=request.user, choices=choices)
    event = None
    if form.is_valid():
        try:
            event = services.event_add(incident=incident, actor=request.user, **form.fields_for_service())
        except ValidationError as exc:
            add_service_errors(form, exc)
    if event is None:
        if request.htmx:
            context = {"incident": incident, "add_form": form, "filter_query": state.filter_query}
            return render(request, "timeline/_add_form.html", context, status=400)
        return _render_page(request, state, add_form=form, status=400)
    if not request.htmx:
        messages.success(request, f"Added “{event.title}” to the timeline.")
        cursor = _position_of(state.viewer, incident, state.filters, event)
        return redirect(_page_url(incident, _with_cursor(state.filter_query, cursor), f"event-{event.pk}"))
    events = _events_context(state, None)
    events["notice"] = _added_notice(state, event, events["groups"])
    events["added"] = event.pk
    context = {
        "incident": incident,
        "add_form": _add_form(state),
        "filter_query": state.filter_query,
        "events_oob": events,
    }
    return render(request, "timeline/_add_form.html", context)


# --- Editing ---------------------------------------------------------------------------------
def _editable_or_404(request: HttpRequest, reference: str, event_id: int) -> tuple[PageState, TimelineEvent]:
    """The event (404 when the viewer cannot see it: a vendor collaborator never learns of an
    internal one), refused (403) unless the viewer may change it."""
    incident = _visible_or_404(request.user, reference)
    state = _state(request, incident)
    event = selectors.event_get(viewer=request.user, incident=incident, event_id=event_id)
    if event is None:
        raise Http404("No such timeline event.")
    event.incident = incident
    # Contributing is the weakest rule that could allow it (one's own event); then, whose event.
    require(request.user, incident, Action.CONTRIBUTE)
    if not _may_edit(event, request.user, state.can):
        raise PermissionDenied("You may only change timeline events you recorded.")
    return state, event


def _edit_form(state: PageState, event: TimelineEvent, data: Any = None) -> EventEditForm:
    choices = LinkChoices(state.incident, state.viewer, vendors=state.vendors)
    vendor = selectors.vendor_shown(event, state.viewer)
    return EventEditForm(
        data, incident=state.incident, viewer=state.viewer, choices=choices, event=event, vendor_shown=vendor
    )


def _edit_answer(
    request: HttpRequest, state: PageState, event: TimelineEvent, form: EventEditForm, *, status: int
) -> HttpResponse:
    if request.htmx:
        context = {"incident": state.incident, "form": form, "event": event, "filter_query": state.filter_query}
        return render(request, "timeline/_event_edit.html", context, status=status)
    cursor = cursor_read(_position_of(state.viewer, state.incident, state.filters, event))
    return _render_page(request, state, position=cursor, editing=form, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def event_edit(request: HttpRequest, reference: str, event_id: int) -> HttpResponseBase:
    """``/incidents/<ref>/timeline/<id>/edit/``. GET: the event's form in place of its row
    (htmx; ``?cancel=1`` gives the row back), or the page at the event with the form open.
    POST: ``services.event_update`` with the version the form was rendered with; a stale one is
    a 409 with the form kept; saved, the row comes back (htmx) or the page at the event."""
    state, event = _editable_or_404(request, reference, event_id)
    incident = state.incident
    if request.method == "GET":
        if request.GET.get("cancel"):
            if not request.htmx:
                return redirect(_page_url(incident, state.filter_query, f"event-{event.pk}"))
            return render(
                request, "timeline/_event.html", {"incident": incident, "row": _row(event, state.viewer, state.can)}
            )
        form = _edit_form(state, event)
        form.fields["title"].widget.attrs["autofocus"] = True  # htmx focuses it once swapped in
        return _edit_answer(request, state, event, form, status=200)
    form = _edit_form(state, event, request.POST)
    if not form.is_valid():
        return _edit_answer(request, state, event, form, status=400)
    data, version = form.changes(), form.cleaned_data["version"]
    day_before = event.occurred_at.astimezone(when.display_zone()).date()
    if version != event.version:
        # Checked on the event just read, as the service checks again under its row lock.
        return _edit_answer(request, state, event, _conflicted(state, event, request.POST), status=409)
    try:
        changes = services.event_update(event=event, actor=request.user, data=data, version=version)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _edit_answer(request, state, event, form, status=400)
    except ConflictError:
        return _edit_answer(request, state, event, _conflicted(state, event, request.POST), status=409)
    saved = "Saved." if changes else "Nothing changed."
    if not request.htmx:
        messages.success(request, f"{saved} “{event.title}”.")
        cursor = _position_of(state.viewer, incident, state.filters, event)
        return redirect(_page_url(incident, _with_cursor(state.filter_query, cursor), f"event-{event.pk}"))
    fresh = selectors.event_get(viewer=request.user, incident=incident, event_id=event.pk)
    if fresh is None:  # made internal by a vendor? never: they cannot. Edited out of sight otherwise.
        return HttpResponse("")
    row = _row(fresh, state.viewer, state.can)
    moved = row.local.date() != day_before
    context = {"incident": incident, "row": row, "saved": saved, "moved": moved, "edited": True}
    return render(request, "timeline/_event.html", context)


def _conflicted(state: PageState, event: TimelineEvent, posted: Any) -> EventEditForm:
    """The stale form moved onto the event as it is now (``forms.rebase``): what the editor
    changed is kept, what someone else changed meanwhile shows, and the form carries the current
    version, so saving again is a deliberate choice. The message names their changes."""
    current = selectors.event_get(viewer=state.viewer, incident=state.incident, event_id=event.pk) or event
    current.incident = state.incident
    data, theirs = rebase(posted, _edit_form(state, current))
    form = _edit_form(state, current, data)
    form.is_valid()
    labels = [str(form[name].label) for name in theirs if name in form.fields]
    changed = f": they changed {', '.join(labels)}" if labels else ""
    form.add_error(
        None,
        f"Someone changed this event since you opened it (now version {current.version}){changed}. Nothing was "
        "saved. The form shows the event as it is now with your changes on top: check it and save again.",
    )
    return form


# --- Key events ------------------------------------------------------------------------------
@login_required
@require_GET
def key_events(request: HttpRequest, reference: str) -> HttpResponse:
    """``GET /incidents/<ref>/timeline/key/``: the incident's milestones and key events, one
    line each, for an executive (and the printer). Three queries after the session's."""
    incident = _visible_or_404(request.user, reference)
    queryset = selectors.filtered(selectors.events_for(request.user, incident), key_only=True)
    events = list(queryset.only(*_KEY_FIELDS)[: KEY_EVENTS_MAX + 1])
    lines = []
    for event in events[:KEY_EVENTS_MAX]:
        local = event.occurred_at.astimezone(when.display_zone())
        technique = attack.technique(event.technique) if event.technique else None
        lines.append(
            {"event": event, "local": local, "time": time_text(local, event.precision), "technique": technique}
        )
    context = {
        "incident": incident,
        "milestones": selectors.milestones(incident, viewer=request.user),
        "lines": lines,
        "truncated": len(events) > KEY_EVENTS_MAX,
        "key_events_max": KEY_EVENTS_MAX,
        "zone_name": str(when.display_zone()),
    }
    return render(request, "timeline/key_events.html", context)


_KEY_FIELDS = ("pk", "occurred_at", "precision", "occurred_offset", "kind", "title", "technique", "incident_id")


urlpatterns: list[URLPattern] = [
    path("incidents/<reference:reference>/timeline/", timeline_page, name="page"),
    path("incidents/<reference:reference>/timeline/key/", key_events, name="key-events"),
    path("incidents/<reference:reference>/timeline/add/", event_add, name="add"),
    path("incidents/<reference:reference>/timeline/<int:event_id>/edit/", event_edit, name="edit"),
]
