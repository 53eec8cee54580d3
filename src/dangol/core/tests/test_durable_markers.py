"""Durable markers (ADR 0005 §13): work still owed lives in its own table, opened and closed in
the callers' transactions; the change log only tells people that indexes were deferred and
restored. The upgrade moves the markers still open in the change log into the table."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction

from dangol.core import bulkwrite
from dangol.core.models import ChangeLog, DurableMarker, PiiAccessLog

KIND = "test.owed"
migration = importlib.import_module("dangol.core.migrations.0002_durablemarker")


def test_a_closed_marker_is_no_longer_open(db: Any) -> None:
    marker = bulkwrite.open_marker(KIND, "job:1", {"first_order_id": 7})
    assert bulkwrite.open_markers(KIND) == {"job:1": (marker, {"first_order_id": 7})}

    assert bulkwrite.close_marker(KIND, "job:1", marker)

    assert bulkwrite.open_markers(KIND) == {}
    assert DurableMarker.objects.get(pk=marker).closed_at is not None
    assert not bulkwrite.close_marker(KIND, "job:1", marker)  # already closed


def test_a_marker_whose_transaction_rolls_back_was_never_opened(transactional_db: Any) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        bulkwrite.open_marker(KIND, "job:1", {})
        raise RuntimeError("chunk failed")

    assert bulkwrite.open_markers(KIND) == {}
    assert not DurableMarker.objects.exists()


def test_open_markers_of_one_owner_or_of_all_in_one_query(
    db: Any, django_assert_num_queries: Any
) -> None:
    first = bulkwrite.open_marker(KIND, "job:1", {"n": 1})
    second = bulkwrite.open_marker(KIND, "job:2", {"n": 2})
    bulkwrite.open_marker("test.other", "job:1", {})
    bulkwrite.close_marker(KIND, "job:3", bulkwrite.open_marker(KIND, "job:3", {}))

    with django_assert_num_queries(1):
        everyone = bulkwrite.open_markers(KIND)
    assert everyone == {"job:1": (first, {"n": 1}), "job:2": (second, {"n": 2})}
    assert bulkwrite.open_markers(KIND, "job:2") == {"job:2": (second, {"n": 2})}
    assert bulkwrite.open_markers(KIND, "job:3") == {}


def test_one_marker_of_a_kind_is_open_per_owner(db: Any) -> None:
    marker = bulkwrite.open_marker(KIND, "job:1", {})
    with pytest.raises(IntegrityError), transaction.atomic():
        bulkwrite.open_marker(KIND, "job:1", {})

    bulkwrite.close_marker(KIND, "job:1", marker)
    assert bulkwrite.open_marker(KIND, "job:1", {}) != marker  # a new one once closed


def test_deferred_indexes_keep_their_state_in_the_table_and_one_audit_row_each_way(
    transactional_db: Any,
) -> None:
    before = bulkwrite.secondary_indexes(PiiAccessLog)
    assert before

    with bulkwrite.deferred_indexes("test:load", [PiiAccessLog]) as deferred:
        assert deferred and bulkwrite.secondary_indexes(PiiAccessLog) == []
        ((marker, data),) = bulkwrite.open_markers(bulkwrite.INDEXES, "test:load").values()
        assert len(data["restore"]) == len(before)

    assert bulkwrite.secondary_indexes(PiiAccessLog) == before
    assert bulkwrite.open_markers(bulkwrite.INDEXES) == {}
    audit = ChangeLog.objects.filter(object_type="core.durablemarker").order_by("id")
    assert [(r.action, r.object_id) for r in audit] == [
        (bulkwrite.AUDIT_DEFERRED, str(marker)),
        (bulkwrite.AUDIT_RESTORED, str(marker)),
    ]
    assert audit[0].after == {
        "owner": "test:load",
        "indexes": [name for name, _sql in before],
        "statements": len(before),
    }
    assert not ChangeLog.objects.filter(action__in=[migration.OPENED, migration.CLOSED]).exists()


def test_a_deferral_whose_restore_never_ran_stays_open_until_restored(
    transactional_db: Any,
) -> None:
    before = bulkwrite.secondary_indexes(PiiAccessLog)
    marker = bulkwrite.defer_indexes("test:killed", before)  # the process dies here

    assert bulkwrite.open_markers(bulkwrite.INDEXES) == {
        "test:killed": (marker, {"restore": [bulkwrite._if_not_exists(s) for _n, s in before]})
    }
    assert bulkwrite.restore_indexes("test:killed")
    assert not bulkwrite.restore_indexes("test:killed")
    assert bulkwrite.secondary_indexes(PiiAccessLog) == before
    assert ChangeLog.objects.filter(action=bulkwrite.AUDIT_RESTORED).count() == 1


def _logged(action: str, kind: str, owner: str, after: dict[str, Any]) -> ChangeLog:
    return ChangeLog.objects.create(
        action=action, object_type=kind, object_id=owner, object_repr=owner, after=after
    )


def test_the_upgrade_moves_the_markers_still_open_in_the_change_log(db: Any) -> None:
    """What ``bulkwrite`` wrote before the table: opened rows, and closed rows naming them."""
    closed = _logged(migration.OPENED, bulkwrite.INDEXES, "job:1", {"restore": ["CREATE 1"]})
    _logged(migration.CLOSED, bulkwrite.INDEXES, "job:1", {"marker": closed.pk})
    still_open = _logged(migration.OPENED, bulkwrite.INDEXES, "job:2", {"restore": ["CREATE 2"]})
    owed = _logged(migration.OPENED, KIND, "job:2", {"first_order_id": 41})
    _logged("customer.created", "customers.customer", "5", {"name": "김하늘"})

    migration.copy_open_markers(apps, None)

    assert bulkwrite.open_markers(bulkwrite.INDEXES) == {
        "job:2": (DurableMarker.objects.get(owner="job:2", kind=bulkwrite.INDEXES).pk,
                  {"restore": ["CREATE 2"]}),
    }  # fmt: skip
    assert {o: d for o, (_pk, d) in bulkwrite.open_markers(KIND).items()} == {
        "job:2": {"first_order_id": 41}
    }
    assert DurableMarker.objects.count() == 2  # the closed one is not copied
    assert DurableMarker.objects.get(kind=KIND).opened_at == owed.at
    # the change log's own pairing now says they are closed there: moving twice copies nothing
    moved = ChangeLog.objects.filter(action=migration.CLOSED).exclude(after__marker=closed.pk)
    assert sorted(m for m in moved.values_list("after__marker", flat=True)) == sorted(
        [still_open.pk, owed.pk]
    )
    migration.copy_open_markers(apps, None)
    assert DurableMarker.objects.count() == 2


def test_the_downgrade_puts_the_open_markers_back_in_the_change_log(db: Any) -> None:
    bulkwrite.open_marker(KIND, "job:7", {"first_order_id": 3})
    bulkwrite.close_marker(KIND, "job:8", bulkwrite.open_marker(KIND, "job:8", {}))

    migration.copy_back(apps, None)

    rows = ChangeLog.objects.filter(action=migration.OPENED)
    assert [(r.object_type, r.object_id, r.after) for r in rows] == [
        (KIND, "job:7", {"first_order_id": 3})
    ]
