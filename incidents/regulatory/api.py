"""REST API of the notification register; its routes join ``/api/v1/`` through ``api_urlpatterns``
(config/urls.py). Everything is under ``/api/v1/incidents/{reference}/``:

- ``GET register/``: every regime with the incident's decision (null: not assessed), its stages,
  clocks and notices. ``PUT register/{regime}/`` (``decision``, ``reason``): ``assessment_decide``.
- ``GET clocks/``; ``PUT clocks/{regime}/{stage}/`` (``start_event``, ``started_at`` with its UTC
  offset, ``reason``, ``reminder_leads``): ``clock_set``.
- ``GET notices/``; ``POST notices/`` (``regime``, ``stage``): ``notice_draft`` (201);
  ``GET notices/{id}/`` (text and versions); ``PATCH notices/{id}/`` (``body``, ``version``):
  ``notice_revise`` (409 on a stale version); ``POST notices/{id}/approve/`` (``version``);
  ``POST notices/{id}/send/`` (``sent_at``, ``channel``, ``recipient``, ``authority_reference``);
  ``GET notices/{id}/export.md|html|pdf``.

Reads need ``incidents:read``, writes ``incidents:write``. An incident the caller may not see, and
the whole register for vendor collaborators (``selectors.may_read_regulatory``), is a 404. Writes
are refused with 403 by the rule table (``incidents.permissions``) before their body is read, so
the refusal does not depend on what was sent. Lists are not paginated: one incident has a handful
of regimes, clocks and notices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpResponse
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import may_read_back
from incidents.api import IncidentChildMixin
from incidents.converters import REFERENCE_REGEX
from incidents.models import DeadlineClock, Incident, Notice, NoticeVersion, Regime
from incidents.permissions import Action

from . import exports, selectors, services
from .serializers import (
    ClockSerializer,
    ClockWriteSerializer,
    DecisionWriteSerializer,
    NoticeApproveSerializer,
    NoticeCreateSerializer,
    NoticeReviseSerializer,
    NoticeSendSerializer,
    NoticeSerializer,
    NoticeSummarySerializer,
    RegisterRowSerializer,
)

_NOT_FOUND = OpenApiResponse(description="No such incident or regime, one the caller may not see, or a vendor caller.")
_REFUSED = OpenApiResponse(description="The rule table refuses the caller (incidents.permissions).")
_CONFLICT = OpenApiResponse(description="The notice changed since the version sent; nothing was written.")


class RegulatoryChildMixin(IncidentChildMixin):
    """The incident must be visible and its register readable by the caller, else 404."""

    pagination_class = None

    def get_incident(self) -> Incident:
        if not selectors.may_read_regulatory(self.request.user):
            raise Http404  # vendor collaborators: the register does not exist for them
        return super().get_incident()

    def get_regime(self) -> Regime:
        if not hasattr(self, "_regime"):
            regime = Regime.objects.filter(slug=self.kwargs["regime"]).first()
            if regime is None:
                raise Http404
            self._regime = regime
        return self._regime

    def find_for_rule(self) -> Incident | None:
        incident = self.get_incident()
        if "regime" in self.kwargs:
            self.get_regime()  # an unknown regime: 404 before 403 (a clock not started yet is no 404)
        elif "pk" in self.kwargs:
            self.checked_object()
        return incident

    def _readable(self, data: dict, minimal: dict) -> dict:
        """``data``, or only ``minimal`` (which row was written) for a key without the read scope."""
        return data if may_read_back(self.request, self) else minimal


# --- The register -----------------------------------------------------------------------------
class RegisterViewSet(RegulatoryChildMixin, viewsets.GenericViewSet):
    serializer_class = RegisterRowSerializer
    required_actions = {"update": Action.DECIDE_REGULATORY}

    def get_queryset(self) -> QuerySet[Regime]:
        # Only for the schema (the regime path parameter); rows come from selectors.register_for.
        return Regime.objects.none()

    def get_object(self) -> Regime:
        # For OPTIONS on the PUT route (DRF's metadata reads the object): the regime, 404 if none.
        self.get_incident()
        return self.get_regime()

    def _row(self, incident: Incident, regime: Regime) -> selectors.RegisterRow:
        return next(row for row in selectors.register_for(incident) if row.regime.pk == regime.pk)

    @extend_schema(responses={200: RegisterRowSerializer(many=True), 404: _NOT_FOUND})
    def list(self, request: Request, reference: str) -> Response:
        """Every active regime (and any retired one already decided), in the register's order."""
        rows = selectors.register_for(self.get_incident())
        return Response(RegisterRowSerializer(rows, many=True).data)

    @extend_schema(
        request=DecisionWriteSerializer,
        responses={200: RegisterRowSerializer, 403: _REFUSED, 404: _NOT_FOUND},
    )
    def update(self, request: Request, reference: str, regime: str) -> Response:
        """Decide whether the regime applies; ``does_not_apply`` needs a reason. Deciding it no
        longer applies stops its running clocks."""
        incident = self.get_incident()
        found = self.get_regime()
        serializer = DecisionWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.assessment_decide(incident=incident, regime=found, actor=request.user, **serializer.validated_data)
        minimal = {"regime": found.slug}
        return Response(self._readable(RegisterRowSerializer(self._row(incident, found)).data, minimal))


# --- Clocks -----------------------------------------------------------------------------------
class ClockViewSet(RegulatoryChildMixin, viewsets.GenericViewSet):
    serializer_class = ClockSerializer
    required_actions = {"update": Action.DECIDE_REGULATORY}

    def get_queryset(self) -> QuerySet[DeadlineClock]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return DeadlineClock.objects.none()
        clocks = DeadlineClock.objects.filter(incident=self.get_incident())
        return clocks.select_related("regime", "started_by").order_by("due_at", "id")

    def get_object(self) -> DeadlineClock:
        # For OPTIONS on the PUT route (DRF's metadata reads the object); a clock not set yet is a 404.
        clock = self.get_queryset().filter(regime__slug=self.kwargs["regime"], stage=self.kwargs["stage"]).first()
        if clock is None:
            raise Http404
        return clock

    @extend_schema(responses={200: ClockSerializer(many=True), 404: _NOT_FOUND})
    def list(self, request: Request, reference: str) -> Response:
        """The incident's clocks, running and stopped, soonest due first."""
        return Response(ClockSerializer(self.get_queryset(), many=True).data)

    @extend_schema(
        request=ClockWriteSerializer,
        responses={200: ClockSerializer, 403: _REFUSED, 404: _NOT_FOUND},
    )
    def update(self, request: Request, reference: str, regime: str, stage: str) -> Response:
        """Start (or correct the start of) a clock of a regime decided to apply: the due time,
        and the sentence explaining it, are computed from the regime's rule."""
        incident = self.get_incident()
        found = self.get_regime()
        serializer = ClockWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            clock = services.clock_set(
                incident=incident,
                regime=found,
                stage=stage,
                start_event=data["start_event"],
                started_at=data["started_at"],
                reason=data["reason"],
                actor=request.user,
                reminder_leads=data.get("reminder_leads"),
            )
        except DjangoValidationError as exc:
            # The service names the reason start_reason (the model's field); this body calls it reason.
            errors = exc.message_dict
            if "start_reason" in errors:
                errors["reason"] = errors.pop("start_reason")
            raise DjangoValidationError(errors) from None
        minimal = {"regime": found.slug, "stage": stage}
        return Response(self._readable(ClockSerializer(self.get_queryset().get(pk=clock.pk)).data, minimal))


# --- Notices ----------------------------------------------------------------------------------
# The export functions by format (incidents/regulatory/exports.py).
EXPORTS: dict[str, Callable[[Notice], str | bytes]] = {
    "md": exports.notice_markdown,
    "html": exports.notice_html,
    "pdf": exports.notice_pdf,
}
EXPORT_FORMATS = list(EXPORTS)


class NoticeViewSet(RegulatoryChildMixin, viewsets.GenericViewSet):
    serializer_class = NoticeSerializer
    required_actions = {
        "create": Action.DRAFT_NOTICE,
        "partial_update": Action.DRAFT_NOTICE,
        "approve": Action.APPROVE_NOTICE,
        "send": Action.RECORD_NOTICE_SENT,
    }

    def get_queryset(self) -> QuerySet[Notice]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return Notice.objects.none()
        notices = Notice.objects.filter(incident=self.get_incident())
        return notices.select_related("regime", "created_by", "approved_by", "sent_by").order_by("created_at", "id")

    def get_object(self) -> Notice:
        queryset = self.get_queryset()
        if self.action != "list":
            queryset = queryset.prefetch_related(
                Prefetch("versions", queryset=NoticeVersion.objects.select_related("author").order_by("number"))
            )
        notice = queryset.filter(pk=self.kwargs["pk"]).first()
        if notice is None:
            raise Http404
        notice.incident = self.get_incident()
        return notice

    def _body(self, notice: Notice) -> dict:
        self.kwargs["pk"] = notice.pk
        fresh = self.get_object()
        return self._readable(NoticeSerializer(fresh).data, {"id": fresh.pk})

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # An export answers its own content type; its errors are JSON whatever Accept says.
        if getattr(self, "action", None) == "export":
            return (JSONRenderer(), JSONRenderer.media_type)
        return super().perform_content_negotiation(request, force)

    @extend_schema(responses={200: NoticeSummarySerializer(many=True), 404: _NOT_FOUND})
    def list(self, request: Request, reference: str) -> Response:
        """The incident's notices, oldest first, without their text."""
        return Response(NoticeSummarySerializer(self.get_queryset(), many=True).data)

    @extend_schema(
        request=NoticeCreateSerializer,
        responses={201: NoticeSerializer, 403: _REFUSED, 404: _NOT_FOUND},
    )
    def create(self, request: Request, reference: str) -> Response:
        """Draft a notice from the regime's template, filled from the incident (version 1)."""
        incident = self.get_incident()
        serializer = NoticeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        notice = services.notice_draft(incident=incident, actor=request.user, **serializer.validated_data)
        return Response(self._body(notice), status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: NoticeSerializer, 404: _NOT_FOUND})
    def retrieve(self, request: Request, reference: str, pk: str) -> Response:
        """One notice with its current text and the list of its versions."""
        return Response(NoticeSerializer(self.get_object()).data)

    @extend_schema(
        request=NoticeReviseSerializer,
        responses={200: NoticeSerializer, 403: _REFUSED, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    def partial_update(self, request: Request, reference: str, pk: str) -> Response:
        """Save a new version of the text; an approved notice goes back to draft."""
        return self._notice_write(request, NoticeReviseSerializer, services.notice_revise)

    @extend_schema(
        request=NoticeApproveSerializer,
        responses={200: NoticeSerializer, 403: _REFUSED, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    def approve(self, request: Request, reference: str, pk: str) -> Response:
        """Approve the version read (the incident's lead, an admin or counsel)."""
        return self._notice_write(request, NoticeApproveSerializer, services.notice_approve)

    @extend_schema(
        request=NoticeSendSerializer,
        responses={200: NoticeSerializer, 403: _REFUSED, 404: _NOT_FOUND},
    )
    def send(self, request: Request, reference: str, pk: str) -> Response:
        """Record that the approved notice was sent: stops its clock (NIS2's notification starts
        the final report's)."""
        return self._notice_write(request, NoticeSendSerializer, services.notice_send)

    def _notice_write(self, request: Request, serializer_class: type[serializers.Serializer], service: Any) -> Response:
        """The body (the rule table refused in ``initial`` already: ``required_actions``), then
        the service with the notice and the validated fields."""
        notice = self.checked_object()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        notice = service(notice=notice, actor=request.user, **serializer.validated_data)
        return Response(self._body(notice))

    @extend_schema(
        operation_id="incidents_notices_export",
        parameters=[OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=EXPORT_FORMATS)],
        responses={
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="export.md"),
            (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="export.html"),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="export.pdf"),
            404: _NOT_FOUND,
        },
    )
    def export(self, request: Request, reference: str, pk: str, fmt: str) -> HttpResponse:
        """The notice as a file; marked privileged until it is sent."""
        notice = self.get_object()
        response = HttpResponse(EXPORTS[fmt](notice), content_type=exports.CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{exports.filename(notice, fmt)}"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


_INCIDENT = rf"^incidents/(?P<reference>{REFERENCE_REGEX})"
_REGIME = r"(?P<regime>[-a-zA-Z0-9_]{1,40})"
_STAGE = r"(?P<stage>[a-z_]{1,20})"
_NOTICE = r"(?P<pk>\d{1,18})"

api_urlpatterns = [
    re_path(rf"{_INCIDENT}/register/$", RegisterViewSet.as_view({"get": "list"}), name="incident-register"),
    re_path(
        rf"{_INCIDENT}/register/{_REGIME}/$",
        RegisterViewSet.as_view({"put": "update"}),
        name="incident-register-decision",
    ),
    re_path(rf"{_INCIDENT}/clocks/$", ClockViewSet.as_view({"get": "list"}), name="incident-clocks"),
    re_path(
        rf"{_INCIDENT}/clocks/{_REGIME}/{_STAGE}/$",
        ClockViewSet.as_view({"put": "update"}),
        name="incident-clock",
    ),
    re_path(
        rf"{_INCIDENT}/notices/$",
        NoticeViewSet.as_view({"get": "list", "post": "create"}),
        name="incident-notices",
    ),
    re_path(
        rf"{_INCIDENT}/notices/{_NOTICE}/$",
        NoticeViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="incident-notice",
    ),
    re_path(
        rf"{_INCIDENT}/notices/{_NOTICE}/approve/$",
        NoticeViewSet.as_view({"post": "approve"}),
        name="incident-notice-approve",
    ),
    re_path(
        rf"{_INCIDENT}/notices/{_NOTICE}/send/$",
        NoticeViewSet.as_view({"post": "send"}),
        name="incident-notice-send",
    ),
    re_path(
        rf"{_INCIDENT}/notices/{_NOTICE}/export\.(?P<fmt>md|html|pdf)$",
        NoticeViewSet.as_view({"get": "export"}),
        name="incident-notice-export",
    ),
]
