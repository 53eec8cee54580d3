"""Cohorts and CRM KPIs: retention and revenue triangles, repeat and churn rates, shares.

A pure module (Polars only, no Django) that takes and returns tidy Polars frames
ready for ECharts (one row per cohort × month or per month × group). See
docs/adr/0008-churn-nbo-cohorts.md.

Input frames (the analytics engine provides exactly these):

- ``orders``: customer_id (i64), order_id (i64), placed_at (datetime, UTC; naive
  values are read as UTC), total (f64, KRW), channel_id, status (cancelled orders
  are already excluded by the caller).
- ``clv`` (optional): customer_id, clv_12m.
- ``metrics`` (optional): customer_id, grade, rfm_segment (the current assignment).

Months are calendar months in ``timezone`` (Asia/Seoul by default: an order at
23:30 KST on the 31st belongs to that month, not the next). Only orders before
``as_of`` (00:00 local) count; the month containing ``as_of`` is reported with
``complete = false``.

A customer's acquisition cohort is the month of their first order. A customer is
*active* at the end of month m when they ordered in the ``active_months`` months
ending with m; the churn rate of month m is the share of the customers active at
the end of m − 1 who are no longer active at the end of m.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

DEFAULT_TIMEZONE = "Asia/Seoul"
#: Months of inactivity after which a customer counts as churned (a quarter).
DEFAULT_ACTIVE_MONTHS = 3


@dataclass(frozen=True)
class CohortReport:
    """Every frame the cohorts/KPI pages draw (see the function of the same name)."""

    retention: pl.DataFrame
    kpis: pl.DataFrame
    clv_by_cohort: pl.DataFrame | None
    revenue_share: pl.DataFrame | None


def _local_orders(orders: pl.DataFrame, as_of: dt.date, timezone: str) -> pl.LazyFrame:
    """customer_id, total, month (Date, first day) of the orders before `as_of` (local)."""
    dtype = orders.schema["placed_at"]
    ts = pl.col("placed_at")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            ts = ts.dt.replace_time_zone("UTC")
        ts = ts.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    else:
        ts = ts.cast(pl.Datetime("us"))
    cut = dt.datetime.combine(as_of, dt.time())
    return (
        orders.lazy()
        .with_columns(ts.cast(pl.Datetime("us")).alias("_local"))
        .filter(pl.col("_local") < cut)
        .select(
            "customer_id",
            pl.col("total").cast(pl.Float64),
            pl.col("_local").dt.truncate("1mo").dt.date().alias("month"),
        )
    )


def _month_index(month: pl.Expr) -> pl.Expr:
    return month.dt.year().cast(pl.Int32) * 12 + month.dt.month().cast(pl.Int32) - 1


def _index_month(index: pl.Expr) -> pl.Expr:
    return pl.date(index // 12, index % 12 + 1, 1)


def _current_month(as_of: dt.date) -> dt.date:
    """The month holding the last day before `as_of` (the last month with data)."""
    last = as_of - dt.timedelta(days=1)
    return last.replace(day=1)


def retention(
    orders: pl.DataFrame, *, as_of: dt.date, timezone: str = DEFAULT_TIMEZONE
) -> pl.DataFrame:
    """The retention and revenue triangles, one row per cohort × month since acquisition.

    Columns: cohort (Date), month_index (0 = acquisition month), period (Date),
    cohort_size, customers (cohort members who ordered in that month), retention
    (customers / cohort_size), revenue, revenue_per_customer (revenue /
    cohort_size), cumulative_revenue_per_customer, complete (the period is over).
    """
    monthly = (
        _local_orders(orders, as_of, timezone)
        .group_by("customer_id", "month")
        .agg(pl.col("total").sum().alias("revenue"))
        .with_columns(pl.col("month").min().over("customer_id").alias("cohort"))
        .with_columns(
            (_month_index(pl.col("month")) - _month_index(pl.col("cohort"))).alias("month_index")
        )
    )
    cells = monthly.group_by("cohort", "month_index").agg(
        pl.len().cast(pl.Int64).alias("customers"), pl.col("revenue").sum()
    )
    sizes = (
        monthly.filter(pl.col("month_index") == 0)
        .group_by("cohort")
        .agg(pl.len().cast(pl.Int64).alias("cohort_size"))
    )
    last = _current_month(as_of)
    last_index = last.year * 12 + last.month - 1
    grid = sizes.with_columns(
        pl.int_ranges(
            0, pl.lit(last_index) - _month_index(pl.col("cohort")) + 1, dtype=pl.Int32
        ).alias("month_index")
    ).explode("month_index")
    return (
        grid.join(cells, on=["cohort", "month_index"], how="left")
        .with_columns(
            pl.col("customers").fill_null(0),
            pl.col("revenue").fill_null(0.0),
            _index_month(_month_index(pl.col("cohort")) + pl.col("month_index")).alias("period"),
        )
        .sort("cohort", "month_index")
        .with_columns(
            (pl.col("customers") / pl.col("cohort_size")).alias("retention"),
            (pl.col("revenue") / pl.col("cohort_size")).alias("revenue_per_customer"),
        )
        .with_columns(
            pl.col("revenue_per_customer")
            .cum_sum()
            .over("cohort")
            .alias("cumulative_revenue_per_customer"),
            (pl.col("period") < as_of.replace(day=1)).alias("complete"),
        )
        .select(
            "cohort",
            "month_index",
            "period",
            "cohort_size",
            "customers",
            "retention",
            "revenue",
            "revenue_per_customer",
            "cumulative_revenue_per_customer",
            "complete",
        )
        .collect()
    )


def kpis(
    orders: pl.DataFrame,
    *,
    as_of: dt.date,
    active_months: int = DEFAULT_ACTIVE_MONTHS,
    timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """Monthly KPIs, one row per month from the first order's month to the last month.

    Columns: month, active_customers (ordered that month), new_customers,
    returning_customers, orders, revenue, aov, customers_to_date (acquired so
    far), repeat_customers (with two or more orders so far), repeat_purchase_rate,
    active_base (active at the month's end), churned, churn_rate, complete.

    ``repeat_purchase_rate`` = customers with at least two orders placed by the
    end of the month / customers with at least one. ``churned`` = customers
    active at the end of the previous month but not at the end of this one;
    ``churn_rate`` = churned / the previous month's active_base.
    """
    local = _local_orders(orders, as_of, timezone)
    per_order = local.with_columns(
        pl.col("month").min().over("customer_id").alias("first_month"),
        _month_index(pl.col("month")).alias("_mi"),
    )
    second = (
        per_order.sort("customer_id", "_mi")
        .group_by("customer_id", maintain_order=True)
        .agg(pl.col("_mi").get(1, null_on_oob=True).alias("_second"))
    )
    monthly = per_order.group_by("_mi").agg(
        pl.col("customer_id").n_unique().cast(pl.Int64).alias("active_customers"),
        pl.col("customer_id")
        .filter(pl.col("month") == pl.col("first_month"))
        .n_unique()
        .cast(pl.Int64)
        .alias("new_customers"),
        pl.len().cast(pl.Int64).alias("orders"),
        pl.col("total").sum().alias("revenue"),
    )
    first_counts = (
        per_order.group_by("customer_id")
        .agg(pl.col("_mi").min().alias("_first"))
        .group_by("_first")
        .len()
        .rename({"_first": "_mi", "len": "_new"})
    )
    second_counts = (
        second.drop_nulls("_second")
        .group_by("_second")
        .len()
        .rename({"_second": "_mi", "len": "_rep"})
    )
    # active at the end of month m = ordered in one of months m-W+1 .. m
    active = (
        per_order.select("customer_id", "_mi")
        .unique()
        .with_columns(
            pl.int_ranges(pl.col("_mi"), pl.col("_mi") + active_months, dtype=pl.Int32).alias(
                "_active_mi"
            )
        )
        .explode("_active_mi")
        .select("customer_id", pl.col("_active_mi").alias("_mi"))
        .unique()
    )
    active_base = active.group_by("_mi").agg(pl.len().cast(pl.Int64).alias("active_base"))
    churned = (
        active.with_columns((pl.col("_mi") + 1).alias("_next"))
        .join(active, left_on=["customer_id", "_next"], right_on=["customer_id", "_mi"], how="anti")
        .group_by("_next")
        .agg(pl.len().cast(pl.Int64).alias("churned"))
        .rename({"_next": "_mi"})
    )
    bounds = per_order.select(pl.col("_mi").min()).collect().item()
    last = _current_month(as_of)
    last_index = last.year * 12 + last.month - 1
    if bounds is None:
        return pl.DataFrame(
            schema={
                "month": pl.Date,
                "active_customers": pl.Int64,
                "new_customers": pl.Int64,
                "returning_customers": pl.Int64,
                "orders": pl.Int64,
                "revenue": pl.Float64,
                "aov": pl.Float64,
                "customers_to_date": pl.Int64,
                "repeat_customers": pl.Int64,
                "repeat_purchase_rate": pl.Float64,
                "active_base": pl.Int64,
                "churned": pl.Int64,
                "churn_rate": pl.Float64,
                "complete": pl.Boolean,
            }
        )
    months = pl.LazyFrame({"_mi": pl.int_range(bounds, last_index + 1, dtype=pl.Int32, eager=True)})
    return (
        months.join(monthly, on="_mi", how="left")
        .join(first_counts.with_columns(pl.col("_mi").cast(pl.Int32)), on="_mi", how="left")
        .join(second_counts.with_columns(pl.col("_mi").cast(pl.Int32)), on="_mi", how="left")
        .join(active_base, on="_mi", how="left")
        .join(churned, on="_mi", how="left")
        .sort("_mi")
        .with_columns(
            pl.col(
                "active_customers", "new_customers", "orders", "active_base", "churned"
            ).fill_null(0),
            pl.col("revenue").fill_null(0.0),
            pl.col("_new").fill_null(0).cum_sum().cast(pl.Int64).alias("customers_to_date"),
            pl.col("_rep").fill_null(0).cum_sum().cast(pl.Int64).alias("repeat_customers"),
        )
        .with_columns(
            (pl.col("active_customers") - pl.col("new_customers")).alias("returning_customers"),
            pl.when(pl.col("orders") > 0)
            .then(pl.col("revenue") / pl.col("orders"))
            .otherwise(None)
            .alias("aov"),
            (pl.col("repeat_customers") / pl.col("customers_to_date")).alias(
                "repeat_purchase_rate"
            ),
            pl.when(pl.col("active_base").shift(1) > 0)
            .then(pl.col("churned") / pl.col("active_base").shift(1))
            .otherwise(None)
            .alias("churn_rate"),
            _index_month(pl.col("_mi")).alias("month"),
        )
        .with_columns((pl.col("month") < as_of.replace(day=1)).alias("complete"))
        .select(
            "month",
            "active_customers",
            "new_customers",
            "returning_customers",
            "orders",
            "revenue",
            "aov",
            "customers_to_date",
            "repeat_customers",
            "repeat_purchase_rate",
            "active_base",
            "churned",
            "churn_rate",
            "complete",
        )
        .collect()
    )


def clv_by_cohort(
    orders: pl.DataFrame,
    clv: pl.DataFrame,
    *,
    as_of: dt.date,
    value_column: str = "clv_12m",
    timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """Average and total CLV per acquisition cohort: cohort, customers, avg_clv, total_clv.

    Customers of a cohort without a CLV row count as 0 (they have no predicted value).
    """
    cohorts = (
        _local_orders(orders, as_of, timezone)
        .group_by("customer_id")
        .agg(pl.col("month").min().alias("cohort"))
    )
    return (
        cohorts.join(
            clv.lazy().select("customer_id", pl.col(value_column).cast(pl.Float64).alias("_v")),
            on="customer_id",
            how="left",
        )
        .group_by("cohort")
        .agg(
            pl.len().cast(pl.Int64).alias("customers"),
            pl.col("_v").fill_null(0.0).mean().alias("avg_clv"),
            pl.col("_v").fill_null(0.0).sum().alias("total_clv"),
        )
        .sort("cohort")
        .collect()
    )


def revenue_share(
    orders: pl.DataFrame,
    metrics: pl.DataFrame,
    *,
    as_of: dt.date,
    dimensions: tuple[str, ...] = ("grade", "rfm_segment"),
    timezone: str = DEFAULT_TIMEZONE,
    unassigned: str = "unassigned",
) -> pl.DataFrame:
    """Monthly revenue by group of each dimension: month, dimension, group, revenue, share.

    Groups come from the current assignment in `metrics` (customer_id plus the
    dimension columns), applied to every month: the chart answers "how much of
    each month's revenue came from today's VIPs". Customers without an
    assignment are `unassigned`. Shares add up to 1 per month and dimension.
    """
    local = _local_orders(orders, as_of, timezone)
    present = [d for d in dimensions if d in metrics.columns]
    parts = []
    for dimension in present:  # one pass per dimension (two), not per customer
        parts.append(
            local.join(
                metrics.lazy().select(
                    "customer_id", pl.col(dimension).cast(pl.String).alias("group")
                ),
                on="customer_id",
                how="left",
            )
            .with_columns(pl.col("group").fill_null(unassigned))
            .group_by("month", "group")
            .agg(pl.col("total").sum().alias("revenue"))
            .with_columns(
                pl.lit(dimension).alias("dimension"),
                (pl.col("revenue") / pl.col("revenue").sum().over("month")).alias("share"),
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "month": pl.Date,
                "dimension": pl.String,
                "group": pl.String,
                "revenue": pl.Float64,
                "share": pl.Float64,
            }
        )
    return (
        pl.concat(parts)
        .select("month", "dimension", "group", "revenue", "share")
        .sort("dimension", "month", "group")
        .collect()
    )


def compute(
    orders: pl.DataFrame,
    *,
    as_of: dt.date,
    clv: pl.DataFrame | None = None,
    metrics: pl.DataFrame | None = None,
    active_months: int = DEFAULT_ACTIVE_MONTHS,
    timezone: str = DEFAULT_TIMEZONE,
) -> CohortReport:
    """All cohort and KPI frames at once (CLV and share frames only when their input is given)."""
    return CohortReport(
        retention=retention(orders, as_of=as_of, timezone=timezone),
        kpis=kpis(orders, as_of=as_of, active_months=active_months, timezone=timezone),
        clv_by_cohort=None
        if clv is None
        else clv_by_cohort(orders, clv, as_of=as_of, timezone=timezone),
        revenue_share=None
        if metrics is None
        else revenue_share(orders, metrics, as_of=as_of, timezone=timezone),
    )


__all__ = [
    "CohortReport",
    "clv_by_cohort",
    "compute",
    "kpis",
    "retention",
    "revenue_share",
]
