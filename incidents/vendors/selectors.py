"""Reads of the vendor registry and of vendors' involvement, and who may see which.

- The registry is seen by everyone signed in but vendor collaborators
  (``permissions.may_see_vendor_registry``); for them every registry read is empty, and the views
  answer 404.
- What the registry says about incidents (a vendor's incidents, "involved in open incidents",
  the open-incident counts) goes through ``incidents_visible_to``: a restricted incident the
  viewer is not on is neither listed nor counted.
- On an incident, a vendor collaborator sees only their own company's involvement
  (``User.vendor``); none without one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import User

from ..models import (
    OPEN_STATUSES,
    AccessState,
    ContainmentOverride,
    Incident,
    Vendor,
    VendorAccess,
    VendorInvolvement,
    VendorKnownAccess,
    VendorQuestion,
)
from ..permissions import may_see_vendor_registry
from ..selectors import incident_get, incidents_visible_to, sees_internal
from .filters import VendorFilter


def registry_for(viewer: User) -> QuerySet[Vendor]:
    """The registry as ``viewer`` may read it: all of it, or nothing for vendor collaborators."""
    if not viewer.is_authenticated or not may_see_vendor_registry(viewer):
        return Vendor.objects.none()
    return Vendor.objects.all()


def involvements_visible_to(viewer: User) -> QuerySet[VendorInvolvement]:
    """Involvements on incidents ``viewer`` may see (the registry's side: staff only)."""
    return VendorInvolvement.objects.filter(incident__in=incidents_visible_to(viewer))


def open_involvements(viewer: User) -> QuerySet[VendorInvolvement]:
    return involvements_visible_to(viewer).filter(incident__status__in=OPEN_STATUSES)


def with_open_incidents(queryset: QuerySet[Vendor], viewer: User) -> QuerySet[Vendor]:
    """Each vendor with ``open_incidents``: how many open incidents ``viewer`` may see it is
    involved in (a subquery in the same query, so a page costs one query whatever its length)."""
    counts = (
        open_involvements(viewer)
        .filter(vendor=OuterRef("pk"))
        .order_by()
        .values("vendor")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(open_incidents=Coalesce(Subquery(counts, output_field=IntegerField()), 0))


def vendor_filter(*, viewer: User, filters: dict[str, Any] | None = None) -> VendorFilter:
    """The registry's search and filters over what ``viewer`` may read, each row with its count
    of open incidents. Check ``is_valid()`` before ``.qs``."""
    queryset = with_open_incidents(registry_for(viewer), viewer)
    return VendorFilter(filters or {}, queryset=queryset, viewer=viewer)


def vendor_get(*, viewer: User, vendor_id: int) -> Vendor | None:
    return registry_for(viewer).filter(pk=vendor_id).first()


def vendor_incidents(*, viewer: User, vendor: Vendor) -> QuerySet[VendorInvolvement]:
    """The vendor's page: its involvements on incidents ``viewer`` may see, each with its
    incident, newest incident first. One query whatever the number."""
    return (
        involvements_visible_to(viewer)
        .filter(vendor=vendor)
        .select_related("incident")
        .order_by("-incident__created_at", "-incident_id")
    )


def involvements_for(viewer: User, incident: Incident) -> QuerySet[VendorInvolvement]:
    """The vendors on ``incident`` that ``viewer`` may know about (the caller has established
    that ``viewer`` sees the incident): all of them for staff; for a vendor collaborator, their
    own company's involvement only, and none when their account names no company."""
    queryset = VendorInvolvement.objects.filter(incident=incident)
    if sees_internal(viewer):
        return queryset
    vendor_id = getattr(viewer, "vendor_id", None)
    return queryset.filter(vendor_id=vendor_id) if vendor_id else queryset.none()


def involvements_shown(viewer: User, incident: Incident) -> list[VendorInvolvement]:
    """The incident page's vendors panel: three queries (none but the first without vendors),
    each involvement with its vendor, its access items (``access_items.all()``, oldest first) and
    its questions (``questions.all()``, soonest due first)."""
    items = Prefetch("access_items", queryset=VendorAccess.objects.order_by("added_at", "id"))
    questions = Prefetch("questions", queryset=VendorQuestion.objects.order_by("due_at", "id"))
    return list(
        involvements_for(viewer, incident)
        .select_related("vendor")
        .prefetch_related(items, questions)
        .order_by("added_at", "id")
    )


def question_get(*, involvement: VendorInvolvement, question_id: int) -> VendorQuestion | None:
    question = VendorQuestion.objects.filter(involvement=involvement, pk=question_id).first()
    if question is not None:
        question.involvement = involvement
    return question


def containment_overrides(incident: Incident) -> list[ContainmentOverride]:
    """The incident's containment overrides, newest first, with who made them (one query)."""
    return list(ContainmentOverride.objects.filter(incident=incident).select_related("actor"))


def access_get(*, viewer: User, involvement: VendorInvolvement, access_id: int) -> VendorAccess | None:
    access = VendorAccess.objects.filter(involvement=involvement, pk=access_id).first()
    if access is not None:
        access.involvement = involvement
    return access


def open_access(viewer: User) -> QuerySet[VendorAccess]:
    """``/vendors/access/``: every active access item on open incidents ``viewer`` may see
    (nothing for vendor collaborators), each with its vendor and incident, one query."""
    if not viewer.is_authenticated or not may_see_vendor_registry(viewer):
        return VendorAccess.objects.none()
    return (
        VendorAccess.objects.filter(state=AccessState.ACTIVE, involvement__in=open_involvements(viewer).values("pk"))
        .select_related("involvement__vendor", "involvement__incident")
        .order_by("involvement__vendor__name", "involvement__incident__reference", "added_at", "id")
    )


def vendor_active_access(*, viewer: User, vendor: Vendor) -> QuerySet[VendorAccess]:
    """The vendor's page ("is all their access closed?"): its active items on any incident
    ``viewer`` may see, open or closed (a closed case with active access is still open access)."""
    return (
        VendorAccess.objects.filter(
            state=AccessState.ACTIVE, involvement__in=involvements_visible_to(viewer).filter(vendor=vendor).values("pk")
        )
        .select_related("involvement__incident")
        .order_by("involvement__incident__reference", "added_at", "id")
    )


def known_access(vendor: Vendor) -> QuerySet[VendorKnownAccess]:
    return VendorKnownAccess.objects.filter(vendor=vendor).order_by("id")


def involvement_get(*, viewer: User, reference: str, involvement_id: int) -> VendorInvolvement | None:
    """One involvement on a visible incident, as ``involvements_for`` allows; else None (404)."""
    incident = incident_get(viewer=viewer, reference=reference)
    if incident is None:
        return None
    involvement = involvements_for(viewer, incident).select_related("vendor").filter(pk=involvement_id).first()
    if involvement is not None:
        involvement.incident = incident
    return involvement


def vendor_choices(*, incident: Incident) -> QuerySet[Vendor]:
    """The add form's choices: the registry minus vendors already on ``incident``."""
    on_it = VendorInvolvement.objects.filter(incident=incident, vendor=OuterRef("pk"))
    return Vendor.objects.filter(~Exists(on_it))


CHOICES_SHOWN = 10


class ChoicePage(NamedTuple):
    vendors: list[Vendor]
    more: bool  # more vendors match than are shown: type more of the name


def vendor_choice_page(*, incident: Incident, text: str = "", chosen: Any = None) -> ChoicePage:
    """The add form's radio list: the first ``CHOICES_SHOWN`` choices whose name contains
    ``text`` (all of them without), by name, and whether more match. The registry can hold
    thousands of vendors: the incident page shows a few and the form searches the rest
    (``involvement_choices``), one query. ``chosen`` (a vendor id a refused form posted) comes
    first, so a form shown again keeps the pick: one more query when it is not among them."""
    choices = vendor_choices(incident=incident).only("id", "name")
    matching = choices.filter(name__icontains=text) if text else choices
    page = list(matching[: CHOICES_SHOWN + 1])
    more = len(page) > CHOICES_SHOWN
    page = page[:CHOICES_SHOWN]
    if str(chosen).isdigit() and all(str(v.pk) != str(chosen) for v in page):
        picked = choices.filter(pk=int(chosen)).first()
        if picked is not None:
            page = [picked, *page[: CHOICES_SHOWN - 1]]
    return ChoicePage(page, more)
