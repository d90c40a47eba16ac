"""Template tags for live updates (see incidents/live.py)."""

from __future__ import annotations

from django import template

from incidents.live import LiveToken, list_since_now
from incidents.models import Incident

register = template.Library()


@register.simple_tag
def live_token(incident: Incident) -> str:
    """The token of what the page shows, for ``#live-poll`` (``LiveToken``)."""
    return str(LiveToken.of(incident))


@register.simple_tag(takes_context=True)
def list_poll_query(context: template.Context) -> str:
    """The list's query string for its poll: the same filters, ``since`` now (taken before the
    table's rows are read, so a change is never missed, at worst announced once too often)."""
    params = context["request"].GET.copy()
    params.pop("page", None)
    params["since"] = str(list_since_now())
    return params.urlencode()
