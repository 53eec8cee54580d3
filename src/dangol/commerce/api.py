"""REST endpoints of products, prices, orders, payments and returns."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from ninja import Router, Status

from dangol.api.bulk import require, run_bulk
from dangol.api.pagination import paginate
from dangol.commerce import selectors, services
from dangol.commerce.models import (
    Order,
    Payment,
    PriceChange,
    Product,
    ProductCategory,
    Return,
    SalesChannel,
)
from dangol.commerce.schemas import (
    BulkOrderRecord,
    BulkOrdersIn,
    BulkPaymentRecord,
    BulkPaymentsIn,
    BulkPriceRecord,
    BulkPricesIn,
    BulkProductRecord,
    BulkProductsIn,
    BulkReturnRecord,
    BulkReturnsIn,
    OrderDetailOut,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderRef,
    PaymentOut,
    PriceChangePage,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    ReturnIn,
    ReturnLineIn,
    ReturnOut,
)
from dangol.core.errors import FieldError, Forbidden, NotFound, ValidationFailed
from dangol.core.http import AuthedRequest
from dangol.core.schemas import ApiDateTime
from dangol.core.visibility import Action, can
from dangol.customers.models import Customer, ExternalId, Organization
from dangol.customers.schemas import BulkOut

product_router = Router(tags=["products"])
order_router = Router(tags=["orders"])
payment_router = Router(tags=["payments"])
price_router = Router(tags=["prices"])
return_router = Router(tags=["returns"])


# --- products -------------------------------------------------------------------------------


def _product_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The service's fields from a product payload: the category by its id (null: none). The
    services normalise the rest (the currency's case, null brand or line as empty)."""
    if "category_id" in data:
        category_id = data.pop("category_id")
        data["category"] = None
        if category_id is not None:
            data["category"] = ProductCategory.objects.filter(pk=category_id).first()
            if data["category"] is None:
                raise ValidationFailed.single("category_id", "not_found", _("No such category."))
    return data


@product_router.get("", response=ProductPage, summary="List products")
def list_products(
    request: AuthedRequest,
    q: str | None = None,
    category_id: int | None = None,
    line: str | None = None,
    is_active: bool | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    qs = selectors.products_for(request.user)
    if q:
        qs = qs.filter(name__contains=q) | qs.filter(sku=q)
    if category_id is not None:
        qs = qs.filter(category_id=category_id)
    if line:
        qs = qs.filter(line=line)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    page = paginate(
        qs, sort=sort, allowed=("id", "name", "sku", "price"), cursor=cursor, limit=limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@product_router.post("", response={201: ProductOut}, summary="Create a product")
def create_product(request: AuthedRequest, payload: ProductIn) -> Status[Any]:
    require(request, Action.ADD, Product)
    return Status(
        201, services.create_product(actor=request.user, **_product_fields(payload.dict()))
    )


@product_router.post(
    "/bulk",
    response=BulkOut,
    summary="Create or update up to 1,000 products by external id",
    description="Each record names a product by (`source`, `external_id`), else by `sku`. A "
    "known product changes only the fields the record carries: a field left out keeps its "
    "value (an ERP sends what changed), null or empty clears what may be empty (category, "
    "brand, line; a custom field by its key). A new product needs `sku`, `name` and `price`; "
    "the rest takes the defaults (KRW, `standard`, active, none). Each record is written "
    "whole or not at all. Error codes per record: `validation_failed` (with `required`, "
    "`invalid_choice`, `negative`, `not_found` on the category, `unknown_field` on a custom "
    "field), `duplicate_sku`, `forbidden`.",
)
def bulk_upsert_products(request: AuthedRequest, payload: BulkProductsIn) -> dict[str, Any]:
    def one(record: BulkProductRecord) -> tuple[int, str]:
        if not can(request.user, Action.ADD, Product) or not can(
            request.user, Action.CHANGE, Product
        ):
            raise Forbidden()
        # only what the record carries: on a known product the rest stays as it is
        fields = _product_fields(record.dict(exclude_unset=True, exclude={"source", "external_id"}))
        product, status = services.upsert_product(
            source=record.source,
            external_id=record.external_id,
            fields=fields,
            actor=request.user,
        )
        return product.pk, status

    return run_bulk(payload.records, one)


def _visible_product(
    request: AuthedRequest, product_id: int, action: Action = Action.VIEW
) -> Product:
    product = Product.objects.visible_to(request.user, action).filter(pk=product_id).first()
    if product is None:
        raise NotFound()
    return product


@product_router.get("/{product_id}", response=ProductOut, summary="A product")
def get_product(request: AuthedRequest, product_id: int) -> Product:
    return _visible_product(request, product_id)


@product_router.get(
    "/{product_id}/prices", response=PriceChangePage, summary="A product's price history"
)
def list_product_prices(
    request: AuthedRequest,
    product_id: int,
    sort: str = "-effective_at",
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    product = _visible_product(request, product_id)
    page = paginate(
        PriceChange.objects.filter(product=product),
        sort=sort,
        allowed=("effective_at",),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@product_router.patch("/{product_id}", response=ProductOut, summary="Change a product")
def update_product(request: AuthedRequest, product_id: int, payload: ProductPatch) -> Product:
    product = _visible_product(request, product_id, Action.CHANGE)
    changes = _product_fields(payload.dict(exclude_unset=True))
    return services.update_product(product=product, changes=changes, actor=request.user)


# --- orders ---------------------------------------------------------------------------------


def _order_out(o: Order) -> dict[str, Any]:
    return {
        **{
            f: getattr(o, f)
            for f in (
                "id",
                "number",
                "customer_id",
                "organization_id",
                "status",
                "placed_at",
                "currency",
                "subtotal",
                "discount",
                "total",
                "returned_amount",
                "source",
                "external_id",
            )
        },
        "channel_code": o.channel.code if o.channel else None,
    }


def _order_detail_out(o: Order, user: Any) -> dict[str, Any]:
    lines = [
        {
            "id": ln.pk,
            "product_id": ln.product_id,
            "sku": ln.product.sku,
            "product_name": ln.product.name,
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "discount": ln.discount,
            "line_total": ln.line_total,
            "returned_quantity": ln.returned_quantity,
            "external_id": ln.external_id,
        }
        for ln in o.lines.all()
    ]
    payments = list(o.payments.all())
    summary = selectors.payment_summary(o, payments) if selectors.may_view_payments(user) else None
    return {
        **_order_out(o),
        "lines": lines,
        "payments": payments,
        "paid_amount": summary.paid if summary else None,
        "outstanding_amount": summary.outstanding if summary else None,
    }


def _order_input(
    request: AuthedRequest, payload: OrderIn, source: str = "", external_id: str = ""
) -> services.OrderInput:
    errors: list[FieldError] = []
    customer = None
    visible = Customer.objects.visible_to(request.user)
    if payload.customer_id is not None:
        customer = visible.filter(pk=payload.customer_id).first()
    elif payload.customer_external_id:
        ext = ExternalId.objects.filter(
            source=payload.customer_source or source,
            key=payload.customer_external_id,
            customer__isnull=False,
        ).first()
        customer = visible.filter(pk=ext.customer_id).first() if ext and ext.customer_id else None
    if customer is None:
        errors.append(FieldError("customer_id", "not_found", _("No such customer.")))
    channel = None
    if payload.channel_code:
        channel = SalesChannel.objects.filter(code=payload.channel_code).first()
        if channel is None:
            errors.append(FieldError("channel_code", "not_found", _("No such sales channel.")))
    organization = None
    if payload.organization_id is not None:
        organization = (
            Organization.objects.visible_to(request.user).filter(pk=payload.organization_id).first()
        )
        if organization is None:
            errors.append(FieldError("organization_id", "not_found", _("No such organization.")))
    ids = {ln.product_id for ln in payload.lines if ln.product_id is not None}
    skus = {ln.sku for ln in payload.lines if ln.product_id is None and ln.sku}
    by_id = Product.objects.in_bulk(ids)
    by_sku = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    lines = []
    for i, ln in enumerate(payload.lines):
        product = (
            by_id.get(ln.product_id) if ln.product_id is not None else by_sku.get(ln.sku or "")
        )
        if product is None:
            errors.append(FieldError(f"lines[{i}].product_id", "not_found", _("No such product.")))
            continue
        lines.append(
            services.LineInput(
                product=product,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                discount=ln.discount,
                external_id=ln.external_id.strip(),
            )
        )
    if errors:
        raise ValidationFailed(errors)
    assert customer is not None
    return services.OrderInput(
        customer=customer,
        lines=lines,
        channel=channel,
        organization=organization,
        placed_at=payload.placed_at,
        currency=payload.currency,
        discount=payload.discount,
        status=payload.status,
        number=payload.number,
        source=source,
        external_id=external_id,
    )


@order_router.get("", response=OrderPage, summary="List orders")
def list_orders(
    request: AuthedRequest,
    customer_id: int | None = None,
    status: str | None = None,
    channel_code: str | None = None,
    placed_after: ApiDateTime | None = None,
    placed_before: ApiDateTime | None = None,
    sort: str = "-placed_at",
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    qs = selectors.orders_for(request.user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    if channel_code:
        qs = qs.filter(channel__code=channel_code)
    if placed_after:
        qs = qs.filter(placed_at__gte=placed_after)
    if placed_before:
        qs = qs.filter(placed_at__lt=placed_before)
    page = paginate(qs, sort=sort, allowed=("id", "placed_at", "total"), cursor=cursor, limit=limit)
    return {"items": [_order_out(o) for o in page.items], "next_cursor": page.next_cursor}


@order_router.post("", response={201: OrderDetailOut}, summary="Place an order")
def place_order(request: AuthedRequest, payload: OrderIn) -> Status[Any]:
    require(request, Action.ADD, Order)
    order = services.place_order(data=_order_input(request, payload), actor=request.user)
    return Status(
        201,
        _order_detail_out(
            selectors.order_detail_queryset(request.user).get(pk=order.pk), request.user
        ),
    )


@order_router.post(
    "/bulk",
    response=BulkOut,
    summary="Record up to 1,000 orders by external id",
    description="Each record is one order, recorded once: a known order (`source`, "
    "`external_id`) sent again is `unchanged` and is not rewritten. A known order the caller "
    "may not see answers `not_found`, as a missing record does, with neither its id nor its "
    "data. Error codes per record: `validation_failed` (with `not_found` on the customer, "
    "organization, channel or a product, and the order's own field errors), "
    "`customer_merged` (the customer was merged into another record), `not_found`, "
    "`duplicate_number`.",
)
def bulk_upsert_orders(request: AuthedRequest, payload: BulkOrdersIn) -> dict[str, Any]:
    def one(record: BulkOrderRecord) -> tuple[int, str]:
        require(request, Action.ADD, Order)
        data = _order_input(request, record, source=record.source, external_id=record.external_id)
        order, status = services.upsert_order(data=data, actor=request.user)
        return order.pk, status

    return run_bulk(payload.records, one)


def _visible_order(request: AuthedRequest, order_id: int, action: Action = Action.VIEW) -> Order:
    order = selectors.order_detail_queryset(request.user).filter(pk=order_id).first()
    if order is None or (
        action != Action.VIEW
        and not Order.objects.visible_to(request.user, action).filter(pk=order_id).exists()
    ):
        raise NotFound()
    return order


@order_router.get("/{order_id}", response=OrderDetailOut, summary="An order with its lines")
def get_order(request: AuthedRequest, order_id: int) -> dict[str, Any]:
    return _order_detail_out(_visible_order(request, order_id), request.user)


@order_router.get(
    "/{order_id}/payments", response=list[PaymentOut], summary="The payments of an order"
)
def list_order_payments(request: AuthedRequest, order_id: int) -> list[Payment]:
    order = _visible_order(request, order_id)
    return list(order.payments.all())  # those the user may see, prefetched


@order_router.post("/{order_id}/cancel", response=OrderOut, summary="Cancel an order")
def cancel_order(request: AuthedRequest, order_id: int) -> dict[str, Any]:
    order = services.cancel_order(
        order=_visible_order(request, order_id, Action.CHANGE), actor=request.user
    )
    return _order_out(selectors.orders_for(request.user).get(pk=order.pk))


def _line_refs(lines: list[ReturnLineIn]) -> list[services.ReturnLineRef]:
    return [
        services.ReturnLineRef(
            quantity=ln.quantity,
            order_line_id=ln.order_line_id,
            line_external_id=ln.line_external_id or "",
            line_number=ln.line_number,
            sku=ln.sku or "",
        )
        for ln in lines
    ]


@order_router.post("/{order_id}/returns", response={201: ReturnOut}, summary="Record a return")
def record_return(request: AuthedRequest, order_id: int, payload: ReturnIn) -> Status[Any]:
    order = _visible_order(request, order_id, Action.CHANGE)
    ret = services.record_return(
        order=order,
        reason=payload.reason,
        note=payload.note,
        returned_at=payload.returned_at,
        lines=services.resolve_return_lines(order=order, lines=_line_refs(payload.lines)),
        source=payload.source,
        external_id=payload.external_id,
        actor=request.user,
    )
    return Status(201, ret)


# --- records that name an order (payments, returns) -----------------------------------------


def _order_of_record(request: AuthedRequest, record: OrderRef, source: str) -> Order:
    """The order a bulk record names, among those the user may change: by Dangol's id, else by
    its id in ``order_source`` (the record's `source` when empty). 422 ``not_found`` for an
    order that does not exist or is out of the user's reach alike."""
    orders = selectors.orders_for(request.user, Action.CHANGE)
    if record.order_id is not None:
        field_name = "order_id"
        order = orders.filter(pk=record.order_id).first()
    elif record.order_external_id and record.order_external_id.strip():
        field_name = "order_external_id"
        order = orders.filter(
            source=record.order_source or source, external_id=record.order_external_id.strip()
        ).first()
    else:
        raise ValidationFailed.single(
            "order_id", "required", _("Give the order's id in Dangol or in the source system.")
        )
    if order is None:
        raise ValidationFailed.single(field_name, "not_found", _("No such order."))
    return order


# --- payments -------------------------------------------------------------------------------


def _payment_input(order: Order, record: BulkPaymentRecord) -> services.PaymentInput:
    return services.PaymentInput(
        order=order,
        method=record.method,
        amount=record.amount,
        currency=record.currency or "",
        status=record.status,
        provider=record.provider,
        refunded_amount=record.refunded_amount,
        paid_at=record.paid_at,
        refunded_at=record.refunded_at,
        source=record.source,
        external_id=record.external_id,
    )


@payment_router.post(
    "/bulk",
    response=BulkOut,
    summary="Record up to 1,000 payments by external id, and their later states",
    description="Each record is one payment (결제) of an order, named by Dangol's id or by its "
    "id in the source system. A known payment (`source`, `external_id`) sent again is "
    "`unchanged`, or `updated` when it moved on (paid → partially refunded → refunded, or "
    "cancelled); error codes per record: `not_found` / `required` (the order), "
    "`not_positive` (amount), `currency_mismatch`, `exceeds_amount` / `status_mismatch` "
    "(refunded amount), `overpaid` (the order's payments would exceed its total), "
    "`payment_changed` (another order or amount for a known id), `invalid_transition` "
    "(a status or refund going backwards).",
)
def bulk_upsert_payments(request: AuthedRequest, payload: BulkPaymentsIn) -> dict[str, Any]:
    def one(record: BulkPaymentRecord) -> tuple[int, str]:
        require(request, Action.ADD, Payment)
        order = _order_of_record(request, record, record.source)
        known = (
            Payment.objects.filter(source=record.source, external_id=record.external_id)
            .values_list("pk", flat=True)
            .first()
        )
        if known is not None:
            require(request, Action.CHANGE, Payment)
            mine = selectors.payments_for(request.user, Action.CHANGE).filter(pk=known)
            if not mine.exists():  # another's payment: not_found, as a missing one
                raise NotFound()
        payment, status = services.upsert_payment(
            data=_payment_input(order, record), actor=request.user
        )
        return payment.pk, status

    return run_bulk(payload.records, one)


# --- returns --------------------------------------------------------------------------------


@return_router.post(
    "/bulk",
    response=BulkOut,
    summary="Record up to 1,000 returns by external id",
    description="Each record is one return (반품) of an order named by Dangol's id or by its id "
    "in the source system; each line names its order line by `order_line_id`, else "
    "`line_external_id`, else `line_number`, else `sku` (the returns import's rule). A known "
    "return (`source`, `external_id`) sent again is `unchanged`; with another order, other "
    "lines or quantities, reason, note or date it is the error `return_changed` (a recorded "
    "return is a fact and is not rewritten; a note or date left out is not compared). "
    "Per-record error codes: `not_found` / `required` "
    "(the order), `line_not_found`, `sku_mismatch`, `not_in_order`, `ambiguous_line`, "
    "`too_many`, `required` (a line naming nothing), `cancelled`, `return_changed`.",
)
def bulk_record_returns(request: AuthedRequest, payload: BulkReturnsIn) -> dict[str, Any]:
    def one(record: BulkReturnRecord) -> tuple[int, str]:
        ret, status = _record_return(request, record)
        return ret.pk, status

    return run_bulk(payload.records, one)


def _record_return(request: AuthedRequest, record: BulkReturnRecord) -> tuple[Return, str]:
    require(request, Action.ADD, Return)
    order = _order_of_record(request, record, record.source)
    known = (
        Return.objects.filter(source=record.source, external_id=record.external_id)
        .values_list("pk", flat=True)
        .first()
    )
    if known is not None and not Return.objects.visible_to(request.user).filter(pk=known).exists():
        raise NotFound()  # another's return answers like a missing order
    return services.upsert_return(
        order=order,
        lines=_line_refs(record.lines),
        reason=record.reason,
        # a note left out is not compared with a known return's (nor is a date left out)
        note=record.note if "note" in record.model_fields_set else None,
        returned_at=record.returned_at,
        source=record.source,
        external_id=record.external_id,
        actor=request.user,
    )


# --- prices ---------------------------------------------------------------------------------


def _price_product(request: AuthedRequest, record: BulkPriceRecord) -> Product:
    """The product a price record names, by its id in the record's source, else by SKU."""
    products = Product.objects.visible_to(request.user, Action.CHANGE)
    external_id = (record.external_id or "").strip()
    sku = (record.sku or "").strip()
    product = None
    if external_id:
        product = products.filter(source=record.source, external_id=external_id).first()
    if product is None and sku:
        product = products.filter(sku=sku).first()
    if product is None:
        if not (external_id or sku):
            raise ValidationFailed.single(
                "sku", "required", _("Give the product's SKU or its id in the source system.")
            )
        field_name = "sku" if sku else "external_id"
        raise ValidationFailed.single(field_name, "not_found", _("No such product."))
    return product


@price_router.post(
    "/bulk",
    response=BulkOut,
    summary="Record up to 1,000 prices of products, with when they take effect",
    description="Each record is a product's price from `effective_at` on. The product's price "
    "history keeps every instant sent; its current price is the latest one, so a record older "
    "than the product's latest recorded change is kept in the history and leaves the current "
    "price (`unchanged`), and the same price at the same instant again is `unchanged` and not "
    "stored twice. `updated`: the current price moved. The result's `id` is the product's. "
    "Error codes per record: `not_found` / `required` (the product), `negative`, "
    "`currency_mismatch`, `invalid_choice` (currency), `in_future`.",
)
def bulk_record_prices(request: AuthedRequest, payload: BulkPricesIn) -> dict[str, Any]:
    def one(record: BulkPriceRecord) -> tuple[int, str]:
        require(request, Action.CHANGE, Product)
        product = _price_product(request, record)
        _change, status = services.record_price(
            product=product,
            price=record.price,
            currency=record.currency or "",
            effective_at=record.effective_at,
            source=record.source,
            actor=request.user,
        )
        return product.pk, status

    return run_bulk(payload.records, one)
