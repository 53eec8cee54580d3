"""API schemas of products, prices, orders, payments and returns."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema

from dangol.commerce.models import PaymentMethod, PaymentStatus, ProductTier, ReturnReason
from dangol.core.schemas import ApiDateTime

TierT = ProductTier
ReasonT = ReturnReason
MethodT = PaymentMethod
PaymentStatusT = PaymentStatus
Amount = Field(ge=0, max_digits=16, decimal_places=2)


class ProductIn(Schema):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    category_id: int | None = None
    brand: str = Field(default="", max_length=100)
    line: str = Field(default="", max_length=100)
    tier: TierT = ProductTier.STANDARD
    price: Decimal = Amount
    currency: str = Field(default="KRW", min_length=3, max_length=3)
    is_active: bool = True
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class ProductPatch(Schema):
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    category_id: int | None = None
    brand: str | None = Field(default=None, max_length=100)
    line: str | None = Field(default=None, max_length=100)
    tier: TierT | None = None
    price: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    is_active: bool | None = None
    custom_fields: dict[str, Any] | None = None


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    category_id: int | None
    brand: str
    line: str
    tier: str
    price: Decimal
    currency: str
    is_active: bool
    source: str
    external_id: str
    custom_fields: dict[str, Any]


KEPT = "Left out, a known product keeps its own."


class BulkProductRecord(Schema):
    """A product as an ERP sends it: what changed. A known product (by `source` and
    `external_id`, else by `sku`) changes only the fields the record carries; a new one needs
    `sku`, `name` and `price` and takes the defaults for the rest. null clears what may be
    empty (category, brand, line, a custom field); on `sku`, `name`, `tier`, `price`,
    `currency` or `is_active` it is an error of that record."""

    source: str = Field(min_length=1, max_length=50)
    external_id: str = Field(min_length=1, max_length=100)
    sku: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Required for a new product. For a known one, a new SKU; it also finds a "
        "product not yet known by `external_id`.",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description=f"Required for a new product. {KEPT}",
    )
    category_id: int | None = Field(
        default=None, description=f"null: no category (a new product has none). {KEPT}"
    )
    brand: str | None = Field(
        default=None, max_length=100, description=f'null or "": none (a new product\'s). {KEPT}'
    )
    line: str | None = Field(
        default=None, max_length=100, description=f'null or "": none (a new product\'s). {KEPT}'
    )
    tier: TierT | None = Field(default=None, description=f"`standard` for a new product. {KEPT}")
    price: Decimal | None = Field(
        default=None,
        ge=0,
        max_digits=16,
        decimal_places=2,
        description=f"Required for a new product. {KEPT}",
    )
    currency: str | None = Field(
        default=None,
        min_length=3,
        max_length=3,
        description=f"ISO 4217, any case; KRW for a new product. {KEPT}",
    )
    is_active: bool | None = Field(default=None, description=f"true for a new product. {KEPT}")
    custom_fields: dict[str, Any] | None = Field(
        default=None,
        description='Merged key by key over the product\'s: a key with null (or "") removes '
        "that field, a key left out keeps it; null or {} changes nothing.",
    )


class BulkProductsIn(Schema):
    records: list[BulkProductRecord]


class BulkPriceRecord(Schema):
    source: str = Field(
        min_length=1,
        max_length=50,
        description="The system that sends the price; `external_id` names the product in it.",
    )
    external_id: str | None = Field(
        default=None, max_length=100, description="The product's id in `source`; wins over `sku`."
    )
    sku: str | None = Field(default=None, max_length=64)
    price: Decimal = Field(max_digits=16, decimal_places=2, description="Not negative.")
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="The product's when empty."
    )
    effective_at: ApiDateTime | None = Field(
        default=None,
        description="When the price takes effect; now when empty. A price older than the "
        "product's latest recorded change joins its history without changing its current price.",
    )


class BulkPricesIn(Schema):
    records: list[BulkPriceRecord]


class PriceChangeOut(Schema):
    id: int
    product_id: int
    old_price: Decimal | None
    new_price: Decimal
    currency: str
    effective_at: datetime.datetime
    source: str
    created_at: datetime.datetime


class PriceChangePage(Schema):
    items: list[PriceChangeOut]
    next_cursor: str | None


class OrderLineIn(Schema):
    product_id: int | None = None
    sku: str | None = Field(default=None, max_length=64)
    quantity: int = Field(ge=1, le=100000)
    unit_price: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)
    discount: Decimal = Field(default=Decimal(0), ge=0, max_digits=16, decimal_places=2)
    external_id: str = Field(
        default="",
        max_length=100,
        description="The line's id in the system the order comes from (an ERP's 주문상품번호), "
        "unique within the order; a return can name the line by it (`line_external_id`).",
    )


class OrderIn(Schema):
    customer_id: int | None = None
    customer_external_id: str | None = Field(default=None, max_length=100)
    customer_source: str | None = Field(default=None, max_length=50)
    organization_id: int | None = None
    channel_code: str | None = Field(default=None, max_length=32)
    placed_at: ApiDateTime | None = None
    currency: str = Field(default="KRW", min_length=3, max_length=3)
    discount: Decimal = Field(default=Decimal(0), ge=0, max_digits=16, decimal_places=2)
    status: Literal["placed", "paid", "fulfilled"] = "paid"
    number: str = Field(default="", max_length=40)
    lines: list[OrderLineIn] = Field(min_length=1, max_length=500)


class BulkOrderRecord(OrderIn):
    source: str = Field(min_length=1, max_length=50)
    external_id: str = Field(min_length=1, max_length=100)


class BulkOrdersIn(Schema):
    records: list[BulkOrderRecord]


class OrderLineOut(Schema):
    id: int
    product_id: int
    sku: str
    product_name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal
    returned_quantity: int
    external_id: str


class OrderOut(Schema):
    id: int
    number: str
    customer_id: int
    organization_id: int | None
    channel_code: str | None
    status: str
    placed_at: datetime.datetime
    currency: str
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    returned_amount: Decimal
    source: str
    external_id: str


class PaymentOut(Schema):
    id: int
    order_id: int
    customer_id: int
    method: str
    provider: str
    amount: Decimal
    currency: str
    status: str
    refunded_amount: Decimal
    paid_at: datetime.datetime | None
    refunded_at: datetime.datetime | None
    source: str
    external_id: str
    created_at: datetime.datetime
    updated_at: datetime.datetime


class OrderDetailOut(OrderOut):
    lines: list[OrderLineOut]
    payments: list[PaymentOut] = Field(
        description="The order's payments, when your role may see payments (else empty)."
    )
    paid_amount: Decimal | None = Field(
        description="Taken and not refunded, over the payments not cancelled; null when your "
        "role may not see payments."
    )
    outstanding_amount: Decimal | None = Field(
        description="What the customer still owes: the total less returns (nothing for a "
        "cancelled order) less `paid_amount`; below zero it is owed back to them. Null when "
        "your role may not see payments."
    )


class OrderRef(Schema):
    """How a record names its order: Dangol's id, or its id in a source system."""

    order_id: int | None = Field(default=None, description="The order's id in Dangol; wins.")
    order_external_id: str | None = Field(
        default=None, max_length=100, description="The order's id in `order_source`."
    )
    order_source: str | None = Field(
        default=None,
        max_length=50,
        description="The system that knows the order by `order_external_id`; the record's "
        "`source` when empty.",
    )


class BulkPaymentRecord(OrderRef):
    source: str = Field(min_length=1, max_length=50)
    external_id: str = Field(
        min_length=1, max_length=100, description="The payment's id in `source` (결제번호)."
    )
    method: MethodT
    provider: str | None = Field(
        default=None,
        max_length=50,
        description="Who carried it: 카카오페이, 네이버페이, 토스페이, a card company.",
    )
    amount: Decimal = Field(
        max_digits=16, decimal_places=2, description="More than zero, in the order's currency."
    )
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="The order's when empty."
    )
    status: PaymentStatusT | None = Field(
        default=None, description="`paid` for a new payment when empty; a known one keeps its."
    )
    refunded_amount: Decimal | None = Field(
        default=None,
        max_digits=16,
        decimal_places=2,
        description="The whole amount for `refunded` when empty.",
    )
    paid_at: ApiDateTime | None = None
    refunded_at: ApiDateTime | None = None


class BulkPaymentsIn(Schema):
    records: list[BulkPaymentRecord]


class ReturnLineIn(Schema):
    """One line of a return. It names its order line by the first of these that is given, as
    the returns import does."""

    order_line_id: int | None = Field(
        default=None, description="The order line's id in Dangol; wins over the others."
    )
    line_external_id: str | None = Field(
        default=None,
        max_length=100,
        description="The order line's id in the order's source system (the `external_id` it "
        "was recorded with).",
    )
    line_number: int | None = Field(
        default=None, ge=1, le=100000, description="The line's number on the order (1 = first)."
    )
    sku: str | None = Field(
        default=None,
        max_length=64,
        description="The product's SKU: with a line named otherwise, it must be that line's; "
        "alone, the line of the order with this product (where the product is on several "
        "lines, the quantity must say which, else `ambiguous_line`).",
    )
    quantity: int = Field(ge=1, le=100000)


class ReturnIn(Schema):
    reason: ReasonT
    note: str = Field(default="", max_length=2000)
    returned_at: ApiDateTime | None = None
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)
    source: str = Field(default="", max_length=50)
    external_id: str = Field(default="", max_length=100)


class BulkReturnRecord(OrderRef):
    source: str = Field(min_length=1, max_length=50)
    external_id: str = Field(
        min_length=1, max_length=100, description="The return's id in `source` (반품번호)."
    )
    reason: ReasonT
    note: str = Field(
        default="",
        max_length=2000,
        description="A new return has none when left out; a known return sent again is "
        "compared on its note only when the record has one.",
    )
    returned_at: ApiDateTime | None = Field(
        default=None,
        description="Now for a new return when empty; a known return sent again is compared "
        "on its date only when the record has one.",
    )
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)


class BulkReturnsIn(Schema):
    records: list[BulkReturnRecord]


class ReturnOut(Schema):
    id: int
    order_id: int
    customer_id: int
    returned_at: datetime.datetime
    reason: str
    amount: Decimal
    currency: str


class ProductPage(Schema):
    items: list[ProductOut]
    next_cursor: str | None


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None
