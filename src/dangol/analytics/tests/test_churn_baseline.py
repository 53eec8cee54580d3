"""The churn model's BG/NBD baseline scores what the label asks (no purchase in the horizon),
from the history before the cutoff only, and ranks lapsed one-time buyers as churners.

1 − P(alive) used to be the baseline; BG/NBD lets customers drop out only after a repeat
purchase, so it is 0 for every one-time buyer, the group that churns most, and the demo's
baseline ROC-AUC was below 0.5 (0.396 at `small`)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from dangol.analytics import churn, clv
from dangol.analytics.tests.synthetic import SyntheticShop, make_shop

PARAMS = clv.BGNBD(r=0.6, alpha=4.0, a=0.9, b=3.0)


def _simulate(n: int, T: float, t: float, seed: int) -> tuple[clv.RFMArrays, np.ndarray]:
    """BG/NBD customers over (0, T + t]: their (x, t_x, T) at T and whether they bought in
    (T, T + t]. Vectorised over customers; the loop runs over purchase numbers."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(PARAMS.r, 1.0 / PARAMS.alpha, size=n)
    p = rng.beta(PARAMS.a, PARAMS.b, size=n)
    now = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    x = np.zeros(n)
    tx = np.zeros(n)
    later = np.zeros(n, dtype=bool)
    while alive.any():
        now = np.where(alive, now + rng.exponential(1.0 / lam), now)
        within = alive & (now <= T + t)
        before = within & (now <= T)
        x += before
        tx = np.where(before, now, tx)
        later |= within & (now > T)
        alive = within & (rng.random(n) >= p)  # drops out right after a repeat purchase
    return clv.RFMArrays(x, tx, np.full(n, T)), later


def test_p_no_purchase_matches_the_bgnbd_process() -> None:
    data, bought_later = _simulate(200_000, T=40.0, t=13.0, seed=3)
    predicted = PARAMS.p_no_purchase(13.0, data.frequency, data.recency, data.T)
    observed = ~bought_later
    for group in (data.frequency == 0, data.frequency == 1, data.frequency >= 2):
        assert abs(predicted[group].mean() - observed[group].mean()) < 0.01
    assert np.allclose(PARAMS.p_no_purchase(0.0, [0, 3], [0, 10], [40, 40]), 0.0)


def test_one_time_buyers_are_all_alive_but_not_all_coming_back() -> None:
    weeks_ago = np.array([1.0, 10.0, 50.0])  # one purchase, then silence for this long
    zeros = np.zeros(3)
    assert np.all(PARAMS.p_alive(zeros, zeros, weeks_ago) == 1.0)  # 1 − P(alive) = 0 for all
    quiet = PARAMS.p_no_purchase(13.0, zeros, zeros, weeks_ago)
    assert np.all(np.diff(quiet) > 0)  # the longer ago, the likelier no purchase


def test_the_baseline_uses_only_the_history_before_the_cutoff() -> None:
    shop = make_shop(600, seed=2)
    cutoff = shop.end - dt.timedelta(days=90)
    before = churn.bgnbd_p_alive(shop.orders, cutoff=cutoff, horizon_days=90)
    late = shop.orders.filter(pl.col("placed_at").dt.date() >= cutoff)
    doubled = pl.concat(
        [shop.orders, late.with_columns(pl.col("order_id") + 10_000_000)]
    )  # more orders after the cutoff change nothing
    again = churn.bgnbd_p_alive(doubled, cutoff=cutoff, horizon_days=90)
    assert before.sort("customer_id").equals(again.sort("customer_id"))


def _with_lapsed_one_time_buyers(
    n: int, seed: int
) -> tuple[SyntheticShop, pl.DataFrame, pl.DataFrame]:
    """The synthetic shop, and its orders and customers plus as many one-time buyers again,
    who bought once 6 to 24 months before the end and never came back (as in a real shop's and
    the demo's history)."""
    shop = make_shop(n, seed=seed)
    rng = np.random.default_rng(seed)
    ids = np.arange(5_000_000, 5_000_000 + n)
    days_ago = rng.uniform(180, 730, size=n)
    placed = [
        dt.datetime.combine(shop.end, dt.time(12), tzinfo=dt.UTC) - dt.timedelta(days=float(d))
        for d in days_ago
    ]
    extra = pl.DataFrame(
        {
            "customer_id": ids,
            "order_id": ids + 50_000_000,
            "placed_at": placed,
            "total": rng.uniform(15_000, 80_000, size=n),
            "channel_id": rng.integers(1, 4, size=n),
            "status": ["paid"] * n,
        }
    ).cast(shop.orders.schema)  # type: ignore[arg-type]
    customers = pl.concat(
        [
            shop.customers,
            shop.customers.head(n)
            .with_columns(pl.Series("customer_id", ids, dtype=shop.customers["customer_id"].dtype))
            .with_columns(
                pl.lit(placed[0]).cast(shop.customers["created_at"].dtype).alias("created_at")
            ),
        ]
    )
    return shop, pl.concat([shop.orders, extra]), customers


def test_baseline_ranks_lapsed_customers_as_churners_and_the_model_beats_it() -> None:
    shop, orders, customers = _with_lapsed_one_time_buyers(1500, seed=13)
    result = churn.train_and_score(
        orders, customers, as_of=shop.end, interactions=shop.interactions, returns=shop.returns
    )
    m = result.metrics
    assert float(m["one_time_share"]) > 0.3 and float(m["one_time_churn_rate"]) > 0.9
    assert float(m["p_alive_roc_auc"]) < float(m["baseline_roc_auc"])  # the old baseline
    assert float(m["baseline_roc_auc"]) > 0.5
    assert float(m["baseline_brier"]) < float(m["p_alive_brier"])
    assert float(m["roc_auc"]) > float(m["baseline_roc_auc"])
    assert float(m["brier"]) < float(m["baseline_brier"])
