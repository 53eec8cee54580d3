"""``dangol analytics <subcommand>``: offline analytics jobs.

Subcommands:

- ``clv --transactions FILE.csv --observation-end YYYY-MM-DD [--time-unit week|day]
  [--months 12] [--discount-rate 0.01] [--model bgnbd|pareto_nbd] [--output FILE.csv]
  [--json]``: fit BG/NBD, Pareto/NBD and Gamma-Gamma to a customer_id,date,amount
  CSV and report the parameters (and, with ``--output``, per-customer predictions).

- ``run [--only NAME ...] [--as-of YYYY-MM-DD] [--json]``: run the analytics engine on the
  database now (all registered steps, or only the named ones) and report the run.

Each subcommand is one ``_add_<name>`` (its arguments) plus one ``_handle_<name>``
registered in the handlers of ``Command.handle``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dangol.analytics import clv


def _parse_date(value: str, *, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, got {value!r}") from None


def _add_clv(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "clv",
        help="Fit BG/NBD, Pareto/NBD and Gamma-Gamma CLV models to a transactions CSV.",
        description=(
            "Fit BG/NBD, Pareto/NBD and Gamma-Gamma models by maximum likelihood to a "
            "customer_id,date,amount CSV (purchases on one day count once; rows after the "
            "observation end are ignored) and report the parameters."
        ),
    )
    parser.add_argument(
        "--transactions", required=True, metavar="FILE.csv", help="CSV: customer_id,date,amount."
    )
    parser.add_argument(
        "--observation-end",
        required=True,
        metavar="YYYY-MM-DD",
        help="Last day of the calibration period (inclusive).",
    )
    parser.add_argument(
        "--time-unit", choices=sorted(clv.TIME_UNIT_DAYS), default="week", help="Default: week."
    )
    parser.add_argument(
        "--months", type=int, default=12, help="CLV horizon in months (default: 12)."
    )
    parser.add_argument(
        "--discount-rate",
        type=float,
        default=0.01,
        help="Monthly discount rate for CLV (default: 0.01).",
    )
    parser.add_argument(
        "--model",
        choices=["bgnbd", "pareto_nbd"],
        default="bgnbd",
        help="Purchase model behind the per-customer predictions (default: bgnbd).",
    )
    parser.add_argument(
        "--output", metavar="FILE.csv", help="Also write per-customer predictions to this CSV."
    )
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")


def _clv_report(result: clv.CLVResult) -> dict[str, Any]:
    customers = result.customers
    values = customers["clv"]
    return {
        "customers": customers.height,
        "repeat_customers": int((customers["frequency"] > 0).sum()),
        "observation_end": result.observation_end.isoformat(),
        "time_unit": result.time_unit,
        "bgnbd": result.bgnbd.as_dict(),
        "pareto_nbd": result.pareto_nbd.as_dict(),
        "gamma_gamma": result.gamma_gamma.as_dict(),
        "clv": {
            "model": result.model,
            "months": result.months,
            "monthly_discount_rate": result.monthly_discount_rate,
            "total": float(values.sum()),
            "mean": float(values.mean() or 0.0),  # type: ignore[arg-type]
            "median": float(values.median() or 0.0),  # type: ignore[arg-type]
        },
    }


def _clv_table(report: dict[str, Any]) -> str:
    b, p, g, value = report["bgnbd"], report["pareto_nbd"], report["gamma_gamma"], report["clv"]
    rows = [
        ("BG/NBD", f"r={b['r']:.4g}  alpha={b['alpha']:.4g}  a={b['a']:.4g}  b={b['b']:.4g}", b),
        (
            "Pareto/NBD",
            f"r={p['r']:.4g}  alpha={p['alpha']:.4g}  s={p['s']:.4g}  beta={p['beta']:.4g}",
            p,
        ),
        ("Gamma-Gamma", f"p={g['p']:.4g}  q={g['q']:.4g}  v={g['v']:.4g}", g),
    ]
    lines = [
        f"Customers: {report['customers']:,} ({report['repeat_customers']:,} with repeat "
        f"purchases) up to {report['observation_end']}, time unit: {report['time_unit']}",
        "",
        f"{'model':<12} {'parameters':<50} {'log-likelihood':>14}",
    ]
    lines += [f"{name:<12} {params:<50} {m['log_likelihood']:>14.2f}" for name, params, m in rows]
    lines += [
        "",
        f"{value['months']}-month CLV ({value['model']}, {value['monthly_discount_rate']:.2%} "
        f"monthly discount): total {value['total']:,.2f}, mean {value['mean']:,.2f}, "
        f"median {value['median']:,.2f}",
    ]
    return "\n".join(lines)


def _add_run(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="Run the analytics engine (RFM, CLV, grades ...) on the database now.",
        description=(
            "Compute every customer's metrics set-based and replace them in one transaction; "
            "log the run and each step in the model-run table."
        ),
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="Run only this step (repeatable); the other columns keep their values.",
    )
    parser.add_argument(
        "--as-of", metavar="YYYY-MM-DD", help="Last day of data to use (default: yesterday)."
    )
    parser.add_argument("--json", action="store_true", help="Print the run as JSON.")


class Command(BaseCommand):
    help = "Analytics jobs. Subcommands: clv, run."
    # Offline and read-only: it reads a file, not the database, so skip system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="SUBCOMMAND", required=True, title="subcommands"
        )
        _add_clv(subparsers)
        _add_run(subparsers)

    def handle(self, *args: Any, **opts: Any) -> None:
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "clv": self._handle_clv,
            "run": self._handle_run,
        }
        handlers[opts["subcommand"]](opts)

    def _handle_run(self, opts: dict[str, Any]) -> None:
        from dangol.analytics import services
        from dangol.analytics.models import RunTrigger
        from dangol.core.errors import ServiceError

        as_of = _parse_date(opts["as_of"], option="--as-of") if opts["as_of"] else None
        try:
            run = services.run_analytics(only=opts["only"], as_of=as_of, trigger=RunTrigger.COMMAND)
        except ServiceError as exc:
            details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            raise CommandError(f"{exc.message}{' (' + details + ')' if details else ''}") from exc
        steps = list(run.steps.order_by("id"))
        report = {
            "run": run.pk,
            "status": run.status,
            "as_of": run.as_of.isoformat(),
            "rows_in": run.rows_in,
            "rows_out": run.rows_out,
            "seconds": run.duration_seconds,
            "error": run.error,
            "steps": [
                {
                    "name": s.model,
                    "status": s.status,
                    "seconds": s.duration_seconds,
                    "rows_out": s.rows_out,
                    "quality": s.quality,
                    "error": s.error,
                }
                for s in steps
            ],
        }
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
            return
        lines = [
            f"Run #{run.pk} as of {report['as_of']}: {run.status}, "
            f"{run.rows_out:,} customers in {run.duration_seconds or 0:.1f} s "
            f"({', '.join(f'{k} {v:,}' for k, v in run.rows_in.items())})"
        ]
        for s in report["steps"]:
            lines.append(
                f"  {s['name']:<10} {s['status']:<10} {s['seconds'] or 0:>7.2f} s"
                f"{'  ' + s['error'] if s['error'] else ''}"
            )
        self.stdout.write("\n".join(lines))

    def _handle_clv(self, opts: dict[str, Any]) -> None:
        observation_end = _parse_date(opts["observation_end"], option="--observation-end")
        if opts["months"] < 1:
            raise CommandError("--months must be at least 1")
        if opts["discount_rate"] <= -1:
            raise CommandError("--discount-rate must be greater than -1")
        try:
            transactions = clv.read_transactions_csv(opts["transactions"])
            result = clv.run_clv(
                transactions,
                observation_end=observation_end,
                time_unit=opts["time_unit"],
                months=opts["months"],
                monthly_discount_rate=opts["discount_rate"],
                model=opts["model"],
            )
        except clv.CLVInputError as exc:
            raise CommandError(str(exc)) from exc
        if opts["output"]:
            try:
                result.customers.write_csv(Path(opts["output"]))
            except OSError as exc:
                raise CommandError(f"cannot write {opts['output']}: {exc.strerror}") from exc
        report = _clv_report(result)
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(_clv_table(report))
