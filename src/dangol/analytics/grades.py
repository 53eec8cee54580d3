"""Customer grades (고객등급), evaluated set-based for the whole base at once.

Pure Polars/NumPy (no Django): the engine step reads the programme and the current grades,
calls :func:`evaluate` and writes what it returns in bulk. Rules (docs/adr/0007):

- each customer's spend (net of refunds), orders and visits (distinct purchase days) over the
  programme's rolling window ending on ``as_of`` decide the best tier they qualify for;
- a customer without a grade (or with a grade of another programme) gets it at once;
- a higher qualified tier applies at once with ``upgrade_immediately``, else at period end;
- a lower one applies at period end with ``downgrade_at_period_end`` (else at once), and only
  after ``min_stay_months`` in the current tier;
- a period ends on the last day of each month or quarter; an evaluation is due when that day
  has been reached and was not evaluated yet (a missed night is caught up on the next run);
- a change happens on the evaluation day: its timestamp (history, timeline, migrations) is the
  end of local day ``as_of`` (:func:`changed_at`), not the wall-clock time of the run, so a
  back-dated run records the day it evaluated.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

UPGRADE = "upgrade"
PERIOD_UPGRADE = "period_upgrade"
DOWNGRADE = "downgrade"
INITIAL = "initial"
PROGRAM_CHANGED = "program_changed"


@dataclass(frozen=True)
class TierRule:
    """One tier's requirements (None = not required)."""

    id: int
    code: str
    name: str
    rank: int
    min_spend: float | None = None
    min_orders: int | None = None
    min_visits: int | None = None
    match: str = "all"  # "all" or "any"


@dataclass(frozen=True)
class ProgramRule:
    """What evaluation needs of a programme."""

    id: int
    tiers: Sequence[TierRule]
    window_months: int = 12
    schedule: str = "monthly"  # or "quarterly"
    upgrade_immediately: bool = True
    downgrade_at_period_end: bool = True
    min_stay_months: int = 0
    last_period_evaluated: dt.date | None = None


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by `months` (negative for back), clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def latest_period_end(as_of: dt.date, schedule: str) -> dt.date:
    """The last day of the latest evaluation period that ended on or before `as_of`."""
    step = 3 if schedule == "quarterly" else 1
    first_month = ((as_of.month - 1) // step) * step + 1
    period_start = dt.date(as_of.year, first_month, 1)
    end_of_current = add_months(period_start, step) - dt.timedelta(days=1)
    return as_of if as_of == end_of_current else period_start - dt.timedelta(days=1)


def changed_at(as_of: dt.date, *, now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """When an evaluation as of `as_of` changes grades: the last second of local day `as_of`.

    The evaluation reads the data up to the end of that day, and `since` is that day. A run as
    of a day that has not ended yet (today) is capped at `now`, so no change is in the future.
    """
    end_of_day = dt.datetime.combine(as_of, dt.time(23, 59, 59), tz)
    return min(end_of_day, now)


def evaluation_due(program: ProgramRule, as_of: dt.date) -> bool:
    """Whether a period end has been reached that was not evaluated yet."""
    last = program.last_period_evaluated
    return last is None or last < latest_period_end(as_of, program.schedule)


def window_figures(
    orders: pl.DataFrame, customers: pl.Series, *, as_of: dt.date, window_months: int
) -> pl.DataFrame:
    """customer_id, spend, orders, visits over ``(as_of - window_months, as_of]``."""
    start = add_months(as_of, -window_months)
    per_customer = (
        orders.lazy()
        .filter((pl.col("day") > start) & (pl.col("day") <= as_of))
        .group_by("customer_id")
        .agg(
            pl.col("amount").sum().alias("spend"),
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("day").n_unique().cast(pl.Int64).alias("visits"),
        )
    )
    return (
        pl.DataFrame({"customer_id": customers.cast(pl.Int64)})
        .lazy()
        .join(per_customer, on="customer_id", how="left")
        .with_columns(
            pl.col("spend").fill_null(0.0).round(2),
            pl.col("orders").fill_null(0),
            pl.col("visits").fill_null(0),
        )
        .collect()
    )


def qualified_rank(figures: pl.DataFrame, tiers: Sequence[TierRule]) -> np.ndarray:
    """The best rank each customer qualifies for (-1 when none)."""
    spend = figures["spend"].to_numpy()
    orders = figures["orders"].to_numpy()
    visits = figures["visits"].to_numpy()
    best = np.full(figures.height, -1, dtype=np.int64)
    for tier in tiers:  # a handful of tiers, never customers
        checks = [
            spend >= tier.min_spend if tier.min_spend is not None else None,
            orders >= tier.min_orders if tier.min_orders is not None else None,
            visits >= tier.min_visits if tier.min_visits is not None else None,
        ]
        used = [c for c in checks if c is not None]
        if not used:
            ok = np.ones(figures.height, dtype=bool)
        elif tier.match == "any":
            ok = np.logical_or.reduce(used)
        else:
            ok = np.logical_and.reduce(used)
        best = np.where(ok & (tier.rank > best), tier.rank, best)
    return best


def evaluate(
    figures: pl.DataFrame,
    current: pl.DataFrame,
    program: ProgramRule,
    *,
    as_of: dt.date,
) -> pl.DataFrame:
    """Decide every customer's grade.

    `figures` is :func:`window_figures`' output; `current` has customer_id, tier_id and since
    (Date) of the customers' present grades (any programme). Returns customer_id, spend,
    orders, visits, qualified_tier_id, from_tier_id, tier_id, since, changed and reason (empty
    when unchanged); customers who qualify for no tier and have none are left out.
    """
    by_rank = {t.rank: t for t in program.tiers}
    tier_rank = {t.id: t.rank for t in program.tiers}
    due = evaluation_due(program, as_of)
    stay_limit = add_months(as_of, -program.min_stay_months)

    frame = figures.join(
        current.select(
            "customer_id",
            pl.col("tier_id").cast(pl.Int64).alias("from_tier_id"),
            pl.col("since").cast(pl.Date),
        ),
        on="customer_id",
        how="left",
    )
    qualified = qualified_rank(frame, program.tiers)
    rank_to_id = np.full(max(by_rank, default=0) + 2, -1, dtype=np.int64)
    for rank, tier in by_rank.items():
        rank_to_id[rank] = tier.id
    from_ids = frame["from_tier_id"].fill_null(-1).to_numpy()
    current_rank = (
        pl.Series(from_ids).replace_strict(tier_rank, default=-2, return_dtype=pl.Int64).to_numpy()
    )
    current_rank = np.where(from_ids == -1, -1, current_rank)  # -1 none, -2 other programme
    stay_ok = np.asarray(frame["since"].is_null() | (frame["since"] <= stay_limit), dtype=bool)

    none = current_rank == -1
    foreign = current_rank == -2
    up = (current_rank >= 0) & (qualified > current_rank)
    down = (current_rank >= 0) & (qualified < current_rank) & (qualified >= 0)
    apply_up = up & (program.upgrade_immediately or due)
    apply_down = down & ((not program.downgrade_at_period_end) or due) & stay_ok
    assign = (none | foreign) & (qualified >= 0)
    changed = assign | apply_up | apply_down

    target_rank = np.where(changed, qualified, current_rank)
    target_id = np.where(target_rank >= 0, rank_to_id[np.maximum(target_rank, 0)], -1)
    reason = np.select(
        [none & assign, foreign & assign, apply_up, apply_down],
        [
            INITIAL,
            PROGRAM_CHANGED,
            UPGRADE if program.upgrade_immediately else PERIOD_UPGRADE,
            DOWNGRADE,
        ],
        default="",
    )
    qualified_id = np.where(qualified >= 0, rank_to_id[np.maximum(qualified, 0)], -1)
    out = frame.select("customer_id", "spend", "orders", "visits", "from_tier_id", "since")
    out = out.with_columns(
        pl.Series("qualified_tier_id", qualified_id).replace(-1, None),
        pl.Series("tier_id", target_id).replace(-1, None),
        pl.Series("changed", changed),
        pl.Series("reason", reason.astype(str), dtype=pl.String),
    ).with_columns(
        pl.when(pl.col("changed")).then(pl.lit(as_of)).otherwise(pl.col("since")).alias("since")
    )
    return out.filter(pl.col("tier_id").is_not_null())
