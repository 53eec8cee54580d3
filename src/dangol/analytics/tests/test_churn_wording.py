"""What a marketer reads of the churn model: no risk of exactly 0% or 100%, amounts with
thousands separators, and "no purchase in the last 90 days" rather than "spend down 100%"."""

from __future__ import annotations

import numpy as np
import polars as pl
from django.utils import translation

from dangol.analytics import churn


def test_calibrated_steps_are_smoothed_rates_never_0_or_1() -> None:
    raw = np.concatenate(
        [np.linspace(0.0, 0.1, 40), np.linspace(0.4, 0.6, 20), np.linspace(0.9, 1.0, 60)]
    )
    churned = np.concatenate([np.zeros(40), np.r_[np.zeros(10), np.ones(10)], np.ones(60)]).astype(
        np.int8
    )

    calibration = churn._Calibration.fit(raw, churned)
    risk = calibration.predict(np.array([-1.0, 0.05, 0.95, 2.0]))

    # PAVA pools the middle group's 10 non-churners with the 40 below and its 10 churners with
    # the 60 above: steps of 50 customers (0 churned) and 70 (all churned); (k + 1) / (n + 2).
    assert np.allclose(risk, [1 / 52, 1 / 52, 71 / 72, 71 / 72])
    grid = calibration.predict(np.linspace(0, 1, 101))
    assert np.all(np.diff(grid) >= 0) and grid.min() > 0 and grid.max() < 1


def test_amounts_have_thousands_separators() -> None:
    with translation.override("en"):
        texts = [churn.driver_text({"key": "basket", "v": [a]}) for a in (0, 999, 1000, 1234567)]
    assert [t.split(": ")[1].split(" ")[0] for t in texts] == ["0", "999", "1,000", "1,234,567"]


def test_spend_driver_says_no_purchase_instead_of_down_100_percent() -> None:
    frame = pl.DataFrame(
        {
            "spend_90d": [0.0, 20_000.0],
            "spend_prev_90d": [266_800.0, 80_000.0],
            "aov": [97_030.4] * 2,
            **{
                c: [1.0] * 2
                for c in (
                    "recency_days",
                    "ipt_mean",
                    "complaints_90d",
                    "days_since_complaint",
                    "orders_365d",
                    "returns_365d",
                    "tenure_days",
                )
            },
        }
    )
    facts = frame.select(
        churn._driver_fact(pl.lit("spend_trend")).alias("spend"),
        churn._driver_fact(pl.lit("basket")).alias("basket"),
    )
    with translation.override("en"):
        texts = {
            name: [churn.driver_text(d) for d in facts[name].to_list()] for name in facts.columns
        }
    assert texts["spend"] == [
        "no purchase in the last 90 days (266,800 KRW in the quarter before)",
        "spend down 75% vs the previous quarter",
    ]
    assert texts["basket"][0] == "small baskets: 97,030 KRW per order on average"
