"""Receiving evidence files: hashed while they stream to disk, never held in memory.

``EvidenceUploadHandler`` replaces Django's upload handlers on the evidence upload views (browser
and API) before the body is read. Each file part is written to a temporary file in
``FILE_UPLOAD_TEMP_DIR`` and fed, chunk by chunk, to SHA-256, MD5 and SHA-1; its first bytes are
kept for content-type sniffing. Past ``max_bytes`` the handler stops the upload
(``StopUpload``): Django closes (and so deletes) the partial temporary file, discards the rest of
the body, and the view answers 413. Saving through the file-system storage then *moves* the
temporary file into place (a rename on the same file system), so the bytes are read once.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import puremagic
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

# How much of the start of a file the content-type sniffer reads.
SNIFF_BYTES = 8 * 1024
# Form fields travel beside the file(s) in one request: a request may be this much larger than
# EVIDENCE_MAX_BYTES (Content-Length checked before reading anything).
REQUEST_OVERHEAD_BYTES = 1024 * 1024
NAME_MAX = 200
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str
    sha1: str


class _Hashes:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        # MD5 and SHA-1 are what other forensic tools and case files quote, not a security control.
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.head = bytearray()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.sha1.update(chunk)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.size += len(chunk)

    def digests(self) -> Digests:
        return Digests(sha256=self.sha256.hexdigest(), md5=self.md5.hexdigest(), sha1=self.sha1.hexdigest())


class EvidenceUploadHandler(TemporaryFileUploadHandler):
    """Streams each file part to a temporary file, hashing it on the way; refuses a file larger
    than ``max_bytes`` (``too_large`` is then set and the view answers 413).

    Install it before anything reads the body: ``request.upload_handlers = [handler]``.
    A completed file carries ``digests`` (``Digests``) and ``head`` (its first bytes).
    """

    chunk_size = 256 * 1024

    def __init__(self, request: Any = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._hashes = _Hashes()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self._hashes.size + len(raw_data) > self.max_bytes:
            self.too_large = True
            # Django closes (deletes) the partial temporary file and reads the rest of the body
            # without keeping it, so the client gets the 413 instead of a reset connection.
            raise StopUpload(connection_reset=False)
        self._hashes.update(raw_data)
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile:
        uploaded = super().file_complete(file_size)
        uploaded.digests = self._hashes.digests()
        uploaded.head = bytes(self._hashes.head)
        return uploaded


def hash_chunks(chunks: Iterable[bytes]) -> tuple[Digests, bytes, int]:
    """Digests, first bytes and size of a stream of chunks (files not received by the handler:
    text evidence, demo data, re-verification)."""
    hashes = _Hashes()
    for chunk in chunks:
        hashes.update(chunk)
    return hashes.digests(), bytes(hashes.head), hashes.size


def file_digests(file: File) -> tuple[Digests, bytes, int]:
    """What the handler computed, or, for any other file, one streaming pass over it."""
    digests = getattr(file, "digests", None)
    if digests is not None:
        return digests, file.head, file.size
    file.seek(0)
    result = hash_chunks(file.chunks())
    file.seek(0)
    return result


def sniff_content_type(head: bytes) -> str:
    """The content type the bytes say they are (puremagic's signatures), text/plain for UTF-8
    text without NULs, else application/octet-stream. The client's claim is never used."""
    if not head:
        return OCTET_STREAM
    try:
        mime = puremagic.from_string(head, mime=True)
    except (puremagic.PureError, ValueError):
        mime = ""
    if mime:
        return mime[:100]
    if b"\x00" not in head:
        try:
            # A multi-byte character may be cut at the end of the sniffed bytes.
            head.decode("utf-8") if len(head) < SNIFF_BYTES else head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return OCTET_STREAM
        return "text/plain"
    return OCTET_STREAM


def clean_name(name: str, *, default: str = "evidence", keep_slashes: bool = False) -> str:
    """A file name safe to store and to send back in Content-Disposition: the last path
    component (all of it with ``keep_slashes``: a text excerpt's title), NFC, printable
    characters only, at most ``NAME_MAX`` characters (the extension kept), never empty, ``.`` or
    ``..``."""
    name = unicodedata.normalize("NFC", name or "")
    if not keep_slashes:
        name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    if name in {"", ".", ".."}:
        return default
    if len(name) > NAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: NAME_MAX - len(extension) - 1] + "." + extension
        else:
            name = name[:NAME_MAX]
    return name


def close_uploads(request: Any) -> None:
    """Close (and so delete) every file a request uploaded, as soon as the view is done with
    them. Django would at the end of the response, if whoever serves it closes the response;
    a refused upload should not keep its temporary files on disk until then. Closing a file the
    storage already moved away is fine (Django's TemporaryUploadedFile expects it)."""
    files = getattr(request, "_files", None)
    if not files:
        return
    for _, uploads in files.lists():
        for uploaded in uploads:
            uploaded.close()
