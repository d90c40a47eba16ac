"""The vendors panel of the incident page: what it shows, for the detail view (which renders it
inside the page) and the involvement views (which render it alone after an htmx write)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from ..models import Incident, VendorInvolvement, VendorRole
from ..permissions import Action, may, may_see_vendor_registry
from . import selectors
from .forms import InvolvementForm


class InvolvementList:
    """The panel's list, queried when the template first reads it (one query: the involvements
    with their vendors), never by a live poll that redraws other panels."""

    def __init__(self, viewer: Any, incident: Incident) -> None:
        self.viewer, self.incident = viewer, incident

    @cached_property
    def items(self) -> list[VendorInvolvement]:
        return selectors.involvements_shown(self.viewer, self.incident)


def panel_context(
    request: HttpRequest, incident: Incident, *, vendor_form: InvolvementForm | None = None, vendor_notice: str = ""
) -> dict[str, Any]:
    viewer = request.user
    manages = may(viewer, Action.MANAGE_VENDORS, incident)
    if vendor_form is None and manages:
        # Its choices are one query, run only where the form is drawn.
        vendor_form = InvolvementForm(choices=selectors.vendor_choices(incident=incident))
    return {
        "vendors": InvolvementList(viewer, incident),
        "vendor_form": vendor_form if manages else None,
        "vendor_notice": vendor_notice,
        "vendor_roles": VendorRole.choices,
        # Vendor collaborators never see the registry: their company's name is not a link.
        "vendor_links": may_see_vendor_registry(viewer),
    }
