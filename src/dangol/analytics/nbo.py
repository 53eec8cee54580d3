"""Next best offer: cross-sell from product associations, up-sell to a line's premium product.

A pure module (Polars; Django only for gettext inside functions) that takes and
returns Polars frames. See docs/adr/0008-churn-nbo-cohorts.md.

Input frames (the analytics engine provides exactly these):

- ``lines``: order_id, customer_id, product_id, quantity (i64), line_total (f64),
  placed_at (datetime, UTC; naive values are read as UTC). Cancelled orders are
  already excluded by the caller.
- ``products``: product_id, name, category_id, category_path (e.g.
  "skincare/serum"), line (product line, "" if none), tier ("standard" or
  "premium"), price.

Associations are computed on customer histories: a customer's "basket" is the
set of products they bought before ``as_of`` (the same-order co-purchases are
part of it). For products X and Y over the N customers with a history:
``support = n(X and Y) / N``, ``confidence(X→Y) = n(X and Y) / n(X)`` and
``lift = confidence / (n(Y) / N)``. Pairs come from a self-join of each
customer's most recent ``max_items`` products, processed in customer chunks
sized so that no chunk materialises more than ``pair_budget`` pair rows: memory
stays bounded whatever the number of customers.

Per customer the candidates are: cross-sell Y for every owned X with a rule
X→Y (score = the best confidence, reason = that X); up-sell to the premium
products of the lines the customer buys in the standard tier (score = the
share of the line's standard buyers who own that premium product). Products
the customer already bought are never offered; nor, for cross-sell, products
of a category they bought in the last ``recent_days`` days (someone who just
bought a toner is not offered another brand's toner; an up-sell to the premium
version is still allowed). ``upsell_slots`` of the ``top_n`` places are kept
for the best up-sells; the rest go by score, and popular products fill lists
that are still short. Everything is joins and group-bys; no per-customer loop.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import polars as pl

#: Most recent distinct products per customer used for pairs and candidates.
DEFAULT_MAX_ITEMS = 20
#: Rules kept per antecedent product (by confidence).
DEFAULT_MAX_RULES = 30
#: A rule needs at least this many customers who bought both products.
DEFAULT_MIN_PAIR_CUSTOMERS = 3
#: Pair or candidate rows materialised per chunk of customers (bounds peak memory).
DEFAULT_PAIR_BUDGET = 5_000_000
#: Days of history behind the popularity ranking.
POPULAR_DAYS = 90


class NBOInputError(ValueError):
    """Input the recommender cannot use; the message is one readable sentence."""


@dataclass(frozen=True)
class NBOResult:
    """Recommendations and the association rules behind them.

    ``recommendations``: customer_id, rank (1..top_n), product_id, kind
    ("cross_sell", "up_sell", "popular"), score, confidence, lift,
    because_product_id (null for "popular"), reason (translated sentence).
    ``rules``: antecedent_id, consequent_id, pair_customers, support,
    confidence, lift (the kept rules). ``popular``: product_id, buyers, rank.
    """

    recommendations: pl.DataFrame
    rules: pl.DataFrame
    popular: pl.DataFrame
    as_of: dt.date
    n_customers: int


def _utc_naive(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return expr.cast(pl.Datetime("us"))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _histories(lines: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """customer_id, product_id, last_at, item_rank (1 = most recent) before `as_of`."""
    cut = pl.lit(_midnight(as_of), dtype=pl.Datetime("us"))
    return (
        lines.lazy()
        .with_columns(_utc_naive(lines, "placed_at").alias("_ts"))
        .filter(pl.col("_ts") < cut)
        .group_by("customer_id", "product_id")
        .agg(pl.col("_ts").max().alias("last_at"))
        .with_columns(
            pl.col("last_at")
            .rank("ordinal", descending=True)
            .over("customer_id")
            .cast(pl.Int32)
            .alias("item_rank")
        )
        .collect()
    )


def _chunks(capped: pl.DataFrame, pair_budget: int) -> int:
    """How many customer chunks keep the pair self-join under `pair_budget` rows."""
    per_customer = capped.group_by("customer_id").len()
    pairs = int(per_customer.select((pl.col("len").cast(pl.Int64) ** 2).sum()).item() or 0)
    return max(1, math.ceil(pairs / max(pair_budget, 1)))


def association_rules(
    histories: pl.DataFrame,
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_rules: int = DEFAULT_MAX_RULES,
    min_pair_customers: int = DEFAULT_MIN_PAIR_CUSTOMERS,
    pair_budget: int = DEFAULT_PAIR_BUDGET,
) -> pl.DataFrame:
    """Item-to-item rules X→Y from customer histories (customer_id, product_id rows).

    Returns antecedent_id, consequent_id, pair_customers, support, confidence,
    lift for pairs with at least `min_pair_customers` customers and lift > 1, at
    most `max_rules` per antecedent (highest confidence first).
    """
    owned = histories.select("customer_id", "product_id").unique()
    n_customers = owned["customer_id"].n_unique()
    if n_customers == 0:
        return pl.DataFrame(
            schema={
                "antecedent_id": pl.Int64,
                "consequent_id": pl.Int64,
                "pair_customers": pl.Int64,
                "support": pl.Float64,
                "confidence": pl.Float64,
                "lift": pl.Float64,
            }
        )
    item_counts = owned.group_by("product_id").agg(pl.len().cast(pl.Int64).alias("n_item"))
    capped = (
        histories.filter(pl.col("item_rank") <= max_items)
        if "item_rank" in histories.columns
        else owned
    ).select("customer_id", "product_id")
    n_chunks = _chunks(capped, pair_budget)
    parts = []
    for chunk in range(n_chunks):  # memory-bounded chunks of customers, not customers
        part = capped.filter(pl.col("customer_id").hash(seed=1) % n_chunks == chunk)
        parts.append(
            part.lazy()
            .join(part.lazy(), on="customer_id", suffix="_y")
            .filter(pl.col("product_id") != pl.col("product_id_y"))
            .group_by("product_id", "product_id_y")
            .agg(pl.len().cast(pl.Int64).alias("pair_customers"))
            .collect()
        )
    pairs = (
        pl.concat(parts)
        .group_by("product_id", "product_id_y")
        .agg(pl.col("pair_customers").sum())
        .filter(pl.col("pair_customers") >= min_pair_customers)
        .rename({"product_id": "antecedent_id", "product_id_y": "consequent_id"})
    )
    n = float(n_customers)
    return (
        pairs.join(
            item_counts.rename({"product_id": "antecedent_id", "n_item": "n_x"}),
            on="antecedent_id",
        )
        .join(
            item_counts.rename({"product_id": "consequent_id", "n_item": "n_y"}),
            on="consequent_id",
        )
        .with_columns(
            (pl.col("pair_customers") / n).alias("support"),
            (pl.col("pair_customers") / pl.col("n_x")).alias("confidence"),
        )
        .with_columns((pl.col("confidence") / (pl.col("n_y") / n)).alias("lift"))
        .filter(pl.col("lift") > 1.0)
        .sort(["antecedent_id", "confidence", "consequent_id"], descending=[False, True, False])
        .group_by("antecedent_id", maintain_order=True)
        .head(max_rules)
        .select(
            pl.col("antecedent_id").cast(pl.Int64),
            pl.col("consequent_id").cast(pl.Int64),
            "pair_customers",
            "support",
            "confidence",
            "lift",
        )
    )


def _upsell_rates(owned: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """line, premium_id, rate (share of the line's standard buyers owning it), lift."""
    n = float(owned["customer_id"].n_unique())
    meta = products.select("product_id", "line", "tier")
    tagged = owned.join(meta, on="product_id").filter(pl.col("line") != "")
    standard_buyers = (
        tagged.filter(pl.col("tier") != "premium").select("customer_id", "line").unique()
    )
    line_buyers = standard_buyers.group_by("line").agg(pl.len().alias("line_buyers"))
    premium_owners = tagged.filter(pl.col("tier") == "premium").select(
        "customer_id", "line", pl.col("product_id").alias("premium_id")
    )
    all_owners = premium_owners.group_by("premium_id").agg(pl.len().alias("owners"))
    upgraded = (
        premium_owners.join(standard_buyers, on=["customer_id", "line"])
        .group_by("line", "premium_id")
        .agg(pl.len().alias("upgraded"))
    )
    premiums = meta.filter((pl.col("tier") == "premium") & (pl.col("line") != "")).select(
        "line", pl.col("product_id").alias("premium_id")
    )
    return (
        premiums.join(line_buyers, on="line", how="left")
        .join(upgraded, on=["line", "premium_id"], how="left")
        .join(all_owners, on="premium_id", how="left")
        .with_columns(pl.col("upgraded", "owners", "line_buyers").fill_null(0))
        .with_columns(
            (pl.col("upgraded") / pl.col("line_buyers").clip(lower_bound=1)).alias("rate")
        )
        .with_columns(
            pl.when(pl.col("owners") > 0)
            .then(pl.col("rate") / (pl.col("owners") / n))
            .otherwise(None)
            .alias("lift")
        )
        .select("line", "premium_id", "rate", "lift")
    )


def _popular(lines: pl.DataFrame, as_of: dt.date, days: int = POPULAR_DAYS) -> pl.DataFrame:
    """product_id, buyers (distinct customers in the last `days` days), rank."""
    cut = _midnight(as_of)
    recent = (
        lines.lazy()
        .with_columns(_utc_naive(lines, "placed_at").alias("_ts"))
        .filter((pl.col("_ts") < cut) & (pl.col("_ts") >= cut - dt.timedelta(days=days)))
    )
    return (
        recent.group_by("product_id")
        .agg(pl.col("customer_id").n_unique().cast(pl.Int64).alias("buyers"))
        .sort(["buyers", "product_id"], descending=[True, False])
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
        .collect()
    )


def _format(template: str, **values: pl.Expr) -> pl.Expr:
    """A Polars string expression from a gettext template with ``{name}`` placeholders."""
    parts = re.split(r"\{(\w+)\}", template)
    return pl.concat_str(
        [
            pl.lit(part) if i % 2 == 0 else values[part].cast(pl.String)
            for i, part in enumerate(parts)
            if i % 2 == 1 or part
        ]
    )


def _reasons() -> pl.Expr:
    """The translated reason sentence per recommendation row."""
    from django.utils.translation import gettext as _

    pct = (pl.col("confidence") * 100).round(0).cast(pl.Int64)
    lift = pl.col("lift").round(1)
    cross = _format(
        # xgettext:no-python-format
        _("bought {x}; {pct}% of {x} buyers buy {y}, {lift}x the usual rate"),
        x=pl.col("because_name"),
        y=pl.col("name"),
        pct=pct,
        lift=lift,
    )
    up = _format(
        # xgettext:no-python-format
        _("bought {x}; {pct}% of {line} line buyers also own the premium {y}"),
        x=pl.col("because_name"),
        y=pl.col("name"),
        pct=pct,
        line=pl.col("line"),
    )
    popular = _format(
        _("popular: bought by {buyers} customers in the last {days} days"),
        buyers=pl.col("buyers"),
        days=pl.lit(POPULAR_DAYS),
    )
    return (
        pl.when(pl.col("kind") == "cross_sell")
        .then(cross)
        .when(pl.col("kind") == "up_sell")
        .then(up)
        .otherwise(popular)
    )


def recommend(
    lines: pl.DataFrame,
    products: pl.DataFrame,
    *,
    as_of: dt.date,
    top_n: int = 5,
    recent_days: int = 30,
    upsell_slots: int = 1,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_rules: int = DEFAULT_MAX_RULES,
    min_pair_customers: int = DEFAULT_MIN_PAIR_CUSTOMERS,
    pair_budget: int = DEFAULT_PAIR_BUDGET,
    with_reasons: bool = True,
) -> NBOResult:
    """Top-`top_n` next best offers for every customer with a purchase before `as_of`."""
    if top_n <= 0:
        raise NBOInputError("top_n must be positive")
    hist = _histories(lines, as_of)
    owned = hist.select("customer_id", "product_id")
    rules = association_rules(
        hist,
        max_items=max_items,
        max_rules=max_rules,
        min_pair_customers=min_pair_customers,
        pair_budget=pair_budget,
    )
    popular = _popular(lines, as_of)
    meta = products.select(
        pl.col("product_id").cast(pl.Int64),
        pl.col("name").cast(pl.String),
        pl.col("category_path").cast(pl.String),
        pl.col("line").cast(pl.String).fill_null(""),
        pl.col("tier").cast(pl.String),
    )
    cut = _midnight(as_of)
    recent_categories = (
        hist.filter(pl.col("last_at") >= cut - dt.timedelta(days=recent_days))
        .join(meta.select("product_id", "category_path"), on="product_id")
        .select("customer_id", "category_path")
        .unique()
    )
    capped = hist.filter(pl.col("item_rank") <= max_items).select(
        "customer_id", "product_id", "item_rank"
    )
    rates = _upsell_rates(owned, meta)
    # candidate rows per chunk ≈ items × rules per item; keep them under the budget
    n_chunks = max(1, math.ceil(capped.height * max(max_rules, 1) / max(pair_budget, 1)))
    parts = []
    for chunk in range(n_chunks):  # memory-bounded chunks of customers
        in_chunk = pl.col("customer_id").hash(seed=1) % n_chunks == chunk
        mine = capped.lazy().filter(in_chunk)
        mine_owned = owned.lazy().filter(in_chunk)
        cross = (
            mine.join(rules.lazy(), left_on="product_id", right_on="antecedent_id")
            .select(
                "customer_id",
                pl.col("consequent_id").alias("product_id"),
                pl.col("product_id").alias("because_product_id"),
                "confidence",
                "lift",
                "item_rank",
            )
            .join(meta.lazy().select("product_id", "category_path"), on="product_id")
            .join(recent_categories.lazy(), on=["customer_id", "category_path"], how="anti")
            .sort(
                ["customer_id", "product_id", "confidence", "item_rank"],
                descending=[False, False, True, False],
            )
            .group_by("customer_id", "product_id", maintain_order=True)
            .agg(
                pl.col("because_product_id", "confidence", "lift").first(),
                # noisy-OR: several owned products pointing at Y add up
                (
                    1.0 - (1.0 - pl.col("confidence").clip(upper_bound=0.999)).log().sum().exp()
                ).alias("score"),
            )
            .with_columns(pl.lit("cross_sell").alias("kind"))
        )
        up = (
            mine.join(meta.lazy(), on="product_id")
            .filter((pl.col("line") != "") & (pl.col("tier") != "premium"))
            .join(rates.lazy(), on="line")
            .join(
                meta.lazy().select(
                    pl.col("product_id").alias("premium_id"),
                    pl.col("category_path").alias("premium_path"),
                ),
                on="premium_id",
            )
            .with_columns((pl.col("category_path") != pl.col("premium_path")).alias("_other"))
            .sort(
                ["customer_id", "premium_id", "_other", "item_rank"],
                descending=[False, False, False, False],
            )
            .group_by("customer_id", "premium_id", maintain_order=True)
            .first()
            .select(
                "customer_id",
                pl.col("premium_id").alias("product_id"),
                pl.col("product_id").alias("because_product_id"),
                pl.col("rate").alias("confidence"),
                "lift",
                pl.lit("up_sell").alias("kind"),
                pl.col("rate").alias("score"),
            )
        )
        columns = ["customer_id", "product_id", "because_product_id", "confidence", "lift"]
        candidates = (
            pl.concat(
                [
                    cross.select(*columns, "kind", "score"),
                    up.select(*columns, "kind", "score"),
                ]
            )
            .join(mine_owned, on=["customer_id", "product_id"], how="anti")
            # one row per product: an up-sell wins over the same product as cross-sell
            .sort(
                ["customer_id", "product_id", "kind", "score"],
                descending=[False, False, True, True],
            )
            .group_by("customer_id", "product_id", maintain_order=True)
            .first()
            .with_columns(
                pl.when(pl.col("kind") == "up_sell")
                .then(pl.col("score").rank("ordinal", descending=True).over("customer_id", "kind"))
                .otherwise(None)
                .alias("_up_rank")
            )
            .with_columns(
                pl.when(pl.col("_up_rank") <= upsell_slots).then(0).otherwise(1).alias("_group")
            )
        )
        fill = (
            mine_owned.select("customer_id")
            .unique()
            .join(popular.lazy().filter(pl.col("rank") <= top_n + max_items), how="cross")
            .join(mine_owned, on=["customer_id", "product_id"], how="anti")
            .select(
                "customer_id",
                "product_id",
                pl.lit(None, dtype=pl.Int64).alias("because_product_id"),
                pl.lit(None, dtype=pl.Float64).alias("confidence"),
                pl.lit(None, dtype=pl.Float64).alias("lift"),
                pl.lit("popular").alias("kind"),
                (-pl.col("rank").cast(pl.Float64)).alias("score"),
                pl.lit(2).alias("_group"),
            )
        )
        parts.append(
            pl.concat(
                [candidates.select(*columns, "kind", "score", "_group"), fill],
                how="vertical_relaxed",
            )
            .sort(
                ["customer_id", "_group", "score", "product_id"],
                descending=[False, False, True, False],
            )
            .unique(["customer_id", "product_id"], keep="first", maintain_order=True)
            .group_by("customer_id", maintain_order=True)
            .head(top_n)
            .with_columns(pl.int_range(1, pl.len() + 1).over("customer_id").alias("rank"))
            .drop("_group")
            .collect()
        )
    recs = pl.concat(parts) if parts else pl.DataFrame()
    if recs.height:
        recs = recs.with_columns(
            pl.when(pl.col("kind") == "popular")
            .then(None)
            .otherwise(pl.col("score"))
            .alias("score")
        )
    if with_reasons and recs.height:
        recs = (
            recs.join(meta.select("product_id", "name", "line"), on="product_id", how="left")
            .join(
                meta.select(
                    pl.col("product_id").alias("because_product_id"),
                    pl.col("name").alias("because_name"),
                ),
                on="because_product_id",
                how="left",
            )
            .join(popular.select("product_id", "buyers"), on="product_id", how="left")
            .with_columns(_reasons().alias("reason"))
        )
    else:
        recs = recs.with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    recs = recs.select(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("rank").cast(pl.Int64),
        pl.col("product_id").cast(pl.Int64),
        "kind",
        "score",
        "confidence",
        "lift",
        "because_product_id",
        "reason",
    ).sort("customer_id", "rank")
    return NBOResult(
        recommendations=recs,
        rules=rules,
        popular=popular,
        as_of=as_of,
        n_customers=int(owned["customer_id"].n_unique()),
    )


def _hits(recs: pl.DataFrame, truth: pl.DataFrame, top_n: int) -> float:
    """Share of `truth` customers with at least one of their top-n products in `truth`."""
    if truth.is_empty():
        return float("nan")
    hit = (
        recs.filter(pl.col("rank") <= top_n)
        .select("customer_id", "product_id")
        .join(truth, on=["customer_id", "product_id"])
        .select(pl.col("customer_id").n_unique())
        .item()
    )
    return float(hit) / float(truth["customer_id"].n_unique())


def evaluate(
    lines: pl.DataFrame,
    products: pl.DataFrame,
    *,
    split_date: dt.date,
    top_n: int = 5,
    horizon_days: int = 90,
    recent_days: int = 30,
) -> dict[str, float | int]:
    """Offline hit rate at `top_n` on a time split, against a popularity baseline.

    Recommendations are made from the lines before `split_date`; a customer is a
    *hit* when they buy one of their top-`top_n` products in the following
    `horizon_days` days. Evaluated customers: those with a history before the
    split who buy at least one product they had not bought before. The baseline
    offers every customer the most popular products (distinct buyers in the last
    90 days) they do not own. Returns k, customers, hit_rate,
    popularity_hit_rate, lift_over_popularity.
    """
    result = recommend(
        lines,
        products,
        as_of=split_date,
        top_n=top_n,
        recent_days=recent_days,
        with_reasons=False,
    )
    cut = _midnight(split_date)
    ts = _utc_naive(lines, "placed_at")
    before = lines.filter(ts < cut).select("customer_id", "product_id").unique()
    after = (
        lines.filter((ts >= cut) & (ts < cut + dt.timedelta(days=horizon_days)))
        .select("customer_id", "product_id")
        .unique()
    )
    truth = after.join(before, on=["customer_id", "product_id"], how="anti").join(
        before.select("customer_id").unique(), on="customer_id"
    )
    customers = truth.select("customer_id").unique()
    baseline = (
        customers.join(
            result.popular.filter(pl.col("rank") <= top_n + DEFAULT_MAX_ITEMS), how="cross"
        )
        .join(before, on=["customer_id", "product_id"], how="anti")
        .sort("customer_id", "rank")
        .group_by("customer_id", maintain_order=True)
        .head(top_n)
        .with_columns(pl.int_range(1, pl.len() + 1).over("customer_id").alias("rank"))
    )
    model_hit = _hits(result.recommendations, truth, top_n)
    popular_hit = _hits(baseline, truth, top_n)
    return {
        "k": top_n,
        "customers": customers.height,
        "hit_rate": model_hit,
        "popularity_hit_rate": popular_hit,
        "lift_over_popularity": model_hit / popular_hit if popular_hit > 0 else float("nan"),
    }


__all__ = ["NBOInputError", "NBOResult", "association_rules", "evaluate", "recommend"]
