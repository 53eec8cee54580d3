"""A products import keeps the price history as the API's price writers do: a new product's
price and every changed price is a ``PriceChange`` as of the import (its source, its instant),
a price the product already has writes nothing, a dry run writes nothing, and a chunk's history
is one insert. The history shows on the product page and in the API."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.commerce import services as commerce
from dangol.commerce.models import PriceChange, Product
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_pipeline import run, write_csv
from dangol.web.testing import apply_test_settings

HEADER = ["상품코드", "상품명", "판매가"]


def products(path: Path, *rows: tuple[str, str]) -> Path:
    """A product file of ``(sku, price)`` rows."""
    return write_csv(path, [[sku, f"상품 {sku}", price] for sku, price in rows], header=HEADER)


def history(sku: str) -> list[tuple[int | None, int, str]]:
    """(old, new, source) of the product's changes, oldest first."""
    return [
        (None if c.old_price is None else int(c.old_price), int(c.new_price), c.source)
        for c in PriceChange.objects.filter(product__sku=sku).order_by("effective_at")
    ]


def test_a_new_products_price_is_its_first_change_and_importing_again_adds_none(
    admin: Any, tmp_path: Path
) -> None:
    path = products(tmp_path / "p.csv", ("SR-1", "32,000"), ("TN-1", "18,000"))

    first = run(admin, "products", path, source="erp")
    again = run(admin, "products", path, source="erp")

    assert (first.created_count, again.unchanged_count, again.updated_count) == (2, 2, 0)
    assert history("SR-1") == [(None, 32000, "erp")]
    assert history("TN-1") == [(None, 18000, "erp")]
    serum = Product.objects.get(sku="SR-1")
    change = PriceChange.objects.get(product=serum)
    assert (change.currency, change.effective_at) == ("KRW", serum.updated_at)


def test_a_changed_price_is_a_second_change_shown_on_the_product_page_and_in_the_api(
    admin: Any, api: Any, client: Any, settings: Any, tmp_path: Path
) -> None:
    run(admin, "products", products(tmp_path / "a.csv", ("SR-1", "32,000"), ("TN-1", "18,000")))

    job = run(
        admin, "products", products(tmp_path / "b.csv", ("SR-1", "35,000"), ("TN-1", "18000"))
    )

    assert (job.updated_count, job.unchanged_count) == (1, 1)
    serum = Product.objects.get(sku="SR-1")
    assert serum.price == Decimal(35000)
    assert history("SR-1") == [(None, 32000, "pos"), (32000, 35000, "pos")]
    assert history("TN-1") == [(None, 18000, "pos")]
    items = api(admin).get(f"/api/v1/products/{serum.pk}/prices").json()["items"]
    assert [(c["old_price"], c["new_price"]) for c in items] == [
        ("32000.00", "35000.00"),
        (None, "32000.00"),
    ]
    apply_test_settings(settings)
    client.force_login(admin)
    page = client.get(f"/products/{serum.pk}/").content.decode()
    shown = page[page.index('id="product-prices"') : page.index('id="product-orders"')]
    assert "₩32,000" in shown and "₩35,000" in shown


def test_a_dry_run_writes_no_history(admin: Any, tmp_path: Path) -> None:
    run(admin, "products", products(tmp_path / "a.csv", ("SR-1", "32,000")))

    job = run(
        admin,
        "products",
        products(tmp_path / "b.csv", ("SR-1", "35,000"), ("NEW-1", "1,000")),
        dry_run=True,
    )

    assert (job.status, job.updated_count, job.created_count) == (ImportStatus.VALIDATED, 1, 1)
    assert history("SR-1") == [(None, 32000, "pos")]
    assert PriceChange.objects.count() == 1
    assert Product.objects.get(sku="SR-1").price == Decimal(32000)


def test_a_price_set_through_the_api_is_the_old_price_of_the_imports_change(
    admin: Any, api: Any, tmp_path: Path
) -> None:
    serum = commerce.create_product(sku="SR-1", name="상품 SR-1", price=Decimal(30000), actor=admin)
    api(admin).patch(
        f"/api/v1/products/{serum.pk}", json.dumps({"price": "31000"}), "application/json"
    )

    run(admin, "products", products(tmp_path / "a.csv", ("SR-1", "31,000")))
    run(admin, "products", products(tmp_path / "b.csv", ("SR-1", "33,000")))

    assert history("SR-1") == [(None, 30000, ""), (30000, 31000, ""), (31000, 33000, "pos")]


def test_a_change_dated_after_the_import_stays_the_current_price(
    admin: Any, api: Any, tmp_path: Path
) -> None:
    """The prices API may date a change up to a day ahead: it is the product's current price.
    An import meanwhile joins the history before it (its price is the later change's old price)
    without moving the current price, as ``record_price`` does with a late change."""
    serum = commerce.create_product(sku="SR-1", name="상품 SR-1", price=Decimal(30000), actor=admin)
    soon = (timezone.now() + datetime.timedelta(hours=6)).isoformat()
    record = {"source": "erp", "sku": "SR-1", "price": "36000", "effective_at": soon}
    api(admin).post("/api/v1/prices/bulk", json.dumps({"records": [record]}), "application/json")

    same = run(admin, "products", products(tmp_path / "a.csv", ("SR-1", "30,000")))
    job = run(admin, "products", products(tmp_path / "b.csv", ("SR-1", "33,000")))

    assert (same.unchanged_count, job.updated_count) == (1, 1)  # 30,000 is in effect until then
    assert Product.objects.get(pk=serum.pk).price == Decimal(36000)
    assert history("SR-1") == [(None, 30000, ""), (30000, 33000, "pos"), (33000, 36000, "erp")]


def test_a_product_in_two_chunks_of_one_file_has_one_change_at_its_instant(
    admin: Any, tmp_path: Path
) -> None:
    """Two rows of one product (its id in the source, with another SKU) in two chunks: the
    second corrects the change the first wrote at the import's instant."""
    run(admin, "products", products(tmp_path / "a.csv", ("SR-1", "32,000")), source="erp")
    path = write_csv(
        tmp_path / "b.csv",
        [["SR-1", "SR-1", "세럼", "34,000"], ["SR-1", "SR-1B", "세럼", "35,000"]],
        header=["상품id", "상품코드", "상품명", "판매가"],
    )

    job = run(admin, "products", path, source="erp", chunk_size=1)

    assert (job.status, job.updated_count) == (ImportStatus.COMPLETED, 2)
    assert Product.objects.get(sku="SR-1B").price == Decimal(35000)
    assert history("SR-1B") == [(None, 32000, "erp"), (32000, 35000, "erp")]


def test_a_chunks_history_is_one_insert_whatever_its_size(admin: Any, tmp_path: Path) -> None:
    def queries(skus: list[str], price: str, name: str) -> list[str]:
        path = products(tmp_path / name, *((sku, price) for sku in skus))
        with CaptureQueriesContext(connection) as ctx:
            run(admin, "products", path)
        return [q["sql"] for q in ctx.captured_queries]

    few, many = ["A-1", "A-2"], [f"B-{i}" for i in range(40)]
    created = [len(queries(few, "1,000", "a.csv")), len(queries(many, "1,000", "b.csv"))]
    changed_few = queries(few, "2,000", "c.csv")
    changed_many = queries(many, "2,000", "d.csv")

    assert created[0] == created[1] and len(changed_few) == len(changed_many)
    assert PriceChange.objects.count() == 2 * (2 + 40)
    if connection.vendor == "sqlite":  # PostgreSQL copies the rows in (COPY is not captured)
        table = PriceChange._meta.db_table
        assert sum(f'INSERT INTO "{table}"' in q for q in changed_many) == 1
