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
from ..models import (
    NOTHING_TO_ROTATE,
    VENDOR_DOMAINS_MAX,
    AccessKind,
    AccessState,
    Incident,
    Vendor,
    VendorAccess,
    VendorAccessStep,
    VendorInvolvement,
    VendorKnownAccess,
    VendorQuestion,
    VendorRole,
    VendorTier,
)
from ..permissions import Action, may_edit_vendor_registry, require
from ..selectors import sees_internal
from ..services import touch

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
        touch(incident, now)
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
        touch(incident, timezone.now())
    return changes


def involvement_remove(*, involvement: VendorInvolvement, actor: User) -> None:
    """Take a vendor off the incident (``Action.MANAGE_VENDORS``); the activity entry keeps who
    it was and in what role."""
    incident = involvement.incident
    require(actor, incident, Action.MANAGE_VENDORS)
    count = VendorAccess.objects.filter(involvement=involvement).count()
    if count:
        # The access items are the containment record (VendorAccess.involvement is PROTECT).
        noun = "item" if count == 1 else "items"
        raise ValidationError(
            {"vendor": [f"{involvement.vendor.name} has {count} access {noun} on this incident: it stays."]}
        )
    with transaction.atomic():
        events.vendor_removed_event(involvement=involvement, actor=actor)
        VendorInvolvement.objects.filter(pk=involvement.pk).delete()
        touch(incident, timezone.now())


# --- Access inventory --------------------------------------------------------------------------
ACCESS_FIELDS = ("kind", "system", "identifier", "privilege")

# The state machine: forward, one step at a time. Revoked goes straight to verified unused only
# for kinds with nothing to rotate (models.NOTHING_TO_ROTATE: OAuth grants, network paths,
# physical badges).
NEXT_STATES: dict[str, tuple[str, ...]] = {
    AccessState.ACTIVE: (AccessState.REVOKED,),
    AccessState.REVOKED: (AccessState.ROTATED,),
    AccessState.ROTATED: (AccessState.VERIFIED_UNUSED,),
    AccessState.VERIFIED_UNUSED: (),
}
STEP_NOTE_MAX = 2_000


def next_states(access: VendorAccess) -> tuple[str, ...]:
    """Where ``access`` may go next (the forms offer these, ``access_step`` accepts only these)."""
    if access.state == AccessState.REVOKED and access.kind in NOTHING_TO_ROTATE:
        return (AccessState.ROTATED, AccessState.VERIFIED_UNUSED)
    return NEXT_STATES[access.state]


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())


def _access_cleaned(kind: str, system: str, identifier: str, privilege: str) -> dict[str, str]:
    data = {
        "kind": kind,
        "system": _one_line(system),
        "identifier": _one_line(identifier),
        "privilege": _one_line(privilege),
    }
    errors: dict[str, list[str]] = {}
    if kind not in AccessKind.values:
        errors["kind"] = [f"Choose one of: {', '.join(AccessKind.values)}."]
    for name in ("system", "identifier"):
        if not data[name]:
            errors[name] = ["This field is required."]
    if errors:
        raise ValidationError(errors)
    return data


def _involvement_locked(involvement: VendorInvolvement) -> None:
    # Serializes writes to one involvement's inventory (the duplicate checks below).
    VendorInvolvement.objects.select_for_update().filter(pk=involvement.pk).first()


def access_add(
    *,
    involvement: VendorInvolvement,
    actor: User,
    kind: str,
    system: str,
    identifier: str,
    privilege: str = "",
) -> VendorAccess:
    """Record a piece of the vendor's access into us on this incident, active
    (``Action.MANAGE_VENDORS``). The same kind, system and identifier twice is a ValidationError
    on ``identifier``."""
    incident = involvement.incident
    require(actor, incident, Action.MANAGE_VENDORS)
    data = _access_cleaned(kind, system, identifier, privilege)
    now = timezone.now()
    access = VendorAccess(involvement=involvement, added_by=actor, added_at=now, state_changed_at=now, **data)
    access.full_clean(exclude=["involvement", "added_by", "known"], validate_constraints=False)
    with transaction.atomic():
        _involvement_locked(involvement)
        if VendorAccess.objects.filter(involvement=involvement, **{k: data[k] for k in ACCESS_FIELDS[:3]}).exists():
            raise ValidationError({"identifier": [f"{access.label} on {access.system} is already listed."]})
        access.save()
        events.vendor_access_added_event(involvement=involvement, items=[access], actor=actor)
        touch(incident, now)
    return access


def access_fill_from_registry(*, involvement: VendorInvolvement, actor: User) -> list[VendorAccess]:
    """Copy the vendor's known access (the registry) into this incident's inventory, active,
    skipping what is already listed (same kind, system and identifier). Returns what was added
    (one activity entry for the batch; none when nothing was)."""
    incident = involvement.incident
    require(actor, incident, Action.MANAGE_VENDORS)
    now = timezone.now()
    with transaction.atomic():
        _involvement_locked(involvement)
        listed = set(VendorAccess.objects.filter(involvement=involvement).values_list("kind", "system", "identifier"))
        added: list[VendorAccess] = []
        for known in VendorKnownAccess.objects.filter(vendor_id=involvement.vendor_id).order_by("id"):
            key = (known.kind, known.system, known.identifier)
            if key in listed:
                continue
            listed.add(key)
            added.append(
                VendorAccess(
                    involvement=involvement,
                    kind=known.kind,
                    system=known.system,
                    identifier=known.identifier,
                    privilege=known.privilege,
                    known=known,
                    added_by=actor,
                    added_at=now,
                    state_changed_at=now,
                )
            )
        if not added:
            return []
        for access in added:
            access.save()
        events.vendor_access_added_event(involvement=involvement, items=added, actor=actor, from_registry=True)
        touch(incident, now)
    return added


def _state_label(state: str) -> str:
    return AccessState(state).label.lower() if state in AccessState.values else state


def access_step(
    *,
    access: VendorAccess,
    actor: User,
    to: str,
    note: str = "",
    verified_unused_since: Any = None,
) -> VendorAccessStep:
    """Move ``access`` one step forward (``NEXT_STATES``; ``Action.MANAGE_VENDORS``), recording
    who, when and how. A skip, a step back or staying put is a ValidationError on ``to``;
    verified unused needs ``note`` (how it was verified) and ``verified_unused_since`` (not in
    the future)."""
    involvement = access.involvement
    incident = involvement.incident
    require(actor, incident, Action.MANAGE_VENDORS)
    note = (note or "").strip()
    if to not in AccessState.values:
        raise ValidationError({"to": [f"Choose one of: {', '.join(AccessState.values)}."]})
    if len(note) > STEP_NOTE_MAX:
        raise ValidationError({"note": [f"At most {STEP_NOTE_MAX:,} characters."]})
    now = timezone.now()
    with transaction.atomic():
        current = VendorAccess.objects.select_for_update().get(pk=access.pk)
        allowed = next_states(current)
        if to not in allowed:
            if current.state == to:
                message = f"{current.label} is already {_state_label(to)}."
            elif not allowed:
                message = f"{current.label} is verified unused: that is its last step."
            else:
                options = " or ".join(_state_label(state) for state in allowed)
                message = (
                    f"{current.label} is {_state_label(current.state)}: its next step is {options}, "
                    f"not {_state_label(to)} (steps go forward one at a time)."
                )
            raise ValidationError({"to": [message]})
        errors: dict[str, list[str]] = {}
        if to == AccessState.VERIFIED_UNUSED:
            if not note:
                errors["note"] = ["Say how it was verified unused (which logs, which period)."]
            if verified_unused_since is None:
                errors["verified_unused_since"] = ["Say since when it has been unused."]
            elif verified_unused_since > now:
                errors["verified_unused_since"] = ["Cannot be in the future."]
        elif verified_unused_since is not None:
            errors["verified_unused_since"] = ["Only the verified unused step has a date since."]
        if errors:
            raise ValidationError(errors)
        old = current.state
        current.state = to
        current.state_changed_at = now
        current.verified_unused_since = verified_unused_since if to == AccessState.VERIFIED_UNUSED else None
        current.save(update_fields=["state", "state_changed_at", "verified_unused_since"])
        step = VendorAccessStep.objects.create(
            access=current,
            from_state=old,
            to_state=to,
            actor=actor,
            at=now,
            note=note,
            verified_unused_since=current.verified_unused_since,
        )
        current.involvement = involvement
        events.vendor_access_stepped_event(access=current, actor=actor, old=old, new=to, note=note)
        touch(incident, now)
    access.state, access.state_changed_at = current.state, now
    access.verified_unused_since = current.verified_unused_since
    return step


def known_access_add(
    *, vendor: Vendor, actor: User, kind: str, system: str, identifier: str, privilege: str = "", notes: str = ""
) -> VendorKnownAccess:
    """Record in the registry access ``vendor`` is known to hold (registry editors). The same
    kind, system and identifier twice is a ValidationError on ``identifier``."""
    _require_editor(actor)
    data = _access_cleaned(kind, system, identifier, privilege)
    known = VendorKnownAccess(vendor=vendor, created_by=actor, notes=(notes or "").strip(), **data)
    known.full_clean(exclude=["vendor", "created_by"], validate_constraints=False)
    with transaction.atomic():
        if VendorKnownAccess.objects.filter(vendor=vendor, **{k: data[k] for k in ACCESS_FIELDS[:3]}).exists():
            raise ValidationError({"identifier": [f"{known} is already known."]})
        known.save()
    return known


# --- Questions to the vendor -------------------------------------------------------------------
def question_ask(*, involvement: VendorInvolvement, actor: User, question: str, due_at: Any) -> VendorQuestion:
    """Ask the vendor a question on this incident, due at ``due_at`` (not in the past)
    (``Action.MANAGE_VENDORS``: the members working the case)."""
    incident = involvement.incident
    require(actor, incident, Action.MANAGE_VENDORS)
    text = (question or "").strip()
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    if not text:
        errors["question"] = ["This field is required."]
    if due_at is None:
        errors["due_at"] = ["This field is required."]
    elif due_at < now:
        errors["due_at"] = ["The due time cannot be in the past."]
    if errors:
        raise ValidationError(errors)
    row = VendorQuestion(involvement=involvement, question=text, due_at=due_at, asked_by=actor, asked_at=now)
    row.full_clean(exclude=["involvement", "asked_by", "answered_by"], validate_constraints=False)
    with transaction.atomic():
        row.save()
        events.vendor_question_asked_event(question=row, actor=actor)
        touch(incident, now)
    return row


def question_answer(*, question: VendorQuestion, actor: User, answer: str) -> VendorQuestion:
    """Answer a question (``Action.ANSWER_VENDOR_QUESTIONS``): the vendor's own collaborator
    (``User.vendor`` is the involvement's vendor), or a member working the case recording an
    answer received elsewhere. Answered once: a second answer is a ValidationError on ``answer``."""
    involvement = question.involvement
    incident = involvement.incident
    require(actor, incident, Action.ANSWER_VENDOR_QUESTIONS)
    if not sees_internal(actor) and getattr(actor, "vendor_id", None) != involvement.vendor_id:
        # Unreachable through the views (another company's involvement is a 404 for them).
        raise PermissionDenied("You may only answer your own company's questions.")
    text = (answer or "").strip()
    if not text:
        raise ValidationError({"answer": ["This field is required."]})
    now = timezone.now()
    with transaction.atomic():
        current = VendorQuestion.objects.select_for_update().get(pk=question.pk)
        if current.answered_at is not None:
            raise ValidationError({"answer": ["This question is already answered."]})
        current.answer, current.answered_by, current.answered_at = text, actor, now
        current.full_clean(exclude=["involvement", "asked_by", "answered_by"], validate_constraints=False)
        current.save(update_fields=["answer", "answered_by", "answered_at"])
        current.involvement = involvement
        events.vendor_question_answered_event(question=current, actor=actor)
        touch(incident, now)
    question.answer, question.answered_by, question.answered_at = text, actor, now
    return question


__all__ = [
    "VENDOR_EDITABLE_FIELDS",
    "VendorInUseError",
    "VendorTier",
    "access_add",
    "access_fill_from_registry",
    "access_step",
    "involvement_add",
    "involvement_remove",
    "involvement_update",
    "known_access_add",
    "next_states",
    "question_answer",
    "question_ask",
    "vendor_create",
    "vendor_delete",
    "vendor_update",
]
