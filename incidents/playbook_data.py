"""The playbooks Breachline ships with, loaded by a data migration and editable in the admin.

Each task's ``due`` is relative to the moment the incident is opened ("+4h", "+2d"); ``internal``
tasks are hidden from vendor collaborators; ``vendor`` marks the tasks that concern the vendor's
own company, which a vendor collaborator may be assigned.
"""

from __future__ import annotations

PLAYBOOKS: list[dict] = [
    {
        "slug": "third-party-compromise",
        "name": "Third-party / vendor compromise",
        "description": "A breach that came in through a contractor, supplier or service provider.",
        "severity": "high",
        "category": "third_party",
        "summary": (
            "## What happened\n\n_Which vendor, which access, what was reached._\n\n"
            "## Vendor\n\n- Name:\n- Their incident reference:\n- Security contact:\n\n"
            "## Scope\n\n- Systems:\n- Accounts and tokens:\n- Data:\n"
        ),
        "tasks": [
            {"title": "Revoke the vendor's access to our systems", "due": "+4h", "internal": True},
            {
                "title": "Rotate every credential the vendor held (accounts, tokens, keys)",
                "due": "+8h",
                "internal": True,
            },
            {"title": "Collect the vendor's logs for the affected period", "due": "+1d", "vendor": True},
            {"title": "Confirm the vendor's own containment in writing", "due": "+1d", "vendor": True},
            {"title": "Assess what data the vendor's access exposed", "due": "+2d", "internal": True},
            {"title": "Assess notification duties (GDPR, NIS2, contracts)", "due": "+2d", "internal": True},
        ],
    },
    {
        "slug": "compromised-credentials",
        "name": "Compromised credentials",
        "description": "An account's password, token or key is known or suspected to be in other hands.",
        "severity": "high",
        "category": "account_compromise",
        "summary": "## Account\n\n- Who:\n- What it can reach:\n\n## How it leaked\n\n",
        "tasks": [
            {"title": "Disable the account or revoke the credential", "due": "+1h", "internal": True},
            {"title": "End every session and token issued to the account", "due": "+2h", "internal": True},
            {"title": "Review sign-ins and actions since the earliest possible leak", "due": "+1d", "internal": True},
            {"title": "Reset with MFA enforced and confirm with the owner", "due": "+1d", "internal": True},
        ],
    },
    {
        "slug": "ransomware",
        "name": "Ransomware",
        "description": "Files encrypted or a ransom note found.",
        "severity": "critical",
        "category": "ransomware",
        "summary": "## Affected hosts\n\n## Ransom note\n\n## Backups\n\n",
        "tasks": [
            {"title": "Isolate affected hosts from the network", "due": "+1h", "internal": True},
            {"title": "Preserve a ransom note and a sample encrypted file as evidence", "due": "+2h", "internal": True},
            {"title": "Check the integrity and reach of backups", "due": "+4h", "internal": True},
            {"title": "Identify the initial access path", "due": "+1d", "internal": True},
            {"title": "Assess data exfiltration before encryption", "due": "+2d", "internal": True},
        ],
    },
    {
        "slug": "phishing",
        "name": "Phishing",
        "description": "Phishing messages received; some may have been opened or answered.",
        "severity": "medium",
        "category": "phishing",
        "summary": "## Messages\n\n- Sender:\n- Subject:\n- Recipients:\n\n## Who clicked\n\n",
        "tasks": [
            {"title": "Block the sender and the linked domains at the gateway", "due": "+2h", "internal": True},
            {"title": "Purge the messages from every mailbox", "due": "+4h", "internal": True},
            {"title": "Reset the credentials of everyone who clicked or answered", "due": "+1d", "internal": True},
        ],
    },
    {
        "slug": "lost-device",
        "name": "Lost or stolen device",
        "description": "A laptop, phone or storage device is lost or stolen.",
        "severity": "low",
        "category": "other",
        "summary": "## Device\n\n- Type and asset tag:\n- Owner:\n- Disk encryption:\n\n",
        "tasks": [
            {"title": "Confirm disk encryption from the device management console", "due": "+4h", "internal": True},
            {"title": "Wipe the device remotely", "due": "+4h", "internal": True},
            {"title": "Revoke the device's certificates and sessions", "due": "+1d", "internal": True},
        ],
    },
]
