"""``TableWriter`` writes what the ORM would read back, on both engines: text with the characters
PostgreSQL's ``COPY`` text format escapes, JSON, dates, aware date-times in any zone, amounts,
booleans and NULLs. On PostgreSQL the writer formats the ``COPY`` data itself (``copy_text``)
and falls back to psycopg's ``write_row`` for values it has no text form for: both paths must
store the same rows."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.core import bulkwrite
from dangol.customers.models import Customer

SEOUL = ZoneInfo("Asia/Seoul")
COLUMNS = (
    "id",
    "full_name",
    "given_name",
    "birth_date",
    "birth_date_is_lunar",
    "custom_fields",
    "last_purchase_at",
    "total_spent",
    "order_count",
)
NAMES = [
    "김하늘",
    "tab\there",
    "new\nline",
    "back\\slash \\N",
    "carriage\rreturn",
    "따옴표 ' \" 와 %s",
    r"\N",
    "",
    "emoji 🙂 and 한자 金",
]


def rows(ids: list[int]) -> list[tuple[Any, ...]]:
    out = []
    for k, (pk, name) in enumerate(zip(ids, NAMES, strict=True)):
        out.append(
            (
                pk,
                name,
                name[:100],
                datetime.date(1990, 1, 1) + datetime.timedelta(days=k) if k % 3 else None,
                k % 2 == 0,
                {"note": name, "n": k, "nested": {"list": [1, "두", None]}} if k % 4 else {},
                datetime.datetime(2024, 3, 1, 23, 59, 59, 123456, tzinfo=SEOUL)
                + datetime.timedelta(hours=k)
                if k % 2
                else None,
                Decimal("1234567.89") * k,
                k,
            )
        )
    return out


def stored(ids: list[int]) -> list[tuple[Any, ...]]:
    return list(Customer.objects.filter(pk__in=ids).order_by("pk").values_list(*COLUMNS))


def expected(written: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [
        (
            *r[:6],
            r[6].astimezone(datetime.UTC) if r[6] else None,
            r[7].quantize(Decimal("0.01")),
            r[8],
        )
        for r in written
    ]


def write(ids: list[int], now: datetime.datetime) -> list[tuple[Any, ...]]:
    written = rows(ids)
    bulkwrite.TableWriter(
        Customer, COLUMNS, now, constants={"source": "tab\tsource", "created_at": now}
    ).insert(written)
    return written


def test_the_rows_read_back_as_written(db: Any) -> None:
    now = timezone.now()
    ids = bulkwrite.allocate_ids(Customer, len(NAMES))
    written = write(ids, now)

    assert stored(ids) == expected(written)
    constants = set(Customer.objects.filter(pk__in=ids).values_list("source", "created_at"))
    assert constants == {("tab\tsource", now)}
    # the fields the writer filled from their defaults
    assert set(Customer.objects.filter(pk__in=ids).values_list("status", "updated_at")) == {
        (Customer._meta.get_field("status").get_default(), now)
    }


def test_psycopgs_path_stores_the_same_rows(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value without a text form here (``copy_text`` raises ``TypeError``) sends the whole
    insert through psycopg's ``write_row``: the rows must be identical either way."""
    now = timezone.now()
    first = bulkwrite.allocate_ids(Customer, len(NAMES))
    ours = write(first, now)

    def refuse(value: Any) -> str:
        raise TypeError("test")

    monkeypatch.setattr(bulkwrite, "copy_text", refuse)
    second = bulkwrite.allocate_ids(Customer, len(NAMES))
    theirs = write(second, now)

    assert [r[1:] for r in stored(first)] == [r[1:] for r in stored(second)]
    assert stored(second) == expected(theirs) and stored(first) == expected(ours)


def test_copy_text_formats_each_kind_the_server_reads_back(db: Any) -> None:
    assert bulkwrite.copy_text(None) == "\\N"
    assert bulkwrite.copy_text("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    assert (bulkwrite.copy_text(True), bulkwrite.copy_text(False)) == ("t", "f")
    assert bulkwrite.copy_text(Decimal("-0.50")) == "-0.50"
    moment = datetime.datetime(2024, 1, 1, 9, 0, tzinfo=SEOUL)
    assert bulkwrite.copy_text(moment) == "2024-01-01T09:00:00+09:00"
    with pytest.raises(TypeError):
        bulkwrite.copy_text(datetime.datetime(2024, 1, 1))  # naive: the zone would be the session's
    with pytest.raises(TypeError):
        bulkwrite.copy_text(object())
    if connection.vendor == "postgresql":  # the server reads each back to the value
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT %s::timestamptz = %s, %s::numeric = %s",
                [
                    bulkwrite.copy_text(moment),
                    moment,
                    bulkwrite.copy_text(Decimal("-0.50")),
                    Decimal("-0.5"),
                ],
            )
            assert cursor.fetchone() == (True, True)


sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's one-statement path for tables with triggers"
)


def name_index_finds(term: str) -> list[int]:
    from dangol.customers.name_index import FTS_TABLE

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s ORDER BY rowid",  # noqa: S608
            [f'"{term}"'],
        )
        return [r[0] for r in cursor.fetchall()]


@sqlite_only
def test_a_table_with_triggers_is_written_in_one_statement_with_the_same_rows(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The customer table keeps its trigram name index by triggers: the writer inserts a chunk
    in one ``INSERT … SELECT`` from a JSON document, and stores what ``executemany`` stores;
    the index follows; a value JSON cannot carry faithfully (a NUL) falls back to
    ``executemany``."""
    assert bulkwrite.sqlite_triggered(Customer._meta.db_table)
    now = timezone.now()

    first = bulkwrite.allocate_ids(Customer, len(NAMES))
    with CaptureQueriesContext(connection) as one:
        ours = write(first, now)
    monkeypatch.setattr(bulkwrite, "sqlite_triggered", lambda table: False)
    second = bulkwrite.allocate_ids(Customer, len(NAMES))
    with CaptureQueriesContext(connection) as many:
        theirs = write(second, now)

    assert [r[1:] for r in stored(first)] == [r[1:] for r in stored(second)]
    assert stored(first) == expected(ours) and stored(second) == expected(theirs)
    assert any("json_each" in q["sql"] for q in one.captured_queries)
    assert not any("json_each" in q["sql"] for q in many.captured_queries)
    assert name_index_finds("김하늘") == [first[0], second[0]]

    monkeypatch.undo()
    third = bulkwrite.allocate_ids(Customer, 2)
    with CaptureQueriesContext(connection) as nul:
        bulkwrite.TableWriter(Customer, ("id", "full_name"), now).insert(
            [(third[0], "널\x00문자"), (third[1], "하늘다람쥐")]
        )
    assert not any("json_each" in q["sql"] for q in nul.captured_queries)
    assert list(
        Customer.objects.filter(pk__in=third).order_by("pk").values_list("full_name", flat=True)
    ) == ["널\x00문자", "하늘다람쥐"]


@sqlite_only
def test_updates_of_a_table_with_triggers_are_one_statement_and_keep_the_index(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    ids = bulkwrite.allocate_ids(Customer, 3)
    bulkwrite.TableWriter(Customer, ("id", "full_name", "order_count"), now).insert(
        [(ids[0], "가나다라", 1), (ids[1], "마바사아", 2), (ids[2], "자차카타", 3)]
    )
    with CaptureQueriesContext(connection) as one:
        bulkwrite.update_rows(
            Customer,
            ("full_name", "order_count", "birth_date"),
            [
                ("하늘구름", 10, datetime.date(1990, 5, 1), ids[0]),
                ("마바사아", 20, None, ids[1]),
            ],
        )
    monkeypatch.setattr(bulkwrite, "sqlite_triggered", lambda table: False)
    with CaptureQueriesContext(connection) as many:
        bulkwrite.update_rows(
            Customer,
            ("full_name", "order_count"),
            [("바다파도", 30, ids[2]), ("바다파도", 31, ids[2])],
        )

    assert any("json_each" in q["sql"] for q in one.captured_queries)
    assert not any("json_each" in q["sql"] for q in many.captured_queries)
    assert list(
        Customer.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list("full_name", "order_count", "birth_date")
    ) == [
        ("하늘구름", 10, datetime.date(1990, 5, 1)),
        ("마바사아", 20, None),
        ("바다파도", 31, None),
    ]
    assert name_index_finds("하늘구") == [ids[0]]
    assert name_index_finds("가나다") == []
    assert name_index_finds("마바사") == [ids[1]]
    assert name_index_finds("바다파") == [ids[2]]
