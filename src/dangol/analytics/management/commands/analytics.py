"""``dangol analytics <subcommand>``: offline analytics jobs.

Subcommands:

- ``clv --transactions FILE.csv --observation-end YYYY-MM-DD [--time-unit week|day]
  [--months 12] [--discount-rate 0.01] [--model bgnbd|pareto_nbd] [--output FILE.csv]
  [--json]``: fit BG/NBD, Pareto/NBD and Gamma-Gamma to a customer_id,date,amount
  CSV and report the parameters (and, with ``--output``, per-customer predictions).

Each subcommand is one ``_add_<name>`` (its arguments) plus one ``_handle_<name>``
registered in ``SUBCOMMANDS``; a ``run`` subcommand slots in the same way.
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


class Command(BaseCommand):
    help = "Offline analytics jobs. Subcommands: clv."
    # Offline and read-only: it reads a file, not the database, so skip system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="SUBCOMMAND", required=True, title="subcommands"
        )
        _add_clv(subparsers)

    def handle(self, *args: Any, **opts: Any) -> None:
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {"clv": self._handle_clv}
        handlers[opts["subcommand"]](opts)

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
