"""REST API for incidents, their findings and tasks (``/api/v1/incidents/``).

Views parse input, call a selector or a service and serialize the result; querysets start from
``incidents_visible_to`` so an invisible incident is a 404, never a 403.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import ISO_8601, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from accounts.audit import record_restricted_read
from accounts.models import Role, Scope, User
from accounts.permissions import may_read_back
from config.serializers import StrictFieldsMixin
from notifications.models import AckChannel
from notifications.services import incident_acknowledge

from . import selectors, services
from .converters import REFERENCE_REGEX
from .filters import IncidentFilter
from .markdown import render_markdown
from .models import (
    INCIDENT_EDITABLE_FIELDS,
    TRANSITIONS,
    Finding,
    Incident,
    Playbook,
    Resolution,
    Status,
    Task,
    TaskNote,
)
from .permissions import OPEN_REFUSAL, Action, may_open_incidents, require


@dataclass(frozen=True)
class RoleRule:
    """A rule with no incident to stand on (opening one, the vendor registry): the caller's
    global role decides, and ``refusal`` says why not."""

    allows: Callable[[User], bool]
    refusal: str

    def require(self, user: User) -> None:
        """Raise PermissionDenied (403 with ``refusal``) unless ``user`` passes."""
        if not self.allows(user):
            raise PermissionDenied(self.refusal)


OPEN_INCIDENTS = RoleRule(may_open_incidents, OPEN_REFUSAL)


class RuleFirstMixin:
    """Refuses a write the rule table does not allow before its body is read.

    ``required_actions`` maps a view's action (a viewset's action name; the lower-case method
    for a plain APIView) to the ``permissions.Action`` checked on the incident, or to a
    ``RoleRule``. Checked in ``initial()``, after authentication (401), API key scopes (403) and
    throttles, for unsafe methods only, in the order every write answers:

    1. what the URL names and the caller may not see: 404 (``find_for_rule``);
    2. the rule refuses: 403 with ``permissions.REFUSALS``' message;
    3. only then does the handler parse and validate the body (400, 413, 415).

    Where the precise rule depends on the object or on what is sent (ticking one's own task,
    editing one's own timeline event, lowering severity, a vendor answering their own company's
    question), the entry is the weakest row that could allow the write, and the service checks
    the precise one (``permissions.require``), as it does for every write anyway.
    """

    required_actions: ClassVar[Mapping[str, Action | RoleRule]] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in SAFE_METHODS:
            return
        name = self.action if hasattr(self, "action") else request.method.lower()
        if request.method.lower() not in self.http_method_names or name is None or not hasattr(self, name):
            return  # no handler: DRF answers 405
        rule = self.required_actions.get(name)
        if rule is None:  # a write without a row would be refused only once its body is read
            raise ImproperlyConfigured(f"{type(self).__name__}.required_actions has no entry for {name!r}.")
        incident = self.find_for_rule()
        if isinstance(rule, RoleRule):
            rule.require(request.user)
        else:
            require(request.user, incident, rule)

    def find_for_rule(self) -> Incident | None:
        """Look up what the URL names, raising Http404 for anything the caller may not see, and
        return the incident whose rule applies (None where the rule is a ``RoleRule``)."""
        lookup = getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", "pk")
        if lookup in self.kwargs:
            self.checked_object()
        return None

    def checked_object(self) -> Any:
        """The object the URL names, as the rule check looked it up (one lookup per request)."""
        if not hasattr(self, "_checked_object"):
            self._checked_object = self.get_object()
        return self._checked_object


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
    lead = UsernameField(read_only=True, allow_null=True)
    summary_html = serializers.SerializerMethodField()
    allowed_transitions = serializers.ListField(child=serializers.CharField(), read_only=True)
    resolution = serializers.SerializerMethodField(help_text="How it was closed; null unless closed with one.")
    duplicate_of = serializers.SerializerMethodField(
        help_text="Reference of the incident this one duplicates (resolution duplicate), else null."
    )
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    playbook = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="Opened from this playbook."
    )

    class Meta:
        model = Incident
        fields = [
            "reference", "title", "summary", "summary_html", "severity", "status", "category", "lead",
            "restricted", "personal_data", "records_affected", "detected_at", "reported_at",
            "acknowledged_at", "contained_at", "resolved_at", "closed_at", "created_at", "updated_at",
            "version", "allowed_transitions", "resolution", "closing_summary", "duplicate_of", "tags",
            "playbook",
        ]  # fmt: skip
        read_only_fields = fields

    def get_summary_html(self, incident: Incident) -> str:
        return render_markdown(incident.summary)

    @extend_schema_field(serializers.ChoiceField(choices=Resolution.choices, allow_null=True))
    def get_resolution(self, incident: Incident) -> str | None:
        return incident.resolution or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_duplicate_of(self, incident: Incident) -> str | None:
        # Read through the API the reference is annotated, NULL for an original the caller may not
        # see; an incident a service just wrote was closed by someone who saw its original.
        if hasattr(incident, "duplicate_of_reference"):
            return incident.duplicate_of_reference
        return incident.duplicate_of.reference if incident.duplicate_of_id else None


class IncidentListSerializer(IncidentSerializer):
    """The list is an index: the summary (up to 50,000 characters of Markdown, ~0.65 ms per row
    to render) and the closing summary are left to the single-incident view, and not even read
    from the database."""

    class Meta(IncidentSerializer.Meta):
        fields = [f for f in IncidentSerializer.Meta.fields if f not in {"summary", "summary_html", "closing_summary"}]
        read_only_fields = fields


class IncidentListRows:
    """The list's items straight from ``.values()``: what ``IncidentListSerializer`` answers,
    without a model instance and a serializer field call per column. At 50 per page that is
    ~1,000 field calls and 100 model instances a request, more than half of the list's time in
    the worker; ``test_list_items_are_the_detail_without_its_summaries`` (tests/incidents/test_api.py)
    holds the two to the same output."""

    PLAIN = (
        "reference", "title", "severity", "status", "category", "restricted", "personal_data", "records_affected",
    )  # fmt: skip
    TIMES = (
        "detected_at", "reported_at", "acknowledged_at", "contained_at", "resolved_at", "closed_at", "created_at",
        "updated_at",
    )  # fmt: skip
    COLUMNS = (
        "id",
        *PLAIN,
        *TIMES,
        "version",
        "resolution",
        "duplicate_of_reference",
        "lead__username",
        "playbook__slug",
    )

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tags: dict[int, list[str]] = {row["id"]: [] for row in rows}
        names = Incident.tags.through.objects.filter(incident_id__in=tags).order_by("tag__name", "tag_id")
        for incident_id, name in names.values_list("incident_id", "tag__name"):
            tags[incident_id].append(name)
        time = cls._time_format()
        return [cls._item(row, tags[row["id"]], time) for row in rows]

    @staticmethod
    def _time_format() -> Callable[[Any], str]:
        """DRF's ``DateTimeField.to_representation`` for ISO 8601 (the setting's default) in the
        current time zone, without its per-call lookups: a page has 400 times to write."""
        if api_settings.DATETIME_FORMAT.lower() != ISO_8601:
            return serializers.DateTimeField().to_representation
        zone = timezone.get_current_timezone()

        def iso(value: Any) -> str:
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return iso

    @classmethod
    def _item(cls, row: dict[str, Any], tags: list[str], time: Callable[[Any], str]) -> dict[str, Any]:
        item = {name: row[name] for name in cls.PLAIN[:5]}
        item["lead"] = row["lead__username"]
        for name in cls.PLAIN[5:]:
            item[name] = row[name]
        for name in cls.TIMES:
            item[name] = None if row[name] is None else time(row[name])
        item["version"] = row["version"]
        item["allowed_transitions"] = list(TRANSITIONS[row["status"]])
        item["resolution"] = row["resolution"] or None
        item["duplicate_of"] = row["duplicate_of_reference"]
        item["tags"] = tags
        item["playbook"] = row["playbook__slug"]
        return item


# Set by POST …/close/ only, cleared by POST …/reopen/.
CLOSING_FIELDS = ("resolution", "closing_summary", "duplicate_of")


class IncidentWriteSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    lead = UsernameField(required=False, allow_null=True)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True),
        required=False,
        max_length=50,
        help_text="Free labels, stored in lower case; on PATCH the whole list replaces the old one.",
    )

    read_only_names = frozenset(IncidentSerializer.Meta.fields)
    read_only_messages = {
        "status": "Open the incident, then change its status with POST /api/v1/incidents/{reference}/transition/.",
        "reference": "References are assigned by Breachline.",
        **dict.fromkeys(CLOSING_FIELDS, "Set when closing: POST /api/v1/incidents/{reference}/close/."),
    }

    class Meta:
        model = Incident
        fields = [*INCIDENT_EDITABLE_FIELDS, "tags"]


class IncidentCreateSerializer(IncidentWriteSerializer):
    template = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Playbook.objects.filter(active=True),
        required=False,
        allow_null=True,
        help_text="Open from this playbook (its slug): its defaults fill what you leave out and its tasks are created.",
    )

    class Meta(IncidentWriteSerializer.Meta):
        fields = [*IncidentWriteSerializer.Meta.fields, "template"]


class IncidentUpdateSerializer(IncidentWriteSerializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you read; 409 if it changed since.")

    read_only_messages = {
        "status": "Change the status with POST /api/v1/incidents/{reference}/transition/.",
        "reference": "The reference cannot be changed.",
        **dict.fromkeys(CLOSING_FIELDS, "Set when closing: POST /api/v1/incidents/{reference}/close/."),
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
    to = serializers.ChoiceField(
        choices=Status.choices,
        help_text="Not to closed (POST …/close/ asks for a resolution), nor out of it (POST …/reopen/ asks why).",
    )
    version = serializers.IntegerField(min_value=1, required=False, help_text="Optional optimistic-lock check.")
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1_000,
        help_text="To contained while an entry-point vendor's access is still active: why (lead or admin; "
        "recorded with the items). Without it that move is a 400 on to naming the items.",
    )


class CloseSerializer(StrictFieldsMixin, serializers.Serializer):
    resolution = serializers.ChoiceField(choices=Resolution.choices)
    closing_summary = serializers.CharField(
        required=False, allow_blank=True, help_text="Markdown, up to 20,000 characters. Required for true_positive."
    )
    duplicate_of = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="With resolution duplicate only: the reference of the original (IR-2026-0042), an incident "
        "you can see that is not itself a duplicate.",
    )
    open_tasks = serializers.ChoiceField(
        choices=[(services.OPEN_TASKS_KEEP, "Keep them open"), (services.OPEN_TASKS_CANCEL, "Cancel them")],
        required=False,
        help_text="Required when tasks are still open (to do, in progress): keep them as follow-up work, or "
        "cancel them with the closing as the reason. Without it such a close is a 400 listing them.",
    )
    version = serializers.IntegerField(min_value=1, required=False, help_text="Optional optimistic-lock check.")


class ReopenSerializer(StrictFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(help_text="Why it is reopened (kept in the activity log), up to 1,000 characters.")
    version = serializers.IntegerField(min_value=1, required=False, help_text="Optional optimistic-lock check.")


class AcknowledgementSerializer(serializers.Serializer):
    incident = serializers.CharField(source="incident.reference", help_text="The incident's reference.")
    user = serializers.CharField(source="user.username", allow_null=True, help_text="Who acknowledged.")
    channel = serializers.CharField(help_text="web, api, link or status (leaving new).")
    at = serializers.DateTimeField()
    escalation_stopped = serializers.SerializerMethodField(help_text="Whether a running escalation was stopped.")
    acknowledged_at = serializers.DateTimeField(
        source="incident.acknowledged_at", help_text="The first acknowledgement: what the SLA measures."
    )

    def get_escalation_stopped(self, acknowledgement) -> bool:
        return acknowledgement.escalation_id is not None


class FindingSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    author = UsernameField(read_only=True)
    body_html = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = ["id", "author", "body", "body_html", "critical", "internal", "created_at"]
        read_only_fields = ["id", "author", "body_html", "created_at"]
        extra_kwargs = {
            "critical": {"required": False, "help_text": "Critical: the incident's members are told at once."},
            "internal": {
                "required": False,
                "help_text": "Hidden from vendor collaborators. Defaults to the incident's restricted flag.",
            },
        }

    def get_body_html(self, finding: Finding) -> str:
        return render_markdown(finding.body)


class TaskSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    assignee = UsernameField(required=False, allow_null=True)
    overdue = serializers.SerializerMethodField(help_text="Due date past and the task still open.")

    class Meta:
        model = Task
        fields = [
            "id", "title", "assignee", "due_on", "status", "cancel_reason", "done", "done_at", "overdue",
            "internal", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "done_at", "overdue", "created_at"]
        extra_kwargs = {
            "due_on": {"help_text": "Not in the past when set (on creation, or when changed)."},
            "status": {"help_text": "todo, in_progress, done (same as done: true), cancelled (with cancel_reason)."},
            "cancel_reason": {"help_text": "Required with status cancelled; only a cancelled task has one."},
        }

    def get_overdue(self, task: Task) -> bool:
        return task.is_overdue()

    def validate(self, attrs: dict) -> dict:
        if self.instance is None:
            # task_add starts every task as to do: a status sent on creation would be ignored.
            message = "A new task starts as to do; change this with PATCH once it exists."
            errors = {field: [message] for field in ("status", "cancel_reason", "done") if field in attrs}
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


class TaskNoteSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    author = UsernameField(read_only=True)

    class Meta:
        model = TaskNote
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class IncidentViewSet(
    RuleFirstMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents visible to the caller. Status changes go through ``transition``."""

    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    lookup_field = "reference"
    lookup_value_regex = REFERENCE_REGEX
    http_method_names = ["get", "post", "patch", "head", "options"]
    read_scope = Scope.INCIDENTS_READ
    write_scope = Scope.INCIDENTS_WRITE
    # PATCH: EDIT is the weakest row any field needs (severity: RAISE/LOWER_SEVERITY, the lead and
    # restricted: MANAGE_ACCESS allow nobody EDIT refuses); incident_update checks each change's.
    required_actions = {
        "create": OPEN_INCIDENTS,
        "partial_update": Action.EDIT,
        "transition": Action.TRANSITION,
        "close": Action.TRANSITION,
        "reopen": Action.TRANSITION,
        "acknowledge": Action.ACKNOWLEDGE,
    }

    def get_queryset(self):
        incidents = (
            selectors.incidents_visible_to(self.request.user)
            .select_related("lead", "playbook")
            .prefetch_related("tags")
        )
        # The original of a duplicate by reference, when the caller may see it: in the same query.
        incidents = incidents.annotate(duplicate_of_reference=selectors.original_reference(self.request.user))
        return incidents.defer("summary", "closing_summary") if self.action == "list" else incidents

    def get_serializer_class(self):
        return IncidentListSerializer if self.action == "list" else IncidentSerializer

    def list(self, request: Request) -> Response:
        # What IncidentListSerializer would answer (the schema says so), built from values().
        incidents = self.filter_queryset(self.get_queryset()).prefetch_related(None)
        # A search's rank, when it orders the page, is selected once and ordered by position.
        ranked = [name for name in ("search_rank",) if name in incidents.query.annotations]
        rows = self.paginate_queryset(incidents.values(*IncidentListRows.COLUMNS, *ranked))
        return self.get_paginated_response(IncidentListRows.of(rows))

    def find_for_rule(self) -> Incident | None:
        return self.checked_object() if self.lookup_field in self.kwargs else None

    def retrieve(self, request: Request, reference: str) -> Response:
        incident = self.get_object()
        record_restricted_read(request=request, incident=incident)
        return Response(self.get_serializer(incident).data)

    def _written(self, incident: Incident) -> dict:
        full = may_read_back(self.request, self)
        return (IncidentSerializer if full else IncidentWriteResultSerializer)(incident).data

    @extend_schema(
        request=IncidentCreateSerializer,
        responses={201: IncidentSerializer},
        description="Answers the whole incident; a key without incidents:read gets reference and version only.",
    )
    def create(self, request: Request) -> Response:
        serializer = IncidentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        incident = services.incident_open(opened_by=request.user, playbook=fields.pop("template", None), **fields)
        headers = {"Location": reverse("api:incident-detail", kwargs={"reference": incident.reference})}
        return Response(self._written(incident), status=status.HTTP_201_CREATED, headers=headers)

    @extend_schema(request=IncidentUpdateSerializer, responses={200: IncidentSerializer, 409: None})
    def partial_update(self, request: Request, reference: str) -> Response:
        incident = self.checked_object()
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
        incident = self.checked_object()
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.incident_transition(
            incident=incident,
            to=serializer.validated_data["to"],
            version=serializer.validated_data.get("version"),
            override_reason=serializer.validated_data.get("override_reason", ""),
            actor=request.user,
        )
        return Response(self._written(incident))

    @extend_schema(
        request=CloseSerializer,
        responses={200: IncidentSerializer, 409: None},
        description="Close with a resolution (the only way to closed). 400 naming open_tasks while tasks are "
        "still open and open_tasks is not given; 400 without a field when the status cannot close.",
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, reference: str) -> Response:
        incident = self.checked_object()
        serializer = CloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.incident_close(incident=incident, actor=request.user, **serializer.validated_data)
        return Response(self._written(incident))

    @extend_schema(
        request=None,
        responses={200: AcknowledgementSerializer, 409: None},
        description="Take the incident: records who acknowledged it through the API and stops its running "
        "escalation. The first acknowledgement stamps acknowledged_at (what the SLA measures). 409 when it was "
        "acknowledged before and no escalation is running; 400 when it is closed.",
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, reference: str) -> Response:
        incident = self.checked_object()
        acknowledgement = incident_acknowledge(incident=incident, actor=request.user, channel=AckChannel.API)
        return Response(AcknowledgementSerializer(acknowledgement).data)

    @extend_schema(
        request=ReopenSerializer,
        responses={200: IncidentSerializer, 409: None},
        description="Reopen a closed incident (back to investigating) with a reason; clears the resolution.",
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, reference: str) -> Response:
        incident = self.checked_object()
        serializer = ReopenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.incident_reopen(incident=incident, actor=request.user, **serializer.validated_data)
        return Response(self._written(incident))


class IncidentChildMixin(RuleFirstMixin):
    """For endpoints nested under ``/incidents/<reference>/``: the parent must be visible."""

    read_scope = Scope.INCIDENTS_READ
    write_scope = Scope.INCIDENTS_WRITE

    def _written(self, response: Response) -> Response:
        # A write-only key learns the id of what it wrote and nothing else (see may_read_back).
        if not may_read_back(self.request, self):
            response.data = {"id": response.data["id"]}
        return response

    # No create()/update() here: a router maps PUT/PATCH routes for any viewset that has an
    # ``update`` attribute, so each viewset wraps only the actions it really has.

    def get_incident(self) -> Incident:
        if not hasattr(self, "_incident"):
            incident = selectors.incident_get(viewer=self.request.user, reference=self.kwargs["reference"])
            if incident is None:
                raise Http404
            self._incident = incident
        return self._incident

    def find_for_rule(self) -> Incident | None:
        incident = self.get_incident()
        super().find_for_rule()  # the child the URL names, if any: 404 before 403
        return incident


class FindingViewSet(IncidentChildMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = FindingSerializer
    required_actions = {"create": Action.CONTRIBUTE}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return Finding.objects.none()
        return selectors.shared_with(self.get_incident().findings.select_related("author"), self.request.user)

    def create(self, request: Request, *args, **kwargs) -> Response:
        return self._written(super().create(request, *args, **kwargs))

    def perform_create(self, serializer: FindingSerializer) -> None:
        serializer.instance = services.finding_add(
            incident=self.get_incident(),
            author=self.request.user,
            body=serializer.validated_data["body"],
            internal=serializer.validated_data.get("internal"),
            critical=serializer.validated_data.get("critical", False),
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
    # PATCH: ticking one's own task is the weakest (task_update checks UPDATE_ANY_TASK for the rest).
    required_actions = {
        "create": Action.CONTRIBUTE,
        "partial_update": Action.UPDATE_OWN_TASK,
        "notes": Action.CONTRIBUTE,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return Task.objects.none()
        return selectors.shared_with(self.get_incident().tasks.select_related("assignee"), self.request.user)

    def get_object(self) -> Task:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def create(self, request: Request, *args, **kwargs) -> Response:
        return self._written(super().create(request, *args, **kwargs))

    def update(self, request: Request, *args, **kwargs) -> Response:
        return self._written(super().update(request, *args, **kwargs))

    def perform_create(self, serializer: TaskSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.task_add(
            incident=self.get_incident(),
            actor=self.request.user,
            title=data["title"],
            assignee=data.get("assignee"),
            due_on=data.get("due_on"),
            internal=data.get("internal"),
        )

    def perform_update(self, serializer: TaskSerializer) -> None:
        serializer.instance = services.task_update(
            task=serializer.instance, actor=self.request.user, changes=dict(serializer.validated_data)
        )

    @extend_schema(methods=["GET"], responses={200: TaskNoteSerializer(many=True)})
    @extend_schema(methods=["POST"], request=TaskNoteSerializer, responses={201: TaskNoteSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=TaskNoteSerializer)
    def notes(self, request: Request, reference: str, pk: str) -> Response:
        """The task's log, oldest first (GET, paginated); POST adds a note (``task_note_add``)."""
        task = self.checked_object()
        if request.method == "POST":
            serializer = TaskNoteSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            note = services.task_note_add(task=task, author=request.user, body=serializer.validated_data["body"])
            return self._written(Response(TaskNoteSerializer(note).data, status=status.HTTP_201_CREATED))
        page = self.paginate_queryset(task.notes.select_related("author"))
        return self.get_paginated_response(TaskNoteSerializer(page, many=True).data)
