"""Prices in bulk: a product's price history (PriceChange) from an ERP feed that arrives out of
order, the current price as the latest change, errors per record, the history in the API and on
the product page, and the query cost of a bulk call."""

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.commerce import services
from dangol.commerce.models import PriceChange, Product
from dangol.core.models import ChangeLog
from dangol.web.testing import apply_test_settings

BULK = "/api/v1/prices/bulk"
# queries per record of a bulk call, at most: 13 measured for a price that moves (2 savepoints
# and their releases, the product, its lock, three reads of its history, the change, the
# product's price, 2 change-log rows), 8 for one sent again
PER_RECORD = 14
NOW = timezone.now().replace(microsecond=0)


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def at(days_ago):
    return (NOW - datetime.timedelta(days=days_ago)).isoformat()


def price(value, days_ago, sku="SR-1", **kw):
    return {"source": "erp", "sku": sku, "price": str(value), "effective_at": at(days_ago), **kw}


def results(body):
    return [(r["status"], r.get("code")) for r in body["results"]]


def history(product):
    """(old, new, days ago) of the product's changes, oldest first."""
    return [
        (
            None if c.old_price is None else int(c.old_price),
            int(c.new_price),
            round((NOW - c.effective_at) / datetime.timedelta(days=1)),
        )
        for c in PriceChange.objects.filter(product=product).order_by("effective_at")
    ]


def in_catalogue_since(product, days_ago=30):
    """Date the product's creation, and so its first price, `days_ago` back: the feeds below
    send changes dated after it (a product created now has its first price now, and a change
    dated before that is older: it joins the history and leaves the current price)."""
    when = NOW - datetime.timedelta(days=days_ago)
    Product.objects.filter(pk=product.pk).update(created_at=when)
    PriceChange.objects.filter(product=product).update(effective_at=when)
    return product


@pytest.fixture
def serum(admin):
    return in_catalogue_since(
        services.create_product(
            sku="SR-1",
            name="비타민 세럼",
            price=Decimal(32000),
            source="erp",
            external_id="P-1",
            actor=admin,
        )
    )


def current(product):
    return Product.objects.get(pk=product.pk).price


def test_the_latest_change_is_the_price_and_late_ones_only_join_the_history(admin, api, serum):
    client = api(admin)

    moved = post(client, BULK, {"records": [price(35000, 2)]}).json()
    again = post(client, BULK, {"records": [price(35000, 2)]}).json()
    late = post(client, BULK, {"records": [price(30000, 5)]}).json()  # an older change, late

    assert results(moved) == [("updated", None)] and moved["results"][0]["id"] == serum.pk
    assert results(again) == [("unchanged", None)]
    assert results(late) == [("unchanged", None)]
    assert current(serum) == Decimal(35000)
    # the late change sits before the other, which now follows it; the product's first price,
    # from its creation on, is still the first one
    assert history(serum) == [(None, 32000, 30), (32000, 30000, 5), (30000, 35000, 2)]

    newer = post(client, BULK, {"records": [price(36000, 0, external_id="P-1", sku=None)]}).json()
    corrected = post(client, BULK, {"records": [price(37000, 0)]}).json()  # the same instant

    assert results(newer) == results(corrected) == [("updated", None)]
    assert current(serum) == Decimal(37000)
    assert history(serum) == [
        (None, 32000, 30),
        (32000, 30000, 5),
        (30000, 35000, 2),
        (35000, 37000, 0),
    ]
    actions = ChangeLog.objects.filter(object_type="commerce.pricechange").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["product.price_corrected"] + ["product.price_recorded"] * 3


def test_a_confirmed_price_is_kept_so_that_a_late_change_falls_in_its_place(admin, api, serum):
    client = api(admin)
    body = post(
        client,
        BULK,
        {
            "records": [
                price(35000, 3),
                price(35000, 1),  # the same price, confirmed later: the current price stays
                price(33000, 2),  # a change between the two, arriving last
            ]
        },
    ).json()

    assert results(body) == [("updated", None), ("unchanged", None), ("unchanged", None)]
    assert current(serum) == Decimal(35000)  # what the feed said last in time, not last sent
    assert history(serum) == [
        (None, 32000, 30),
        (32000, 35000, 3),
        (35000, 33000, 2),
        (33000, 35000, 1),
    ]


def test_every_error_code_and_the_good_records_still_land(admin, api, serum):
    in_catalogue_since(
        services.create_product(
            sku="USD-1", name="수입 크림", price=Decimal(20), currency="USD", actor=admin
        )
    )
    client = api(admin)
    logged = ChangeLog.objects.count()
    records = [
        price(35000, 1, sku="NOPE"),
        {"source": "erp", "external_id": "P-404", "price": "1"},
        {"source": "erp", "price": "1"},
        {"source": "other", "external_id": "P-1", "price": "1"},  # P-1 is the ERP's id
        price(-1, 1),
        price(35000, 1, currency="USD"),
        price(35000, 1, currency="XYZ"),
        price(35000, -3),  # three days ahead
        price("21.5", 1, sku="USD-1"),
        price("33999.5", 1),  # whole won, rounded half up
    ]

    body = post(client, BULK, {"records": records}).json()

    assert [[(e["field"], e["code"]) for e in r["errors"]] for r in body["results"][:8]] == [
        [("sku", "not_found")],
        [("external_id", "not_found")],
        [("sku", "required")],
        [("external_id", "not_found")],
        [("price", "negative")],
        [("currency", "currency_mismatch")],
        [("currency", "invalid_choice")],
        [("effective_at", "in_future")],
    ]
    assert results(body)[8:] == [("updated", None), ("updated", None)]
    assert current(serum) == Decimal(34000)
    assert Product.objects.get(sku="USD-1").price == Decimal("21.50")
    assert PriceChange.objects.count() == 2 + 2  # the two first prices, the two changes
    assert ChangeLog.objects.count() == logged + 4  # each good record: its change, its product


def test_a_role_that_may_not_change_products_is_refused(make_user, api, serum):
    rep = make_user(role="rep")  # products: view only

    body = post(api(rep), BULK, {"records": [price(35000, 1)]}).json()

    assert results(body) == [("error", "forbidden")]
    assert current(serum) == Decimal(32000) and PriceChange.objects.count() == 1


def test_prices_changed_otherwise_join_the_history_too(admin, api, serum):
    client = api(admin)
    r = client.patch(
        f"/api/v1/products/{serum.pk}", json.dumps({"price": "33000"}), "application/json"
    )
    assert r.status_code == 200
    bulk = {"source": "shop", "external_id": "S-1", "sku": "SR-1", "name": "비타민 세럼"}
    post(client, "/api/v1/products/bulk", {"records": [{**bulk, "price": "34000"}]})

    page = client.get(f"/api/v1/products/{serum.pk}/prices").json()

    assert [(c["old_price"], c["new_price"], c["source"]) for c in page["items"]] == [
        ("33000.00", "34000.00", "shop"),
        ("32000.00", "33000.00", ""),
        (None, "32000.00", "erp"),
    ]
    assert page["next_cursor"] is None
    first = client.get(f"/api/v1/products/{serum.pk}/prices?limit=1").json()
    rest = client.get(
        f"/api/v1/products/{serum.pk}/prices?limit=1&cursor={first['next_cursor']}"
    ).json()
    assert [c["new_price"] for c in first["items"] + rest["items"]] == ["34000.00", "33000.00"]


def test_the_product_page_shows_the_price_history(client, settings, admin, api, serum):
    apply_test_settings(settings)
    post(api(admin), BULK, {"records": [price(30000, 5), price(35000, 2)]})
    client.force_login(admin)

    page = client.get(f"/products/{serum.pk}/").content.decode()

    prices = page[page.index('id="product-prices"') : page.index('id="product-orders"')]
    assert "₩32,000" in prices and "₩30,000" in prices and "₩35,000" in prices


def test_a_bulk_call_costs_a_small_constant_per_record(admin, api, django_assert_max_num_queries):
    client = api(admin)
    for i in range(11):
        in_catalogue_since(
            services.create_product(sku=f"P-{i}", name=f"상품{i}", price=Decimal(1000), actor=admin)
        )
    with CaptureQueriesContext(connection) as ctx:
        post(client, BULK, {"records": [price(2000, 1, sku="P-0")]})
    one = len(ctx.captured_queries)

    with django_assert_max_num_queries(one + 10 * PER_RECORD):
        body = post(
            client, BULK, {"records": [price(2000, 1, sku=f"P-{i}") for i in range(1, 11)]}
        ).json()
    with django_assert_max_num_queries(one + 10 * PER_RECORD):
        again = post(
            client, BULK, {"records": [price(2000, 1, sku=f"P-{i}") for i in range(1, 11)]}
        ).json()

    assert (body["updated"], again["unchanged"]) == (10, 10)
