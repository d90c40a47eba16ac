"""The vendors panel of the incident page: what it shows, for the detail view (which renders it
inside the page) and the involvement views (which render it alone after an htmx write)."""

from __future__ import annotations

from functools import cached_property, partial
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from ..models import AccessKind, AccessState, ContainmentOverride, Incident, VendorInvolvement, VendorRole
from ..permissions import Action, may, may_see_vendor_registry
from ..selectors import sees_internal
from . import selectors, services
from .containment import Checklist
from .forms import InvolvementForm


class InvolvementList:
    """The panel's list, queried when the template first reads it (one query: the involvements
    with their vendors), never by a live poll that redraws other panels."""

    def __init__(self, viewer: Any, incident: Incident) -> None:
        self.viewer, self.incident = viewer, incident

    @cached_property
    def items(self) -> list[VendorInvolvement]:
        """Each involvement with ``access`` (its items, each with ``next_choices``: the steps
        ``access_step`` accepts) and ``checklist`` (``containment.Checklist``)."""
        involvements = selectors.involvements_shown(self.viewer, self.incident)
        now = timezone.now()
        for involvement in involvements:
            involvement.access = list(involvement.access_items.all())
            for item in involvement.access:
                allowed = services.next_states(item)
                item.next_choices = [(state, AccessState(state).label) for state in allowed]
                item.may_verify = AccessState.VERIFIED_UNUSED in allowed
            involvement.checklist = Checklist.of(involvement.access)
            involvement.question_rows = list(involvement.questions.all())
            for question in involvement.question_rows:
                question.state = question.status_at(now)
            involvement.open_questions = sum(1 for q in involvement.question_rows if not q.answered)
        return involvements

    @cached_property
    def checklist(self) -> Checklist:
        """Over every vendor on the incident: "3 of 5 vendor access items revoked; …"."""
        return Checklist.of(item for involvement in self.items for item in involvement.access)

    @cached_property
    def overrides(self) -> list[ContainmentOverride]:
        """Staff only: an override names every vendor's items. No query without access items:
        an override needs some, and they are never deleted (nor their involvement removed)."""
        if not sees_internal(self.viewer) or not any(involvement.access for involvement in self.items):
            return []
        return selectors.containment_overrides(self.incident)


def panel_context(
    request: HttpRequest, incident: Incident, *, vendor_form: InvolvementForm | None = None, vendor_notice: str = ""
) -> dict[str, Any]:
    viewer = request.user
    manages = may(viewer, Action.MANAGE_VENDORS, incident)
    if vendor_form is None and manages:
        vendor_form = InvolvementForm(choices=selectors.vendor_choices(incident=incident))
    chosen = vendor_form["vendor"].value() if vendor_form is not None and vendor_form.is_bound else None
    return {
        # Lazy: the first few vendors to pick from (one query where the form is drawn); the form
        # searches the rest (``views.involvement_choices``).
        "vendor_choice_page": partial(selectors.vendor_choice_page, incident=incident, chosen=chosen),
        "vendors": InvolvementList(viewer, incident),
        "may_answer_questions": may(viewer, Action.ANSWER_VENDOR_QUESTIONS, incident),
        "vendor_form": vendor_form if manages else None,
        "vendor_notice": vendor_notice,
        "vendor_roles": VendorRole.choices,
        "access_kinds": AccessKind.choices,
        # Vendor collaborators never see the registry: their company's name is not a link.
        "vendor_links": may_see_vendor_registry(viewer),
    }
