"""Bulk mode and per-file aggregates (ADR 0005 §13): a large load defers the target tables'
secondary indexes and rebuilds them at its end, also when it fails; a killed one leaves durable
markers from which the resumed job, or the next import, rebuilds them and refreshes the purchase
aggregates it owed. These tests need real transactions (DDL and commits), so they use
``transactional_db``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from dangol.commerce.models import Order, OrderLine, PurchasedProduct
from dangol.core import bulkwrite
from dangol.core.models import ChangeLog, DurableMarker
from dangol.customers import name_index
from dangol.customers.models import ContactPoint, Customer, ExternalId, LifecycleStage
from dangol.integration import services
from dangol.integration.imports import pipeline, targets
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_pipeline import _catalog, write_csv

ORDER_HEADER = ["주문번호", "회원번호", "상품코드", "수량", "단가", "주문일시"]
MODELS = (Customer, ContactPoint, ExternalId, Order)


def indexes() -> dict[str, set[str]]:
    return {m.__name__: {n for n, _sql in bulkwrite.secondary_indexes(m)} for m in MODELS}


FK_TABLES = [m._meta.db_table for m in (*MODELS, OrderLine, PurchasedProduct)]


def foreign_keys() -> set[tuple[str, ...]]:
    """(table, referenced table, columns, validated) of every foreign key of the tables a bulk
    load writes."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT conrelid::regclass::text, confrelid::regclass::text,"
                " pg_get_constraintdef(oid), convalidated::text FROM pg_constraint"
                " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
                [FK_TABLES],
            )
            return {(t, r, d.removesuffix(" NOT VALID"), v) for t, r, d, v in cursor.fetchall()}
        found: set[tuple[str, ...]] = set()
        for table in FK_TABLES:
            cursor.execute(f"PRAGMA foreign_key_list({table})")
            found |= {(table, r[2], r[3], "true") for r in cursor.fetchall()}
        return found


def customers_file(tmp_path: Path, n: int) -> Path:
    rows = [
        [f"B{i}", f"김하늘{i}", f"010-4000-{i:04d}", f"b{i}@example.com", "1990-01-02", "여"]
        for i in range(n)
    ]
    return write_csv(tmp_path / "c.csv", rows)


def orders_file(tmp_path: Path, n: int) -> Path:
    rows = [
        [f"O{i}", f"B{i}", "SKU-1" if k == 0 else "SKU-2", "1", "", "2024-03-01 10:00"]
        for i in range(n)
        for k in range(2)
    ]
    return write_csv(tmp_path / "o.csv", rows, header=ORDER_HEADER)


def start(admin: Any, target: str, path: Path) -> Any:
    job = services.create_import_job(target=target, source="pos", path=path, actor=admin)
    return services.start_import(job=job, actor=admin, enqueue=False)


def no_open_markers() -> bool:
    return not DurableMarker.objects.filter(closed_at__isnull=True).exists()


def audited(action: str) -> int:
    return ChangeLog.objects.filter(action=action).count()


def test_bulk_import_writes_the_rows_and_puts_every_index_back(
    transactional_db: Any, admin: Any, tmp_path: Path
) -> None:
    before, keys = indexes(), foreign_keys()
    during: dict[str, list[set[tuple[str, ...]]]] = {"customers": [], "orders": []}
    _catalog(admin, tmp_path)
    job = services.run_import(
        job=start(admin, "customers", customers_file(tmp_path, 30)),
        bulk=True,
        progress=lambda _job: during["customers"].append(foreign_keys()),
    )
    assert (job.status, job.created_count) == (ImportStatus.COMPLETED, 30)
    job = services.run_import(
        job=start(admin, "orders", orders_file(tmp_path, 30)),
        bulk=True,
        chunk_size=10,
        progress=lambda _job: during["orders"].append(foreign_keys()),
    )

    assert (job.status, job.created_count) == (ImportStatus.COMPLETED, 60)
    assert indexes() == before and no_open_markers()
    # every foreign key is back and validated; on PostgreSQL the load ran without those of
    # the tables it wrote (checked once per table at the end, not once per row)
    assert foreign_keys() == keys and all(k[3] == "true" for k in keys)
    if connection.vendor == "postgresql":
        for phase, models in (
            ("customers", (ContactPoint, ExternalId)),
            ("orders", (Order, OrderLine, PurchasedProduct)),
        ):
            written = {m._meta.db_table for m in models}
            assert during[phase] and all(not {k[0] for k in d} & written for d in during[phase])
    # the state was the marker table's; the change log says, once each way and per load, what
    # happened to the indexes
    assert DurableMarker.objects.filter(kind=targets.OWED).count() == 1  # one per order file
    assert DurableMarker.objects.filter(kind=bulkwrite.INDEXES).count() == 2
    assert audited(bulkwrite.AUDIT_DEFERRED) == audited(bulkwrite.AUDIT_RESTORED) == 2
    assert ContactPoint.objects.count() == 60 and ExternalId.objects.count() == 30
    # the aggregates, refreshed once for the file, are those of the orders
    c = Customer.objects.get(external_ids__key="B7")
    assert (c.order_count, c.total_spent, c.lifecycle_stage) == (
        1,
        Order.objects.get(customer=c).total,
        LifecycleStage.CUSTOMER,
    )
    assert not Customer.objects.filter(order_count=0).exists()
    if name_index.has_name_index():  # SQLite: the trigram table rebuilt, its triggers back
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {name_index.FTS_TABLE}")  # noqa: S608
            assert cursor.fetchone()[0] == 30
            cursor.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'")
            assert cursor.fetchone()[0] >= len(name_index.TRIGGERS)


def test_the_mode_is_chosen_for_large_files_and_forced_by_the_flag(
    transactional_db: Any, admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = start(admin, "customers", customers_file(tmp_path, 30))
    target = targets.CustomerTarget(set())

    assert pipeline.bulk_models(job, target, 30, 0, None) == []  # small file
    monkeypatch.setattr(pipeline, "BULK_MIN_ROWS", 10)
    assert pipeline.bulk_models(job, target, 30, 0, None) == list(target.bulk_models)
    assert pipeline.bulk_models(job, target, 30, 0, False) == []
    services.run_import(job=job, bulk=False)  # the table now holds 30 customers
    # a file smaller than the table keeps the indexes live, unless forced
    assert Customer not in pipeline.bulk_models(job, target, 20, 0, None)
    assert Customer in pipeline.bulk_models(job, target, 20, 0, True)
    job.dry_run = True
    assert pipeline.bulk_models(job, target, 30, 0, True) == []  # a dry run writes nothing


def test_a_failed_bulk_job_rebuilds_its_indexes_and_refreshes_what_it_wrote(
    transactional_db: Any, admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = indexes()
    _catalog(admin, tmp_path)
    services.run_import(job=start(admin, "customers", customers_file(tmp_path, 30)), bulk=True)
    original = targets.OrderTarget.write
    calls = {"n": 0}

    def flaky(self: Any, ctx: Any, rows: list[Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        original(self, ctx, rows)

    monkeypatch.setattr(targets.OrderTarget, "write", flaky)
    job = start(admin, "orders", orders_file(tmp_path, 30))
    with pytest.raises(RuntimeError):
        services.run_import(job=job, bulk=True, chunk_size=10)

    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and job.created_count == 20  # two chunks
    assert indexes() == before and no_open_markers()
    assert Customer.objects.filter(order_count=1).count() == 10  # those chunks' customers


def test_a_killed_bulk_job_is_finished_by_its_resume(
    transactional_db: Any, admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = indexes()
    _catalog(admin, tmp_path)
    services.run_import(job=start(admin, "customers", customers_file(tmp_path, 30)), bulk=True)
    job = start(admin, "orders", orders_file(tmp_path, 30))
    original = targets.OrderTarget.write
    calls = {"n": 0}

    def dies(self: Any, ctx: Any, rows: list[Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        original(self, ctx, rows)

    # a killed process runs no clean-up: neither the per-file refresh nor the rebuild
    with monkeypatch.context() as m:
        m.setattr(targets.OrderTarget, "write", dies)
        m.setattr(targets.OrderTarget, "finish", lambda self, ctx, owner: None)
        m.setattr(bulkwrite, "restore_indexes", lambda owner: False)
        with pytest.raises(RuntimeError):
            services.run_import(job=job, bulk=True, chunk_size=10)
    owner = targets.job_owner(job.pk)
    assert set(
        DurableMarker.objects.filter(owner=owner, closed_at__isnull=True).values_list(
            "kind", flat=True
        )
    ) == {bulkwrite.INDEXES, targets.OWED}
    assert audited(bulkwrite.AUDIT_DEFERRED) == audited(bulkwrite.AUDIT_RESTORED) + 1
    assert indexes()["Order"] < before["Order"]  # dropped, owed
    assert Customer.objects.filter(order_count=1).count() == 0  # the refresh is owed too

    services.start_import(job=job, actor=admin, enqueue=False)  # resume: bulk mode again
    job = services.run_import(job=job, chunk_size=10, bulk=False)

    assert (job.status, job.created_count) == (ImportStatus.COMPLETED, 60)
    assert indexes() == before and no_open_markers()
    assert Customer.objects.filter(order_count=1).count() == 30


def test_an_abandoned_bulk_job_is_finished_by_the_next_import(
    transactional_db: Any, admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = indexes()
    job = start(admin, "customers", customers_file(tmp_path, 30))
    with monkeypatch.context() as m:  # killed after its last chunk, before the rebuild
        m.setattr(bulkwrite, "restore_indexes", lambda owner: False)
        services.run_import(job=job, bulk=True)
    assert indexes()["Customer"] < before["Customer"]

    other = start(
        admin, "customers", write_csv(tmp_path / "x.csv", [["X1", "이수", "", "", "", ""]])
    )
    assert DurableMarker.objects.filter(closed_at__isnull=True).exists()  # its deferral, owed
    services.run_import(job=other)

    assert indexes() == before and no_open_markers()
    restored = ChangeLog.objects.get(action=bulkwrite.AUDIT_RESTORED)
    assert (restored.after or {}).get("owner") == targets.job_owner(job.pk)


def test_a_second_bulk_job_loads_with_the_indexes_of_the_first_deferred_only_once(
    transactional_db: Any,
) -> None:
    before = bulkwrite.secondary_indexes(ExternalId)
    first = bulkwrite.defer_indexes("test:first", before)
    assert first is not None
    assert bulkwrite.secondary_indexes(ExternalId) == []
    assert bulkwrite.defer_indexes("test:first", []) == first  # a resume: the same marker
    assert bulkwrite.defer_indexes("test:second", []) is None  # normal mode for the second
    assert bulkwrite.restore_indexes("test:first")
    assert not bulkwrite.restore_indexes("test:first")  # closed
    assert bulkwrite.secondary_indexes(ExternalId) == before


def test_an_order_bulk_load_keeps_the_orders_index_by_customer(db: Any) -> None:
    """The per-file aggregate refresh probes orders by customer while the load runs: of the
    order table's secondary indexes, exactly the one that starts with the customer stays."""
    target = targets.OrderTarget(set())
    kept = [name for name, sql in bulkwrite.secondary_indexes(Order) if target.bulk_keep(name, sql)]

    assert len(kept) == 1
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Order._meta.db_table)
    assert constraints[kept[0]]["columns"][0] == "customer_id"


def test_an_order_bulk_load_keeps_the_lines_index_by_order(db: Any) -> None:
    """Filling the line ids of known orders reads their lines by order while the load runs: of
    the line table's secondary indexes, exactly the one on the order alone stays."""
    target = targets.OrderTarget(set())
    lines = bulkwrite.secondary_indexes(OrderLine)
    kept = [name for name, sql in lines if target.bulk_keep(name, sql)]

    assert len(kept) == 1 and len(lines) > 1
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, OrderLine._meta.db_table)
    assert constraints[kept[0]]["columns"] == ["order_id"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL drops foreign keys")
def test_a_row_breaking_a_dropped_foreign_key_leaves_it_unvalidated_and_the_restore_done(
    transactional_db: Any, admin: Any
) -> None:
    """Only a concurrent writer could add a row that breaks a key while a bulk load has it
    dropped. The restore must still succeed (indexes back, marker closed): the key comes back
    enforced for new rows but not validated, rather than leaving the deferral open forever."""
    keys = foreign_keys()
    statements = bulkwrite.foreign_key_statements([ContactPoint])
    marker = bulkwrite.defer_indexes("test:fk", [], **statements)
    assert marker is not None
    orphan = Customer.objects.create(full_name="고아", family_name="고", given_name="아")
    ContactPoint.objects.create(customer=orphan, kind="email", value="o@example.com")
    with connection.cursor() as cursor:  # the parent goes, the child stays: no key to stop it
        cursor.execute(f"DELETE FROM {Customer._meta.db_table} WHERE id = %s", [orphan.pk])  # noqa: S608

    assert bulkwrite.restore_indexes("test:fk") and no_open_markers()

    after = {k[:3]: k[3] for k in foreign_keys()}
    assert set(after) == {k[:3] for k in keys}
    broken = [k for k, valid in after.items() if valid == "false"]
    assert [k[0] for k in broken] == [ContactPoint._meta.db_table]
    assert "(customer_id)" in broken[0][2]
    # enforced for new rows all the same
    with pytest.raises(IntegrityError, match="foreign key"), transaction.atomic():
        ContactPoint.objects.create(
            customer_id=orphan.pk, kind="email", value="x@example.com", match_key="x@example.com"
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
