"""The behavioural purchase model, in memory at the small size."""

from __future__ import annotations

import datetime

import numpy as np

from dangol.demo.catalog import build_catalog
from dangol.demo.people import generate_records
from dangol.demo.purchases import CustomerBatch, generate_purchases, retail_calendar

CHANNELS = {"online": 1, "app": 2, "marketplace": 3, "call-center": 4, "wholesale": 5}
STORES = {"seoul": [6, 7], "busan": [8], "jeju": [9]}


def _simulate(n: int, seed: int):
    rng = np.random.default_rng(seed)
    cal = retail_calendar(datetime.date(2025, 11, 1))
    rec = generate_records(n, seed)
    batch = CustomerBatch(
        customer_id=rec["record_id"].to_numpy(),
        signup_day=np.minimum(cal.days * (1 - rng.power(2.5, n)), cal.days - 1e-3),
        channel=rec["signup_channel"].to_numpy().astype(object),
        region=rec["region"].to_numpy().astype(object),
        org_id=np.zeros(n, dtype=np.int64),
    )
    return cal, generate_purchases(
        batch, cal, build_catalog(), CHANNELS, STORES, first_order_id=1, first_line_id=1,
        first_return_id=1, first_return_line_id=1, rng=rng,
    )  # fmt: skip


def test_top_fifth_brings_60_to_70_percent_and_half_buy_once():
    _cal, p = _simulate(2_000, seed=42)
    o = p.orders
    ok = o["status"] != "cancelled"
    cid = o["customer_id"][ok] - 1
    revenue = np.bincount(cid, weights=(o["total"] - o["returned_amount"])[ok], minlength=2_000)
    orders = np.bincount(cid, minlength=2_000)
    buyers = orders > 0
    top = np.sort(revenue[buyers])[::-1]
    share = top[: len(top) // 5].sum() / top.sum()
    assert 0.60 <= share <= 0.70, share
    one_time = (orders[buyers] == 1).mean()
    assert 0.42 <= one_time <= 0.58, one_time
    assert 8 <= len(o["id"]) / 2_000 <= 14  # ≈10 orders per customer


def test_lines_add_up_and_seasons_show():
    cal, p = _simulate(2_000, seed=5)
    o, li = p.orders, p.lines
    idx = li["order_id"] - 1
    assert (np.bincount(idx, weights=li["line_total"]) == o["total"]).all()
    assert (o["subtotal"] - o["discount"] == o["total"]).all()
    # The gift weeks and Black Friday are busier than an ordinary day.
    day = (o["placed_at"] - cal.start_epoch) // 86_400
    per_day = np.bincount(day, minlength=cal.days)
    promo = cal.discount > 0
    assert per_day[promo].mean() > 1.3 * per_day[~promo].mean()


def test_same_seed_same_orders():
    _c1, a = _simulate(500, seed=9)
    _c2, b = _simulate(500, seed=9)
    assert all((a.orders[k] == b.orders[k]).all() for k in a.orders)
