"""Synthetic cosmetics shop for the churn, NBO and cohort tests and benchmarks.

Customers follow the BG/NBD "buy till you die" process in continuous time (days):
each has a purchase rate λ ~ Gamma(shape, scale) and a dropout probability
p ~ Beta(a, b); after every purchase (the first included) they drop out with
probability p, otherwise the next purchase comes after an Exponential(1/λ) gap.

On top of that the generator plants signals a churn model can learn and a pure
BG/NBD model cannot see: customers who drop out often file a complaint (and
sometimes return goods) shortly after their last purchase.

Baskets follow a skincare routine per customer: a preferred product line, and
along the customer's orders the steps cleanser → toner → serum, with the next
step often in the same basket; loyal serum buyers upgrade to the premium serum
of their line. Sunscreens and masks without a line are bought at random with a
Zipf popularity, so popularity alone is a weak predictor of the next product.

Everything is vectorised with NumPy; the frames have exactly the columns the
analytics engine hands to `churn`, `nbo` and `cohorts`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

LINES = ("hydra", "calm", "glow", "pure", "vital", "aqua")
STEPS = ("cleanser", "toner", "serum")
MISC = (
    ("suncare/sunscreen", "데일리 선크림"),
    ("suncare/sunscreen", "톤업 선크림"),
    ("mask/sheet", "수분 시트마스크"),
    ("mask/sheet", "진정 시트마스크"),
    ("mask/sleeping", "슬리핑 마스크"),
    ("makeup/lip", "립밤"),
    ("makeup/lip", "틴트"),
    ("body/lotion", "바디로션"),
)
REGIONS = ("서울", "경기", "부산", "대구", "인천", "광주")
SIGNUP = ("web", "app", "store", "kakao")


@dataclass(frozen=True)
class SyntheticShop:
    """The generated frames plus the ground truth per customer."""

    orders: pl.DataFrame
    lines: pl.DataFrame
    products: pl.DataFrame
    customers: pl.DataFrame
    interactions: pl.DataFrame
    returns: pl.DataFrame
    truth: pl.DataFrame  # customer_id, lam, p, dropout_at (null while alive at `end`)
    end: dt.date


def make_products() -> pl.DataFrame:
    """Six lines × (cleanser, toner, serum, premium serum), then eight line-less items."""
    rows: list[dict[str, object]] = []
    category_ids = {"skincare/cleanser": 1, "skincare/toner": 2, "skincare/serum": 3}
    prices = {"cleanser": 18000.0, "toner": 24000.0, "serum": 38000.0}
    for line in LINES:
        for step in STEPS:
            path = f"skincare/{step}"
            rows.append(
                {
                    "name": f"{line} {step}",
                    "category_id": category_ids[path],
                    "category_path": path,
                    "line": line,
                    "tier": "standard",
                    "price": prices[step],
                }
            )
        rows.append(
            {
                "name": f"{line} premium serum",
                "category_id": 3,
                "category_path": "skincare/serum",
                "line": line,
                "tier": "premium",
                "price": 72000.0,
            }
        )
    for i, (path, name) in enumerate(MISC):
        rows.append(
            {
                "name": name,
                "category_id": 10 + i // 2,
                "category_path": path,
                "line": "",
                "tier": "standard",
                "price": 12000.0 + 1000.0 * i,
            }
        )
    return (
        pl.DataFrame(rows)
        .with_row_index("product_id", offset=1)
        .with_columns(pl.col("product_id").cast(pl.Int64), pl.col("category_id").cast(pl.Int64))
    )


def _group_cumsum(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum of `values` restarting at each group (groups are contiguous)."""
    total = np.cumsum(values)
    before = np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0.0)
    return total - np.repeat(before, counts)


def make_shop(
    n_customers: int = 3000,
    *,
    end: dt.date = dt.date(2025, 7, 1),
    years: float = 2.5,
    seed: int = 7,
    rate_shape: float = 1.2,
    rate_scale: float = 1 / 40,
    dropout_a: float = 1.0,
    dropout_b: float = 7.0,
    complaint_on_dropout: float = 0.6,
    max_repeats: int = 60,
) -> SyntheticShop:
    """Generate a shop with `n_customers` customers whose data ends before `end`."""
    rng = np.random.default_rng(seed)
    n = n_customers
    span = years * 365.25
    origin = dt.datetime.combine(end, dt.time()) - dt.timedelta(days=span)

    # ------------------------------------------------------------ customers
    created = rng.uniform(0.0, span - 7.0, size=n)
    lam = rng.gamma(rate_shape, rate_scale, size=n)
    p = rng.beta(dropout_a, dropout_b, size=n)
    repeats = np.minimum(rng.geometric(p) - 1, max_repeats)
    n_purchases = repeats + 1
    cust_line = rng.choice(len(LINES), size=n, p=np.array([0.3, 0.22, 0.18, 0.12, 0.1, 0.08]))
    premium_affinity = rng.random(n) < 0.5
    home_channel = rng.integers(1, 4, size=n)

    # --------------------------------------------------------------- orders
    cust_idx = np.repeat(np.arange(n), n_purchases)
    starts = np.concatenate(([0], np.cumsum(n_purchases)[:-1]))
    k = np.arange(cust_idx.size) - np.repeat(starts, n_purchases)  # order index per customer
    gaps = np.where(k == 0, 0.0, rng.exponential(1.0, cust_idx.size) / lam[cust_idx])
    t = (
        created[cust_idx]
        + rng.uniform(0.0, 2.0, cust_idx.size)
        + _group_cumsum(gaps, starts, n_purchases)
    )
    last_time = t[starts + n_purchases - 1]
    dropped = last_time < span  # the dropout purchase happened before the data ends
    keep = t < span
    cust_idx, k, t = cust_idx[keep], k[keep], t[keep]
    n_orders = cust_idx.size
    order_id = np.arange(1, n_orders + 1)

    # ---------------------------------------------------------------- lines
    # routine step per order: cleanser → toner → serum along the orders
    step = np.clip(k + (rng.random(n_orders) < 0.3) - (rng.random(n_orders) < 0.2), 0, 2)
    line = np.where(rng.random(n_orders) < 0.85, cust_line[cust_idx], rng.integers(0, 6, n_orders))
    premium = (step == 2) & (k >= 3) & premium_affinity[cust_idx] & (rng.random(n_orders) < 0.6)
    main_pid = 1 + line * 4 + np.where(premium, 3, step)
    with_next = (step < 2) & (rng.random(n_orders) < 0.5)
    next_pid = 1 + line * 4 + step + 1
    zipf = 1.0 / np.arange(1, len(MISC) + 1) ** 1.1
    with_misc = rng.random(n_orders) < 0.35
    misc_pid = 1 + len(LINES) * 4 + rng.choice(len(MISC), size=n_orders, p=zipf / zipf.sum())

    products = make_products()
    price = products["price"].to_numpy()
    line_order = np.concatenate([order_id, order_id[with_next], order_id[with_misc]])
    line_pid = np.concatenate([main_pid, next_pid[with_next], misc_pid[with_misc]])
    qty = 1 + (rng.random(line_order.size) < 0.15).astype(np.int64)
    cust_of_order = cust_idx + 1
    time_of_order = t
    placed = pl.Series(
        "placed_at",
        (np.datetime64(origin, "us") + (time_of_order * 86400e6).astype("timedelta64[us]")),
    ).cast(pl.Datetime("us", "UTC"))
    lines = (
        pl.DataFrame(
            {
                "order_id": line_order.astype(np.int64),
                "product_id": line_pid.astype(np.int64),
                "quantity": qty,
                "line_total": price[line_pid - 1] * qty,
            }
        )
        .join(
            pl.DataFrame(
                {"order_id": order_id.astype(np.int64), "customer_id": cust_of_order}
            ).with_columns(placed, pl.col("customer_id").cast(pl.Int64)),
            on="order_id",
        )
        .select("order_id", "customer_id", "product_id", "quantity", "line_total", "placed_at")
        .sort("order_id", "product_id")
    )
    channel = np.where(
        rng.random(n_orders) < 0.8, home_channel[cust_idx], rng.integers(1, 4, n_orders)
    )
    orders = (
        lines.group_by("order_id")
        .agg(pl.col("line_total").sum().alias("total"))
        .join(
            pl.DataFrame(
                {
                    "order_id": order_id.astype(np.int64),
                    "customer_id": cust_of_order.astype(np.int64),
                    "channel_id": channel.astype(np.int64),
                }
            ).with_columns(placed),
            on="order_id",
        )
        .select(
            "customer_id",
            "order_id",
            "placed_at",
            "total",
            pl.when(pl.col("channel_id") == 3)
            .then(None)
            .otherwise(pl.col("channel_id"))
            .alias("channel_id"),
            pl.lit("paid").alias("status"),
        )
        .sort("order_id")
    )

    # ------------------------------------------ complaints and returns (signal)
    def stamp(days: np.ndarray) -> pl.Series:
        return pl.Series(
            np.datetime64(origin, "us") + (days * 86400e6).astype("timedelta64[us]")
        ).cast(pl.Datetime("us", "UTC"))

    drop_ids = np.flatnonzero(dropped)
    complain = drop_ids[rng.random(drop_ids.size) < complaint_on_dropout]
    c_time = last_time[complain] + rng.uniform(0.5, 20.0, complain.size)
    background = rng.poisson(0.2, n)
    b_ids = np.repeat(np.arange(n), background)
    b_time = rng.uniform(created[b_ids], span)
    ids = np.concatenate([complain, b_ids])
    times = np.concatenate([c_time, b_time])
    kinds = np.where(rng.random(ids.size) < 0.5, "inquiry", "complaint")
    kinds[: complain.size] = "complaint"
    ok = times < span
    interactions = pl.DataFrame(
        {
            "customer_id": (ids[ok] + 1).astype(np.int64),
            "occurred_at": stamp(times[ok]),
            "channel": np.where(rng.random(int(ok.sum())) < 0.5, "call", "chat"),
            "kind": kinds[ok],
        }
    ).sort("occurred_at")
    ret = drop_ids[rng.random(drop_ids.size) < 0.3]
    r_time = last_time[ret] + rng.uniform(0.5, 10.0, ret.size)
    ok = r_time < span
    returns = pl.DataFrame(
        {
            "customer_id": (ret[ok] + 1).astype(np.int64),
            "returned_at": stamp(r_time[ok]),
            "amount": np.full(int(ok.sum()), 20000.0),
        }
    )

    customers = pl.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "created_at": stamp(created),
            "region": np.asarray(REGIONS)[rng.integers(0, len(REGIONS), n)],
            "gender": np.where(rng.random(n) < 0.8, "F", "M"),
            "birth_year": np.where(rng.random(n) < 0.9, rng.integers(1960, 2006, n), -1),
            "signup_channel": np.asarray(SIGNUP)[rng.integers(0, len(SIGNUP), n)],
        }
    ).with_columns(
        pl.when(pl.col("birth_year") < 0)
        .then(None)
        .otherwise(pl.col("birth_year"))
        .alias("birth_year")
    )
    truth = (
        pl.DataFrame(
            {
                "customer_id": np.arange(1, n + 1, dtype=np.int64),
                "lam": lam,
                "p": p,
                "dropped": dropped,
            }
        )
        .with_columns(
            pl.when(pl.col("dropped")).then(stamp(last_time)).otherwise(None).alias("dropout_at")
        )
        .drop("dropped")
    )
    return SyntheticShop(
        orders=orders,
        lines=lines,
        products=products,
        customers=customers,
        interactions=interactions,
        returns=returns,
        truth=truth,
        end=end,
    )
