"""REST API for incidents, their findings and tasks (``/api/v1/incidents/``).

Views parse input, call a selector or a service and serialize the result; querysets start from
``incidents_visible_to`` so an invisible incident is a 404, never a 403.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role, Scope, User
from accounts.permissions import may_read_back
from config.serializers import StrictFieldsMixin

from . import selectors, services
from .converters import REFERENCE_REGEX
from .filters import IncidentFilter
from .markdown import render_markdown
from .models import INCIDENT_EDITABLE_FIELDS, Finding, Incident, Status, Task


class UsernameField(serializers.SlugRelatedField):
    """A person by username. Any active person is accepted here; whether they may lead or be
    assigned is the rule table's to say (``incidents.permissions``), through the service, which
    answers 400 naming the field and the reason."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("slug_field", "username")
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", User.objects.filter(is_active=True).exclude(role=Role.INTEGRATION))
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # PostgreSQL text cannot hold NUL: looking such a name up would be a 500, not a 400.
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class IncidentSerializer(serializers.ModelSerializer):
    lead = UsernameField(read_only=True)
    summary_html = serializers.SerializerMethodField()
    allowed_transitions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Incident
        fields = [
            "reference", "title", "summary", "summary_html", "severity", "status", "category", "lead",
            "restricted", "personal_data", "records_affected", "detected_at", "reported_at",
            "acknowledged_at", "contained_at", "resolved_at", "closed_at", "created_at", "updated_at",
            "version", "allowed_transitions",
        ]  # fmt: skip
        read_only_fields = fields

    def get_summary_html(self, incident: Incident) -> str:
        return render_markdown(incident.summary)


class IncidentListSerializer(IncidentSerializer):
    """The list is an index: the summary (up to 50,000 characters of Markdown, ~0.65 ms per row
    to render) is left to the single-incident view, and not even read from the database."""

    class Meta(IncidentSerializer.Meta):
        fields = [f for f in IncidentSerializer.Meta.fields if f not in {"summary", "summary_html"}]
        read_only_fields = fields


class IncidentWriteSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    lead = UsernameField(required=False, allow_null=True)

    read_only_names = frozenset(IncidentSerializer.Meta.fields)
    read_only_messages = {
        "status": "Open the incident, then change its status with POST /api/v1/incidents/{reference}/transition/.",
        "reference": "References are assigned by Breachline.",
    }

    class Meta:
        model = Incident
        fields = list(INCIDENT_EDITABLE_FIELDS)


class IncidentUpdateSerializer(IncidentWriteSerializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you read; 409 if it changed since.")

    read_only_messages = {
        "status": "Change the status with POST /api/v1/incidents/{reference}/transition/.",
        "reference": "The reference cannot be changed.",
    }

    class Meta(IncidentWriteSerializer.Meta):
        fields = [*IncidentWriteSerializer.Meta.fields, "version"]


class IncidentWriteResultSerializer(serializers.ModelSerializer):
    """What a write answers to a key without ``incidents:read``: enough to write again."""

    class Meta:
        model = Incident
        fields = ["reference", "version"]
        read_only_fields = fields


class TransitionSerializer(StrictFieldsMixin, serializers.Serializer):
    to = serializers.ChoiceField(choices=Status.choices)
    version = serializers.IntegerField(min_value=1, required=False, help_text="Optional optimistic-lock check.")


class FindingSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    author = UsernameField(read_only=True)
    body_html = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = ["id", "author", "body", "body_html", "created_at"]
        read_only_fields = ["id", "author", "body_html", "created_at"]

    def get_body_html(self, finding: Finding) -> str:
        return render_markdown(finding.body)


class TaskSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    assignee = UsernameField(required=False, allow_null=True)

    class Meta:
        model = Task
        fields = ["id", "title", "assignee", "due_on", "done", "done_at", "created_at"]
        read_only_fields = ["id", "done_at", "created_at"]


class IncidentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Incidents visible to the caller. Status changes go through ``transition``."""

    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    lookup_field = "reference"
    lookup_value_regex = REFERENCE_REGEX
    http_method_names = ["get", "post", "patch", "head", "options"]
    read_scope = Scope.INCIDENTS_READ
    write_scope = Scope.INCIDENTS_WRITE

    def get_queryset(self):
        incidents = selectors.incidents_visible_to(self.request.user).select_related("lead")
        return incidents.defer("summary") if self.action == "list" else incidents

    def get_serializer_class(self):
        return IncidentListSerializer if self.action == "list" else IncidentSerializer

    def _written(self, incident: Incident) -> dict:
        full = may_read_back(self.request, self)
        return (IncidentSerializer if full else IncidentWriteResultSerializer)(incident).data

    @extend_schema(
        request=IncidentWriteSerializer,
        responses={201: IncidentSerializer},
        description="Answers the whole incident; a key without incidents:read gets reference and version only.",
    )
    def create(self, request: Request) -> Response:
        serializer = IncidentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.incident_open(opened_by=request.user, **serializer.validated_data)
        headers = {"Location": reverse("api:incident-detail", kwargs={"reference": incident.reference})}
        return Response(self._written(incident), status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema(request=IncidentUpdateSerializer, responses={200: IncidentSerializer, 409: None})
    def partial_update(self, request: Request, reference: str) -> Response:
        incident = self.get_object()
        serializer = IncidentUpdateSerializer(incident, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "version" not in changes:
            raise serializers.ValidationError({"version": ["This field is required."]})
        version = changes.pop("version")
        incident = services.incident_update(incident=incident, actor=request.user, version=version, changes=changes)
        return Response(self._written(incident))

    @extend_schema(request=TransitionSerializer, responses={200: IncidentSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, reference: str) -> Response:
        incident = self.get_object()
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.incident_transition(
            incident=incident,
            to=serializer.validated_data["to"],
            version=serializer.validated_data.get("version"),
            actor=request.user,
        )
        return Response(self._written(incident))


class IncidentChildMixin:
    """For endpoints nested under ``/incidents/<reference>/``: the parent must be visible."""

    read_scope = Scope.INCIDENTS_READ
    write_scope = Scope.INCIDENTS_WRITE

    def _written(self, response: Response) -> Response:
        # A write-only key learns the id of what it wrote and nothing else (see may_read_back).
        if not may_read_back(self.request, self):
            response.data = {"id": response.data["id"]}
        return response

    def create(self, request: Request, *args, **kwargs) -> Response:
        return self._written(super().create(request, *args, **kwargs))

    def update(self, request: Request, *args, **kwargs) -> Response:
        return self._written(super().update(request, *args, **kwargs))

    def get_incident(self) -> Incident:
        if not hasattr(self, "_incident"):
            incident = selectors.incident_get(viewer=self.request.user, reference=self.kwargs["reference"])
            if incident is None:
                raise Http404
            self._incident = incident
        return self._incident


class FindingViewSet(IncidentChildMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = FindingSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return Finding.objects.none()
        return self.get_incident().findings.select_related("author")

    def perform_create(self, serializer: FindingSerializer) -> None:
        serializer.instance = services.finding_add(
            incident=self.get_incident(), author=self.request.user, body=serializer.validated_data["body"]
        )


class TaskViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = TaskSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return Task.objects.none()
        return self.get_incident().tasks.select_related("assignee")

    def get_object(self) -> Task:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def perform_create(self, serializer: TaskSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.task_add(
            incident=self.get_incident(),
            actor=self.request.user,
            title=data["title"],
            assignee=data.get("assignee"),
            due_on=data.get("due_on"),
        )

    def perform_update(self, serializer: TaskSerializer) -> None:
        serializer.instance = services.task_update(
            task=serializer.instance, actor=self.request.user, changes=dict(serializer.validated_data)
        )
