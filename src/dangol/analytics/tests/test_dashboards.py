"""Dashboard data functions on a small shop built through the services and a real engine run.

The shop (business-threshold RFM scoring, so every score can be checked by hand; defaults:
recency 30/90/180/365 days, orders 2/3/5/10, spend 100k/300k/1M/3M KRW):

- 민준 (the rep's, store 강남점): 10 orders of 400,000, one every 30 days, the last 5 days
  before as-of → R5 F5 M5: Champions; spend 4,000,000 → grade Gold.
- 서연 (online): 3 orders of 50,000, 100/130/160 days before → R3 F3 M2: Potential loyalists.
- 지훈 (online): 1 order of 80,000, 400 days before → R1 F1 M1: Lost.
- 리드: no order → no segment, grade Welcome.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.analytics import churn, dashboards, engine, services
from dangol.analytics.dashboards import Filters
from dangol.analytics.models import CustomerMetrics, RFMScoring
from dangol.commerce import services as commerce

SEOUL = ZoneInfo("Asia/Seoul")
AS_OF = timezone.localdate() - dt.timedelta(days=1)

pytestmark = pytest.mark.django_db


def _order(
    customer: Any, product: Any, days_ago: int, price: int, channel: Any, actor: Any
) -> None:
    day = AS_OF - dt.timedelta(days=days_ago)
    commerce.place_order(
        data=commerce.OrderInput(
            customer=customer,
            lines=[commerce.LineInput(product=product, quantity=1, unit_price=Decimal(price))],
            placed_at=dt.datetime.combine(day, dt.time(13), SEOUL),
            channel=channel,
        ),
        actor=actor,
    )


def build_shop(admin: Any, make_customer: Any, rep: Any, *, runs: int = 1) -> dict[str, Any]:
    """The shop of the module docstring, analysed by `runs` engine runs (the last as of AS_OF,
    an earlier one 60 days before for RFM movement)."""
    services.update_rfm_config(actor=admin, scoring=RFMScoring.THRESHOLDS)
    services.create_grade_program(
        actor=admin,
        name="멤버십",
        activate=True,
        tiers=[
            services.TierInput("welcome", "웰컴", 0, benefits=["생일 쿠폰"]),
            services.TierInput(
                "gold", "골드", 1, min_spend=Decimal(1_000_000), benefits=["5% 적립", "무료 배송"]
            ),
        ],
    )
    store = commerce.create_sales_channel(code="gangnam", name="강남점", kind="store", actor=admin)
    online = commerce.create_sales_channel(code="web", name="온라인몰", kind="online", actor=admin)
    toner = commerce.create_product(actor=admin, sku="T-1", name="수분 토너", price=Decimal(50000))
    serum = commerce.create_product(actor=admin, sku="S-1", name="비타 세럼", price=Decimal(80000))
    minjun = make_customer(full_name="김민준", owner=rep)
    seoyeon = make_customer(full_name="이서연")
    jihun = make_customer(full_name="박지훈")
    lead = make_customer(full_name="최리드")
    for k in range(10):
        _order(minjun, toner, 5 + 30 * k, 400_000, store, admin)
    for days in (100, 130, 160):
        _order(seoyeon, toner, days, 50_000, online, admin)
    _order(jihun, serum, 400, 80_000, online, admin)
    if runs > 1:
        engine.run(as_of=AS_OF - dt.timedelta(days=60))
    run = engine.run(as_of=AS_OF)
    return {
        "run": run,
        "store": store,
        "online": online,
        "toner": toner,
        "serum": serum,
        "minjun": minjun,
        "seoyeon": seoyeon,
        "jihun": jihun,
        "lead": lead,
    }


@pytest.fixture
def rep(make_user: Any) -> Any:
    return make_user(role="rep")


@pytest.fixture
def marketer(make_user: Any) -> Any:
    return make_user(role="marketer")


@pytest.fixture
def shop(admin: Any, make_customer: Any, rep: Any) -> dict[str, Any]:
    return build_shop(admin, make_customer, rep)


def _by(frame: pl.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in frame.to_dicts()}


def test_rfm_segments_count_and_value_the_visible_customers(
    shop: dict[str, Any], marketer: Any, rep: Any
) -> None:
    segments = _by(dashboards.rfm_segments(marketer, Filters()), "segment")

    assert {s: r["customers"] for s, r in segments.items() if r["customers"]} == {
        "champions": 1,
        "potential_loyalists": 1,
        "lost": 1,
    }
    assert segments["champions"]["spend"] == 4_000_000  # 10 × 400,000 in the 365-day window
    assert segments["potential_loyalists"]["spend"] == 150_000
    assert segments["lost"]["spend"] == 0  # the only order is older than the window
    assert segments["champions"]["customer_share"] == pytest.approx(1 / 3)
    assert segments["champions"]["spend_share"] == pytest.approx(4_000_000 / 4_150_000)
    # the rep sees only their own customer
    mine = _by(dashboards.rfm_segments(rep, Filters()), "segment")
    assert sum(r["customers"] for r in mine.values()) == 1 and mine["champions"]["customers"] == 1


def test_rfm_grid_and_channel_filter(shop: dict[str, Any], marketer: Any) -> None:
    grid = dashboards.rfm_grid(marketer, Filters())
    cells = {(r["r_score"], r["f_score"]): r["customers"] for r in grid.to_dicts()}

    assert grid.height == 25
    assert {k: v for k, v in cells.items() if v} == {(5, 5): 1, (3, 3): 1, (1, 1): 1}
    online = Filters(channel=shop["online"].pk)
    assert dashboards.rfm_grid(marketer, online)["customers"].sum() == 2
    # a period keeps the customers who bought in it: only 민준 bought in the last 30 days
    recent = Filters(start=AS_OF - dt.timedelta(days=30), end=AS_OF)
    bought = _by(dashboards.rfm_segments(marketer, recent), "segment")
    assert {s: r["customers"] for s, r in bought.items() if r["customers"]} == {"champions": 1}


def test_rfm_movement_between_the_last_two_runs(
    admin: Any, make_customer: Any, rep: Any, marketer: Any
) -> None:
    build_shop(admin, make_customer, rep, runs=2)
    frame, run_a, run_b = dashboards.rfm_movement(marketer, Filters())
    moves = {(r["from_segment"], r["to_segment"]): r["customers"] for r in frame.to_dicts()}

    assert run_a is not None and run_b is not None and run_a.as_of < run_b.as_of
    # 60 days earlier 지훈's order was 340 days old (R2, inside the window): Hibernating → Lost
    assert moves[("hibernating", "lost")] == 1
    assert moves[("champions", "champions")] == 1
    assert moves[("", "")] == 1  # the lead never bought
    assert sum(moves.values()) == 4
    mine, _a, _b = dashboards.rfm_movement(rep, Filters())
    assert mine.to_dicts() == [
        {
            "from_segment": "champions",
            "from_label": "챔피언",
            "to_segment": "champions",
            "to_label": "챔피언",
            "customers": 1,
        }
    ]


def test_grade_distribution_benefits_and_migrations(shop: dict[str, Any], marketer: Any) -> None:
    board = dashboards.grades_dashboard(marketer, Filters())

    assert board is not None
    dist = _by(board["distribution"], "tier")
    assert (dist["gold"]["customers"], dist["welcome"]["customers"]) == (1, 3)
    assert dist["gold"]["avg_spend"] == 4_000_000
    assert [b["benefits"] for b in board["benefits"]] == [["5% 적립", "무료 배송"], ["생일 쿠폰"]]
    moves = board["migrations"].to_dicts()
    assert {(m["from_tier"], m["to_tier"], m["customers"]) for m in moves} == {
        ("등급 없음", "골드", 1),
        ("등급 없음", "웰컴", 3),
    }
    assert all(m["initial"] for m in moves)
    # a period before the run holds no change
    old = Filters(start=AS_OF - dt.timedelta(days=400), end=AS_OF - dt.timedelta(days=300))
    assert dashboards.grade_migrations(marketer, old, board["program"]).is_empty()


def _set_value(shop: dict[str, Any]) -> None:
    """Hand-set CLV and churn so that the value at risk is checkable (the tiny shop is too
    small for the CLV and churn models to fit)."""
    values = {"minjun": (1_500_000.0, 0.1), "seoyeon": (200_000.0, 0.9), "jihun": (None, 0.95)}
    bands = {0.1: "low", 0.9: "high", 0.95: "high"}
    for name, (clv, risk) in values.items():
        CustomerMetrics.objects.filter(customer=shop[name]).update(
            clv_12m=clv, churn_risk=risk, churn_band=bands[risk], churn_drivers=[f"{name} 이유"]
        )


def test_customers_to_save_rank_by_value_at_risk_like_churn_module(
    shop: dict[str, Any], marketer: Any, rep: Any
) -> None:
    _set_value(shop)
    ranked = dashboards.customers_to_save(marketer, Filters())

    # 민준 0.1 × 1.5M = 150,000; 서연 0.9 × 200k = 180,000; 지훈 0.95 × 0 (no CLV) = 0
    assert ranked["customer_id"].to_list() == [
        shop["seoyeon"].pk,
        shop["minjun"].pk,
        shop["jihun"].pk,
    ]
    assert ranked["value_at_risk"].to_list() == pytest.approx([180_000, 150_000, 0])
    assert ranked["name"].to_list() == ["이*연", "김*준", "박*훈"]  # masked
    assert ranked["drivers"][0] == "seoyeon 이유"
    rows = CustomerMetrics.objects.filter(churn_risk__isnull=False).values(
        "customer_id", "churn_risk", "clv_12m"
    )
    frame = pl.DataFrame(
        list(rows),
        schema={"customer_id": pl.Int64, "churn_risk": pl.Float64, "clv_12m": pl.Float64},
    )
    expected = churn.customers_to_save(
        frame.select("customer_id", "churn_risk"), frame.select("customer_id", "clv_12m")
    )
    assert ranked["customer_id"].to_list() == expected["customer_id"].to_list()
    assert dashboards.customers_to_save(rep, Filters())["customer_id"].to_list() == [
        shop["minjun"].pk
    ]
    bands = _by(dashboards.churn_bands(marketer, Filters()), "band")
    assert (bands["high"]["customers"], bands["low"]["customers"]) == (2, 1)
    assert bands["high"]["value_at_risk"] == pytest.approx(180_000)


def test_clv_buckets_top_and_cohorts(shop: dict[str, Any], marketer: Any) -> None:
    _set_value(shop)
    dist = _by(dashboards.clv_distribution(marketer, Filters()), "low")

    assert dist[1_000_000]["customers"] == 1 and dist[1_000_000]["clv_12m"] == 1_500_000
    assert dist[200_000]["customers"] == 1  # 200,000 falls in [200k, 500k)
    assert dashboards.clv_distribution(marketer, Filters())["customers"].sum() == 2
    top = dashboards.top_clv_customers(marketer, Filters())
    assert top["customer_id"].to_list() == [shop["minjun"].pk, shop["seoyeon"].pk]
    by_cohort = dashboards.clv_by_cohort(marketer, Filters())
    assert by_cohort["customers"].sum() == 3  # the lead never bought: no cohort
    assert by_cohort["total_clv"].sum() == pytest.approx(1_700_000)


def test_cohort_kpis_and_revenue_share(shop: dict[str, Any], marketer: Any, rep: Any) -> None:
    everything = Filters(start=AS_OF - dt.timedelta(days=500), end=AS_OF)
    board = dashboards.cohorts_dashboard(marketer, everything)

    assert board is not None
    sizes = board["retention"].filter(pl.col("month_index") == 0)["cohort_size"]
    assert sizes.sum() == 3
    last = board["rates"].row(-1, named=True)
    assert last["repeat_purchase_rate"] == pytest.approx(2 / 3)  # 민준 and 서연 bought twice+
    share = board["share_grade"].group_by("group").agg(pl.col("revenue").sum())
    assert dict(share.iter_rows()) == {"골드": 4_000_000, "웰컴": 230_000}
    segments = board["share_segment"].group_by("group").agg(pl.col("revenue").sum())
    assert dict(segments.iter_rows())["이탈 고객"] == 80_000
    mine = dashboards.cohorts_dashboard(rep, everything)
    assert (
        mine is not None
        and mine["retention"].filter(pl.col("month_index") == 0)["cohort_size"].sum() == 1
    )
    store = dashboards.cohorts_dashboard(
        marketer, Filters(channel=shop["store"].pk, start=everything.start)
    )
    assert store is not None and store["share_grade"]["revenue"].sum() == 4_000_000


def test_offer_tally_counts_products_per_kind(shop: dict[str, Any], marketer: Any) -> None:
    toner, serum = shop["toner"].pk, shop["serum"].pk
    CustomerMetrics.objects.update(next_best_offers=[])  # replace what the engine offered
    CustomerMetrics.objects.filter(customer=shop["minjun"]).update(
        next_best_offers=[
            {
                "product_id": serum,
                "kind": "cross_sell",
                "score": 0.5,
                "because_product_id": toner,
                "reason": "r",
            }
        ]
    )
    CustomerMetrics.objects.filter(customer=shop["seoyeon"]).update(
        next_best_offers=[
            {
                "product_id": serum,
                "kind": "up_sell",
                "score": 0.3,
                "because_product_id": toner,
                "reason": "r",
            },
            {
                "product_id": toner,
                "kind": "popular",
                "score": 0.1,
                "because_product_id": None,
                "reason": "r",
            },
        ]
    )
    tally = _by(dashboards.offer_tally(marketer, Filters()), "product_id")

    assert tally[serum]["customers"] == 2 and tally[serum]["first_choice"] == 2
    assert (tally[serum]["cross_sell"], tally[serum]["up_sell"]) == (1, 1)
    assert tally[toner]["popular"] == 1 and tally[toner]["name"] == "수분 토너"
    assert dashboards.nbo_dashboard(marketer, Filters())["with_offers"] == 2


def test_all_scope_adds_no_customer_condition_and_results_are_cached(
    shop: dict[str, Any], marketer: Any
) -> None:
    dashboards.customer_scope(marketer)  # the role's grants load once per user object
    with CaptureQueriesContext(connection) as queries:
        dashboards.rfm_segments(marketer, Filters())
    assert len(queries) == 1
    sql = queries[0]["sql"].lower()
    assert "owner_id" not in sql and " in (" not in sql and "join" not in sql

    dashboards.rfm_dashboard(marketer, Filters())
    with CaptureQueriesContext(connection) as again:
        dashboards.rfm_dashboard(marketer, Filters())
    assert len(again) == 1  # only "which run is the last": the rest comes from the cache
