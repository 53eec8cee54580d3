"""(d) The nightly analytics run against a floor: one Polars group-by over the same orders.

In a subprocess on the benchmark's database, times ``dangol.analytics.engine.run`` (every
registered step: read customers, orders and order lines in bulk, RFM, CLV, grades, churn and
next best offer fitted on seeded samples and scored for everyone, replace every metrics row in
one transaction) and records the process's peak memory and CPU time (user + system, which a
busy shared host inflates far less than the wall clock) and each step's duration. The
floor is one Polars group-by pass (count, sum, last day per customer) over the orders already
in memory: what any per-customer aggregate must cost at least. The figure is the ratio of the
two, and a linear projection to the large target (1,000,000 customers, 10,000,000 orders: under
5 minutes and 6 GB on 2 cores).

    python -m bench.analytics --out result.json   (with DANGOL_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import json
import os
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
    title="Nightly analytics run (RFM, CLV, grades, churn, NBO) against one Polars group-by pass",
    columns=[
        ("customers", "customers"),
        ("orders", "orders"),
        ("run_s", "run s"),
        ("cpu_s", "run CPU s"),
        ("read_s", "bulk read s"),
        ("floor_s", "group-by s"),
        ("ratio", "run / group-by"),
        ("cpu_ratio", "CPU run / group-by"),
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

    load_before = os.getloadavg()[0]
    cpu_before = _cpu_seconds()
    started = time.monotonic()
    run = engine.run()
    run_s = time.monotonic() - started
    cpu_s = _cpu_seconds() - cpu_before
    load_after = os.getloadavg()[0]
    steps = list(run.steps.all())
    t0 = time.monotonic()
    orders = data.read_orders(until=run.as_of)
    read_s = time.monotonic() - t0
    t0, c0 = time.monotonic(), _cpu_seconds()
    floor = orders.group_by("customer_id").agg(
        pl.len(), pl.col("amount").sum(), pl.col("day").max()
    )
    floor_s, floor_cpu_s = time.monotonic() - t0, _cpu_seconds() - c0
    assert floor.height <= run.rows_out
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_orders = max(orders.height, 1)
    scale = max(LARGE_ORDERS / n_orders, LARGE_CUSTOMERS / max(run.rows_out, 1))
    return {
        "customers": run.rows_out,
        "orders": orders.height,
        "status": run.status,
        "run_s": round(run_s, 2),
        "cpu_s": round(cpu_s, 1),
        "load_1min": [round(load_before, 2), round(load_after, 2)],
        "steps_s": {s.model: s.duration_seconds for s in steps},
        "quality": {s.model: _headline(s.quality) for s in steps if _headline(s.quality)},
        "read_s": round(read_s, 2),
        "floor_s": round(floor_s, 3),
        "ratio": round(run_s / max(floor_s, 1e-6), 1),
        "floor_cpu_s": round(floor_cpu_s, 3),
        "cpu_ratio": round(cpu_s / max(floor_cpu_s, 1e-6), 1),
        "peak_mb": round(peak_mb),
        "projected_s": round(run_s * scale),
        "projected_gb": round(peak_mb * scale / 1024, 2),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


HEADLINE = (
    "roc_auc", "pr_auc", "brier", "baseline_roc_auc", "baseline_pr_auc", "baseline_brier",
    "n_train", "n_holdout", "fit_customers", "population", "hit_rate", "popularity_hit_rate",
    "customers", "fitted_on", "mean_log_likelihood", "mean_p_alive", "total_clv",
)  # fmt: skip


def _headline(quality: dict[str, Any] | None) -> dict[str, Any]:
    """The quality figures worth a line in the report (fit size, held-out scores)."""
    figures = quality or {}
    return {k: figures[k] for k in HEADLINE if k in figures}


def main() -> None:
    import django

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    django.setup()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(measure(), fh, indent=2)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
    main()
