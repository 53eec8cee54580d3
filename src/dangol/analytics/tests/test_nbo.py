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


def _reference(result: nbo.NBOResult, lines: pl.DataFrame, products: pl.DataFrame) -> dict:  # type: ignore[type-arg]
    """The documented ranking, one customer at a time in plain Python (tests only): the
    vectorised scorer must produce exactly these lists from the same rules and rates."""
    top_n, max_items, recent_days = 5, nbo.DEFAULT_MAX_ITEMS, 30
    meta = {r["product_id"]: r for r in products.iter_rows(named=True)}
    hist = nbo._histories(lines, AS_OF)
    rates = nbo._upsell_rates(hist.select("customer_id", "product_id"), products)
    premiums: dict[str, list[tuple[int, float]]] = {}
    for r in rates.iter_rows(named=True):
        premiums.setdefault(r["line"], []).append((r["premium_id"], r["rate"]))
    rules: dict[int, dict[int, float]] = {}
    for r in result.rules.iter_rows(named=True):
        rules.setdefault(r["antecedent_id"], {})[r["consequent_id"]] = r["confidence"]
    popular = result.popular.filter(pl.col("rank") <= top_n + max_items)["product_id"].to_list()
    cut = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=recent_days)
    expected = {}
    for (customer,), rows in hist.sort("item_rank").group_by("customer_id", maintain_order=True):
        owned = set(rows["product_id"].to_list())
        capped = [
            p for p, k in zip(rows["product_id"], rows["item_rank"], strict=True) if k <= max_items
        ]
        bought = zip(rows["product_id"], rows["last_at"], strict=True)
        recent = {meta[p]["category_path"] for p, at in bought if at >= cut and p in meta}
        offers: dict[int, tuple[str, float, int]] = {}
        for x in capped:
            for y in rules.get(x, {}):
                if y in owned or y not in meta or meta[y]["category_path"] in recent:
                    continue
                miss = 1.0
                for x2 in capped:
                    miss *= 1.0 - min(rules.get(x2, {}).get(y, 0.0), 0.999)
                best = max(
                    capped, key=lambda x2: (rules.get(x2, {}).get(y, -1.0), -capped.index(x2))
                )
                offers[y] = ("cross_sell", 1.0 - miss, best)
        for x in capped:
            info = meta.get(x)
            if info is None or not info["line"] or info["tier"] == "premium":
                continue
            for p, rate in premiums.get(info["line"], []):
                if p in owned:
                    continue
                sources = [x2 for x2 in capped if x2 in meta and meta[x2]["line"] == info["line"]
                           and meta[x2]["tier"] != "premium"]  # fmt: skip
                best = min(
                    sources,
                    key=lambda x2: (
                        meta[x2]["category_path"] != meta[p]["category_path"],
                        capped.index(x2),
                    ),
                )
                offers[p] = ("up_sell", rate, best)
        ups = sorted(
            (p for p, o in offers.items() if o[0] == "up_sell"), key=lambda p: (-offers[p][1], p)
        )
        reserved = ups[:1]
        rest = sorted((p for p in offers if p not in reserved), key=lambda p: (-offers[p][1], p))
        fill = [p for p in popular if p not in owned and p not in offers]
        ranked = (reserved + rest + fill)[:top_n]
        expected[customer] = [
            (p, *offers[p][::2]) if p in offers else (p, "popular", None) for p in ranked
        ]
    return expected


def test_vectorised_ranking_equals_the_rules_applied_one_customer_at_a_time() -> None:
    shop = make_shop(400, seed=3)
    lines = shop.lines.filter(
        pl.col("placed_at") < dt.datetime.combine(AS_OF, dt.time(), tzinfo=UTC)
    )
    result = nbo.recommend(lines, shop.products, as_of=AS_OF, with_reasons=False, fit_sample=None)
    got: dict[int, list[tuple[int, str, int | None]]] = {}
    for r in result.recommendations.iter_rows(named=True):
        got.setdefault(r["customer_id"], []).append(
            (r["product_id"], r["kind"], r["because_product_id"])
        )
    expected = _reference(result, lines, shop.products)
    assert got == expected
    assert {k for offers in got.values() for _, k, _ in offers} == {
        "cross_sell",
        "up_sell",
        "popular",
    }


def test_rules_from_a_seeded_sample_and_everyone_scored(shop) -> None:  # type: ignore[no-untyped-def]
    full = nbo.recommend(shop.lines, shop.products, as_of=shop.end, with_reasons=False)
    sampled = nbo.recommend(
        shop.lines, shop.products, as_of=shop.end, with_reasons=False, fit_sample=500, seed=4
    )
    again = nbo.recommend(
        shop.lines, shop.products, as_of=shop.end, with_reasons=False, fit_sample=500, seed=4
    )
    assert full.fit_customers == full.n_customers  # 3,000 is under the default sample
    assert sampled.fit_customers == 500 < sampled.n_customers == full.n_customers
    assert sampled.recommendations.equals(again.recommendations)  # seeded: the same each run
    scored = sampled.recommendations["customer_id"].n_unique()
    assert scored == full.recommendations["customer_id"].n_unique() == full.n_customers
    assert not sampled.rules.equals(full.rules)  # learnt from fewer customers


def test_histories_rank_ties_by_product_id() -> None:
    day = dt.datetime(2025, 5, 1, tzinfo=UTC)
    lines = _lines(
        [(1, 1, 30, day), (1, 1, 10, day), (1, 1, 20, day), (2, 1, 40, day - dt.timedelta(1))]
    )
    hist = nbo._histories(lines, AS_OF)
    assert hist.select("product_id", "item_rank").rows() == [(10, 1), (20, 2), (30, 3), (40, 4)]


def test_a_stored_offer_is_worded_like_the_recommendation_in_either_language(shop) -> None:  # type: ignore[no-untyped-def]
    products = make_products()
    names = {r["product_id"]: (r["name"], r["line"] or "") for r in products.iter_rows(named=True)}
    for language in ("en", "ko"):
        with translation.override(language):
            result = nbo.recommend(shop.lines, products, as_of=shop.end)
            recs = result.recommendations.join(
                result.popular.select("product_id", "buyers"), on="product_id", how="left"
            ).with_columns(*nbo.reason_figures())
            assert set(recs["kind"]) >= {"cross_sell", "up_sell"}
            for row in recs.iter_rows(named=True):
                # what the engine stores: the figures (rounded), never the sentence
                stored = {
                    "product_id": row["product_id"],
                    "kind": row["kind"],
                    "because_product_id": row["because_product_id"],
                    "pct": row["pct"],
                    "lift": row["lift"],
                    "buyers": row["buyers"] if row["kind"] == "popular" else None,
                }
                assert nbo.offer_reason(stored, names) == row["reason"]


def test_an_offer_stored_before_the_figures_keeps_its_sentence() -> None:
    old = {"product_id": 1, "kind": "cross_sell", "score": 0.5, "reason": "토너 구매자 57%"}
    assert nbo.offer_reason(old, {}) == "토너 구매자 57%"
