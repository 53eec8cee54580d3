"""Order lines keep their id in the source system (주문상품번호), and returns name lines by it
(ADR 0005, amendment "order lines keep the source's line id")."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dangol.commerce import services as commerce
from dangol.commerce.models import Order, OrderLine, Return, ReturnLine
from dangol.customers.models import Customer
from dangol.integration.imports.mapping import _key, auto_mapping
from dangol.integration.imports.targets import LINE_ID_ALIASES, OrderTarget
from dangol.integration.imports.targets_returns import RETURN_LINE_ID_ALIASES, ReturnTarget
from dangol.integration.tests.test_import_pipeline import (
    ORDER_HEADER,
    ROWS,
    _catalog,
    rejected_lines,
    run,
    write_csv,
)

LINE_ORDER_HEADER = [*ORDER_HEADER, "주문할인", "주문상품번호"]
LINE_RETURN_HEADER = ["반품번호", "주문번호", "상품코드", "주문상품번호", "반품수량"]


def _line_ids(order: str) -> list[str]:
    lines = OrderLine.objects.filter(order__external_id=order).order_by("id")
    return [ol.external_id for ol in lines]


def _returned(order: str) -> list[int]:
    lines = OrderLine.objects.filter(order__external_id=order).order_by("id")
    return [ol.returned_quantity for ol in lines]


def _orders(admin: Any, tmp_path: Path) -> None:
    """O1 holds SKU-1 on two lines at different prices (by SKU and quantity a return of one is
    ambiguous) and an order discount; O2 reuses a line id of O1 (ids are unique per order)."""
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    _catalog(admin, tmp_path)
    rows = [
        ["O1", "A1", "SKU-1", "2", "32,000", "2024-11-03 10:00", "8,000", "20241103-0001-01"],
        ["O1", "A1", "SKU-1", "2", "16,000", "2024-11-03 10:00", "", "20241103-0001-02"],
        ["O1", "A1", "SKU-2", "1", "", "2024-11-03 10:00", "", "20241103-0001-03"],
        ["O2", "A2", "SKU-1", "1", "", "2024-11-04", "", "20241103-0001-01"],
        ["O2", "A2", "SKU-2", "1", "", "2024-11-04", "", ""],  # a line without an id
    ]
    job = run(admin, "orders", write_csv(tmp_path / "o.csv", rows, header=LINE_ORDER_HEADER))
    assert job.created_count == len(rows), rejected_lines(job)


# --- the orders import --------------------------------------------------------------------------


def test_the_orders_import_keeps_each_lines_id_and_a_reimport_changes_nothing(
    admin: Any, tmp_path: Path
) -> None:
    _orders(admin, tmp_path)

    assert _line_ids("O1") == ["20241103-0001-01", "20241103-0001-02", "20241103-0001-03"]
    assert _line_ids("O2") == ["20241103-0001-01", ""]

    lines_before = list(OrderLine.objects.order_by("id").values_list("id", "external_id"))
    again = run(
        admin,
        "orders",
        write_csv(
            tmp_path / "o2.csv",
            [
                ["O1", "A1", "SKU-1", "2", "32,000", "2024-11-03 10:00", "8,000", "X-1"],
                ["O1", "A1", "SKU-1", "2", "16,000", "2024-11-03 10:00", "", "X-2"],
                ["O1", "A1", "SKU-2", "1", "", "2024-11-03 10:00", "", "X-3"],
            ],
            header=LINE_ORDER_HEADER,
        ),
    )

    assert (again.unchanged_count, again.created_count, again.rejected_count) == (3, 0, 0)
    assert list(OrderLine.objects.order_by("id").values_list("id", "external_id")) == lines_before


def test_two_lines_with_one_id_reject_that_order_only(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:1]))
    _catalog(admin, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        [
            ["O1", "A1", "SKU-1", "1", "", "2024-11-03", "", "L-1"],
            ["O1", "A1", "SKU-2", "1", "", "2024-11-03", "", "L-2"],
            ["O2", "A1", "SKU-1", "1", "", "2024-11-03", "", "L-1"],
            ["O2", "A1", "SKU-2", "1", "", "2024-11-03", "", " L-1 "],  # the same id, padded
            ["O3", "A1", "SKU-1", "1", "", "2024-11-03", "", ""],  # blank ids never collide
            ["O3", "A1", "SKU-2", "1", "", "2024-11-03", "", ""],
        ],
        header=LINE_ORDER_HEADER,
    )

    job = run(admin, "orders", path)

    assert rejected_lines(job) == {4: ["order_rejected"], 5: ["duplicate_line_id"]}
    assert (job.created_count, job.rejected_count) == (4, 2)
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["O1", "O3"]
    assert _line_ids("O1") == ["L-1", "L-2"] and _line_ids("O3") == ["", ""]


def test_a_dry_run_reports_a_repeated_line_id_and_writes_nothing(
    admin: Any, tmp_path: Path
) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:1]))
    _catalog(admin, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        [
            ["O1", "A1", "SKU-1", "1", "", "2024-11-03", "", "L-1"],
            ["O1", "A1", "SKU-2", "1", "", "2024-11-03", "", "L-1"],
        ],
        header=LINE_ORDER_HEADER,
    )

    job = run(admin, "orders", path, dry_run=True)

    assert rejected_lines(job) == {2: ["order_rejected"], 3: ["duplicate_line_id"]}
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("target", "aliases"),
    [(OrderTarget, LINE_ID_ALIASES), (ReturnTarget, RETURN_LINE_ID_ALIASES)],
)
def test_line_id_headers_are_recognised_and_collide_with_no_other_field(
    target: Any, aliases: tuple[str, ...]
) -> None:
    for alias in aliases:
        assert auto_mapping([alias], target.specs) == {alias: "line_id"}
    owners: dict[str, set[str]] = {}
    for spec in target.specs:
        for name in (spec.name, *spec.aliases):
            owners.setdefault(_key(name), set()).add(spec.name)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}


def test_order_line_id_keeps_meaning_dangols_id_in_the_returns_import() -> None:
    mapping = auto_mapping(
        ["order_line_id", "단골주문상품번호", "주문상품번호", "원주문상품번호"], ReturnTarget.specs
    )
    assert mapping == {"order_line_id": "order_line_id", "주문상품번호": "line_id"}
    assert auto_mapping(["단골주문상품번호"], ReturnTarget.specs) == {
        "단골주문상품번호": "order_line_id"
    }
    assert auto_mapping(["원주문상품번호"], ReturnTarget.specs) == {"원주문상품번호": "line_id"}


# --- the returns import ------------------------------------------------------------------------


def test_a_return_names_the_line_by_its_id_in_the_source(admin: Any, tmp_path: Path) -> None:
    _orders(admin, tmp_path)
    path = write_csv(
        tmp_path / "r.csv",
        [
            ["R1", "O1", "SKU-1", "20241103-0001-02", "1"],  # the second SKU-1 line only
            ["R2", "O1", "", "20241103-0001-99", "1"],  # no line of O1 has this id
            ["R3", "O2", "", "20241103-0001-01", "1"],  # O2's own line with that id
            ["R4", "O1", "SKU-2", "20241103-0001-01", "1"],  # that line holds SKU-1
            ["R5", "O1", "SKU-1", "", "1"],  # by SKU alone: still ambiguous
        ],
        header=LINE_RETURN_HEADER,
    )

    job = run(admin, "returns", path)

    assert rejected_lines(job) == {
        3: ["line_not_found"],
        5: ["sku_mismatch"],
        6: ["ambiguous_line"],
    }
    assert (job.created_count, job.rejected_count) == (2, 3)
    assert _returned("O1") == [0, 1, 0] and _returned("O2") == [1, 0]
    r1 = Return.objects.get(source="pos", external_id="R1")
    second = OrderLine.objects.get(order__external_id="O1", external_id="20241103-0001-02")
    assert list(ReturnLine.objects.filter(ret=r1).values_list("order_line_id", "quantity")) == [
        (second.pk, 1)
    ]

    # the same return through the service on a twin order refunds the same
    o1 = Order.objects.get(external_id="O1")
    twin_order = commerce.place_order(
        data=commerce.OrderInput(
            customer=Customer.objects.get(external_ids__key="A2"),
            placed_at=o1.placed_at,
            discount=o1.discount,
            lines=[
                commerce.LineInput(
                    product=ol.product, quantity=ol.quantity, unit_price=ol.unit_price
                )
                for ol in o1.lines.order_by("id")
            ],
        ),
        actor=admin,
    )
    twin = commerce.record_return(
        order=twin_order,
        lines=[commerce.ReturnLineInput(order_line=twin_order.lines.order_by("id")[1], quantity=1)],
        reason="other",
        actor=admin,
    )
    o1.refresh_from_db()
    twin_order.refresh_from_db()
    assert r1.amount == twin.amount != Decimal(0)
    assert (o1.returned_amount, o1.status) == (twin_order.returned_amount, twin_order.status)

    again = run(admin, "returns", path)
    assert again.unchanged_count == 2 and _returned("O1") == [0, 1, 0]


def test_dangols_id_comes_first_then_the_source_id_then_the_line_number(
    admin: Any, tmp_path: Path
) -> None:
    _orders(admin, tmp_path)
    first, second, _third = OrderLine.objects.filter(order__external_id="O1").order_by("id")
    path = write_csv(
        tmp_path / "r.csv",
        [
            ["R1", "O1", str(first.pk), "20241103-0001-02", "", "1"],  # Dangol's id wins
            ["R2", "O1", "", "20241103-0001-02", "1", "1"],  # the source's id beats the number
        ],
        header=["반품번호", "주문번호", "단골주문상품번호", "주문상품번호", "주문순번", "반품수량"],
    )

    job = run(admin, "returns", path)

    assert job.created_count == 2, rejected_lines(job)
    assert _returned("O1") == [1, 1, 0]
    assert ReturnLine.objects.get(ret__external_id="R1").order_line_id == first.pk
    assert ReturnLine.objects.get(ret__external_id="R2").order_line_id == second.pk
