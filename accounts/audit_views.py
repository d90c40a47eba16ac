"""The auditor's pages: the audit log, filtered and paged, and its export for a SIEM.

``GET /accounts/audit/``: newest first, 50 a page, paged by id (``?before=<id>``: no COUNT over
a table that only grows, and a page never shifts as entries are added). Filters: ``since`` and
``until`` (inclusive), ``actor`` (a username, exactly as recorded), ``action``, ``incident``.

``GET /accounts/audit/export.csv`` and ``export.jsonl``: the filtered entries, oldest first
(chain order), streamed. Each row carries the fields the hash covers under the names
``accounts.audit`` hashes them by, plus ``id``, ``prev_hash`` and ``hash``, so a receiver can
check the chain itself from the JSON Lines. CSV cells a spreadsheet would run as a formula are
written after a ``'`` (as the timeline export does); the JSON Lines are exact.

Auditors, admins and superusers only; everyone else gets the site's 404.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from incidents.converters import REFERENCE_REGEX
from timeline.imports import FORMULA_START

from . import audit
from .models import AuditEntry

PAGE_SIZE = 50
ITERATOR_CHUNK = 2_000  # rows fetched per round trip while exporting
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "incident_reference",
    "summary",
    "changes",
    "ip",
    "prev_hash",
    "hash",
)


class AuditFilterForm(forms.Form):
    """Every field optional; an invalid one is shown on the page and left out (the others still
    apply). The export refuses invalid filters instead (400): a file must hold what it says."""

    since = forms.DateTimeField(required=False, label="From")
    until = forms.DateTimeField(required=False, label="Until")
    actor = forms.CharField(required=False, max_length=150, label="Person")
    action = forms.ChoiceField(choices=[("", "Any"), *audit.AuditAction.choices], required=False)
    incident = forms.CharField(
        required=False,
        max_length=30,
        label="Incident",
        validators=[RegexValidator(rf"^{REFERENCE_REGEX}$", "Enter a reference such as IR-2026-0042.")],
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean_incident(self) -> str:
        return self.cleaned_data["incident"].strip().upper()

    def clean_actor(self) -> str:
        return self.cleaned_data["actor"].strip()

    def valid_filters(self) -> dict[str, Any]:
        """The filters that passed (call after ``is_valid()``), paging aside."""
        return {
            name: value for name, value in self.cleaned_data.items() if value not in (None, "") and name != "before"
        }


def audit_entries(filters: dict[str, Any]) -> QuerySet[AuditEntry]:
    """The entries matching ``filters`` (``AuditFilterForm.valid_filters``), unordered."""
    entries = AuditEntry.objects.all()
    if "since" in filters:
        entries = entries.filter(at__gte=filters["since"])
    if "until" in filters:
        entries = entries.filter(at__lte=filters["until"])
    if "actor" in filters:
        entries = entries.filter(actor_name=filters["actor"])
    if "action" in filters:
        entries = entries.filter(action=filters["action"])
    if "incident" in filters:
        entries = entries.filter(incident_reference=filters["incident"])
    return entries


def _reader_or_404(request: HttpRequest) -> None:
    if not audit.may_read_audit(request.user):
        raise Http404("No such page.")


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """The log, newest first; three queries (session, user, one page of entries)."""
    _reader_or_404(request)
    form = AuditFilterForm(request.GET)
    form.is_valid()  # invalid fields are shown on the form and left out of cleaned_data
    filters = form.valid_filters()
    entries = audit_entries(filters).order_by("-id")
    before = form.cleaned_data.get("before")
    if before:
        entries = entries.filter(id__lt=before)
    # One row more than shown tells whether there is an older page, without counting.
    page = list(entries[: PAGE_SIZE + 1])
    older = page[PAGE_SIZE - 1].pk if len(page) > PAGE_SIZE else None
    page = page[:PAGE_SIZE]
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "rows": [
                {
                    "entry": entry,
                    "changes": json.dumps(entry.changes, ensure_ascii=False, sort_keys=True) if entry.changes else "",
                }
                for entry in page
            ],
            "older": older,
            "paged": bool(before),
            "query": query.urlencode(),
            "filtered": bool(filters),
            "actions": audit.AuditAction.choices,
        },
    )


def _export_row(entry: AuditEntry) -> dict[str, Any]:
    fields = audit.hashed_fields(entry)
    return {"id": entry.pk, **fields, "prev_hash": entry.prev_hash, "hash": entry.hash}


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class _Line:
    """A file-like object whose ``write`` hands back the line the csv module wrote."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(EXPORT_COLUMNS)
    for entry in entries:
        row = _export_row(entry)
        yield writer.writerow([_csv_cell(row[name]) for name in EXPORT_COLUMNS])


def _jsonl_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    for entry in entries:
        yield json.dumps(_export_row(entry), ensure_ascii=False) + "\n"


@login_required
@require_GET
def audit_export(request: HttpRequest, format: str) -> HttpResponse | StreamingHttpResponse:
    """The filtered entries as an attachment (``format``: ``csv`` or ``jsonl``), oldest first,
    streamed. 400 for an invalid filter. The export itself is an audit entry."""
    _reader_or_404(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in form.errors.items())
        return HttpResponseBadRequest(f"Invalid filter: {errors}", content_type="text/plain; charset=utf-8")
    filters = form.valid_filters()
    audit.audit_record(
        action=audit.AuditAction.AUDIT_EXPORT,
        actor=request.user,  # type: ignore[arg-type]
        summary=f"exported the audit log as {format}",
        changes={"format": format, "filters": filters},
        request=request,
    )
    entries = audit_entries(filters).order_by("id").iterator(chunk_size=ITERATOR_CHUNK)
    if format == "csv":
        body, content_type = _csv_lines(entries), "text/csv; charset=utf-8"
    else:
        body, content_type = _jsonl_lines(entries), "application/jsonl; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{format}"'
    response["Cache-Control"] = "private, no-store"
    return response
