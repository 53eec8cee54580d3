"""``dangol demo``: build a coherent synthetic Korean cosmetics retailer, then serve it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import IO, Any, cast

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dangol.core.models import User
from dangol.demo import loader, programs
from dangol.demo import segments as demo_segments
from dangol.demo import tasks as demo_tasks
from dangol.demo.company import ADMIN_EMAIL, ADMIN_PASSWORD, DEMO_PASSWORD, LOGINS


class Command(BaseCommand):
    help = (
        "Load a demo company (customers, orders, consents, interactions, staff) and serve it. "
        "Sizes: small (2,000 customers), medium (100,000), large (1,000,000) or a number."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", default="small", help="small, medium, large or a number")
        parser.add_argument("--seed", type=int, default=42, help="random seed (deterministic)")
        parser.add_argument("--no-serve", action="store_true", help="only build the data")
        parser.add_argument("--reset", action="store_true", help="wipe existing demo data first")
        parser.add_argument(
            "--analytics",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="compute RFM, grades, CLV, churn and offers after the load (default: up to "
            f"{programs.ANALYTICS_AUTO_LIMIT:,} customers; `dangol analytics run` does it later)",
        )
        parser.add_argument("--admin-email", default=ADMIN_EMAIL)
        parser.add_argument("--admin-password", default=ADMIN_PASSWORD)

    def handle(self, *args: Any, **opts: Any) -> None:
        console = Console(file=cast(IO[str], self.stdout))
        try:
            n = loader.parse_size(opts["size"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        call_command("migrate", interactive=False, verbosity=0)
        if loader.has_customers():
            if not opts["reset"] and not opts["no_serve"]:
                # `make demo` a second time: serve what is there
                console.print(
                    "The database already has customers: serving them "
                    "(`dangol demo --reset` loads the demo company again)."
                )
                _print_logins(console, _demo_logins())
                serve()
                return
            if not opts["reset"]:
                raise CommandError(
                    "The database already has customers; run `dangol demo --reset` to replace them."
                )
            loader.wipe()
        started = time.monotonic()
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=False, disable=opts["verbosity"] < 1,
        ) as bar:  # fmt: skip
            task = bar.add_task("고객 생성 (customers)", total=n)

            def progress(what: str, count: int) -> None:
                if what == "customers":
                    bar.advance(task, count)
                else:
                    label = {
                        "indexes": "인덱스 재구성 (indexes)",
                        "aggregates": "집계 (aggregates)",
                    }
                    bar.update(task, description=label.get(what, what))

            result = loader.load(
                n, seed=opts["seed"], admin_email=opts["admin_email"],
                admin_password=opts["admin_password"], progress=progress,
            )  # fmt: skip
        elapsed = time.monotonic() - started
        counts = Table(title=f"Demo data loaded in {elapsed:,.1f} s (seed {opts['seed']})")
        counts.add_column("table")
        counts.add_column("rows", justify="right")
        for label, rows in sorted(result.counts.items()):
            counts.add_row(label, f"{rows:,}")
        console.print(counts)
        if result.timings:
            phases = ", ".join(f"{k} {v:,.1f} s" for k, v in result.timings.items())
            console.print(f"Phases: {phases}")
        self._analytics(console, result, n, opts)
        self._data_quality(console, result, n)
        console.print(f"Follow-up tasks for the demo logins: {demo_tasks.create_demo_tasks()}")
        console.print(f"Saved segments for the marketer: {demo_segments.create_demo_segments()}")
        _print_logins(console, result.company.logins)
        if not opts["no_serve"]:
            serve()

    def _analytics(
        self, console: Console, result: loader.LoadResult, n: int, opts: dict[str, Any]
    ) -> None:
        """The membership programme and RFM settings, then the analytics with their history."""
        admin = User.objects.get(pk=result.company.admin_id)
        programs.set_up(actor=admin)
        wanted = opts["analytics"]
        if wanted is None:
            wanted = n <= programs.ANALYTICS_AUTO_LIMIT
            if not wanted:
                console.print(
                    f"Analytics not computed for {n:,} customers (it takes a while): run "
                    "`dangol analytics run`, or `dangol demo --analytics` next time."
                )
        if not wanted:
            return
        started = time.monotonic()

        def step(text: str) -> None:
            if opts["verbosity"] >= 1:
                console.print(
                    f"분석 실행 (analytics): {text} … {time.monotonic() - started:,.1f} s"
                )

        runs = programs.run_analytics(actor=admin, progress=step)
        final = runs[-1]
        steps = ", ".join(
            f"{r.model} {r.status} {r.duration_seconds or 0:,.1f} s"
            for r in final.steps.order_by("pk")
        )
        console.print(
            f"Analytics: {len(runs)} runs in {time.monotonic() - started:,.1f} s "
            f"(as of {final.as_of}: {final.status}; {steps})"
        )

    def _data_quality(self, console: Console, result: loader.LoadResult, n: int) -> None:
        """What the nightly jobs would have found by morning: the duplicate registrations in the
        review queue (중복 고객) and the first point of the data-quality trend."""
        from dangol.integration import services as integration

        admin = User.objects.get(pk=result.company.admin_id)
        if n > programs.ANALYTICS_AUTO_LIMIT:
            console.print(
                f"Duplicates not searched for {n:,} customers (it takes a while): run "
                "`dangol find_duplicates`."
            )
        else:
            started = time.monotonic()
            run = integration.find_duplicates(actor=admin)
            console.print(
                f"Duplicate search: {run.created_count:,} pairs to review "
                f"in {time.monotonic() - started:,.1f} s"
            )
        integration.take_quality_snapshot()


def _demo_logins() -> list[tuple[str, str, str]]:
    """The demo logins that exist in this database (role, e-mail, password)."""
    wanted = [("admin", ADMIN_EMAIL, ADMIN_PASSWORD)] + [
        (label, email, DEMO_PASSWORD) for label, _key, email, _team in LOGINS
    ]
    present = set(
        User.objects.filter(email__in=[w[1] for w in wanted]).values_list("email", flat=True)
    )
    return [w for w in wanted if w[1] in present]


def _print_logins(console: Console, rows: list[tuple[str, str, str]]) -> None:
    logins = Table(title="Logins")
    for col in ("role", "e-mail", "password"):
        logins.add_column(col)
    for role, email, password in rows:
        logins.add_row(role, email, password)
    console.print(logins)


def serve() -> None:
    """Replace this process by ``dangol serve``. The load ran Polars, whose thread pool does not
    survive a fork: gunicorn's workers forked from this process hung on their first Polars call
    (the analytics pages). A fresh process has no such threads."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dangol.cli", "serve"])  # noqa: S606
