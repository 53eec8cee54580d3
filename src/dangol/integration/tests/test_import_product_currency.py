"""A products file without a currency (no column, or a blank cell) prices a known product in
its own currency, rounded to that currency's minor unit, and a new product in won; a file with
a currency rounds each row in the currency it names, as it always did."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from dangol.commerce import services as commerce
from dangol.commerce.models import PriceChange, Product
from dangol.integration.tests.test_import_pipeline import run, write_csv

WITHOUT = ["상품코드", "상품명", "판매가"]
WITH = ["상품코드", "상품명", "판매가", "통화"]


def product(sku: str) -> tuple[Decimal, str]:
    p = Product.objects.get(sku=sku)
    return p.price, p.currency


def last_change(sku: str) -> tuple[Decimal | None, Decimal, str]:
    c = PriceChange.objects.filter(product__sku=sku).latest("effective_at")
    return c.old_price, c.new_price, c.currency


def test_a_known_product_keeps_its_currency_and_its_cents(admin: Any, tmp_path: Path) -> None:
    commerce.create_product(
        sku="US-1", name="수입 크림", price=Decimal("10.00"), currency="USD", actor=admin
    )
    commerce.create_product(
        sku="US-2", name="수입 로션", price=Decimal("20.00"), currency="USD", actor=admin
    )

    job = run(
        admin,
        "products",
        write_csv(tmp_path / "a.csv", [["US-1", "수입 크림", "12.34"]], header=WITHOUT),
    )
    blank = run(
        admin,
        "products",
        write_csv(tmp_path / "b.csv", [["US-2", "수입 로션", "21.455", ""]], header=WITH),
    )

    assert (job.updated_count, blank.updated_count) == (1, 1)
    assert product("US-1") == (Decimal("12.34"), "USD")
    assert last_change("US-1") == (Decimal("10.00"), Decimal("12.34"), "USD")
    assert product("US-2") == (Decimal("21.46"), "USD")  # cents, rounded half up


def test_the_same_price_again_without_a_currency_is_unchanged(admin: Any, tmp_path: Path) -> None:
    commerce.create_product(
        sku="US-1", name="수입 크림", price=Decimal("12.34"), currency="USD", actor=admin
    )

    job = run(
        admin,
        "products",
        write_csv(tmp_path / "a.csv", [["US-1", "수입 크림", "12.34"]], header=WITHOUT),
    )

    assert (job.unchanged_count, job.updated_count) == (1, 0)
    assert PriceChange.objects.filter(product__sku="US-1").count() == 1  # its first price only


def test_a_new_product_without_a_currency_is_priced_in_won(admin: Any, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "a.csv", [["KR-1", "세럼", "12.34"], ["KR-2", "토너", "12.5"]], header=WITHOUT
    )

    job = run(admin, "products", path)

    assert job.created_count == 2
    assert product("KR-1") == (Decimal(12), "KRW")
    assert product("KR-2") == (Decimal(13), "KRW")
    assert last_change("KR-1") == (None, Decimal(12), "KRW")


def test_a_file_with_a_currency_rounds_in_the_currency_it_names(admin: Any, tmp_path: Path) -> None:
    commerce.create_product(
        sku="US-1", name="수입 크림", price=Decimal("10.00"), currency="USD", actor=admin
    )
    commerce.create_product(sku="KR-1", name="세럼", price=Decimal(30000), actor=admin)
    path = write_csv(
        tmp_path / "a.csv",
        [
            ["US-1", "수입 크림", "12.345", "USD"],
            ["KR-1", "세럼", "31000.5", "원"],
            ["EU-1", "향수", "99.999", "eur"],
            ["WN-1", "크림", "1200.5", "KRW"],
            ["CV-1", "앰플", "15.555", "USD"],
        ],
        header=WITH,
    )
    commerce.create_product(sku="CV-1", name="앰플", price=Decimal(20000), actor=admin)

    job = run(admin, "products", path)

    assert (job.updated_count, job.created_count) == (3, 2)
    assert product("US-1") == (Decimal("12.35"), "USD")
    assert product("KR-1") == (Decimal(31001), "KRW")
    assert product("EU-1") == (Decimal("100.00"), "EUR")
    assert product("WN-1") == (Decimal(1201), "KRW")
    # a product whose currency the file changes: priced in the new one, no old price in it
    assert product("CV-1") == (Decimal("15.56"), "USD")
    assert last_change("CV-1") == (None, Decimal("15.56"), "USD")
