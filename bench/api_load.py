"""(a) The API under concurrent load: ``dangol serve`` (gunicorn) against locust, both local.

The server runs as a separate process on 127.0.0.1 and a free port, with the rate limit off and
no job worker (as a production web machine). Locust runs headless in another process, closed
loop (each simulated client sends its next request when the answer arrives), in two phases of
``ctx.duration`` seconds: the customer detail alone (the throughput goal), then a mixed
workload (detail, filtered list, the three searches, bulk upsert). Traffic goes only to
127.0.0.1 and every process is stopped by its id when the phase ends.

The load generator shares the machine with the server: on a 2-core machine locust takes a
good part of one core, so the measured req/s is a floor for the server alone.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.dataset import list_filters
from bench.registry import Context, Outcome, Row, Target, benchmark

DETAIL_RPS_GOAL = 1_000.0
STARTUP_TIMEOUT = 60.0
WARMUP_SECONDS = 3.0


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """Stop a process started in its own session, and its children, by its id."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _wait_ready(url: str, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dangol serve exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:  # noqa: S310 - local
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"dangol serve did not answer on {url} within {STARTUP_TIMEOUT:.0f} s")


def _warm_up(url: str, token: str, ids: list[int]) -> None:
    """A few seconds of requests so every gunicorn worker has loaded the app and connected."""
    from concurrent.futures import ThreadPoolExecutor

    deadline = time.monotonic() + WARMUP_SECONDS

    def loop(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            req = urllib.request.Request(  # noqa: S310 - local
                f"{url}/api/v1/customers/{ids[i % len(ids)]}",
                headers={"Authorization": f"Bearer {token}"},
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - local
                    r.read()
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
            i += 7

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(loop, range(8)))


def read_locust_stats(path: Path) -> list[dict[str, Any]]:
    """Rows of locust's ``<prefix>_stats.csv`` as numbers: name, requests, req/s, percentiles."""
    out = []
    with path.open(encoding="utf-8") as f:
        for rec in csv.DictReader(f):

            def num(key: str, rec: dict[str, str] = rec) -> float | None:
                v = rec.get(key, "")
                try:
                    return float(v)
                except ValueError:
                    return None

            out.append(
                {
                    "name": rec.get("Name") or "Aggregated",
                    "method": rec.get("Type", ""),
                    "requests": int(num("Request Count") or 0),
                    "failures": int(num("Failure Count") or 0),
                    "rps": num("Requests/s"),
                    "p50_ms": num("50%"),
                    "p95_ms": num("95%"),
                    "p99_ms": num("99%"),
                    "max_ms": num("Max Response Time"),
                }
            )
    return out


def run_locust(
    ctx: Context, *, url: str, phase: str, tags: list[str], probes_file: Path
) -> list[dict[str, Any]]:
    """One headless locust phase; its per-endpoint stats."""
    prefix = ctx.workdir / f"locust-{phase}"
    locust = Path(sys.executable).with_name("locust")
    cmd = [
        str(locust),
        "-f",
        str(ctx.repo / "bench" / "locustfile.py"),
        "--headless",
        "--users",
        str(ctx.users),
        "--spawn-rate",
        str(ctx.users),
        "--run-time",
        f"{int(ctx.duration)}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "5",
        "--loglevel",
        "ERROR",
        "--skip-log-setup",
    ]
    for t in tags:
        cmd += ["--tags", t]
    env = {**os.environ, "BENCH_TOKEN": ctx.state["token"], "BENCH_PROBES": str(probes_file)}
    proc = subprocess.Popen(  # noqa: S603 - our own command line
        cmd,
        env=env,
        cwd=ctx.workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _out, err = proc.communicate(timeout=ctx.duration + 60)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise RuntimeError("locust did not finish in time") from None
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust wrote no statistics: {err.decode()[-500:]}")
    return read_locust_stats(stats)


@benchmark(
    "api",
    title="API under concurrent load (dangol serve + locust, both on this machine)",
    columns=[
        ("requests", "requests"),
        ("rps", "req/s"),
        ("p50_ms", "p50 ms"),
        ("p95_ms", "p95 ms"),
        ("p99_ms", "p99 ms"),
        ("failures", "failures"),
    ],
    order=20,
)
def api_load(ctx: Context) -> Outcome:
    """Detail alone, then the mixed workload, each for ``ctx.duration`` seconds."""
    p = ctx.state["probes"]
    probes_file = ctx.workdir / "probes.json"
    probes_file.write_text(json.dumps({**p, "filters": list_filters(p)}), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workers = ctx.options.get("web_workers")
    cmd = [sys.executable, "-m", "dangol.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-worker"]
    if workers:
        cmd += ["--workers", str(workers)]
    log = (ctx.workdir / "serve.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - our own command line
        cmd, env=ctx.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    phases: dict[str, list[dict[str, Any]]] = {}
    try:
        _wait_ready(url, server)
        _warm_up(url, ctx.state["token"], p["customer_ids"])
        phases["detail only"] = run_locust(
            ctx, url=url, phase="detail", tags=["detail"], probes_file=probes_file
        )
        phases["mixed"] = run_locust(
            ctx, url=url, phase="mixed", tags=["mixed"], probes_file=probes_file
        )
    finally:
        _stop(server)
        log.close()
    rows = []
    for phase, stats in phases.items():
        for s in stats:
            if phase == "detail only" and s["name"] == "Aggregated":
                continue  # the same as the one endpoint
            targets = []
            if phase == "detail only":
                targets = [Target("rps", ">=", DETAIL_RPS_GOAL, "req/s")]
            label = f"{phase}: {s['name']}" if s["name"] != "Aggregated" else f"{phase}: all"
            rows.append(Row(label, s, targets=targets))
    cpu = os.cpu_count() or 1
    return Outcome(
        rows=rows,
        details={
            "phases": phases,
            "users": ctx.users,
            "duration_s": ctx.duration,
            "web_workers": workers or min(2 * cpu + 1, 9),
            "web_threads": int(os.environ.get("DANGOL_WEB_THREADS", 4)),
        },
        notes=[
            f"{ctx.users} closed-loop clients for {ctx.duration:.0f} s per phase; the load "
            f"generator runs on the same {cpu}-core machine as the server."
        ],
    )
