"""The evidence manifest: what was collected, its hashes and its custody, as CSV or JSON.

Built from the items ``services.evidence_export`` returns (after it recorded the export in each
chain, so every row carries the head that includes this export). Privileged items carry the
privilege marking in their row, and the JSON manifest says it once more at the top.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from accounts.models import User

from ..models import PRIVILEGE_MARKING, Evidence, Incident
from .downloads import harden

FIELDS = (
    "id", "name", "kind", "size", "content_type", "sha256", "md5", "sha1", "collected_by", "collected_at",
    "added_at", "source_system", "vendor", "description", "internal", "privileged", "malware", "purged_at",
    "custody_events", "custody_head", "privilege_marking",
)  # fmt: skip
# A spreadsheet runs a cell starting with one of these as a formula: names come from outside.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _iso(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def manifest_row(evidence: Evidence) -> dict[str, Any]:
    return {
        "id": evidence.pk,
        "name": evidence.name,
        "kind": evidence.kind,
        "size": evidence.size,
        "content_type": evidence.content_type,
        "sha256": evidence.sha256,
        "md5": evidence.md5,
        "sha1": evidence.sha1,
        "collected_by": evidence.collected_by.username,
        "collected_at": _iso(evidence.collected_at),
        "added_at": _iso(evidence.added_at),
        "source_system": evidence.source_system,
        "vendor": evidence.vendor.name if evidence.vendor_id else None,
        "description": evidence.description,
        "internal": evidence.internal,
        "privileged": evidence.privileged,
        "malware": evidence.malware,
        "purged_at": _iso(evidence.purged_at),
        "custody_events": evidence.custody_count,
        "custody_head": evidence.custody_head,
        "privilege_marking": evidence.privilege_marking or None,
    }


def manifest_data(*, incident: Incident, items: list[Evidence], actor: User, generated_at: datetime) -> dict[str, Any]:
    return {
        "incident": incident.reference,
        "generated_at": _iso(generated_at),
        "generated_by": actor.username,
        "privilege_notice": PRIVILEGE_MARKING if any(item.privileged for item in items) else None,
        "items": [manifest_row(item) for item in items],
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def manifest_csv(items: list[Evidence]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for item in items:
        row = manifest_row(item)
        writer.writerow([_cell(row[field]) for field in FIELDS])
    return out.getvalue()


def filename(incident: Incident, generated_at: datetime, extension: str) -> str:
    return f"{incident.reference}-evidence-manifest-{timezone.localtime(generated_at):%Y%m%dT%H%M%S}.{extension}"


def manifest_response(*, incident: Incident, items: list[Evidence], actor: User, format: str) -> HttpResponse:
    """The manifest as a downloaded ``.csv`` or ``.json`` file."""
    now = timezone.now()
    if format == "csv":
        body, content_type = manifest_csv(items), "text/csv; charset=utf-8"
    else:
        data = manifest_data(incident=incident, items=items, actor=actor, generated_at=now)
        body, content_type = json.dumps(data, ensure_ascii=False, indent=2), "application/json"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename(incident, now, format)}"'
    return harden(response)
