"""(e) Import pipeline throughput: customer rows/s and order lines/s, each beside a raw insert of
the same rows in the same run, and the peak memory at two file sizes (issue 5 §1, ADR 0005).

For each file size (customers; ``DANGOL_BENCH_IMPORT_CUSTOMERS``, default ``100000,1000000``)
a subprocess, in a scratch database of its own (``var/bench/imports.sqlite3`` or
``dangol_bench_imports``, created empty and migrated), writes a customer file (CSV, UTF-8 with
BOM, Korean headers; one row in 1,000 has an impossible birth date and is rejected) and an
order file (``LINES_PER_ORDER`` lines per order, one order per customer), and imports them with
``run_import`` as a user would (streamed, chunked, every check, lookup, change-feed entry and
purchase aggregate). It then inserts the same rows raw with the engine's plain path
(``executemany`` on SQLite, ``COPY`` on PostgreSQL) in transactions of the pipeline's
``CHUNK_SIZE``: customers with their contact points, external ids and change-feed entries;
orders with their lines. No parsing, no checks, no lookups: the ceiling of this database with
its indexes, foreign keys and durability. The ratio (import rows/s ÷ raw rows/s) is less
sensitive to the load of a shared machine than either figure. Peak RSS is the subprocess's
``ru_maxrss``: equal at both sizes means memory does not grow with the file.

    python -m bench.imports --customers 20000 --out result.json   (with DANGOL_DATABASE_URL;
                                                                    a temporary SQLite without)
"""

from __future__ import annotations

import argparse
import array
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
        ("raw_rows_per_s", "raw insert rows/s"),
        ("ratio", "import ÷ raw"),
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
        reset_scratch(url)
        out = ctx.workdir / f"imports-{n}.json"
        try:
            subprocess.run(  # noqa: S603 - our own command line
                [sys.executable, "-m", "bench.imports", "--customers", str(n), "--out", str(out)],
                env={**ctx.env, "DANGOL_DATABASE_URL": url},
                cwd=ctx.repo,
                check=True,
                timeout=7200,
            )
            result = json.loads(out.read_text(encoding="utf-8"))
        finally:
            if url.startswith("sqlite"):
                reset_scratch(url)
        details[str(n)] = result
        for key, label, goal in (
            ("customers", "customer rows", 50_000),
            ("order_lines", "order lines", 100_000),
        ):
            r = result[key]
            rows.append(
                Row(
                    f"{label}, file of {n:,} customers",
                    {
                        "rows": r["rows"],
                        "rows_per_s": r["rows_per_s"],
                        "raw_rows_per_s": r["raw_rows_per_s"],
                        "ratio": r["ratio"],
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
            "order, lines, purchase aggregates), one transaction per chunk. Raw: the same rows "
            "inserted with nothing else, in transactions of the same size.",
            "peak RSS: ru_maxrss of the subprocess, which counts SQLite's memory-mapped "
            "database pages (up to mmap_size, 256 MB); peak heap: the largest anonymous RSS "
            "(RssAnon) seen after a chunk. Equal figures at both file sizes: memory does not "
            "grow with the file.",
            "Order lines, raw with aggregates (in details): the raw insert plus the per-chunk "
            "purchase-aggregate UPDATE the import also runs.",
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


def _sample(_job: Any) -> None:
    HEAP[0] = max(HEAP[0], rss_anon_mb())


def _import(target: str, path: Path) -> tuple[float, Any, list[float]]:
    from dangol.integration import services

    job = services.create_import_job(target=target, source=SOURCE, path=path, actor=None)
    services.start_import(job=job, actor=None, enqueue=False)
    load = [os.getloadavg()[0]]
    started = time.perf_counter()
    job = services.run_import(job=job, progress=_sample)
    seconds = time.perf_counter() - started
    load.append(os.getloadavg()[0])
    return seconds, job, load


def _chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(start + size, n))


def raw_customers(n: int) -> tuple[float, array.array[int]]:
    """Insert the accepted customers of the file as the import writes them, nothing else."""
    from django.db import transaction
    from django.utils import timezone

    from dangol.customers.models import ChangeFeedEntry, ContactPoint, Customer, ExternalId
    from dangol.integration.imports.pipeline import CHUNK_SIZE
    from dangol.integration.imports.writer import TableWriter, allocate_ids

    now = timezone.now()
    source = SOURCE + "-raw"
    ids = array.array("q")
    started = time.perf_counter()
    for part in _chunks(n, CHUNK_SIZE):
        people = [_customer(i) for i in part if _accepted(i)]
        with transaction.atomic():
            new = allocate_ids(Customer, len(people))
            ids.extend(new)
            rows, cps, exts, feed = [], [], [], []
            for cid, (ext, name, mobile, email, birth, gender) in zip(new, people, strict=True):
                y, m, d = birth.split(".")
                rows.append(
                    (
                        cid,
                        name[:1],
                        name[1:],
                        name,
                        datetime.date(int(y), int(m), int(d)),
                        "M" if gender == "남" else "F",
                    )
                )
                e164 = "+82" + mobile[1:].replace("-", "")
                cps.append((cid, "mobile", mobile, e164, e164, mobile[-4:], True))
                if email:
                    local, domain = email.split("@")
                    norm = f"{local}@{domain.lower()}"
                    cps.append((cid, "email", email, norm, norm.lower(), "", True))
                exts.append((cid, ext))
                feed.append(("customer", cid, "created"))
            TableWriter(
                Customer,
                ("id", "family_name", "given_name", "full_name", "birth_date", "gender"),
                now,
                constants={"source": source, "created_at": now, "updated_at": now},
            ).insert(rows)
            TableWriter(
                ContactPoint,
                ("customer_id", "kind", "value", "normalized", "match_key", "last4", "is_primary"),
                now,
                constants={"created_at": now},
            ).insert(cps)
            TableWriter(
                ExternalId,
                ("customer_id", "key"),
                now,
                constants={"source": source, "created_at": now},
            ).insert(exts)
            TableWriter(
                ChangeFeedEntry,
                ("object_type", "object_id", "op"),
                now,
                constants={"data": {}, "at": now},
            ).insert(feed)
    return time.perf_counter() - started, ids


def raw_orders(n: int, customer_ids: array.array[int]) -> tuple[float, int, float]:
    """Insert the orders of the file (for the raw customers) with their lines, nothing else;
    then, timed apart, the purchase aggregates of each chunk's customers
    (``refresh_purchase_aggregates``, which the import runs per chunk too). Returns (insert
    seconds, lines, aggregate seconds)."""
    from django.db import transaction
    from django.utils import timezone

    from dangol.commerce.models import Order, OrderLine, Product
    from dangol.integration.imports.pipeline import CHUNK_SIZE
    from dangol.integration.imports.targets import refresh_purchase_aggregates
    from dangol.integration.imports.writer import TableWriter, allocate_ids

    now = timezone.now()
    source = SOURCE + "-raw"
    tz = timezone.get_current_timezone()
    products = {
        sku: (pid, price) for pid, sku, price in Product.objects.values_list("id", "sku", "price")
    }
    accepted = [i for i in range(n) if _accepted(i)]
    lines_written = 0
    aggregates = 0.0
    started = time.perf_counter()
    per_chunk = max(1, CHUNK_SIZE // LINES_PER_ORDER)
    for start in range(0, len(accepted), per_chunk):
        part = accepted[start : start + per_chunk]
        with transaction.atomic():
            oids = allocate_ids(Order, len(part))
            orders, lines = [], []
            for k, (oid, i) in enumerate(zip(oids, part, strict=True)):
                subtotal = Decimal(0)
                for j in range(LINES_PER_ORDER):
                    pid, price = products[f"B-SKU-{(i + j * 7) % PRODUCTS}"]
                    qty = 1 + j % 2
                    lines.append((oid, pid, qty, price, Decimal(0), price * qty))
                    subtotal += price * qty
                placed = datetime.datetime.strptime(_placed(i), "%Y-%m-%d %H:%M").replace(tzinfo=tz)
                orders.append(
                    (
                        oid,
                        f"RAW{oid}",
                        customer_ids[start + k],
                        placed,
                        subtotal,
                        subtotal,
                        f"O{i}",
                    )
                )
            TableWriter(
                Order,
                ("id", "number", "customer_id", "placed_at", "subtotal", "total", "external_id"),
                now,
                constants={"source": source, "created_at": now},
            ).insert(orders)
            TableWriter(
                OrderLine,
                ("order_id", "product_id", "quantity", "unit_price", "discount", "line_total"),
                now,
            ).insert(lines)
            lines_written += len(lines)
            began = time.perf_counter()
            refresh_purchase_aggregates(sorted(o[2] for o in orders), now)
            aggregates += time.perf_counter() - began
    return time.perf_counter() - started - aggregates, lines_written, aggregates


def measure(n: int) -> dict[str, Any]:
    """Import a file of ``n`` customers and their orders, then raw-insert the same rows."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    with tempfile.TemporaryDirectory(prefix="dangol-imports-") as tmp:
        customers, products, orders = write_files(Path(tmp), n)
        sizes_mb = {
            "customers_file_mb": round(customers.stat().st_size / 2**20, 1),
            "orders_file_mb": round(orders.stat().st_size / 2**20, 1),
        }
        c_s, c_job, c_load = _import("customers", customers)
        rss_customers = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        _import("products", products)
        o_s, o_job, o_load = _import("orders", orders)
    raw_c_s, raw_ids = raw_customers(n)
    raw_o_s, raw_lines, raw_agg_s = raw_orders(n, raw_ids)
    c_rows, lines = c_job.rows_read, o_job.rows_read
    return {
        "database": connection.vendor,
        "customers": {
            "rows": c_rows,
            "seconds": round(c_s, 2),
            "rows_per_s": round(c_rows / c_s),
            "raw_rows": len(raw_ids),
            "raw_rows_per_s": round(len(raw_ids) / raw_c_s),
            "ratio": round((c_rows / c_s) / (len(raw_ids) / raw_c_s), 3),
            "load": " → ".join(f"{x:.1f}" for x in c_load),
            "counts": c_job.counts(),
        },
        "order_lines": {
            "rows": lines,
            "seconds": round(o_s, 2),
            "rows_per_s": round(lines / o_s),
            "raw_rows": raw_lines,
            "raw_rows_per_s": round(raw_lines / raw_o_s),
            "ratio": round((lines / o_s) / (raw_lines / raw_o_s), 3),
            "raw_with_aggregates_rows_per_s": round(raw_lines / (raw_o_s + raw_agg_s)),
            "ratio_to_raw_with_aggregates": round(
                (lines / o_s) / (raw_lines / (raw_o_s + raw_agg_s)), 3
            ),
            "load": " → ".join(f"{x:.1f}" for x in o_load),
            "counts": o_job.counts(),
        },
        "peak_rss_mb_after_customers": rss_customers,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "peak_heap_mb": round(HEAP[0]),
        **sizes_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not os.environ.get("DANGOL_DATABASE_URL"):  # standalone: a temporary SQLite database
        os.environ.setdefault("DANGOL_VAR_DIR", tempfile.mkdtemp(prefix="dangol-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
    import django

    django.setup()
    result = measure(args.customers)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
