"""Every write to evidence, its chain of custody and legal holds.

Like ``incidents.services``: keyword-only, validated (``full_clean``), checked against the rule
table, in one transaction with the custody event and the activity entry that belong to it. They
raise ``ValidationError`` (400 / form error), ``PermissionDenied`` (403) and ``EvidencePurged``
(410: the file of a closed incident was purged). Stored files are written before the transaction
and removed again if it fails, so a refused or failed upload leaves no file behind.

Who may do what (``incidents.permissions.RULES``): adding evidence is ``CONTRIBUTE`` (like a
finding: whoever adds to the case may add what they collected; a vendor collaborator's evidence is
never internal); downloading is ``DOWNLOAD_EVIDENCE`` (never executives); transferring custody is
``TRANSFER_EVIDENCE`` (members working the case); legal holds are ``LEGAL_HOLD`` (lead, admins).
Exporting a manifest needs only sight of the evidence: it shows what the evidence list shows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts.models import User

from .. import events
from ..models import (
    CustodyAction,
    CustodyEvent,
    Evidence,
    EvidenceKind,
    Incident,
    LegalHold,
    Status,
    Vendor,
)
from ..permissions import REFUSALS, Action, require
from ..selectors import sees_internal
from ..services import _internal_default, touch
from . import custody
from .selectors import custody_trail, evidence_for, legal_hold_active
from .storage import evidence_storage
from .uploads import clean_name, file_digests, hash_chunks, sniff_content_type

logger = logging.getLogger(__name__)

TEXT_MAX_CHARS = 200_000
TEXT_CONTENT_TYPE = "text/plain"
RECIPIENT_MAX = 200
REASON_MAX = 1_000
HOLD_REASON_MAX = 500
_CHUNK = 1024 * 1024


class EvidencePurged(Exception):
    """The evidence's file was purged with its closed incident: there is nothing to read (410)."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        when = timezone.localtime(evidence.purged_at).strftime("%Y-%m-%d %H:%M %Z")
        super().__init__(f"The file of “{evidence.name}” was purged on {when}; its hashes and custody remain.")


def _metadata(
    *,
    incident: Incident,
    actor: User,
    collected_at: datetime | None,
    source_system: str,
    description: str,
    internal: bool | None,
    privileged: bool,
    malware: bool,
    vendor: Vendor | None = None,
) -> dict[str, Any]:
    now = timezone.now()
    collected_at = collected_at or now
    if collected_at > now:
        raise ValidationError({"collected_at": ["The collection time cannot be in the future."]})
    if not sees_internal(actor):
        # A vendor collaborator's evidence comes from their own company, whoever they name.
        if vendor is not None and vendor.pk != actor.vendor_id:
            raise ValidationError({"vendor": ["You can only name your own company."]})
        vendor = actor.vendor
    return {
        "vendor": vendor,
        "incident": incident,
        "collected_by": actor,
        "collected_at": collected_at,
        "added_at": now,
        "source_system": " ".join((source_system or "").split()),
        "description": (description or "").strip(),
        "internal": _internal_default(internal, incident, actor),
        "privileged": bool(privileged),
        "malware": bool(malware),
    }


def _validate(evidence: Evidence) -> None:
    # Loaded objects and CHECK constraints the kind guarantees: no queries for them.
    evidence.full_clean(exclude=["incident", "collected_by", "custody_head"], validate_constraints=False)


def _record(evidence: Evidence, actor: User) -> None:
    """Insert a new evidence row, its collect event and its activity entry (in the caller's
    transaction). The chain starts from the content's SHA-256."""
    evidence.custody_head, evidence.custody_count = evidence.sha256, 0
    evidence.save()
    custody.append(evidence, CustodyAction.COLLECT, actor=actor, details={"evidence": custody.snapshot(evidence)})
    events.evidence_added_event(evidence=evidence, actor=actor)


def evidence_files_add(
    *,
    incident: Incident,
    actor: User,
    files: Sequence[File],
    collected_at: datetime | None = None,
    source_system: str = "",
    description: str = "",
    internal: bool | None = None,
    privileged: bool = False,
    malware: bool = False,
    vendor: Vendor | None = None,
) -> list[Evidence]:
    """Add one evidence item per file, all with the same description (``Action.CONTRIBUTE``).

    Files received by ``EvidenceUploadHandler`` carry their digests and are moved into the
    evidence storage without being read again; any other file is hashed in one streaming pass.
    The content type is sniffed from the bytes. ``internal`` defaults to the incident's
    ``restricted`` flag (never internal for a vendor collaborator). All or nothing: on any error
    no row is written and every file already stored is removed.
    """
    require(actor, incident, Action.CONTRIBUTE)
    if not files:
        raise ValidationError({"file": ["Choose at least one file."]})
    common = _metadata(
        incident=incident,
        actor=actor,
        collected_at=collected_at,
        source_system=source_system,
        description=description,
        internal=internal,
        privileged=privileged,
        malware=malware,
        vendor=vendor,
    )
    pending: list[tuple[Evidence, File]] = []
    for file in files:
        digests, head, size = file_digests(file)
        name = clean_name(getattr(file, "name", "") or "")
        if size == 0:
            raise ValidationError({"file": [f"“{name}” is empty."]})
        evidence = Evidence(
            kind=EvidenceKind.FILE,
            name=name,
            stored_name="pending",
            size=size,
            content_type=sniff_content_type(head),
            sha256=digests.sha256,
            md5=digests.md5,
            sha1=digests.sha1,
            **common,
        )
        _validate(evidence)
        pending.append((evidence, file))

    storage = evidence_storage()
    stored: list[str] = []
    try:
        for evidence, file in pending:
            target = f"{incident.reference}/{uuid.uuid4().hex}"
            stored.append(target)  # before saving: a half-written file is removed too
            stored[-1] = evidence.stored_name = storage.save(target, file)
        with transaction.atomic():
            for evidence, _ in pending:
                _record(evidence, actor)
            touch(incident, common["added_at"])
    except BaseException:
        for name in stored:
            try:
                storage.delete(name)
            except Exception:
                logger.exception("could not remove the evidence file %s after a failed upload", name)
        raise
    return [evidence for evidence, _ in pending]


def evidence_text_add(
    *,
    incident: Incident,
    actor: User,
    name: str,
    text: str,
    collected_at: datetime | None = None,
    source_system: str = "",
    description: str = "",
    internal: bool | None = None,
    privileged: bool = False,
    malware: bool = False,
    vendor: Vendor | None = None,
) -> Evidence:
    """Add a text excerpt (a log excerpt, e-mail headers) as evidence (``Action.CONTRIBUTE``).

    The text is kept exactly as given (no trimming: it is hashed, SHA-256/MD5/SHA-1 of its UTF-8
    bytes, and what is downloaded later is those bytes); ``name`` is its title.
    """
    require(actor, incident, Action.CONTRIBUTE)
    title = " ".join(clean_name(name or "", default="", keep_slashes=True).split())
    errors: dict[str, list[str]] = {}
    if not title:
        errors["name"] = ["Give the excerpt a title."]
    if not (text or "").strip():
        errors["text"] = ["The excerpt is empty."]
    elif len(text) > TEXT_MAX_CHARS:
        errors["text"] = [f"At most {TEXT_MAX_CHARS:,} characters (it has {len(text):,}); add it as a file instead."]
    elif "\x00" in text:
        errors["text"] = ["The excerpt contains NUL characters: add it as a file instead."]
    if errors:
        raise ValidationError(errors)
    common = _metadata(
        incident=incident,
        actor=actor,
        collected_at=collected_at,
        source_system=source_system,
        description=description,
        internal=internal,
        privileged=privileged,
        malware=malware,
        vendor=vendor,
    )
    digests, _, size = hash_chunks([text.encode("utf-8")])
    evidence = Evidence(
        kind=EvidenceKind.TEXT,
        name=title,
        text=text,
        size=size,
        content_type=TEXT_CONTENT_TYPE,
        sha256=digests.sha256,
        md5=digests.md5,
        sha1=digests.sha1,
        **common,
    )
    _validate(evidence)
    with transaction.atomic():
        _record(evidence, actor)
        touch(incident, common["added_at"])
    return evidence


def _check_sees(actor: User, evidence: Evidence, action: Action) -> None:
    # The selectors already answer 404; a service called with an item the actor may not see
    # refuses all the same.
    if evidence.internal and not sees_internal(actor):
        raise PermissionDenied(REFUSALS[action])


def evidence_access(*, evidence: Evidence, actor: User, note: str = "download") -> CustodyEvent:
    """Record that ``actor`` reads the evidence (a download, a text excerpt read): an ``access``
    custody event. ``Action.DOWNLOAD_EVIDENCE``; raises ``EvidencePurged`` for a purged file.
    The caller sends the content only after this returned."""
    require(actor, evidence.incident, Action.DOWNLOAD_EVIDENCE)
    _check_sees(actor, evidence, Action.DOWNLOAD_EVIDENCE)
    if evidence.purged_at is not None:
        raise EvidencePurged(evidence)
    with transaction.atomic():
        return custody.append(evidence, CustodyAction.ACCESS, actor=actor, note=note)


def evidence_transfer(*, evidence: Evidence, actor: User, recipient: str, reason: str) -> CustodyEvent:
    """Record a transfer of custody: to whom (a person, a lab, law enforcement…) and why
    (``Action.TRANSFER_EVIDENCE``). Writes the custody event and an activity entry as internal
    as the evidence."""
    require(actor, evidence.incident, Action.TRANSFER_EVIDENCE)
    _check_sees(actor, evidence, Action.TRANSFER_EVIDENCE)
    recipient = " ".join((recipient or "").split())
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not recipient:
        errors["recipient"] = ["Say to whom the evidence is transferred."]
    elif len(recipient) > RECIPIENT_MAX:
        errors["recipient"] = [f"At most {RECIPIENT_MAX} characters."]
    if not reason:
        errors["reason"] = ["Say why it is transferred."]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [f"At most {REASON_MAX:,} characters."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        event = custody.append(evidence, CustodyAction.TRANSFER, actor=actor, recipient=recipient, note=reason)
        events.evidence_transferred_event(evidence=evidence, actor=actor, recipient=recipient, reason=reason)
        touch(evidence.incident, event.at)
    return event


def evidence_export(*, incident: Incident, actor: User, format: str) -> list[Evidence]:
    """Record an ``export`` custody event on every item ``actor`` may see (the manifest they are
    about to receive) and return those items as they are after it (collector loaded), so the
    manifest carries each chain's new head. No rule of its own: a manifest shows what the
    evidence list shows."""
    items = list(evidence_for(actor, incident).select_related("collected_by"))
    with transaction.atomic():
        for evidence in items:
            custody.append(evidence, CustodyAction.EXPORT, actor=actor, note=f"evidence manifest ({format})")
    return items


def evidence_content_problems(evidence: Evidence) -> list[str]:
    """Whether the content is still what was collected: the stored file re-hashed (streaming),
    or the text. Purged files are not checked (their custody records the purge)."""
    if evidence.kind == EvidenceKind.TEXT:
        digests, _, size = hash_chunks([evidence.text.encode("utf-8")])
        if digests.sha256 != evidence.sha256:
            return [f"text changed: SHA-256 is {digests.sha256}, recorded {evidence.sha256}"]
        return []
    if evidence.purged_at is not None:
        return []
    storage = evidence_storage()
    try:
        with storage.open(evidence.stored_name, "rb") as stored:
            digests, _, size = hash_chunks(iter(lambda: stored.read(_CHUNK), b""))
    except FileNotFoundError:
        return [f"file missing from storage ({evidence.stored_name})"]
    if digests.sha256 != evidence.sha256 or size != evidence.size:
        return [
            f"file changed: SHA-256 is {digests.sha256} ({size:,} bytes), recorded {evidence.sha256} "
            f"({evidence.size:,} bytes)"
        ]
    return []


def evidence_verify(evidence: Evidence) -> list[str]:
    """Every problem with one item: its content, its record and its chain of custody."""
    return evidence_content_problems(evidence) + custody.check(evidence, list(custody_trail(evidence)))


def evidence_verified(*, evidence: Evidence, actor: User | None = None) -> CustodyEvent:
    """Record a clean verification (``verify_evidence``) as a ``verify`` custody event."""
    with transaction.atomic():
        return custody.append(evidence, CustodyAction.VERIFY, actor=actor, note="content and chain of custody verified")


def _locked(incident: Incident) -> Incident:
    """The incident's row, locked until the transaction ends: holds and purges serialize on it."""
    return Incident.objects.select_for_update().get(pk=incident.pk)


def legal_hold_set(*, incident: Incident, actor: User, reason: str) -> LegalHold:
    """Place the incident under legal hold (``Action.LEGAL_HOLD``): its evidence cannot be
    purged until the hold is released. Internal activity entry."""
    require(actor, incident, Action.LEGAL_HOLD)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why (the matter, who asked for the hold)."]})
    if len(reason) > HOLD_REASON_MAX:
        raise ValidationError({"reason": [f"At most {HOLD_REASON_MAX} characters."]})
    with transaction.atomic():
        current = _locked(incident)
        active = legal_hold_active(current)
        if active is not None:
            raise ValidationError(
                f"{current.reference} is already under legal hold (placed by {active.set_by} on "
                f"{timezone.localtime(active.set_at):%Y-%m-%d})."
            )
        hold = LegalHold.objects.create(incident=current, reason=reason, set_by=actor)
        events.legal_hold_set_event(hold=hold, actor=actor)
        touch(current, hold.set_at)
    return hold


def legal_hold_clear(*, incident: Incident, actor: User, reason: str) -> LegalHold:
    """Release the active legal hold (``Action.LEGAL_HOLD``), saying why. Internal activity entry."""
    require(actor, incident, Action.LEGAL_HOLD)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the hold is released."]})
    if len(reason) > HOLD_REASON_MAX:
        raise ValidationError({"reason": [f"At most {HOLD_REASON_MAX} characters."]})
    with transaction.atomic():
        current = _locked(incident)
        hold = legal_hold_active(current)
        if hold is None:
            raise ValidationError(f"{current.reference} is not under legal hold.")
        hold.released_by, hold.released_at, hold.release_reason = actor, timezone.now(), reason
        hold.save(update_fields=["released_by", "released_at", "release_reason"])
        events.legal_hold_cleared_event(hold=hold, actor=actor)
        touch(current, hold.released_at)
    return hold


def evidence_purge(*, incident: Incident, actor: User | None = None) -> list[Evidence]:
    """Delete the stored files of a closed incident's evidence (``purge_evidence``).

    Refused (ValidationError, nothing changed) while the incident is open or under legal hold;
    the hold check and the purge run under the incident's row lock, so a hold placed meanwhile
    wins. The rows, their hashes and their chains stay: each purged item gets a ``purge`` custody
    event and ``purged_at``; text excerpts are kept. Files are deleted once the transaction has
    committed. With ``actor`` (a person), ``Action.LEGAL_HOLD`` is required; ``None`` is the
    operator's command.
    """
    if actor is not None:
        require(actor, incident, Action.LEGAL_HOLD)
    with transaction.atomic():
        current = _locked(incident)
        if current.status != Status.CLOSED:
            status = current.get_status_display().lower()
            raise ValidationError(f"{current.reference} is {status}: only a closed incident's evidence can be purged.")
        hold = legal_hold_active(current)
        if hold is not None:
            raise ValidationError(
                f"{current.reference} is under legal hold (placed by {hold.set_by} on "
                f"{timezone.localtime(hold.set_at):%Y-%m-%d}: {hold.reason}): nothing was purged."
            )
        items = list(
            Evidence.objects.filter(incident=current, kind=EvidenceKind.FILE, purged_at__isnull=True).order_by("id")
        )
        if not items:
            return []
        now = timezone.now()
        for evidence in items:
            custody.append(evidence, CustodyAction.PURGE, actor=actor, note="file deleted from storage")
        Evidence.objects.filter(pk__in=[evidence.pk for evidence in items]).update(purged_at=now)
        events.evidence_purged_event(incident=current, actor=actor, evidence_ids=[evidence.pk for evidence in items])
        touch(current, now)
        names = [evidence.stored_name for evidence in items]
        transaction.on_commit(lambda: _delete_files(names))
    for evidence in items:
        evidence.purged_at = now
    return items


def _delete_files(names: list[str]) -> None:
    storage = evidence_storage()
    for name in names:
        storage.delete(name)
