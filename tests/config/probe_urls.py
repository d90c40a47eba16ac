"""Test-only URLs (``@pytest.mark.urls("tests.config.probe_urls")``).

- ``default/`` and ``batch/``: one view on the default body limits, one that declares its own (as
  an alert batch endpoint will), both open to anyone so the tests exercise only the parsers.
- ``duplicate/``: a view with a bug that the database catches (IntegrityError), which must stay
  a 500, not pass for an outage.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User


class DefaultLimitsView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        body = {"alerts": len(request.data["alerts"])} if "alerts" in request.data else {}
        if "file" in request.FILES:
            body["file_bytes"] = request.FILES["file"].size
        return Response(body)


class BatchView(DefaultLimitsView):
    json_max_bytes = 4096


def duplicate(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        User.objects.create(username="twice")
        User.objects.create(username="twice")
    return HttpResponse("unreachable")


urlpatterns = [
    path("default/", DefaultLimitsView.as_view()),
    path("batch/", BatchView.as_view()),
    path("duplicate/", duplicate),
]
