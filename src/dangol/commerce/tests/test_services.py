from decimal import Decimal

import pytest

from dangol.commerce import services
from dangol.commerce.models import Order, OrderStatus
from dangol.core.errors import ValidationFailed
from dangol.customers.models import Customer


@pytest.fixture
def catalog(admin):
    skincare = services.create_category(name="스킨케어", slug="skincare", actor=admin)
    serum = services.create_category(name="세럼", slug="serum", parent=skincare, actor=admin)
    return {
        "toner": services.create_product(
            sku="TN-01", name="진정 토너", price=Decimal("18000"), category=skincare, actor=admin
        ),
        "serum": services.create_product(
            sku="SR-01",
            name="비타민 세럼",
            price=Decimal("32000"),
            category=serum,
            line="vita",
            actor=admin,
        ),
        "store": services.create_sales_channel(
            code="gangnam", name="강남점", kind="store", actor=admin
        ),
    }


def test_category_paths(catalog):
    assert catalog["serum"].category.path == "skincare/serum"


def test_place_order_totals_and_customer_aggregates(admin, make_customer, catalog):
    customer = make_customer(actor=admin)
    order = services.place_order(
        data=services.OrderInput(
            customer=customer,
            channel=catalog["store"],
            discount=Decimal("3000"),
            lines=[
                services.LineInput(catalog["toner"], 2),
                services.LineInput(catalog["serum"], 1, discount=Decimal(2000)),
            ],
        ),
        actor=admin,
    )
    assert order.subtotal == Decimal(18000 * 2 + 32000 - 2000)
    assert order.total == order.subtotal - 3000
    services.place_order(
        data=services.OrderInput(
            customer=customer, lines=[services.LineInput(catalog["toner"], 1)]
        ),
        actor=admin,
    )
    customer.refresh_from_db()
    assert customer.order_count == 2
    assert customer.total_spent == order.total + 18000
    assert customer.lifecycle_stage == "repeat"
    assert customer.first_purchase_at == order.placed_at


def test_invalid_order_writes_nothing(admin, make_customer, catalog):
    customer = make_customer(actor=admin)
    with pytest.raises(ValidationFailed) as exc:
        services.place_order(
            data=services.OrderInput(
                customer=customer, currency="XYZ", lines=[services.LineInput(catalog["toner"], 0)]
            ),
            actor=admin,
        )
    assert {e.field for e in exc.value.errors} == {
        "currency",
        "lines[0].quantity",
        "lines[0].unit_price",
    }
    assert Order.objects.count() == 0
    assert Customer.objects.get().order_count == 0


def test_partial_then_full_return_refunds_share_of_discount(admin, make_customer, catalog):
    customer = make_customer(actor=admin)
    order = services.place_order(
        data=services.OrderInput(
            customer=customer,
            discount=Decimal("6800"),
            lines=[
                services.LineInput(catalog["toner"], 2),
                services.LineInput(catalog["serum"], 1),
            ],
        ),
        actor=admin,
    )
    toner_line, serum_line = order.lines.order_by("id")
    ret = services.record_return(
        order=order,
        lines=[services.ReturnLineInput(toner_line, 1)],
        reason="skin_trouble",
        actor=admin,
    )
    # 18,000 of a 68,000 subtotal, less its share of the 6,800 discount (10%)
    assert ret.amount == Decimal("16200")
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_RETURNED
    with pytest.raises(ValidationFailed):
        services.record_return(
            order=order,
            lines=[services.ReturnLineInput(toner_line, 2)],
            reason="defect",
            actor=admin,
        )
    services.record_return(
        order=order,
        lines=[services.ReturnLineInput(toner_line, 1), services.ReturnLineInput(serum_line, 1)],
        reason="defect",
        actor=admin,
    )
    order.refresh_from_db()
    customer.refresh_from_db()
    assert order.status == OrderStatus.RETURNED
    assert order.returned_amount == order.total
    assert customer.total_spent == 0


def test_cancel_reverses_aggregates(admin, make_customer, catalog):
    customer = make_customer(actor=admin)
    order = services.place_order(
        data=services.OrderInput(
            customer=customer, lines=[services.LineInput(catalog["serum"], 1)]
        ),
        actor=admin,
    )
    services.cancel_order(order=order, actor=admin)
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (0, 0)


def test_an_order_for_a_merged_away_customer_is_refused_and_names_the_survivor(
    admin, make_customer, catalog
):
    from dangol.customers.merge import merge_customers
    from dangol.customers.services import CustomerMerged

    survivor = make_customer(actor=admin, full_name="김민지")
    gone = make_customer(actor=admin, full_name="김민지")
    merge_customers(survivor=survivor, duplicates=[gone], actor=admin)
    gone.refresh_from_db()

    with pytest.raises(CustomerMerged) as info:
        services.place_order(
            data=services.OrderInput(
                customer=gone, lines=[services.LineInput(catalog["toner"], 1)]
            ),
            actor=admin,
        )
    assert (info.value.code, info.value.survivor_id) == ("customer_merged", survivor.pk)
    assert not Order.objects.filter(customer=gone).exists()
    gone.refresh_from_db()
    assert gone.order_count == 0
