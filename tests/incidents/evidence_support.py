"""Helpers shared by tests/incidents/test_evidence_*.py (not a test module itself)."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from incidents.evidence import services
from incidents.models import Evidence, Incident

# A small file whose hashes are written out (computed once with sha256sum/md5sum/sha1sum):
# printf 'Failed password for root from 203.0.113.77 port 52144 ssh2\n'
AUTH_LOG = b"Failed password for root from 203.0.113.77 port 52144 ssh2\n"
AUTH_LOG_SHA256 = "20a1e6a16f8675a4a1f217ad0bdcd334f7a39e9c39264c15b7a76bc7ced4d20b"
AUTH_LOG_MD5 = "bb71eeaefe7f1d22371422f440171cca"
AUTH_LOG_SHA1 = "b91cd7f7246c386129d3098ddb56a0c383c505d7"


def api_url(incident: Incident, tail: str = "") -> str:
    return f"/api/v1/incidents/{incident.reference}/evidence/{tail}"


def upload_file(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def add_file(incident: Incident, actor: User, name: str = "auth.log", content: bytes = AUTH_LOG, **fields) -> Evidence:
    """One file added through the service, as the views add them."""
    (evidence,) = services.evidence_files_add(
        incident=incident, actor=actor, files=[upload_file(name, content)], **fields
    )
    return evidence


def files_under(directory: Path) -> list[str]:
    """Every file below ``directory`` (relative paths, sorted): what a test expects left behind."""
    if not directory.exists():
        return []
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())
