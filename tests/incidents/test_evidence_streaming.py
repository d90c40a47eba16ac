"""A 200 MB upload streams through the evidence upload handler: hashed on the way, moved into
storage, never held in memory.

The request body is generated while the WSGI handler reads it (nothing is built in memory by the
test either), the expected hashes are computed by the test with hashlib over the same generated
bytes, and the request handling's peak Python memory (tracemalloc) and peak RSS growth are
measured around the handler call.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test.client import ClientHandler, RequestFactory

from incidents.models import Evidence

from .evidence_support import api_url, files_under

pytestmark = pytest.mark.django_db

SIZE = 200 * 1024 * 1024 + 12_345  # not a multiple of any chunk size
PEAK_LIMIT = 50 * 1024 * 1024
BOUNDARY = "----breachline-streaming-test"


def generated_chunks(size: int) -> Iterator[bytes]:
    """Deterministic, incompressible-looking bytes, 64 KiB at a time."""
    counter = 0
    while size > 0:
        block = hashlib.sha256(counter.to_bytes(8, "big")).digest() * 2048  # 64 KiB
        counter += 1
        yield block[:size]
        size -= len(block)


class StreamedBody(io.RawIOBase):
    """A multipart body produced while it is read: headers, the generated file, the closing."""

    def __init__(self, size: int) -> None:
        self.head = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="source_system"\r\n\r\n'
            "backup-nas-01\r\n"
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="disk-image.raw"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.length = len(self.head) + size + len(self.tail)
        self._parts = iter([iter([self.head]), generated_chunks(size), iter([self.tail])])
        self._current: Iterator[bytes] = iter(())
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._current, None)
            if chunk is None:
                part = next(self._parts, None)
                if part is None:
                    break
                self._current = part
                continue
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_rss() -> bool:
    """Linux resets VmHWM (peak RSS) to the current RSS when 5 is written to clear_refs."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def test_a_200_mb_upload_is_hashed_while_streaming_in_bounded_memory(api_key, lead, incident, evidence_root):
    expected = {"sha256": hashlib.sha256(), "md5": hashlib.md5(), "sha1": hashlib.sha1()}  # noqa: S324
    for chunk in generated_chunks(SIZE):
        for digest in expected.values():
            digest.update(chunk)

    body = StreamedBody(SIZE)
    environ = RequestFactory()._base_environ(
        PATH_INFO=api_url(incident),
        REQUEST_METHOD="POST",
        CONTENT_TYPE=f"multipart/form-data; boundary={BOUNDARY}",
        CONTENT_LENGTH=str(body.length),
        HTTP_AUTHORIZATION=f"Api-Key {api_key('incidents:read', 'incidents:write', user=lead)}",
        HTTP_ACCEPT="application/json",
        **{"wsgi.input": body},
    )
    handler = ClientHandler(enforce_csrf_checks=False)

    rss_measured = _reset_peak_rss()
    rss_before = _status_kib("VmRSS")
    tracemalloc.start()
    try:
        response = handler(environ)
        content = response.content
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = (_status_kib("VmHWM") - rss_before) * 1024

    assert response.status_code == 201, content[:500]
    print(f"\n200 MB upload: tracemalloc peak {peak / 2**20:.1f} MiB, peak RSS growth {rss_growth / 2**20:.1f} MiB")
    assert peak < PEAK_LIMIT, f"request handling peaked at {peak / 2**20:.1f} MiB of Python memory"
    if rss_measured:
        assert rss_growth < PEAK_LIMIT, f"RSS grew by {rss_growth / 2**20:.1f} MiB"

    evidence = Evidence.objects.get()
    assert (evidence.size, evidence.name, evidence.source_system) == (SIZE, "disk-image.raw", "backup-nas-01")
    assert (evidence.sha256, evidence.md5, evidence.sha1) == tuple(d.hexdigest() for d in expected.values())
    # Moved from the temporary directory into storage, whole.
    assert files_under(evidence_root / "tmp") == []
    stored = evidence_root / "store" / evidence.stored_name
    assert stored.stat().st_size == SIZE
    on_disk = hashlib.sha256()
    with stored.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            on_disk.update(chunk)
    assert on_disk.hexdigest() == expected["sha256"].hexdigest()
