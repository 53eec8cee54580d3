"""(d) The nightly analytics run against a floor: one Polars group-by over the same orders.

In a subprocess on the benchmark's database, times ``dangol.analytics.engine.run`` (every
registered step: read customers and orders in bulk, RFM, CLV fits and predictions, grades,
replace every metrics row in one transaction) and records the process's peak memory. The
floor is one Polars group-by pass (count, sum, last day per customer) over the orders already
in memory: what any per-customer aggregate must cost at least. The figure is the ratio of the
two, and a linear projection to the large target (1,000,000 customers, 10,000,000 orders: under
5 minutes and 6 GB on 2 cores).

    python -m bench.analytics --out result.json   (with DANGOL_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

from bench.registry import Context, Outcome, Row, Target, benchmark

LARGE_ORDERS = 10_000_000
LARGE_CUSTOMERS = 1_000_000


@benchmark(
    "analytics",
    title="Nightly analytics run (RFM, CLV, grades) against one Polars group-by pass",
    columns=[
        ("customers", "customers"),
        ("orders", "orders"),
        ("run_s", "run s"),
        ("read_s", "bulk read s"),
        ("floor_s", "group-by s"),
        ("ratio", "run / group-by"),
        ("peak_mb", "peak MB"),
        ("projected_s", "projected 10M orders s"),
        ("projected_gb", "projected GB"),
    ],
    order=40,
)
def analytics(ctx: Context) -> Outcome:
    """Run the measurement in a subprocess (so its peak memory is its own)."""
    out = ctx.workdir / "analytics.json"
    subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "bench.analytics", "--out", str(out)],
        env=ctx.env,
        cwd=ctx.repo,
        check=True,
        timeout=3600,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    row = Row(
        "nightly run",
        result,
        targets=[Target("projected_s", "<", 300, "s"), Target("projected_gb", "<", 6, "GB")],
        note="projection: linear in orders from this dataset",
    )
    return Outcome(rows=[row], details=result)


def measure() -> dict[str, Any]:
    """Time one engine run and the group-by floor in this process."""
    import polars as pl

    from dangol.analytics import data, engine

    started = time.monotonic()
    run = engine.run()
    run_s = time.monotonic() - started
    t0 = time.monotonic()
    orders = data.read_orders(until=run.as_of)
    read_s = time.monotonic() - t0
    t0 = time.monotonic()
    floor = orders.group_by("customer_id").agg(
        pl.len(), pl.col("amount").sum(), pl.col("day").max()
    )
    floor_s = time.monotonic() - t0
    assert floor.height <= run.rows_out
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_orders = max(orders.height, 1)
    scale = max(LARGE_ORDERS / n_orders, LARGE_CUSTOMERS / max(run.rows_out, 1))
    return {
        "customers": run.rows_out,
        "orders": orders.height,
        "status": run.status,
        "run_s": round(run_s, 2),
        "steps_s": {s.model: s.duration_seconds for s in run.steps.all()},
        "read_s": round(read_s, 2),
        "floor_s": round(floor_s, 3),
        "ratio": round(run_s / max(floor_s, 1e-6), 1),
        "peak_mb": round(peak_mb),
        "projected_s": round(run_s * scale),
        "projected_gb": round(peak_mb * scale / 1024, 2),
    }


def main() -> None:
    import django

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    django.setup()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(measure(), fh, indent=2)


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
    main()
