"""Partial records in the bulk upserts: an ERP sends what changed. On an update only the fields a
record carries change (an omitted field keeps its value, it is not reset to the create default);
on a create the defaults apply; a null (or empty) where a field may be cleared clears it, as the
single-record PATCH does. One test per bulk endpoint that an omitted field survives."""

import datetime
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from dangol.commerce import services
from dangol.commerce.models import Order, Payment, PaymentStatus, Product, Return
from dangol.core.services import define_custom_field
from dangol.customers.models import Customer

PRODUCTS = "/api/v1/products/bulk"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


def results(body):
    return [(r["status"], r.get("code")) for r in body["results"]]


def field_errors(body):
    return [sorted((e["field"], e["code"]) for e in r["errors"]) for r in body["results"]]


@pytest.fixture
def origin_field(db):
    define_custom_field(
        object_type="commerce.product", key="origin", label="Origin", field_type="text"
    )
    define_custom_field(
        object_type="commerce.product", key="volume", label="Volume", field_type="text"
    )


@pytest.fixture
def usd_product(admin, origin_field):
    """A USD product with everything set, known to the ERP as E-1."""
    category = services.create_category(name="Serums", actor=admin)
    product = services.create_product(
        sku="SR-US",
        name="Vitamin serum",
        category=category,
        brand="Seolhwa",
        line="Yunjo",
        tier="premium",
        price=Decimal("12.50"),
        currency="USD",
        is_active=False,
        custom_fields={"origin": "KR", "volume": "30ml"},
        source="erp",
        external_id="E-1",
        actor=admin,
    )
    return product


def state(product):
    p = Product.objects.get(pk=product.pk)
    return {
        "sku": p.sku,
        "name": p.name,
        "category_id": p.category_id,
        "brand": p.brand,
        "line": p.line,
        "tier": p.tier,
        "price": p.price,
        "currency": p.currency,
        "is_active": p.is_active,
        "custom_fields": p.custom_fields,
        "source": p.source,
        "external_id": p.external_id,
    }


# --- products -------------------------------------------------------------------------------


def test_a_product_update_with_only_a_price_keeps_every_omitted_field(admin, api, usd_product):
    client = api(admin)
    before = state(usd_product)
    body = post(
        client, PRODUCTS, {"records": [{"source": "erp", "external_id": "E-1", "price": "13.75"}]}
    ).json()
    assert results(body) == [("updated", None)]
    assert body["results"][0]["id"] == usd_product.pk
    assert state(usd_product) == {**before, "price": Decimal("13.75")}
    # the same again is unchanged, and still changes nothing
    again = post(
        client, PRODUCTS, {"records": [{"source": "erp", "external_id": "E-1", "price": "13.75"}]}
    ).json()
    assert results(again) == [("unchanged", None)]
    assert state(usd_product) == {**before, "price": Decimal("13.75")}


def test_a_product_update_with_its_name_and_price_is_not_reset_to_the_defaults(
    admin, api, usd_product
):
    """What the reviewer saw: a USD product became KRW, lost its brand, line, category and
    custom fields, and became active, because the omitted fields took the create defaults."""
    before = state(usd_product)
    record = {
        "source": "erp",
        "external_id": "E-1",
        "sku": "SR-US",
        "name": "Vitamin serum C",
        "price": "12.50",
    }
    body = post(api(admin), PRODUCTS, {"records": [record]}).json()
    assert results(body) == [("updated", None)]
    assert state(usd_product) == {**before, "name": "Vitamin serum C"}


def test_a_product_named_by_sku_with_only_a_price_keeps_every_omitted_field(
    admin, api, usd_product
):
    before = state(usd_product)
    body = post(
        api(admin),
        PRODUCTS,
        {"records": [{"source": "shop", "external_id": "S-9", "sku": "SR-US", "price": "11"}]},
    ).json()
    assert results(body) == [("updated", None)]
    assert state(usd_product) == {**before, "price": Decimal("11.00")}


def test_a_record_that_repeats_what_a_product_has_is_unchanged(admin, api, usd_product):
    """Values written differently from how they are stored (a lowercase currency, the price
    with more digits) are the same values."""
    record = {
        "source": "erp",
        "external_id": "E-1",
        "currency": "usd",
        "price": "12.500",
        "brand": "Seolhwa",
        "custom_fields": {"origin": "KR"},
    }
    body = post(api(admin), PRODUCTS, {"records": [record]}).json()
    assert results(body) == [("unchanged", None)]


def test_a_new_product_from_a_partial_record_gets_the_defaults(admin, api, db):
    body = post(
        api(admin),
        PRODUCTS,
        {
            "records": [
                {
                    "source": "erp",
                    "external_id": "E-2",
                    "sku": "TN-1",
                    "name": "Toner",
                    "price": "18000",
                }
            ]
        },
    ).json()
    assert results(body) == [("created", None)]
    product = Product.objects.get(pk=body["results"][0]["id"])
    assert state(product) == {
        "sku": "TN-1",
        "name": "Toner",
        "category_id": None,
        "brand": "",
        "line": "",
        "tier": "standard",
        "price": Decimal(18000),
        "currency": "KRW",
        "is_active": True,
        "custom_fields": {},
        "source": "erp",
        "external_id": "E-2",
    }


def test_a_new_product_needs_its_sku_name_and_price_and_the_good_records_still_land(admin, api, db):
    records = [
        {"source": "erp", "external_id": "N-1", "price": "100"},
        {"source": "erp", "external_id": "N-2", "sku": "N-2", "name": "Cream"},
        {"source": "erp", "external_id": "N-3", "sku": "N-3", "name": "Mask", "price": "5"},
    ]
    body = post(api(admin), PRODUCTS, {"records": records}).json()
    assert results(body) == [
        ("error", "validation_failed"),
        ("error", "validation_failed"),
        ("created", None),
    ]
    assert field_errors(body)[:2] == [
        [("name", "required"), ("sku", "required")],
        [("price", "required")],
    ]
    assert list(Product.objects.values_list("sku", flat=True)) == ["N-3"]


def test_null_or_empty_clears_what_may_be_cleared(admin, api, usd_product):
    """brand and line: null or "" is empty; category_id: null is no category; a custom field:
    its key with null (or "") removes it, the other keys stay."""
    before = state(usd_product)
    record = {
        "source": "erp",
        "external_id": "E-1",
        "brand": None,
        "line": "",
        "category_id": None,
        "custom_fields": {"origin": None},
    }
    body = post(api(admin), PRODUCTS, {"records": [record]}).json()
    assert results(body) == [("updated", None)]
    assert state(usd_product) == {
        **before,
        "brand": "",
        "line": "",
        "category_id": None,
        "custom_fields": {"volume": "30ml"},
    }


def test_custom_fields_null_or_empty_changes_nothing(admin, api, usd_product):
    before = state(usd_product)
    records = [
        {"source": "erp", "external_id": "E-1", "custom_fields": None},
        {"source": "erp", "external_id": "E-1", "custom_fields": {}},
    ]
    body = post(api(admin), PRODUCTS, {"records": records}).json()
    assert results(body) == [("unchanged", None), ("unchanged", None)]
    assert state(usd_product) == before


def test_null_on_a_field_that_cannot_be_empty_is_an_error_of_that_record_only(
    admin, api, usd_product
):
    before = state(usd_product)
    records = [
        {"source": "erp", "external_id": "E-1", "name": None},
        {"source": "erp", "external_id": "E-1", "sku": None},
        {"source": "erp", "external_id": "E-1", "price": None},
        {"source": "erp", "external_id": "E-1", "currency": None},
        {"source": "erp", "external_id": "E-1", "tier": None},
        {"source": "erp", "external_id": "E-1", "is_active": None},
        {"source": "erp", "external_id": "E-1", "brand": "Hera"},
    ]
    body = post(api(admin), PRODUCTS, {"records": records}).json()
    assert results(body) == [("error", "validation_failed")] * 6 + [("updated", None)]
    assert field_errors(body)[:6] == [
        [("name", "required")],
        [("sku", "required")],
        [("price", "required")],
        [("currency", "invalid_choice")],
        [("tier", "invalid_choice")],
        [("is_active", "required")],
    ]
    assert state(usd_product) == {**before, "brand": "Hera"}


def test_a_failing_record_changes_nothing_of_its_product(admin, api, usd_product):
    """All or nothing per record: a good field beside a bad one is not written."""
    before = state(usd_product)
    record = {"source": "erp", "external_id": "E-1", "brand": "Hera", "currency": "XYZ"}
    body = post(api(admin), PRODUCTS, {"records": [record]}).json()
    assert results(body) == [("error", "validation_failed")]
    assert state(usd_product) == before


def test_patch_clears_and_refuses_like_the_bulk_upsert(admin, api, usd_product):
    client = api(admin)
    url = f"/api/v1/products/{usd_product.pk}"
    r = patch(client, url, {"brand": None, "line": None, "custom_fields": {"origin": None}})
    assert r.status_code == 200, r.content
    assert (r.json()["brand"], r.json()["line"]) == ("", "")
    assert r.json()["custom_fields"] == {"volume": "30ml"}
    assert r.json()["currency"] == "USD"  # omitted: kept
    refused = patch(client, url, {"is_active": None})
    assert refused.status_code == 422
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [
        ("is_active", "required")
    ]


def test_the_openapi_shows_the_bulk_product_fields_optional_but_the_record_id():
    from dangol.core.management.commands.openapi import schema_json

    schema = json.loads(schema_json())["components"]["schemas"]["BulkProductRecord"]
    assert sorted(schema["required"]) == ["external_id", "source"]
    assert "default" not in schema["properties"]["currency"]
    assert "KRW" in schema["properties"]["currency"]["description"]


# --- customers ------------------------------------------------------------------------------


def test_a_customer_update_keeps_every_omitted_field(admin, api, db):
    define_custom_field(
        object_type="customers.customer", key="memo", label="Memo", field_type="text"
    )
    client = api(admin)
    full = {
        "source": "erp",
        "external_id": "C-1",
        "full_name": "김민준",
        "birth_date": "1990-05-17",
        "birth_date_is_lunar": True,
        "gender": "M",
        "lifecycle_stage": "customer",
        "region": "seoul",
        "owner_id": admin.pk,
        "signup_channel": "store",
        "custom_fields": {"memo": "VIP"},
    }
    assert results(post(client, "/api/v1/customers/bulk", {"records": [full]}).json()) == [
        ("created", None)
    ]
    customer = Customer.objects.get()
    fields = (
        "full_name",
        "birth_date",
        "birth_date_is_lunar",
        "gender",
        "lifecycle_stage",
        "region",
        "owner_id",
        "signup_channel",
        "custom_fields",
    )
    before = {f: getattr(customer, f) for f in fields}
    body = post(
        client,
        "/api/v1/customers/bulk",
        {"records": [{"source": "erp", "external_id": "C-1", "signup_channel": "app"}]},
    ).json()
    assert results(body) == [("updated", None)]
    customer.refresh_from_db()
    assert {f: getattr(customer, f) for f in fields} == {**before, "signup_channel": "app"}
    # null clears what may be empty, as the PATCH does
    body = post(
        client,
        "/api/v1/customers/bulk",
        {"records": [{"source": "erp", "external_id": "C-1", "region": None, "birth_date": None}]},
    ).json()
    assert results(body) == [("updated", None)]
    customer.refresh_from_db()
    assert (customer.region, customer.birth_date, customer.gender) == ("", None, "M")


# --- orders, payments, returns, prices: known records sent again with fewer fields ----------


@pytest.fixture
def serum(admin):
    return services.create_product(sku="SR-1", name="세럼", price=Decimal(32000), actor=admin)


@pytest.fixture
def order(admin, make_customer, serum):
    channel = services.create_sales_channel(code="web", name="웹", kind="online", actor=admin)
    return services.place_order(
        data=services.OrderInput(
            customer=make_customer(actor=admin),
            lines=[services.LineInput(serum, 2, external_id="L-1")],
            channel=channel,
            number="WEB-1",
            discount=Decimal(1000),
            source="erp",
            external_id="O-1",
        ),
        actor=admin,
    )


def test_a_known_order_sent_again_without_its_optional_fields_is_unchanged(admin, api, order):
    before = Order.objects.filter(pk=order.pk).values().get()
    record = {
        "source": "erp",
        "external_id": "O-1",
        "customer_id": order.customer_id,
        "lines": [{"sku": "SR-1", "quantity": 2}],
    }
    body = post(api(admin), "/api/v1/orders/bulk", {"records": [record]}).json()
    assert results(body) == [("unchanged", None)]
    assert Order.objects.filter(pk=order.pk).values().get() == before


def test_a_known_payment_sent_again_with_only_what_it_must_say_keeps_the_rest(admin, api, order):
    client = api(admin)
    paid_at = (timezone.now() - datetime.timedelta(days=2)).replace(microsecond=0)
    first = {
        "source": "pg",
        "external_id": "P-1",
        "order_id": order.pk,
        "method": "card",
        "amount": "63000",
        "provider": "카카오페이",
        "status": "partially_refunded",
        "refunded_amount": "10000",
        "paid_at": paid_at.isoformat(),
    }
    assert results(post(client, "/api/v1/payments/bulk", {"records": [first]}).json()) == [
        ("created", None)
    ]
    before = Payment.objects.filter(external_id="P-1").values().get()
    minimal = {k: first[k] for k in ("source", "external_id", "order_id", "method", "amount")}
    body = post(client, "/api/v1/payments/bulk", {"records": [minimal]}).json()
    assert results(body) == [("unchanged", None)]
    after = Payment.objects.filter(external_id="P-1").values().get()
    assert after == before
    assert (after["provider"], after["status"], after["refunded_amount"]) == (
        "카카오페이",
        PaymentStatus.PARTIALLY_REFUNDED,
        Decimal(10000),
    )


def test_a_known_return_sent_again_without_its_note_or_date_is_unchanged(admin, api, order):
    client = api(admin)
    first = {
        "source": "erp",
        "external_id": "R-1",
        "order_id": order.pk,
        "reason": "defect",
        "note": "펌프 불량",
        "returned_at": (timezone.now() - datetime.timedelta(hours=3)).isoformat(),
        "lines": [{"line_external_id": "L-1", "quantity": 1}],
    }
    assert results(post(client, "/api/v1/returns/bulk", {"records": [first]}).json()) == [
        ("created", None)
    ]
    before = Return.objects.filter(external_id="R-1").values().get()
    minimal = {k: v for k, v in first.items() if k not in ("note", "returned_at")}
    body = post(client, "/api/v1/returns/bulk", {"records": [minimal]}).json()
    assert results(body) == [("unchanged", None)]
    assert Return.objects.filter(external_id="R-1").values().get() == before
    # a note that is sent is still compared: another one is a changed return
    other = post(client, "/api/v1/returns/bulk", {"records": [{**minimal, "note": "변심"}]})
    assert results(other.json()) == [("error", "return_changed")]
    # and a return that is new without a note has none
    new = post(
        client,
        "/api/v1/returns/bulk",
        {"records": [{**minimal, "external_id": "R-2"}]},
    ).json()
    assert results(new) == [("created", None)]
    assert Return.objects.get(external_id="R-2").note == ""


def test_a_price_without_a_currency_keeps_the_products(admin, api, usd_product):
    Product.objects.filter(pk=usd_product.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=3)
    )
    body = post(
        api(admin),
        "/api/v1/prices/bulk",
        {"records": [{"source": "erp", "external_id": "E-1", "price": "14.10"}]},
    ).json()
    assert results(body) == [("updated", None)]
    product = Product.objects.get(pk=usd_product.pk)
    assert (product.price, product.currency, product.brand) == (Decimal("14.10"), "USD", "Seolhwa")
