"""The dashboards as a marketer reads them: the segment movement compares different days, the
grade sankey knows each tier's rank (upgrades rise, downgrades fall), revenue shares come best
grade / segment first. The shop is test_dashboards' (built through the services and the engine).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from dangol.analytics import dashboards, engine
from dangol.analytics.dashboards import Filters
from dangol.analytics.tests.test_dashboards import AS_OF, build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep(make_user: Any) -> Any:
    return make_user(role="rep")


@pytest.fixture
def marketer(make_user: Any) -> Any:
    return make_user(role="marketer")


def test_a_second_run_of_the_same_day_still_shows_the_movement_since_the_earlier_day(
    admin: Any, make_customer: Any, rep: Any, marketer: Any
) -> None:
    build_shop(admin, make_customer, rep, runs=2)
    engine.run(as_of=AS_OF)  # "run now" after the night's run

    frame, run_a, run_b = dashboards.rfm_movement(marketer, Filters())

    assert run_a is not None and run_b is not None
    assert (run_a.as_of, run_b.as_of) == (AS_OF - dt.timedelta(days=60), AS_OF)
    moves = {(r["from_segment"], r["to_segment"]): r["customers"] for r in frame.to_dicts()}
    assert moves[("hibernating", "lost")] == 1


def test_grade_migrations_carry_the_tier_ranks(
    admin: Any, make_customer: Any, rep: Any, marketer: Any
) -> None:
    build_shop(admin, make_customer, rep)
    board = dashboards.grades_dashboard(marketer, Filters())

    assert board is not None
    ranks = {
        (m["from_tier"], m["to_tier"]): (m["from_rank"], m["to_rank"])
        for m in board["migrations"].to_dicts()
    }
    assert ranks == {("등급 없음", "골드"): (-1, 1), ("등급 없음", "웰컴"): (-1, 0)}


def test_revenue_shares_come_best_grade_and_segment_first(
    admin: Any, make_customer: Any, rep: Any, marketer: Any
) -> None:
    build_shop(admin, make_customer, rep)
    board = dashboards.cohorts_dashboard(
        marketer, Filters(start=AS_OF - dt.timedelta(days=500), end=AS_OF)
    )

    assert board is not None
    grades = board["share_grade"].select("group", "order").unique().sort("order")
    assert grades.rows() == [("골드", 0), ("웰컴", 1)]
    segments = dict(board["share_segment"].select("group", "order").unique().iter_rows())
    assert segments["챔피언"] < segments["잠재 충성 고객"] < segments["이탈 고객"]
    months = board["share_grade"]["month"]
    assert months.is_sorted()
    first_month = board["share_grade"].filter(pl.col("month") == months.max())
    assert first_month["order"].is_sorted()
