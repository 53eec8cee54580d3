"""RFM: values, quintile and threshold scores, segments, and movement between runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dangol.analytics import engine, selectors, services
from dangol.analytics.models import CustomerMetrics, RFMConfig
from dangol.commerce import services as commerce
from dangol.core.errors import ValidationFailed

SEOUL = ZoneInfo("Asia/Seoul")
AS_OF = timezone.localdate() - dt.timedelta(days=1)


def buy(customer: Any, product: Any, days_ago: int, amount: int, actor: Any) -> None:
    """An order of `amount` KRW placed at noon (Seoul) `days_ago` days before AS_OF."""
    day = AS_OF - dt.timedelta(days=days_ago)
    commerce.place_order(
        data=commerce.OrderInput(
            customer=customer,
            lines=[commerce.LineInput(product=product, quantity=1, unit_price=Decimal(amount))],
            placed_at=dt.datetime.combine(day, dt.time(12), SEOUL),
        ),
        actor=actor,
    )


@pytest.fixture
def base(admin: Any, make_customer: Any) -> dict[str, Any]:
    """Five buyers with distinct recency/frequency/spend and one lead without orders."""
    product = commerce.create_product(actor=admin, sku="RFM-1", name="크림", price=Decimal(1000))
    people = {k: make_customer(full_name=f"고객 {k}") for k in "ABCDEF"}
    for days, amount in [(5, 100_000), (20, 200_000), (40, 300_000)]:
        buy(people["A"], product, days, amount, admin)
    buy(people["B"], product, 10, 50_000, admin)
    buy(people["C"], product, 200, 80_000, admin)
    buy(people["C"], product, 250, 70_000, admin)
    buy(people["D"], product, 400, 90_000, admin)  # outside the 365-day window
    for days in (100, 120, 130, 140):
        buy(people["E"], product, days, 100_000, admin)
    return {"people": people, "product": product}


def metrics(base: dict[str, Any]) -> dict[str, CustomerMetrics]:
    ids = {c.pk: k for k, c in base["people"].items()}
    return {ids[m.customer_id]: m for m in CustomerMetrics.objects.all()}


def test_values_quintile_scores_and_segments(base: dict[str, Any]) -> None:
    engine.run(only=["rfm"], as_of=AS_OF)

    m = metrics(base)
    assert (m["A"].recency_days, m["A"].frequency, m["A"].monetary) == (5, 3, 600_000)
    assert (m["D"].recency_days, m["D"].frequency, m["D"].monetary) == (400, 0, 0)
    assert (m["C"].recency_days, m["C"].frequency, m["C"].monetary) == (200, 2, 150_000)
    scores = {k: (v.r_score, v.f_score, v.m_score) for k, v in m.items()}
    assert scores == {
        "A": (5, 4, 5),
        "B": (4, 2, 2),
        "C": (2, 3, 3),
        "D": (1, 1, 1),
        "E": (3, 5, 4),
        "F": (None, None, None),
    }
    segments = {k: v.rfm_segment for k, v in m.items()}
    assert segments == {
        "A": "champions",
        "B": "new",
        "C": "at_risk",
        "D": "lost",
        "E": "loyal",
        "F": "",
    }


def test_threshold_scoring(base: dict[str, Any], admin: Any) -> None:
    services.update_rfm_config(actor=admin, scoring="thresholds")
    engine.run(only=["rfm"], as_of=AS_OF)

    m = metrics(base)
    scores = {k: (v.r_score, v.f_score, v.m_score, v.rfm_segment) for k, v in m.items()}
    assert scores["A"] == (5, 3, 3, "loyal")
    assert scores["B"] == (5, 1, 1, "new")
    assert scores["C"] == (2, 2, 2, "hibernating")
    assert scores["D"] == (1, 1, 1, "lost")
    assert scores["E"] == (3, 3, 3, "loyal")


def test_config_validation_refuses_bad_thresholds(admin: Any, db: Any) -> None:
    with pytest.raises(ValidationFailed) as err:
        services.update_rfm_config(
            actor=admin, recency_days=[90, 30, 180, 365], scoring="nope", window_days=0
        )
    assert {e.field for e in err.value.errors} == {"recency_days", "scoring", "window_days"}
    assert RFMConfig.current().recency_days == [30, 90, 180, 365]


def test_movement_matrix_between_two_runs(base: dict[str, Any], admin: Any) -> None:
    services.update_rfm_config(actor=admin, scoring="thresholds")
    first = engine.run(only=["rfm"], as_of=AS_OF)
    buy(base["people"]["D"], base["product"], 1, 10_000, admin)  # lost customer comes back
    second = engine.run(only=["rfm"], as_of=AS_OF)

    moves = {
        (r["from"], r["to"]): r["customers"] for r in selectors.rfm_movement(first.pk, second.pk)
    }
    assert moves == {
        ("loyal", "loyal"): 2,
        ("new", "new"): 1,
        ("hibernating", "hibernating"): 1,
        ("lost", "new"): 1,
        ("", ""): 1,
    }
    d = metrics(base)["D"]
    assert (d.rfm_segment, d.previous_rfm_segment) == ("new", "lost")
