"""The chain of custody: how an event is hashed, appended and checked.

Each ``CustodyEvent`` stores ``prev_hash`` (the previous event's ``hash``; for the first event,
the SHA-256 of the evidence's content) and ``hash``, the SHA-256 of the canonical serialization of
its own fields plus ``prev_hash``::

    {"action": …, "actor": …, "at": "2026-01-02T03:04:05.000006+00:00", "details": {…},
     "evidence": 12, "note": …, "prev": …, "recipient": …, "sequence": 3, "v": 1}

as JSON with sorted keys, no whitespace, UTF-8 (``canonical``). The evidence row keeps the head
(the last event's hash) and the number of events, updated in the same transaction as the insert
while the evidence row is locked (``select_for_update``), so concurrent appends serialize and
deleting the last event is detectable. The first event (``collect``) records a snapshot of the
evidence row (``details``), so an edited evidence row is detectable too.

``check`` re-derives all of it and names each problem; ``verify_evidence`` prints them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from accounts.models import User

from ..models import CustodyAction, CustodyEvent, Evidence

CHAIN_VERSION = 1
SYSTEM_ACTOR = "system"
# The evidence fields the collect event snapshots (what "the evidence was never edited" means).
SNAPSHOT_FIELDS = (
    "kind", "name", "stored_name", "size", "content_type", "sha256", "md5", "sha1", "collected_by",
    "collected_at", "source_system", "description", "internal", "privileged", "malware", "vendor_id",
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def snapshot(evidence: Evidence) -> dict[str, Any]:
    """The evidence row as the collect event records it (JSON values only)."""
    values: dict[str, Any] = {}
    for field in SNAPSHOT_FIELDS:
        value = getattr(evidence, field)
        if field == "collected_by":
            value = value.username
        elif isinstance(value, datetime):
            value = _iso(value)
        values[field] = value
    return values


def canonical(event: CustodyEvent) -> bytes:
    payload = {
        "v": CHAIN_VERSION,
        "evidence": event.evidence_id,
        "sequence": event.sequence,
        "action": event.action,
        "actor": event.actor_name,
        "at": _iso(event.at),
        "recipient": event.recipient,
        "note": event.note,
        "details": event.details,
        "prev": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(event: CustodyEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def append(
    evidence: Evidence,
    action: CustodyAction,
    *,
    actor: User | None,
    recipient: str = "",
    note: str = "",
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Append one event to ``evidence``'s chain. Must run inside the caller's transaction: the
    evidence row is locked until it commits, so two appends never read the same head. Updates
    ``evidence.custody_head``/``custody_count`` (in the database and on the instance)."""
    head, count = (
        Evidence.objects.select_for_update().filter(pk=evidence.pk).values_list("custody_head", "custody_count").get()
    )
    event = CustodyEvent(
        evidence=evidence,
        sequence=count + 1,
        action=action,
        actor=actor,
        actor_name=actor.username if actor is not None else SYSTEM_ACTOR,
        recipient=recipient,
        note=note,
        details=details or {},
        prev_hash=head,
    )
    event.hash = event_hash(event)
    event.save()
    Evidence.objects.filter(pk=evidence.pk).update(custody_head=event.hash, custody_count=event.sequence)
    evidence.custody_head, evidence.custody_count = event.hash, event.sequence
    return event


def check(evidence: Evidence, events: list[CustodyEvent]) -> list[str]:
    """Every problem with ``evidence``'s record and chain (``events`` in sequence order), one
    sentence each; empty when the chain is whole. The stored file is checked separately.

    - a row whose contents no longer give its hash: *edited*;
    - a row that does not follow the one before it while the next row does (or whose removal
      joins the chain again): *inserted*;
    - a row whose previous hash matches no row: rows *deleted* before it;
    - rows after the head the evidence records: *inserted*; fewer rows than it counts: *deleted*;
    - any other disagreement between the evidence's head/count and the chain: *head mismatch*;
    - an evidence row that differs from its collect event's snapshot: *record edited*.
    """
    problems: list[str] = []
    for event in events:
        if event_hash(event) != event.hash:
            problems.append(
                f"custody event #{event.sequence} ({event.action}) edited: its contents no longer match its hash"
            )

    collect = events[0] if events and events[0].action == CustodyAction.COLLECT else None
    if collect is not None:
        recorded = collect.details.get("evidence", {})
        changed = sorted(field for field, value in snapshot(evidence).items() if recorded.get(field) != value)
        if changed:
            problems.append(f"evidence record edited: {', '.join(changed)} differ from the collect event")

    # Walk the links. ``chain`` holds the rows that follow one another, genesis first.
    genesis = collect.details.get("evidence", {}).get("sha256", evidence.sha256) if collect else evidence.sha256
    chain: list[tuple[str, int]] = [(genesis, 0)]  # (hash, sequence); sequence 0 is the content
    for index, event in enumerate(events):
        hashes = [link_hash for link_hash, _ in chain]
        following = events[index + 1] if index + 1 < len(events) else None
        if event.prev_hash == hashes[-1]:
            chain.append((event.hash, event.sequence))
        elif event.prev_hash in hashes:
            # It follows an earlier row: the rows since that one were slipped in.
            position = hashes.index(event.prev_hash)
            for _, sequence in chain[position + 1 :]:
                problems.append(f"custody event #{sequence} inserted: #{event.sequence} follows the event before it")
            del chain[position + 1 :]
            chain.append((event.hash, event.sequence))
        elif (following is not None and following.prev_hash == hashes[-1]) or event.sequence > evidence.custody_count:
            problems.append(f"custody event #{event.sequence} inserted: it does not follow the event before it")
        else:
            previous = chain[-1][1]
            after = f"#{previous}" if previous else "the content hash"
            missing = range(previous + 1, event.sequence)
            if missing:
                listed = ", ".join(f"#{sequence}" for sequence in missing)
                problems.append(f"custody event {listed} deleted: #{event.sequence} does not follow {after}")
            else:
                problems.append(
                    f"custody chain broken at #{event.sequence}: it does not follow {after} "
                    "(an event was deleted or rewritten)"
                )
            chain.append((event.hash, event.sequence))

    last_hash, last_sequence = chain[-1]
    if last_hash != evidence.custody_head or last_sequence != evidence.custody_count:
        hashes = [link_hash for link_hash, _ in chain]
        recorded = hashes.index(evidence.custody_head) if evidence.custody_head in hashes else None
        if recorded is not None and recorded < len(hashes) - 1:
            listed = ", ".join(f"#{sequence}" for _, sequence in chain[recorded + 1 :])
            problems.append(f"custody event {listed} inserted after the recorded head (#{chain[recorded][1]})")
        elif recorded is None and evidence.custody_count > last_sequence:
            listed = ", ".join(f"#{sequence}" for sequence in range(last_sequence + 1, evidence.custody_count + 1))
            problems.append(
                f"custody event {listed} deleted: the evidence records {evidence.custody_count} events, "
                f"the chain ends at #{last_sequence}"
            )
        else:
            problems.append(
                f"head mismatch: the evidence records {evidence.custody_head[:16]}… after "
                f"{evidence.custody_count} events, the chain ends at #{last_sequence} with {last_hash[:16]}…"
            )
    return problems
