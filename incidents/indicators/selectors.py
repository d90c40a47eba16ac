"""Reads of indicators, and correlation across incidents.

Visibility is decided where everything else's is: incidents through ``incidents_visible_to``,
their indicators through ``shared_with``. Correlation applies both to the *other* incidents
too: a viewer learns that an indicator appears elsewhere only for incidents they may see, and a
vendor collaborator only through indicators shared with them there.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import User

from ..models import Incident, Indicator, IndicatorRole, Tlp
from ..selectors import incident_get, incidents_visible_to, shared_with

LOOKUP_MAX = 200


def indicators_for(viewer: User, incident: Incident) -> QuerySet[Indicator]:
    """The indicators of ``incident`` that ``viewer`` may see (vendor collaborators: shared
    only). The caller has established that ``viewer`` may see ``incident``."""
    return shared_with(Indicator.objects.filter(incident=incident), viewer)


def indicator_get(*, viewer: User, reference: str, indicator_id: int) -> Indicator | None:
    incident = incident_get(viewer=viewer, reference=reference)
    if incident is None:
        return None
    indicator = indicators_for(viewer, incident).filter(pk=indicator_id).first()
    if indicator is not None:
        indicator.incident = incident
    return indicator


def _seen_elsewhere(viewer: User) -> QuerySet[Indicator]:
    """Indicators on incidents ``viewer`` may see, as far as they may see them."""
    return shared_with(Indicator.objects.filter(incident__in=incidents_visible_to(viewer)), viewer)


@dataclass(frozen=True)
class Sighting:
    """Another incident where the same (type, value) was recorded."""

    reference: str
    title: str
    status: str
    role: str


def correlations(viewer: User, incident: Incident) -> dict[tuple[str, str], list[Sighting]]:
    """For each indicator of ``incident`` that ``viewer`` sees, the other incidents ``viewer``
    may see holding the same normalized value: ``{(type, value): [Sighting, …]}``, newest
    incident first. One query whatever the number of indicators, through the (type, value)
    index: ``EXISTS`` over this incident's (visible) indicators."""
    mine = indicators_for(viewer, incident).filter(type=OuterRef("type"), value=OuterRef("value"))
    rows = (
        _seen_elsewhere(viewer)
        .exclude(incident=incident)
        .filter(Exists(mine))
        .order_by("-incident__created_at", "-incident_id")
        .values_list("type", "value", "incident__reference", "incident__title", "incident__status", "role")
    )
    found: dict[tuple[str, str], list[Sighting]] = defaultdict(list)
    for kind, value, reference, title, status, role in rows:
        found[(kind, value)].append(Sighting(reference, title, status, role))
    return dict(found)


def indicators_shown(viewer: User, incident: Incident) -> list[Indicator]:
    """The indicators panel: each indicator with who added it and ``sightings`` (the other
    visible incidents with the same value), in two queries whatever the number (one when there
    are none)."""
    indicators = list(indicators_for(viewer, incident).select_related("added_by"))
    links = correlations(viewer, incident) if indicators else {}
    for indicator in indicators:
        indicator.sightings = links.get((indicator.type, indicator.value), [])
    return indicators


def indicators_for_export(viewer: User, incident: Incident, *, include_red: bool) -> list[Indicator]:
    """The attacker-side indicators an export carries: what ``viewer`` sees of them, TLP:RED only
    when asked for explicitly."""
    queryset = indicators_for(viewer, incident).filter(role=IndicatorRole.ATTACKER)
    if not include_red:
        queryset = queryset.exclude(tlp=Tlp.RED)
    return list(queryset.order_by("added_at", "id"))


def indicator_lookup(*, viewer: User, pairs: list[tuple[str, str]]) -> list[Indicator]:
    """Where the normalized ``(type, value)`` pairs appear, on incidents ``viewer`` may see (and
    as far as they may see their indicators), newest incident first, at most ``LOOKUP_MAX``;
    each with its incident loaded."""
    if not pairs:
        return []
    queryset = _seen_elsewhere(viewer).select_related("incident")
    condition = Q()
    for kind, value in pairs:
        condition |= Q(type=kind, value=value)
    return list(queryset.filter(condition).order_by("-incident__created_at", "-id")[:LOOKUP_MAX])
