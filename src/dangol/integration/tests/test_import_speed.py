"""The speed paths of the import pipeline keep its results: CSV columns read from the cells equal
the rows' values, order-number suffixes come from the alphabet, the set-based purchase
aggregates follow the orders (cancelled ones excluded), the collector is back on after a
run, constants are written exactly, and the read-ahead thread checks in the run's language."""

from __future__ import annotations

import gc
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from dangol.commerce import purchases
from dangol.commerce.models import Order
from dangol.core import bulkwrite
from dangol.customers.models import Customer, ExternalId
from dangol.integration.imports import pipeline, targets
from dangol.integration.imports.readers import Reader, column_of
from dangol.integration.models import ImportFormat, ImportRowError, ImportStatus
from dangol.integration.tests.test_import_pipeline import ROWS, _catalog, run, write_csv

ORDER_HEADER = ["주문번호", "회원번호", "상품코드", "수량", "단가", "주문일시"]


def test_csv_columns_from_cells_equal_the_rows_values(tmp_path: Path) -> None:
    path = tmp_path / "messy.csv"
    path.write_bytes(
        (
            "id,name,name,memo\r\n"  # a duplicate header: the last column wins, as in a dict
            "1,김,Kim,a\r\n"
            "2,이\r\n"  # a short row
            "\r\n"  # a blank line is skipped
            '3,박,Park,"two\r\nlines"\r\n'  # a quoted line break: the next row's line is 6
            "4,최,Choi,x,extra\r\n"  # a long row
        ).encode()
    )

    records = list(Reader(path.open("rb"), ImportFormat.CSV))

    assert [r.line for r in records] == [2, 3, 5, 7]
    for column in ("id", "name", "memo", "absent"):
        assert column_of(records, column) == [r.values.get(column, "") for r in records]
    assert column_of(records, "name") == ["Kim", "", "Park", "Choi"]
    assert records[1].values == {"id": "2", "name": "", "memo": ""}
    assert records[3].raw == ["4", "최", "Choi", "x", "extra"]  # as read, for the download


def test_order_number_suffixes_are_eight_letters_of_the_alphabet() -> None:
    suffixes = targets._order_suffixes(2000)

    assert len(suffixes) == 2000
    assert all(len(s) == 8 and set(s) <= set(targets.ORDER_NUMBER_ALPHABET) for s in suffixes)
    assert len(set(suffixes)) == 2000  # 34⁸ ≈ 1.8·10¹²: a repeat here means a broken generator
    assert targets._order_suffixes(0) == []
    letters = {c for s in suffixes for c in s}
    assert letters == set(targets.ORDER_NUMBER_ALPHABET)  # every letter is drawn


def test_purchase_aggregates_follow_the_orders_and_skip_cancelled_ones(
    admin: Any, tmp_path: Path
) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    _catalog(admin, tmp_path)
    job = run(
        admin,
        "orders",
        write_csv(
            tmp_path / "o.csv",
            [
                ["O1", "A1", "SKU-1", "1", "", "2024-03-01 10:00"],
                ["O2", "A1", "SKU-2", "2", "", "2024-04-01 09:00"],
                ["O3", "A2", "SKU-1", "1", "", "2024-05-01 12:00"],
            ],
            header=ORDER_HEADER,
        ),
    )
    assert job.status == ImportStatus.COMPLETED and gc.isenabled()
    kim = Customer.objects.get(external_ids__key="A1")
    nam = Customer.objects.get(external_ids__key="A2")
    assert (kim.order_count, kim.total_spent, kim.lifecycle_stage) == (2, Decimal(68000), "repeat")
    assert (nam.order_count, nam.lifecycle_stage) == (1, "customer")
    assert Order.objects.get(external_id="O1").number.startswith("DG20240301-")

    # cancel one of Kim's orders and the only one of Nam's, then recompute set-based
    Order.objects.filter(external_id__in=["O2", "O3"]).update(status="cancelled")
    purchases.refresh_purchase_aggregates([kim.pk, nam.pk, 10**9], kim.updated_at)

    kim.refresh_from_db()
    nam.refresh_from_db()
    o1 = Order.objects.get(external_id="O1")
    assert (kim.order_count, kim.total_spent) == (1, Decimal(32000))
    assert kim.first_purchase_at == kim.last_purchase_at == o1.placed_at
    assert (nam.order_count, nam.total_spent) == (0, Decimal(0))
    assert (nam.first_purchase_at, nam.last_purchase_at) == (None, None)
    assert nam.lifecycle_stage == "customer"  # a stage is never taken back here, as in services


def test_constants_written_as_sqlite_literals_keep_quotes_and_percent_signs(
    admin: Any, tmp_path: Path
) -> None:
    """The chunk's constants (here the source) go into the statement as literals on SQLite and
    into COPY on PostgreSQL: what is stored is exactly the text, whatever it holds."""
    source = "O'Brien's 100% 매장; DROP TABLE x --"
    job = run(admin, "customers", write_csv(tmp_path / "q.csv", ROWS[:2]), source=source)

    assert job.created_count == 2
    assert set(Customer.objects.values_list("source", flat=True)) == {source}
    assert set(ExternalId.objects.values_list("source", flat=True)) == {source}
    assert bulkwrite.sqlite_literal("a'b%") == "'a''b%'"
    assert bulkwrite.sqlite_literal(None) == "NULL"
    assert bulkwrite.sqlite_literal(True) == "1"
    assert bulkwrite.sqlite_literal(7) == "7"
    assert bulkwrite.sqlite_literal("nul\x00") is None  # bound as a parameter instead
    assert bulkwrite.sqlite_literal(1.5) is None


def test_the_next_chunk_is_checked_ahead_in_the_callers_language(
    admin: Any, tmp_path: Path
) -> None:
    """Chunks are read and checked in a thread one ahead of the writes: its rejection reasons
    are in the language of the run, in every chunk, and the thread is gone after the run."""
    rows = [[f"L{i}", f"김민{i}", "010-12", "", "", ""] for i in range(7)]  # every phone is bad
    with translation.override("en"):
        job = run(admin, "customers", write_csv(tmp_path / "en.csv", rows), chunk_size=2)

    assert (job.status, job.rejected_count) == (ImportStatus.COMPLETED, 7)
    messages = {r["message"] for e in ImportRowError.objects.filter(job=job) for r in e.reasons}
    assert messages and all(m.isascii() for m in messages), messages
    assert not [t for t in threading.enumerate() if t.name == "dangol-import-read-ahead"]


def test_read_ahead_hands_errors_over_and_stops_when_left_early() -> None:
    produced: list[int] = []

    def items() -> Any:
        for i in range(1000):
            produced.append(i)
            yield i

    with pipeline._read_ahead(items()) as ahead:
        assert [next(ahead), next(ahead)] == [0, 1]
    assert len(produced) <= 4  # one being handed over, one in the queue, one being made
    assert not [t for t in threading.enumerate() if t.name == "dangol-import-read-ahead"]

    def failing() -> Any:
        yield 1
        raise ValueError("bad chunk")

    with pipeline._read_ahead(failing()) as ahead:
        assert next(ahead) == 1
        with pytest.raises(ValueError, match="bad chunk"):
            next(ahead)
