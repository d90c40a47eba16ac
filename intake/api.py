"""The alert intake API.

- ``POST /api/v1/alerts/`` (generic JSON) and ``POST /api/v1/alerts/{format}/`` (``splunk``,
  ``elastic``, ``sentinel``, ``wazuh``): an API key with ``alerts:write``
  (``Authorization: Api-Key …``). Alerts that name no source of their own get the key's name.
- ``POST /api/v1/ingest/{token}/``: an ingest URL (``intake.tokens``) for SIEMs that cannot send
  headers; its source and format are the token's.

A body is one alert (an object) → 201 with the alert when it is new, 200 when it repeats a
known one (its ``occurrences`` raised), 400 naming what is wrong; or an array of up to 1,000
→ 207 with one result per item, in order (``created`` / ``duplicate`` / ``error`` with field
messages). Requests are rate-limited per key or URL (``INTAKE_RATE_LIMIT``: 429 with
``Retry-After``); bodies over ``INTAKE_JSON_MAX_BYTES`` are a 413. A rejected alert is logged
(logger ``intake``) with its payload when it parsed as JSON.
"""

from __future__ import annotations

import importlib
import json
import logging
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.models import APIKey, Scope
from incidents.models import IndicatorType
from incidents.selectors import incidents_visible_to

from . import services
from .models import Alert, AlertFormat, AlertStatus
from .normalizers import NormalizeError
from .tokens import ingest_token_authenticate

logger = logging.getLogger("intake")
NATIVE_FORMATS = ("splunk", "elastic", "sentinel", "wazuh")
_LOGGED_PAYLOAD_MAX = 4_000


class AlertRateThrottle(SimpleRateThrottle):
    """``INTAKE_RATE_LIMIT`` requests per API key or ingest URL (read per request, so a deployment
    or a test may change it), counted in the default cache (Redis when ``CACHE_URL`` is set)."""

    scope = "alerts"

    def get_rate(self) -> str:
        return settings.INTAKE_RATE_LIMIT

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        credential = getattr(view, "credential", None) or request.auth
        if isinstance(credential, APIKey):
            return f"throttle:alerts:key:{credential.pk}"
        if credential is not None and hasattr(credential, "prefix"):
            return f"throttle:alerts:ingest:{credential.pk}"
        return None


def _normalizer(format: str) -> Any:
    return importlib.import_module(f"intake.normalizers.{format}").normalize


def _loggable(payload: Any) -> str:
    text = json.dumps(payload, default=str)
    return text if len(text) <= _LOGGED_PAYLOAD_MAX else text[:_LOGGED_PAYLOAD_MAX] + "…"


def _receive(payload: Any, format: str) -> list[services.Received]:
    normalize = _normalizer(format)
    received = []
    for item in payload:
        try:
            received.append(services.Received(alert=normalize(item), raw=item))
        except NormalizeError as exc:
            received.append(services.Received(alert=None, raw=item, errors=exc.errors))
    return received


def ingest(request: Request, *, format: str, source: str) -> Response:
    """The shared body of both views: one alert or a batch, normalized, stored, answered."""
    payload = request.data
    single = isinstance(payload, dict)
    if single:
        items = [payload]
    elif isinstance(payload, list):
        if not payload:
            raise ValidationError({"alerts": ["The batch is empty."]})
        if len(payload) > services.BATCH_MAX:
            raise ValidationError({"alerts": [f"At most {services.BATCH_MAX} alerts per request."]})
        items = payload
    else:
        raise ValidationError({"non_field_errors": ["Send one alert (a JSON object) or a batch (an array)."]})
    results = services.alerts_ingest(
        received=_receive(items, format), source=source, format=format, sender=request.user
    )
    # The incidents alerts joined, for their references (one query): only those the sender may
    # see (a restricted incident it is not a member of stays unnamed, as everywhere).
    ids = {r.alert.incident_id for r in results if r.alert is not None and r.alert.incident_id}
    if ids:
        visible = incidents_visible_to(request.user).filter(pk__in=ids)
        references = dict(visible.values_list("pk", "reference"))
        for result in results:
            if result.alert is not None and result.alert.incident_id:
                result.alert._reference = references.get(result.alert.incident_id)
    for index, result in enumerate(results):
        if result.status == "error":
            logger.info(
                "alert rejected (%s, item %d): %s; payload %s",
                format, index, result.errors, _loggable(items[index]),
            )  # fmt: skip
    rows = [_row(index, result) for index, result in enumerate(results)]
    if single:
        row = rows[0]
        if row["status"] == "error":
            return Response(row["errors"], status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if row["status"] == "created" else status.HTTP_200_OK
        return Response({**row["alert"], "result": row["status"]}, status=code)
    body = {
        "created": sum(1 for row in rows if row["status"] == "created"),
        "duplicates": sum(1 for row in rows if row["status"] == "duplicate"),
        "errors": sum(1 for row in rows if row["status"] == "error"),
        "results": rows,
    }
    return Response(body, status=status.HTTP_207_MULTI_STATUS)


def _row(index: int, result: services.IngestResult) -> dict[str, Any]:
    alert = result.alert
    body = None
    if alert is not None:
        body = _alert_body(alert)
    return {"index": index, "status": result.status, "alert": body, "errors": result.errors}


def _alert_body(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "source": alert.source,
        "source_ref": alert.source_ref,
        "status": alert.status,
        "severity": alert.severity,
        "occurrences": alert.occurrences,
        "fingerprint": alert.fingerprint,
        "incident": getattr(alert, "_reference", None),
        "observables": alert.observables,
    }


# --- OpenAPI ---------------------------------------------------------------------------------------
class ObservableSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=IndicatorType.choices)
    value = serializers.CharField()


class GenericAlertSerializer(serializers.Serializer):
    """The generic alert format (documentation only: ``intake.normalizers.generic`` reads it, and
    keeps any other key with the alert)."""

    source_ref = serializers.CharField(
        max_length=200, help_text="Your own id of this alert (a string or a number): a repeat raises its count."
    )
    title = serializers.CharField(help_text="One line; longer than 300 characters is cut.")
    severity = serializers.ChoiceField(
        choices=["critical", "high", "medium", "low", "info"], required=False, help_text="Any case; default medium."
    )
    observed_at = serializers.CharField(
        required=False, help_text="ISO 8601 with its offset, or epoch seconds or milliseconds (a number or digits)."
    )
    rule = serializers.CharField(required=False, max_length=200)
    host = serializers.CharField(required=False, max_length=255)
    user = serializers.CharField(required=False, max_length=255)
    description = serializers.CharField(required=False)
    source = serializers.CharField(required=False, max_length=64, help_text="Defaults to the API key's name.")
    observables = ObservableSerializer(
        many=True, required=False, help_text='Or an object by type: {"ip": ["203.0.113.7"], "domain": [...]}.'
    )


class AlertResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    source_ref = serializers.CharField()
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    severity = serializers.CharField()
    occurrences = serializers.IntegerField()
    fingerprint = serializers.CharField()
    incident = serializers.CharField(allow_null=True, help_text="The incident it joined or opened.")
    observables = serializers.ListField(child=serializers.DictField())


class SingleResultSerializer(AlertResultSerializer):
    result = serializers.ChoiceField(choices=["created", "duplicate"])


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    alert = AlertResultSerializer(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = BatchItemSerializer(many=True)


_RESPONSES = {
    201: OpenApiResponse(SingleResultSerializer, description="A new alert."),
    200: OpenApiResponse(SingleResultSerializer, description="A repeat of a known alert: its count raised."),
    207: OpenApiResponse(BatchResultSerializer, description="A batch: one result per item, in order."),
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="What is missing or wrong, by field."),
    413: OpenApiResponse(OpenApiTypes.OBJECT, description="The body is over INTAKE_JSON_MAX_BYTES."),
    429: OpenApiResponse(OpenApiTypes.OBJECT, description="Over INTAKE_RATE_LIMIT; see Retry-After."),
}


class AlertIntakeView(APIView):
    """Alerts from a SIEM or SOAR tool, with an API key holding ``alerts:write``."""

    write_scope = Scope.ALERTS_WRITE
    throttle_classes = [AlertRateThrottle]
    json_max_bytes = settings.INTAKE_JSON_MAX_BYTES

    def _check_key(self, request: Request) -> APIKey:
        if not isinstance(request.auth, APIKey):
            # A person's session cannot post alerts: SIEMs authenticate as integrations.
            raise PermissionDenied("Alerts are posted with an API key (Authorization: Api-Key …) or an ingest URL.")
        return request.auth

    @extend_schema(
        operation_id="alerts_create",
        request={"application/json": GenericAlertSerializer},
        responses=_RESPONSES,
        description="One alert in the generic format, or an array of up to 1,000 (207 with a result per item).",
        examples=[
            OpenApiExample(
                "One alert",
                value={
                    "source_ref": "det-8812",
                    "title": "Impossible travel for j.doe",
                    "severity": "high",
                    "observed_at": "2026-03-02T14:05:00+01:00",
                    "rule": "impossible-travel",
                    "user": "j.doe",
                    "observables": [{"type": "ip", "value": "203.0.113.77"}],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        key = self._check_key(request)
        return ingest(request, format=AlertFormat.GENERIC, source=key.name)


class NativeAlertIntakeView(AlertIntakeView):
    """Alerts in a SIEM's own format (``splunk``, ``elastic``, ``sentinel``, ``wazuh``)."""

    @extend_schema(
        operation_id="alerts_native_create",
        request={"application/json": OpenApiTypes.OBJECT},
        responses=_RESPONSES,
        parameters=[OpenApiParameter("alert_format", str, OpenApiParameter.PATH, enum=list(NATIVE_FORMATS))],
        description="A SIEM's native payload (or an array of them); see docs/api.md for each format.",
    )
    def post(self, request: Request, alert_format: str) -> Response:  # type: ignore[override]
        # Not "format": DRF reads a ``format`` URL argument as the response format it should render.
        key = self._check_key(request)
        if alert_format not in NATIVE_FORMATS:
            raise NotFound(f"Unknown alert format “{alert_format}”: one of {', '.join(NATIVE_FORMATS)}.")
        return ingest(request, format=alert_format, source=key.name)


class IngestURLView(APIView):
    """``POST /api/v1/ingest/{token}/``: the token in the path is the credential."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [AlertRateThrottle]
    json_max_bytes = settings.INTAKE_JSON_MAX_BYTES

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before the throttle runs: it counts per ingest URL.
        self.credential = ingest_token_authenticate(raw=kwargs.get("token", ""))
        if self.credential is None:
            raise NotAuthenticated("Unknown or revoked ingest URL.")
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="alerts_ingest_url",
        request={"application/json": OpenApiTypes.OBJECT},
        responses=_RESPONSES,
        auth=[],
        description="An alert (or array) in the ingest URL's format, as its source.",
    )
    def post(self, request: Request, token: str) -> Response:
        request.user = self.credential.user
        return ingest(request, format=self.credential.format, source=self.credential.source)
