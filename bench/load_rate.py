"""(c) Load rate of the demo generator against a raw insert of the same rows.

In a scratch database of its own (``var/bench/loadrate.sqlite3`` or ``dangol_bench_loadrate``),
a subprocess times ``dangol.demo.loader.load(n)`` (generation + writing + aggregates), reads
every row it wrote back into memory, empties the tables and times a raw insert of exactly those
rows with the engine's fastest plain path (``executemany`` in one transaction with the same
relaxed pragmas on SQLite, ``COPY`` on PostgreSQL). The figure is the ratio of the two rates:
how close generating-and-loading comes to only loading.

    python -m bench.load_rate --customers 2000 --out result.json   (with DANGOL_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.dataset import size_customers
from bench.registry import Context, Outcome, Row, benchmark

DEFAULT_CAP = 20_000  # customers: enough for steady-state rates, bounded time and memory


def scratch_url(ctx: Context) -> str:
    """The scratch database of this engine (created empty by :func:`reset_scratch`)."""
    if ctx.engine == "postgres":
        base = ctx.database_url.rsplit("/", 1)[0]
        return f"{base}/dangol_bench_loadrate"
    return f"sqlite:///{Path(ctx.env['DANGOL_VAR_DIR']) / 'bench' / 'loadrate.sqlite3'}"


def reset_scratch(url: str) -> None:
    """Drop and recreate the scratch database."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        path = Path("/" + str(path).lstrip("/")) if url.startswith("sqlite:////") else path
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    from bench.runner import admin_pg

    name = url.rsplit("/", 1)[1]
    with admin_pg(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@benchmark(
    "load_rate",
    title="Data load rate: the demo generator against a raw insert of the same rows",
    columns=[
        ("customers", "customers"),
        ("rows", "rows"),
        ("seconds", "seconds"),
        ("rows_per_s", "rows/s"),
        ("ratio", "generator / raw"),
    ],
    order=30,
)
def load_rate(ctx: Context) -> Outcome:
    """Run the measurement in a subprocess against the scratch database."""
    n = min(size_customers(ctx.size), int(ctx.options.get("load_customers") or DEFAULT_CAP))
    url = scratch_url(ctx)
    reset_scratch(url)
    out = ctx.workdir / "load_rate.json"
    env = {**ctx.env, "DANGOL_DATABASE_URL": url}
    try:
        subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-m", "bench.load_rate", "--customers", str(n), "--out", str(out)],
            env=env,
            cwd=ctx.repo,
            check=True,
            timeout=3600,
        )
        result = json.loads(out.read_text(encoding="utf-8"))
    finally:
        if url.startswith("sqlite"):
            reset_scratch(url)  # leaves nothing behind
    if not result.get("available"):
        return Outcome.unavailable(result.get("reason", "the generator's loader"))
    gen, raw = result["generator"], result["raw"]
    return Outcome(
        rows=[
            Row("generator (dangol.demo.loader.load)", {**gen, "customers": n}),
            Row("raw insert of the same rows", {**raw, "customers": n}),
            Row("ratio (generator rows/s ÷ raw rows/s)", {"ratio": result["ratio"]}),
        ],
        details=result,
        notes=[
            "The generator's time covers generating, writing, the aggregate UPDATEs and "
            "(PostgreSQL) ANALYZE; the raw insert only writes the rows it produced."
        ],
    )


# --- the subprocess ---------------------------------------------------------------------------


def _dump(models: list[Any]) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row of ``models`` as stored: SQLite values raw, PostgreSQL values as text."""
    import sqlite3

    from django.db import connection

    q = connection.ops.quote_name
    data = {}
    plain = None
    if connection.vendor == "sqlite":  # a connection without Django's type converters
        plain = sqlite3.connect(str(connection.settings_dict["NAME"]))
    try:
        for m in models:
            cols = [str(f.column) for f in m._meta.concrete_fields]
            table = q(m._meta.db_table)
            if plain is not None:
                sql = f"SELECT {', '.join(q(c) for c in cols)} FROM {table}"  # noqa: S608
                data[m._meta.db_table] = (cols, plain.execute(sql).fetchall())
                continue
            sql = f"SELECT {', '.join(q(c) + '::text' for c in cols)} FROM {table}"  # noqa: S608
            with connection.cursor() as cursor:
                cursor.execute(sql)
                data[m._meta.db_table] = (cols, cursor.fetchall())
    finally:
        if plain is not None:
            plain.close()
    return data


def _raw_insert(
    models: list[Any], data: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
) -> None:
    from django.db import connection, transaction

    q = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        for m in models:  # parents first
            cols, rows = data[m._meta.db_table]
            if not rows:
                continue
            table, names = q(m._meta.db_table), ", ".join(q(c) for c in cols)
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(cols))
                cursor.connection.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 - from _meta
                    rows,
                )


def _empty(models: list[Any]) -> None:
    from django.db import connection, transaction

    q = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            tables = ", ".join(q(m._meta.db_table) for m in models)
            cursor.execute(f"TRUNCATE {tables} CASCADE")  # and tables of other apps pointing here
        else:
            for m in models:  # children first
                cursor.execute(f"DELETE FROM {q(m._meta.db_table)}")  # noqa: S608 - from _meta
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def measure(customers: int, seed: int = 42) -> dict[str, Any]:
    """Time the generator, then a raw insert of what it wrote (Django set up, empty database)."""
    from django.core.management import call_command
    from django.db import connection

    try:
        from dangol.demo import loader
    except ImportError as exc:
        return {"available": False, "reason": f"dangol.demo.loader cannot be imported ({exc})"}
    if not hasattr(loader, "load") or not hasattr(loader, "DOMAIN_MODELS"):
        return {"available": False, "reason": "dangol.demo.loader has no load()/DOMAIN_MODELS"}
    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    result = loader.load(customers, seed=seed)
    gen_s = time.perf_counter() - started
    rows = int(sum(result.counts.values()))
    models = list(loader.DOMAIN_MODELS)  # children first
    data = _dump(models)
    dumped = sum(len(r) for _c, r in data.values())
    _empty(models)
    relaxed = connection.vendor == "sqlite"
    if relaxed:  # the same relaxed durability the generator uses for its load (fresh file)
        with connection.cursor() as cursor:
            for pragma in (
                "journal_mode=OFF",
                "synchronous=OFF",
                "foreign_keys=OFF",
                "cache_size=-2000000",
            ):
                cursor.execute(f"PRAGMA {pragma}")
                cursor.fetchall()  # run to completion (an open PRAGMA statement locks later ones)
    started = time.perf_counter()
    _raw_insert(list(reversed(models)), data)
    raw_s = time.perf_counter() - started
    if relaxed:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.fetchall()
    # Both rates over every row of the demo tables (the writer's count leaves out the catalogue).
    gen_rate, raw_rate = dumped / gen_s, dumped / raw_s
    return {
        "available": True,
        "engine": connection.vendor,
        "customers": customers,
        "generator": {
            "rows": dumped,
            "rows_by_writer": rows,
            "seconds": round(gen_s, 2),
            "rows_per_s": round(gen_rate),
            "loader_seconds": round(result.seconds, 2),
        },
        "raw": {"rows": dumped, "seconds": round(raw_s, 2), "rows_per_s": round(raw_rate)},
        "ratio": round(gen_rate / raw_rate, 3),
        "rows_by_table": result.counts,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of the measuring subprocess."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
    import django

    django.setup()
    result = measure(args.customers, args.seed)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
