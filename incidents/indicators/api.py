"""REST API for indicators.

- ``GET …/incidents/{reference}/indicators/`` (paginated), ``GET …/{id}/``: what the caller
  may see (``shared_with``), each with the other visible incidents holding the same value.
- ``POST …/indicators/``: one indicator; ``PATCH …/{id}/``: its marking and context.
- ``POST …/indicators/bulk/``: up to 1,000 for SIEM/SOAR; 207 with one result per item
  (``created`` / ``duplicate`` / ``error`` with field messages); a bad item loses no good one.
- ``GET …/indicators/export/stix/`` and ``…/export/csv/``: attacker-side indicators, TLP:RED
  only with ``include_red=true``.
- ``GET /api/v1/indicators/?value=…[&type=…]``: which visible incidents hold it (refanged and
  normalized first; without ``type``, every type the value is valid as).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Scope
from config.serializers import StrictFieldsMixin

from ..api import IncidentChildMixin, UsernameField
from ..models import Indicator, IndicatorRole, IndicatorType, Tlp
from ..permissions import Action
from . import selectors, services
from .normalize import guess_types, normalize
from .views import export_response


class SightingSerializer(serializers.Serializer):
    reference = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    role = serializers.CharField()


class IndicatorSerializer(serializers.ModelSerializer):
    added_by = UsernameField(read_only=True)
    also_in = serializers.SerializerMethodField(
        help_text="Other incidents the caller may see holding the same value (correlation)."
    )

    class Meta:
        model = Indicator
        fields = [
            "id", "type", "value", "role", "tlp", "confidence", "first_seen", "last_seen", "source",
            "description", "internal", "added_by", "added_at", "updated_at", "also_in",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(SightingSerializer(many=True))
    def get_also_in(self, indicator: Indicator) -> list[dict]:
        sightings = self.context.get("sightings", {}).get((indicator.type, indicator.value), [])
        return [SightingSerializer(sighting).data for sighting in sightings]


class IndicatorUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=IndicatorRole.choices, required=False)
    tlp = serializers.ChoiceField(choices=Tlp.choices, required=False)
    confidence = serializers.IntegerField(min_value=0, max_value=100, required=False)
    first_seen = serializers.DateTimeField(required=False, allow_null=True)
    last_seen = serializers.DateTimeField(required=False, allow_null=True)
    source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5_000)
    internal = serializers.BooleanField(required=False)

    read_only_names = frozenset(IndicatorSerializer.Meta.fields)
    read_only_messages = {
        "type": "An indicator's type and value are what it is: add a new one instead.",
        "value": "An indicator's type and value are what it is: add a new one instead.",
    }


class IndicatorCreateSerializer(IndicatorUpdateSerializer):
    type = serializers.ChoiceField(choices=IndicatorType.choices)
    value = serializers.CharField(
        max_length=4_000, trim_whitespace=False, help_text="Defanged values are accepted; stored normalized."
    )
    read_only_messages = {}

    def validate(self, data: dict) -> dict:
        # Normalizing is the service's; doing it here too gives the 400 its field message
        # before anything is written (and a NUL or a bad value never reaches the database).
        try:
            normalize(data["type"], data["value"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return data


class BulkSerializer(StrictFieldsMixin, serializers.Serializer):
    indicators = serializers.ListField(
        child=serializers.JSONField(), min_length=1, max_length=services.BULK_MAX, help_text="Up to 1,000 items."
    )


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    id = serializers.IntegerField(allow_null=True, help_text="The indicator created, or the one already there.")
    value = serializers.CharField(allow_null=True, help_text="The normalized value.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = BulkItemResultSerializer(many=True)


_EXPORT_PARAMS = [
    OpenApiParameter("include_red", OpenApiTypes.BOOL, description="Include TLP:RED indicators (left out unless true).")
]


class IndicatorViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = IndicatorSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_actions = {"create": Action.CONTRIBUTE, "partial_update": Action.CONTRIBUTE, "bulk": Action.CONTRIBUTE}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return Indicator.objects.none()
        return selectors.indicators_for(self.request.user, self.get_incident()).select_related("added_by")

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False) and "reference" in self.kwargs:
            # One query for the whole page's correlations, not one per indicator.
            context["sightings"] = selectors.correlations(self.request.user, self.get_incident())
        return context

    def get_object(self) -> Indicator:
        indicator = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if indicator is None:
            raise Http404
        indicator.incident = self.get_incident()
        return indicator

    @extend_schema(request=IndicatorCreateSerializer, responses={201: IndicatorSerializer})
    def create(self, request: Request, reference: str) -> Response:
        serializer = IndicatorCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        indicator = services.indicator_add(
            incident=self.get_incident(), actor=request.user, **serializer.validated_data
        )
        body = IndicatorSerializer(indicator, context=self.get_serializer_context()).data
        return self._written(Response(body, status=status.HTTP_201_CREATED))

    @extend_schema(request=IndicatorUpdateSerializer, responses={200: IndicatorSerializer})
    def partial_update(self, request: Request, reference: str, pk: str) -> Response:
        indicator = self.checked_object()
        serializer = IndicatorUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.indicator_update(indicator=indicator, actor=request.user, data=serializer.validated_data)
        body = IndicatorSerializer(indicator, context=self.get_serializer_context()).data
        return self._written(Response(body))

    @extend_schema(request=BulkSerializer, responses={207: BulkResultSerializer})
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request, reference: str) -> Response:
        """Add up to 1,000 indicators, each on its own: 207 with a result per item, in order."""
        serializer = BulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = self.get_incident()
        items, early = [], {}
        for index, raw in enumerate(serializer.validated_data["indicators"]):
            item = IndicatorCreateSerializer(data=raw if isinstance(raw, dict) else {})
            if not isinstance(raw, dict):
                early[index] = {"non_field_errors": ["Each item must be an object with type and value."]}
            elif not item.is_valid():
                early[index] = {field: [str(e) for e in errs] for field, errs in item.errors.items()}
            else:
                items.append((index, item.validated_data))
        results = services.indicators_add_many(incident=incident, actor=request.user, items=[i for _, i in items])
        by_index = dict(zip([index for index, _ in items], results, strict=True))
        rows = []
        total = len(serializer.validated_data["indicators"])
        for index in range(total):
            if index in early:
                rows.append({"index": index, "status": "error", "id": None, "value": None, "errors": early[index]})
                continue
            result = by_index[index]
            indicator = result.indicator
            rows.append(
                {
                    "index": index,
                    "status": result.status,
                    "id": indicator.pk if indicator else None,
                    "value": indicator.value if indicator else None,
                    "errors": result.errors,
                }
            )
        body = {
            "created": sum(1 for row in rows if row["status"] == "created"),
            "duplicates": sum(1 for row in rows if row["status"] == "duplicate"),
            "errors": sum(1 for row in rows if row["status"] == "error"),
            "results": rows,
        }
        return Response(BulkResultSerializer(body).data, status=status.HTTP_207_MULTI_STATUS)

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The exports answer their own content type; their errors are JSON whatever Accept says.
        if getattr(self, "action", None) in ("export_stix", "export_csv"):
            return (JSONRenderer(), JSONRenderer.media_type)
        return super().perform_content_negotiation(request, force)

    def _export(self, request: Request, format: str):
        include_red = str(request.query_params.get("include_red", "")).lower() in ("1", "true", "yes", "on")
        incident = self.get_incident()
        indicators = selectors.indicators_for_export(request.user, incident, include_red=include_red)
        return export_response(incident, indicators, format)

    @extend_schema(
        parameters=_EXPORT_PARAMS,
        responses={(200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="A STIX 2.1 bundle.")},
    )
    @action(detail=False, methods=["get"], url_path="export/stix")
    def export_stix(self, request: Request, reference: str):
        """Attacker-side indicators as a STIX 2.1 bundle (TLP 2.0 markings)."""
        return self._export(request, "stix")

    @extend_schema(
        parameters=_EXPORT_PARAMS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="One row per indicator.")},
    )
    @action(detail=False, methods=["get"], url_path="export/csv")
    def export_csv(self, request: Request, reference: str):
        """Attacker-side indicators as CSV."""
        return self._export(request, "csv")


class LookupQuerySerializer(serializers.Serializer):
    value = serializers.CharField(max_length=4_000, trim_whitespace=False, help_text="May be defanged.")
    type = serializers.ChoiceField(choices=IndicatorType.choices, required=False)


class LookupMatchSerializer(serializers.Serializer):
    reference = serializers.CharField(source="incident.reference")
    title = serializers.CharField(source="incident.title")
    status = serializers.CharField(source="incident.status")
    indicator_id = serializers.IntegerField(source="pk")
    type = serializers.CharField()
    value = serializers.CharField()
    role = serializers.CharField()
    tlp = serializers.CharField()


class LookupResultSerializer(serializers.Serializer):
    query = serializers.CharField()
    searched = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="The (type, normalized value) pairs looked up.",
    )
    incidents = LookupMatchSerializer(many=True)


class IndicatorLookupView(APIView):
    """``GET /api/v1/indicators/?value=…``: which incidents the caller may see hold the value."""

    read_scope = Scope.INCIDENTS_READ
    write_scope = Scope.INCIDENTS_WRITE

    @extend_schema(parameters=[LookupQuerySerializer], responses={200: LookupResultSerializer})
    def get(self, request: Request) -> Response:
        query = LookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        raw = query.validated_data["value"]
        kinds = [query.validated_data["type"]] if "type" in query.validated_data else guess_types(raw)
        pairs: list[tuple[str, str]] = []
        errors: list[str] = []
        for kind in kinds:
            try:
                pairs.append((kind, normalize(kind, raw)))
            except DjangoValidationError as exc:
                errors += exc.messages
        if not pairs:
            raise serializers.ValidationError({"value": errors or ["Not a value of any type of indicator."]})
        matches = selectors.indicator_lookup(viewer=request.user, pairs=pairs)
        body = {
            "query": raw,
            "searched": [{"type": kind, "value": value} for kind, value in pairs],
            "incidents": matches,
        }
        return Response(LookupResultSerializer(body).data)
