"""Import pipeline throughput: customer rows/s and order lines/s, against a raw insert of the
same rows in the same run (the ceiling: no parsing, no checks, no lookups).

    run("small")   # 20,000 customers, 60,000 order lines
    run("medium")  # 200,000 customers, 600,000 order lines
    run("large")   # 1,000,000 customers, 3,000,000 order lines

Expects a configured, migrated database (the bench harness provides one; ``python
bench/imports.py small`` makes a temporary SQLite database, or uses DANGOL_DATABASE_URL). Rows
are imported with a fresh source name, so existing data is neither read as matches nor changed.
The raw insert writes, per customer, the customer, its contact points, its external id and its
change-feed entry, and per order the order and its lines, in transactions of the pipeline's
``CHUNK_SIZE``. Returns ``{"customers_rows_per_s", "order_lines_per_s", "raw_*_rows_per_s",
"peak_rss_mb", ...}``.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SIZES = {"tiny": 2_000, "small": 20_000, "medium": 200_000, "large": 1_000_000}
LINES_PER_CUSTOMER = 3
FAMILY = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = "민서준지하은우윤도현예진수아영호연성"


def _write_files(folder: Path, n: int, seed: int) -> tuple[Path, Path, Path]:
    rng = random.Random(seed)
    customers = folder / "customers.csv"
    with customers.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["회원번호", "이름", "휴대폰", "이메일", "생년월일", "성별"])
        for i in range(n):
            name = rng.choice(FAMILY) + rng.choice(GIVEN) + rng.choice(GIVEN)
            w.writerow(
                [
                    f"C{i}",
                    name,
                    f"010-{2000 + i // 10000:04d}-{i % 10000:04d}",
                    f"user{i}@Example.com" if i % 3 else "",
                    f"{1950 + i % 50}.{1 + i % 12:02d}.{1 + i % 28:02d}",
                    "남" if i % 2 else "여",
                ]
            )
    products = folder / "products.csv"
    with products.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "name", "price"])
        for p in range(200):
            w.writerow([f"B-SKU-{p}", f"상품 {p}", f"{(p % 40 + 1) * 1000:,}"])
    orders = folder / "orders.csv"
    with orders.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["주문번호", "회원번호", "상품코드", "수량", "단가", "주문일시"])
        for i in range(n):
            for line in range(LINES_PER_CUSTOMER):
                w.writerow(
                    [
                        f"O{i}",
                        f"C{i}",
                        f"B-SKU-{(i + line * 7) % 200}",
                        1 + line % 2,
                        "",
                        f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{line:02d}",
                    ]
                )
    return customers, products, orders


def _import(target: str, path: Path, source: str) -> tuple[float, Any]:
    from dangol.integration import services

    job = services.create_import_job(target=target, source=source, path=path, actor=None)
    services.start_import(job=job, actor=None, enqueue=False)
    started = time.perf_counter()
    job = services.run_import(job=job)
    return time.perf_counter() - started, job


def _raw_baseline(job_customers: Any, n: int, source: str) -> tuple[float, float]:
    """Insert the same rows (customers + contact points + external ids; orders + lines) with the
    same writer but nothing else: the ceiling of this database."""
    import datetime
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from dangol.commerce.models import Order, OrderLine, Product
    from dangol.customers.models import ChangeFeedEntry, ContactPoint, Customer, ExternalId
    from dangol.integration.imports.pipeline import CHUNK_SIZE
    from dangol.integration.imports.writer import TableWriter, allocate_ids

    now = timezone.now()
    chunk = CHUNK_SIZE  # the pipeline's transaction size
    started = time.perf_counter()
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        with transaction.atomic():
            ids = allocate_ids(Customer, m)
            TableWriter(
                Customer,
                (
                    "id",
                    "full_name",
                    "family_name",
                    "given_name",
                    "source",
                    "created_at",
                    "updated_at",
                ),
                now,
            ).insert([(cid, "김민준", "김", "민준", source, now, now) for cid in ids])
            cps = [
                (
                    cid,
                    "mobile",
                    "010-1234-5678",
                    f"+8210{cid:08d}",
                    f"+8210{cid:08d}",
                    "5678",
                    True,
                    now,
                )
                for cid in ids
            ]
            cps += [
                (cid, "email", "a@b.com", f"u{cid}@b.com", f"u{cid}@b.com", "", True, now)
                for cid in ids[::3]
            ]
            TableWriter(
                ContactPoint,
                (
                    "customer_id",
                    "kind",
                    "value",
                    "normalized",
                    "match_key",
                    "last4",
                    "is_primary",
                    "created_at",
                ),
                now,
            ).insert(cps)
            TableWriter(ExternalId, ("customer_id", "source", "key", "created_at"), now).insert(
                [(cid, source + "-raw", f"R{cid}", now) for cid in ids]
            )
            TableWriter(
                ChangeFeedEntry, ("object_type", "object_id", "op", "data", "at"), now
            ).insert([("customer", cid, "created", {}, now) for cid in ids])
    customers_s = time.perf_counter() - started
    product_id = Product.objects.values_list("id", flat=True).first()
    customer_id = Customer.objects.values_list("id", flat=True).first()
    started = time.perf_counter()
    placed = now - datetime.timedelta(days=1)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        with transaction.atomic():
            ids = allocate_ids(Order, m)
            TableWriter(
                Order,
                (
                    "id",
                    "number",
                    "customer_id",
                    "placed_at",
                    "subtotal",
                    "total",
                    "source",
                    "external_id",
                    "created_at",
                ),
                now,
            ).insert(
                [
                    (
                        oid,
                        f"RAW-{source}-{oid}",
                        customer_id,
                        placed,
                        Decimal(3000),
                        Decimal(3000),
                        source + "-raw",
                        f"R{oid}",
                        now,
                    )
                    for oid in ids
                ]
            )
            TableWriter(
                OrderLine, ("order_id", "product_id", "quantity", "unit_price", "line_total"), now
            ).insert(
                [
                    (oid, product_id, 1, Decimal(1000), Decimal(1000))
                    for oid in ids
                    for _ in range(LINES_PER_CUSTOMER)
                ]
            )
    return customers_s, time.perf_counter() - started


def run(size: str) -> dict[str, Any]:
    """Import ``size`` customers and 3 order lines each; compare with raw inserts."""
    from django.db import connection

    n = SIZES.get(size) or int(size)
    source = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        customers, products, orders = _write_files(Path(tmp), n, seed=7)
        c_s, c_job = _import("customers", customers, source)
        _import("products", products, source)
        o_s, o_job = _import("orders", orders, source)
    raw_c, raw_o = _raw_baseline(c_job, n, source)
    lines = n * LINES_PER_CUSTOMER
    return {
        "database": connection.vendor,
        "customers": n,
        "order_lines": lines,
        "customers_seconds": round(c_s, 2),
        "customers_rows_per_s": round(n / c_s),
        "order_lines_seconds": round(o_s, 2),
        "order_lines_per_s": round(lines / o_s),
        "raw_customers_rows_per_s": round(n / raw_c),
        "raw_order_lines_per_s": round(lines / raw_o),
        "customers_share_of_raw": round(raw_c / c_s, 3),
        "orders_share_of_raw": round(raw_o / o_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "customer_counts": c_job.counts(),
        "order_counts": o_job.counts(),
    }


if __name__ == "__main__":  # standalone: a temporary SQLite database unless one is configured
    tmpdir = tempfile.mkdtemp(prefix="dangol-bench-")
    os.environ.setdefault("DANGOL_VAR_DIR", tmpdir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    print(run(sys.argv[1] if len(sys.argv) > 1 else "small"))
