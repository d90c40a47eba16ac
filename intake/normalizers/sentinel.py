"""Microsoft Sentinel → ``NormalizedAlert``: an incident or a SecurityAlert, told apart by shape.

(a) An **incident**, as the Sentinel incident trigger of a Logic App (automation rule) hands it
over — ``{"object": {"id": "/subscriptions/…/incidents/<guid>", "name": "<guid>",
"properties": {…}}, …}`` — or the incident resource itself (``{"id", "name", "properties"}``):

- ``source_ref`` = ``object.name`` (the incident's guid), else the last segment of ``object.id``;
- ``title`` = ``properties.title``; ``severity`` = ``properties.severity`` (High, Medium, Low,
  Informational); ``observed_at`` = ``properties.firstActivityTimeUtc``, else
  ``createdTimeUtc``; ``rule`` = the guid of the first of ``relatedAnalyticRuleIds``;
  ``description`` = ``properties.description``;
- entities from ``properties.relatedEntities`` (``{"kind": "Ip", "properties": {"address"}}``…).

(b) A **SecurityAlert** — a row of the SecurityAlert table or the Sentinel alert trigger's body:
``{"SystemAlertId", "AlertName" (or "AlertDisplayName"/"DisplayName"), "AlertSeverity" (or
"Severity"), "StartTimeUtc" (or "StartTime", "TimeGenerated"), "AlertType", "Description",
"ProductName", "Entities"}``, where ``Entities`` is a list, or that list as a JSON string (as the
table stores it), of ``{"Type": "ip", "Address"}``, ``{"Type": "host", "HostName",
"DnsDomain"}``, ``{"Type": "account", "Name", "UPNSuffix"}``, ``{"Type": "url", "Url"}``,
``{"Type": "filehash", "Algorithm", "Value"}``, ``{"Type": "dns", "DomainName"}``,
``{"Type": "file", "Name"}``, ``{"Type": "mailbox", "MailboxPrimaryAddress"}``.

Both: the first host entity is the ``host`` (``name.dnsDomain``), the first account the ``user``
(``name@upnSuffix``, else ``DOMAIN\\name``); every entity is also an observable. An unknown
severity is ``medium`` (the native value kept in ``extra``). Sentinel's times are UTC by
definition (``…TimeUtc``, Log Analytics' ``TimeGenerated``), so one written without an offset is
read as UTC; a time present but unparsable is an error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from . import NormalizedAlert, NormalizeError
from ._common import (
    DEFAULT_SEVERITY,
    HOST_MAX,
    MISSING,
    OBSERVABLES_MAX,
    RULE_MAX,
    TITLE_MAX,
    USER_MAX,
    Errors,
    Observables,
    as_text,
    block,
    clean_line,
    extra_value,
    first,
    hash_kind,
    json_type,
    line,
    pick_extra,
    require_object,
    required_line,
    severity_name,
    source_ref,
    time_field,
    trim,
)

_INCIDENT_EXTRA = {
    "incident_number": "incidentNumber",
    "status": "status",
    "incident_url": "incidentUrl",
    "owner": "owner.assignedTo",
    "owner_email": "owner.email",
    "classification": "classification",
    "provider": "providerName",
    "alerts_count": "additionalData.alertsCount",
    "tactics": "additionalData.tactics",
    "products": "additionalData.alertProductNames",
}
_ALERT_EXTRA = {
    "product": "ProductName",
    "product_component": "ProductComponentName",
    "vendor": "VendorName",
    "provider": "ProviderName",
    "status": "Status",
    "confidence": "ConfidenceLevel",
    "tactics": "Tactics",
    "techniques": "Techniques",
    "compromised_entity": "CompromisedEntity",
    "alert_link": "AlertLink",
}
_ALERT_KEYS = ("SystemAlertId", "AlertName", "AlertDisplayName", "DisplayName")


def normalize(payload: Any) -> NormalizedAlert:
    """A Sentinel incident or SecurityAlert → ``NormalizedAlert``; raises ``NormalizeError``
    naming what is missing or wrong in the shape it was recognized as."""
    data = require_object(payload, "A Sentinel incident or alert")
    if isinstance(data.get("object"), dict):
        return _incident(data["object"], "object.")
    if isinstance(data.get("properties"), dict):
        return _incident(data, "")
    if any(key in data for key in _ALERT_KEYS):
        return _alert(data)
    raise NormalizeError(
        {
            "non_field_errors": [
                "Neither a Sentinel incident (an 'object' with 'properties', as the incident trigger sends it) "
                "nor a SecurityAlert ('SystemAlertId', 'AlertName')."
            ]
        }
    )


def _incident(incident: dict[str, Any], prefix: str) -> NormalizedAlert:
    errors = Errors()
    properties = incident.get("properties")
    if not isinstance(properties, dict):
        errors.add(f"{prefix}properties", "A Sentinel incident carries its fields in 'properties'; it is missing.")
        properties = {}
    name = incident.get("name", MISSING)
    if name is MISSING and as_text(incident.get("id")) is not None:
        name = as_text(incident["id"]).rstrip("/").rsplit("/", 1)[-1]  # …/incidents/<guid>
    ref = source_ref(
        errors, f"{prefix}name", name, "A Sentinel incident is named by its guid in 'name' (or 'id'); it is missing."
    )
    title = required_line(
        errors,
        f"{prefix}properties.title",
        properties.get("title", MISSING),
        TITLE_MAX,
        "A Sentinel incident has a 'title'; it is missing.",
    )
    time_path, time_value = first(properties, "firstActivityTimeUtc", "createdTimeUtc")
    observed_at = _utc(time_field(errors, f"{prefix}properties.{time_path}", time_value))
    errors.raise_if_any()

    extra = pick_extra(properties, _INCIDENT_EXTRA)
    entities = _Entities(properties.get("relatedEntities"))
    rule_ids = properties.get("relatedAnalyticRuleIds")
    rule = as_text(rule_ids) or ""  # the first id: /subscriptions/…/alertRules/<guid>
    return NormalizedAlert(
        source_ref=ref,
        title=title,
        severity=_severity(properties.get("severity", MISSING), extra),
        observed_at=observed_at,
        rule=trim(clean_line(rule.rstrip("/").rsplit("/", 1)[-1]), RULE_MAX),
        host=entities.host,
        user=entities.user,
        description=block(properties.get("description")),
        observables=entities.observables.pairs,
        extra=extra,
    )


def _alert(alert: dict[str, Any]) -> NormalizedAlert:
    errors = Errors()
    ref = source_ref(
        errors,
        "SystemAlertId",
        alert.get("SystemAlertId", MISSING),
        "A Sentinel SecurityAlert is named by 'SystemAlertId'; it is missing.",
    )
    title_field, title_value = first(alert, "AlertName", "AlertDisplayName", "DisplayName")
    title = required_line(
        errors, title_field, title_value, TITLE_MAX, "A Sentinel SecurityAlert has an 'AlertName'; it is missing."
    )
    time_path, time_value = first(alert, "StartTimeUtc", "StartTime", "TimeGenerated")
    observed_at = _utc(time_field(errors, time_path, time_value))
    raw_entities = alert.get("Entities")
    if isinstance(raw_entities, str):
        try:
            raw_entities = json.loads(raw_entities)
        except (ValueError, RecursionError):
            errors.add("Entities", "Must be a list of entities, or that list as JSON text; it does not parse.")
            raw_entities = None
    if raw_entities is not None and not isinstance(raw_entities, list):
        errors.add("Entities", f"Must be a list of entities; got {json_type(raw_entities)}.")
    errors.raise_if_any()

    extra = pick_extra(alert, _ALERT_EXTRA)
    entities = _Entities(raw_entities)
    return NormalizedAlert(
        source_ref=ref,
        title=title,
        severity=_severity(first(alert, "AlertSeverity", "Severity")[1], extra),
        observed_at=observed_at,
        rule=line(alert.get("AlertType"), RULE_MAX),
        host=entities.host or line(alert.get("CompromisedEntity"), HOST_MAX),
        user=entities.user,
        description=block(alert.get("Description")),
        observables=entities.observables.pairs,
        extra=extra,
    )


def _utc(moment: datetime | None) -> datetime | None:
    # Sentinel's times are UTC whether or not the text says so.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _severity(native: Any, extra: dict[str, Any]) -> str:
    severity = severity_name(native)
    if severity is None:
        if native is not MISSING and extra_value(native) is not MISSING:
            extra["native_severity"] = extra_value(native)
        return DEFAULT_SEVERITY
    return severity


class _Entities:
    """Sentinel entities of either shape — the incident's ``{"kind": "Host", "properties":
    {"hostName"}}`` or the alert's ``{"Type": "host", "HostName"}`` — read with case-insensitive
    keys into the first host, the first account and observables. Entities that are not objects,
    or lack what their kind needs, are skipped (``{"$ref": "2"}`` back-references among them)."""

    def __init__(self, raw: Any) -> None:
        self.host = ""
        self.user = ""
        self.observables = Observables()
        for entity in raw[:OBSERVABLES_MAX] if isinstance(raw, list) else []:
            if isinstance(entity, dict):
                self._read(entity)

    def _read(self, entity: dict[str, Any]) -> None:
        fields = entity.get("properties") if "kind" in entity else entity
        kind = as_text(entity.get("kind") if "kind" in entity else entity.get("Type"))
        if kind is None or not isinstance(fields, dict):
            return
        get = {str(key).lower(): value for key, value in fields.items()}.get
        kind = kind.lower()
        if kind == "ip":
            self.observables.add("ip", get("address"))
        elif kind == "host":
            host = self._joined(as_text(get("hostname")), as_text(get("dnsdomain")), ".")
            self.observables.add("hostname", host)
            self.host = self.host or trim(clean_line(host or ""), HOST_MAX)
        elif kind == "account":
            account = self._account(get)
            self.observables.add("account", account)
            self.user = self.user or trim(clean_line(account or ""), USER_MAX)
        elif kind == "url":
            self.observables.add("url", get("url"))
        elif kind == "filehash":
            value = as_text(get("value") or get("hashvalue"))
            algorithm = (as_text(get("algorithm")) or "").lower()
            if value is not None:
                self.observables.add(algorithm if algorithm in ("sha256", "sha1", "md5") else hash_kind(value), value)
        elif kind in ("dns", "dnsresolution"):
            self.observables.add("domain", get("domainname"))
        elif kind == "file":
            self.observables.add("filename", get("name") or get("filename"))
        elif kind == "mailbox":
            self.observables.add("email", get("mailboxprimaryaddress"))

    @staticmethod
    def _account(get: Any) -> str | None:
        name = as_text(get("name") or get("accountname"))
        if suffix := as_text(get("upnsuffix")):
            return _Entities._joined(name, suffix, "@")
        if name and (domain := as_text(get("ntdomain"))):
            return f"{domain}\\{name}"
        return name

    @staticmethod
    def _joined(name: str | None, suffix: str | None, separator: str) -> str | None:
        if not name:
            return None
        return f"{name}{separator}{suffix}" if suffix and not name.endswith(separator + suffix) else name
