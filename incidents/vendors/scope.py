"""Affected scope: the systems, accounts and data sets an incident touched (issue 9, third slice).

Writes (``scope_add``, ``scope_remove``) are the rule table's ``edit`` row: they decide the
incident's personal-data flag and record count, which are ``edit`` fields. Each write derives,
in its transaction and with the incident row locked, those two fields from the rows:

- ``personal_data`` is true when any row carries a personal, health or financial category
  (``models.PERSONAL_CATEGORIES``), false otherwise;
- ``records_affected`` is the sum of ``records`` over those rows (rows without a count add
  nothing), or empty when none of them has a count.

Once an incident has scope rows the derived values win: ``incident_update`` refuses to change
the two fields (a 400 naming the scope), and the edit form shows them read-only. Removing the
last row leaves the values as they were, editable by hand again. A change is recorded as an
``updated`` entry, old → new, with ``derived_from: "affected_scope"``, and bumps the version
like any edit (an editor who loaded the old values gets the usual conflict).

Rows are ``SharedContent``: internal rows (the default on a restricted incident) are hidden from
vendor collaborators; the derivation reads every row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User

from .. import events
from ..models import PERSONAL_CATEGORIES, AffectedScope, DataCategory, Incident, ScopeKind
from ..permissions import Action, may, require
from ..selectors import sees_internal, shared_with

JURISDICTIONS_MAX = 250
_ALPHA2 = re.compile(r"^[A-Z]{2}$")
# ISO 3166-1 alpha-2: the officially assigned codes.
_ISO_CODES = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI "
    "BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN "
    "CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK "
    "FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
    "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK "
    "ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP "
    "NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF "
    "TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW"
)
ISO_3166_ALPHA2 = frozenset(_ISO_CODES.split())


def data_categories_clean(values: Iterable[Any]) -> list[str]:
    """Known categories, de-duplicated in the order of ``DataCategory``; a ValidationError on
    ``data_categories`` naming each unknown one."""
    given = list(values or [])
    unknown = [str(value) for value in given if value not in DataCategory.values]
    if unknown:
        choices = ", ".join(DataCategory.values)
        raise ValidationError(
            {"data_categories": [f"Unknown data category “{v}” (choose from {choices})." for v in unknown]}
        )
    return [value for value in DataCategory.values if value in given]


def jurisdictions_clean(values: Iterable[Any]) -> list[str]:
    """ISO 3166-1 alpha-2 codes, upper-cased, de-duplicated, order kept; a ValidationError on
    ``jurisdictions`` naming each code that is not one."""
    result: list[str] = []
    errors: list[str] = []
    for raw in values or []:
        code = str(raw).strip().upper()
        if not code:
            continue
        if not _ALPHA2.match(code) or code not in ISO_3166_ALPHA2:
            errors.append(f"“{raw}” is not an ISO 3166-1 alpha-2 country code (e.g. DE, FR, US).")
        elif code not in result:
            result.append(code)
    if errors:
        raise ValidationError({"jurisdictions": errors})
    if len(result) > JURISDICTIONS_MAX:
        raise ValidationError({"jurisdictions": [f"At most {JURISDICTIONS_MAX} jurisdictions."]})
    return result


def derived_values(rows: Iterable[AffectedScope]) -> dict[str, Any]:
    """``{"personal_data", "records_affected"}`` from scope rows (the module's rule)."""
    personal = [row for row in rows if PERSONAL_CATEGORIES & set(row.data_categories or [])]
    counts = [row.records for row in personal if row.records is not None]
    return {"personal_data": bool(personal), "records_affected": sum(counts) if counts else None}


def _derive(incident: Incident, actor: User) -> dict[str, tuple[Any, Any]]:
    """Inside the caller's transaction, with the incident row locked: write the derived values
    if they changed, with an ``updated`` entry (old → new). Returns the changes."""
    current = Incident.objects.select_for_update(of=("self",)).get(pk=incident.pk)
    rows = list(AffectedScope.objects.filter(incident=current))
    if not rows:
        return {}
    values = derived_values(rows)
    changes = {
        field: (getattr(current, field), value) for field, value in values.items() if getattr(current, field) != value
    }
    if not changes:
        return {}
    Incident.objects.filter(pk=current.pk).update(
        **{field: new for field, (_, new) in changes.items()}, updated_at=timezone.now(), version=F("version") + 1
    )
    events.updated_event(incident=current, actor=actor, changes=changes, derived_from="affected_scope")
    for field, (_, new) in changes.items():
        setattr(incident, field, new)
    incident.version = current.version + 1
    return changes


def scope_add(
    *,
    incident: Incident,
    actor: User,
    kind: str,
    name: str,
    owner: str = "",
    data_categories: Iterable[Any] = (),
    records: int | None = None,
    jurisdictions: Iterable[Any] = (),
    internal: bool | None = None,
) -> AffectedScope:
    """Record an affected system, account or data set (``Action.EDIT``) and derive the
    incident's personal-data flag and record count. ``internal`` defaults to the incident's
    restricted flag."""
    require(actor, incident, Action.EDIT)
    errors: dict[str, list[str]] = {}
    for check in (lambda: data_categories_clean(data_categories), lambda: jurisdictions_clean(jurisdictions)):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if kind not in ScopeKind.values:
        errors["kind"] = [f"Choose one of: {', '.join(ScopeKind.values)}."]
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = ["This field is required."]
    if records is not None and (isinstance(records, bool) or not isinstance(records, int) or records < 1):
        errors["records"] = ["A positive whole number, or empty when unknown."]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    row = AffectedScope(
        incident=incident,
        kind=kind,
        name=name,
        owner=" ".join((owner or "").split()),
        data_categories=data_categories_clean(data_categories),
        records=records,
        jurisdictions=jurisdictions_clean(jurisdictions),
        internal=incident.restricted if internal is None else bool(internal),
        added_by=actor,
        added_at=now,
    )
    row.full_clean(exclude=["incident", "added_by"], validate_constraints=False)
    with transaction.atomic():
        row.save()
        events.scope_added_event(scope=row, actor=actor)
        if not _derive(incident, actor):
            Incident.objects.filter(pk=incident.pk).update(updated_at=now)
    return row


def scope_remove(*, scope: AffectedScope, actor: User) -> None:
    """Remove a scope row (``Action.EDIT``) and derive again from what is left (nothing is
    derived once no row is left: the values stay, editable by hand)."""
    incident = scope.incident
    require(actor, incident, Action.EDIT)
    with transaction.atomic():
        events.scope_removed_event(scope=scope, actor=actor)
        AffectedScope.objects.filter(pk=scope.pk).delete()
        if not _derive(incident, actor):
            Incident.objects.filter(pk=incident.pk).update(updated_at=timezone.now())


def derived_lock(incident: Incident) -> bool:
    """Whether the incident's personal-data flag and record count come from its scope rows."""
    return AffectedScope.objects.filter(incident=incident).exists()


# --- Reads -------------------------------------------------------------------------------------
def scope_for(viewer: User, incident: Incident) -> QuerySet[AffectedScope]:
    """The rows ``viewer`` may see (internal ones are hidden from vendor collaborators)."""
    return shared_with(AffectedScope.objects.filter(incident=incident), viewer).order_by("added_at", "id")


def scope_get(*, viewer: User, incident: Incident, scope_id: int) -> AffectedScope | None:
    row = scope_for(viewer, incident).filter(pk=scope_id).first()
    if row is not None:
        row.incident = incident
    return row


class ScopeList:
    """The panel's rows, one query, run where the template first reads them."""

    def __init__(self, viewer: Any, incident: Incident) -> None:
        self.viewer, self.incident = viewer, incident

    @cached_property
    def items(self) -> list[AffectedScope]:
        return list(scope_for(self.viewer, self.incident))


def panel_context(request: HttpRequest, incident: Incident, *, scope_notice: str = "") -> dict[str, Any]:
    viewer = request.user
    return {
        "scope": ScopeList(viewer, incident),
        "scope_editable": may(viewer, Action.EDIT, incident),
        "scope_offer_internal": sees_internal(viewer),
        "scope_kinds": ScopeKind.choices,
        "data_categories": DataCategory.choices,
        "scope_notice": scope_notice,
    }
