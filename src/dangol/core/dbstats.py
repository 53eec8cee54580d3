"""Planner statistics and visibility after bulk writes (PostgreSQL).

A bulk load or a nightly analytics run rewrites millions of rows at once. Until autovacuum gets
to them, PostgreSQL plans with the statistics of the table as it was (an empty metrics table
planned as 0 rows turns a hash join into a million index probes) and cannot answer from an index
alone (the visibility map is unset). ``vacuum_analyze`` does right away what autovacuum would do
later. SQLite has neither problem in the same form and is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models


def vacuum_analyze(tables: Iterable[type[models.Model]] | None = None) -> bool:
    """``VACUUM (ANALYZE)`` these models' tables, or the whole database; True if it ran.

    VACUUM cannot run inside a transaction: there, only ``ANALYZE`` runs (statistics without
    the visibility map). Does nothing on SQLite.
    """
    if connection.vendor != "postgresql":
        return False
    names = [connection.ops.quote_name(m._meta.db_table) for m in tables or ()]
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        cursor.execute(f"{command} {', '.join(names)}".strip())
    return True
