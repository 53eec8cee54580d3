"""Customer grades: qualification, upgrades at once, downgrades at period end, minimum stay,
history with the reason, the grade.changed event after commit, programme validation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dangol.analytics import engine, grades, selectors, services
from dangol.analytics.models import CustomerGrade, GradeChange
from dangol.commerce import services as commerce
from dangol.core import events
from dangol.core.errors import ValidationFailed
from dangol.customers.models import CustomerHistory, HistoryKind

SEOUL = ZoneInfo("Asia/Seoul")
TODAY = timezone.localdate()
M0 = grades.add_months(TODAY.replace(day=1), -3)  # the first day of a month well in the past
RECEIVED: list[events.Event] = []


def record_event(event: events.Event) -> None:
    RECEIVED.append(event)


def tiers() -> list[services.TierInput]:
    return [
        services.TierInput("welcome", "Welcome", 0, benefits=["생일 쿠폰"]),
        services.TierInput("silver", "Silver", 1, min_spend=Decimal(100_000)),
        services.TierInput("gold", "Gold", 2, min_spend=Decimal(500_000)),
        services.TierInput("vvip", "VVIP", 3, min_spend=Decimal(2_000_000), min_orders=10),
    ]


@pytest.fixture
def shop(admin: Any, make_customer: Any) -> dict[str, Any]:
    product = commerce.create_product(actor=admin, sku="GR-1", name="세럼", price=Decimal(1000))

    def buy(customer: Any, day: dt.date, amount: int) -> None:
        commerce.place_order(
            data=commerce.OrderInput(
                customer=customer,
                lines=[commerce.LineInput(product=product, quantity=1, unit_price=Decimal(amount))],
                placed_at=dt.datetime.combine(day, dt.time(12), SEOUL),
            ),
            actor=admin,
        )

    return {"buy": buy, "customer": make_customer(full_name="박지우"), "admin": admin}


def program(admin: Any, **kw: Any) -> Any:
    return services.create_grade_program(
        actor=admin, name="멤버십", tiers=tiers(), activate=True, **kw
    )


def grade_of(customer: Any) -> str:
    return CustomerGrade.objects.select_related("tier").get(customer=customer).tier.code


def evaluate(as_of: dt.date) -> None:
    engine.run(only=["grades"], as_of=as_of)


def test_every_customer_qualifies_and_the_first_grade_is_recorded(
    shop: dict[str, Any], make_customer: Any
) -> None:
    lead = make_customer(full_name="신규")
    shop["buy"](shop["customer"], M0 + dt.timedelta(days=2), 600_000)
    program(shop["admin"])
    evaluate(M0 + dt.timedelta(days=5))

    assert grade_of(shop["customer"]) == "gold"
    assert grade_of(lead) == "welcome"
    history = CustomerHistory.objects.get(customer=shop["customer"])
    assert history.kind == HistoryKind.GRADE_CHANGED
    assert (history.data["from"], history.data["to"], history.data["reason"]) == (
        None,
        "Gold",
        "initial",
    )
    assert history.data["spend"] == 600_000
    assert GradeChange.objects.filter(reason="initial").count() == 2
    assert {r["tier"]: r["customers"] for r in selectors.grade_distribution(shop["admin"])} == {
        "vvip": 0,
        "gold": 1,
        "silver": 0,
        "welcome": 1,
    }


def test_upgrade_applies_at_once_with_history_and_event_after_commit(
    shop: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    c = shop["customer"]
    shop["buy"](c, M0 + dt.timedelta(days=2), 150_000)
    program(shop["admin"])
    evaluate(M0 + dt.timedelta(days=5))
    assert grade_of(c) == "silver"
    shop["buy"](c, M0 + dt.timedelta(days=8), 400_000)
    events.subscriber("grade.changed")(record_event)
    RECEIVED.clear()
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            evaluate(M0 + dt.timedelta(days=10))  # mid-period: no evaluation due
            assert RECEIVED == []  # nothing delivered before commit
        for callback in callbacks:
            callback()
    finally:
        events.unsubscribe(record_event)

    assert grade_of(c) == "gold"
    latest = CustomerHistory.objects.filter(customer=c).order_by("-id").first()
    assert latest is not None
    assert (latest.data["from"], latest.data["to"], latest.data["reason"]) == (
        "Silver",
        "Gold",
        "upgrade",
    )
    assert [(e.name, e.object_id, e.data["to_code"]) for e in RECEIVED] == [
        ("grade.changed", str(c.pk), "gold")
    ]
    moves = selectors.grade_migrations(shop["admin"])
    assert {"from": "silver", "to": "gold", "customers": 1} in moves


def test_upgrade_waits_for_period_end_when_not_immediate(shop: dict[str, Any]) -> None:
    c = shop["customer"]
    shop["buy"](c, M0 + dt.timedelta(days=2), 150_000)
    program(shop["admin"], upgrade_immediately=False)
    evaluate(M0 + dt.timedelta(days=5))
    shop["buy"](c, M0 + dt.timedelta(days=8), 400_000)
    evaluate(M0 + dt.timedelta(days=10))
    assert grade_of(c) == "silver"
    evaluate(grades.add_months(M0, 1) - dt.timedelta(days=1))  # last day of the month
    assert grade_of(c) == "gold"
    assert GradeChange.objects.filter(customer=c).latest("id").reason == "period_upgrade"


def test_downgrade_only_at_period_end(shop: dict[str, Any]) -> None:
    c = shop["customer"]
    shop["buy"](c, M0 - dt.timedelta(days=20), 600_000)
    program(shop["admin"], window_months=1)
    evaluate(M0 - dt.timedelta(days=1))  # a period end: evaluated
    assert grade_of(c) == "gold"
    evaluate(M0 + dt.timedelta(days=15))  # the order left the window, but the period runs on
    assert grade_of(c) == "gold"
    assert CustomerGrade.objects.get(customer=c).qualified_tier.code == "welcome"  # type: ignore[union-attr]
    evaluate(grades.add_months(M0, 1) - dt.timedelta(days=1))
    assert grade_of(c) == "welcome"
    change = GradeChange.objects.filter(customer=c).latest("id")
    assert (change.reason, change.data["from"], change.data["to"]) == (
        "downgrade",
        "Gold",
        "Welcome",
    )


def test_minimum_stay_holds_a_downgrade(shop: dict[str, Any]) -> None:
    c = shop["customer"]
    start = M0 - dt.timedelta(days=10)
    shop["buy"](c, start - dt.timedelta(days=2), 600_000)
    program(shop["admin"], window_months=1, min_stay_months=3, downgrade_at_period_end=False)
    evaluate(start)
    assert grade_of(c) == "gold"
    evaluate(start + dt.timedelta(days=45))
    assert grade_of(c) == "gold"  # qualifies for Welcome only, but has not stayed 3 months
    evaluate(start + dt.timedelta(days=95))
    assert grade_of(c) == "welcome"


def test_program_validation(admin: Any, db: Any) -> None:
    bad = [
        services.TierInput("silver", "Silver", 1, min_spend=Decimal(100_000)),
        services.TierInput("silver", "", 1, min_spend=Decimal(-1)),
    ]
    with pytest.raises(ValidationFailed) as err:
        services.create_grade_program(actor=admin, name=" ", tiers=bad, window_months=0)
    fields = {(e.field, e.code) for e in err.value.errors}
    assert ("name", "required") in fields
    assert ("window_months", "out_of_range") in fields
    assert ("tiers[1].code", "duplicate") in fields
    assert ("tiers[1].min_spend", "negative") in fields
    assert ("tiers", "no_entry_tier") in fields


def test_tiers_can_be_replaced_by_code(admin: Any, db: Any) -> None:
    p = program(admin)
    gold_id = p.tiers.get(code="gold").pk
    new = [t for t in tiers() if t.code != "vvip"]
    new[2].min_spend = Decimal(700_000)
    services.set_grade_tiers(program=p, tiers=new, actor=admin)
    assert sorted(p.tiers.values_list("code", flat=True)) == ["gold", "silver", "welcome"]
    assert p.tiers.get(code="gold").pk == gold_id
    assert p.tiers.get(code="gold").min_spend == 700_000
