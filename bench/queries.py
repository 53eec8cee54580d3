"""(b) Query counts and server time of the customer endpoints, in process.

Each request goes through the whole Django stack (middleware, token auth, Ninja, the ORM) with
``django.test.Client`` while ``CaptureQueriesContext`` records the SQL. Server time is the wall
time of the call; p50/p95 over the sampled requests after a short warm-up. No network, no
concurrency: this is the cost of one request on an idle server.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

from bench.dataset import list_filters
from bench.registry import Context, Outcome, Row, Target, benchmark

API = "/api/v1/customers"
WARMUP = 10
DETAIL_P95_MS = 20.0
LIST_P95_MS = 50.0
SEARCH_P95_MS = 50.0


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    data = sorted(values)
    k = (len(data) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def measure(client: Any, paths: list[str], *, warmup: int = WARMUP) -> dict[str, Any]:
    """GET each path (cycling the warm-up over the first ones); time and count its queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for path in (paths * (warmup // max(len(paths), 1) + 1))[:warmup]:
        with contextlib.suppress(Exception):  # failures are counted in the measured requests
            client.get(path)
    times: list[float] = []
    counts: list[int] = []
    sql_ms: list[float] = []
    statuses: Counter[int] = Counter()
    slow: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    for path in paths:
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            try:
                status = client.get(path).status_code
            except Exception as exc:  # recorded, not raised: one bad request must not end the run
                status = 500
                errors.setdefault(f"{type(exc).__name__}: {exc}"[:300], path)
            elapsed = (time.perf_counter() - started) * 1000
        statuses[status] += 1
        times.append(elapsed)
        counts.append(len(ctx.captured_queries))
        spent = 0.0
        for q in ctx.captured_queries:
            ms = float(q["time"]) * 1000
            spent += ms
            shape = _shape(q["sql"])
            slow.setdefault(shape, []).append(ms)
        sql_ms.append(spent)
    heaviest = sorted(slow.items(), key=lambda kv: -sum(kv[1]))[:3]
    return {
        "requests": len(paths),
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": errors,
        "queries_min": min(counts, default=0),
        "queries_max": max(counts, default=0),
        "p50_ms": round(percentile(times, 50), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "max_ms": round(max(times, default=0.0), 2),
        "sql_share": round(sum(sql_ms) / sum(times), 3) if times and sum(times) else None,
        "sql_p95_ms": round(percentile(sql_ms, 95), 2),
        "heaviest_queries": [
            {
                "sql": sql[:1500],
                "calls": len(ms),
                "total_ms": round(sum(ms), 1),
                "mean_ms": round(statistics.fmean(ms), 2),
            }
            for sql, ms in heaviest
        ],
    }


def _shape(sql: str) -> str:
    """A query with its literals blurred, so repeats of one statement group together."""
    import re

    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    return re.sub(r"\b\d+\b", "N", sql)


def cases(p: dict[str, Any], samples: int) -> dict[str, list[str]]:
    """The request paths of each case, ``samples`` long (probes cycled)."""

    def cycle(items: list[str]) -> list[str]:
        return [items[i % len(items)] for i in range(samples)] if items else []

    ids = p["customer_ids"] or [1]
    return {
        "detail": cycle([f"{API}/{i}" for i in ids]),
        "list (filtered)": cycle([f"{API}?{qs}" for qs in list_filters(p)]),
        "search: name fragment": cycle([f"{API}?q={quote(n)}&limit=50" for n in p["names"]]),
        "search: e-mail prefix": cycle(
            [f"{API}?q={quote(e)}&limit=50" for e in p["email_prefixes"]]
        ),
        "search: phone last 4": cycle([f"{API}?q={d}&limit=50" for d in p["last4"]]),
    }


TARGETS = {
    "detail": DETAIL_P95_MS,
    "list (filtered)": LIST_P95_MS,
    "search: name fragment": SEARCH_P95_MS,
    "search: e-mail prefix": SEARCH_P95_MS,
    "search: phone last 4": SEARCH_P95_MS,
}


@benchmark(
    "queries",
    title="Query counts and server time per request (in process, one at a time)",
    columns=[
        ("requests", "requests"),
        ("queries", "queries/request"),
        ("p50_ms", "p50 ms"),
        ("p95_ms", "p95 ms"),
        ("sql_share", "share in SQL"),
    ],
    order=10,
)
def queries(ctx: Context) -> Outcome:
    """Detail, filtered list and the three searches, ``ctx.samples`` requests each."""
    from django.test import Client

    p = ctx.state["probes"]
    client = Client(
        SERVER_NAME="127.0.0.1",
        headers={"Authorization": f"Bearer {ctx.state['token']}"},
        raise_request_exception=False,
    )
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for case, paths in cases(p, ctx.samples).items():
        m = measure(client, paths)
        details[case] = m
        span = (
            f"{m['queries_min']}"
            if m["queries_min"] == m["queries_max"]
            else (f"{m['queries_min']}–{m['queries_max']}")
        )
        rows.append(
            Row(
                case,
                {**m, "queries": span},
                targets=[Target("p95_ms", "<", TARGETS[case], "ms")],
                note=""
                if set(m["statuses"]) == {"200"}
                else f"statuses {m['statuses']} {m['errors']}",
            )
        )
    return Outcome(rows=rows, details=details)
