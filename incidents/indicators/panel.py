"""The indicators panel of the incident page: what it shows, for the detail view (which renders
it inside the page) and the indicator views (which render it alone after an htmx write)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from ..models import Incident, Indicator, Tlp
from . import selectors
from .extract import Candidate
from .forms import ConfirmForm, ExtractForm, IndicatorForm


class IndicatorList:
    """The panel's list, queried when the template first reads it (two queries: the indicators
    with who added them, and the correlations; one when there are none), never by a live poll
    that redraws other panels."""

    def __init__(self, viewer: Any, incident: Incident) -> None:
        self.viewer, self.incident = viewer, incident

    @cached_property
    def items(self) -> list[Indicator]:
        return selectors.indicators_shown(self.viewer, self.incident)

    @cached_property
    def shared_count(self) -> int:
        return sum(1 for indicator in self.items if indicator.sightings)

    @cached_property
    def red_count(self) -> int:
        return sum(1 for indicator in self.items if indicator.tlp == Tlp.RED)


def panel_context(
    request: HttpRequest,
    incident: Incident,
    *,
    indicator_form: IndicatorForm | None = None,
    extract_form: ExtractForm | None = None,
    candidates: list[Candidate] | None = None,
    confirm_form: ConfirmForm | None = None,
    indicator_notice: str = "",
) -> dict[str, Any]:
    viewer = request.user
    return {
        "indicators": IndicatorList(viewer, incident),
        "indicator_form": indicator_form or IndicatorForm(incident=incident, viewer=viewer),
        "extract_form": extract_form or ExtractForm(auto_id="indicator-extract-%s"),
        "candidates": candidates,
        "confirm_form": confirm_form or ConfirmForm(incident=incident, viewer=viewer),
        "indicator_notice": indicator_notice,
        "tlp_choices": Tlp.choices,
    }
