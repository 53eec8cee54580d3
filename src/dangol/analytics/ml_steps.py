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
#: The churn model's longest look back at complaints and returns (its 365-day features).
CONTACT_LOOKBACK_DAYS = 365
NBO_TOP_N = 5
#: The NBO hit rate is measured on offers made this many days before as_of (as on the dashboard).
NBO_EVALUATION_DAYS = 90
#: Customers whose histories the NBO hit rate is measured on (all of them below this).
NBO_EVALUATION_SAMPLE = 50_000


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
    # Contacts and returns as far back as the oldest training snapshot's 365-day features.
    since = ctx.as_of - dt.timedelta(
        days=(churn.DEFAULT_TRAIN_SNAPSHOTS + 1) * CHURN_HORIZON_DAYS + CONTACT_LOOKBACK_DAYS
    )
    contacts = data.read_contacts(since=since, until=ctx.as_of)
    returns = data.read_returns(since=since, until=ctx.as_of)
    try:
        result = churn.train_and_score(
            orders,
            customers,
            as_of=ctx.as_of,
            horizon_days=CHURN_HORIZON_DAYS,
            interactions=contacts,
            returns=returns,
            p_alive=p_alive,
        )
    except churn.ChurnInputError as exc:
        read = {"orders": orders.height, "contacts": contacts.height, "returns": returns.height}
        return StepOutput(skipped=str(exc), rows_in=read)
    frame = result.scores.select("customer_id", "churn_risk", "churn_band", "churn_drivers")
    first = ctx.orders["day"].min() if ctx.orders.height else None
    return StepOutput(
        frame=frame,
        parameters={"horizon_days": CHURN_HORIZON_DAYS, "bands": list(result.bands)},
        quality=dict(result.metrics),
        window=(first if isinstance(first, dt.date) else None, ctx.as_of),
        rows_in={
            "orders": orders.height,
            "customers": customers.height,
            "contacts": contacts.height,
            "returns": returns.height,
        },
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
    """Cross-sell from co-purchases and up-sell to the premium version, top 5 per customer.

    Rules are learnt from a seeded sample of customers and every customer is scored; the
    quality figure is the offline hit rate at 5 against popularity (``nbo.evaluate``) on the
    histories of another seeded sample, split `NBO_EVALUATION_DAYS` before `as_of`.
    """
    lines = ctx.lines.select(
        "customer_id", "product_id", pl.col("day").cast(pl.Datetime("us")).alias("placed_at")
    )
    if lines.height == 0:
        return StepOutput(skipped="no order lines")
    products = read_products()
    result = nbo.recommend(lines, products, as_of=ctx.as_of, top_n=NBO_TOP_N, with_reasons=False)
    # The figures behind each offer, not its sentence: the reason is worded in the reader's
    # language when read (selectors.describe_offers), and a million rows stay narrow.
    offers = (
        result.recommendations.join(
            result.popular.select("product_id", "buyers"), on="product_id", how="left"
        )
        .sort(["customer_id", "rank"])
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.struct(
                "product_id",
                "kind",
                pl.col("score").round(4),
                "because_product_id",
                *nbo.reason_figures(),
                pl.when(pl.col("kind") == "popular").then(pl.col("buyers")).alias("buyers"),
            ).alias("next_best_offers")
        )
    )
    split = ctx.as_of + dt.timedelta(days=1) - dt.timedelta(days=NBO_EVALUATION_DAYS)
    buyers = lines["customer_id"].unique().sort()
    evaluated = churn.sample_customers(buyers, NBO_EVALUATION_SAMPLE, seed=1)
    held_out = lines.filter(pl.col("customer_id").is_in(evaluated.implode()))
    quality: dict[str, object] = dict(
        nbo.evaluate(
            held_out,
            products,
            split_date=split,
            top_n=NBO_TOP_N,
            horizon_days=NBO_EVALUATION_DAYS,
        )
    )
    quality.update(split_date=split.isoformat(), sampled_customers=evaluated.len())
    first = ctx.orders["day"].min() if ctx.orders.height else None
    return StepOutput(
        frame=offers,
        parameters={
            "top_n": NBO_TOP_N,
            "rules": result.rules.height,
            "fit_sample": nbo.DEFAULT_FIT_SAMPLE,
            "fit_customers": result.fit_customers,
            "seed": 0,
            "evaluation_sample": NBO_EVALUATION_SAMPLE,
        },
        quality=quality,
        window=(first if isinstance(first, dt.date) else None, ctx.as_of),
        rows_in={"lines": lines.height, "products": products.height},
    )
