"""Grade changes are dated by the evaluation day: a back-dated run (the demo's history, `dangol
analytics run --as-of`) records its as_of in the grade history, the customer timeline and the
migrations of the grade dashboard, not the wall-clock time of the run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dangol.analytics import dashboards, engine, grades, services
from dangol.analytics.models import CustomerGrade, GradeChange
from dangol.commerce import services as commerce
from dangol.customers.models import CustomerHistory
from dangol.customers.timeline import customer_timeline

SEOUL = ZoneInfo("Asia/Seoul")
TODAY = timezone.localdate()
PAST = grades.add_months(TODAY.replace(day=1), -4) - dt.timedelta(days=1)  # a month end


@pytest.fixture
def graded(admin: Any, make_customer: Any) -> dict[str, Any]:
    product = commerce.create_product(actor=admin, sku="GD-1", name="토너", price=Decimal(1000))
    customer = make_customer(full_name="한서윤")
    commerce.place_order(
        data=commerce.OrderInput(
            customer=customer,
            lines=[commerce.LineInput(product=product, quantity=1, unit_price=Decimal(300_000))],
            placed_at=dt.datetime.combine(PAST - dt.timedelta(days=10), dt.time(12), SEOUL),
        ),
        actor=admin,
    )
    program = services.create_grade_program(
        actor=admin,
        name="멤버십",
        tiers=[
            services.TierInput("welcome", "Welcome", 0),
            services.TierInput("silver", "Silver", 1, min_spend=Decimal(100_000)),
        ],
        activate=True,
    )
    return {"customer": customer, "admin": admin, "program": program}


def test_changed_at_is_the_end_of_the_evaluation_day_and_never_in_the_future() -> None:
    now = dt.datetime(2025, 3, 10, 1, 0, tzinfo=dt.UTC)  # 10:00 in Seoul
    assert grades.changed_at(dt.date(2025, 2, 28), now=now, tz=SEOUL) == dt.datetime(
        2025, 2, 28, 23, 59, 59, tzinfo=SEOUL
    )
    assert grades.changed_at(dt.date(2025, 3, 10), now=now, tz=SEOUL) == now


def test_a_back_dated_run_records_its_as_of(graded: dict[str, Any]) -> None:
    engine.run(only=["grades"], as_of=PAST)

    change = GradeChange.objects.get(customer=graded["customer"])
    history = CustomerHistory.objects.get(customer=graded["customer"])
    grade = CustomerGrade.objects.get(customer=graded["customer"])
    expected = dt.datetime.combine(PAST, dt.time(23, 59, 59), SEOUL)
    assert change.at == expected
    assert history.at == expected
    assert grade.evaluated_at == expected
    assert grade.since == PAST

    entries = customer_timeline(user=graded["admin"], customer=graded["customer"], kinds=["grade"])
    assert [timezone.localtime(e.at).date() for e in entries] == [PAST]

    def moved(start: dt.date, end: dt.date) -> int:
        frame = dashboards.grade_migrations(
            graded["admin"], dashboards.Filters(start=start, end=end), graded["program"]
        )
        return int(frame["customers"].sum())

    assert moved(PAST, PAST) == 1
    assert moved(PAST + dt.timedelta(days=1), TODAY) == 0


def test_a_run_as_of_yesterday_dates_its_changes_yesterday(graded: dict[str, Any]) -> None:
    yesterday = TODAY - dt.timedelta(days=1)
    engine.run(only=["grades"], as_of=yesterday)

    change = GradeChange.objects.get(customer=graded["customer"])
    assert timezone.localtime(change.at).date() == yesterday
    assert change.at <= timezone.now()
