"""EVIDENCE_STORAGE=s3: the evidence storage resolves to django-storages' S3Storage with the
bucket, prefix, endpoint and region from the environment. Built, never connected: constructing the
storage must not reach S3 (every socket connect fails the test)."""

from __future__ import annotations

import socket

import pytest
from django.core.files.storage import StorageHandler
from storages.backends.s3 import S3Storage

from .settings_loader import load_settings


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the storage tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_evidence_storage_is_an_s3_bucket(monkeypatch, no_network):
    settings = load_settings(
        monkeypatch,
        EVIDENCE_STORAGE="s3",
        EVIDENCE_S3_BUCKET="breachline-evidence",
        EVIDENCE_S3_PREFIX="prod/evidence",
        EVIDENCE_S3_ENDPOINT_URL="https://minio.internal.example",
        EVIDENCE_S3_REGION="eu-west-1",
    )
    storage = StorageHandler(settings.STORAGES)["evidence"]
    assert type(storage) is S3Storage
    assert storage.bucket_name == "breachline-evidence"
    assert storage.location == "prod/evidence"
    assert storage.endpoint_url == "https://minio.internal.example"
    assert storage.region_name == "eu-west-1"
    # Private objects, never overwritten (a second file of the same name gets another key).
    assert storage.default_acl == "private"
    assert storage.file_overwrite is False
    # Keys sit under the prefix: what an evidence item's name becomes in the bucket.
    assert storage._normalize_name("IR-2026-0001/report.pdf") == "prod/evidence/IR-2026-0001/report.pdf"


def test_the_prefix_defaults_to_evidence_and_aws_needs_no_endpoint(monkeypatch, no_network):
    settings = load_settings(monkeypatch, EVIDENCE_STORAGE="s3", EVIDENCE_S3_BUCKET="breachline-evidence")
    storage = StorageHandler(settings.STORAGES)["evidence"]
    assert type(storage) is S3Storage
    assert (storage.location, storage.endpoint_url, storage.region_name) == ("evidence", None, None)


def test_the_filesystem_stays_the_default(monkeypatch):
    settings = load_settings(monkeypatch)
    assert settings.STORAGES["evidence"]["BACKEND"] == "incidents.evidence.storage.PrivateFileSystemStorage"
