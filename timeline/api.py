"""REST API for the attack timeline (``/api/v1/incidents/{reference}/timeline/``).

- ``GET …/timeline/``: the events the caller may see, in timeline order (``occurred_at``, id),
  cursor-paginated (``?cursor=…&page_size=…``), filtered by ``kind`` (repeatable),
  ``key_event``, ``vendor`` and ``technique``.
- ``POST …/timeline/``: one event (an object) → 201 with it; or a JSON array of up to 1,000
  (a SIEM's or SOAR tool's batch) → 207 with one result per item, in order: ``created`` with
  the event, or ``error`` with field messages. A bad item loses no good one.
- ``GET …/timeline/{id}/``, ``PATCH …/timeline/{id}/`` (an optional ``version``: 409 when the
  event changed since). No PUT, no DELETE.

Scopes as for the rest of an incident's content: ``incidents:read`` to read,
``incidents:write`` to write; a write-only key gets back only the ids it wrote. The incident
must be visible to the caller (404 otherwise); who may add and change events is the rule table's
(``timeline.services``, 403), what a value means too (400 naming the field).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import may_read_back
from incidents.api import IncidentChildMixin
from incidents.permissions import Action

from . import selectors, services
from .models import TimelineEvent
from .serializers import (
    TimelineBatchResultSerializer,
    TimelineEventCreateSerializer,
    TimelineEventSerializer,
    TimelineEventUpdateSerializer,
    TimelineFilterSerializer,
)

# A batch of 1,000 events with descriptions does not fit the API's default 1 MiB JSON body.
BATCH_JSON_MAX_BYTES = 10 * 1024 * 1024


class TimelinePagination(CursorPagination):
    """Cursor pages in timeline order: a page stays right while events are added before it (a
    SIEM posting as a responder reads), and no page costs an OFFSET over the whole timeline."""

    ordering = ("occurred_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = settings.API_PAGE_SIZE_MAX

    def decode_cursor(self, request: Request) -> Any:
        cursor = super().decode_cursor(request)
        # DRF takes the position as it comes; a forged one that is not a time would reach the
        # query and fail there. Refused as every other bad cursor is.
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor


def _messages(errors: Any, prefix: str = "") -> list[str]:
    """DRF's errors for one field as plain messages; a list's item errors ({0: [...]}) become
    "item 0: …" so every batch result has the same shape (field → list of strings)."""
    if isinstance(errors, dict):
        return [message for key, value in errors.items() for message in _messages(value, f"{prefix}item {key}: ")]
    if isinstance(errors, list):
        return [message for value in errors for message in _messages(value, prefix)]
    return [f"{prefix}{errors}"]


_SINGLE_EXAMPLE = {
    "occurred_at": "2026-03-02T14:05:00+01:00",
    "precision": "minute",
    "kind": "attacker",
    "title": "Contractor VPN account signs in from a new country",
    "source": "Okta system log",
    "technique": "T1078.004",
    "key_event": True,
    "evidence": [12],
    "indicators": [40, 41],
    "vendor": 3,
}
_BATCH_EXAMPLE = [
    {
        "occurred_at": "2026-03-02T13:05:00Z",
        "kind": "attacker",
        "title": "Mailbox rule created",
        "technique": "T1114.003",
    },
    {"occurred_at": "2026-03-02T15:40:00Z", "kind": "detection", "title": "EDR alert on FIN-LT-042"},
    {"occurred_at": "2026-03-02T16:00:00", "kind": "containment", "title": "Account disabled"},
]


@extend_schema_view(
    list=extend_schema(
        parameters=[TimelineFilterSerializer],
        description="The events you may see, oldest first (occurred_at, then id), cursor-paginated.",
    ),
    retrieve=extend_schema(description="One event you may see."),
)
class TimelineEventViewSet(
    IncidentChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = TimelineEventSerializer
    pagination_class = TimelinePagination
    filter_backends: list[type] = []  # the filters are selectors.filtered's, read in filter_queryset
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    json_max_bytes = BATCH_JSON_MAX_BYTES
    # PATCH: changing one's own event is contributing (event_update checks EDIT_TIMELINE for others').
    required_actions = {"create": Action.CONTRIBUTE, "partial_update": Action.CONTRIBUTE}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return TimelineEvent.objects.none()
        viewer = self.request.user
        return selectors.with_links(selectors.events_for(viewer, self.get_incident()), viewer)

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        query = TimelineFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        return selectors.filtered(
            queryset,
            kinds=params.get("kind") or None,
            key_only=params.get("key_event", False),
            vendor_id=params.get("vendor"),
            technique=params.get("technique", ""),
            viewer=self.request.user,  # a vendor collaborator filtering by another company finds nothing
        )

    def get_object(self) -> TimelineEvent:
        return self._visible(int(self.kwargs["pk"]))

    def _visible(self, event_id: int) -> TimelineEvent:
        incident = self.get_incident()
        event = selectors.event_get(viewer=self.request.user, incident=incident, event_id=event_id)
        if event is None:
            raise Http404
        event.incident = incident
        return event

    def _body(self, event: TimelineEvent) -> dict[str, Any]:
        return TimelineEventSerializer(event, context=self.get_serializer_context()).data

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="TimelineEventPost",
            serializers=[
                TimelineEventCreateSerializer,
                TimelineEventCreateSerializer(many=True, min_length=1, max_length=services.BATCH_MAX),
            ],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: OpenApiResponse(TimelineEventSerializer, description="One event (an object was sent)."),
            207: OpenApiResponse(
                TimelineBatchResultSerializer,
                description="A batch (an array was sent): one result per item, in order.",
            ),
        },
        examples=[
            OpenApiExample("One event", value=_SINGLE_EXAMPLE, request_only=True),
            OpenApiExample(
                "A batch (the third item is refused: no UTC offset)", value=_BATCH_EXAMPLE, request_only=True
            ),
        ],
        description=(
            "An object adds one event (201). An array of 1 to 1,000 objects adds each on its own "
            "(207): created ones are kept even when others are refused. occurred_at needs its UTC "
            "offset; technique must exist in the pinned ATT&CK release; evidence, indicators and "
            "vendor must be of this incident."
        ),
    )
    def create(self, request: Request, reference: str) -> Response:
        if isinstance(request.data, list):
            return self._create_many(request.data)
        serializer = TimelineEventCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = services.event_add(incident=self.get_incident(), actor=request.user, **serializer.validated_data)
        headers = {"Location": reverse("api:incident-timeline-detail", kwargs={"reference": reference, "pk": event.pk})}
        body = self._body(self._visible(event.pk)) if may_read_back(request, self) else {"id": event.pk}
        return Response(body, status=status.HTTP_201_CREATED, headers=headers)

    def _create_many(self, items: list[Any]) -> Response:
        if not items:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one event."]})
        if len(items) > services.BATCH_MAX:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        f"At most {services.BATCH_MAX:,} events per request (this one has {len(items):,})."
                    ]
                }
            )
        incident, actor = self.get_incident(), self.request.user
        refused: dict[int, dict[str, list[str]]] = {}
        good: list[tuple[int, dict[str, Any]]] = []
        for index, raw in enumerate(items):
            if not isinstance(raw, dict):
                refused[index] = {"non_field_errors": ["Each event must be an object."]}
                continue
            item = TimelineEventCreateSerializer(data=raw)
            if item.is_valid():
                good.append((index, dict(item.validated_data)))
            else:
                refused[index] = {field: _messages(errors) for field, errors in item.errors.items()}
        # Called even when every item was refused: the service checks that the caller may add.
        results = services.events_add_many(incident=incident, actor=actor, items=[data for _, data in good])
        by_index = dict(zip([index for index, _ in good], results, strict=True))
        created_ids = [result.event.pk for result in by_index.values() if result.status == "created" and result.event]
        shown: dict[int, dict[str, Any]] = {}
        if created_ids and may_read_back(self.request, self):
            # One read for the whole batch (three queries), as the list reads a page.
            rows = selectors.with_links(selectors.events_for(actor, incident).filter(pk__in=created_ids), actor)
            context = self.get_serializer_context()
            shown = {event.pk: TimelineEventSerializer(event, context=context).data for event in rows}
        rows_out = []
        for index in range(len(items)):
            if index in refused:
                rows_out.append(
                    {"index": index, "status": "error", "id": None, "event": None, "errors": refused[index]}
                )
                continue
            result = by_index[index]
            event_id = result.event.pk if result.event is not None and result.status == "created" else None
            rows_out.append(
                {
                    "index": index,
                    "status": result.status,
                    "id": event_id,
                    "event": shown.get(event_id) if event_id else None,
                    "errors": result.errors,
                }
            )
        body = {
            "created": sum(1 for row in rows_out if row["status"] == "created"),
            "errors": sum(1 for row in rows_out if row["status"] == "error"),
            "results": rows_out,
        }
        return Response(body, status=status.HTTP_207_MULTI_STATUS)

    @extend_schema(
        request=TimelineEventUpdateSerializer,
        responses={200: TimelineEventSerializer, 409: OpenApiResponse(description="The event changed since version.")},
        description="Change what is sent (links replace the old ones). Anyone who may edit the timeline may "
        "change any event; a contributor only the events they recorded.",
    )
    def partial_update(self, request: Request, reference: str, pk: str) -> Response:
        event = self.checked_object()
        serializer = TimelineEventUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = data.pop("version", None)
        services.event_update(event=event, actor=request.user, data=data, version=version)
        body = self._body(self._visible(event.pk)) if may_read_back(request, self) else {"id": event.pk}
        return Response(body)
