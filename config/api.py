"""Project-wide DRF pieces: pagination and the error mapping every endpoint shares."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from incidents.services import ConflictError


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = settings.API_PAGE_SIZE_MAX


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map service errors to HTTP: ValidationError → 400 with field messages, conflict → 409."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        exc = ValidationError(detail=detail)
    if isinstance(exc, ConflictError):
        return Response(
            {"detail": str(exc), "current_version": exc.incident.version},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
