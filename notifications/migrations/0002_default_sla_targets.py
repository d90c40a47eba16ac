"""Default SLA targets per severity; admins change them in the admin."""

from datetime import timedelta

from django.db import migrations

DEFAULTS = {
    "critical": (timedelta(minutes=15), timedelta(hours=4)),
    "high": (timedelta(hours=1), timedelta(hours=24)),
    "medium": (timedelta(hours=4), timedelta(days=3)),
    "low": (timedelta(hours=24), timedelta(days=7)),
}


def create(apps, schema_editor):
    SlaTarget = apps.get_model("notifications", "SlaTarget")
    for severity, (acknowledge, contain) in DEFAULTS.items():
        SlaTarget.objects.get_or_create(
            severity=severity, defaults={"acknowledge_within": acknowledge, "contain_within": contain}
        )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_paging")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
