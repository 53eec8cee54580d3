"""Set-based writing (docs/adr/0002-bulk-loading.md, extended by 0005): the raw bulk writer that
imports and the domain apps' bulk writers (the customer change feed) share.

``TableWriter`` inserts tuples into a model's table: ``COPY ... FROM STDIN`` through psycopg 3 on
PostgreSQL, one ``executemany`` on SQLite (one ``INSERT … SELECT`` from a JSON document for a
table with triggers: see ``sqlite_triggered``). Columns not given are filled from the fields'
defaults, so a new defaulted or nullable field does not break the writer. Primary keys are
allocated before writing (the sequence on PostgreSQL, safe with concurrent writers; the table's
maximum inside the write-locked transaction on SQLite) so child rows reference parents without
reading anything back. It knows no domain: only Django's models and connection.

``deferred_indexes`` drops a bulk load's secondary indexes and rebuilds them at its end, with a
durable marker (a ``core.DurableMarker`` row) so a killed load's indexes are rebuilt when it
resumes.
"""

from __future__ import annotations

import datetime
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connection, models

T = TypeVar("T")
IN_BATCH = 900  # ids per IN (...) list; safe on every SQLite build


def in_batches(values: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def qn(name: str) -> str:
    """A table or column name quoted for the current database."""
    return connection.ops.quote_name(name)


_q = qn


def in_keys(column_sql: str, keys: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column IN (keys)`` for any number of keys as one parameter, so a chunk's lookup is one
    join against an in-memory table instead of batches of IN lists: ``= ANY(array)`` on
    PostgreSQL, ``IN (SELECT value FROM json_each(?))`` on SQLite."""
    if connection.vendor == "postgresql":
        literal = pg_array_literal(keys)
        if literal is not None:
            return f"{column_sql} = ANY(%s::{literal[1]})", [literal[0]]
        return f"{column_sql} = ANY(%s)", [list(keys)]
    return f"{column_sql} IN (SELECT value FROM json_each(%s))", [  # noqa: S608
        json.dumps(list(keys), ensure_ascii=False)
    ]


def pg_array_literal(keys: Sequence[Any]) -> tuple[str, str] | None:
    """Keys that are all integers or all strings as a PostgreSQL array literal and its type
    (``bigint[]`` / ``text[]``), or None for anything else (psycopg then adapts the list).
    psycopg adapts a list element by element in Python (≈ 2.5 µs each, measured: the chunk's
    key lists cost more than the lookups they feed); this is one ``join``. Inside the double
    quotes only backslash and double quote are escaped; text cannot hold NUL."""
    if all(type(k) is int for k in keys):
        return "{" + ",".join(map(str, keys)) + "}", "bigint[]"
    if all(type(k) is str and "\x00" not in k for k in keys):
        quoted = (k.replace("\\", "\\\\").replace('"', '\\"') for k in keys)
        return '{"' + '","'.join(quoted) + '"}', "text[]"
    return None


def allocate_ids(model: type[models.Model], n: int) -> list[int]:
    """Reserve ``n`` primary keys for ``model`` (call inside the chunk's transaction)."""
    if n <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, n],
            )
            return [int(r[0]) for r in cursor.fetchall()]
        cursor.execute(f"SELECT MAX(id) FROM {_q(table)}")  # noqa: S608 - name from _meta
        top = cursor.fetchone()[0] or 0
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        start = max(int(top), int(row[0]) if row else 0) + 1
    return list(range(start, start + n))


def _json(v: Any) -> Any:
    return json.dumps(v, ensure_ascii=False) if v is not None else None


def _datetime_sqlite(value: Any) -> Any:
    """What Django stores for an aware datetime on SQLite: naive UTC, ``str()`` format."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def _by_value(conv: Any) -> Any:
    """``conv`` computed once per distinct value of a column (constant columns such as the
    chunk's timestamp, repeated dates and amounts)."""
    cache: dict[Any, Any] = {}

    def call(v: Any) -> Any:
        try:
            return cache[v]
        except KeyError:
            out = cache[v] = conv(v)
            return out
        except TypeError:  # unhashable
            return conv(v)

    return call


def _converter(f: models.Field) -> Any:
    """A function making a Python value ready for the raw cursor, or None to pass it as is."""
    postgres = connection.vendor == "postgresql"
    if isinstance(f, models.JSONField):
        return _json
    if isinstance(f, models.DateTimeField):
        return None if postgres else _datetime_sqlite
    if isinstance(f, models.DateField):
        return None if postgres else (lambda v: v.isoformat() if v is not None else None)
    if isinstance(f, models.BooleanField) and not postgres:
        return lambda v: None if v is None else int(v)
    if isinstance(f, models.DecimalField) and not postgres:
        return lambda v: None if v is None else str(v)
    return None


COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_NULL = "\\N"
COPY_PIECE = 5_000  # rows per write to the COPY stream


def copy_text(value: Any) -> str:
    """``value`` (already converted for the cursor) in PostgreSQL's ``COPY`` text format: NULL
    as ``\\N``; text with backslash, tab, newline and carriage return escaped; booleans as
    ``t``/``f``; numbers, dates, aware date-times and UUIDs in their ISO / decimal form, which
    the server reads back to the same value whatever its ``DateStyle`` (aware date-times carry
    their offset). ``TypeError`` for anything else (a naive date-time would depend on the
    session's time zone): the writer then lets psycopg format the rows."""
    if value is None:
        return COPY_NULL
    if isinstance(value, str):
        return value.translate(COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime")
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _copy_column(values: Iterable[Any]) -> Iterable[str]:
    """A column in ``COPY`` text: text and integers directly, other values (dates, amounts,
    the chunk's timestamp) once per distinct value."""
    memo: dict[Any, str] = {}

    def one(v: Any) -> str:
        kind = type(v)
        if kind is str:
            return v.translate(COPY_ESCAPES)
        if kind is int:
            return str(v)
        try:
            return memo[v]
        except KeyError:
            out = memo[v] = copy_text(v)
            return out
        except TypeError:  # unhashable
            return copy_text(v)

    return map(one, values)


def sqlite_literal(value: Any) -> str | None:
    """``value`` (already converted for the cursor) as an SQLite literal, or None when it has
    none that is safe (then it is bound as a parameter). Strings are quoted with ``'`` doubled,
    SQLite's only escape; text with a NUL is never inlined."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


_TRIGGERED: dict[tuple[str, str, str], bool] = {}  # (alias, database, table): sqlite_triggered


def forget_triggers() -> None:
    """Forget what ``sqlite_triggered`` has read: call after dropping or creating triggers. (A
    stale answer only costs speed: both ways of writing store the same rows.)"""
    _TRIGGERED.clear()


def sqlite_triggered(table: str) -> bool:
    """Whether SQLite fires triggers on writing ``table`` (the customer name index's), read once
    per process and database (``forget_triggers``).

    ``executemany`` runs each row as a statement of its own, and FTS5 writes out its pending
    terms at the end of every statement: the trigger that keeps the customers' trigram index
    cost ≈ 30 µs per customer row that way, against ≈ 2 µs when the chunk is one statement
    (measured: 20,000 names, 0.255 CPU-s row by row, 0.043 in one statement). Without
    triggers ``executemany`` is the quicker of the two (≈ 2 µs a row against ≈ 3.5)."""
    key = (connection.alias, str(connection.settings_dict["NAME"]), table)
    known = _TRIGGERED.get(key)
    if known is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s LIMIT 1",
                [table],
            )
            known = _TRIGGERED[key] = cursor.fetchone() is not None
    return known


def sqlite_json_rows(rows: Iterable[Sequence[Any]]) -> str | None:
    """``rows`` (converted for the cursor: text, numbers, None) as one JSON array of arrays for
    ``json_each``, or None when a value has no faithful JSON form here (another type, NaN, a
    NUL character, which SQLite's JSON functions do not keep)."""
    try:
        text = json.dumps(list(rows), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return None if "\\u0000" in text else text


class TableWriter:
    """Inserts rows of the given columns (attnames) into ``model``'s table. ``constants``
    (``{attname: value}``) are columns with one value for every row (the chunk's timestamp,
    the source, the owner): converted once and not carried in the rows. On SQLite they are
    written into the statement as literals: ``executemany`` binds every parameter of every row
    (≈ 0.4 µs each), and a customer row has more filled columns than given ones (measured:
    112,000 → 350,000 customer rows/s with only the given columns bound)."""

    def __init__(
        self,
        model: type[models.Model],
        columns: Sequence[str],
        now: datetime.datetime,
        constants: dict[str, Any] | None = None,
    ):
        self.model = model
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        self.columns = list(columns)
        self.convs = [_converter(by_attname[c]) for c in self.columns]
        self.fill: list[tuple[str, Any]] = []
        constants = constants or {}
        for f in model._meta.concrete_fields:
            if f.attname in self.columns or (f.primary_key and f.attname not in constants):
                continue
            if f.attname in constants:
                default = constants[f.attname]
            elif f.has_default():
                default = f.get_default()
                if isinstance(default, datetime.datetime):
                    default = now
            elif f.null:
                default = None
            else:
                default = ""
            conv = _converter(f)
            self.fill.append((str(f.column), conv(default) if conv else default))
        self.postgres = connection.vendor == "postgresql"
        literals: list[tuple[str, str]] = []  # SQLite: filled columns written as literals
        if not self.postgres:
            inline = [(c, v, sqlite_literal(v)) for c, v in self.fill]
            literals = [(c, lit) for c, _v, lit in inline if lit is not None]
            self.fill = [(c, v) for c, v, lit in inline if lit is None]
        names = [str(by_attname[c].column) for c in self.columns] + [c for c, _ in self.fill]
        self.names = ", ".join(_q(n) for n in [*names, *(c for c, _ in literals)])
        # in the statement after the placeholders; % doubled for the DB-API's paramstyle
        self.literal_sql = [lit.replace("%", "%%") for _c, lit in literals]
        self.table = _q(model._meta.db_table)
        self.tail = tuple(v for _, v in self.fill)

    def _prepared(self, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
        """The rows with converted values and the filled columns, converted column by column
        (each distinct value once)."""
        tail = self.tail
        if not any(self.convs):
            if not tail:
                return (tuple(r) for r in rows)
            return (tuple(r) + tail for r in rows)
        columns: list[Iterable[Any]] = list(zip(*rows, strict=True))
        for i, conv in enumerate(self.convs):
            if conv is not None:
                memo = conv if conv is _json else _by_value(conv)
                columns[i] = map(memo, columns[i])
        if not tail:
            return zip(*columns, strict=True)
        return (row + tail for row in zip(*columns, strict=True))

    def _copy_pieces(self, rows: Sequence[Sequence[Any]]) -> list[bytes] | None:
        """The rows as ``COPY`` text data, ``COPY_PIECE`` rows per piece, formatted column by
        column (the filled columns once for every row), or None when a value has no text form
        here (``copy_text``). psycopg's ``write_row`` dumps every value of every row through
        its adapters, ≈ 13 µs a customer row, most of it for the same constants again."""
        convs = [c if c is None or c is _json else _by_value(c) for c in self.convs]
        try:
            tail = "".join("\t" + copy_text(v) for v in self.tail)
            pieces = []
            for start in range(0, len(rows), COPY_PIECE):
                part = rows[start : start + COPY_PIECE]
                columns = [
                    _copy_column(map(conv, col) if conv is not None else col)
                    for conv, col in zip(convs, zip(*part, strict=True), strict=True)
                ]
                lines = ["\t".join(values) for values in zip(*columns, strict=True)]
                text = (tail + "\n").join(lines) + tail + "\n"
                pieces.append(text.encode())
        except TypeError:
            return None
        return pieces

    def insert(self, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        with connection.cursor() as cursor:
            if self.postgres:
                sql = f"COPY {self.table} ({self.names}) FROM STDIN"
                pieces = self._copy_pieces(rows)
                with cursor.cursor.copy(sql) as copy:
                    if pieces is not None:
                        for piece in pieces:
                            copy.write(piece)
                    else:
                        for row in self._prepared(rows):
                            copy.write_row(row)
            else:
                width = len(self.columns) + len(self.tail)
                blob = None
                if len(rows) > 1 and sqlite_triggered(self.model._meta.db_table):
                    blob = sqlite_json_rows(self._prepared(rows))
                if blob is not None:  # the chunk in one statement (sqlite_triggered)
                    values = [f"json_extract(value, '$[{i}]')" for i in range(width)]
                    select = ", ".join(values + self.literal_sql)
                    sql = f"INSERT INTO {self.table} ({self.names}) SELECT {select} FROM json_each(%s)"  # noqa: S608, E501
                    cursor.execute(sql, [blob])
                else:
                    marks = ", ".join(["%s"] * width + self.literal_sql)
                    sql = f"INSERT INTO {self.table} ({self.names}) VALUES ({marks})"  # noqa: S608
                    # an iterator, so the chunk is not copied into a list first
                    cursor.executemany(sql, self._prepared(rows))  # type: ignore[arg-type]
        return len(rows)


def update_rows(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """``UPDATE table SET columns... WHERE id = last value`` for each row, in one executemany
    (on SQLite, for a table with triggers, one ``UPDATE … FROM`` a JSON document:
    ``sqlite_triggered``)."""
    if not rows:
        return 0
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    convs = [_converter(by_attname[c]) for c in columns]
    sets = ", ".join(f"{_q(str(by_attname[c].column))} = %s" for c in columns)
    sql = f"UPDATE {_q(model._meta.db_table)} SET {sets} WHERE id = %s"  # noqa: S608
    prepared = [
        [conv(v) if conv else v for conv, v in zip(convs, row[:-1], strict=True)] + [row[-1]]
        for row in rows
    ]
    blob = None
    if (
        connection.vendor == "sqlite"
        and len(rows) > 1
        and len({row[-1] for row in rows}) == len(rows)  # one row per id: no order to keep
        and sqlite_triggered(model._meta.db_table)
    ):
        blob = sqlite_json_rows(prepared)
    with connection.cursor() as cursor:
        if blob is not None:  # the rows in one statement (sqlite_triggered)
            sets = ", ".join(
                f"{_q(str(by_attname[c].column))} = json_extract(j.value, '$[{i}]')"
                for i, c in enumerate(columns)
            )
            key = f"json_extract(j.value, '$[{len(columns)}]')"
            table = _q(model._meta.db_table)
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM json_each(%s) AS j WHERE {table}.id = {key}",  # noqa: S608
                [blob],
            )
        else:
            cursor.executemany(sql, prepared)
    return len(rows)


# --- durable markers and deferred indexes (bulk loads) -----------------------------------------
#
# A bulk load (the demo loader, an import in bulk mode) drops the secondary indexes of the tables
# it fills and builds them once at the end: building an index from the finished table is several
# times cheaper than maintaining it row by row. The database must never be left without them,
# even when the process is killed between the two: the statements that restore them are written,
# in the same transaction as the DROPs (DDL is transactional on SQLite and PostgreSQL), to a
# marker (a ``core.DurableMarker`` row), and the restore runs them and closes the marker in one
# transaction. An open marker is work still owed; whoever resumes the load (or finds it
# abandoned) runs it. The change log gets one row when indexes are deferred and one when they
# are restored, for people; the state is the marker table's.

INDEXES = "bulkwrite.deferred_indexes"  # the kind of marker holding index restore statements
AUDIT_DEFERRED = "bulkwrite.indexes_deferred"  # change-log actions (audit only, not state)
AUDIT_RESTORED = "bulkwrite.indexes_restored"


def open_marker(kind: str, owner: str, data: dict[str, Any]) -> int:
    """Record durable work owed by ``owner`` (in the caller's transaction); returns its id. One
    marker of a kind may be open per owner (a second one is an ``IntegrityError``)."""
    from dangol.core.models import DurableMarker

    return int(DurableMarker.objects.create(kind=kind, owner=owner[:64], data=data).pk)


def close_marker(kind: str, owner: str, marker_id: int) -> bool:
    """The work of marker ``marker_id`` is done (call in the transaction that did it). Returns
    whether it was still open."""
    from django.utils import timezone

    from dangol.core.models import DurableMarker

    return bool(
        DurableMarker.objects.filter(
            pk=marker_id, kind=kind, owner=owner[:64], closed_at__isnull=True
        ).update(closed_at=timezone.now())
    )


def open_markers(kind: str, owner: str | None = None) -> dict[str, tuple[int, dict[str, Any]]]:
    """``{owner: (marker id, data)}`` of the markers of ``kind`` not closed yet (of one owner,
    or of all), in one query."""
    from dangol.core.models import DurableMarker

    rows = DurableMarker.objects.filter(kind=kind, closed_at__isnull=True)
    if owner is not None:
        rows = rows.filter(owner=owner[:64])
    return {o: (int(pk), data or {}) for pk, o, data in rows.values_list("id", "owner", "data")}


def _audit(action: str, marker_id: int, owner: str, after: dict[str, Any]) -> None:
    """The change-log row telling people that a load deferred or restored indexes."""
    from dangol.core.context import current_request_id
    from dangol.core.models import ChangeLog, DurableMarker

    ChangeLog.objects.create(
        action=action, object_type=DurableMarker._meta.label_lower, object_id=str(marker_id),
        object_repr=owner[:200], after={"owner": owner, **after},
        request_id=current_request_id(),
    )  # fmt: skip


def secondary_indexes(model: type[models.Model], *, unique: bool = True) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes of ``model`` that no constraint relies on (on
    PostgreSQL: not backing a primary key, unique or exclusion constraint; on SQLite: not
    automatic). ``unique=False`` leaves out unique indexes as well (conditional unique
    constraints are plain unique indexes): the ones an idempotent upsert needs."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.schemaname = current_schema() AND i.tablename = %s
                  AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint c
                    WHERE c.conindid = (quote_ident(i.schemaname) || '.'
                                        || quote_ident(i.indexname))::regclass)
                ORDER BY i.indexname
                """,
                [table],
            )
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL ORDER BY name",
                [table],
            )
        found = [(str(name), str(sql)) for name, sql in cursor.fetchall()]
    if not unique:
        found = [(n, s) for n, s in found if not s.upper().startswith("CREATE UNIQUE")]
    return found


def foreign_key_statements(model_list: Sequence[type[models.Model]]) -> dict[str, list[str]]:
    """On PostgreSQL, the statements that drop the foreign keys *of* these models' tables for a
    bulk load (``drop``) and put them back after it (``restore``), for ``deferred_indexes``.
    Elsewhere nothing.

    PostgreSQL checks a foreign key with one query per inserted row, at commit (the constraints
    are deferred): measured, a third of a raw customer insert and half of a raw order insert
    (ADR 0005 amendment "foreign keys in bulk mode"). Re-adding a key checks the whole table in
    one join instead. Each key comes back ``NOT VALID`` (enforced for new rows at once, whatever
    the table holds) and is then validated in its own block: rows that break it (only a
    concurrent writer could make them while the key was away) leave it unvalidated with a
    warning in the server log instead of failing the restore, which must always succeed. Both
    parts are skipped when already done, so the restore can run twice."""
    if connection.vendor != "postgresql" or not model_list:
        return {}
    tables = [m._meta.db_table for m in model_list]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])
            ORDER BY 1, 2
            """,
            [tables],
        )
        found = [(str(t), str(n), str(d)) for t, n, d in cursor.fetchall()]
    drop = [f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {_q(name)}" for table, name, _ in found]
    restore = []
    for table, name, definition in found:
        literal = "'" + name.replace("'", "''") + "'"
        restore.append(
            f"""DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '{table}'::regclass AND conname = {literal}) THEN
        ALTER TABLE {table} ADD CONSTRAINT {_q(name)} {definition} NOT VALID;
    END IF;
    BEGIN
        ALTER TABLE {table} VALIDATE CONSTRAINT {_q(name)};
    EXCEPTION WHEN foreign_key_violation THEN
        RAISE WARNING 'foreign key % of % left unvalidated: %', {literal}, '{table}', SQLERRM;
    END;
END $$"""  # noqa: S608 - names and definitions read from the catalogue
        )
    return {"drop": drop, "restore": restore}


def _if_not_exists(sql: str) -> str:
    """``CREATE [UNIQUE] INDEX name`` as ``... IF NOT EXISTS name``, so a restore can run twice."""
    for head in ("CREATE UNIQUE INDEX ", "CREATE INDEX "):
        if sql.upper().startswith(head) and not sql.upper().startswith(head + "IF NOT EXISTS"):
            return head + "IF NOT EXISTS " + sql[len(head) :]
    return sql


def defer_indexes(
    owner: str,
    indexes: Sequence[tuple[str, str]],
    *,
    drop: Sequence[str] = (),
    restore: Sequence[str] = (),
) -> int | None:
    """Drop ``indexes`` ((name, CREATE statement)) and run the ``drop`` statements, recording
    in the same transaction the statements that put them back (the indexes, then ``restore``).
    Returns the marker id, the already open one if ``owner`` has one (a resumed load: nothing is
    dropped twice), or None when another owner's deferral is open (two bulk loads would rebuild
    each other's indexes: the second one loads with the indexes in place)."""
    from django.db import transaction

    with transaction.atomic():
        if connection.vendor == "postgresql":  # one deferral at a time, across sessions
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [INDEXES])
        pending = open_markers(INDEXES)
        if owner[:64] in pending:
            return pending[owner[:64]][0]
        if pending:
            return None
        statements = [_if_not_exists(sql) for _name, sql in indexes] + list(restore)
        marker = open_marker(INDEXES, owner, {"restore": statements})
        with connection.cursor() as cursor:
            for name, _sql in indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {_q(name)}")
            for sql in drop:
                cursor.execute(sql)
        forget_triggers()  # ``drop`` may take triggers away
        _audit(
            AUDIT_DEFERRED, marker, owner,
            {"indexes": [name for name, _sql in indexes], "statements": len(statements)},
        )  # fmt: skip
    return marker


def restore_indexes(owner: str) -> bool:
    """Run the restore statements of ``owner``'s open deferral and close it, in one transaction
    (PostgreSQL builds with a larger ``maintenance_work_mem`` and parallel workers, SQLite sorts
    with a helper thread per core). The marker is locked first, so of two processes restoring
    the same deferral (a resume and a later import finding it abandoned) the second finds it
    closed. Returns whether there was one."""
    from django.db import transaction

    from dangol.core.models import DurableMarker

    cores = min(os.cpu_count() or 1, 8)
    started = time.monotonic()
    with transaction.atomic():
        marker = (
            DurableMarker.objects.select_for_update()
            .filter(kind=INDEXES, owner=owner[:64], closed_at__isnull=True)
            .first()
        )
        if marker is None:
            return False
        statements = list((marker.data or {}).get("restore", []))
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                cursor.execute(f"SET LOCAL max_parallel_maintenance_workers = {max(cores - 1, 0)}")
            else:
                cursor.execute(f"PRAGMA threads={cores}")
                cursor.fetchall()
            for sql in statements:
                cursor.execute(sql)
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA threads=0")
                cursor.fetchall()
        forget_triggers()  # the restore statements may put triggers back
        close_marker(INDEXES, marker.owner, marker.pk)
        _audit(
            AUDIT_RESTORED, marker.pk, marker.owner,
            {"statements": len(statements), "seconds": round(time.monotonic() - started, 1)},
        )  # fmt: skip
    return True


@contextmanager
def deferred_indexes(
    owner: str,
    model_list: Sequence[type[models.Model]],
    *,
    unique: bool = True,
    keep: Any = None,
    drop: Sequence[str] = (),
    restore: Sequence[str] = (),
) -> Iterator[bool]:
    """Drop the secondary indexes of ``model_list`` (all but those ``keep(name, sql)`` keeps;
    unique ones only with ``unique``) for the ``with`` block and rebuild them at its end, even
    when it fails; if the process dies instead, the open marker says what to rebuild
    (``restore_indexes(owner)``). Yields whether the indexes are deferred."""
    if connection.in_atomic_block:
        yield False
        return
    indexes = [ix for m in model_list for ix in secondary_indexes(m, unique=unique)]
    if keep is not None:
        indexes = [ix for ix in indexes if not keep(*ix)]
    marker = defer_indexes(owner, indexes, drop=drop, restore=restore)
    try:
        yield marker is not None
    finally:
        if marker is not None:
            restore_indexes(owner)
