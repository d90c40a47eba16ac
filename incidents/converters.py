"""The shape of an incident reference in URLs (IR-2026-0042, or IRR-2026-0007 for a restricted one).

Matching it in the resolver turns anything else (including text PostgreSQL cannot compare, such
as NUL) into a 404 before a view or query runs.
"""

from __future__ import annotations

REFERENCE_REGEX = r"IRR?-\d{4}-\d{4,}"


class CsvOrJsonConverter:
    """``csv`` or ``json``: the formats of downloads (evidence manifests, timeline exports)."""

    regex = "csv|json"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class ReferenceConverter:
    regex = REFERENCE_REGEX

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
