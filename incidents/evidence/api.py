"""REST API for evidence (``/api/v1/incidents/{reference}/evidence/``) and legal holds.

- ``GET …/evidence/`` (paginated) and ``GET …/evidence/{id}/``: what the caller may see
  (``shared_with``: a vendor collaborator's key never lists internal evidence).
- ``POST …/evidence/``: multipart, one or many files under ``file`` plus the descriptive fields.
  Streamed through ``EvidenceUploadHandler`` (installed before DRF parses anything, see
  ``initialize_request``); a file over ``EVIDENCE_MAX_BYTES`` is a 413 and leaves nothing behind.
  Answers 201 with the list of evidence created.
- ``POST …/evidence/text/``: a text excerpt (JSON).
- ``GET …/evidence/{id}/download/``: the bytes (``application/octet-stream``; ``application/zip``
  for malware), audited; ``POST …/evidence/{id}/transfer/``; ``GET …/evidence/{id}/custody/``.
- ``GET …/evidence/manifest/``: the manifest as JSON (CSV from the browser), audited.
- ``GET``/``POST …/legal-hold/``: read, place or release the incident's legal hold.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.audit import record_download
from accounts.permissions import may_read_back
from config.parsers import JSONParser, MultiPartParser, RequestTooLarge
from config.serializers import StrictFieldsMixin

from ..api import IncidentChildMixin, UsernameField
from ..models import CustodyEvent, Evidence, LegalHold, Vendor
from ..permissions import Action
from . import downloads, manifest, selectors, services
from .services import HOLD_REASON_MAX, REASON_MAX, RECIPIENT_MAX, TEXT_MAX_CHARS
from .uploads import REQUEST_OVERHEAD_BYTES, EvidenceUploadHandler, close_uploads


class EvidenceGone(APIException):
    status_code = status.HTTP_410_GONE
    default_code = "gone"


class OptionalBooleanField(serializers.BooleanField):
    """A boolean that may be left out of a multipart form: absent means "the default", where
    DRF's BooleanField reads an absent HTML checkbox as false."""

    default_empty_html = serializers.empty


class EvidenceSerializer(serializers.ModelSerializer):
    collected_by = UsernameField(read_only=True)
    privilege_marking = serializers.SerializerMethodField(
        help_text="The legal privilege marking to show with this evidence; null unless privileged."
    )
    custody_events = serializers.IntegerField(source="custody_count", read_only=True)
    download_url = serializers.SerializerMethodField()
    vendor = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, help_text="The vendor it came from, if any."
    )

    class Meta:
        model = Evidence
        fields = [
            "id", "kind", "name", "size", "content_type", "sha256", "md5", "sha1", "collected_by",
            "collected_at", "added_at", "source_system", "vendor", "description", "internal", "privileged",
            "malware", "privilege_marking", "custody_events", "custody_head", "purged_at", "download_url",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "content_type": {"help_text": "Sniffed from the bytes, not taken from the client."},
            "custody_head": {"help_text": "Hash of the last custody event (the chain's head)."},
            "purged_at": {"help_text": "When the file was purged with its closed incident; null while kept."},
        }

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_privilege_marking(self, evidence: Evidence) -> str | None:
        return evidence.privilege_marking or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_download_url(self, evidence: Evidence) -> str | None:
        if evidence.purged_at is not None:
            return None
        return f"/api/v1/incidents/{evidence.incident.reference}/evidence/{evidence.pk}/download/"


class EvidenceWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    collected_at = serializers.DateTimeField(
        required=False, help_text="When it was collected (not in the future); defaults to now."
    )
    source_system = serializers.CharField(required=False, allow_blank=True, max_length=200)
    vendor = serializers.PrimaryKeyRelatedField(
        queryset=Vendor.objects.all(),
        required=False,
        allow_null=True,
        help_text="The registry id of the vendor it came from; a vendor collaborator's is always their own company.",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=5_000)
    internal = OptionalBooleanField(
        required=False,
        help_text="Hidden from vendor collaborators. Defaults to the incident's restricted flag; never for a vendor.",
    )
    privileged = serializers.BooleanField(
        required=False, default=False, help_text="Prepared at the direction of counsel."
    )
    malware = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Live malware: downloaded only as a ZIP protected by the password infected.",
    )

    read_only_names = frozenset(EvidenceSerializer.Meta.fields)


class EvidenceUploadSerializer(EvidenceWriteSerializer):
    file = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False, use_url=False),
        min_length=1,
        help_text="One or more files (repeat the part). Each at most EVIDENCE_MAX_BYTES.",
    )


class EvidenceTextSerializer(EvidenceWriteSerializer):
    name = serializers.CharField(max_length=200, help_text="The excerpt's title.")
    text = serializers.CharField(
        max_length=TEXT_MAX_CHARS, trim_whitespace=False, help_text="Kept and hashed exactly as sent (UTF-8)."
    )


class CustodyEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True, help_text="Username, or system.")

    class Meta:
        model = CustodyEvent
        fields = ["sequence", "action", "actor", "at", "recipient", "note", "details", "prev_hash", "hash"]
        read_only_fields = fields


class TransferSerializer(StrictFieldsMixin, serializers.Serializer):
    recipient = serializers.CharField(max_length=RECIPIENT_MAX, help_text="To whom: a person, a lab, an authority.")
    reason = serializers.CharField(max_length=REASON_MAX, help_text="Why.")


class ManifestItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    sha256 = serializers.CharField()
    md5 = serializers.CharField()
    sha1 = serializers.CharField()
    collected_by = serializers.CharField()
    collected_at = serializers.DateTimeField()
    added_at = serializers.DateTimeField()
    source_system = serializers.CharField()
    vendor = serializers.CharField(allow_null=True)
    description = serializers.CharField()
    internal = serializers.BooleanField()
    privileged = serializers.BooleanField()
    malware = serializers.BooleanField()
    purged_at = serializers.DateTimeField(allow_null=True)
    custody_events = serializers.IntegerField()
    custody_head = serializers.CharField()
    privilege_marking = serializers.CharField(allow_null=True)


class ManifestSerializer(serializers.Serializer):
    incident = serializers.CharField()
    generated_at = serializers.DateTimeField()
    generated_by = serializers.CharField()
    privilege_notice = serializers.CharField(allow_null=True)
    items = ManifestItemSerializer(many=True)


_BINARY_RESPONSES = {
    (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file, as an attachment."),
    (200, "application/zip"): OpenApiResponse(
        OpenApiTypes.BINARY, description="Malware: the file inside a ZIP encrypted with AES, password infected."
    ),
    403: OpenApiResponse(description="The caller's standing may not download evidence (executives never do)."),
    404: OpenApiResponse(description="No such evidence, or none the caller may see."),
    410: OpenApiResponse(description="The file was purged with its closed incident."),
}


class EvidenceViewSet(IncidentChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EvidenceSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "head", "options"]
    parser_classes = [MultiPartParser]
    # Checked before the body is read: a refused caller gets 403 whatever it sent (no 413, no 415).
    required_actions = {
        "create": Action.CONTRIBUTE,
        "text": Action.CONTRIBUTE,
        "transfer": Action.TRANSFER_EVIDENCE,
    }

    @property
    def pagination_class(self):
        # Creating answers the list of what it created, whole (and the schema says so: a
        # paginator on the view would make drf-spectacular describe it as a page).
        return None if getattr(self, "action", None) == "create" else api_settings.DEFAULT_PAGINATION_CLASS

    @property
    def upload_max_bytes(self) -> int:
        # config.parsers.MultiPartParser refuses a larger Content-Length before reading.
        return settings.EVIDENCE_MAX_BYTES + REQUEST_OVERHEAD_BYTES

    def initialize_request(self, request, *args, **kwargs):
        # Before DRF (or SessionAuthentication's CSRF check) parses the body.
        self.upload_handler = None
        if request.method == "POST" and self.action_map.get("post") == "create":
            self.upload_handler = EvidenceUploadHandler(request, max_bytes=settings.EVIDENCE_MAX_BYTES)
            request.upload_handlers = [self.upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no reference
            return Evidence.objects.none()
        incident = self.get_incident()
        return selectors.evidence_for(self.request.user, incident).select_related("collected_by", "incident", "vendor")

    def get_object(self) -> Evidence:
        # The same bare 404 as for an incident the caller may not see: nothing tells them apart.
        evidence = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if evidence is None:
            raise Http404
        evidence.incident = self.get_incident()
        return evidence

    def _written(self, response: Response) -> Response:
        if not may_read_back(self.request, self):
            rows = response.data if isinstance(response.data, list) else [response.data]
            response.data = (
                [{"id": row["id"]} for row in rows] if isinstance(response.data, list) else {"id": rows[0]["id"]}
            )
        return response

    @extend_schema(
        request={"multipart/form-data": EvidenceUploadSerializer},
        responses={
            201: EvidenceSerializer(many=True),
            413: OpenApiResponse(description="A file or the request is too large."),
        },
        description="Upload one or many files as evidence (multipart). Files are hashed while they stream to disk.",
    )
    def create(self, request: Request, reference: str) -> Response:
        incident = self.get_incident()
        try:
            data = request.data
            if self.upload_handler is not None and self.upload_handler.too_large:
                raise RequestTooLarge(limit=settings.EVIDENCE_MAX_BYTES, what="Evidence file")
            serializer = EvidenceUploadSerializer(data=data)
            serializer.is_valid(raise_exception=True)
            fields = dict(serializer.validated_data)
            files = fields.pop("file")
            created = services.evidence_files_add(incident=incident, actor=request.user, files=files, **fields)
        finally:
            close_uploads(request._request)
        for evidence in created:
            evidence.incident = incident
        return self._written(Response(EvidenceSerializer(created, many=True).data, status=status.HTTP_201_CREATED))

    @extend_schema(request=EvidenceTextSerializer, responses={201: EvidenceSerializer})
    @action(detail=False, methods=["post"], parser_classes=[JSONParser])
    def text(self, request: Request, reference: str) -> Response:
        """Add a text excerpt (a log excerpt, e-mail headers) as evidence."""
        serializer = EvidenceTextSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evidence = services.evidence_text_add(
            incident=self.get_incident(), actor=request.user, **serializer.validated_data
        )
        return self._written(Response(EvidenceSerializer(evidence).data, status=status.HTTP_201_CREATED))

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The download answers bytes itself; whatever its Accept header says, its errors are JSON
        # (no 406 for a client asking for application/octet-stream).
        if getattr(self, "action", None) == "download":
            return (JSONRenderer(), JSONRenderer.media_type)
        return super().perform_content_negotiation(request, force)

    @extend_schema(responses=_BINARY_RESPONSES)
    @action(detail=True, methods=["get"])
    def download(self, request: Request, reference: str, pk: str):
        """The evidence's bytes as an attachment, recorded as an access in its chain of custody."""
        evidence = self.get_object()
        try:
            services.evidence_access(evidence=evidence, actor=request.user)
        except services.EvidencePurged as exc:
            raise EvidenceGone(str(exc)) from None
        record_download(request=request, evidence=evidence)
        return downloads.evidence_response(evidence)

    @extend_schema(request=TransferSerializer, responses={201: CustodyEventSerializer})
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def transfer(self, request: Request, reference: str, pk: str) -> Response:
        """Record a transfer of custody: to whom and why."""
        evidence = self.checked_object()
        serializer = TransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = services.evidence_transfer(evidence=evidence, actor=request.user, **serializer.validated_data)
        body = CustodyEventSerializer(event).data
        if not may_read_back(request, self):
            body = {"sequence": body["sequence"]}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: CustodyEventSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def custody(self, request: Request, reference: str, pk: str) -> Response:
        """The chain of custody, oldest first (paginated)."""
        evidence = self.get_object()
        page = self.paginate_queryset(selectors.custody_trail(evidence))
        return self.get_paginated_response(CustodyEventSerializer(page, many=True).data)

    @extend_schema(responses={200: ManifestSerializer})
    @action(detail=False, methods=["get"])
    def manifest(self, request: Request, reference: str) -> Response:
        """The evidence manifest (JSON). Each item listed gets an export event in its custody."""
        incident = self.get_incident()
        items = services.evidence_export(incident=incident, actor=request.user, format="json")
        data = manifest.manifest_data(incident=incident, items=items, actor=request.user, generated_at=timezone.now())
        return Response(data)


class LegalHoldSerializer(serializers.Serializer):
    active = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    set_by = serializers.CharField(allow_null=True)
    set_at = serializers.DateTimeField(allow_null=True)


class LegalHoldChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    active = serializers.BooleanField(help_text="true places a hold, false releases the active one.")
    reason = serializers.CharField(max_length=HOLD_REASON_MAX, help_text="Why it is placed or released.")


def _hold_state(hold: LegalHold | None) -> dict:
    if hold is None:
        return {"active": False, "reason": None, "set_by": None, "set_at": None}
    return {"active": True, "reason": hold.reason, "set_by": hold.set_by.username, "set_at": hold.set_at}


class LegalHoldView(IncidentChildMixin, APIView):
    """``/api/v1/incidents/{reference}/legal-hold/``: while a hold is active, the incident's
    evidence cannot be purged. Placing and releasing it is for the incident's lead and admins."""

    parser_classes = [JSONParser]
    required_actions = {"post": Action.LEGAL_HOLD}

    @extend_schema(responses={200: LegalHoldSerializer})
    def get(self, request: Request, reference: str) -> Response:
        incident = self.get_incident()
        return Response(LegalHoldSerializer(_hold_state(selectors.legal_hold_active(incident))).data)

    @extend_schema(request=LegalHoldChangeSerializer, responses={200: LegalHoldSerializer})
    def post(self, request: Request, reference: str) -> Response:
        incident = self.get_incident()
        serializer = LegalHoldChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["active"]:
            services.legal_hold_set(incident=incident, actor=request.user, reason=data["reason"])
        else:
            services.legal_hold_clear(incident=incident, actor=request.user, reason=data["reason"])
        return Response(LegalHoldSerializer(_hold_state(selectors.legal_hold_active(incident))).data)
