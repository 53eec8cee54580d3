"""The behavioural purchase model, in memory: life stories that give every RFM segment, churn
precursors, cohort seasonality and baskets with cross-sell structure."""

from __future__ import annotations

import datetime

import numpy as np
import polars as pl
import pytest

from dangol.analytics import rfm
from dangol.demo import programs
from dangol.demo.catalog import build_catalog
from dangol.demo.people import generate_records
from dangol.demo.purchases import (
    DAY,
    CustomerBatch,
    generate_purchases,
    retail_calendar,
    signup_days,
)

CHANNELS = {"online": 1, "app": 2, "marketplace": 3, "call-center": 4, "wholesale": 5}
STORES = {"seoul": [6, 7], "busan": [8], "jeju": [9]}
END = datetime.date(2025, 11, 1)


def _simulate(n: int, seed: int):
    rng = np.random.default_rng(seed)
    cal = retail_calendar(END)
    rec = generate_records(n, seed)
    batch = CustomerBatch(
        customer_id=rec["record_id"].to_numpy(),
        signup_day=signup_days(cal, n, rng),
        channel=rec["signup_channel"].to_numpy().astype(object),
        region=rec["region"].to_numpy().astype(object),
        org_id=np.zeros(n, dtype=np.int64),
    )
    return cal, batch, generate_purchases(
        batch, cal, build_catalog(), CHANNELS, STORES, first_order_id=1, first_line_id=1,
        first_return_id=1, first_return_line_id=1, rng=rng,
    )  # fmt: skip


@pytest.fixture(scope="module")
def base():
    return _simulate(6_000, seed=42)


def _counted(p):
    o = p.orders
    ok = o["status"] != "cancelled"
    return o["customer_id"][ok] - 1, (o["total"] - o["returned_amount"])[ok], o["placed_at"][ok]


def test_top_fifth_brings_60_to_70_percent_and_a_third_buy_once(base):
    _cal, _batch, p = base
    cid, amount, _at = _counted(p)
    revenue = np.bincount(cid, weights=amount, minlength=6_000)
    orders = np.bincount(cid, minlength=6_000)
    buyers = orders > 0
    top = np.sort(revenue[buyers])[::-1]
    share = top[: len(top) // 5].sum() / top.sum()
    assert 0.60 <= share <= 0.72, share
    one_time = (orders[buyers] == 1).mean()
    assert 0.30 <= one_time <= 0.45, one_time
    assert 5 <= len(p.orders["id"]) / 6_000 <= 10


def test_every_rfm_segment_is_populated_and_champions_do_not_take_everything(base):
    _cal, _batch, p = base
    cid, amount, at = _counted(p)
    day = pl.Series((at + 9 * 3600) // DAY, dtype=pl.Int32).cast(pl.Date)
    orders = pl.DataFrame({"customer_id": cid.astype(np.int64), "day": day, "amount": amount})
    as_of = END - datetime.timedelta(days=1)
    for settings, least in (
        (rfm.RFMSettings(**programs.RFM_SETTINGS), 0.02),  # the demo's own settings
        (rfm.RFMSettings(), 0.002),  # quintiles over 12 months (the engine's default)
    ):
        values = rfm.rfm_values(
            orders, pl.Series(np.arange(6_000)), as_of=as_of, window_days=settings.window_days
        )
        scored = rfm.score(values, settings).filter(pl.col("rfm_segment") != "")
        share = dict(scored.group_by("rfm_segment").len().iter_rows())
        revenue = dict(scored.group_by("rfm_segment").agg(pl.col("monetary").sum()).iter_rows())
        for segment in rfm.SEGMENTS:
            assert share.get(segment, 0) / scored.height >= least, (segment, share)
        champions = revenue["champions"] / sum(revenue.values())
        assert 0.4 <= champions <= 0.85, champions


def test_leaving_regulars_thin_out_return_more_and_new_customers_keep_coming(base):
    cal, batch, p = base
    cid, _amount, at = _counted(p)
    leavers = np.flatnonzero(p.leaves)
    assert 0.15 <= len(leavers) / 6_000 <= 0.4
    # Gaps widen: the last gap of a leaving regular is longer than their earlier ones.
    order = np.lexsort((at, cid))
    cid, at = cid[order], at[order]
    gaps = np.diff(at).astype(float)
    same = np.diff(cid) == 0
    last_gap = np.zeros(6_000)
    first_gaps = np.zeros(6_000)
    n_gaps = np.zeros(6_000)
    idx = np.flatnonzero(same)
    np.add.at(first_gaps, cid[idx], gaps[idx])
    np.add.at(n_gaps, cid[idx], 1)
    last_gap[cid[idx]] = gaps[idx]  # the last assignment per customer wins: the last gap
    many = leavers[n_gaps[leavers] >= 5]
    regulars = np.flatnonzero(~p.dropped_out & (n_gaps >= 5))
    ratio_leavers = np.median(last_gap[many] / (first_gaps[many] / n_gaps[many]))
    ratio_regulars = np.median(last_gap[regulars] / (first_gaps[regulars] / n_gaps[regulars]))
    assert ratio_leavers > 1.3 * ratio_regulars, (ratio_leavers, ratio_regulars)
    # Returns: leaving regulars return more.
    returned = np.isin(np.arange(6_000), p.returns["customer_id"] - 1)
    assert returned[p.leaves].mean() > 1.5 * returned[~p.dropped_out].mean()
    # Newcomers: the last month has its signups, and promotion days bring more of them.
    day = np.floor(batch.signup_day).astype(int)
    assert (day >= cal.days - 30).sum() >= 0.015 * 6_000
    per_day = np.bincount(day, minlength=cal.days)
    promo = cal.discount > 0
    assert per_day[promo].mean() > 1.3 * per_day[~promo].mean()


def test_baskets_have_cross_sell_structure(base):
    _cal, _batch, p = base
    catalog = build_catalog()
    li = p.lines
    product = li["product_id"] - catalog.first_id
    owner = p.orders["customer_id"][li["order_id"] - 1] - 1
    step = catalog.step[product]
    bought = np.zeros((6_000, 16), dtype=bool)
    bought[owner, step] = True
    buyers = bought.any(axis=1)
    # Shampoo buyers also buy treatment far more often than customers do on average; likewise
    # cushion (makeup base) and lip tint.
    for a, b in ((9, 10), (6, 7), (11, 12)):
        lift = bought[bought[:, a], b].mean() / bought[buyers, b].mean()
        assert lift > 1.5, (a, b, lift)


def test_lines_add_up_and_seasons_show():
    cal, _batch, p = _simulate(2_000, seed=5)
    o, li = p.orders, p.lines
    idx = li["order_id"] - 1
    assert (np.bincount(idx, weights=li["line_total"]) == o["total"]).all()
    assert (o["subtotal"] - o["discount"] == o["total"]).all()
    # The gift weeks and Black Friday are busier than an ordinary day.
    day = (o["placed_at"] - cal.start_epoch) // 86_400
    per_day = np.bincount(day, minlength=cal.days)
    promo = cal.discount > 0
    assert per_day[promo].mean() > 1.3 * per_day[~promo].mean()
    # Every customer's orders are in date order (ids follow the customer's story).
    same = np.diff(o["customer_id"]) == 0
    assert (np.diff(day)[same] >= 0).all()


def test_same_seed_same_orders():
    _c1, _b1, a = _simulate(500, seed=9)
    _c2, _b2, b = _simulate(500, seed=9)
    assert all((a.orders[k] == b.orders[k]).all() for k in a.orders)
    assert all((a.lines[k] == b.lines[k]).all() for k in a.lines)
