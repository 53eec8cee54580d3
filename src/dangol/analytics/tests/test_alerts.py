"""Churn early warning (analytics/alerts.py): who counts as valuable, what counts as moving
into high risk, the cap; and end to end through the engine: a valuable customer's band moves
into high → ``customer.churn_risk_high`` → one follow-up task for the owner, never two."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from django.test import Client
from django.utils import timezone

from dangol.analytics import alerts, churn, engine
from dangol.analytics.models import CustomerMetrics
from dangol.commerce import services as commerce
from dangol.core import events

SEOUL = ZoneInfo("Asia/Seoul")
AS_OF = timezone.localdate() - dt.timedelta(days=1)


def _frames(rows: list[tuple[int, str, str, float | None, int | None]]) -> tuple[Any, Any]:
    """(customer_id, previous band, new band, clv_12m, grade_id) → (previous, metrics)."""
    previous = pl.DataFrame(
        {"customer_id": [r[0] for r in rows], "churn_band": [r[1] for r in rows]},
        schema={"customer_id": pl.Int64, "churn_band": pl.String},
    ).filter(pl.col("churn_band") != "missing")
    metrics = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "churn_band": [r[2] for r in rows],
            "churn_risk": [0.8 if r[2] == "high" else 0.3 for r in rows],
            "clv_12m": [r[3] for r in rows],
            "grade_id": [r[4] for r in rows],
            "churn_drivers": ['["150일째 구매 없음"]'] * len(rows),
        },
        schema={
            "customer_id": pl.Int64,
            "churn_band": pl.String,
            "churn_risk": pl.Float64,
            "clv_12m": pl.Float64,
            "grade_id": pl.Int64,
            "churn_drivers": pl.String,
        },
    )
    return previous, metrics


def test_only_valuable_customers_who_moved_into_high_are_alerted() -> None:
    # nine customers with a CLV: the top 10 % is the one with 1000; tier 9 is a top tier
    rows: list[tuple[int, str, str, float | None, int | None]] = [
        (1, "medium", "high", 1000.0, None),  # valuable by CLV, moved → alert
        (2, "low", "high", 200.0, 9),  # valuable by grade, moved → alert
        (3, "high", "high", 900.0, 9),  # already high → none
        (4, "", "high", 800.0, 9),  # no band in the previous run → none
        (5, "missing", "high", 700.0, 9),  # not in the previous run at all → none
        (6, "medium", "high", 300.0, 3),  # moved, but neither top grade nor top CLV → none
        (7, "medium", "medium", 950.0, 9),  # valuable, did not move → none
        (8, "low", "high", None, None),  # no CLV, no grade → none
        (9, "low", "low", 400.0, None),
        (10, "low", "low", 500.0, None),
    ]
    previous, metrics = _frames(rows)
    rule = alerts.AlertRule(top_tiers=1, clv_top_percent=10, max_per_run=100)
    result = alerts.find_alerts(previous, metrics, rule=rule, tier_ids=[9])

    assert result.alerts["customer_id"].to_list() == [1, 2]  # largest value at risk first
    assert result.alerts["previous_band"].to_list() == ["medium", "low"]
    assert result.alerts["value_at_risk"].to_list() == pytest.approx([800.0, 160.0])
    assert result.moved_into_high == 4 and result.clv_threshold == 1000.0


def test_first_run_raises_no_alerts_and_the_cap_keeps_the_largest() -> None:
    rows: list[tuple[int, str, str, float | None, int | None]] = [
        (i, "low", "high", float(i * 100), 9) for i in range(1, 6)
    ]
    previous, metrics = _frames(rows)
    first = alerts.find_alerts(previous.head(0), metrics, rule=alerts.AlertRule(), tier_ids=[9])
    assert first.alerts.height == 0

    capped = alerts.find_alerts(
        previous, metrics, rule=alerts.AlertRule(max_per_run=2), tier_ids=[9]
    )
    assert capped.alerts["customer_id"].to_list() == [5, 4] and capped.capped == 3


def test_criteria_can_be_switched_off() -> None:
    previous, metrics = _frames([(1, "low", "high", 1000.0, 9), (2, "low", "low", 10.0, 1)])
    off = alerts.AlertRule(top_tiers=0, clv_top_percent=0)
    assert alerts.find_alerts(previous, metrics, rule=off, tier_ids=[]).alerts.height == 0


# --- end to end through the engine ------------------------------------------------------------


@dataclass
class _Scores:
    """What the churn step reads from ``churn.train_and_score``."""

    scores: pl.DataFrame
    bands: tuple[float, float] = churn.DEFAULT_BANDS
    metrics: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.metrics = self.metrics or {}


@pytest.fixture
def bands(monkeypatch: pytest.MonkeyPatch) -> dict[int, str]:
    """The churn step scores every customer with the band set here (default: low); the real
    model needs far more history than a test can build, and the alert logic is what is tested."""
    chosen: dict[int, str] = {}
    risk = {"low": 0.1, "medium": 0.5, "high": 0.85}

    def fake(orders: pl.DataFrame, customers: pl.DataFrame, **_kw: Any) -> _Scores:
        ids = customers["customer_id"].to_list()
        names = [chosen.get(i, "low") for i in ids]
        return _Scores(
            pl.DataFrame(
                {
                    "customer_id": ids,
                    "churn_risk": [risk[n] for n in names],
                    "churn_band": names,
                    "churn_drivers": [["150일째 구매 없음"] if n == "high" else [] for n in names],
                },
                schema={
                    "customer_id": pl.Int64,
                    "churn_risk": pl.Float64,
                    "churn_band": pl.String,
                    "churn_drivers": pl.List(pl.String),
                },
            )
        )

    monkeypatch.setattr(churn, "train_and_score", fake)
    return chosen


@pytest.fixture
def shop(admin: Any, make_customer: Any, make_user: Any) -> dict[str, Any]:
    """12 buyers owned by a rep; customer 0 spends by far the most (top CLV decile)."""
    rep = make_user(role="rep")
    product = commerce.create_product(actor=admin, sku="AL-1", name="세럼", price=Decimal(1000))
    rng = np.random.default_rng(11)
    people = []
    for i in range(12):
        c = make_customer(full_name=f"고객{i}", owner=rep)
        people.append(c)
        for k in range(6 if i == 0 else int(rng.integers(1, 4))):
            day = AS_OF - dt.timedelta(days=int(rng.integers(1, 300)) if i else 20 + 40 * k)
            commerce.place_order(
                data=commerce.OrderInput(
                    customer=c,
                    lines=[
                        commerce.LineInput(
                            product=product,
                            quantity=1,
                            unit_price=Decimal(900_000 if i == 0 else 20_000),
                        )
                    ],
                    placed_at=dt.datetime.combine(day, dt.time(13), SEOUL),
                ),
                actor=admin,
            )
    return {"people": people, "rep": rep}


received: list[events.Event] = []


def _seen(event: events.Event) -> None:
    received.append(event)


def _run(capture: Any) -> None:
    with capture(execute=True):
        engine.run(only=["clv", "churn"], as_of=AS_OF)


@pytest.mark.django_db
def test_valuable_customer_moving_into_high_gets_one_task_for_the_owner(
    shop: dict[str, Any],
    bands: dict[int, str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    from dangol.sales.models import Task

    received.clear()
    events.subscriber(alerts.EVENT)(_seen)
    try:
        star, ordinary = shop["people"][0], shop["people"][5]
        bands[star.pk] = bands[ordinary.pk] = "high"
        _run(django_capture_on_commit_callbacks)  # first run: no previous band → no alert
        assert received == [] and not Task.objects.exists()

        bands[star.pk] = bands[ordinary.pk] = "medium"
        _run(django_capture_on_commit_callbacks)
        top = CustomerMetrics.objects.order_by("-clv_12m").first()
        assert top is not None and top.customer_id == star.pk  # the star is the top decile

        bands[star.pk] = bands[ordinary.pk] = "high"  # both move into high; one is valuable
        _run(django_capture_on_commit_callbacks)
        assert [(e.name, e.object_id) for e in received] == [(alerts.EVENT, str(star.pk))]
        data = received[0].data
        assert data["previous_band"] == "medium" and data["churn_risk"] == pytest.approx(0.85)
        assert data["value_at_risk"] == pytest.approx(0.85 * top.clv_12m)
        assert data["drivers"] == ["150일째 구매 없음"]
        task = Task.objects.get()
        assert (task.customer_id, task.assignee, task.source) == (
            star.pk,
            shop["rep"],
            "churn_alert",
        )
        assert task.status == "open" and task.priority == "high"

        _run(django_capture_on_commit_callbacks)  # still high: nothing new
        bands[star.pk] = "medium"
        _run(django_capture_on_commit_callbacks)
        bands[star.pk] = "high"  # into high again while the first task is still open
        _run(django_capture_on_commit_callbacks)
        assert len(received) == 2
        assert Task.objects.count() == 1  # no duplicate open churn task

        # the "customers to save" list offers a task per row (the sales app's route)
        client = Client()
        client.force_login(shop["rep"])
        body = client.get("/analytics/churn/").content.decode()
        assert f"/tasks/new/?customer={star.pk}&amp;source=save_list" in body
    finally:
        events.unsubscribe(_seen)
