"""Next best offer: association figures, exclusions, up-sell, offline evaluation."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from django.utils import translation

from dangol.analytics import nbo
from dangol.analytics.tests.synthetic import make_products, make_shop

UTC = dt.UTC
AS_OF = dt.date(2025, 6, 1)


def _lines(rows: list[tuple[int, int, int, dt.datetime]]) -> pl.DataFrame:
    """(order_id, customer_id, product_id, placed_at) rows as a lines frame."""
    return pl.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "product_id": [r[2] for r in rows],
            "quantity": [1] * len(rows),
            "line_total": [1000.0] * len(rows),
            "placed_at": [r[3] for r in rows],
        },
        schema_overrides={"placed_at": pl.Datetime("us", "UTC")},
    )


def test_support_confidence_lift_on_a_tiny_basket_set() -> None:
    day = dt.datetime(2025, 5, 1, tzinfo=UTC)
    lines = _lines(
        [
            (1, 1, 101, day),
            (1, 1, 102, day),
            (2, 2, 101, day),
            (3, 2, 102, day),  # a later order: customer histories count, not just baskets
            (4, 3, 101, day),
            (5, 4, 103, day),
        ]
    )
    hist = nbo._histories(lines, AS_OF)
    rules = nbo.association_rules(hist, min_pair_customers=1)
    ab = rules.filter((pl.col("antecedent_id") == 101) & (pl.col("consequent_id") == 102))
    ba = rules.filter((pl.col("antecedent_id") == 102) & (pl.col("consequent_id") == 101))
    # N = 4 customers; n(101) = 3, n(102) = 2, n(101 and 102) = 2
    assert ab.row(0, named=True) == pytest.approx(
        {
            "antecedent_id": 101,
            "consequent_id": 102,
            "pair_customers": 2,
            "support": 0.5,
            "confidence": 2 / 3,
            "lift": (2 / 3) / (2 / 4),
        }
    )
    assert ba["confidence"].item() == pytest.approx(1.0)
    assert ba["lift"].item() == pytest.approx(1.0 / (3 / 4))
    assert rules.filter(pl.col("consequent_id") == 103).is_empty()  # never bought together


@pytest.fixture(scope="module")
def shop():  # type: ignore[no-untyped-def]
    return make_shop(3000, seed=5)


def test_excludes_owned_and_recently_bought_categories(shop) -> None:  # type: ignore[no-untyped-def]
    result = nbo.recommend(shop.lines, shop.products, as_of=shop.end, top_n=5, recent_days=30)
    recs = result.recommendations
    assert recs.height > 0
    cut = dt.datetime.combine(shop.end, dt.time(), tzinfo=UTC)
    before = shop.lines.filter(pl.col("placed_at") < cut)
    owned = before.select("customer_id", "product_id").unique()
    assert recs.join(owned, on=["customer_id", "product_id"]).is_empty()
    paths = shop.products.select("product_id", "category_path")
    recent = (
        before.filter(pl.col("placed_at") >= cut - dt.timedelta(days=30))
        .join(paths, on="product_id")
        .select("customer_id", "category_path")
        .unique()
    )
    cross = recs.filter(pl.col("kind") == "cross_sell").join(paths, on="product_id")
    assert cross.join(recent, on=["customer_id", "category_path"]).is_empty()
    assert recs.group_by("customer_id").len()["len"].max() <= 5
    assert recs["reason"].str.len_chars().min() > 0


def test_premium_up_sell_for_a_standard_line_buyer(shop) -> None:  # type: ignore[no-untyped-def]
    products = make_products()
    serum = products.filter((pl.col("line") == "glow") & (pl.col("name") == "glow serum"))
    premium = products.filter((pl.col("line") == "glow") & (pl.col("tier") == "premium"))
    buyer = 777_777
    extra = _lines(
        [(9_000_000, buyer, serum["product_id"].item(), dt.datetime(2025, 1, 10, tzinfo=UTC))]
    ).with_columns(pl.col("line_total").cast(pl.Float64))
    lines = pl.concat([shop.lines, extra.select(shop.lines.columns)], how="vertical_relaxed")
    with translation.override("en"):
        recs = nbo.recommend(lines, products, as_of=shop.end).recommendations
    mine = recs.filter(pl.col("customer_id") == buyer)
    up = mine.filter(pl.col("kind") == "up_sell")
    assert up["product_id"].to_list() == [premium["product_id"].item()]
    assert up["because_product_id"].item() == serum["product_id"].item()
    assert up["reason"].item().startswith("bought glow serum; ")
    cross = recs.filter(pl.col("kind") == "cross_sell").head(1)
    assert " buyers buy " in cross["reason"].item()
    assert "x the usual rate" in cross["reason"].item()


def test_evaluation_returns_both_figures_and_beats_popularity(shop) -> None:  # type: ignore[no-untyped-def]
    figures = nbo.evaluate(
        shop.lines, shop.products, split_date=shop.end - dt.timedelta(days=90), top_n=5
    )
    assert set(figures) >= {"k", "customers", "hit_rate", "popularity_hit_rate"}
    assert figures["k"] == 5
    assert figures["customers"] > 100
    assert 0.0 <= figures["hit_rate"] <= 1.0
    assert 0.0 <= figures["popularity_hit_rate"] <= 1.0
    assert figures["hit_rate"] > figures["popularity_hit_rate"]
