"""The built-in regimes of the notification register. Admins change their templates and add
custom ones (state laws, contracts) in the admin; the deadlines are in
incidents/regulatory/deadlines.py."""

from datetime import timedelta

from django.db import migrations

COMMON = """- **Incident reference:** {reference}
- **Nature of the incident:** {title}
- **Detected:** {detected_at} · **Became aware:** {aware_at}
- **Current state:** {status}; {containment}

## What happened
{summary}

## Scope
{scope}

- Records affected: {records}
- Categories of data: {data_categories}
- Third parties involved: {vendors}

## Contact point
{contact}
"""

REGIMES = [
    # slug, name, kind, authority, position, extra, opening line
    ("gdpr-art33", "GDPR Art. 33 — supervisory authority", "gdpr_art33", "Lead supervisory authority", 10, {},
     "Notification of a personal data breach under Article 33 GDPR."),
    ("gdpr-art34", "GDPR Art. 34 — data subjects", "gdpr_art34", "Affected data subjects", 20, {},
     "Communication of a personal data breach to the data subjects under Article 34 GDPR."),
    ("nis2", "NIS2 Art. 23 — CSIRT / competent authority", "nis2", "National CSIRT or competent authority", 30, {},
     "Notification of a significant incident under Article 23 of Directive (EU) 2022/2555 (NIS2)."),
    ("sec-8k", "SEC Form 8-K Item 1.05", "sec_8k", "U.S. Securities and Exchange Commission (EDGAR)", 40,
     {"timezone": "America/New_York"},
     "Disclosure of a material cybersecurity incident, Form 8-K Item 1.05."),
    ("hipaa", "HIPAA breach notification", "hipaa", "Affected individuals and HHS", 50,
     {"timezone": "America/New_York"},
     "Notification of a breach of unsecured protected health information (45 CFR §164.404)."),
    ("us-state", "US state breach laws", "custom", "State attorneys general and residents", 60,
     {"duration": timedelta(days=30), "start_event_label": "Discovery", "timezone": "America/New_York"},
     "Notice of a security breach under applicable state law (set the duration to the strictest state)."),
    ("contractual", "Contractual notice to customers", "custom", "Affected customers", 70,
     {"duration": timedelta(hours=72), "start_event_label": "Awareness"},
     "Notice of a security incident under our customer agreements."),
]


def create(apps, schema_editor):
    Regime = apps.get_model("incidents", "Regime")
    for slug, name, kind, authority, position, extra, opening in REGIMES:
        Regime.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": kind,
                "authority": authority,
                "position": position,
                "notice_template": f"# {{title}}\n\n{opening}\n\n{COMMON}",
                **extra,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0015_regulatory")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
