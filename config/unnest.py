"""Bulk writes through ``unnest`` on PostgreSQL: one binary array per column, bound server-side.

``bulk_create`` cannot take its own UNNEST path for models with a JSON field (the field has a
per-value placeholder), and Django's client-side cursor quotes every array element into the
statement in Python: for 100,000 timeline events that was most of an import's time, and it
made an alert batch's upsert several times slower. The timeline's inserts and the alerts'
upsert build their statements from these pieces.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, models


class UnnestColumns:
    """Every concrete column of ``model`` but its id: their quoted names, the matching
    ``unnest`` arguments and, for a list of instances, one array of values per column."""

    def __init__(self, model: type[models.Model]) -> None:
        fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.names = ", ".join(quote(field.column) for field in fields)
        # %b: each array goes in PostgreSQL's binary format (no per-element quoting); the type
        # without its length (varchar[], not varchar(300)[]), as bulk_create's UNNEST does.
        self.arrays = ", ".join(f"%b::{field.db_type(connection).split('(')[0]}[]" for field in fields)
        self._attnames = [field.attname for field in fields]
        self._json = {field.attname for field in fields if field.get_internal_type() == "JSONField"}

    def values(self, objects: Sequence[models.Model]) -> list[list[Any]]:
        """One list per column, in column order: plain values psycopg adapts itself (datetimes,
        strings, numbers, booleans, None), JSON wrapped as such."""
        from psycopg.types.json import Jsonb

        return [
            [Jsonb(getattr(obj, name)) for obj in objects]
            if name in self._json
            else [getattr(obj, name) for obj in objects]
            for name in self._attnames
        ]


@contextmanager
def server_cursor() -> Iterator[Any]:
    """A server-side-binding psycopg cursor on Django's connection (so in its transaction),
    wrapped as Django wraps its own: the statement is logged and counted like any other."""
    from psycopg import Cursor

    connection.ensure_connection()  # outside a transaction nothing may have opened it in this thread
    raw = Cursor(connection.connection)
    with connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw) as cursor:
        yield cursor


def mark_saved(obj: models.Model, pk: int) -> None:
    """What ``save()`` leaves on an instance, for one written by a statement of the above."""
    obj.pk = pk
    obj._state.adding, obj._state.db = False, connection.alias
