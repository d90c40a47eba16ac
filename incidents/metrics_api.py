"""``GET /api/v1/metrics/?from=YYYY-MM-DD&to=YYYY-MM-DD``: the dashboard's figures as JSON for BI
tools (``incidents.metrics.DashboardMetrics.as_json``), over the incidents the caller may see.

Without ``from`` and ``to``: the last 30 days. Both days are included, in the server's time
zone. API keys need ``incidents:read``; vendor collaborators get 404 as on the page."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Scope

from . import metrics
from .dashboard_views import may_see_dashboard, period_errors


class MetricsQuerySerializer(serializers.Serializer):
    # "from" is a Python keyword: declared through the class namespace (DRF's own idiom).
    vars()["from"] = serializers.DateField(required=False, help_text="First day of the period (YYYY-MM-DD).")
    to = serializers.DateField(required=False, help_text="Last day of the period, included (YYYY-MM-DD).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if (start is None) != (end is None):
            missing = "to" if end is None else "from"
            raise serializers.ValidationError({missing: ["Give both from and to, or neither (the last 30 days)."]})
        if start and end:
            errors = period_errors(start, end)
            if errors:
                raise serializers.ValidationError({"to": [errors["end"]]})
        return attrs

    def period(self) -> metrics.Period:
        data = self.validated_data
        if "from" in data:
            return metrics.period_between(data["from"], data["to"])
        return metrics.period_named("30d")


class _Count(serializers.Serializer):
    count = serializers.IntegerField()
    label = serializers.CharField()


class _SeverityCount(_Count):
    severity = serializers.CharField()


class _StatusCount(_Count):
    status = serializers.CharField()


class _OpenSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_severity = _SeverityCount(many=True)
    by_status = _StatusCount(many=True)


class _PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")
    bucket = serializers.ChoiceField(choices=["week", "month"], help_text="How the trends are grouped.")


class _FlowSerializer(serializers.Serializer):
    bucket = serializers.DateField(help_text="First day of the week (Monday) or month.")
    opened = serializers.IntegerField()
    closed = serializers.IntegerField()


class _KpiPointSerializer(serializers.Serializer):
    bucket = serializers.DateField()
    mean = serializers.IntegerField(allow_null=True, help_text="Seconds.")
    median = serializers.IntegerField(allow_null=True, help_text="Seconds.")
    count = serializers.IntegerField()


class _KpiSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(metrics.KPI_LABELS))
    label = serializers.CharField()
    mean = serializers.IntegerField(allow_null=True, help_text="Seconds.")
    median = serializers.IntegerField(allow_null=True, help_text="Seconds.")
    count = serializers.IntegerField(help_text="Incidents of the period that have this span's milestones.")
    of = serializers.IntegerField(help_text="Incidents of the period.")
    trend = _KpiPointSerializer(many=True)


class _SlaBreachSerializer(serializers.Serializer):
    reference = serializers.CharField()
    title = serializers.CharField()
    severity = serializers.CharField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    due_at = serializers.DateTimeField()
    breached_at = serializers.DateTimeField()


class _SlaBreachesSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = _SlaBreachSerializer(many=True)


class _ClockSerializer(serializers.Serializer):
    reference = serializers.CharField()
    title = serializers.CharField()
    regime = serializers.CharField()
    stage = serializers.CharField()
    due_at = serializers.DateTimeField()
    missed = serializers.BooleanField()


class _ClocksSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = _ClockSerializer(many=True)


class _TierCount(_Count):
    tier = serializers.CharField()


class _AccessSerializer(serializers.Serializer):
    reference = serializers.CharField()
    vendor = serializers.CharField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    identifier = serializers.CharField()
    system = serializers.CharField()
    added_at = serializers.DateTimeField()


class _OpenAccessSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = _AccessSerializer(many=True)


class _VendorPointSerializer(serializers.Serializer):
    bucket = serializers.DateField()
    count = serializers.IntegerField()


class _TopVendorSerializer(serializers.Serializer):
    vendor = serializers.CharField()
    id = serializers.IntegerField()
    incidents = serializers.IntegerField()
    trend = _VendorPointSerializer(many=True)


class _VendorsSerializer(serializers.Serializer):
    in_open_incidents_by_tier = _TierCount(many=True)
    open_access = _OpenAccessSerializer()
    top = _TopVendorSerializer(many=True)


class _AlertPointSerializer(serializers.Serializer):
    bucket = serializers.DateField()
    received = serializers.IntegerField()
    promoted = serializers.IntegerField()


class _AlertsSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    promoted = serializers.IntegerField(help_text="Promoted to a new incident or linked to one.")
    promoted_share = serializers.FloatField(allow_null=True)
    trend = _AlertPointSerializer(many=True)


class _CategoryCount(_Count):
    category = serializers.CharField()


class _TechniqueCount(serializers.Serializer):
    technique = serializers.CharField()
    name = serializers.CharField()
    count = serializers.IntegerField()


class MetricsSerializer(serializers.Serializer):
    period = _PeriodSerializer()
    open_incidents = _OpenSerializer()
    flow = _FlowSerializer(many=True)
    incidents_in_period = serializers.IntegerField()
    kpis = _KpiSerializer(many=True)
    sla_breaches = _SlaBreachesSerializer()
    regulatory_clocks = _ClocksSerializer()
    vendors = _VendorsSerializer()
    alerts = _AlertsSerializer()
    top_categories = _CategoryCount(many=True)
    top_techniques = _TechniqueCount(many=True)


class MetricsView(APIView):
    """The dashboard's figures over a period (docs/architecture.md, "Dashboard and metrics")."""

    read_scope = Scope.INCIDENTS_READ

    @extend_schema(parameters=[MetricsQuerySerializer], responses={200: MetricsSerializer})
    def get(self, request: Request) -> Response:
        if not may_see_dashboard(request.user):
            raise NotFound
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = metrics.dashboard_metrics(viewer=request.user, period=query.period())
        # as_json is already what MetricsSerializer describes (the schema); returned as is.
        return Response(data.as_json())
