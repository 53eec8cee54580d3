"""What each customer bought (``PurchasedProduct``) follows their orders through every writer:
the order services, imports, merges and unmerges, and the whole-table rebuild."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from dangol.analytics import segments
from dangol.commerce import services
from dangol.commerce.models import Order, OrderLine, PurchasedProduct
from dangol.commerce.purchases import NOT_PURCHASES, rebuild_purchased_products
from dangol.customers.merge import merge_customers, unmerge
from dangol.integration.tests.test_import_pipeline import run, write_csv
from dangol.integration.tests.test_import_targets_activity import RETURN_HEADER, _orders

Row = tuple[int, int, datetime.datetime, datetime.datetime, int]


def expected() -> set[Row]:
    """The table as the definition says, computed in Python from the order lines."""
    seen: dict[tuple[int, int], list[Any]] = {}
    lines = OrderLine.objects.exclude(order__status__in=NOT_PURCHASES).values_list(
        "order__customer_id", "product_id", "order__placed_at", "order_id"
    )
    for customer, product, at, order in lines:
        row = seen.setdefault((customer, product), [at, at, set()])
        row[0], row[1] = min(row[0], at), max(row[1], at)
        row[2].add(order)
    return {(c, p, first, last, len(orders)) for (c, p), (first, last, orders) in seen.items()}


def actual() -> set[Row]:
    return set(
        PurchasedProduct.objects.values_list(
            "customer_id", "product_id", "first_at", "last_at", "order_count"
        )
    )


@pytest.fixture
def catalog(admin: Any) -> dict[str, Any]:
    skincare = services.create_category(name="스킨케어", slug="skincare", actor=admin)
    makeup = services.create_category(name="메이크업", slug="makeup", actor=admin)
    return {
        "toner": services.create_product(
            sku="TN-01", name="진정 토너", price=Decimal(18000), category=skincare, actor=admin
        ),
        "lip": services.create_product(
            sku="LP-01", name="립 틴트", price=Decimal(12000), category=makeup, actor=admin
        ),
    }


def order(admin: Any, customer: Any, *lines: tuple[Any, int], days_ago: int) -> Order:
    return services.place_order(
        data=services.OrderInput(
            customer=customer,
            placed_at=timezone.now() - datetime.timedelta(days=days_ago),
            lines=[services.LineInput(product, qty) for product, qty in lines],
        ),
        actor=admin,
    )


def test_the_order_services_keep_it_exact(admin: Any, make_customer: Any, catalog: Any) -> None:
    kim = make_customer(actor=admin, full_name="김민준")
    old = order(admin, kim, (catalog["toner"], 1), days_ago=200)
    recent = order(admin, kim, (catalog["toner"], 2), (catalog["lip"], 1), days_ago=10)
    assert actual() == expected()
    assert {(r[1], r[4]) for r in actual()} == {(catalog["toner"].pk, 2), (catalog["lip"].pk, 1)}

    # A whole return drops the order: the toner's last purchase goes back to the old order.
    lines = list(recent.lines.all())
    services.record_return(
        order=recent,
        lines=[services.ReturnLineInput(order_line=ln, quantity=ln.quantity) for ln in lines],
        reason="change_of_mind",
        actor=admin,
    )
    assert actual() == expected()
    assert {(r[1], r[3]) for r in actual()} == {(catalog["toner"].pk, old.placed_at)}

    services.cancel_order(order=old, actor=admin)
    assert actual() == expected() == set()


def test_a_partial_return_still_counts_as_a_purchase(
    admin: Any, make_customer: Any, catalog: Any
) -> None:
    lee = make_customer(actor=admin, full_name="이서연")
    o = order(admin, lee, (catalog["toner"], 2), days_ago=5)
    services.record_return(
        order=o,
        lines=[services.ReturnLineInput(order_line=o.lines.get(), quantity=1)],
        reason="defect",
        actor=admin,
    )
    assert actual() == expected() and len(actual()) == 1


def test_merge_moves_purchases_and_unmerge_puts_them_back(
    admin: Any, make_customer: Any, catalog: Any
) -> None:
    a = make_customer(actor=admin, full_name="박지훈")
    b = make_customer(actor=admin, full_name="박지훈")
    order(admin, a, (catalog["toner"], 1), days_ago=100)
    order(admin, b, (catalog["toner"], 1), (catalog["lip"], 1), days_ago=3)
    before = actual()

    merge = merge_customers(survivor=a, duplicates=[b], actor=admin)
    assert actual() == expected()
    rows = {r[1]: r for r in actual()}
    assert {r[0] for r in actual()} == {a.pk}
    assert rows[catalog["toner"].pk][4] == 2  # one toner order of each record

    unmerge(merge=merge, actor=admin)
    assert actual() == expected() == before


def test_imports_keep_it_exact(admin: Any, tmp_path: Path) -> None:
    _orders(admin, tmp_path)  # O1: SKU-1 and SKU-2 for A1; O2: SKU-2 for A2
    assert actual() == expected() and len(actual()) == 3
    path = write_csv(
        tmp_path / "r.csv",
        [["R1", "O2", "SKU-2", "1", "파손", ""]],  # O2 comes back whole
        header=RETURN_HEADER,
    )
    assert run(admin, "returns", path).created_count == 1
    assert actual() == expected() and len(actual()) == 2


def test_the_rebuild_equals_the_refreshes(admin: Any, make_customer: Any, catalog: Any) -> None:
    for i in range(3):
        c = make_customer(actor=admin, full_name=f"고객{i}")
        order(admin, c, (catalog["toner"], 1), days_ago=30 * i)
        order(admin, c, (catalog["lip"], 1), days_ago=i)
    refreshed = actual()
    PurchasedProduct.objects.all().delete()
    assert rebuild_purchased_products() == len(refreshed) == 6
    assert actual() == refreshed == expected()


def test_segments_read_the_last_purchase_of_the_category(
    admin: Any, make_customer: Any, catalog: Any
) -> None:
    recent = make_customer(actor=admin, full_name="최근구매")
    lapsed = make_customer(actor=admin, full_name="오래전구매")
    returned = make_customer(actor=admin, full_name="반품고객")
    never = make_customer(actor=admin, full_name="미구매")
    order(admin, recent, (catalog["toner"], 1), days_ago=20)
    order(admin, lapsed, (catalog["toner"], 1), days_ago=120)
    order(admin, lapsed, (catalog["lip"], 1), days_ago=2)  # recent, but another category
    back = order(admin, returned, (catalog["toner"], 1), days_ago=1)
    services.record_return(
        order=back,
        lines=[services.ReturnLineInput(order_line=back.lines.get(), quantity=1)],
        reason="defect",
        actor=admin,
    )

    def members(op: str, value: Any = None) -> set[str]:
        node: dict[str, Any] = {"field": "bought_category", "op": op, "category": "skincare"}
        if value is not None:
            node["value"] = value
        definition = segments.validate_definition({"all": [node]})
        return set(segments.evaluate(definition).values_list("full_name", flat=True))

    assert members("within_last_days", 90) == {"최근구매"}
    assert members("not_within_last_days", 90) == {"오래전구매", "반품고객", "미구매"}
    assert members("ever") == {"최근구매", "오래전구매"}
    assert members("never") == {"반품고객", "미구매"}
    assert recent.pk != never.pk
