"""Project-wide DRF pieces: pagination and the error mapping every endpoint shares."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import status
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError, ConflictError
from .parsers import RequestTooLarge


class Pagination(PageNumberPagination):
    """Numbered pages (``?page=2&page_size=50``) whose total is opt-in (``?count=true``).

    Counting every visible incident costs more than fetching a page of them (4-7 ms for 20,000
    incidents on PostgreSQL, see benchmarks/), and a SIEM polling the list rarely needs it, so
    a page fetches one extra row to know whether there is a next page and counts only on request.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = settings.API_PAGE_SIZE_MAX
    count_query_param = "count"
    # SQLite and PostgreSQL take OFFSET as a 64-bit integer: ?page=9223372036854775807 overflowed
    # it (a 500). No deployment holds a billion incidents, so a page starting past that is simply
    # a page that does not exist, refused before the query.
    max_offset = 1_000_000_000

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list:
        self.request = request
        self.page_size = self.get_page_size(request)
        raw_page = request.query_params.get(self.page_query_param, "1")
        try:
            self.number = int(raw_page)
            if self.number < 1:
                raise ValueError
        except ValueError:
            raise ValidationError({self.page_query_param: ["A page number is a whole number from 1."]}) from None
        raw_count = request.query_params.get(self.count_query_param, "false").lower()
        if raw_count not in {"true", "false", "1", "0"}:
            raise ValidationError({self.count_query_param: ["Use true or false."]})
        offset = (self.number - 1) * self.page_size
        if offset > self.max_offset:
            raise NotFound("Invalid page.")
        rows = list(queryset[offset : offset + self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if self.number > 1 and not rows:
            raise NotFound("Invalid page.")
        self.total = queryset.count() if raw_count in {"true", "1"} else None
        return rows

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number == 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data: list) -> Response:
        body: dict[str, Any] = {"next": self.get_next_link(), "previous": self.get_previous_link()}
        if self.total is not None:
            body["count"] = self.total
        body["results"] = data
        return Response(body)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["results"]
        response["properties"]["count"]["description"] = "Only with ?count=true."
        return response

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "description": "true adds the total number of matching items (one more query).",
                "schema": {"type": "boolean", "default": False},
            },
        ]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map service errors to HTTP: ValidationError → 400 with field messages, conflict → 409.

    Also Django's RequestDataTooBig (a form or multipart body's fields past
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``) → 413 JSON, and too many fields or files in one body
    (``DATA_UPLOAD_MAX_NUMBER_FIELDS``, ``DATA_UPLOAD_MAX_NUMBER_FILES``) → 400 JSON. Django
    raises them lazily, when the body is first read, which for /api/ happens inside the DRF view
    (parsers, SessionAuthentication's CSRF check); left alone they become Django's HTML 400 page.
    """
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = ParseError(str(exc))
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        exc = ValidationError(detail=detail)
    if isinstance(exc, ConflictError):
        from accounts.permissions import may_read_back  # accounts imports DRF settings: not at import time

        request, view = context.get("request"), context.get("view")
        if request is not None and view is not None and not may_read_back(request, view):
            # A write-only key learns that it lost the race, not what the incident is now.
            detail = f"{exc.current.reference} was changed since the version you sent; nothing was written."
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        return Response(
            {"detail": str(exc), "current_version": exc.current.version},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ApplicationError):
        return Response({"detail": str(exc)}, status=exc.http_status)
    return drf_exception_handler(exc, context)
