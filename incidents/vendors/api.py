"""REST API for vendors.

- ``/api/v1/vendors/``: the registry. ``GET`` (paginated; ``q`` name or domain, ``tier``,
  ``involved_open``), ``GET {id}/``, ``POST`` and ``PATCH {id}/`` (admins and incident leads, or
  their keys), ``DELETE {id}/`` (only a vendor never involved in an incident, else 409). Vendor
  collaborators get 404 for all of it.
- ``/api/v1/incidents/{reference}/vendors/``: the vendors on an incident (a vendor collaborator:
  their own company's only). ``GET``, ``POST`` (``vendor`` id, ``role``, ``vendor_reference``),
  ``GET/PATCH/DELETE {id}/`` (role and reference; ``Action.MANAGE_VENDORS``).
- ``/api/v1/incidents/{reference}/vendors/{involvement_id}/access/``: the involvement's access
  items. ``GET``, ``POST`` (kind, system, identifier, privilege), ``GET {id}/``,
  ``POST {id}/step/`` (``to``, ``note``, ``verified_unused_since``), ``POST fill/`` (copy the
  registry's known access). Writes: ``Action.MANAGE_VENDORS``.
- ``…/vendors/{involvement_id}/questions/``: questions to the vendor. ``GET``, ``POST``
  (``question``, ``due_at``), ``GET {id}/``, ``POST {id}/answer/``.
- ``/api/v1/incidents/{reference}/scope/``: affected scope. ``GET``, ``POST``, ``DELETE {id}/``.
- ``/api/v1/vendors/{vendor_id}/known-access/``: what the registry knows the vendor holds.
  ``GET``, ``POST`` (registry editors). 404 for vendor collaborators.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Scope
from config.serializers import StrictFieldsMixin

from ..api import IncidentChildMixin, RoleRule, RuleFirstMixin, may_read_back
from ..models import (
    VENDOR_DOMAINS_MAX,
    AccessKind,
    AccessState,
    AffectedScope,
    Incident,
    ScopeKind,
    Vendor,
    VendorAccess,
    VendorAccessStep,
    VendorInvolvement,
    VendorKnownAccess,
    VendorQuestion,
    VendorRole,
    VendorTier,
)
from ..permissions import Action, may_edit_vendor_registry, may_see_vendor_registry
from ..selectors import sees_internal
from . import scope as scope_module
from . import selectors, services
from .filters import VendorFilter

EDIT_REGISTRY = RoleRule(may_edit_vendor_registry, services.REGISTRY_REFUSAL)


class RegistryMixin(RuleFirstMixin):
    """The vendor registry: a 404 for vendor collaborators (it does not exist for them), checked
    with the permissions (after 401 and API key scopes) so that it comes before any refusal."""

    read_scope = Scope.INCIDENTS_READ
    write_scope = Scope.INCIDENTS_WRITE

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if not may_see_vendor_registry(request.user):
            raise Http404


class VendorSerializer(serializers.ModelSerializer):
    domains = serializers.ListField(child=serializers.CharField(), read_only=True)
    open_incidents = serializers.SerializerMethodField(help_text="Open incidents you can see it is involved in.")

    class Meta:
        model = Vendor
        fields = [
            "id", "name", "domains", "tier", "service", "data_processed", "security_contact",
            "account_manager", "contract_reference", "created_at", "updated_at", "open_incidents",
        ]  # fmt: skip
        read_only_fields = fields

    def get_open_incidents(self, vendor: Vendor) -> int:
        return getattr(vendor, "open_incidents", 0)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise serializers.ValidationError("Null characters are not allowed.")
    return value


class VendorWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, validators=[_no_nul])
    domains = serializers.ListField(
        child=serializers.CharField(max_length=300, validators=[_no_nul]),
        required=False,
        max_length=VENDOR_DOMAINS_MAX,
        help_text="Domains (Unicode or defanged accepted); stored lower-case, IDNA, de-duplicated.",
    )
    tier = serializers.ChoiceField(choices=VendorTier.choices, required=False)
    service = serializers.CharField(required=False, allow_blank=True, max_length=2_000, validators=[_no_nul])
    data_processed = serializers.CharField(required=False, allow_blank=True, max_length=2_000, validators=[_no_nul])
    security_contact = serializers.CharField(required=False, allow_blank=True, max_length=300, validators=[_no_nul])
    account_manager = serializers.CharField(required=False, allow_blank=True, max_length=300, validators=[_no_nul])
    contract_reference = serializers.CharField(required=False, allow_blank=True, max_length=200, validators=[_no_nul])

    read_only_names = frozenset(VendorSerializer.Meta.fields)


class VendorUpdateSerializer(VendorWriteSerializer):
    name = serializers.CharField(max_length=200, required=False, validators=[_no_nul])


class VendorConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()


class VendorViewSet(
    RegistryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = VendorSerializer
    filterset_class = VendorFilter
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_actions = {"create": EDIT_REGISTRY, "partial_update": EDIT_REGISTRY, "destroy": EDIT_REGISTRY}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Vendor.objects.none()
        return selectors.with_open_incidents(selectors.registry_for(self.request.user), self.request.user)

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        vendor_filter = VendorFilter(self.request.query_params, queryset=queryset, viewer=self.request.user)
        if not vendor_filter.is_valid():
            raise serializers.ValidationError(vendor_filter.errors)
        return vendor_filter.qs

    def get_object(self) -> Vendor:
        vendor = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if vendor is None:
            raise Http404
        return vendor

    def _read(self, vendor: Vendor) -> dict:
        return VendorSerializer(self.get_queryset().get(pk=vendor.pk)).data

    @extend_schema(request=VendorWriteSerializer, responses={201: VendorSerializer})
    def create(self, request: Request) -> Response:
        serializer = VendorWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        vendor = services.vendor_create(actor=request.user, **serializer.validated_data)
        return Response(self._read(vendor), status=status.HTTP_201_CREATED)

    @extend_schema(request=VendorUpdateSerializer, responses={200: VendorSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        vendor = self.checked_object()
        serializer = VendorUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.vendor_update(vendor=vendor, actor=request.user, data=serializer.validated_data)
        return Response(self._read(vendor))

    @extend_schema(responses={204: None, 409: VendorConflictSerializer})
    def destroy(self, request: Request, pk: str) -> Response:
        vendor = self.checked_object()
        try:
            services.vendor_delete(vendor=vendor, actor=request.user)
        except services.VendorInUseError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Involvements ------------------------------------------------------------------------------
class InvolvementSerializer(serializers.ModelSerializer):
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    added_by = serializers.SerializerMethodField(help_text="Who added it (null for vendor collaborators).")

    class Meta:
        model = VendorInvolvement
        fields = ["id", "vendor", "vendor_name", "role", "vendor_reference", "added_by", "added_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_added_by(self, involvement: VendorInvolvement) -> str | None:
        # Vendor collaborators are shown the incident's lead and themselves, never the rest of the
        # team (selectors.memberships_shown_to).
        viewer = self.context.get("viewer")
        if viewer is None or not sees_internal(viewer) or involvement.added_by is None:
            return None
        return involvement.added_by.username


class InvolvementUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=VendorRole.choices, required=False)
    vendor_reference = serializers.CharField(required=False, allow_blank=True, max_length=100, validators=[_no_nul])

    read_only_names = frozenset(InvolvementSerializer.Meta.fields)
    read_only_messages = {
        "vendor": "An involvement is one vendor's: remove it and add the other vendor instead.",
        "vendor_name": "An involvement is one vendor's: remove it and add the other vendor instead.",
    }


class InvolvementCreateSerializer(InvolvementUpdateSerializer):
    vendor = serializers.PrimaryKeyRelatedField(
        queryset=Vendor.objects.all(), help_text="The vendor's id in the registry."
    )
    read_only_messages = {}


class InvolvementViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = InvolvementSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # A vendor collaborator learns nothing about the registry's ids from a 400: the rule comes first.
    required_actions = dict.fromkeys(["create", "partial_update", "destroy"], Action.MANAGE_VENDORS)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VendorInvolvement.objects.none()
        involvements = selectors.involvements_for(self.request.user, self.get_incident())
        return involvements.select_related("vendor", "added_by").order_by("added_at", "id")

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "viewer": self.request.user}

    def get_object(self) -> VendorInvolvement:
        involvement = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if involvement is None:
            raise Http404
        involvement.incident = self.get_incident()
        return involvement

    def _body(self, involvement: VendorInvolvement) -> dict:
        return InvolvementSerializer(involvement, context=self.get_serializer_context()).data

    @extend_schema(request=InvolvementCreateSerializer, responses={201: InvolvementSerializer})
    def create(self, request: Request, reference: str) -> Response:
        incident = self.get_incident()
        serializer = InvolvementCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        involvement = services.involvement_add(incident=incident, actor=request.user, **serializer.validated_data)
        return self._written(Response(self._body(involvement), status=status.HTTP_201_CREATED))

    @extend_schema(request=InvolvementUpdateSerializer, responses={200: InvolvementSerializer})
    def partial_update(self, request: Request, reference: str, pk: str) -> Response:
        involvement = self.checked_object()
        serializer = InvolvementUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.involvement_update(involvement=involvement, actor=request.user, data=serializer.validated_data)
        return self._written(Response(self._body(involvement)))

    def destroy(self, request: Request, reference: str, pk: str) -> Response:
        involvement = self.checked_object()
        services.involvement_remove(involvement=involvement, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Access items ------------------------------------------------------------------------------
class AccessStepSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="Who took the step (null for vendor collaborators).")

    class Meta:
        model = VendorAccessStep
        fields = ["from_state", "to_state", "actor", "at", "note", "verified_unused_since"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, step: VendorAccessStep) -> str | None:
        viewer = self.context.get("viewer")
        if viewer is None or not sees_internal(viewer) or step.actor is None:
            return None
        return step.actor.username


class VendorAccessSerializer(serializers.ModelSerializer):
    steps = AccessStepSerializer(many=True, read_only=True)

    class Meta:
        model = VendorAccess
        fields = [
            "id", "kind", "system", "identifier", "privilege", "state", "verified_unused_since", "known",
            "added_at", "state_changed_at", "steps",
        ]  # fmt: skip
        read_only_fields = fields


class VendorAccessCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=AccessKind.choices)
    system = serializers.CharField(max_length=200, validators=[_no_nul])
    identifier = serializers.CharField(max_length=300, validators=[_no_nul])
    privilege = serializers.CharField(required=False, allow_blank=True, max_length=200, validators=[_no_nul])

    read_only_names = frozenset(VendorAccessSerializer.Meta.fields)
    read_only_messages = {
        "state": "Move it with POST …/access/{id}/step/ (one step at a time).",
        "verified_unused_since": "Given with the verified unused step: POST …/access/{id}/step/.",
    }


class VendorAccessStepWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    to = serializers.ChoiceField(
        choices=AccessState.choices,
        help_text="The next state: active → revoked → rotated → verified_unused (revoked → verified_unused "
        "for OAuth grants, network paths and physical badges).",
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=2_000, validators=[_no_nul], help_text="How; required "
        "for verified_unused (how it was verified)."
    )  # fmt: skip
    verified_unused_since = serializers.DateTimeField(required=False, help_text="Required for verified_unused.")


class InvolvementChildMixin(IncidentChildMixin):
    """For endpoints under ``…/vendors/{involvement_id}/``: the involvement must be visible too."""

    def get_involvement(self) -> VendorInvolvement:
        if not hasattr(self, "_involvement"):
            involvement = (
                selectors.involvements_for(self.request.user, self.get_incident())
                .select_related("vendor")
                .filter(pk=self.kwargs["involvement_id"])
                .first()
            )
            if involvement is None:
                raise Http404
            involvement.incident = self.get_incident()
            self._involvement = involvement
        return self._involvement

    def find_for_rule(self) -> Incident | None:
        self.get_involvement()  # an involvement the caller may not see: 404 before 403
        return super().find_for_rule()


class VendorAccessViewSet(
    InvolvementChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = VendorAccessSerializer
    lookup_value_regex = r"\d+"
    required_actions = dict.fromkeys(["create", "step", "fill"], Action.MANAGE_VENDORS)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VendorAccess.objects.none()
        steps = Prefetch("steps", queryset=VendorAccessStep.objects.select_related("actor").order_by("at", "id"))
        return (
            VendorAccess.objects.filter(involvement=self.get_involvement())
            .prefetch_related(steps)
            .order_by("added_at", "id")
        )

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "viewer": self.request.user}

    def get_object(self) -> VendorAccess:
        access = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if access is None:
            raise Http404
        access.involvement = self.get_involvement()
        return access

    def _body(self, access: VendorAccess) -> dict:
        return VendorAccessSerializer(self.get_object_by_pk(access.pk), context=self.get_serializer_context()).data

    def get_object_by_pk(self, pk: int) -> VendorAccess:
        return self.get_queryset().get(pk=pk)

    @extend_schema(request=VendorAccessCreateSerializer, responses={201: VendorAccessSerializer})
    def create(self, request: Request, reference: str, involvement_id: str) -> Response:
        involvement = self.get_involvement()
        serializer = VendorAccessCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access = services.access_add(involvement=involvement, actor=request.user, **serializer.validated_data)
        return self._written(Response(self._body(access), status=status.HTTP_201_CREATED))

    @extend_schema(request=VendorAccessStepWriteSerializer, responses={200: VendorAccessSerializer})
    @action(detail=True, methods=["post"])
    def step(self, request: Request, reference: str, involvement_id: str, pk: str) -> Response:
        access = self.checked_object()
        serializer = VendorAccessStepWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.access_step(access=access, actor=request.user, **serializer.validated_data)
        return self._written(Response(self._body(access)))

    @extend_schema(request=None, responses={200: VendorAccessSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def fill(self, request: Request, reference: str, involvement_id: str) -> Response:
        """Copy the vendor's known access from the registry; answers the items added."""
        involvement = self.get_involvement()
        added = services.access_fill_from_registry(involvement=involvement, actor=request.user)
        rows = self.get_queryset().filter(pk__in=[item.pk for item in added])
        data = VendorAccessSerializer(rows, many=True, context=self.get_serializer_context()).data
        if not may_read_back(request, self):
            data = [{"id": row["id"]} for row in data]
        return Response(data)


# --- Known access (the registry) ---------------------------------------------------------------
class KnownAccessSerializer(serializers.ModelSerializer):
    class Meta:
        model = VendorKnownAccess
        fields = ["id", "kind", "system", "identifier", "privilege", "notes", "created_at"]
        read_only_fields = fields


class KnownAccessWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=AccessKind.choices)
    system = serializers.CharField(max_length=200, validators=[_no_nul])
    identifier = serializers.CharField(max_length=300, validators=[_no_nul])
    privilege = serializers.CharField(required=False, allow_blank=True, max_length=200, validators=[_no_nul])
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2_000, validators=[_no_nul])

    read_only_names = frozenset(KnownAccessSerializer.Meta.fields)


class KnownAccessViewSet(RegistryMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = KnownAccessSerializer
    http_method_names = ["get", "post", "head", "options"]
    required_actions = {"create": EDIT_REGISTRY}

    def get_vendor(self) -> Vendor:
        if not hasattr(self, "_vendor"):
            vendor = selectors.vendor_get(viewer=self.request.user, vendor_id=int(self.kwargs["vendor_id"]))
            if vendor is None:
                raise Http404
            self._vendor = vendor
        return self._vendor

    def find_for_rule(self) -> Incident | None:
        self.get_vendor()  # an unknown vendor: 404 before 403
        return None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VendorKnownAccess.objects.none()
        return selectors.known_access(self.get_vendor())

    @extend_schema(request=KnownAccessWriteSerializer, responses={201: KnownAccessSerializer})
    def create(self, request: Request, vendor_id: str) -> Response:
        vendor = self.get_vendor()
        serializer = KnownAccessWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        known = services.known_access_add(vendor=vendor, actor=request.user, **serializer.validated_data)
        return Response(KnownAccessSerializer(known).data, status=status.HTTP_201_CREATED)


# --- Questions to the vendor -------------------------------------------------------------------
class QuestionSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField(help_text="open, answered or overdue (unanswered past due_at).")
    asked_by = serializers.SerializerMethodField(help_text="Who asked (null for vendor collaborators).")
    answered_by = serializers.SerializerMethodField(help_text="Who answered (null when unanswered).")

    class Meta:
        model = VendorQuestion
        fields = ["id", "question", "due_at", "status", "asked_by", "asked_at", "answer", "answered_by", "answered_at"]
        read_only_fields = fields

    def get_status(self, question: VendorQuestion) -> str:
        return question.status

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_asked_by(self, question: VendorQuestion) -> str | None:
        viewer = self.context.get("viewer")
        if viewer is None or not sees_internal(viewer) or question.asked_by is None:
            return None
        return question.asked_by.username

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_answered_by(self, question: VendorQuestion) -> str | None:
        # A vendor collaborator sees their own name on their answers, never a staff member's.
        viewer = self.context.get("viewer")
        who = question.answered_by
        if who is None or viewer is None or (not sees_internal(viewer) and who.pk != viewer.pk):
            return None
        return who.username


class QuestionCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    question = serializers.CharField(max_length=2_000, validators=[_no_nul])
    due_at = serializers.DateTimeField(help_text="When the answer is due; not in the past.")

    read_only_names = frozenset(QuestionSerializer.Meta.fields)
    read_only_messages = {"answer": "Answer with POST …/questions/{id}/answer/."}


class QuestionAnswerSerializer(StrictFieldsMixin, serializers.Serializer):
    answer = serializers.CharField(max_length=10_000, validators=[_no_nul])

    read_only_names = frozenset(QuestionSerializer.Meta.fields) - {"answer"}


class QuestionViewSet(InvolvementChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """``/api/v1/incidents/{reference}/vendors/{involvement_id}/questions/``: ``GET``, ``POST``
    (``question``, ``due_at``; ``manage_vendors``), ``GET {id}/``, ``POST {id}/answer/``
    (``answer``; ``answer_vendor_questions``: their own company's collaborator or the staff)."""

    serializer_class = QuestionSerializer
    lookup_value_regex = r"\d+"
    # answer: a vendor collaborator only their own company's (they see no other involvement, and
    # question_answer checks again).
    required_actions = {"create": Action.MANAGE_VENDORS, "answer": Action.ANSWER_VENDOR_QUESTIONS}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VendorQuestion.objects.none()
        return (
            VendorQuestion.objects.filter(involvement=self.get_involvement())
            .select_related("asked_by", "answered_by")
            .order_by("due_at", "id")
        )

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "viewer": self.request.user}

    def get_object(self) -> VendorQuestion:
        question = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if question is None:
            raise Http404
        question.involvement = self.get_involvement()
        return question

    def _body(self, question: VendorQuestion) -> dict:
        fresh = self.get_queryset().get(pk=question.pk)
        return QuestionSerializer(fresh, context=self.get_serializer_context()).data

    @extend_schema(request=QuestionCreateSerializer, responses={201: QuestionSerializer})
    def create(self, request: Request, reference: str, involvement_id: str) -> Response:
        involvement = self.get_involvement()
        serializer = QuestionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        question = services.question_ask(involvement=involvement, actor=request.user, **serializer.validated_data)
        return self._written(Response(self._body(question), status=status.HTTP_201_CREATED))

    @extend_schema(request=QuestionAnswerSerializer, responses={200: QuestionSerializer})
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, reference: str, involvement_id: str, pk: str) -> Response:
        question = self.checked_object()
        serializer = QuestionAnswerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.question_answer(question=question, actor=request.user, **serializer.validated_data)
        return self._written(Response(self._body(question)))


# --- Affected scope ----------------------------------------------------------------------------
class ScopeSerializer(serializers.ModelSerializer):
    data_categories = serializers.ListField(child=serializers.CharField(), read_only=True)
    jurisdictions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = AffectedScope
        fields = [
            "id", "kind", "name", "owner", "data_categories", "records", "jurisdictions", "internal", "added_at",
        ]  # fmt: skip
        read_only_fields = fields


class ScopeCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ScopeKind.choices)
    name = serializers.CharField(max_length=200, validators=[_no_nul])
    owner = serializers.CharField(required=False, allow_blank=True, max_length=200, validators=[_no_nul])
    data_categories = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=20,
        help_text="personal, health, financial, credentials, model_weights_ip, other.",
    )  # fmt: skip
    records = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    jurisdictions = serializers.ListField(
        child=serializers.CharField(max_length=10), required=False, max_length=250,
        help_text="ISO 3166-1 alpha-2 codes of the people concerned (upper-cased).",
    )  # fmt: skip
    internal = serializers.BooleanField(
        required=False, help_text="Hidden from vendor collaborators. Defaults to the incident's restricted flag."
    )

    read_only_names = frozenset(ScopeSerializer.Meta.fields) - {"internal"}


class ScopeViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """``/api/v1/incidents/{reference}/scope/``: ``GET`` (internal rows hidden from vendor
    collaborators), ``POST`` and ``DELETE {id}/`` (``edit``). Each write derives the incident's
    ``personal_data`` and ``records_affected`` (docs/architecture.md, "Vendors")."""

    serializer_class = ScopeSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "delete", "head", "options"]
    required_actions = {"create": Action.EDIT, "destroy": Action.EDIT}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AffectedScope.objects.none()
        return scope_module.scope_for(self.request.user, self.get_incident())

    def get_object(self) -> AffectedScope:
        row = scope_module.scope_get(viewer=self.request.user, incident=self.get_incident(), scope_id=self.kwargs["pk"])
        if row is None:
            raise Http404
        return row

    @extend_schema(request=ScopeCreateSerializer, responses={201: ScopeSerializer})
    def create(self, request: Request, reference: str) -> Response:
        incident = self.get_incident()
        serializer = ScopeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = scope_module.scope_add(incident=incident, actor=request.user, **serializer.validated_data)
        return self._written(Response(ScopeSerializer(row).data, status=status.HTTP_201_CREATED))

    def destroy(self, request: Request, reference: str, pk: str) -> Response:
        scope_module.scope_remove(scope=self.checked_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
