"""(e) Import pipeline throughput: customer rows/s and order lines/s, each beside a raw insert of
the same rows in the same run, and the peak memory at two file sizes (issue 5 §1, ADR 0005).

For each file size (customers; ``DANGOL_BENCH_IMPORT_CUSTOMERS``, default ``100000,1000000``)
and each mode (``DANGOL_BENCH_IMPORT_MODES``, default ``normal,bulk``) two subprocesses run,
each in a freshly created, migrated scratch database of its own (``var/bench/imports.sqlite3``
or ``dangol_bench_imports``), so neither inherits the other's rows and indexes:

- *import*: writes a customer file (CSV, UTF-8 with BOM, Korean headers; one row in 1,000 has
  an impossible birth date and is rejected) and an order file (``LINES_PER_ORDER`` lines per
  order, one order per accepted customer), and imports them with ``run_import`` as a user
  would: streamed, chunked, every check, lookup, change-feed entry and purchase aggregate;
- *raw*: inserts the same rows with the engine's plain path (``executemany`` on SQLite,
  ``COPY`` on PostgreSQL) in transactions of the pipeline's ``CHUNK_SIZE``, the values made
  outside the timed part: customers with their contact points, external ids and change-feed
  entries; orders with their lines; then, timed apart, the per-chunk purchase-aggregate
  UPDATE the import also runs. No parsing, no checks, no lookups: the ceiling of this database
  with its indexes, foreign keys and durability;
- *floor*: the same rows again, made by the database engine itself (``INSERT … SELECT`` over a
  generated series, chunk by chunk: no rows cross from the client at all), the bulk mode's
  deferred indexes rebuilt and the order file's purchase aggregates refreshed, everything
  timed: what the database alone needs for the rows and indexes the import must leave behind.
  No import, however it is written, can go faster.

Modes (ADR 0005 §13): *normal* imports with ``bulk=False`` (every index maintained row by row)
against the raw insert **with** every index; *bulk* imports with ``bulk=True`` (the target
tables' secondary indexes deferred, rebuilt at the end: the rebuild is in the import's time)
against the raw insert **without** the same secondary indexes (their rebuild not timed: the
ceiling of inserting alone).

The ratio (import rows/s ÷ raw rows/s) is less sensitive to the load of a shared machine than
either figure, and the same ratio in CPU seconds (the subprocess plus, on PostgreSQL, its
server backend) hardly depends on it at all. Peak RSS is the import subprocess's
``ru_maxrss``, peak heap its largest anonymous RSS after a chunk: equal at both sizes means
memory does not grow with the file.

    python -m bench.imports --customers 20000            (all phases, temporary SQLite files)
    python -m bench.imports --customers 20000 --phase import --out r.json  (DANGOL_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import array
import contextlib
import csv
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.registry import Context, Outcome, Row, Target, benchmark

SIZES_ENV = "DANGOL_BENCH_IMPORT_CUSTOMERS"
DEFAULT_SIZES = (100_000, 1_000_000)
MODES_ENV = "DANGOL_BENCH_IMPORT_MODES"
MODES = ("normal", "bulk")
RAW_OF_MODE = {"normal": "with all indexes", "bulk": "without the deferred indexes"}
LINES_PER_ORDER = 2
PRODUCTS = 200
REJECT_EVERY = 1000  # one customer row in this many has an impossible birth date
FAMILY = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = "민서준지하은우윤도현예진수아영호연성"
SOURCE = "bench-import"


def sizes() -> list[int]:
    given = os.environ.get(SIZES_ENV, "").strip()
    if not given:
        return list(DEFAULT_SIZES)
    return [int(x) for x in given.replace("_", "").split(",") if x.strip()]


def modes() -> list[str]:
    given = os.environ.get(MODES_ENV, "").strip()
    chosen = [m.strip() for m in given.split(",") if m.strip()] if given else list(MODES)
    unknown = set(chosen) - set(MODES)
    if unknown:
        raise ValueError(f"{MODES_ENV}: unknown modes {sorted(unknown)}")
    return chosen


def scratch_url(ctx: Context) -> str:
    if ctx.engine == "postgres":
        return f"{ctx.database_url.rsplit('/', 1)[0]}/dangol_bench_imports"
    return f"sqlite:///{Path(ctx.env['DANGOL_VAR_DIR']) / 'bench' / 'imports.sqlite3'}"


@benchmark(
    "imports",
    title="Import pipeline: customer rows/s and order lines/s against a raw insert",
    columns=[
        ("rows", "rows"),
        ("rows_per_s", "rows/s"),
        ("cpu_rows_per_s", "rows per CPU-s"),
        ("raw_rows_per_s", "raw insert rows/s"),
        ("raw", "raw insert"),
        ("floor_rows_per_s", "engine floor rows/s"),
        ("ratio", "import ÷ raw"),
        ("cpu_ratio", "same, in CPU time"),
        ("peak_rss_mb", "peak RSS MB"),
        ("peak_heap_mb", "peak heap MB"),
        ("load", "load avg"),
    ],
    order=40,
)
def imports(ctx: Context) -> Outcome:
    """Each file size in its own subprocess and freshly created scratch database."""
    from bench.load_rate import reset_scratch

    url = scratch_url(ctx)
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for n in sizes():
        for mode in modes():
            phases = {}
            for phase in ("import", "raw", "floor"):  # each in a fresh database of its own
                reset_scratch(url)
                out = ctx.workdir / f"imports-{n}-{mode}-{phase}.json"
                try:
                    subprocess.run(  # noqa: S603 - our own command line
                        [
                            sys.executable,
                            *("-m", "bench.imports", "--customers", str(n)),
                            *("--phase", phase, "--mode", mode, "--out", str(out)),
                        ],
                        env={**ctx.env, "DANGOL_DATABASE_URL": url},
                        cwd=ctx.repo,
                        check=True,
                        timeout=7200,
                    )
                    phases[phase] = json.loads(out.read_text(encoding="utf-8"))
                finally:
                    if url.startswith("sqlite"):
                        reset_scratch(url)
            result = combine(phases["import"], phases["raw"], phases["floor"])
            details[f"{n}-{mode}"] = result
            for key, label, goal in (
                ("customers", "customer rows", 50_000),
                ("order_lines", "order lines", 100_000),
            ):
                r = result[key]
                rows.append(
                    Row(
                        f"{label}, file of {n:,} customers, {mode} mode",
                        {
                            "rows": r["rows"],
                            "rows_per_s": r["rows_per_s"],
                            "cpu_rows_per_s": r["cpu_rows_per_s"],
                            "raw_rows_per_s": r["raw_rows_per_s"],
                            "raw": RAW_OF_MODE[mode],
                            "floor_rows_per_s": r["floor_rows_per_s"],
                            "ratio": r["ratio"],
                            "cpu_ratio": r.get("cpu_ratio"),
                            "peak_rss_mb": result["peak_rss_mb"],
                            "peak_heap_mb": result.get("peak_heap_mb"),
                            "load": r["load"],
                        },
                        targets=[Target("rows_per_s", ">=", goal)],
                    )
                )
    return Outcome(
        rows=rows,
        details=details,
        notes=[
            "Import: streamed CSV → column-wise checks → identity lookups → chunk writes "
            "(customers: customer, contact points, external id, change-feed entry; orders: "
            "order, lines; purchase aggregates once per file), one transaction per chunk. Raw: "
            "the same rows inserted with nothing else, in transactions of the same size.",
            "normal mode: every index maintained row by row; ratio to the raw insert with all "
            "indexes. bulk mode (ADR 0005 §13): the target tables' secondary indexes dropped "
            "before the file and rebuilt after it, the rebuild counted in the import's time; "
            "ratio to the raw insert without those indexes (their rebuild not counted).",
            "peak RSS: ru_maxrss of the subprocess, which counts SQLite's memory-mapped "
            "database pages (up to mmap_size, 256 MB); peak heap: the largest anonymous RSS "
            "(RssAnon) seen after a chunk. Equal figures at both file sizes: memory does not "
            "grow with the file.",
            "engine floor: the same rows made by the database engine itself (INSERT … SELECT "
            "over a generated series: no client rows, no parsing, no lookups), the bulk mode's "
            "deferred indexes rebuilt and the purchase aggregates refreshed, all timed: no "
            "import can beat it on this database with these tables and indexes.",
            "Order lines, raw with aggregates (in details): the raw insert plus the per-chunk "
            "purchase-aggregate UPDATE the import also runs.",
            "same, in CPU time: rows per CPU-second of the import ÷ the raw insert's, counting "
            "this process and (PostgreSQL) its server backend: the work done, whatever share of "
            "the shared cores each phase got.",
            "load avg: the 1-minute load average at the start and end of the import phase (the "
            "machine is shared; the ratio is the steadier figure).",
        ],
    )


# --- the subprocess ---------------------------------------------------------------------------


def _customer(i: int) -> tuple[str, str, str, str, str, str]:
    """(external id, name, mobile, e-mail, birth date, gender) of customer ``i``, as text."""
    name = FAMILY[i % 19] + GIVEN[(i // 19) % 17] + GIVEN[(i // 323) % 17]
    birth = f"{1950 + i % 50}.{1 + i % 12:02d}.{1 + i % 28:02d}"
    if i % REJECT_EVERY == REJECT_EVERY - 1:
        birth = f"{1950 + i % 50}.02.30"  # no such day: the row is rejected
    return (
        f"C{i}",
        name,
        f"010-{2000 + i // 10000 % 8000:04d}-{i % 10000:04d}",
        f"user{i}@Example.com" if i % 3 else "",
        birth,
        "남" if i % 2 else "여",
    )


def _accepted(i: int) -> bool:
    return i % REJECT_EVERY != REJECT_EVERY - 1


def _placed(i: int) -> str:
    return f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{i % 60:02d}"


def write_files(folder: Path, n: int) -> tuple[Path, Path, Path]:
    customers = folder / "customers.csv"
    with customers.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["회원번호", "이름", "휴대폰", "이메일", "생년월일", "성별"])
        w.writerows(_customer(i) for i in range(n))
    products = folder / "products.csv"
    with products.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "name", "price"])
        w.writerows(
            [f"B-SKU-{p}", f"상품 {p}", f"{(p % 40 + 1) * 1000:,}"] for p in range(PRODUCTS)
        )
    orders = folder / "orders.csv"
    with orders.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["주문번호", "회원번호", "상품코드", "수량", "단가", "주문일시"])
        w.writerows(
            (f"O{i}", f"C{i}", f"B-SKU-{(i + k * 7) % PRODUCTS}", 1 + k % 2, "", _placed(i))
            for i in range(n)
            if _accepted(i)
            for k in range(LINES_PER_ORDER)
        )
    return customers, products, orders


def rss_anon_mb() -> float:
    """The process's anonymous resident memory (its heap, without mapped files such as SQLite's
    memory-mapped database pages, which ``ru_maxrss`` counts too), or 0 where not known."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


HEAP: list[float] = [0.0]  # the largest RssAnon seen after a chunk


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and, on PostgreSQL, by its server backend (read
    from /proc when the server runs on this machine): the work itself, whatever share of the
    shared cores it got. SQLite works inside this process."""
    from django.db import connection

    t = os.times()
    total = t.user + t.system
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")
    return total


def _sample(_job: Any) -> None:
    HEAP[0] = max(HEAP[0], rss_anon_mb())


def _import(target: str, path: Path, bulk: bool | None = False) -> tuple[float, Any, list[float]]:
    from dangol.integration import services

    job = services.create_import_job(target=target, source=SOURCE, path=path, actor=None)
    services.start_import(job=job, actor=None, enqueue=False)
    load = [os.getloadavg()[0]]
    cpu = cpu_seconds()
    started = time.perf_counter()
    job = services.run_import(job=job, progress=_sample, bulk=bulk)
    seconds = time.perf_counter() - started
    CPU[target] = cpu_seconds() - cpu
    PEAK_AFTER[target] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    load.append(os.getloadavg()[0])
    return seconds, job, load


CPU: dict[str, float] = {}  # CPU seconds of each phase (cpu_seconds)
PEAK_AFTER: dict[str, int] = {}  # ru_maxrss (MB) after each phase


def _chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(start + size, n))


class Clock:
    """Wall and CPU seconds of the timed parts only (row values are made outside them)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), cpu_seconds()
        yield
        self.wall += time.perf_counter() - wall
        self.cpu += cpu_seconds() - cpu


@contextlib.contextmanager
def _without_indexes(target: str, bulk: bool) -> Iterator[None]:
    """For the bulk mode's raw insert: the same secondary indexes (and, on SQLite, the name
    index's triggers) dropped as the import's bulk mode drops them; rebuilt after the timed
    part."""
    if not bulk:
        yield
        return
    from dangol.core import bulkwrite
    from dangol.integration.imports.targets import TARGETS

    t = TARGETS[target](set())
    models = list(t.bulk_models)
    with bulkwrite.deferred_indexes(
        f"bench.raw.{target}", models, unique=False, keep=t.bulk_keep, **t.bulk_statements(models)
    ):
        yield


def raw_customers(n: int) -> tuple[Clock, array.array[int]]:
    """Insert the accepted customers of the file as the import writes them (customer, contact
    points, external id, change-feed entry), nothing else; the row values are made before
    each timed transaction."""
    from django.db import transaction
    from django.utils import timezone

    from dangol.customers.models import ChangeFeedEntry, ContactPoint, Customer, ExternalId
    from dangol.integration.imports.pipeline import CHUNK_SIZE
    from dangol.integration.imports.writer import TableWriter, allocate_ids

    now = timezone.now()
    ids = array.array("q")
    clock = Clock()
    for part in _chunks(n, CHUNK_SIZE):
        people, contacts = [], []
        for k, i in enumerate(j for j in part if _accepted(j)):
            ext, name, mobile, email, birth, gender = _customer(i)
            y, m, d = birth.split(".")
            people.append(
                (
                    ext,
                    name[:1],
                    name[1:],
                    name,
                    datetime.date(int(y), int(m), int(d)),
                    "M" if gender == "남" else "F",
                )
            )
            e164 = "+82" + mobile[1:].replace("-", "")
            contacts.append((k, "mobile", mobile, e164, e164, mobile[-4:], True))
            if email:
                local, domain = email.split("@")
                norm = f"{local}@{domain.lower()}"
                contacts.append((k, "email", email, norm, norm.lower(), "", True))
        with clock.timed(), transaction.atomic():
            new = allocate_ids(Customer, len(people))
            ids.extend(new)
            TableWriter(
                Customer,
                ("id", "family_name", "given_name", "full_name", "birth_date", "gender"),
                now,
                constants={"source": SOURCE, "created_at": now, "updated_at": now},
            ).insert([(cid, *p[1:]) for cid, p in zip(new, people, strict=True)])
            TableWriter(
                ContactPoint,
                ("customer_id", "kind", "value", "normalized", "match_key", "last4", "is_primary"),
                now,
                constants={"created_at": now},
            ).insert([(new[c[0]], *c[1:]) for c in contacts])
            TableWriter(
                ExternalId,
                ("customer_id", "key"),
                now,
                constants={"source": SOURCE, "created_at": now},
            ).insert([(cid, p[0]) for cid, p in zip(new, people, strict=True)])
            TableWriter(
                ChangeFeedEntry,
                ("object_type", "object_id", "op"),
                now,
                constants={"data": {}, "at": now},
            ).insert([("customer", cid, "created") for cid in new])
    return clock, ids


def raw_orders(n: int, customer_ids: array.array[int]) -> tuple[Clock, Clock, int]:
    """Insert the orders of the file (for the raw customers) with their lines, nothing else;
    then, timed apart, the purchase aggregates of each chunk's customers
    (``refresh_purchase_aggregates``, which the import runs per chunk too). Returns the clocks
    of the inserts and of the aggregates, and the lines written."""
    from django.db import transaction
    from django.utils import timezone

    from dangol.commerce.models import Order, OrderLine, Product
    from dangol.commerce.purchases import refresh_purchase_aggregates
    from dangol.integration.imports.pipeline import CHUNK_SIZE
    from dangol.integration.imports.writer import TableWriter, allocate_ids

    now = timezone.now()
    tz = timezone.get_current_timezone()
    products = {
        sku: (pid, price) for pid, sku, price in Product.objects.values_list("id", "sku", "price")
    }
    accepted = [i for i in range(n) if _accepted(i)]
    lines_written = 0
    inserts, aggregates = Clock(), Clock()
    per_chunk = max(1, CHUNK_SIZE // LINES_PER_ORDER)
    for start in range(0, len(accepted), per_chunk):
        part = accepted[start : start + per_chunk]
        orders, lines = [], []
        for k, i in enumerate(part):
            subtotal = Decimal(0)
            for j in range(LINES_PER_ORDER):
                pid, price = products[f"B-SKU-{(i + j * 7) % PRODUCTS}"]
                qty = 1 + j % 2
                lines.append((k, pid, qty, price, Decimal(0), price * qty))
                subtotal += price * qty
            placed = datetime.datetime.strptime(_placed(i), "%Y-%m-%d %H:%M").replace(tzinfo=tz)
            orders.append((customer_ids[start + k], placed, subtotal, subtotal, f"O{i}"))
        with inserts.timed(), transaction.atomic():
            oids = allocate_ids(Order, len(part))
            TableWriter(
                Order,
                ("id", "number", "customer_id", "placed_at", "subtotal", "total", "external_id"),
                now,
                constants={"source": SOURCE, "created_at": now},
            ).insert([(oid, f"RAW{oid}", *o) for oid, o in zip(oids, orders, strict=True)])
            TableWriter(
                OrderLine,
                ("order_id", "product_id", "quantity", "unit_price", "discount", "line_total"),
                now,
            ).insert([(oids[line[0]], *line[1:]) for line in lines])
        with aggregates.timed(), transaction.atomic():
            refresh_purchase_aggregates(sorted(o[0] for o in orders), now)
        lines_written += len(lines)
    return inserts, aggregates, lines_written


class _Sql:
    """The few expressions whose spelling differs between the engines, for ``measure_floor``
    (``%`` doubled: the statements go through the DB-API's paramstyle)."""

    def __init__(self, vendor: str):
        self.pg = vendor == "postgresql"

    def series(self, start: int, stop: int, join: str = "") -> str:
        """A row source of ``i`` from ``start`` to ``stop - 1`` (joined to ``join``), without
        the rejected rows."""
        if self.pg:
            source = f"generate_series({start}, {stop - 1}) AS s(i)"
        else:
            step = f"SELECT i + 1 FROM s WHERE i < {stop - 1}"  # noqa: S608 - integers
            cte = f"WITH RECURSIVE s(i) AS (SELECT {start} UNION ALL {step})"
            source = f"({cte} SELECT i FROM s) AS s"  # noqa: S608 - integers
        return f"{source}{join} WHERE i %% {REJECT_EVERY} <> {REJECT_EVERY - 1}"

    def pad4(self, expr: str) -> str:
        return f"lpad(({expr})::text, 4, '0')" if self.pg else f"printf('%%04d', {expr})"

    def name(self) -> str:
        """``_customer``'s name: a family name and two given-name syllables."""
        return (
            f"substr('{FAMILY}', i %% 19 + 1, 1) || substr('{GIVEN}', (i / 19) %% 17 + 1, 1)"
            f" || substr('{GIVEN}', (i / 323) %% 17 + 1, 1)"
        )

    def birth(self) -> str:
        """``_customer``'s birth date."""
        if self.pg:
            return "make_date(1950 + i %% 50, 1 + i %% 12, 1 + i %% 28)"
        return "printf('%%04d-%%02d-%%02d', 1950 + i %% 50, 1 + i %% 12, 1 + i %% 28)"

    def placed(self) -> str:
        """``_placed``: 10:MM in the site's time zone (stored as UTC on SQLite)."""
        if self.pg:
            return "make_timestamptz(2024, 1 + i %% 12, 1 + i %% 28, 10, i %% 60, 0, 'Asia/Seoul')"
        return "printf('2024-%%02d-%%02d 01:%%02d:00', 1 + i %% 12, 1 + i %% 28, i %% 60)"


def _insert_select(
    model: Any, columns: dict[str, str], now: datetime.datetime, rows: str, /, **constants: Any
) -> None:
    """``INSERT INTO model (columns…) SELECT expressions… FROM rows``: ``columns`` maps each
    given column to its SQL expression of ``i``; every other column is filled as
    ``TableWriter`` fills it (``constants``, the fields' defaults)."""
    from django.db import connection

    from dangol.integration.imports.writer import TableWriter

    w = TableWriter(model, list(columns), now, constants=constants)
    select = ", ".join([*columns.values(), *(["%s"] * len(w.tail)), *w.literal_sql])
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {w.table} ({w.names}) SELECT {select} FROM {rows}", [*w.tail])  # noqa: S608


def measure_floor(n: int, bulk: bool = False) -> dict[str, Any]:
    """The database engine's floor: the rows the import writes for the same file (customers
    with their contact points, external ids and change-feed entries; orders with their lines)
    made by the engine itself, ``INSERT … SELECT`` over a generated series in transactions of
    the pipeline's ``CHUNK_SIZE`` (no client rows, no parsing, no checks, no lookups), then the
    purchase aggregates of the file's customers refreshed once (``refresh_purchase_aggregates``,
    as the order import does per file). Bulk mode: the same secondary indexes deferred as the
    import defers, their rebuild timed (as in the import's time). No import, however it is
    written, can go faster than this on this database with these tables and indexes."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from dangol.commerce.models import Order, OrderLine, Product
    from dangol.commerce.purchases import refresh_purchase_aggregates
    from dangol.customers.models import ChangeFeedEntry, ContactPoint, Customer, ExternalId
    from dangol.integration.imports.pipeline import CHUNK_SIZE

    call_command("migrate", interactive=False, verbosity=0)
    with tempfile.TemporaryDirectory(prefix="dangol-imports-") as tmp:
        _customers, products, _orders = write_files(Path(tmp), 0)
        _import("products", products)
    first_product = Product.objects.order_by("id").values_list("id", flat=True).first()
    sql, now = _Sql(connection.vendor), timezone.now()
    middle, last = sql.pad4("2000 + i / 10000 %% 8000"), sql.pad4("i %% 10000")
    customers, lines = Clock(), Clock()
    with customers.timed(), _without_indexes("customers", bulk):
        for part in _chunks(n, CHUNK_SIZE):
            rows = sql.series(part.start, part.stop)
            with transaction.atomic():
                _insert_select(
                    Customer,
                    {
                        "id": "i + 1",
                        "family_name": f"substr({sql.name()}, 1, 1)",
                        "given_name": f"substr({sql.name()}, 2)",
                        "full_name": sql.name(),
                        "birth_date": sql.birth(),
                        "gender": "CASE WHEN i %% 2 = 1 THEN 'M' ELSE 'F' END",
                    },
                    now,
                    rows,
                    source=SOURCE,
                    created_at=now,
                    updated_at=now,
                )
                mobile = f"'+8210' || {middle} || {last}"
                email = "'user' || i || '@example.com'"
                for kind, value, normalized, where in (
                    ("mobile", f"'010-' || {middle} || '-' || {last}", mobile, "TRUE"),
                    ("email", "'user' || i || '@Example.com'", email, "i %% 3 <> 0"),
                ):
                    _insert_select(
                        ContactPoint,
                        {
                            "customer_id": "i + 1",
                            "kind": f"'{kind}'",
                            "value": value,
                            "normalized": normalized,
                            "match_key": normalized,
                            "last4": last if kind == "mobile" else "''",
                            "is_primary": "TRUE",
                        },
                        now,
                        f"{rows} AND {where}",
                        created_at=now,
                    )
                _insert_select(
                    ExternalId,
                    {"customer_id": "i + 1", "key": "'C' || i"},
                    now,
                    rows,
                    source=SOURCE,
                    created_at=now,
                )
                _insert_select(
                    ChangeFeedEntry,
                    {"object_type": "'customer'", "object_id": "i + 1", "op": "'created'"},
                    now,
                    rows,
                    data={},
                    at=now,
                )
    price = f"(((i + j * 7) %% {PRODUCTS}) %% 40 + 1) * 1000"
    total = " + ".join(
        f"(((i + {k * 7}) %% {PRODUCTS}) %% 40 + 1) * {1000 * (1 + k % 2)}"
        for k in range(LINES_PER_ORDER)
    )
    numbers = " UNION ALL ".join(f"SELECT {k} AS j" for k in range(LINES_PER_ORDER))
    with lines.timed(), _without_indexes("orders", bulk):
        for part in _chunks(n, max(1, CHUNK_SIZE // LINES_PER_ORDER)):
            rows = sql.series(part.start, part.stop)
            with transaction.atomic():
                _insert_select(
                    Order,
                    {
                        "id": "i + 1",
                        "number": "'RAW' || (i + 1)",
                        "customer_id": "i + 1",
                        "placed_at": sql.placed(),
                        "subtotal": total,
                        "total": total,
                        "external_id": "'O' || i",
                    },
                    now,
                    rows,
                    source=SOURCE,
                    created_at=now,
                )
                _insert_select(
                    OrderLine,
                    {
                        "order_id": "i + 1",
                        "product_id": f"{first_product} + (i + j * 7) %% {PRODUCTS}",
                        "quantity": "1 + j %% 2",
                        "unit_price": price,
                        "discount": "0",
                        "line_total": f"{price} * (1 + j %% 2)",
                    },
                    now,
                    sql.series(part.start, part.stop, f" CROSS JOIN ({numbers}) AS l"),
                )
        with transaction.atomic():
            refresh_purchase_aggregates(
                list(Customer.objects.values_list("id", flat=True).order_by("id")), now
            )
    written = Customer.objects.count(), OrderLine.objects.count()
    return {
        "mode": "bulk" if bulk else "normal",
        "customers": {
            "rows": written[0],
            "seconds": round(customers.wall, 2),
            "cpu_seconds": round(customers.cpu, 2),
        },
        "order_lines": {
            "rows": written[1],
            "seconds": round(lines.wall, 2),
            "cpu_seconds": round(lines.cpu, 2),
        },
    }


def measure_import(n: int, bulk: bool = False) -> dict[str, Any]:
    """Import a file of ``n`` customers and one of their orders (empty, migrated database), in
    bulk mode or not."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    with tempfile.TemporaryDirectory(prefix="dangol-imports-") as tmp:
        customers, products, orders = write_files(Path(tmp), n)
        out: dict[str, Any] = {
            "database": connection.vendor,
            "mode": "bulk" if bulk else "normal",
            "customers_file_mb": round(customers.stat().st_size / 2**20, 1),
            "orders_file_mb": round(orders.stat().st_size / 2**20, 1),
        }
        for key, target, path in (
            ("customers", "customers", customers),
            ("products", "products", products),
            ("order_lines", "orders", orders),
        ):
            seconds, job, load = _import(target, path, bulk if target != "products" else False)
            out[key] = {
                "rows": job.rows_read,
                "seconds": round(seconds, 2),
                "cpu_seconds": round(CPU[target], 2),
                "load": " → ".join(f"{x:.1f}" for x in load),
                "counts": job.counts(),
            }
        out["peak_rss_mb_after_customers"] = PEAK_AFTER.get("customers", 0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out["peak_heap_mb"] = round(HEAP[0])
    return out


def measure_raw(n: int, bulk: bool = False) -> dict[str, Any]:
    """The raw insert of the same rows (empty, migrated database; the 200 products imported
    first, untimed, as the order import needs them); for the bulk mode without the secondary
    indexes the import defers (rebuilt untimed)."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    with tempfile.TemporaryDirectory(prefix="dangol-imports-") as tmp:
        _customers, products, _orders = write_files(Path(tmp), 0)
        _import("products", products)
    load = [os.getloadavg()[0]]
    with _without_indexes("customers", bulk):
        clock_c, ids = raw_customers(n)
    load.append(os.getloadavg()[0])
    with _without_indexes("orders", bulk):
        clock_o, clock_a, lines = raw_orders(n, ids)
    load.append(os.getloadavg()[0])
    return {
        "mode": "bulk" if bulk else "normal",
        "customers": {
            "rows": len(ids),
            "seconds": round(clock_c.wall, 2),
            "cpu_seconds": round(clock_c.cpu, 2),
            "load": " → ".join(f"{x:.1f}" for x in load[:2]),
        },
        "order_lines": {
            "rows": lines,
            "seconds": round(clock_o.wall, 2),
            "cpu_seconds": round(clock_o.cpu, 2),
            "aggregates_seconds": round(clock_a.wall, 2),
            "aggregates_cpu_seconds": round(clock_a.cpu, 2),
            "load": " → ".join(f"{x:.1f}" for x in load[1:]),
        },
    }


def combine(
    imported: dict[str, Any], raw: dict[str, Any], floor: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Rates and ratios of one file size from the subprocesses' results."""
    out = {k: v for k, v in imported.items() if k not in ("customers", "products", "order_lines")}
    for key in ("customers", "order_lines"):
        i, r = imported[key], raw[key]
        rate, raw_rate = i["rows"] / i["seconds"], r["rows"] / r["seconds"]
        cpu_rate, raw_cpu_rate = i["rows"] / i["cpu_seconds"], r["rows"] / r["cpu_seconds"]
        row = {
            "rows": i["rows"],
            "rows_per_s": round(rate),
            "raw_rows_per_s": round(raw_rate),
            "ratio": round(rate / raw_rate, 3),
            "cpu_rows_per_s": round(cpu_rate),
            "raw_cpu_rows_per_s": round(raw_cpu_rate),
            "cpu_ratio": round(cpu_rate / raw_cpu_rate, 3),
            "load": i["load"],
            "raw_load": r["load"],
            "import": i,
            "raw": r,
        }
        if key == "order_lines":
            with_agg = r["rows"] / (r["seconds"] + r["aggregates_seconds"])
            with_agg_cpu = r["rows"] / (r["cpu_seconds"] + r["aggregates_cpu_seconds"])
            row["raw_with_aggregates_rows_per_s"] = round(with_agg)
            row["ratio_to_raw_with_aggregates"] = round(rate / with_agg, 3)
            row["cpu_ratio_to_raw_with_aggregates"] = round(cpu_rate / with_agg_cpu, 3)
        if floor is not None:
            f = floor[key]
            row["floor_rows_per_s"] = round(f["rows"] / f["seconds"])
            row["floor_cpu_rows_per_s"] = round(f["rows"] / f["cpu_seconds"])
            row["ratio_to_floor"] = round(rate / row["floor_rows_per_s"], 3)
            row["floor"] = f
        out[key] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--phase", choices=("import", "raw", "floor", "both"), default="both")
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.phase == "both":  # standalone: every phase, each in a fresh temporary SQLite
        results = {}
        for phase in ("import", "raw", "floor"):
            with tempfile.TemporaryDirectory(prefix="dangol-bench-") as tmp:
                out = Path(tmp) / "out.json"
                env = {**os.environ, "DANGOL_VAR_DIR": tmp}
                env.pop("DANGOL_DATABASE_URL", None)
                cmd = [sys.executable, "-m", "bench.imports", "--customers", str(args.customers)]
                cmd += ["--mode", args.mode]
                subprocess.run([*cmd, "--phase", phase, "--out", str(out)], env=env, check=True)  # noqa: S603
                results[phase] = json.loads(out.read_text(encoding="utf-8"))
        combined = combine(results["import"], results["raw"], results["floor"])
        text = json.dumps(combined, ensure_ascii=False, indent=2)
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
        import django

        django.setup()
        measure = {"import": measure_import, "raw": measure_raw, "floor": measure_floor}[args.phase]
        result = measure(args.customers, bulk=args.mode == "bulk")
        text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
