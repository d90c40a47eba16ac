"""The ``evidence`` storage alias (``STORAGES["evidence"]``, see config/settings.py)."""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage, Storage, storages


class PrivateFileSystemStorage(FileSystemStorage):
    """A file-system storage without URLs: evidence is only ever read through the authorized,
    audited download views, so asking for a URL is a bug, not a missing setting."""

    def url(self, name: str | None) -> str:
        raise ValueError("Evidence files have no URL: they are downloaded through the authorized evidence views.")


def evidence_storage() -> Storage:
    return storages["evidence"]
