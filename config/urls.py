from django.contrib import admin
from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from incidents.api import FindingViewSet, IncidentViewSet, TaskViewSet
from incidents.converters import REFERENCE_REGEX
from incidents.evidence.api import EvidenceViewSet, LegalHoldView
from incidents.indicators.api import IndicatorLookupView, IndicatorViewSet
from incidents.metrics_api import MetricsView
from incidents.regulatory import api as regulatory_api
from incidents.vendors.api import (
    InvolvementViewSet,
    KnownAccessViewSet,
    QuestionViewSet,
    ScopeViewSet,
    VendorAccessViewSet,
    VendorViewSet,
)
from intake.api import AlertIntakeView, IngestURLView, NativeAlertIntakeView
from timeline.api import TimelineEventViewSet

from . import health
from .docs import DocsView, SchemaView

router = SimpleRouter()
router.register("incidents", IncidentViewSet, basename="incident")
router.register(rf"incidents/(?P<reference>{REFERENCE_REGEX})/findings", FindingViewSet, basename="incident-finding")
router.register(rf"incidents/(?P<reference>{REFERENCE_REGEX})/tasks", TaskViewSet, basename="incident-task")
router.register(rf"incidents/(?P<reference>{REFERENCE_REGEX})/evidence", EvidenceViewSet, basename="incident-evidence")
router.register(
    rf"incidents/(?P<reference>{REFERENCE_REGEX})/indicators", IndicatorViewSet, basename="incident-indicator"
)
router.register(rf"incidents/(?P<reference>{REFERENCE_REGEX})/vendors", InvolvementViewSet, basename="incident-vendor")
router.register(
    rf"incidents/(?P<reference>{REFERENCE_REGEX})/vendors/(?P<involvement_id>\d+)/access",
    VendorAccessViewSet,
    basename="incident-vendor-access",
)
router.register(
    rf"incidents/(?P<reference>{REFERENCE_REGEX})/vendors/(?P<involvement_id>\d+)/questions",
    QuestionViewSet,
    basename="incident-vendor-question",
)
router.register(rf"incidents/(?P<reference>{REFERENCE_REGEX})/scope", ScopeViewSet, basename="incident-scope")
router.register(
    rf"incidents/(?P<reference>{REFERENCE_REGEX})/timeline", TimelineEventViewSet, basename="incident-timeline"
)
router.register(r"vendors/(?P<vendor_id>\d+)/known-access", KnownAccessViewSet, basename="vendor-known-access")
router.register("vendors", VendorViewSet, basename="vendor")

api_urlpatterns = [
    path("", include(router.urls)),
    re_path(rf"^incidents/(?P<reference>{REFERENCE_REGEX})/legal-hold/$", LegalHoldView.as_view(), name="legal-hold"),
    path("indicators/", IndicatorLookupView.as_view(), name="indicator-lookup"),
    path("metrics/", MetricsView.as_view(), name="metrics"),
    path("alerts/", AlertIntakeView.as_view(), name="alerts"),
    re_path(r"^alerts/(?P<alert_format>[a-z]{1,20})/$", NativeAlertIntakeView.as_view(), name="alerts-native"),
    re_path(r"^ingest/(?P<token>[A-Za-z0-9_-]{1,100})/$", IngestURLView.as_view(), name="ingest"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    *regulatory_api.api_urlpatterns,
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include((api_urlpatterns, "api"))),
    path("", include("incidents.urls")),
    path("", include("timeline.urls")),
    path("", include("intake.urls")),
    path("", include("notifications.urls")),
]
