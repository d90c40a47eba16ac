"""MITRE ATT&CK Enterprise techniques, pinned to one release and kept as data.

``attack_data/enterprise-attack-<release>.json`` holds every technique id of that release with
its name, tactics and status, built from MITRE's STIX bundle by ``manage.py attack_catalogue``.
A timeline event names a technique by id; ``clean_technique`` accepts only ids that exist in the
pinned release and are neither revoked nor deprecated (a revoked id names its replacement).
Moving to a newer release is: run the command on the new bundle, change ``RELEASE``, review the
diff of the data file; events keep the ids they were recorded with.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError

RELEASE = "18.1"
DATA_DIR = Path(__file__).resolve().parent / "attack_data"
TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")


@dataclass(frozen=True)
class Technique:
    id: str
    name: str  # a sub-technique's full name: "Valid Accounts: Cloud Accounts"
    tactics: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}"

    @property
    def url(self) -> str:
        return f"https://attack.mitre.org/techniques/{self.id.replace('.', '/')}/"


@dataclass(frozen=True)
class Catalogue:
    release: str
    techniques: dict[str, Technique]
    revoked: dict[str, str]  # revoked id → the id that replaced it ("" when none)
    deprecated: frozenset[str]


@cache
def catalogue(release: str = RELEASE) -> Catalogue:
    """The pinned release's techniques (read once per process)."""
    raw = json.loads((DATA_DIR / f"enterprise-attack-{release}.json").read_text(encoding="utf-8"))
    techniques = {tid: Technique(tid, item["name"], tuple(item["tactics"])) for tid, item in raw["techniques"].items()}
    return Catalogue(raw["release"], techniques, dict(raw["revoked"]), frozenset(raw["deprecated"]))


def technique(tid: str) -> Technique | None:
    """The active technique ``tid`` names in the pinned release, or None."""
    return catalogue().techniques.get(tid)


def clean_technique(value: str) -> str:
    """``value`` as a technique id of the pinned release (upper-cased, trimmed; "" stays "").

    Raises ValidationError naming the problem: not an ATT&CK id, not in the release, revoked
    (with its replacement) or deprecated."""
    tid = (value or "").strip().upper()
    if not tid:
        return ""
    if not TECHNIQUE_ID.match(tid):
        raise ValidationError("Enter an ATT&CK technique id such as T1199 or T1078.004.", code="invalid_technique")
    known = catalogue()
    if tid in known.techniques:
        return tid
    if tid in known.revoked:
        replacement = known.revoked[tid]
        hint = f"; use {known.techniques[replacement].label}" if replacement in known.techniques else ""
        raise ValidationError(
            f"{tid} was revoked in ATT&CK Enterprise {known.release}{hint}.", code="revoked_technique"
        )
    if tid in known.deprecated:
        raise ValidationError(f"{tid} is deprecated in ATT&CK Enterprise {known.release}.", code="deprecated_technique")
    raise ValidationError(f"{tid} is not a technique in ATT&CK Enterprise {known.release}.", code="unknown_technique")


def technique_choices() -> list[tuple[str, str]]:
    """Every active technique as (id, label), by id: for filters and the form's datalist."""
    return sorted(((t.id, t.label) for t in catalogue().techniques.values()), key=lambda pair: pair[0])
