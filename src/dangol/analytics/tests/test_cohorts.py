"""Cohorts and KPIs on a tiny hand-made order set (values checked by hand)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dangol.analytics import cohorts

AS_OF = dt.date(2025, 3, 15)


@pytest.fixture
def orders() -> pl.DataFrame:
    # customer 1: Jan 100, Feb 50 + 10 (the 10 is 2025-01-31 16:00 UTC = Feb 1 01:00 KST)
    # customer 2: Jan 200, Mar 20; customer 3: Feb 70; an order after as_of is ignored
    return pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 3, 1, 3],
            "order_id": [1, 2, 3, 4, 5, 6, 7],
            "placed_at": [
                dt.datetime(2025, 1, 5),
                dt.datetime(2025, 2, 5),
                dt.datetime(2025, 1, 20),
                dt.datetime(2025, 3, 2),
                dt.datetime(2025, 2, 10),
                dt.datetime(2025, 1, 31, 16),
                dt.datetime(2025, 3, 20),
            ],
            "total": [100.0, 50.0, 200.0, 20.0, 70.0, 10.0, 999.0],
            "channel_id": [1] * 7,
            "status": ["paid"] * 7,
        }
    ).with_columns(pl.col("placed_at").dt.replace_time_zone("UTC"))


def test_retention_and_revenue_triangle(orders: pl.DataFrame) -> None:
    tri = cohorts.retention(orders, as_of=AS_OF)
    got = tri.select(
        pl.col("cohort").cast(pl.String),
        "month_index",
        "cohort_size",
        "customers",
        "retention",
        "revenue",
        "cumulative_revenue_per_customer",
        "complete",
    ).rows()
    assert got == [
        ("2025-01-01", 0, 2, 2, 1.0, 300.0, 150.0, True),
        ("2025-01-01", 1, 2, 1, 0.5, 60.0, 180.0, True),
        ("2025-01-01", 2, 2, 1, 0.5, 20.0, 190.0, False),
        ("2025-02-01", 0, 1, 1, 1.0, 70.0, 70.0, True),
        ("2025-02-01", 1, 1, 0, 0.0, 0.0, 70.0, False),
    ]


def test_monthly_kpis(orders: pl.DataFrame) -> None:
    k = cohorts.kpis(orders, as_of=AS_OF, active_months=1)
    assert k["month"].cast(pl.String).to_list() == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert k["active_customers"].to_list() == [2, 2, 1]
    assert k["new_customers"].to_list() == [2, 1, 0]
    assert k["returning_customers"].to_list() == [0, 1, 1]
    assert k["revenue"].to_list() == [300.0, 130.0, 20.0]
    assert k["repeat_purchase_rate"].to_list() == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert k["churned"].to_list() == [0, 1, 2]  # Feb: customer 2; Mar: customers 1 and 3
    assert k["churn_rate"].to_list()[1:] == pytest.approx([0.5, 1.0])
    quarter = cohorts.kpis(orders, as_of=AS_OF, active_months=3)
    assert quarter["churned"].to_list() == [0, 0, 0]
    assert quarter["active_base"].to_list() == [2, 3, 3]


def test_clv_and_revenue_shares(orders: pl.DataFrame) -> None:
    metrics = pl.DataFrame(
        {"customer_id": [1, 2], "grade": ["VIP", "Gold"], "rfm_segment": ["champions", "at_risk"]}
    )
    clv = pl.DataFrame({"customer_id": [1, 2], "clv_12m": [10.0, 30.0]})
    report = cohorts.compute(orders, as_of=AS_OF, clv=clv, metrics=metrics)
    assert report.clv_by_cohort is not None
    assert report.clv_by_cohort.rows() == [
        (dt.date(2025, 1, 1), 2, 20.0, 40.0),
        (dt.date(2025, 2, 1), 1, 0.0, 0.0),
    ]
    share = report.revenue_share
    assert share is not None
    feb = share.filter((pl.col("dimension") == "grade") & (pl.col("month") == dt.date(2025, 2, 1)))
    assert dict(zip(feb["group"], feb["share"], strict=True)) == pytest.approx(
        {"VIP": 60 / 130, "unassigned": 70 / 130}
    )
    sums = share.group_by("dimension", "month").agg(pl.col("share").sum())["share"]
    assert sums.to_list() == pytest.approx([1.0] * sums.len())
