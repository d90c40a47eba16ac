"""Indexes for searching and sorting the incident list (incidents/search.py, incidents/filters.py).

The expressions are written out here, as a migration must not change when the code does; they
are the very ones the queries build, so PostgreSQL uses the indexes only while both agree.
tests/incidents/test_search.py and test_list.py check on PostgreSQL that the plans use them.

- Full-text GIN indexes, PostgreSQL only (SQLite has no GIN; search there is ``icontains``):
  ``to_tsvector('english', …)`` of the incident's title and summary, a finding's body and a
  tag's name.
- B-tree indexes for the list's sort keys, on every database: severity and status ranked by
  CASE (critical first, NIST phase order), the last update, and the reference by year then
  number. Each ends with its tie-breakers, so one index read forwards or backwards gives both
  directions of a column.

They are created by RunPython, not declared in ``Meta.indexes``: the GIN ones cannot exist on
SQLite, and the migration state stays as the models declare it (``makemigrations --check`` clean).
Building them takes a lock that blocks writes to the tables for the duration (about a minute for
100,000 incidents with 250,000 findings on the benchmark machine); schedule it accordingly.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models
from django.db.models import Case, F, Value, When
from django.db.models.functions import Length, Substr

SEARCH_CONFIG = "english"


def _search_indexes():
    return [
        ("Incident", GinIndex(SearchVector("title", config=SEARCH_CONFIG), name="incident_title_search_idx")),
        ("Incident", GinIndex(SearchVector("summary", config=SEARCH_CONFIG), name="incident_summary_search_idx")),
        ("Finding", GinIndex(SearchVector("body", config=SEARCH_CONFIG), name="finding_body_search_idx")),
        ("Tag", GinIndex(SearchVector("name", config=SEARCH_CONFIG), name="tag_name_search_idx")),
    ]


def _sort_indexes():
    severity_level = Case(
        When(severity="low", then=Value(1)),
        When(severity="medium", then=Value(2)),
        When(severity="high", then=Value(3)),
        When(severity="critical", then=Value(4)),
    )
    status_phase = Case(
        When(status="new", then=Value(0)),
        When(status="triage", then=Value(1)),
        When(status="investigating", then=Value(2)),
        When(status="contained", then=Value(3)),
        When(status="eradicated", then=Value(4)),
        When(status="recovered", then=Value(5)),
        When(status="closed", then=Value(6)),
    )
    return [
        ("Incident", models.Index(severity_level, F("created_at"), F("id"), name="incident_severity_sort_idx")),
        ("Incident", models.Index(status_phase, F("created_at"), F("id"), name="incident_status_sort_idx")),
        ("Incident", models.Index(F("updated_at"), F("id"), name="incident_updated_sort_idx")),
        (
            "Incident",
            models.Index(Substr("reference", 4, 4), Length("reference"), F("reference"), name="incident_reference_sort_idx"),
        ),
    ]


def _indexes(schema_editor):
    indexes = _sort_indexes()
    if schema_editor.connection.vendor == "postgresql":
        indexes += _search_indexes()
    return indexes


def add_indexes(apps, schema_editor):
    for model_name, index in _indexes(schema_editor):
        schema_editor.add_index(apps.get_model("incidents", model_name), index)


def remove_indexes(apps, schema_editor):
    for model_name, index in _indexes(schema_editor):
        schema_editor.remove_index(apps.get_model("incidents", model_name), index)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0004_activity_internal"),
    ]

    operations = [
        migrations.RunPython(add_indexes, remove_indexes),
    ]
