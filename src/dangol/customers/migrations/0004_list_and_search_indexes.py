"""Indexes for the customer list's common filter + sort shapes and for search.

- Composite b-tree indexes (filter, sort column, id) on both engines.
- PostgreSQL: ``last_purchase_at DESC NULLS LAST, id DESC`` (alone and after ``region``), the
  order of the "last purchase, newest first" list; a plain ascending index scanned backwards
  gives NULLS FIRST there. (On SQLite NULLs sort lowest, so the plain index serves it.)
- SQLite (≥ 3.34): an FTS5 ``trigram`` table over ``customers_customer.full_name`` (external
  content, kept in sync by triggers) that finds a name fragment of 3+ characters anywhere in the
  name, as pg_trgm does on PostgreSQL (migration 0003). Django rebuilds a SQLite table on some
  schema changes, which drops its triggers: a test checks that they exist after migrating.
"""

import sqlite3

from django.conf import settings
from django.db import migrations, models

SQLITE_TRIGRAM = sqlite3.sqlite_version_info >= (3, 34, 0)

PG_INDEXES = {
    "customers_customer_lastpurchase_desc": "(last_purchase_at DESC NULLS LAST, id DESC)",
    "customers_customer_region_lastpurchase_desc": (
        "(region, last_purchase_at DESC NULLS LAST, id DESC)"
    ),
}

SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS customers_customer_name_fts USING fts5(full_name, "
    "content='customers_customer', content_rowid='id', tokenize='trigram')",
    "INSERT INTO customers_customer_name_fts(customers_customer_name_fts) VALUES ('rebuild')",
    "CREATE TRIGGER IF NOT EXISTS customers_customer_name_fts_ai AFTER INSERT "
    "ON customers_customer BEGIN "
    "INSERT INTO customers_customer_name_fts(rowid, full_name) VALUES (new.id, new.full_name); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS customers_customer_name_fts_ad AFTER DELETE "
    "ON customers_customer BEGIN "
    "INSERT INTO customers_customer_name_fts(customers_customer_name_fts, rowid, full_name) "
    "VALUES ('delete', old.id, old.full_name); END",
    "CREATE TRIGGER IF NOT EXISTS customers_customer_name_fts_au AFTER UPDATE OF full_name "
    "ON customers_customer BEGIN "
    "INSERT INTO customers_customer_name_fts(customers_customer_name_fts, rowid, full_name) "
    "VALUES ('delete', old.id, old.full_name); "
    "INSERT INTO customers_customer_name_fts(rowid, full_name) VALUES (new.id, new.full_name); "
    "END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS customers_customer_name_fts_ai",
    "DROP TRIGGER IF EXISTS customers_customer_name_fts_ad",
    "DROP TRIGGER IF EXISTS customers_customer_name_fts_au",
    "DROP TABLE IF EXISTS customers_customer_name_fts",
]


def engine_indexes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for name, columns in PG_INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON customers_customer {columns}"
            )
    elif vendor == "sqlite" and SQLITE_TRIGRAM:
        for sql in SQLITE_CREATE:
            schema_editor.execute(sql)


def drop_engine_indexes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for name in PG_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("customers", "0003_search_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                fields=["lifecycle_stage", "created_at", "id"],
                name="customers_c_lifecyc_3c329a_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                fields=["region", "created_at", "id"], name="customers_c_region_e590be_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                fields=["region", "last_purchase_at", "id"], name="customers_c_region_f696c3_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="externalid",
            index=models.Index(fields=["key"], name="customers_e_key_288bec_idx"),
        ),
        migrations.RunPython(engine_indexes, drop_engine_indexes),
    ]
