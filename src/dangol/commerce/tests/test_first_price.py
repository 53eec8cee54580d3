"""A product's price history starts with its first price: every way of creating a product (the
service, the API, the products bulk upsert, the products import) writes the same first change,
from the product's creation on, so what a product cost at a date is known from then on; late
and back-dated changes still fall in their place around it; the migration gives the products
created before this their first price."""

from __future__ import annotations

import datetime
import importlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connection
from django.utils import timezone

from dangol.commerce import services
from dangol.commerce.models import PriceChange, Product
from dangol.integration.tests.test_import_pipeline import run, write_csv

fill_first_prices = importlib.import_module(
    "dangol.commerce.migrations.0008_first_price_changes"
).fill


def post(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def history(product: Product) -> list[tuple[Decimal | None, Decimal, str, datetime.datetime, str]]:
    """(old, new, currency, effective, source) of the product's changes, oldest first."""
    return [
        (c.old_price, c.new_price, c.currency, c.effective_at, c.source)
        for c in PriceChange.objects.filter(product=product).order_by("effective_at")
    ]


def in_effect(client: Any, product: Product, when: datetime.datetime) -> Decimal | None:
    """What the product cost at `when`, read from its price history in the API: the price of
    the latest change effective by then; nothing before its history begins."""
    items = client.get(f"/api/v1/products/{product.pk}/prices").json()["items"]
    prices = [
        (datetime.datetime.fromisoformat(c["effective_at"]), Decimal(c["new_price"])) for c in items
    ]
    known = [p for at, p in sorted(prices) if at <= when]
    return known[-1] if known else None


def test_every_way_of_creating_a_product_writes_the_same_first_price(
    admin: Any, api: Any, tmp_path: Path
) -> None:
    client = api(admin)
    by_service = services.create_product(
        sku="SV-1", name="세럼", price=Decimal("32000.4"), source="erp", actor=admin
    )
    created = post(client, "/api/v1/products", {"sku": "AP-1", "name": "세럼", "price": "32000"})
    bulk = {"source": "shop", "external_id": "S-1", "sku": "BU-1", "name": "세럼", "price": "32000"}
    upserted = post(client, "/api/v1/products/bulk", {"records": [bulk]})
    path = write_csv(
        tmp_path / "p.csv", [["IM-1", "세럼", "32,000"]], header=["상품코드", "상품명", "판매가"]
    )
    run(admin, "products", path)

    assert created.status_code == 201 and upserted.json()["created"] == 1
    products = Product.objects.filter(sku__in=["SV-1", "AP-1", "BU-1", "IM-1"]).order_by("sku")
    assert [(p.sku, p.source) for p in products] == [
        ("AP-1", ""),
        ("BU-1", "shop"),
        ("IM-1", "pos"),
        ("SV-1", "erp"),
    ]
    for product in products:  # no old price, its price and currency, from creation, its source
        assert history(product) == [
            (None, Decimal(32000), "KRW", product.created_at, product.source)
        ]
    assert by_service.created_at == by_service.updated_at


def test_what_a_product_cost_before_and_after_its_first_change(admin: Any, api: Any) -> None:
    client = api(admin)
    serum = services.create_product(sku="SR-1", name="세럼", price=Decimal(32000), actor=admin)
    patched = client.patch(
        f"/api/v1/products/{serum.pk}", json.dumps({"price": "35000"}), "application/json"
    )
    change = PriceChange.objects.get(product=serum, new_price=35000)
    tick = datetime.timedelta(milliseconds=1)  # the API's instants are to the millisecond

    assert Decimal(patched.json()["price"]) == Decimal(35000)
    assert in_effect(client, serum, serum.created_at - tick) is None  # not in the catalogue yet
    assert in_effect(client, serum, serum.created_at) == Decimal(32000)
    assert in_effect(client, serum, change.effective_at - tick) == Decimal(32000)
    assert in_effect(client, serum, change.effective_at) == Decimal(35000)
    assert history(serum)[1][:3] == (Decimal(32000), Decimal(35000), "KRW")


def test_a_back_dated_change_arriving_late_leaves_the_newest_dated_price(admin: Any) -> None:
    serum = services.create_product(sku="SR-1", name="세럼", price=Decimal(32000), actor=admin)
    created = serum.created_at
    hours = datetime.timedelta(hours=1)

    _, newest = services.record_price(
        product=serum, price=Decimal(36000), effective_at=created + 6 * hours, actor=admin
    )
    _, between = services.record_price(
        product=serum, price=Decimal(34000), effective_at=created + 3 * hours, actor=admin
    )
    _, before = services.record_price(  # from before the product was created here
        product=serum, price=Decimal(30000), effective_at=created - 240 * hours, actor=admin
    )

    assert (newest, between, before) == ("updated", "unchanged", "unchanged")
    assert Product.objects.get(pk=serum.pk).price == Decimal(36000)
    assert [(c[0], c[1], c[3]) for c in history(serum)] == [
        (None, Decimal(30000), created - 240 * hours),
        (Decimal(30000), Decimal(32000), created),  # the first price now follows the older one
        (Decimal(32000), Decimal(34000), created + 3 * hours),
        (Decimal(34000), Decimal(36000), created + 6 * hours),
    ]


def test_a_price_changed_before_a_later_dated_change_joins_the_history_before_it(
    admin: Any, api: Any
) -> None:
    """A feed may date a change up to a day ahead; it is the current price. A product change
    made meanwhile is older: it joins the history before it, as the import's does."""
    serum = services.create_product(sku="SR-1", name="세럼", price=Decimal(30000), actor=admin)
    soon = timezone.now() + datetime.timedelta(hours=6)
    services.record_price(product=serum, price=Decimal(36000), effective_at=soon, actor=admin)

    patched = api(admin).patch(
        f"/api/v1/products/{serum.pk}", json.dumps({"price": "33000"}), "application/json"
    )

    assert Decimal(patched.json()["price"]) == Decimal(36000)
    assert Product.objects.get(pk=serum.pk).price == Decimal(36000)
    assert [(c[0], c[1]) for c in history(serum)] == [
        (None, Decimal(30000)),
        (Decimal(30000), Decimal(33000)),
        (Decimal(33000), Decimal(36000)),
    ]


def test_a_new_currency_is_a_change_without_an_old_price(admin: Any) -> None:
    cream = services.create_product(sku="CR-1", name="크림", price=Decimal(20000), actor=admin)

    services.update_product(
        product=cream, changes={"currency": "USD", "price": Decimal("15.5")}, actor=admin
    )

    assert [c[:3] for c in history(cream)] == [
        (None, Decimal(20000), "KRW"),
        (None, Decimal("15.50"), "USD"),  # 20,000 won is no old price of a dollar price
    ]


def legacy_product(sku: str, price: str, days_ago: int, currency: str = "KRW") -> Product:
    """A product as written before every creation wrote its first price: no history."""
    at = timezone.now() - datetime.timedelta(days=days_ago)
    return Product.objects.create(
        sku=sku,
        name=sku,
        price=Decimal(price),
        currency=currency,
        source="erp",
        created_at=at,
        updated_at=at,
    )


def test_the_migration_gives_older_products_their_first_price(admin: Any) -> None:
    never_changed = legacy_product("NC-1", "10000", days_ago=30)
    changed = legacy_product("CH-1", "20000", days_ago=30)
    services.update_product(product=changed, changes={"price": Decimal(21000)}, actor=admin)
    recurrency = legacy_product("RC-1", "30000", days_ago=30)
    services.update_product(
        product=recurrency, changes={"currency": "USD", "price": Decimal(25)}, actor=admin
    )
    back_dated = legacy_product("BD-1", "40000", days_ago=30)
    services.record_price(
        product=back_dated,
        price=Decimal(39000),
        effective_at=back_dated.created_at - datetime.timedelta(days=5),
        actor=admin,
    )
    new = services.create_product(sku="NW-1", name="새 상품", price=Decimal(50000), actor=admin)
    counts = {p.sku: PriceChange.objects.filter(product=p).count() for p in Product.objects.all()}

    fill_first_prices(apps, connection)
    fill_first_prices(apps, connection)  # run again: nothing more

    first = {
        p.sku: history(p)[0] for p in Product.objects.exclude(sku__in=["RC-1", "BD-1", "NW-1"])
    }
    assert first == {
        "NC-1": (None, Decimal(10000), "KRW", never_changed.created_at, "erp"),
        "CH-1": (None, Decimal(20000), "KRW", changed.created_at, "erp"),
    }
    # the price before a change of currency is not known; a history reaching back to the
    # creation (a back-dated change, a first price) is whole already
    added = {
        p.sku: PriceChange.objects.filter(product=p).count() - counts[p.sku]
        for p in Product.objects.all()
    }
    assert added == {"NC-1": 1, "CH-1": 1, "RC-1": 0, "BD-1": 0, "NW-1": 0}
    assert history(new) == [(None, Decimal(50000), "KRW", new.created_at, "")]


def test_a_price_recorded_by_the_system_is_audited_once(admin: Any) -> None:
    from dangol.core.models import ChangeLog

    serum = services.create_product(sku="SR-9", name="세럼", price=Decimal(32000), actor=admin)
    services.record_price(product=serum, price=Decimal(33000), actor=None, source="erp")
    services.update_product(product=serum, changes={"price": Decimal(34000)}, actor=admin)

    # the system's change is logged; the PATCH is logged as the product's change instead
    logged = ChangeLog.objects.filter(action="product.price_recorded")
    assert [(e.actor_id, (e.after or {}).get("new_price")) for e in logged] == [(None, "33000")]
