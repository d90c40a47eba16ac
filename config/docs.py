"""The OpenAPI schema and Swagger UI views (/api/v1/schema/, /api/v1/docs/).

Kept out of ``config.api``: DRF imports that module while ``rest_framework.generics`` is still
loading (it names the pagination class), and drf-spectacular's views import generics.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.exceptions import NotAcceptable
from rest_framework.request import Request


class _AuthenticateEvenIfNotAcceptable:
    """Judge the credentials even when content negotiation fails.

    DRF negotiates before it authenticates. When negotiation fails (406), nothing has
    authenticated yet, and the Swagger view renders its 406 with a Django template whose ``auth``
    context processor reads ``request.user``: a bad key then raised AuthenticationFailed
    mid-render, outside DRF's error handling (a 500). Authenticating before the 406 leaves
    ``request.user`` settled (AnonymousUser after a failure) and makes a bad key a 401 whatever
    ``Accept`` says; with an acceptable ``Accept`` DRF's order is unchanged, so a 401 comes in the
    format asked for.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            super().initial(request, *args, **kwargs)
        except NotAcceptable:
            self.perform_authentication(request)
            raise


class SchemaView(_AuthenticateEvenIfNotAcceptable, SpectacularAPIView):
    """The OpenAPI schema (/api/v1/schema/)."""


# The split view serves its script as a separate file: the production CSP refuses inline scripts.
class DocsView(_AuthenticateEvenIfNotAcceptable, SpectacularSwaggerSplitView):
    """Swagger UI over the schema (/api/v1/docs/)."""
