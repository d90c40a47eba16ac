"""Evidence settings: a private storage that never has a URL, refused misconfigurations, and
S3 configured from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("EVIDENCE_", "DJANGO_ENV"))}
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults():
    assert settings.EVIDENCE_MAX_BYTES == 2 * 1024**3
    assert settings.EVIDENCE_X_ACCEL_REDIRECT == ""
    if "EVIDENCE_ROOT" not in os.environ:
        assert (ROOT / "var" / "evidence").resolve() == settings.EVIDENCE_ROOT


def test_evidence_files_have_no_url():
    with pytest.raises(ValueError, match="no URL"):
        storages["evidence"].url("IR-2026-0001/abc")


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"MEDIA_ROOT": "/srv/media", "EVIDENCE_ROOT": "/srv/media/evidence"}, "must not be inside a public directory"),
        ({"EVIDENCE_X_ACCEL_REDIRECT": "_evidence"}, "EVIDENCE_X_ACCEL_REDIRECT must be a URL path"),
        ({"EVIDENCE_MAX_BYTES": "0"}, "EVIDENCE_MAX_BYTES must be a positive number of bytes"),
        ({"EVIDENCE_STORAGE": "s3"}, "EVIDENCE_STORAGE=s3 needs EVIDENCE_S3_BUCKET"),
        ({"EVIDENCE_STORAGE": "ftp"}, "EVIDENCE_STORAGE must be filesystem or s3"),
    ],
)
def test_misconfigurations_stop_the_process(env, refusal):
    result = manage("check", **env)
    assert result.returncode != 0
    assert refusal in result.stderr


def test_s3_is_configured_from_the_environment():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STORAGES['evidence']['BACKEND'])",
        EVIDENCE_STORAGE="s3",
        EVIDENCE_S3_BUCKET="breachline-evidence",
        EVIDENCE_S3_ENDPOINT_URL="https://minio.internal.example",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "storages.backends.s3.S3Storage"
