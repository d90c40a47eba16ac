"""Reading the PDFs ReportLab writes, by hand (pypdf is not installed): the notice exports
(tests/incidents/test_regulatory_exports.py) and the incident reports (tests/reports/)."""

from __future__ import annotations

import base64
import re
import zlib


def pdf_text(pdf: bytes) -> bytes:
    """Every stream of the PDF decoded (ReportLab writes /ASCII85Decode /FlateDecode)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\n?endstream", pdf, re.S):
        data = match.group(1).strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2])
        try:
            out.append(zlib.decompress(data))
        except zlib.error:
            out.append(data)
    return b"\n".join(out)
