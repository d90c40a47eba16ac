"""STIX 2.1 and CSV exports of an incident's attacker-side indicators.

The bundle is built with the ``stix2`` library: one ``indicator`` per row (a STIX pattern per
type, ``indicator--<Indicator.stix_id>`` so re-exports update rather than duplicate), a
``grouping`` naming the incident, an ``identity`` for Breachline as their producer, and the TLP
2.0 marking definitions used. ``stix2`` ships only TLP 1.0 (WHITE/GREEN/AMBER/RED); TLP 2.0 is
marked through the OASIS TLP 2.0 extension definition, whose marking-definition objects have
fixed, published ids. They are written out below as data, exactly as OASIS publishes them:
https://github.com/oasis-open/cti-stix-common-objects/tree/main/extension-definition-specifications/tlp-2.0
(the extension definition ``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d``; each
marking is a ``property-extension`` carrying ``tlp_2_0``, created 2022-10-01).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import stix2
from django.utils import timezone

from ..models import Incident, Indicator, IndicatorType

T = IndicatorType

TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
# tlp_2_0 value → (marking-definition id, name), as published by OASIS (see the module docstring).
TLP2_MARKINGS: dict[str, tuple[str, str]] = {
    "clear": ("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR"),
    "green": ("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "TLP:GREEN"),
    "amber": ("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "TLP:AMBER"),
    "amber+strict": ("marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", "TLP:AMBER+STRICT"),
    "red": ("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "TLP:RED"),
}
# Breachline as the producer (created_by_ref); a fixed id so every export names the same one.
PRODUCER_ID = "identity--3f1a4c8e-5d2b-4e7a-9c61-0b8d2f7e4a15"
PRODUCER_CREATED = "2026-01-01T00:00:00.000Z"

CSV_FIELDS = (
    "type", "value", "tlp", "role", "confidence", "first_seen", "last_seen", "source", "description", "added_at",
)  # fmt: skip
# A spreadsheet runs a cell starting with one of these as a formula: values come from attackers.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def tlp_marking(tlp: str) -> stix2.MarkingDefinition:
    marking_id, name = TLP2_MARKINGS[tlp]
    return stix2.MarkingDefinition(
        id=marking_id,
        created=TLP2_CREATED,
        name=name,
        extensions={TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": tlp}},
        allow_custom=True,
    )


def _quoted(value: str) -> str:
    # STIX patterning string literals: backslash and single quote are escaped.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern(indicator: Indicator) -> str:
    """The STIX pattern matching ``indicator``'s value."""
    value = _quoted(indicator.value)
    match indicator.type:
        case T.IP:
            kind = "ipv6-addr" if ":" in indicator.value else "ipv4-addr"
            return f"[{kind}:value = {value}]"
        case T.DOMAIN | T.HOSTNAME:
            return f"[domain-name:value = {value}]"
        case T.URL:
            return f"[url:value = {value}]"
        case T.EMAIL:
            return f"[email-addr:value = {value}]"
        case T.SHA256:
            return f"[file:hashes.'SHA-256' = {value}]"
        case T.SHA1:
            return f"[file:hashes.'SHA-1' = {value}]"
        case T.MD5:
            return f"[file:hashes.MD5 = {value}]"
        case T.ACCOUNT:
            return f"[user-account:account_login = {value}]"
        case T.FILENAME:
            return f"[file:name = {value}]"
        case T.USER_AGENT:
            return f"[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = {value}]"
    raise ValueError(f"no STIX pattern for {indicator.type}")


def _stix_indicator(indicator: Indicator, incident: Incident) -> stix2.Indicator:
    fields: dict[str, Any] = {
        "id": f"indicator--{indicator.stix_id}",
        "created": indicator.added_at,
        "modified": max(indicator.updated_at, indicator.added_at),
        "name": f"{indicator.get_type_display()}: {indicator.value}"[:250],
        "pattern": pattern(indicator),
        "pattern_type": "stix",
        "valid_from": indicator.first_seen or indicator.added_at,
        "indicator_types": ["malicious-activity"],
        "confidence": indicator.confidence,
        "created_by_ref": PRODUCER_ID,
        "object_marking_refs": [TLP2_MARKINGS[indicator.tlp][0]],
    }
    # Name and description SHOULD both be present (the validator's best practices).
    fields["description"] = indicator.description or f"Attacker-side indicator recorded in {incident.reference}."
    if indicator.source:
        fields["external_references"] = [{"source_name": "breachline-source", "description": indicator.source}]
    return stix2.Indicator(**fields)


def bundle(incident: Incident, indicators: Sequence[Indicator]) -> stix2.Bundle:
    """A STIX 2.1 bundle of ``indicators`` (the caller has chosen them: attacker-side, RED only
    when asked). The grouping carries the most restrictive TLP among them."""
    producer = stix2.Identity(
        id=PRODUCER_ID, created=PRODUCER_CREATED, modified=PRODUCER_CREATED, name="Breachline", identity_class="system"
    )
    objects: list[Any] = [producer]
    used = sorted({indicator.tlp for indicator in indicators}, key=list(TLP2_MARKINGS).index)
    objects += [tlp_marking(tlp) for tlp in used]
    stix_indicators = [_stix_indicator(indicator, incident) for indicator in indicators]
    objects += stix_indicators
    if stix_indicators:
        objects.append(
            stix2.Grouping(
                created_by_ref=PRODUCER_ID,
                name=f"{incident.reference}: {incident.title}",
                context="suspicious-activity",
                object_refs=[item.id for item in stix_indicators],
                object_marking_refs=[TLP2_MARKINGS[used[-1]][0]],
            )
        )
    return stix2.Bundle(objects=objects, allow_custom=True)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _iso(value: Any) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def indicators_csv(indicators: Sequence[Indicator]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for indicator in indicators:
        row = {
            "type": indicator.type,
            "value": indicator.value,
            "tlp": indicator.get_tlp_display(),
            "role": indicator.role,
            "confidence": indicator.confidence,
            "first_seen": _iso(indicator.first_seen),
            "last_seen": _iso(indicator.last_seen),
            "source": indicator.source,
            "description": indicator.description,
            "added_at": _iso(indicator.added_at),
        }
        writer.writerow([_cell(row[name]) for name in CSV_FIELDS])
    return out.getvalue()


def filename(incident: Incident, extension: str) -> str:
    return f"{incident.reference}-indicators-{timezone.localtime():%Y%m%dT%H%M%S}.{extension}"
