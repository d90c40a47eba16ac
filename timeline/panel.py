"""The timeline panel of the incident page: the derived milestones and the key events, with a
way to the whole timeline (its own page: thousands of events never load with the incident)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from accounts.models import User
from incidents.models import Incident

from . import selectors
from .models import TimelineEvent

# The incident page lists this many key events, latest last; the key-events view lists them all.
KEY_EVENTS_SHOWN = 8


class TimelinePanel:
    """Queried when the template first reads it (three queries: the milestones, the key events,
    the count), never by a live poll that redraws other panels."""

    def __init__(self, viewer: User, incident: Incident) -> None:
        self.viewer, self.incident = viewer, incident

    @cached_property
    def milestones(self) -> selectors.Milestones:
        return selectors.milestones(self.incident, viewer=self.viewer)

    @cached_property
    def key_events(self) -> list[TimelineEvent]:
        """The last ``KEY_EVENTS_SHOWN`` key events, in timeline order."""
        latest = selectors.events_for(self.viewer, self.incident).filter(key_event=True)
        latest = latest.order_by("-occurred_at", "-id").only(
            "pk", "occurred_at", "precision", "kind", "title", "technique", "internal"
        )[:KEY_EVENTS_SHOWN]
        return list(reversed(latest))

    @cached_property
    def count(self) -> int:
        return selectors.events_for(self.viewer, self.incident).count()


def panel_context(request: HttpRequest, incident: Incident) -> dict[str, Any]:
    return {"timeline": TimelinePanel(request.user, incident)}
