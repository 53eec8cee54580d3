"""The home page: counts of what the user can see, their next tasks, valuable customers at risk."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.analytics.models import ChurnBand, CustomerMetrics
from dangol.sales import services as task_services


def _task(actor: Any, *, title: str, due_in_days: float, **kw: Any) -> Any:
    kw.setdefault("assignee", actor)
    data = task_services.TaskInput(
        title=title, due_at=timezone.now() + datetime.timedelta(days=due_in_days), **kw
    )
    return task_services.create_task(data=data, actor=actor)


def _at_risk(customer: Any, *, clv: float, band: str = ChurnBand.HIGH) -> CustomerMetrics:
    """What the analytics engine writes for a customer (the engine itself is tested elsewhere)."""
    return CustomerMetrics.objects.create(
        customer=customer,
        churn_band=band,
        churn_risk=0.8 if band == ChurnBand.HIGH else 0.1,
        clv_12m=clv,
        recency_days=120,
        computed_at=timezone.now(),
    )


def test_home_lists_my_open_tasks_soonest_first_and_counts_the_overdue(
    signed_in: Any, make_user: Any
) -> None:
    client, rep = signed_in(role="rep")
    other = make_user(role="rep")
    _task(rep, title="어제 했어야 할 전화", due_in_days=-1)
    _task(rep, title="다음 주 방문", due_in_days=7)
    _task(other, title="남의 일", due_in_days=1)

    body = client.get("/").content.decode()

    assert body.index("어제 했어야 할 전화") < body.index("다음 주 방문")
    assert "남의 일" not in body
    assert "기한 지남 1건" in body


@pytest.mark.parametrize("small_book", [2_000, 0])  # start from the customers / the index
def test_home_shows_only_valuable_high_risk_customers_the_user_may_see(
    small_book: int, signed_in: Any, make_user: Any, make_customer: Any, monkeypatch: Any
) -> None:
    from dangol.web import selectors

    monkeypatch.setattr(selectors, "SMALL_BOOK", small_book)
    client, rep = signed_in(role="rep")
    other = make_user(role="rep", team="busan")
    mine = make_customer(actor=rep, full_name="박서준", owner=rep)
    calm = make_customer(actor=rep, full_name="최유리", owner=rep)
    theirs = make_customer(actor=other, full_name="정하늘", owner=other)
    _at_risk(mine, clv=900_000)
    _at_risk(calm, clv=5_000_000, band=ChurnBand.LOW)
    _at_risk(theirs, clv=9_000_000)
    _at_risk(make_customer(actor=rep, full_name="한가람", owner=rep), clv=0)

    body = client.get("/").content.decode()

    assert "박서준" in body and "₩900,000" in body
    assert "최유리" not in body  # valuable, but not at risk
    assert "정하늘" not in body  # at risk, but another rep's customer
    assert "한가람" not in body  # at risk, but worth nothing in the next 12 months


def test_a_role_without_tasks_or_customers_sees_no_such_panels(signed_in: Any) -> None:
    client, _user = signed_in(role=None)
    body = client.get("/").content.decode()
    assert 'data-testid="home-tasks"' not in body
    assert 'data-testid="home-at-risk"' not in body


@pytest.mark.parametrize("rows", [1, 8])
def test_home_query_count_does_not_grow_with_tasks_and_customers(
    rows: int, signed_in: Any, make_customer: Any
) -> None:
    client, lead = signed_in(role="lead")
    for i in range(rows):
        customer = make_customer(actor=lead, full_name=f"고객{i}", owner=lead)
        _at_risk(customer, clv=100_000 + i)
        _task(lead, title=f"할 일 {i}", due_in_days=i - 2, customer=customer)
    client.get("/")  # warm the session and the user's role

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200

    assert len(queries) == EXPECTED_HOME_QUERIES, [q["sql"][:90] for q in queries.captured_queries]


# session, user, role grants, three counts, task buckets, next tasks, the visible ids, their
# metrics and the customers at risk (a small book), and the shell's own; what matters is that
# 1 and 8 rows cost the same
EXPECTED_HOME_QUERIES = 12


def test_the_orders_card_stops_counting_at_its_cap(
    signed_in: Any, make_customer: Any, monkeypatch: Any
) -> None:
    from decimal import Decimal

    from dangol.commerce.services import LineInput, OrderInput, create_product, place_order
    from dangol.web import selectors

    client, rep = signed_in(role="rep")
    customer = make_customer(full_name="김민준", owner=rep)
    product = create_product(actor=None, sku="SKU-CAP", name="수분 크림", price=Decimal(32000))
    for _ in range(3):
        place_order(data=OrderInput(customer=customer, lines=[LineInput(product, 1)]), actor=None)
    monkeypatch.setattr(selectors, "ORDERS_COUNT_CAP", 2)

    response = client.get("/")

    assert response.context["counts"].orders_last_30_days == 3  # the cap + 1: "more than"
    assert 'data-testid="count-orders-30d">2+</div>' in response.content.decode()
