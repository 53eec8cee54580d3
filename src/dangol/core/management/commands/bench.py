"""``dangol bench``: run the benchmark suite (bench/ in the source checkout).

    dangol bench [--size small|medium|large|N] [--only NAME] [--engine sqlite|postgres]

Each engine and size has its own database, built once with ``dangol demo`` and reused:
``$DANGOL_VAR_DIR/bench/<size>.sqlite3`` or ``dangol_bench_<size>`` on the PostgreSQL server of
``--pg-url``. The command re-runs itself with ``DANGOL_DATABASE_URL`` pointing at that database
(settings are read once per process), runs the registered benchmarks and writes
``bench/results/<date>-<engine>-<size>.json`` and ``.md``; a full run also refreshes its section
of docs/performance.md. Benchmarks measure; they never fail the command for a missed goal.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

CHILD_FLAG = "DANGOL_BENCH_CHILD"


def load_runner() -> ModuleType:
    """Import ``bench.runner`` from the source checkout this command belongs to (or the cwd)."""
    for root in (Path(__file__).resolve().parents[5], Path.cwd()):
        if (root / "bench" / "runner.py").exists():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module("bench.runner")
    raise CommandError("The benchmarks live in bench/ of a source checkout; run from there.")


class Command(BaseCommand):
    help = "Run the benchmarks against a demo dataset and write bench/results/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", default="small", help="tiny, small, medium, large or N")
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            metavar="NAME",
            help="run only this benchmark (repeat or comma-separate; see --list)",
        )
        parser.add_argument("--engine", default="sqlite", help="sqlite or postgres")
        parser.add_argument(
            "--pg-url",
            default=os.environ.get("DANGOL_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"),
            help="PostgreSQL server for --engine postgres (no database name)",
        )
        parser.add_argument("--duration", type=float, default=30.0, help="seconds per API phase")
        parser.add_argument("--users", type=int, default=16, help="concurrent API clients")
        parser.add_argument("--samples", type=int, default=200, help="in-process requests/case")
        parser.add_argument("--seed", type=int, default=42, help="dataset and probe seed")
        parser.add_argument(
            "--web-workers", type=int, default=None, help="gunicorn processes (default: serve's)"
        )
        parser.add_argument(
            "--load-customers", type=int, default=None, help="cap of the load-rate dataset"
        )
        parser.add_argument(
            "--no-docs", action="store_true", help="do not update docs/performance.md"
        )
        parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")

    def handle(self, *args: Any, **opts: Any) -> None:
        runner = load_runner()
        if opts["list"]:
            for b in runner.discover():
                self.stdout.write(f"{b.name:12} {b.title}")
            return
        only = [n.strip() for chunk in opts["only"] for n in chunk.split(",") if n.strip()]
        try:
            engine = runner.engine_name(opts["engine"])
            runner.select(only)
            url = runner.database_url(
                engine, opts["size"], var_dir=Path(settings.VAR_DIR), pg_base=opts["pg_url"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if os.environ.get(CHILD_FLAG) != "1":
            self._rerun(runner, url, only, opts)
            return
        try:
            runner.run(
                engine=engine,
                size=opts["size"],
                only=only,
                duration=opts["duration"],
                samples=opts["samples"],
                users=opts["users"],
                seed=opts["seed"],
                docs=not opts["no_docs"],
                log=self.stdout.write,
                web_workers=opts["web_workers"],
                load_customers=opts["load_customers"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def _rerun(self, runner: ModuleType, url: str, only: list[str], opts: dict[str, Any]) -> None:
        """Run this command again in a process whose settings point at the bench database."""
        runner.ensure_database(url)
        argv = [sys.executable, "-m", "dangol.cli", "bench", "--size", opts["size"]]
        argv += ["--engine", opts["engine"], "--pg-url", opts["pg_url"]]
        for name in ("duration", "users", "samples", "seed", "web_workers", "load_customers"):
            if opts[name] is not None:
                argv += [f"--{name.replace('_', '-')}", str(opts[name])]
        for name in only:
            argv += ["--only", name]
        if opts["no_docs"]:
            argv.append("--no-docs")
        env = runner.child_env(url, Path(settings.VAR_DIR))
        code = subprocess.call(argv, env=env)  # noqa: S603 - this very command
        if code:
            raise CommandError(f"the benchmark run exited with status {code}")
