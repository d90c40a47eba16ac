"""Live updates: pages poll a cheap endpoint and swap in only what others changed.

The incident page holds a *token* of the state it shows (``version.updated_at.activity``, see
``LiveToken``) in ``#live-poll`` (``templates/incidents/_live_poll.html``), which polls
``incident_poll`` every few seconds:

- unchanged (same ``version`` and ``updated_at``): ``204`` with ``HX-Reswap: none`` after one
  query of its own (session, user, then the incident's stamp through the visibility selector:
  3 in all). Not 304: htmx would swap a 304's empty body into the page.
- changed: the panels the new activity entries touch (``PANELS_BY_VERB``), each rendered from the
  ``{% block %}`` that draws it on the detail page and sent as an ``hx-swap-oob`` fragment, plus a
  fresh ``#live-poll`` carrying the new token. The add forms are outside those blocks, so
  what someone is typing is never re-rendered.
- not visible (any more): 404, the same as the detail page.

The contract with the services: every write to a case moves ``Incident.updated_at`` (or
``version``) and records its ``Activity`` entry in the same transaction. A change with no entry
the viewer may see re-renders every panel, so a write that forgets its entry is still shown.

In-place writes (adding a finding or a task, ticking a task) answer with their panel and, through
``with_updates``, the activity panel and whatever else changed since the page's token (sent by
static/js/app.js as ``X-Live-Since``), so the page's token moves on without skipping anyone's change.

The list page polls ``list_poll`` with the time it was rendered and gets a "N incidents changed —
reload" notice rather than a re-sorted table under the reader's cursor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.context import make_context
from django.template.loader import get_template, render_to_string
from django.template.loader_tags import BlockNode
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts.audit import record_restricted_read

from . import filters, selectors
from .models import Activity, Incident

POLL_SECONDS = 4
# Sent by static/js/app.js on every htmx request from a page that polls: the token it holds.
SINCE_HEADER = "X-Live-Since"
# A list poll counts at most this many changed incidents ("100+ incidents changed").
LIST_CHANGES_SHOWN = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TOKEN = re.compile(r"^(\d{1,10})\.(\d{1,20})\.(\d{1,20})$")


def _micros(moment: datetime) -> int:
    # Integer arithmetic: a float timestamp could round the last microsecond away.
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class LiveToken:
    """What a page shows: the incident's ``version`` and ``updated_at`` (the cheap comparison)
    and the newest activity entry it lists (which entries are new, hence which panels changed)."""

    version: int
    updated_at: int  # microseconds since the epoch
    activity_id: int

    def __str__(self) -> str:
        return f"{self.version}.{self.updated_at}.{self.activity_id}"

    @classmethod
    def parse(cls, raw: str | None) -> LiveToken | None:
        match = _TOKEN.match(raw or "")
        return cls(*(int(part) for part in match.groups())) if match else None

    @classmethod
    def of(cls, incident: Incident) -> LiveToken:
        """The token of an incident loaded by ``selectors.incident_detail`` (``recent_activity``:
        newest first, only the entries its viewer may see)."""
        recent = getattr(incident, "recent_activity", None) or []
        return cls(incident.version, _micros(incident.updated_at), recent[0].pk if recent else 0)

    def moved(self, version: int, updated_at: datetime) -> bool:
        return (version, _micros(updated_at)) != (self.version, self.updated_at)


# --- Panels ------------------------------------------------------------------------------------
def _shown(name: str) -> Callable[[Incident], dict[str, Any]]:
    """The list a partial of the detail page is included with (``with findings=incident.findings.all``)."""
    return lambda incident: {name: getattr(incident, name).all()}


@dataclass(frozen=True)
class Panel:
    """A part of the incident page redrawn on its own: each ``(block, target)`` of ``template``
    draws the inside of the element ``#target``. Only lists and facts are blocks; the forms
    beside them (adding a finding, a task, a member) are not, so they are never redrawn."""

    name: str
    template: str
    parts: tuple[tuple[str, str], ...]
    context: Callable[[Incident], dict[str, Any]] = lambda incident: {}


PANELS: dict[str, Panel] = {
    panel.name: panel
    for panel in (
        Panel("heading", "incidents/detail.html", (("case_banner", "case-banner"), ("case_heading", "case-heading"))),
        Panel("summary", "incidents/detail.html", (("case_summary", "case-summary"),)),
        Panel("facts", "incidents/detail.html", (("case_facts", "case-facts"),)),
        Panel("activity", "incidents/detail.html", (("case_activity", "case-activity"),)),
        Panel(
            "findings",
            "incidents/_findings.html",
            (("findings_count", "findings-count"), ("findings_list", "findings-list")),
            _shown("findings"),
        ),
        Panel(
            "tasks",
            "incidents/_tasks.html",
            (("tasks_count", "tasks-count"), ("tasks_list", "tasks-list")),
            _shown("tasks"),
        ),
        Panel(
            "members",
            "incidents/_members.html",
            (("members_count", "members-count"), ("members_list", "members-list")),
            _shown("memberships"),
        ),
        # Its lists come lazily with the detail page's context (incidents/evidence/panel.py).
        Panel(
            "evidence",
            "incidents/_evidence.html",
            (
                ("evidence_count", "evidence-count"),
                ("evidence_export", "evidence-export"),
                ("evidence_hold", "evidence-hold"),
                ("evidence_list", "evidence-list"),
            ),
        ),
        # Its list comes lazily with the detail page's context (incidents/indicators/panel.py).
        Panel(
            "indicators",
            "incidents/_indicators.html",
            (
                ("indicators_count", "indicators-count"),
                ("indicators_export", "indicators-export"),
                ("indicators_list", "indicators-list"),
            ),
        ),
        # Its list comes lazily with the detail page's context (incidents/vendors/panel.py).
        Panel(
            "vendors",
            "incidents/_vendors.html",
            (
                ("vendors_count", "vendors-count"),
                ("vendors_checklist", "vendors-checklist"),
                ("vendors_list", "vendors-list"),
            ),
        ),
        # Its list comes lazily with the detail page's context (incidents/vendors/scope.py).
        Panel("scope", "incidents/_scope.html", (("scope_count", "scope-count"), ("scope_list", "scope-list"))),
        # Its rows come lazily with the detail page's context (incidents/regulatory/panel.py);
        # both blocks stay empty for vendor collaborators.
        Panel(
            "register",
            "incidents/_register.html",
            (("register_count", "register-count"), ("register_rows", "register-rows")),
        ),
        # Its milestones and key events come lazily with the detail page's context (timeline/panel.py).
        Panel(
            "timeline",
            "incidents/_timeline.html",
            (("timeline_count", "timeline-count"), ("timeline_summary", "timeline-summary")),
        ),
    )
}
# Which panels an activity entry's verb changes (the activity panel changes with every entry).
# Member changes redraw the heading too: the viewer's own buttons follow their role. A verb
# missing here redraws every panel, so a new kind of entry is shown before it is mapped.
_CASE = frozenset({"heading", "summary", "facts"})
PANELS_BY_VERB: dict[str, frozenset[str]] = {
    "opened": _CASE,
    "status_changed": _CASE,
    "updated": _CASE,
    "closed": _CASE,
    "reopened": _CASE,
    "finding_added": frozenset({"findings"}),
    "task_added": frozenset({"tasks"}),
    "task_updated": frozenset({"tasks"}),
    "task_done": frozenset({"tasks"}),
    "task_status_changed": frozenset({"tasks"}),
    "task_note_added": frozenset({"tasks"}),
    "member_added": frozenset({"members", "heading"}),
    "member_removed": frozenset({"members", "heading"}),
    "member_role_changed": frozenset({"members", "heading"}),
    "evidence_added": frozenset({"evidence"}),
    "evidence_transferred": frozenset({"evidence"}),
    "evidence_purged": frozenset({"evidence"}),
    "legal_hold_set": frozenset({"evidence"}),
    "legal_hold_cleared": frozenset({"evidence"}),
    "indicators_added": frozenset({"indicators"}),
    "indicator_updated": frozenset({"indicators"}),
    "vendor_involved": frozenset({"vendors"}),
    "vendor_role_changed": frozenset({"vendors"}),
    "vendor_removed": frozenset({"vendors"}),
    "vendor_access_added": frozenset({"vendors"}),
    "vendor_access_stepped": frozenset({"vendors"}),
    "containment_overridden": frozenset({"vendors"}),
    "vendor_question_asked": frozenset({"vendors"}),
    "vendor_question_answered": frozenset({"vendors"}),
    # The derived personal-data flag and record count are an "updated" entry of their own.
    "scope_added": frozenset({"scope"}),
    "scope_removed": frozenset({"scope"}),
    "timeline_event_added": frozenset({"timeline"}),
    "timeline_event_updated": frozenset({"timeline"}),
    # Paging (notifications/): the acknowledgement shows in the heading and facts; the sweep's
    # entries only in the activity list (they do not move the incident, so no poll sees them alone).
    "acknowledged": _CASE,
    "escalated": frozenset({"heading"}),  # the paging banner sits in the heading
    "sla_breached": frozenset(),
    # The notification register (incidents/regulatory/): internal entries, staff only.
    "regime_decided": frozenset({"register"}),
    "deadline_set": frozenset({"register"}),
    "notice_drafted": frozenset({"register"}),
    "notice_revised": frozenset({"register"}),
    "notice_approved": frozenset({"register"}),
    "notice_sent": frozenset({"register"}),
}
# What an in-place write's own response already redraws (``with_updates(changed=…)``).
PANEL_OF_WRITE = {
    "finding": "findings",
    "task": "tasks",
    "member": "members",
    "evidence": "evidence",
    "indicator": "indicators",
    "vendor": "vendors",
    "scope": "scope",
    "register": "register",
}


def changed_panels(token: LiveToken | None, incident: Incident) -> tuple[set[str], list[Activity]]:
    """The panels to redraw for a page holding ``token``, and the new entries that say why."""
    recent: list[Activity] = incident.recent_activity
    if token is None:
        return set(PANELS), []
    new = [entry for entry in recent if entry.pk > token.activity_id]
    if not new or len(new) == len(recent):
        # Nothing the viewer may see explains the change (or more changed than the page lists):
        # redraw everything rather than guess.
        return set(PANELS), new
    panels = {"activity"}
    for entry in new:
        panels |= PANELS_BY_VERB.get(entry.verb, frozenset(PANELS))
    return panels, new


def render_panels(request: HttpRequest, context: Mapping[str, Any], panels: Iterable[str]) -> dict[str, str]:
    """``{target: html}`` for every part of ``panels``, each rendered alone from the ``{% block %}``
    that draws it on the detail page, with the page's context: the markup exists once. Raises
    LookupError when a template has lost a block (the tests render every panel)."""
    html: dict[str, str] = {}
    incident: Incident = context["incident"]
    for name in panels:
        panel = PANELS[name]
        template = get_template(panel.template).template
        blocks = {node.name: node for node in template.nodelist.get_nodes_by_type(BlockNode)}
        ctx = make_context({**context, **panel.context(incident)}, request)
        # What Template.render does, without rendering the whole page.
        with ctx.render_context.push_state(template), ctx.bind_template(template):
            for block, target in panel.parts:
                if block not in blocks:
                    raise LookupError(f"{panel.template} has no block {block!r} for the {name} panel")
                html[target] = blocks[block].render(ctx)
    return html


def oob(html: Mapping[str, str]) -> SafeString:
    """Out-of-band fragments: each replaces the inside of its ``#target``."""
    return format_html_join(
        "\n",
        '<div hx-swap-oob="innerHTML:#{}">{}</div>',
        ((target, mark_safe(part)) for target, part in html.items()),  # noqa: S308 - rendered by our templates
    )


def _detail(request: HttpRequest, reference: str) -> TemplateResponse:
    """The detail page's own response, never rendered: its context is what the panels need, so
    a poll draws them exactly as a reload would. Raises Http404 like the page."""
    from . import views  # views imports this module for with_updates

    response = views.detail_page(request, reference)
    if not isinstance(response, TemplateResponse):
        raise TypeError("views.detail_page must answer a TemplateResponse: live panels render with its context")
    return response


def _announcement(new: list[Activity]) -> str:
    if not new:
        return "The incident was updated."
    lines = [f"{entry.actor or 'system'} {entry.text}" for entry in reversed(new[:3])]
    more = f" And {len(new) - 3} more." if len(new) > 3 else ""
    return ". ".join(lines) + "." + more


def _updates(
    request: HttpRequest, detail: TemplateResponse, token: LiveToken | None, skip: Iterable[str] = ()
) -> SafeString:
    """The out-of-band fragments for a page holding ``token``: changed panels (minus ``skip``,
    which the response draws itself), the announcement and a ``#live-poll`` with the new token."""
    context = detail.context_data
    incident: Incident = context["incident"]
    panels, new = changed_panels(token, incident)
    panels -= set(skip)
    fragments = oob(render_panels(request, context, sorted(panels)))
    # Into the existing live region: a replaced region is not reliably announced.
    status = format_html('<div hx-swap-oob="innerHTML:#live-status">{}</div>', _announcement(new))
    return format_html("{}\n{}", fragments, status)


def _poll_element(request: HttpRequest, incident: Incident, *, oob: bool) -> str:
    return render_to_string("incidents/_live_poll.html", {"incident": incident, "oob": oob}, request=request)


def _no_change() -> HttpResponse:
    response = HttpResponse(status=204)
    response["HX-Reswap"] = "none"
    return response


def _incident_stamp(viewer: Any, reference: str) -> tuple[int, datetime] | None:
    """(version, updated_at) of an incident ``viewer`` may see: one query, through the one
    visibility rule."""
    rows = selectors.incidents_visible_to(viewer).filter(reference=reference).order_by()
    return rows.values_list("version", "updated_at").first()


@require_GET
@login_required
def incident_poll(request: HttpRequest, reference: str) -> HttpResponse:
    """``GET /incidents/<ref>/live/?since=<token>``: 204 while nothing changed, else the changed
    panels out of band and a new ``#live-poll`` (the main swap target). 404 when not visible,
    400 for a malformed token."""
    token = LiveToken.parse(request.GET.get("since"))
    if token is None:
        return HttpResponseBadRequest("since must be the token the page was rendered with.")
    stamp = _incident_stamp(request.user, reference)
    if stamp is None:
        raise Http404("No such incident.")
    if not token.moved(*stamp):
        return _no_change()
    detail = _detail(request, reference)
    incident = detail.context_data["incident"]
    # A poll that brings new content is a read of it (one that answers 204 above is not).
    record_restricted_read(request=request, incident=incident)
    body = _poll_element(request, incident, oob=False) + _updates(request, detail, token)
    response = HttpResponse(body)
    response["Cache-Control"] = "no-store"
    return response


def with_updates(request: HttpRequest, response: HttpResponse, incident: Incident, *, changed: str) -> HttpResponse:
    """Append to an in-place write's htmx response (its own panel) the activity panel and what
    else changed since the page's token, and move the page's token on. Without a token (no
    ``X-Live-Since``) only the activity panel is added: moving the token would skip others' changes.
    ``changed`` is what the write drew itself: ``"finding"``, ``"task"``, ``"member"``, ``"evidence"``,
    ``"indicator"``, ``"vendor"``, ``"scope"`` or ``"register"``."""
    if not request.htmx or response.status_code != 200:
        return response
    try:
        detail = _detail(request, incident.reference)
    except Http404:
        return response  # the write took the viewer's access away: their next poll says so
    fresh: Incident = detail.context_data["incident"]
    raw_token = request.headers.get(SINCE_HEADER)
    token = LiveToken.parse(raw_token)
    skip = {PANEL_OF_WRITE[changed]}
    if token is None:
        extra = oob(render_panels(request, detail.context_data, ["activity"]))
    else:
        extra = _poll_element(request, fresh, oob=True) + _updates(request, detail, token, skip=skip)
    response.content = response.content + b"\n" + str(extra).encode()
    return response


# --- The list ----------------------------------------------------------------------------------
def _parse_since(raw: str | None) -> datetime | None:
    try:
        micros = int(raw or "")
    except ValueError:
        return None
    if micros < 0:
        return None
    return _EPOCH + timedelta(microseconds=micros)


def list_since_now() -> int:
    """The list page's stamp: microseconds since the epoch, taken while rendering it."""
    return _micros(datetime.now(UTC))


@require_GET
@login_required
def list_poll(request: HttpRequest) -> HttpResponse:
    """``GET /incidents/live/?<the list's filters>&since=<µs>``: 204 while no incident the list
    would show changed since ``since``, else the list's notice with how many did (capped)."""
    since = _parse_since(request.GET.get("since"))
    if since is None:
        return HttpResponseBadRequest("since must be the time the list was rendered, in microseconds.")
    incident_filter = selectors.incident_filter(viewer=request.user, filters=filters.list_page_params(request.GET))
    queryset = incident_filter.qs if incident_filter.is_valid() else incident_filter.queryset
    changed = len(queryset.filter(updated_at__gt=since).order_by().values("pk")[:LIST_CHANGES_SHOWN])
    if not changed:
        return _no_change()
    query = request.GET.copy()
    query.pop("since", None)
    return TemplateResponse(
        request,
        "incidents/_list_live.html",
        {
            "changed": changed,
            "more": changed >= LIST_CHANGES_SHOWN,
            "since": request.GET["since"],
            "filters": query.urlencode(),
        },
        headers={"Cache-Control": "no-store"},
    )
