"""Stored search documents (incidents/search.py): per incident, a weighted ``tsvector`` of its own
text (title, tags, summary), one of its shared findings and one of its internal findings.

Search used to match four GIN indexes on expressions (0005_search) and rank by re-reading each
match's title: every match cost two visits to the incident table and a text parse. With the
documents stored, GIN indexes find the matches and ``ts_rank`` reads the stored vector of the
incident's own text: one visit per match. Findings are matched, not ranked: kept out of the
ranked document, it stays small enough to live in the row (no TOAST read per match). The expression indexes of 0005 are dropped (the sort indexes stay).

PostgreSQL only: on SQLite the columns stay NULL and search uses ``icontains``. The backfill is
the SQL the services run (``incidents.search.search_documents_refresh``), written out here as a
migration must not change when the code does. Like 0005 it locks writes to the incident table
while it runs: about a minute for 100,000 incidents on the benchmark machine.
"""

import django.contrib.postgres.search
from django.db import migrations

DOCUMENTS = """
UPDATE incidents_incident AS i SET
    search_document =
        setweight(to_tsvector('english', coalesce(i.title, '')), 'A')
        || setweight(to_tsvector('english', coalesce((
            SELECT string_agg(t.name, ' ' ORDER BY t.name) FROM incidents_incident_tags it
            JOIN incidents_tag t ON t.id = it.tag_id WHERE it.incident_id = i.id), '')), 'B')
        || setweight(to_tsvector('english', coalesce(i.summary, '')), 'C'),
    search_findings = to_tsvector('english', coalesce((
            SELECT string_agg(f.body, E'\\n' ORDER BY f.id) FROM incidents_finding f
            WHERE f.incident_id = i.id AND NOT f.internal), '')),
    search_internal = to_tsvector('english', coalesce((
            SELECT string_agg(f.body, E'\\n' ORDER BY f.id) FROM incidents_finding f
            WHERE f.incident_id = i.id AND f.internal), ''))
"""

NEW_INDEXES = """
CREATE INDEX incident_search_document_idx ON incidents_incident USING gin (search_document);
CREATE INDEX incident_search_findings_idx ON incidents_incident USING gin (search_findings);
CREATE INDEX incident_search_internal_idx ON incidents_incident USING gin (search_internal);
"""

OLD_INDEXES = {
    "incident_title_search_idx": "incidents_incident USING gin (to_tsvector('english', COALESCE(title, '')))",
    "incident_summary_search_idx": "incidents_incident USING gin (to_tsvector('english', COALESCE(summary, '')))",
    "finding_body_search_idx": "incidents_finding USING gin (to_tsvector('english', COALESCE(body, '')))",
    "tag_name_search_idx": "incidents_tag USING gin (to_tsvector('english', COALESCE(name, '')))",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DOCUMENTS)
    schema_editor.execute(NEW_INDEXES)
    for name in OLD_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS incident_search_document_idx")
    schema_editor.execute("DROP INDEX IF EXISTS incident_search_findings_idx")
    schema_editor.execute("DROP INDEX IF EXISTS incident_search_internal_idx")
    for name, definition in OLD_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {name} ON {definition}")


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0005_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="search_document",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="incident",
            name="search_findings",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="incident",
            name="search_internal",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
