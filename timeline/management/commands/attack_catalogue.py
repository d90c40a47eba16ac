"""Build ``timeline/attack_data/enterprise-attack-<release>.json`` from MITRE's STIX 2.1 bundle.

    manage.py attack_catalogue enterprise-attack-18.1.json --release 18.1

The bundle is MITRE's published ``enterprise-attack-<release>.json`` (github.com/mitre-attack/
attack-stix-data). Only what the timeline needs is kept: each technique's id, full name
(sub-techniques prefixed with their parent's name), tactics, and which ids are revoked (with
the id that replaced them) or deprecated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from timeline.attack import DATA_DIR

NOTICE = (
    "MITRE ATT&CK(R) Enterprise technique ids and names. (c) The MITRE Corporation. This work is "
    "reproduced and distributed with the permission of The MITRE Corporation (ATT&CK Terms of Use)."
)


def _attack_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references") or []:
        if ref.get("source_name") == "mitre-attack" and ref.get("external_id", "").startswith("T"):
            return ref["external_id"]
    return None


def build(bundle: dict[str, Any], release: str, source: str) -> dict[str, Any]:
    """The catalogue's content from a parsed STIX bundle (raises CommandError when it is not one)."""
    if bundle.get("type") != "bundle" or not isinstance(bundle.get("objects"), list):
        raise CommandError("Not a STIX bundle: expected {'type': 'bundle', 'objects': [...]}.")
    patterns = {obj["id"]: obj for obj in bundle["objects"] if obj.get("type") == "attack-pattern"}
    ids = {stix_id: _attack_id(obj) for stix_id, obj in patterns.items()}
    names = {ids[stix_id]: obj["name"] for stix_id, obj in patterns.items() if ids[stix_id]}
    revoked_by = {
        rel["source_ref"]: rel["target_ref"]
        for rel in bundle["objects"]
        if rel.get("type") == "relationship" and rel.get("relationship_type") == "revoked-by"
    }
    techniques: dict[str, Any] = {}
    revoked: dict[str, str] = {}
    deprecated: list[str] = []
    for stix_id, obj in patterns.items():
        tid = ids[stix_id]
        if not tid:
            continue
        if obj.get("revoked"):
            revoked[tid] = ids.get(revoked_by.get(stix_id, "")) or ""
            continue
        if obj.get("x_mitre_deprecated"):
            deprecated.append(tid)
            continue
        name = obj["name"]
        if "." in tid:
            name = f"{names.get(tid.split('.')[0], '?')}: {name}"
        tactics = [
            phase["phase_name"]
            for phase in obj.get("kill_chain_phases") or []
            if phase.get("kill_chain_name") == "mitre-attack"
        ]
        techniques[tid] = {"name": name, "tactics": tactics}
    if not techniques:
        raise CommandError("The bundle holds no ATT&CK techniques.")
    return {
        "domain": "enterprise-attack",
        "release": release,
        "source": source,
        "notice": NOTICE,
        "techniques": dict(sorted(techniques.items())),
        "revoked": dict(sorted(revoked.items())),
        "deprecated": sorted(deprecated),
    }


class Command(BaseCommand):
    help = "Build the pinned ATT&CK Enterprise technique catalogue from MITRE's STIX bundle."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("bundle", type=Path, help="enterprise-attack-<release>.json (STIX 2.1)")
        parser.add_argument("--release", required=True, help="The ATT&CK release, e.g. 18.1")
        parser.add_argument("--output-dir", type=Path, default=DATA_DIR)

    def handle(self, *args: Any, bundle: Path, release: str, output_dir: Path, **options: Any) -> None:
        try:
            parsed = json.loads(bundle.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {bundle}: {exc}") from exc
        data = build(parsed, release, f"{bundle.name} ({parsed.get('id', 'no bundle id')})")
        target = output_dir / f"enterprise-attack-{release}.json"
        target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        self.stdout.write(
            f"{len(data['techniques'])} techniques, {len(data['revoked'])} revoked, "
            f"{len(data['deprecated'])} deprecated → {target}"
        )
