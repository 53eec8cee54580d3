"""The SQLite trigram index of customer names (``customers_customer_name_fts``, migration 0004).

On SQLite the name search uses an FTS5 ``trigram`` table kept in sync with
``customers_customer`` by three triggers. FTS5 writes out its pending terms at the end of each
statement, so the triggers cost ≈ 12 µs of CPU per row inserted by a statement of its own
(``executemany`` runs one per row) and ≈ 2 µs per row of one multi-row statement (which is how
``core.bulkwrite`` writes this table: ``sqlite_triggered``); a rebuild costs ≈ 0.7 µs per row.
A bulk loader writing hundreds of thousands of customers should wrap its load in
`deferred_name_index()`, which drops the triggers and rebuilds the index (and puts
the triggers back) at the end, even when the load fails. On PostgreSQL (pg_trgm GIN index) and
on an SQLite without the table it does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection as default_connection

from dangol.core import bulkwrite

FTS_TABLE = "customers_customer_name_fts"

TRIGGERS = {  # as migration 0004 creates them
    "customers_customer_name_fts_ai": (
        "CREATE TRIGGER IF NOT EXISTS customers_customer_name_fts_ai AFTER INSERT "
        "ON customers_customer BEGIN "
        "INSERT INTO customers_customer_name_fts(rowid, full_name) VALUES (new.id, new.full_name); "
        "END"
    ),
    "customers_customer_name_fts_ad": (
        "CREATE TRIGGER IF NOT EXISTS customers_customer_name_fts_ad AFTER DELETE "
        "ON customers_customer BEGIN "
        "INSERT INTO customers_customer_name_fts(customers_customer_name_fts, rowid, full_name) "
        "VALUES ('delete', old.id, old.full_name); END"
    ),
    "customers_customer_name_fts_au": (
        "CREATE TRIGGER IF NOT EXISTS customers_customer_name_fts_au AFTER UPDATE OF full_name "
        "ON customers_customer BEGIN "
        "INSERT INTO customers_customer_name_fts(customers_customer_name_fts, rowid, full_name) "
        "VALUES ('delete', old.id, old.full_name); "
        "INSERT INTO customers_customer_name_fts(rowid, full_name) VALUES (new.id, new.full_name); "
        "END"
    ),
}


def has_name_index(connection: Any = None) -> bool:
    """Whether this database keeps the SQLite trigram table of names."""
    conn = connection or default_connection
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE]
        )
        return cursor.fetchone() is not None


def rebuild_name_index(connection: Any = None) -> None:
    """Rebuild the trigram table from ``customers_customer`` and make sure the triggers exist."""
    conn = connection or default_connection
    if not has_name_index(conn):
        return
    with conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_customer_name_fts(customers_customer_name_fts) "
            "VALUES ('rebuild')"
        )
        for sql in TRIGGERS.values():
            cursor.execute(sql)
    bulkwrite.forget_triggers()


@contextmanager
def deferred_name_index(connection: Any = None) -> Iterator[None]:
    """Drop the name-index triggers for a bulk load; rebuild the index afterwards."""
    conn = connection or default_connection
    if not has_name_index(conn):
        yield
        return
    with conn.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    bulkwrite.forget_triggers()
    try:
        yield
    finally:
        rebuild_name_index(conn)
