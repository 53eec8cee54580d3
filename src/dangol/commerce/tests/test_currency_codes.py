"""Currency codes are normalised by the services, whoever calls them: "usd" and " usd " are USD,
so a product made with a lowercase code takes prices, orders and payments in its currency."""

from decimal import Decimal

from dangol.commerce import services
from dangol.commerce.models import PriceChange


def test_create_and_update_product_store_the_code_in_capitals(admin):
    product = services.create_product(
        sku="SR-US", name="Serum", price=Decimal("12.345"), currency="usd", actor=admin
    )
    product.refresh_from_db()
    assert (product.currency, product.price) == ("USD", Decimal("12.35"))
    assert PriceChange.objects.get(product=product).currency == "USD"
    product = services.update_product(product=product, changes={"currency": " eur "}, actor=admin)
    product.refresh_from_db()
    assert product.currency == "EUR"


def test_a_lowercase_code_is_the_same_currency_everywhere(admin, make_customer):
    product = services.create_product(
        sku="SR-US", name="Serum", price=Decimal("12.50"), currency="usd", actor=admin
    )
    _change, status = services.record_price(
        product=product, price=Decimal("13"), currency="usd", actor=admin
    )
    assert status == "updated"
    _change, status = services.record_price(product=product, price=Decimal("14"), actor=admin)
    assert status == "updated"
    product.refresh_from_db()
    assert (product.price, product.currency) == (Decimal("14.00"), "USD")
    order = services.place_order(
        data=services.OrderInput(
            customer=make_customer(actor=admin),
            lines=[services.LineInput(product, 2)],
            currency="usd",
        ),
        actor=admin,
    )
    assert (order.currency, order.total) == ("USD", Decimal("28.00"))
    payment = services.record_payment(
        data=services.PaymentInput(
            order=order, method="card", amount=Decimal("28"), currency="usd"
        ),
        actor=admin,
    )
    assert payment.currency == "USD"


def test_an_unknown_code_is_refused_whatever_its_case(admin):
    import pytest

    from dangol.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        services.create_product(sku="X", name="X", price=Decimal(1), currency="xyz", actor=admin)
    assert [(e.field, e.code) for e in exc.value.errors] == [("currency", "invalid_choice")]
