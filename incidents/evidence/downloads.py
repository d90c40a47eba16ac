"""The bytes of an evidence item, as an HTTP response nobody's browser will render.

Every response is an attachment (``Content-Disposition: attachment`` with a safely encoded file
name), typed ``application/octet-stream`` whatever the file is (the sniffed type is metadata,
not an instruction to the browser), with ``X-Content-Type-Options: nosniff``, ``Content-Security-
Policy: default-src 'none'; sandbox`` and ``Cache-Control: private, no-store``:

- a file flagged as malware is only ever sent inside an AES-encrypted ZIP, password
  ``infected`` (the analysts' convention), built in a temporary file chunk by chunk;
- otherwise, with ``EVIDENCE_X_ACCEL_REDIRECT`` set, an empty response whose ``X-Accel-Redirect``
  has nginx send the file from its ``internal`` location (docs/architecture.md, "Evidence");
- otherwise the stored file, streamed by ``FileResponse``.

Call ``services.evidence_access`` first: it checks the rule table and records the access.
"""

from __future__ import annotations

import tempfile
from io import BytesIO
from urllib.parse import quote

import pyzipper
from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.http import content_disposition_header

from ..models import Evidence, EvidenceKind
from .storage import evidence_storage
from .uploads import OCTET_STREAM

SANDBOX_CSP = "default-src 'none'; sandbox"
ZIP_PASSWORD = b"infected"
# HTTP header values are Latin-1: the marking with an ASCII dash.
PRIVILEGE_HEADER = "X-Legal-Privilege"
PRIVILEGE_HEADER_VALUE = "Privileged & confidential - prepared at the direction of counsel"
_CHUNK = 1024 * 1024


def download_name(evidence: Evidence) -> str:
    """The name the download is saved as: the file's own, or a text excerpt's title as .txt."""
    if evidence.kind == EvidenceKind.FILE:
        return evidence.name
    title = evidence.name.replace("/", "-").replace("\\", "-")
    return title if title.lower().endswith(".txt") else f"{title}.txt"


def harden(response: HttpResponseBase, evidence: Evidence | None = None) -> HttpResponseBase:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cache-Control"] = "private, no-store"
    if evidence is not None and evidence.privileged:
        response[PRIVILEGE_HEADER] = PRIVILEGE_HEADER_VALUE
    return response


def _chunks(evidence: Evidence):
    if evidence.kind == EvidenceKind.TEXT:
        yield evidence.text.encode("utf-8")
        return
    with evidence_storage().open(evidence.stored_name, "rb") as stored:
        while chunk := stored.read(_CHUNK):
            yield chunk


def _zip_comment(evidence: Evidence) -> bytes:
    lines = [
        f"Breachline evidence {evidence.pk} of {evidence.incident.reference}: flagged as MALWARE.",
        f"SHA-256 {evidence.sha256}. Password: {ZIP_PASSWORD.decode()}. Open only in an analysis environment.",
    ]
    if evidence.privileged:
        lines.append(evidence.privilege_marking)
    return "\n".join(lines).encode("utf-8")


def malware_zip_response(evidence: Evidence) -> FileResponse:
    """The item inside an AES-256 encrypted ZIP (password ``infected``), written to a temporary
    file one chunk at a time and deleted when the response is closed."""
    archive_file = tempfile.NamedTemporaryFile(suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115 - closed by the response
    try:
        with pyzipper.AESZipFile(
            archive_file, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as archive:
            archive.setpassword(ZIP_PASSWORD)
            archive.comment = _zip_comment(evidence)
            collected = timezone.localtime(evidence.collected_at)
            member = archive.zipinfo_cls(download_name(evidence), date_time=collected.timetuple()[:6])
            member.compress_type = pyzipper.ZIP_DEFLATED
            member.file_size = evidence.size  # decides ZIP64 up front for large files
            with archive.open(member, "w") as target:
                for chunk in _chunks(evidence):
                    target.write(chunk)
        archive_file.seek(0)
    except BaseException:
        archive_file.close()
        raise
    response = FileResponse(
        archive_file, as_attachment=True, filename=f"{download_name(evidence)}.zip", content_type="application/zip"
    )
    return harden(response, evidence)


def evidence_response(evidence: Evidence) -> HttpResponseBase:
    """The download of ``evidence`` (see the module docstring for its three forms)."""
    if evidence.malware:
        return malware_zip_response(evidence)
    name = download_name(evidence)
    if evidence.kind == EvidenceKind.TEXT:
        response = FileResponse(
            BytesIO(evidence.text.encode("utf-8")), as_attachment=True, filename=name, content_type=OCTET_STREAM
        )
        return harden(response, evidence)
    prefix = settings.EVIDENCE_X_ACCEL_REDIRECT
    if prefix:
        response = HttpResponse(content_type=OCTET_STREAM)
        response["X-Accel-Redirect"] = prefix + quote(evidence.stored_name)
        response["Content-Disposition"] = content_disposition_header(True, name)
        return harden(response, evidence)
    stored = evidence_storage().open(evidence.stored_name, "rb")
    response = FileResponse(stored, as_attachment=True, filename=name, content_type=OCTET_STREAM)
    return harden(response, evidence)
