"""Reads of evidence. Visibility is decided where everything else's is: the incident through
``incidents_visible_to`` (via ``incident_get``), its evidence through ``shared_with``. An item
someone may not see is the same ``None`` (→ 404) as one that does not exist."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import User

from ..models import CustodyEvent, Evidence, Incident, LegalHold
from ..selectors import incident_get, shared_with


def evidence_for(viewer: User, incident: Incident) -> QuerySet[Evidence]:
    """The evidence of ``incident`` that ``viewer`` may see (vendor collaborators: shared only).
    The caller has established that ``viewer`` may see ``incident``."""
    return shared_with(Evidence.objects.filter(incident=incident), viewer)


def custody_trail(evidence: Evidence) -> QuerySet[CustodyEvent]:
    """The chain of custody in order, with the people who acted."""
    return CustodyEvent.objects.filter(evidence=evidence).select_related("actor").order_by("sequence", "id")


def evidence_shown(viewer: User, incident: Incident) -> QuerySet[Evidence]:
    """The evidence panel: each item with its collector and its custody trail (with the people
    who acted), in two queries whatever the number of items and events."""
    trail = CustodyEvent.objects.select_related("actor").order_by("sequence", "id")
    return (
        evidence_for(viewer, incident)
        .select_related("collected_by", "vendor")
        .prefetch_related(Prefetch("custody_events", queryset=trail))
    )


def evidence_get(*, viewer: User, reference: str, evidence_id: int) -> Evidence | None:
    """One evidence item by incident reference and id, if ``viewer`` may see both (its
    ``incident`` attribute is the visible incident, lead and opener loaded)."""
    incident = incident_get(viewer=viewer, reference=reference)
    if incident is None:
        return None
    evidence = evidence_for(viewer, incident).select_related("collected_by", "vendor").filter(pk=evidence_id).first()
    if evidence is not None:
        evidence.incident = incident
    return evidence


def legal_hold_active(incident: Incident) -> LegalHold | None:
    """The incident's active legal hold, with who placed it."""
    return LegalHold.objects.filter(incident=incident, released_at__isnull=True).select_related("set_by").first()
