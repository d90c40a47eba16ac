"""The pinned ATT&CK catalogue: what ships, and the command that builds it from MITRE's bundle."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from timeline import attack


def test_the_shipped_release_names_techniques_and_sub_techniques():
    known = attack.catalogue()
    assert known.release == "18.1"
    assert attack.technique("T1199").label == "T1199 Trusted Relationship"
    assert attack.technique("T1078.004").label == "T1078.004 Valid Accounts: Cloud Accounts"
    assert attack.technique("T1078.004").url == "https://attack.mitre.org/techniques/T1078/004/"
    assert attack.technique("T1199.001") is None
    assert known.revoked["T1002"] == "T1560"
    # 691 active techniques and sub-techniques in Enterprise 18.1 (132 revoked, 12 deprecated).
    assert (len(known.techniques), len(known.revoked), len(known.deprecated)) == (691, 132, 12)


BUNDLE = {
    "type": "bundle",
    "id": "bundle--test",
    "objects": [
        {
            "type": "attack-pattern",
            "id": "attack-pattern--1",
            "name": "Valid Accounts",
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1078"}],
        },
        {
            "type": "attack-pattern",
            "id": "attack-pattern--2",
            "name": "Cloud Accounts",
            "x_mitre_is_subtechnique": True,
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "persistence"}],
            "external_references": [
                {"source_name": "capec", "external_id": "CAPEC-1"},
                {"source_name": "mitre-attack", "external_id": "T1078.004"},
            ],
        },
        {
            "type": "attack-pattern",
            "id": "attack-pattern--3",
            "name": "Data Compressed",
            "revoked": True,
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1002"}],
        },
        {
            "type": "attack-pattern",
            "id": "attack-pattern--4",
            "name": "Old Thing",
            "x_mitre_deprecated": True,
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1009"}],
        },
        {
            "type": "relationship",
            "id": "relationship--1",
            "relationship_type": "revoked-by",
            "source_ref": "attack-pattern--3",
            "target_ref": "attack-pattern--1",
        },
        {"type": "intrusion-set", "id": "intrusion-set--1", "name": "Not a technique"},
    ],
}


def test_the_command_builds_the_catalogue_from_a_stix_bundle(tmp_path):
    source = tmp_path / "enterprise-attack-99.0.json"
    source.write_text(json.dumps(BUNDLE))
    call_command("attack_catalogue", str(source), "--release", "99.0", "--output-dir", str(tmp_path))
    built = json.loads((tmp_path / "enterprise-attack-99.0.json").read_text())
    assert built["release"] == "99.0"
    assert built["source"] == "enterprise-attack-99.0.json (bundle--test)"
    assert built["techniques"] == {
        "T1078": {"name": "Valid Accounts", "tactics": ["initial-access"]},
        "T1078.004": {"name": "Valid Accounts: Cloud Accounts", "tactics": ["persistence"]},
    }
    assert built["revoked"] == {"T1002": "T1078"}
    assert built["deprecated"] == ["T1009"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "Cannot read"),
        (json.dumps({"type": "report"}), "Not a STIX bundle"),
        (json.dumps({"type": "bundle", "objects": []}), "The bundle holds no ATT&CK techniques."),
    ],
)
def test_the_command_refuses_what_is_not_a_bundle(tmp_path, content, message):
    source = tmp_path / "bundle.json"
    source.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("attack_catalogue", str(source), "--release", "1.0", "--output-dir", str(tmp_path))
