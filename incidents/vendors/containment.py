"""The containment checklist, derived from vendors' access items, and the guard on moving an
incident to contained (``incidents.services.incident_transition`` calls ``containment_check``).

An item counts as closed once it has left ``active`` (revoked, rotated or verified unused): what
containment needs is that the vendor's access no longer works. The checklist says how many of
the items are closed and names those still active; it is green when none is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import User

from .. import events
from ..models import AccessState, ContainmentOverride, Incident, VendorAccess, VendorRole
from ..permissions import Action, require

OVERRIDE_REASON_MAX = 1_000


def _names(labels: list[str]) -> str:
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


@dataclass
class Checklist:
    """``total`` items, ``closed`` of them no longer active, ``active`` the rest (in order)."""

    total: int = 0
    closed: int = 0
    active: list[VendorAccess] = field(default_factory=list)

    @classmethod
    def of(cls, items: Iterable[VendorAccess]) -> Checklist:
        checklist = cls()
        for item in items:
            checklist.total += 1
            if item.state == AccessState.ACTIVE:
                checklist.active.append(item)
            else:
                checklist.closed += 1
        return checklist

    @property
    def green(self) -> bool:
        return not self.active

    @property
    def text(self) -> str:
        """ "3 of 5 vendor access items revoked; API token svc-nw-ci still active"."""
        if not self.total:
            return "No vendor access recorded."
        noun = "item" if self.total == 1 else "items"
        head = f"{self.closed} of {self.total} vendor access {noun} revoked"
        if not self.active:
            return head + "."
        return f"{head}; {_names([item.label for item in self.active])} still active."


def entry_point_active(incident: Incident) -> QuerySet[VendorAccess]:
    """Active access items of the incident's entry-point vendors: what the guard refuses on."""
    return (
        VendorAccess.objects.filter(
            involvement__incident=incident,
            involvement__role=VendorRole.ENTRY_POINT,
            state=AccessState.ACTIVE,
        )
        .select_related("involvement__vendor")
        .order_by("involvement__added_at", "involvement_id", "added_at", "id")
    )


class ContainmentBlocked(ValidationError):
    """Moving to contained was refused: an entry-point vendor's access is still active."""

    def __init__(self, items: list[VendorAccess]) -> None:
        self.items = items
        named = "; ".join(f"{item.involvement.vendor.name}: {item.label}" for item in items)
        super().__init__(
            {
                "to": [
                    f"Entry-point vendor access is still active ({named}). Revoke it first, "
                    "or give a reason to override (override_reason)."
                ]
            }
        )


def _item_record(item: VendorAccess) -> dict[str, Any]:
    return {
        "id": item.pk,
        "vendor": item.involvement.vendor.name,
        "kind": item.kind,
        "identifier": item.identifier,
        "label": item.label,
    }


def containment_check(*, incident: Incident, actor: User, override_reason: str = "") -> ContainmentOverride | None:
    """Called inside ``incident_transition``'s transaction (the incident's row locked) before it
    enters contained. No active entry-point access: None. Some, without a reason:
    ContainmentBlocked (a 400 on ``to`` naming them). Some, with a reason: the override is
    recorded (``ContainmentOverride`` and its internal activity entry) for those who may
    (``Action.OVERRIDE_CONTAINMENT``, else PermissionDenied). A reason when nothing is active
    overrides nothing and records nothing."""
    items = list(entry_point_active(incident))
    if not items:
        return None
    reason = " ".join((override_reason or "").split())
    if not reason:
        raise ContainmentBlocked(items)
    if len(reason) > OVERRIDE_REASON_MAX:
        raise ValidationError({"override_reason": [f"At most {OVERRIDE_REASON_MAX:,} characters."]})
    require(actor, incident, Action.OVERRIDE_CONTAINMENT)
    records = [_item_record(item) for item in items]
    override = ContainmentOverride.objects.create(incident=incident, actor=actor, reason=reason, items=records)
    events.containment_overridden_event(
        incident=incident, actor=actor, reason=reason, items=records, override_id=override.pk
    )
    return override


__all__ = ["Checklist", "ContainmentBlocked", "containment_check", "entry_point_active"]
