"""Request body parsers for the API, with the limits every endpoint gets unless it asks for more.

JSON bodies are read into memory and parsed recursively, so both their size and their nesting
are bounded here, before any view or serializer sees them:

- size: ``API_JSON_MAX_BYTES`` (1 MiB), or a view's ``json_max_bytes`` (an alert batch endpoint
  may declare ~10 MiB). The parser reads the raw stream itself, at most limit + 1 bytes, so a
  view's limit may exceed Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and a body that is longer than
  its ``Content-Length`` claims is still cut off.
- duplicate keys in an object are a 400 (``_unique_keys``);
- nesting: ``API_JSON_MAX_DEPTH`` levels of arrays and objects. Python's parser recurses in C
  and raises RecursionError around 1,000 levels (a 500 before this module existed); anything
  past the limit but short of that is refused after parsing by an iterative walk.

Multipart bodies stream file parts to disk (Django's upload handlers), so they get their own,
larger limit (``API_UPLOAD_MAX_BYTES`` or a view's ``upload_max_bytes``) and are never held to
the JSON one. URL-encoded forms keep DRF's parser: DRF reads them through ``request.body``, which
Django bounds by ``DATA_UPLOAD_MAX_MEMORY_SIZE``; ``config.api.exception_handler`` turns that
RequestDataTooBig into the same 413.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import renderers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, get_encoding
from rest_framework.parsers import MultiPartParser as DRFMultiPartParser
from rest_framework.settings import api_settings
from rest_framework.utils import json

# Reading in chunks keeps a short read (a socket handing back less than asked) from ending the
# body early; the size is a plain buffer size, nothing depends on it.
_CHUNK = 64 * 1024


class RequestTooLarge(APIException):
    """413 with the limit that applied, so a client knows how much to send."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, *, limit: int, what: str = "Request body") -> None:
        super().__init__(f"{what} too large: the limit is {limit} bytes.")


def _declared_length(parser_context: Mapping[str, Any]) -> int:
    request = parser_context.get("request")
    if request is None:
        return 0
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        # DRF treats an unreadable Content-Length as no body; the read below still bounds it.
        return 0


def _limit(parser_context: Mapping[str, Any], view_attribute: str, setting: str) -> int:
    limit = getattr(parser_context.get("view"), view_attribute, None)
    return int(limit) if limit is not None else int(getattr(settings, setting))


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def json_nesting_exceeds(data: Any, max_depth: int) -> bool:
    """True if arrays/objects nest deeper than ``max_depth`` (``[]`` is 1, ``[[]]`` is 2).

    A walk with an explicit stack, so checking a deep document cannot itself hit the recursion
    limit.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object naming a key twice is refused: which value counts would be the parser's guess
    (Python's keeps the last, others the first), and two systems reading one payload must agree."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


class JSONParser(BaseParser):
    """DRF's JSON parser plus the size and depth limits above.

    Deliberately not a subclass of ``rest_framework.parsers.JSONParser``: DRF hands instances of
    that class ``request.body``, read in full under ``DATA_UPLOAD_MAX_MEMORY_SIZE``, instead of the
    stream, and a view's own larger limit could then never apply. The price: after parsing,
    ``request.body`` is gone (RawPostDataException). A view that needs the raw bytes (a signature
    check) reads ``request.body`` before ``request.data``, and DRF then parses those bytes.
    """

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    strict = api_settings.STRICT_JSON

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        limit = _limit(parser_context, "json_max_bytes", "API_JSON_MAX_BYTES")
        if _declared_length(parser_context) > limit:
            raise RequestTooLarge(limit=limit, what="JSON body")
        raw = _read_at_most(stream, limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(limit=limit, what="JSON body")

        encoding = get_encoding(parser_context)
        max_depth = settings.API_JSON_MAX_DEPTH
        too_deep = f"JSON nested too deeply: the limit is {max_depth} levels of arrays and objects."
        try:
            text = raw.decode(encoding)
            data = json.loads(
                text, parse_constant=json.strict_constant if self.strict else None, object_pairs_hook=_unique_keys
            )
        except RecursionError:
            raise ParseError(too_deep) from None
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from None
        if json_nesting_exceeds(data, max_depth):
            raise ParseError(too_deep)
        return data


class MultiPartParser(DRFMultiPartParser):
    """DRF's multipart parser behind a whole-request limit of its own.

    File parts stream to upload handlers, so this limit can be far larger than the JSON one. It is
    checked against Content-Length, which under WSGI also bounds what Django reads
    (``LimitedStream``). Form fields (not files) stay within ``DATA_UPLOAD_MAX_MEMORY_SIZE``,
    which Django enforces while parsing (RequestDataTooBig → 413 in ``config.api``).
    """

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        limit = _limit(parser_context, "upload_max_bytes", "API_UPLOAD_MAX_BYTES")
        if _declared_length(parser_context) > limit:
            raise RequestTooLarge(limit=limit, what="Upload")
        return super().parse(stream, media_type, parser_context)
