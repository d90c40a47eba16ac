"""The evidence panel of the incident page: what it shows, for the detail view (which renders it
inside the page) and the evidence views (which render it alone after an htmx write)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from ..models import PRIVILEGE_MARKING, Incident
from . import selectors
from .forms import EvidenceTextForm, EvidenceUploadForm, LegalHoldForm


def panel_context(
    request: HttpRequest,
    incident: Incident,
    *,
    upload_form: EvidenceUploadForm | None = None,
    text_form: EvidenceTextForm | None = None,
    hold_form: LegalHoldForm | None = None,
    transfer_error: tuple[int, list[str]] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    """Three queries when the panel is drawn (the items with their collectors, their custody
    trails with the people who acted, the active legal hold), none until then: the live poll
    draws other panels from the same context and must not pay for this one."""
    viewer = request.user
    return {
        "evidence": selectors.evidence_shown(viewer, incident),
        # Called by the template ({% with hold=legal_hold %}), so only when the panel is drawn.
        "legal_hold": partial(selectors.legal_hold_active, incident),
        "upload_form": upload_form or EvidenceUploadForm(incident=incident, viewer=viewer),
        "text_form": text_form or EvidenceTextForm(incident=incident, viewer=viewer),
        "hold_form": hold_form or LegalHoldForm(),
        # A refused transfer: the item's id and the errors shown beside its form.
        "transfer_error_id": transfer_error[0] if transfer_error else None,
        "transfer_errors": transfer_error[1] if transfer_error else [],
        "evidence_notice": notice,
        "evidence_max_bytes": settings.EVIDENCE_MAX_BYTES,
        "privilege_marking": PRIVILEGE_MARKING,
    }
