"""The churn and next-best-offer steps of the nightly run.

Adapters only: they shape the engine's shared frames into the inputs of the pure modules
(`churn`, `nbo`) and their results into metrics columns. Registered on import (see apps.py).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from dangol.analytics import churn, data, nbo
from dangol.analytics.engine import Context, StepOutput, step
from dangol.commerce.models import Product, ProductCategory

CHURN_HORIZON_DAYS = 90
NBO_TOP_N = 5


def _orders_for_models(ctx: Context) -> pl.DataFrame:
    """The engine's orders as the pure modules expect them (placed_at at local midnight)."""
    return ctx.orders.select(
        "customer_id",
        "order_id",
        pl.col("day").cast(pl.Datetime("us")).alias("placed_at"),
        pl.col("amount").clip(lower_bound=0.0).alias("total"),
        "channel_id",
    )


@step("churn", columns=("churn_risk", "churn_band", "churn_drivers"), order=40)
def churn_step(ctx: Context) -> StepOutput:
    """Train on the company's own history (time-based backtest), score every customer."""
    orders = _orders_for_models(ctx)
    customers = ctx.customers.select(
        "customer_id", pl.col("created").cast(pl.Datetime("us")).alias("created_at")
    )
    p_alive = None
    clv_out = ctx.results.get("clv")
    if clv_out is not None and clv_out.frame is not None and "p_alive" in clv_out.frame.columns:
        p_alive = clv_out.frame.select("customer_id", "p_alive")
    try:
        result = churn.train_and_score(
            orders, customers, as_of=ctx.as_of, horizon_days=CHURN_HORIZON_DAYS, p_alive=p_alive
        )
    except churn.ChurnInputError as exc:
        return StepOutput(skipped=str(exc), rows_in={"orders": orders.height})
    frame = result.scores.select("customer_id", "churn_risk", "churn_band", "churn_drivers")
    first = ctx.orders["day"].min() if ctx.orders.height else None
    return StepOutput(
        frame=frame,
        parameters={"horizon_days": CHURN_HORIZON_DAYS, "bands": list(result.bands)},
        quality=dict(result.metrics),
        window=(first if isinstance(first, dt.date) else None, ctx.as_of),
        rows_in={"orders": orders.height, "customers": customers.height},
    )


def read_products() -> pl.DataFrame:
    """product_id, name, category_id, category_path, line, tier, price of every product."""
    p = Product
    products = data.read_sql(
        f"SELECT {data._col(p, 'id')}, {data._col(p, 'name')}, {data._col(p, 'category')}, "  # noqa: S608
        f"{data._col(p, 'line')}, {data._col(p, 'tier')}, {data._number(data._col(p, 'price'))} "
        f"FROM {data._table(p)}",
        [],
        {
            "product_id": pl.Int64,
            "name": pl.String,
            "category_id": pl.Int64,
            "line": pl.String,
            "tier": pl.String,
            "price": pl.Float64,
        },
    )
    c = ProductCategory
    categories = data.read_sql(
        f"SELECT {data._col(c, 'id')}, {data._col(c, 'path')} FROM {data._table(c)}",  # noqa: S608
        [],
        {"category_id": pl.Int64, "category_path": pl.String},
    )
    return products.join(categories, on="category_id", how="left").with_columns(
        pl.col("category_path").fill_null("")
    )


@step("nbo", columns=("next_best_offers",), order=50)
def nbo_step(ctx: Context) -> StepOutput:
    """Cross-sell from co-purchases and up-sell to the premium version, top 5 per customer."""
    lines = ctx.lines.select(
        "order_id",
        "customer_id",
        "product_id",
        "quantity",
        "line_total",
        pl.col("day").cast(pl.Datetime("us")).alias("placed_at"),
    ).filter(pl.col("quantity") > 0)
    if lines.height == 0:
        return StepOutput(skipped="no order lines")
    products = read_products()
    result = nbo.recommend(lines, products, as_of=ctx.as_of, top_n=NBO_TOP_N)
    offers = (
        result.recommendations.sort(["customer_id", "rank"])
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.struct(
                "product_id", "kind", pl.col("score").round(4), "because_product_id", "reason"
            ).alias("next_best_offers")
        )
    )
    return StepOutput(
        frame=offers,
        parameters={"top_n": NBO_TOP_N, "rules": result.rules.height},
        rows_in={"lines": lines.height, "products": products.height},
    )
