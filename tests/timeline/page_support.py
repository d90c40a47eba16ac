"""Helpers shared by tests/timeline/test_page*.py (not a test module itself): reading the
timeline page's HTML back as lines a person would read, and adding events as the app does."""

from __future__ import annotations

import html
import re

from django.urls import reverse

from accounts.models import User
from incidents.models import Incident
from timeline import services
from timeline.models import TimelineEvent

HTMX = {"HTTP_HX_REQUEST": "true"}

# The parts of the page the lines are made of, in document order.
_PARTS = re.compile(
    r'<h2 class="day-header"[^>]*>(?P<day>.*?)</h2>'
    r'|<time class="event-time"[^>]*>(?P<time>.*?)</time>'
    r'|<span class="source-clock">(?P<source>.*?)</span>'
    r'|<h3 class="event-title">(?P<title>.*?)</h3>',
    re.S,
)
_TAGS = re.compile(r"<[^>]+>")


def text(fragment: str) -> str:
    return " ".join(html.unescape(_TAGS.sub("", fragment)).split())


def timeline_lines(page: str) -> list[str]:
    """``## Sunday 1 March 2026`` per date header, then ``22:00 (hour) [22:00 +00:00 at
    source] Recon`` per event (the source's clock only when shown)."""
    lines: list[str] = []
    event: list[str] = []
    for match in _PARTS.finditer(page):
        if match["day"] is not None:
            lines.append(f"## {text(match['day'])}")
        elif match["time"] is not None:
            event = [text(match["time"])]
        elif match["source"] is not None:
            event.append(f"[{text(match['source'])}]")
        else:
            event.append(text(match["title"]))
            lines.append(" ".join(event))
    return lines


def titles(page: str) -> list[str]:
    return [text(title) for title in re.findall(r'<h3 class="event-title">(.*?)</h3>', page, re.S)]


def page_url(incident: Incident, query: str = "") -> str:
    url = reverse("timeline:page", args=[incident.reference])
    return f"{url}?{query}" if query else url


def add(incident: Incident, actor: User, title: str, occurred_at: object, **fields: object) -> TimelineEvent:
    fields.setdefault("kind", "attacker")
    fields.setdefault("precision", "exact")
    return services.event_add(incident=incident, actor=actor, title=title, occurred_at=occurred_at, **fields)


def add_many(incident: Incident, actor: User, count: int, *, start_hour: int = 0, **fields: object) -> None:
    """``count`` events a minute apart from 2026-02-01 ``start_hour``:00 UTC, titled ``Event 000``…"""
    items = []
    for n in range(count):
        minutes = start_hour * 60 + n
        day, rest = divmod(minutes, 24 * 60)
        items.append(
            {
                "occurred_at": f"2026-02-{1 + day:02d}T{rest // 60:02d}:{rest % 60:02d}:00Z",
                "precision": "minute",
                "kind": "attacker",
                "title": f"Event {n:03d}",
                **fields,
            }
        )
    results = services.events_add_many(incident=incident, actor=actor, items=items)
    assert [result.status for result in results] == ["created"] * count
