"""The demo company's CRM setup: its RFM settings, its membership programme (고객등급) and a few
months of analytics history, all through the analytics services and the engine's public entry.

A Korean cosmetics retailer's membership: five grades on the last 12 months' spend and orders,
evaluated monthly, upgraded at once, downgraded at a month end after at least three months in a
grade, each grade with its points rate, free shipping and coupons. The RFM settings are the
business thresholds a CRM team would pick (24 months of frequency and spend, recency in days),
so the segments mean the same thing every month.

History: the engine can evaluate as of any past day (``as_of``), so the demo runs RFM and grades
as of the last day of each of the previous ``HISTORY_MONTHS`` months, then the full engine as of
yesterday. The RFM movement matrix then shows the moves since the last month end, and the grade
migration sankey the first grades, the upgrades and (once the minimum stay has passed, at the
last month end) the downgrades.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dangol.analytics import engine, services
from dangol.analytics.models import (
    EvaluationSchedule,
    GradeProgram,
    ModelRun,
    RFMScoring,
    RunTrigger,
    TierMatch,
)

PROGRAM_NAME = "단골 멤버십"
HISTORY_MONTHS = 4  # > the minimum stay, so the last month end can downgrade
# Customers up to which `dangol demo` computes the analytics by default (larger: on request).
ANALYTICS_AUTO_LIMIT = 200_000

RFM_SETTINGS: dict[str, Any] = {
    "window_days": 730,
    "scoring": RFMScoring.THRESHOLDS,
    "recency_days": [30, 90, 180, 365],
    "frequency_counts": [2, 3, 5, 10],
    "monetary_krw": [100_000, 300_000, 1_000_000, 3_000_000],
}

# (code, name, rank, 12-month spend in KRW, orders, benefits, description)
TIERS: list[tuple[str, str, int, int | None, int | None, list[str], str]] = [
    (
        "vvip", "VVIP", 4, 1_500_000, 12,
        ["구매 금액 5% 적립", "전 주문 무료배송", "생일 쿠폰 30,000원", "분기별 VVIP 기프트",
         "전담 뷰티 컨설턴트", "신제품 사전 체험"],
        "최근 12개월 150만 원 이상, 12회 이상 구매",
    ),
    (
        "vip", "VIP", 3, 700_000, 8,
        ["구매 금액 3% 적립", "전 주문 무료배송", "생일 쿠폰 20,000원", "VIP 전용 세일 사전 오픈"],
        "최근 12개월 70만 원 이상, 8회 이상 구매",
    ),
    (
        "gold", "골드", 2, 300_000, 4,
        ["구매 금액 2% 적립", "2만 원 이상 무료배송", "생일 쿠폰 10,000원", "월 1회 10% 할인 쿠폰"],
        "최근 12개월 30만 원 이상, 4회 이상 구매",
    ),
    (
        "silver", "실버", 1, 100_000, 2,
        ["구매 금액 1% 적립", "3만 원 이상 무료배송", "생일 쿠폰 5,000원"],
        "최근 12개월 10만 원 이상, 2회 이상 구매",
    ),
    (
        "welcome", "웰컴", 0, None, None,
        ["구매 금액 0.5% 적립", "첫 구매 15% 할인 쿠폰", "생일 쿠폰 3,000원"],
        "가입한 모든 회원",
    ),
]  # fmt: skip

Progress = Callable[[str], None]


def set_up(*, actor: Any) -> GradeProgram:
    """Set the RFM thresholds and create and activate the membership programme."""
    services.update_rfm_config(actor=actor, **RFM_SETTINGS)
    tiers = [
        services.TierInput(
            code=code,
            name=name,
            rank=rank,
            min_spend=Decimal(spend) if spend is not None else None,
            min_orders=orders,
            match=TierMatch.ALL,
            benefits=benefits,
            description=description,
        )
        for code, name, rank, spend, orders, benefits, description in TIERS
    ]
    return services.create_grade_program(
        actor=actor,
        name=PROGRAM_NAME,
        tiers=tiers,
        window_months=12,
        schedule=EvaluationSchedule.MONTHLY,
        upgrade_immediately=True,
        downgrade_at_period_end=True,
        min_stay_months=3,
        activate=True,
    )


def history_dates(as_of: dt.date, months: int = HISTORY_MONTHS) -> list[dt.date]:
    """The last day of each of the `months` months before the month of `as_of`, oldest first."""
    first = as_of.replace(day=1)
    ends = []
    for _ in range(months):
        end = first - dt.timedelta(days=1)
        ends.append(end)
        first = end.replace(day=1)
    return ends[::-1]


def run_analytics(
    *, actor: Any, as_of: dt.date | None = None, history_months: int = HISTORY_MONTHS,
    progress: Progress | None = None,
) -> list[ModelRun]:  # fmt: skip
    """RFM and grades as of each past month end, then every step as of `as_of` (yesterday)."""
    report: Progress = progress or (lambda _text: None)
    final = as_of or engine.default_as_of()
    runs = []
    for day in history_dates(final, history_months):
        report(f"rfm, grades @ {day.isoformat()}")
        runs.append(
            services.run_analytics(
                actor=actor, only=["rfm", "grades"], as_of=day, trigger=RunTrigger.COMMAND
            )
        )
    report(f"all steps @ {final.isoformat()}")
    runs.append(services.run_analytics(actor=actor, as_of=final, trigger=RunTrigger.COMMAND))
    return runs
