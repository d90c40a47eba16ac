"""Every write to the vendor registry and to vendors' involvement in incidents.

Registry writes are checked by global role (``permissions.may_edit_vendor_registry``: admins and
incident leads); involvement writes by the rule table (``Action.MANAGE_VENDORS``), each in a
transaction with its (internal) activity entry. They raise ``ValidationError`` (400 / form
error), ``PermissionDenied`` (403) and ``VendorInUseError`` (below; the API answers 409).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User
from config.errors import ApplicationError
from config.services import model_update

from .. import events
from ..indicators.normalize import normalize
from ..models import VENDOR_DOMAINS_MAX, Incident, Vendor, VendorInvolvement, VendorRole, VendorTier
from ..permissions import Action, may_edit_vendor_registry, require
from ..services import _touch

# What people set on a vendor: the forms, the API serializers and vendor_update read it.
VENDOR_EDITABLE_FIELDS: tuple[str, ...] = (
    "name",
    "domains",
    "tier",
    "service",
    "data_processed",
    "security_contact",
    "account_manager",
    "contract_reference",
)
INVOLVEMENT_UPDATABLE_FIELDS = ("role", "vendor_reference")
REGISTRY_REFUSAL = "Only admins and incident leads may change the vendor registry."


class VendorInUseError(ApplicationError):
    """The vendor is involved in incidents: it stays in the registry (409)."""


def _require_editor(actor: User) -> None:
    if not may_edit_vendor_registry(actor):
        raise PermissionDenied(REGISTRY_REFUSAL)


def vendor_name_normalize(name: str) -> str:
    """Trimmed, inner whitespace collapsed: "  Northwind   MSP " is "Northwind MSP"."""
    return " ".join((name or "").split())


def vendor_domains_normalize(domains: Iterable[str]) -> list[str]:
    """Each domain as a domain indicator is stored (lower case, IDNA ``xn--``, trailing dot
    dropped, defanging undone), duplicates dropped, order kept; a ValidationError on ``domains``
    naming each bad one."""
    result: list[str] = []
    errors: list[str] = []
    for raw in domains:
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            value = normalize("domain", raw)
        except ValidationError as exc:
            errors += exc.messages
            continue
        if value not in result:
            result.append(value)
    if errors:
        raise ValidationError({"domains": errors})
    if len(result) > VENDOR_DOMAINS_MAX:
        raise ValidationError({"domains": [f"At most {VENDOR_DOMAINS_MAX} domains."]})
    return result


def _check_name_free(name: str, vendor: Vendor | None = None) -> None:
    taken = Vendor.objects.annotate(lower_name=Lower("name")).filter(lower_name=name.lower())
    if vendor is not None:
        taken = taken.exclude(pk=vendor.pk)
    if taken.exists():
        raise ValidationError({"name": ["A vendor with this name is already in the registry."]})


def _cleaned(data: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = dict(data)
    if "name" in cleaned:
        cleaned["name"] = vendor_name_normalize(cleaned["name"])
    if "domains" in cleaned:
        cleaned["domains"] = vendor_domains_normalize(cleaned["domains"] or [])
    for field in ("service", "data_processed", "security_contact", "account_manager", "contract_reference"):
        if field in cleaned:
            cleaned[field] = (cleaned[field] or "").strip()
    return cleaned


def _save_unique(vendor: Vendor, **kwargs: Any) -> None:
    """Save; a concurrent insert of the same name (the unique index on ``lower(name)``) is the
    same 400 as the check before it."""
    try:
        with transaction.atomic():
            vendor.save(**kwargs)
    except IntegrityError:
        _check_name_free(vendor.name, vendor if vendor.pk else None)
        raise


def vendor_create(*, actor: User, name: str, **fields: Any) -> Vendor:
    """Add a vendor to the registry (admins and incident leads). ``name`` is unique whatever its
    case; ``domains`` is a list of domains (defanged or Unicode accepted), normalized."""
    _require_editor(actor)
    unknown = sorted(set(fields) - set(VENDOR_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({field: ["Unknown field."] for field in unknown})
    data = _cleaned({"name": name, **fields})
    now = timezone.now()
    vendor = Vendor(created_by=actor, created_at=now, updated_at=now, **data)
    vendor.full_clean(exclude=["created_by"], validate_constraints=False)
    _check_name_free(vendor.name)
    _save_unique(vendor)
    return vendor


def vendor_update(*, vendor: Vendor, actor: User, data: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Change a vendor's registry entry (``VENDOR_EDITABLE_FIELDS``); returns the changes, old → new."""
    _require_editor(actor)
    cleaned = _cleaned(data)
    changes = model_update(
        instance=vendor,
        fields=VENDOR_EDITABLE_FIELDS,
        data=cleaned,
        exclude_from_clean=["created_by"],
        validate_constraints=False,
    )
    if not changes:
        return changes
    if "name" in changes:
        _check_name_free(vendor.name, vendor)
    vendor.updated_at = timezone.now()
    _save_unique(vendor, update_fields=[*changes, "updated_at"])
    return changes


def vendor_delete(*, vendor: Vendor, actor: User) -> None:
    """Remove a vendor that was never involved in an incident (a typo, a duplicate entry). One
    that was stays: its involvements are the case's record (VendorInUseError, 409)."""
    _require_editor(actor)
    with transaction.atomic():
        if VendorInvolvement.objects.filter(vendor=vendor).exists():
            raise VendorInUseError(f"{vendor.name} is involved in incidents and stays in the registry.")
        vendor.delete()


def _reference(value: str | None) -> str:
    return " ".join((value or "").split())


def involvement_add(
    *, incident: Incident, vendor: Vendor, actor: User, role: str = VendorRole.AFFECTED, vendor_reference: str = ""
) -> VendorInvolvement:
    """Record that ``vendor`` is part of ``incident`` (``Action.MANAGE_VENDORS``): as the entry
    point, an affected party or in support, with the vendor's own reference. A vendor already on
    the incident is a ValidationError on ``vendor``."""
    require(actor, incident, Action.MANAGE_VENDORS)
    now = timezone.now()
    involvement = VendorInvolvement(
        incident=incident,
        vendor=vendor,
        role=role,
        vendor_reference=_reference(vendor_reference),
        added_by=actor,
        added_at=now,
    )
    involvement.full_clean(exclude=["incident", "vendor", "added_by"], validate_constraints=False)
    duplicate = ValidationError({"vendor": [f"{vendor.name} is already on this incident."]})
    with transaction.atomic():
        if VendorInvolvement.objects.filter(incident=incident, vendor=vendor).exists():
            raise duplicate
        try:
            with transaction.atomic():
                involvement.save()
        except IntegrityError:
            raise duplicate from None
        events.vendor_involved_event(involvement=involvement, actor=actor)
        _touch(incident, now)
    return involvement


def involvement_update(
    *, involvement: VendorInvolvement, actor: User, data: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Change a vendor's role on the incident or their reference (``Action.MANAGE_VENDORS``);
    returns the changes, old → new, as the activity entry records them."""
    incident = involvement.incident
    require(actor, incident, Action.MANAGE_VENDORS)
    cleaned = dict(data)
    if "vendor_reference" in cleaned:
        cleaned["vendor_reference"] = _reference(cleaned["vendor_reference"])
    changes = model_update(
        instance=involvement,
        fields=INVOLVEMENT_UPDATABLE_FIELDS,
        data=cleaned,
        exclude_from_clean=["incident", "vendor", "added_by"],
        validate_constraints=False,
    )
    if not changes:
        return changes
    with transaction.atomic():
        involvement.save(update_fields=list(changes))
        events.vendor_role_changed_event(involvement=involvement, actor=actor, changes=changes)
        _touch(incident, timezone.now())
    return changes


def involvement_remove(*, involvement: VendorInvolvement, actor: User) -> None:
    """Take a vendor off the incident (``Action.MANAGE_VENDORS``); the activity entry keeps who
    it was and in what role."""
    incident = involvement.incident
    require(actor, incident, Action.MANAGE_VENDORS)
    with transaction.atomic():
        events.vendor_removed_event(involvement=involvement, actor=actor)
        VendorInvolvement.objects.filter(pk=involvement.pk).delete()
        _touch(incident, timezone.now())


__all__ = [
    "VENDOR_EDITABLE_FIELDS",
    "VendorInUseError",
    "VendorTier",
    "involvement_add",
    "involvement_remove",
    "involvement_update",
    "vendor_create",
    "vendor_delete",
    "vendor_update",
]
