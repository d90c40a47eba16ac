"""Keep the incident's stored search documents out of the table's rows (PostgreSQL TOAST).

The three ``tsvector`` columns (``incidents/search.py``) were stored inline: at 100,000
incidents with their findings they made the table 330 MB instead of 28 MB, and every query that
reads many incident rows (the dashboard, the list's counts and filters) read 12 times the pages.
``STORAGE EXTERNAL`` and a low ``toast_tuple_target`` move them to the TOAST table, where only a
search reads them (after its GIN index has found the matches). Rows written from now on follow
it; existing rows move when next updated (or at once with ``VACUUM FULL incidents_incident``,
which locks the table: see docs/operations.md). Nothing to do on SQLite.
"""

from django.db import migrations

COLUMNS = ("search_document", "search_findings", "search_internal")


def out_of_line(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    storage = ", ".join(f"ALTER COLUMN {column} SET STORAGE EXTERNAL" for column in COLUMNS)
    schema_editor.execute(f"ALTER TABLE incidents_incident {storage}")
    schema_editor.execute("ALTER TABLE incidents_incident SET (toast_tuple_target = 128)")


def inline(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    storage = ", ".join(f"ALTER COLUMN {column} SET STORAGE EXTENDED" for column in COLUMNS)
    schema_editor.execute(f"ALTER TABLE incidents_incident {storage}")
    schema_editor.execute("ALTER TABLE incidents_incident RESET (toast_tuple_target)")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0019_dashboard_indexes")]

    operations = [migrations.RunPython(out_of_line, inline, elidable=False)]
