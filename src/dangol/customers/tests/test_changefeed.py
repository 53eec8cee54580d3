"""The change feed is written through the raw bulk writer and read back exactly once."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from dangol.customers import changefeed
from dangol.customers.models import ChangeFeedEntry, ChangeOp


def test_record_many_writes_one_entry_per_id_with_the_transaction_id(db: Any) -> None:
    with transaction.atomic():
        tx = changefeed.txid()
        written = changefeed.record_many(
            "customer", [([1, 2], ChangeOp.CREATED), ([3], ChangeOp.UPDATED)]
        )
        changefeed.record("organization", [7], ChangeOp.MERGED, {"into": 9})
        assert changefeed.record_many("customer", [([], ChangeOp.UPDATED)]) == 0

    assert written == 3
    rows = list(
        ChangeFeedEntry.objects.order_by("id").values_list("object_type", "object_id", "op", "data")
    )
    assert rows == [
        ("customer", 1, "created", {}),
        ("customer", 2, "created", {}),
        ("customer", 3, "updated", {}),
        ("organization", 7, "merged", {"into": 9}),
    ]
    if connection.vendor == "postgresql":
        # served once every older transaction of the cluster has ended: not inside a test
        assert tx is not None
        assert set(ChangeFeedEntry.objects.values_list("txid", flat=True)) == {tx}
        return
    assert tx is None
    page = changefeed.read_since(None)
    assert [e.object_id for e in page.entries] == [1, 2, 3, 7]
    assert changefeed.read_since(page.next_cursor).entries == []


def test_a_date_or_number_as_since_is_refused_with_how_to_page(admin: Any, api: Any) -> None:
    """`since` reads like a time, but it is the `next_cursor` of the page before: a date or a
    number gets a 422 that says so, in the caller's language."""
    from django.utils import translation

    client = api(admin)
    first = client.get("/api/v1/changes")
    assert first.status_code == 200 and "next_cursor" in first.json()
    for since in ("2026-11-23T01:30:00Z", "0"):
        with translation.override("en"):
            answer = client.get("/api/v1/changes", {"since": since})
        assert answer.status_code == 422, since
        assert "next_cursor" in answer.content.decode()
