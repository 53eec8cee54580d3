"""Re-importing an order file fills in the source's line ids of orders imported before lines
had them (ADR 0005, amendment "order lines keep the source's line id")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.commerce.models import Order, OrderLine, PurchasedProduct, ReturnLine
from dangol.core.models import ChangeLog
from dangol.customers.models import Customer
from dangol.integration.tests.test_import_pipeline import (
    ORDER_HEADER,
    ROWS,
    _catalog,
    rejected_lines,
    run,
    write_csv,
)

WITH_IDS = [*ORDER_HEADER, "주문상품번호"]

# O1 holds SKU-1 on two lines at different prices, so only the line's id can tell them apart
HISTORY = [
    ["O1", "A1", "SKU-1", "2", "32,000", "2024-11-03 10:00"],
    ["O1", "A1", "SKU-1", "2", "16,000", "2024-11-03 10:00"],
    ["O1", "A1", "SKU-2", "1", "", "2024-11-03 10:00"],
    ["O2", "A2", "SKU-2", "3", "", "2024-11-04"],
]
HISTORY_IDS = ["O1-01", "O1-02", "O1-03", "O2-01"]


def _with_ids(rows: list[list[str]], ids: list[str]) -> list[list[str]]:
    return [[*row, line_id] for row, line_id in zip(rows, ids, strict=True)]


def _line_ids(order: str) -> list[str]:
    lines = OrderLine.objects.filter(order__external_id=order).order_by("id")
    return [ol.external_id for ol in lines]


def _history(admin: Any, tmp_path: Path, rows: list[list[str]] = HISTORY) -> None:
    """Customers, the catalog, and orders imported from a file without line ids."""
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    _catalog(admin, tmp_path)
    job = run(admin, "orders", write_csv(tmp_path / "old.csv", rows, header=ORDER_HEADER))
    assert job.created_count == len(rows), rejected_lines(job)


def _snapshot() -> tuple[list[Any], ...]:
    return (
        list(Order.objects.order_by("id").values()),
        list(OrderLine.objects.order_by("id").values()),
        list(Customer.objects.order_by("id").values()),
        list(PurchasedProduct.objects.order_by("pk").values()),
    )


def test_reimporting_with_line_ids_fills_them_and_a_return_can_name_the_line(
    admin: Any, tmp_path: Path
) -> None:
    _history(admin, tmp_path)
    orders, lines, customers, purchased = _snapshot()
    path = write_csv(tmp_path / "new.csv", _with_ids(HISTORY, HISTORY_IDS), header=WITH_IDS)

    job = run(admin, "orders", path)

    assert (job.updated_count, job.unchanged_count, job.created_count) == (4, 0, 0)
    assert job.rejected_count == 0
    assert _line_ids("O1") == ["O1-01", "O1-02", "O1-03"] and _line_ids("O2") == ["O2-01"]
    # only the lines' ids changed: orders, amounts, customers' aggregates are as they were
    after = _snapshot()
    assert (after[0], after[2], after[3]) == (orders, customers, purchased)
    assert [{**ol, "external_id": ""} for ol in after[1]] == lines
    chunk = ChangeLog.objects.filter(action="import.chunk_committed", object_id=str(job.pk)).get()
    assert chunk.after is not None
    assert (chunk.after["updated_count"], chunk.after["unchanged_count"]) == (4, 0)

    # a return now names the second SKU-1 line of O1 by the source's id
    ret = run(
        admin,
        "returns",
        write_csv(
            tmp_path / "r.csv",
            [["R1", "O1", "SKU-1", "O1-02", "1"]],
            header=["반품번호", "주문번호", "상품코드", "주문상품번호", "반품수량"],
        ),
    )
    assert ret.created_count == 1, rejected_lines(ret)
    second = OrderLine.objects.get(order__external_id="O1", external_id="O1-02")
    assert list(ReturnLine.objects.values_list("order_line_id", "quantity")) == [(second.pk, 1)]

    # the same file again: nothing to fill any more
    again = run(admin, "orders", path)
    assert (again.unchanged_count, again.updated_count, again.rejected_count) == (4, 0, 0)
    assert _line_ids("O1") == ["O1-01", "O1-02", "O1-03"]


def test_orders_whose_lines_differ_stay_unchanged_without_ids(admin: Any, tmp_path: Path) -> None:
    history = [
        ["S1", "A1", "SKU-1", "1", "", "2024-11-03"],  # the SKUs swapped in the new file
        ["S1", "A1", "SKU-2", "1", "", "2024-11-03"],
        ["S2", "A1", "SKU-1", "1", "", "2024-11-03"],  # another quantity
        ["S3", "A1", "SKU-1", "1", "", "2024-11-03"],  # one more line
        ["S4", "A1", "SKU-1", "1", "", "2024-11-03"],  # one line fewer
        ["S4", "A1", "SKU-2", "1", "", "2024-11-03"],
        ["S5", "A1", "SKU-1", "1", "", "2024-11-03"],  # the same lines
        ["S5", "A1", "SKU-2", "2", "", "2024-11-03"],
    ]
    _history(admin, tmp_path, history)
    path = write_csv(
        tmp_path / "new.csv",
        [
            ["S1", "A1", "SKU-2", "1", "", "2024-11-03", "S1-1"],
            ["S1", "A1", "SKU-1", "1", "", "2024-11-03", "S1-2"],
            ["S2", "A1", "SKU-1", "2", "", "2024-11-03", "S2-1"],
            ["S3", "A1", "SKU-1", "1", "", "2024-11-03", "S3-1"],
            ["S3", "A1", "SKU-2", "1", "", "2024-11-03", "S3-2"],
            ["S4", "A1", "SKU-1", "1", "", "2024-11-03", "S4-1"],
            ["S5", "A1", "SKU-1", "1", "", "2024-11-03", "S5-1"],
            ["S5", "A1", "SKU-2", "2", "", "2024-11-03", "S5-2"],
        ],
        header=WITH_IDS,
    )

    job = run(admin, "orders", path)

    assert (job.updated_count, job.unchanged_count, job.rejected_count) == (2, 6, 0)
    for key in ("S1", "S2", "S3", "S4"):
        assert set(_line_ids(key)) == {""}, key
    assert _line_ids("S5") == ["S5-1", "S5-2"]


def test_ids_already_stored_are_never_rewritten(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    _catalog(admin, tmp_path)
    first = [
        ["K1", "A1", "SKU-1", "1", "", "2024-11-03", "K1-1"],
        ["K1", "A1", "SKU-2", "1", "", "2024-11-03", "K1-2"],
        ["K2", "A1", "SKU-1", "1", "", "2024-11-03", "K2-1"],  # one line with an id, one without
        ["K2", "A1", "SKU-2", "1", "", "2024-11-03", ""],
    ]
    assert run(admin, "orders", write_csv(tmp_path / "a.csv", first, header=WITH_IDS)).created_count
    other_ids = [[*row[:-1], f"X-{i}"] for i, row in enumerate(first)]

    job = run(admin, "orders", write_csv(tmp_path / "b.csv", other_ids, header=WITH_IDS))

    assert (job.unchanged_count, job.updated_count, job.rejected_count) == (4, 0, 0)
    assert _line_ids("K1") == ["K1-1", "K1-2"] and _line_ids("K2") == ["K2-1", ""]


def test_partly_empty_or_repeated_line_ids_fill_none(admin: Any, tmp_path: Path) -> None:
    _history(admin, tmp_path)
    path = write_csv(
        tmp_path / "new.csv",
        _with_ids(HISTORY, ["O1-01", "", "O1-03", "O2-01"]),  # O1's second line has none
        header=WITH_IDS,
    )

    job = run(admin, "orders", path)

    assert (job.unchanged_count, job.updated_count, job.rejected_count) == (3, 1, 0)
    assert _line_ids("O1") == ["", "", ""] and _line_ids("O2") == ["O2-01"]

    # two lines with one id: a known order is not rejected for it, and gets no ids either
    repeated = _with_ids(HISTORY[:3], ["O1-01", "O1-01", "O1-03"])
    job = run(admin, "orders", write_csv(tmp_path / "rep.csv", repeated, header=WITH_IDS))
    assert (job.unchanged_count, job.updated_count, job.rejected_count) == (3, 0, 0)
    assert _line_ids("O1") == ["", "", ""]


def test_a_file_without_a_line_id_column_changes_nothing(admin: Any, tmp_path: Path) -> None:
    _history(admin, tmp_path)

    job = run(admin, "orders", write_csv(tmp_path / "same.csv", HISTORY, header=ORDER_HEADER))

    assert (job.unchanged_count, job.updated_count) == (4, 0)
    assert set(OrderLine.objects.values_list("external_id", flat=True)) == {""}


def test_a_dry_run_reports_the_fill_and_writes_nothing(admin: Any, tmp_path: Path) -> None:
    _history(admin, tmp_path)
    before = _snapshot()
    path = write_csv(tmp_path / "new.csv", _with_ids(HISTORY, HISTORY_IDS), header=WITH_IDS)

    dry = run(admin, "orders", path, dry_run=True)

    assert (dry.updated_count, dry.unchanged_count, dry.rejected_count) == (4, 0, 0)
    assert _snapshot() == before
    job = run(admin, "orders", path)
    assert job.updated_count == dry.updated_count


def test_a_chunks_queries_do_not_grow_with_the_orders_filled(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    _catalog(admin, tmp_path)

    def queries(n: int) -> int:
        rows = [
            [f"N{n}-{i}", "A1", sku, "1", "", "2024-11-03"]
            for i in range(n)
            for sku in ("SKU-1", "SKU-2")
        ]
        old = run(admin, "orders", write_csv(tmp_path / f"{n}.csv", rows, header=ORDER_HEADER))
        assert old.created_count == 2 * n
        ids = [f"L{n}-{i}" for i in range(2 * n)]
        path = write_csv(tmp_path / f"{n}-ids.csv", _with_ids(rows, ids), header=WITH_IDS)
        with CaptureQueriesContext(connection) as captured:
            job = run(admin, "orders", path, chunk_size=2 * n)
        assert job.updated_count == 2 * n
        assert _line_ids(f"N{n}-{n - 1}") == ids[-2:]
        return len(captured)

    assert queries(3) == queries(30)
