"""Next best offer: cross-sell from product associations, up-sell to a line's premium product.

A pure module (Polars; Django only for gettext inside functions) that takes and
returns Polars frames. See docs/adr/0008-churn-nbo-cohorts.md.

Input frames (the analytics engine provides exactly these):

- ``lines``: customer_id, product_id, placed_at (datetime, UTC; naive values are
  read as UTC); other columns (order_id, quantity, line_total) are ignored.
  Cancelled orders and lines returned in full are already excluded by the caller.
- ``products``: product_id, name, category_id, category_path (e.g.
  "skincare/serum"), line (product line, "" if none), tier ("standard" or
  "premium"), price.

Associations are computed on customer histories: a customer's "basket" is the
set of products they bought before ``as_of`` (the same-order co-purchases are
part of it). Rules and up-sell rates are learnt from a seeded sample of
``fit_sample`` customers (everyone below that); every customer is scored.
For products X and Y over the N (sampled) customers with a history:
``support = n(X and Y) / N``, ``confidence(X→Y) = n(X and Y) / n(X)`` and
``lift = confidence / (n(Y) / N)``. Pairs come from a self-join of each
customer's most recent ``max_items`` products, processed in customer chunks
sized so that no chunk materialises more than ``pair_budget`` pair rows: memory
stays bounded whatever the number of customers.

Per customer the candidates are: cross-sell Y for every owned X (of the
``max_items`` most recent) with a rule X→Y (score = noisy-OR of their
confidences, reason = the X with the best one); up-sell to the premium
products of the lines the customer buys in the standard tier (score = the
share of the line's standard buyers who own that premium product). Products
the customer already bought are never offered; nor, for cross-sell, products
of a category they bought in the last ``recent_days`` days (someone who just
bought a toner is not offered another brand's toner; an up-sell to the premium
version is still allowed). ``upsell_slots`` of the ``top_n`` places are kept
for the best up-sells; the rest go by score, and popular products fill lists
that are still short. Fitting is joins and group-bys; scoring is matrix work over
the catalogue per chunk of customers (see ``_score``); no per-customer loop.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from django.utils.translation import gettext_lazy
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from dangol.analytics.churn import sample_customers

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
#: Customers whose histories the rules and up-sell rates are learnt from (all below this):
#: a seeded random sample; everyone is still scored (docs/adr/0008, "At scale").
DEFAULT_FIT_SAMPLE = 50_000


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
    fit_customers: int = 0


def _utc_naive(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return expr.cast(pl.Datetime("us"))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _histories(lines: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """customer_id, product_id, last_at, item_rank (1 = most recent) before `as_of`, sorted by
    customer and item_rank; products last bought at the same time rank by product id."""
    cut = pl.lit(_midnight(as_of), dtype=pl.Datetime("us"))
    return (
        lines.lazy()
        .with_columns(_utc_naive(lines, "placed_at").alias("_ts"))
        .filter(pl.col("_ts") < cut)
        .group_by("customer_id", "product_id")
        .agg(pl.col("_ts").max().alias("last_at"))
        .sort(["customer_id", "last_at", "product_id"], descending=[False, True, False])
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("customer_id").alias("item_rank")
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


# The reason of each kind of offer, with ``{name}`` placeholders. Rendered in the reader's
# language when read (``describe_offers``); stored offers keep only the figures.
CROSS_SELL_REASON = gettext_lazy(
    # xgettext:no-python-format
    "bought {x}; {pct}% of {x} buyers buy {y}, {lift}x the usual rate"
)
UP_SELL_REASON = gettext_lazy(
    # xgettext:no-python-format
    "bought {x}; {pct}% of {line} line buyers also own the premium {y}"
)
POPULAR_REASON = gettext_lazy("popular: bought by {buyers} customers in the last {days} days")


def reason_figures() -> list[pl.Expr]:
    """The figures a reason shows, as stored with each offer: ``pct`` (confidence in whole
    percent) and ``lift`` (one decimal)."""
    return [
        (pl.col("confidence") * 100).round(0).cast(pl.Int64).alias("pct"),
        pl.col("lift").round(1).alias("lift"),
    ]


def _reasons() -> pl.Expr:
    """The translated reason sentence per recommendation row (the offline command's output)."""
    pct = (pl.col("confidence") * 100).round(0).cast(pl.Int64)
    lift = pl.col("lift").round(1)
    cross = _format(
        str(CROSS_SELL_REASON), x=pl.col("because_name"), y=pl.col("name"), pct=pct, lift=lift
    )
    up = _format(
        str(UP_SELL_REASON),
        x=pl.col("because_name"),
        y=pl.col("name"),
        pct=pct,
        line=pl.col("line"),
    )
    popular = _format(str(POPULAR_REASON), buyers=pl.col("buyers"), days=pl.lit(POPULAR_DAYS))
    return (
        pl.when(pl.col("kind") == "cross_sell")
        .then(cross)
        .when(pl.col("kind") == "up_sell")
        .then(up)
        .otherwise(popular)
    )


def offer_reason(offer: Mapping[str, Any], products: Mapping[int, tuple[str, str]]) -> str:
    """One stored offer's reason in the active language; ``products`` maps ids to (name, line).

    Offers stored before their figures were (a sentence in the language of that run) keep it."""
    if "pct" not in offer and "buyers" not in offer:
        return str(offer.get("reason") or "")

    def name(key: str) -> str:
        pid = offer.get(key)
        return products.get(int(pid), (f"#{pid}", ""))[0] if pid else ""

    kind = offer.get("kind")
    if kind == "cross_sell":
        return str(CROSS_SELL_REASON).format(
            x=name("because_product_id"), y=name("product_id"), pct=offer.get("pct"),
            lift=offer.get("lift"),
        )  # fmt: skip
    if kind == "up_sell":
        line = products.get(int(offer.get("product_id") or 0), ("", ""))[1]
        return str(UP_SELL_REASON).format(
            x=name("because_product_id"), y=name("product_id"), pct=offer.get("pct"), line=line
        )
    return str(POPULAR_REASON).format(buyers=offer.get("buyers") or 0, days=POPULAR_DAYS)


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
    fit_sample: int | None = DEFAULT_FIT_SAMPLE,
    seed: int = 0,
) -> NBOResult:
    """Top-`top_n` next best offers for every customer with a purchase before `as_of`.

    The association rules and up-sell rates are learnt from the histories of `fit_sample`
    customers drawn at random (seeded by `seed`; all of them when there are fewer, or when
    `fit_sample` is None); every customer is then scored against them with matrix operations
    over the product catalogue, in chunks of customers (`pair_budget` cells per chunk).
    """
    if top_n <= 0:
        raise NBOInputError("top_n must be positive")
    hist = _histories(lines, as_of)
    population = hist["customer_id"].unique().sort()
    sample = sample_customers(population, fit_sample, seed)
    fitted = (
        hist
        if sample.len() == population.len()
        else hist.filter(pl.col("customer_id").is_in(sample.implode()))
    )
    rules = association_rules(
        fitted,
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
    rates = _upsell_rates(fitted.select("customer_id", "product_id"), meta)
    recs = _score(
        hist,
        _Catalogue.build(meta, hist, rules, rates, popular, top_n + max_items),
        cut=_midnight(as_of) - dt.timedelta(days=recent_days),
        top_n=top_n,
        upsell_slots=upsell_slots,
        max_items=max_items,
        budget=pair_budget,
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
        n_customers=population.len(),
        fit_customers=sample.len(),
    )


@dataclass(frozen=True)
class _Catalogue:
    """The fitted model as dense product × product arrays (index = position in `ids`).

    ``log_miss[x, y]`` = log(1 − confidence(x→y)) for a kept rule (0 otherwise), ``conf`` and
    ``lift`` the rule's figures (conf −1 without a rule); ``upsell[x, p]``: x is a standard
    product of premium p's line; ``rate``/``up_lift`` per premium; ``category`` an integer per
    product (−1 without catalogue row); ``popular_rank`` (0 = not among the popular fill).
    """

    ids: NDArray[np.int64]
    category: NDArray[np.int64]
    log_miss: NDArray[np.float64]
    conf: NDArray[np.float64]
    lift: NDArray[np.float64]
    upsell: NDArray[np.bool_]
    rate: NDArray[np.float64]
    up_lift: NDArray[np.float64]
    popular_rank: NDArray[np.int64]

    @property
    def stacked(self) -> NDArray[np.float32]:
        """[log_miss | up-sell] side by side (float32), for one matrix product per chunk."""
        return np.hstack([self.log_miss, self.upsell]).astype(np.float32)

    @classmethod
    def build(
        cls,
        meta: pl.DataFrame,
        hist: pl.DataFrame,
        rules: pl.DataFrame,
        rates: pl.DataFrame,
        popular: pl.DataFrame,
        popular_depth: int,
    ) -> _Catalogue:
        ids = np.unique(
            np.concatenate(
                [meta["product_id"].to_numpy(), hist["product_id"].cast(pl.Int64).to_numpy()]
            )
        ).astype(np.int64)
        n = ids.size
        index = pl.DataFrame({"product_id": ids, "_i": np.arange(n, dtype=np.int64)})

        def idx(frame: pl.DataFrame, column: str) -> NDArray[np.int64]:
            return (
                frame.select(pl.col(column).cast(pl.Int64).alias("product_id"))
                .join(index, on="product_id", how="left", maintain_order="left")["_i"]
                .to_numpy()
                .astype(np.int64)
            )

        paths = meta.select("product_id", "category_path").filter(
            pl.col("category_path").is_not_null()
        )  # a product without a category is never excluded as "recently bought category"
        cat_codes = paths["category_path"].cast(pl.Categorical).to_physical().to_numpy()
        category = np.full(n, -1, dtype=np.int64)
        category[idx(paths, "product_id")] = cat_codes.astype(np.int64)
        known = np.zeros(n, dtype=bool)
        known[idx(meta, "product_id")] = True
        log_miss = np.zeros((n, n))
        conf = np.full((n, n), -1.0)
        lift = np.zeros((n, n))
        if rules.height:
            ax, cy = idx(rules, "antecedent_id"), idx(rules, "consequent_id")
            c = rules["confidence"].to_numpy()
            conf[ax, cy] = c
            lift[ax, cy] = rules["lift"].to_numpy()
            log_miss[ax, cy] = np.log1p(-np.minimum(c, 0.999))
            # a consequent without a catalogue row is never offered
            conf[:, ~known], log_miss[:, ~known] = -1.0, 0.0
        upsell = np.zeros((n, n), dtype=bool)
        rate = np.zeros(n)
        up_lift = np.full(n, np.nan)
        lined = meta.filter(pl.col("line") != "")
        standard = lined.filter(pl.col("tier") != "premium").select("product_id", "line")
        pairs = standard.join(rates, on="line")
        if pairs.height:
            upsell[idx(pairs, "product_id"), idx(pairs, "premium_id")] = True
            premiums = rates.unique("premium_id")
            at = idx(premiums, "premium_id")
            rate[at] = premiums["rate"].to_numpy()
            up_lift[at] = premiums["lift"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        popular_rank = np.zeros(n, dtype=np.int64)
        top = popular.filter(pl.col("rank") <= popular_depth)
        ranked = top.join(index, on="product_id", how="inner")
        popular_rank[ranked["_i"].to_numpy()] = ranked["rank"].to_numpy()
        return cls(ids, category, log_miss, conf, lift, upsell, rate, up_lift, popular_rank)


def _smallest(key: NDArray[np.float64], k: int) -> tuple[NDArray[np.int64], ...]:
    """Per row, the columns of the `k` smallest finite keys, ties to the lower column: arrays
    rows, columns, place (0-based). `key` is overwritten."""
    rows, columns, places = [], [], []
    for place in range(k):  # top-k places (k ≤ top_n), not customers
        best = np.argmin(key, axis=1)
        found = np.nonzero(np.isfinite(key[np.arange(key.shape[0]), best]))[0]
        if found.size == 0:
            break
        rows.append(found)
        columns.append(best[found])
        places.append(np.full(found.size, place))
        key[found, best[found]] = np.inf
    if not rows:
        return (np.zeros(0, dtype=np.int64),) * 3
    return tuple(np.concatenate(a).astype(np.int64) for a in (rows, columns, places))


def _score(
    hist: pl.DataFrame,
    cat: _Catalogue,
    *,
    cut: dt.datetime,
    top_n: int,
    upsell_slots: int,
    max_items: int,
    budget: int,
) -> pl.DataFrame:
    """The ranked offers of every customer in `hist` (see the module docstring for the rules).

    Per chunk of customers (`budget` cells of customers × products): an owned mask, the capped
    recent items as a 0/1 matrix times [log(1 − confidence) | up-sell reach] (one float32
    product: the noisy-OR log-miss sum, < 0 where a rule reaches, and the up-sell reach), the
    exclusions as boolean masks, then row-wise `argmin` passes over one key per (customer,
    product): reserved up-sells, candidates by score descending, popular fill by rank; ties go
    to the lower product id. Nothing loops over customers.
    """

    n_products = cat.ids.size
    index = pl.DataFrame({"product_id": cat.ids, "_i": np.arange(n_products, dtype=np.int64)})
    rows = (
        hist.select(
            pl.col("customer_id").cast(pl.Int64),
            pl.col("product_id").cast(pl.Int64),
            "item_rank",
            (pl.col("last_at") >= pl.lit(cut, dtype=pl.Datetime("us"))).alias("_recent"),
        )
        .join(index, on="product_id", how="left")
        .sort("customer_id", "item_rank")
    )
    customers, starts = np.unique(rows["customer_id"].to_numpy(), return_index=True)
    row_customer = np.searchsorted(customers, rows["customer_id"].to_numpy())
    product = rows["_i"].to_numpy().astype(np.int64)
    item_rank = rows["item_rank"].to_numpy().astype(np.int64)
    recent = rows["_recent"].to_numpy()
    n_categories = int(cat.category.max()) + 1 if cat.category.size else 0
    chunk = max(1, budget // max(n_products, 1))
    stacked = cat.stacked
    popular_key = np.where(cat.popular_rank > 0, 10.0 + cat.popular_rank, np.inf)
    category = np.where(cat.category >= 0, cat.category, n_categories)
    parts = []
    for first in range(0, customers.size, chunk):  # memory-bounded chunks of customers
        last = min(first + chunk, customers.size)
        lo = starts[first]
        hi = starts[last] if last < customers.size else product.size
        r = row_customer[lo:hi] - first
        p, k = product[lo:hi], item_rank[lo:hi]
        m = last - first
        owned = np.zeros((m, n_products), dtype=bool)
        owned[r, p] = True
        capped = k <= max_items
        items = np.full((m, max_items), -1, dtype=np.int64)
        items[r[capped], k[capped] - 1] = p[capped]
        held = np.zeros((m, n_products), dtype=np.float32)
        held[r[capped], p[capped]] = 1.0
        # one product: the noisy-OR log-miss sums (< 0 where a rule reaches) | up-sell reach
        with threadpool_limits(1):
            sums = held @ stacked
        log_miss = sums[:, :n_products]
        cross = log_miss < 0
        cross &= ~owned
        if n_categories:
            recent_cat = np.zeros((m, n_categories + 1), dtype=bool)
            seen = recent[lo:hi] & (cat.category[p] >= 0)
            recent_cat[r[seen], cat.category[p[seen]]] = True
            cross &= ~recent_cat[:, category]
        up = sums[:, n_products:] > 0
        up &= ~owned
        # key: reserved up-sells, then candidates by score, then the popular fill by rank;
        # argmin takes the lower product index on ties
        key = np.where(up, -cat.rate, np.inf)
        best_row, best_up, _place = _smallest(key.copy(), upsell_slots)
        np.copyto(key, np.expm1(log_miss, dtype=np.float64), where=cross & ~up)  # -score
        np.copyto(key, popular_key, where=~(up | cross) & ~owned)
        key[best_row, best_up] -= 10.0
        who, offer, slot = _smallest(key, top_n)
        score = np.where(
            up[who, offer], cat.rate[offer], -np.expm1(log_miss[who, offer], dtype=np.float64)
        )
        kind_up = up[who, offer]
        kind_cross = ~kind_up & cross[who, offer]
        # the reason: for cross-sell the owned item with the highest confidence (most recent on
        # ties); for up-sell a standard item of the line, same category first, most recent next
        mine = items[who]
        ok = mine >= 0
        conf = np.where(ok, cat.conf[np.where(ok, mine, 0), offer[:, None]], -1.0)
        by_conf = np.argmax(conf, axis=1)
        same = (cat.category[np.where(ok, mine, 0)] == cat.category[offer][:, None]) & (
            cat.category[offer][:, None] >= 0
        )
        can_up = ok & cat.upsell[np.where(ok, mine, 0), offer[:, None]]
        up_pref = np.where(can_up, np.where(same, 0, max_items) + np.arange(max_items), np.inf)
        by_line = np.argmin(up_pref, axis=1)
        because = np.where(
            kind_up,
            mine[np.arange(who.size), by_line],
            np.where(kind_cross, mine[np.arange(who.size), by_conf], -1),
        )
        confidence = np.where(
            kind_up,
            cat.rate[offer],
            np.where(kind_cross, conf[np.arange(who.size), by_conf], np.nan),
        )
        lift = np.where(
            kind_up,
            cat.up_lift[offer],
            np.where(kind_cross, cat.lift[np.where(because >= 0, because, 0), offer], np.nan),
        )
        parts.append(
            pl.DataFrame(
                {
                    "customer_id": customers[first + who],
                    "rank": slot.astype(np.int64) + 1,
                    "product_id": cat.ids[offer],
                    "kind": np.where(
                        kind_up, "up_sell", np.where(kind_cross, "cross_sell", "popular")
                    ),
                    "score": np.where(kind_up | kind_cross, score, np.nan),
                    "confidence": confidence,
                    "lift": lift,
                    "because_product_id": np.where(
                        because >= 0, cat.ids[np.where(because >= 0, because, 0)], -1
                    ),
                }
            )
        )
    schema = {
        "customer_id": pl.Int64,
        "rank": pl.Int64,
        "product_id": pl.Int64,
        "kind": pl.String,
        "score": pl.Float64,
        "confidence": pl.Float64,
        "lift": pl.Float64,
        "because_product_id": pl.Int64,
    }
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts).with_columns(
        pl.col("score", "confidence", "lift").fill_nan(None),
        pl.when(pl.col("because_product_id") >= 0)
        .then(pl.col("because_product_id"))
        .alias("because_product_id"),
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
