"""State changes of products, prices, orders, payments and returns: one transaction each,
audited, evented.

Placing an order and recording a return keep the customer's purchase aggregates (first/last
purchase, order count, lifetime spend) current with F() updates, so reads never aggregate, and
refresh what the customer has bought (``commerce.purchases``). Payments change no aggregate:
what an order has been paid is summed from its few payments when it is shown
(``selectors.payment_summary``).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Greatest, Least
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify
from django.utils.translation import gettext as _

from dangol.commerce.models import (
    ChannelKind,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    PriceChange,
    Product,
    ProductCategory,
    ProductTier,
    Return,
    ReturnLine,
    ReturnReason,
    SalesChannel,
)
from dangol.commerce.purchases import refresh_purchased_products
from dangol.commerce.returns import Line, match_return_lines, names_line
from dangol.core import audit, events
from dangol.core.customfields import validate_custom_fields
from dangol.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from dangol.core.models import User
from dangol.core.money import MINOR_UNITS, format_money, quantize
from dangol.customers.models import Customer, LifecycleStage, Organization
from dangol.customers.services import ensure_not_merged

ORDER_NUMBER_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I/O: read aloud on calls
PRODUCT_FIELDS = (
    "sku",
    "name",
    "category",
    "brand",
    "line",
    "tier",
    "price",
    "currency",
    "is_active",
    "custom_fields",
)


def currency_code(value: str | None) -> str:
    """A currency code as Dangol stores it: ISO 4217 in capitals ("usd", " USD " → "USD"); empty
    for none. Every service that takes a currency passes it through here, so a product, its
    prices, orders and payments agree whatever case a caller sends."""
    return (value or "").strip().upper()


def _currency_error(currency: str) -> FieldError | None:
    if currency_code(currency) not in MINOR_UNITS:
        return FieldError("currency", "invalid_choice", _("Unsupported currency."))
    return None


# --- reference data -------------------------------------------------------------------------


@transaction.atomic
def create_sales_channel(
    *, code: str, name: str, kind: str, actor: Any, region: str = ""
) -> SalesChannel:
    """Register a place of sale (web shop, app, a store, the wholesale desk)."""
    if kind not in ChannelKind.values:
        raise ValidationFailed.single("kind", "invalid_choice", _("Not a valid choice."))
    if SalesChannel.objects.filter(code=code).exists():
        raise Conflict(_("A sales channel with this code exists."), "duplicate")
    channel = SalesChannel.objects.create(code=code, name=name, kind=kind, region=region)
    audit.record(actor, "sales_channel.created", channel, after=audit.snapshot(channel))
    return channel


@transaction.atomic
def create_category(
    *, name: str, actor: Any, parent: ProductCategory | None = None, slug: str = ""
) -> ProductCategory:
    """Add a node to the product category tree."""
    slug = slug or slugify(name, allow_unicode=True) or get_random_string(8).lower()
    path = f"{parent.path}/{slug}" if parent else slug
    if ProductCategory.objects.filter(path=path).exists():
        raise Conflict(_("This category exists already."), "duplicate")
    category = ProductCategory.objects.create(name=name, slug=slug, parent=parent, path=path)
    audit.record(actor, "category.created", category, after=audit.snapshot(category))
    return category


def _validate_product(values: dict[str, Any], errors: list[FieldError]) -> None:
    """Check a product's `values` and normalise them in place: the currency's code in capitals,
    a brand or line of None empty. None on a field that cannot be empty is an error."""
    if not (values.get("sku") or "").strip():
        errors.append(FieldError("sku", "required", _("Enter the SKU.")))
    if not (values.get("name") or "").strip():
        errors.append(FieldError("name", "required", _("Enter the product name.")))
    if values.get("tier") not in ProductTier.values:
        errors.append(FieldError("tier", "invalid_choice", _("Not a valid choice.")))
    for name in ("brand", "line"):
        if name in values and values[name] is None:
            values[name] = ""
    if values.get("is_active") is None:
        errors.append(FieldError("is_active", "required", _("This field is required.")))
    values["currency"] = currency_code(values.get("currency"))
    if (err := _currency_error(values["currency"])) is not None:
        errors.append(err)
    elif values.get("price") is None:
        errors.append(FieldError("price", "required", _("Enter an amount.")))
    else:
        try:
            values["price"] = quantize(values.get("price", ""), values["currency"])
            if values["price"] < 0:
                errors.append(FieldError("price", "negative", _("A price cannot be negative.")))
        except (ValueError, TypeError):
            errors.append(FieldError("price", "invalid", _("Enter an amount.")))


@transaction.atomic
def create_product(
    *, actor: Any, source: str = "", external_id: str = "", **fields: Any
) -> Product:
    """Add a product to the catalogue. Its price is the first change of its price history
    (``PriceChange``, no old price) as of its creation, with `source`."""
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationFailed(
            [FieldError(k, "unknown_field", _("Unknown field.")) for k in sorted(unknown)]
        )
    values = {"tier": ProductTier.STANDARD, "currency": "KRW", "is_active": True, **fields}
    errors: list[FieldError] = []
    _validate_product(values, errors)
    try:
        values["custom_fields"] = validate_custom_fields(
            "commerce.product", fields.get("custom_fields")
        )
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if Product.objects.filter(sku=values["sku"]).exists():
        raise Conflict(_("A product with this SKU exists."), "duplicate_sku")
    now = timezone.now()
    product = Product.objects.create(
        source=source, external_id=external_id, created_at=now, updated_at=now, **values
    )
    # its price is the first of its history, from its creation on (as the products import
    # writes it): no old price, there was none
    PriceChange.objects.create(
        product=product,
        old_price=None,
        new_price=product.price,
        currency=product.currency,
        effective_at=now,
        source=source,
    )
    audit.record(actor, "product.created", product, after=audit.snapshot(product))
    events.emit("product.created", product)
    return product


@transaction.atomic
def update_product(
    *, product: Product, changes: dict[str, Any], actor: Any, source: str = ""
) -> Product:
    """Change a product's fields. A new price (or currency) joins the product's price history as
    of now (``PriceChange``, with `source`: the system that sent it, if any), by
    ``record_price``'s rules: when the history has a change dated later, that one stays the
    current price and currency."""
    unknown = set(changes) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationFailed(
            [FieldError(k, "unknown_field", _("Unknown field.")) for k in sorted(unknown)]
        )
    product = Product.objects.select_for_update().get(pk=product.pk)
    before = audit.snapshot(product)
    values = {k: getattr(product, k) for k in PRODUCT_FIELDS}
    values.update(changes)
    errors: list[FieldError] = []
    _validate_product(values, errors)
    if "custom_fields" in changes:
        try:
            values["custom_fields"] = validate_custom_fields(
                "commerce.product", changes["custom_fields"], current=product.custom_fields
            )
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if values["sku"] != product.sku and Product.objects.filter(sku=values["sku"]).exists():
        raise Conflict(_("A product with this SKU exists."), "duplicate_sku")
    old_price, old_currency = product.price, product.currency
    for k, v in values.items():
        setattr(product, k, v)
    now = timezone.now()
    product.updated_at = now
    if (product.price, product.currency) != (old_price, old_currency):
        placed = _place_price(
            product=product,
            price=product.price,
            currency=product.currency,
            at=now,
            source=source,
            before=(old_price, old_currency),
            audited=False,
        )
        if not placed.latest:  # a change dated later (a feed's, up to a day ahead) stays current
            product.price, product.currency = old_price, old_currency
    product.save()
    old, new = audit.diff(before, audit.snapshot(product))
    new.pop("updated_at", None)
    if new:
        audit.record(actor, "product.updated", product, before=old, after=new)
        events.emit("product.updated", product, changed=sorted(new))
    return product


@transaction.atomic
def record_price(
    *,
    product: Product,
    price: Decimal,
    actor: Any,
    currency: str = "",
    effective_at: datetime.datetime | None = None,
    source: str = "",
) -> tuple[PriceChange, str]:
    """Record that `product` costs `price` from `effective_at` (now when not given) on: its
    price history, from an ERP's price feed. Returns the history row and "updated" when the
    product's current price moved, else "unchanged".

    The current price is the one of the latest change. Feeds arrive out of order, so a change
    older than the latest one recorded joins the history without touching the current price; the
    same price at the same instant again writes nothing; another price at a recorded instant
    corrects that instant. Every instant sent is kept, a price confirmed later included: that is
    what lets a late change fall in its right place. `currency` (the product's when empty) must
    be the product's."""
    product = Product.objects.select_for_update().get(pk=product.pk)
    errors: list[FieldError] = []
    now = timezone.now()
    cur = currency_code(currency or product.currency)
    if (err := _currency_error(cur)) is not None:
        errors.append(err)
    elif cur != product.currency:
        errors.append(
            FieldError(
                "currency", "currency_mismatch", _("Give the price in the product's currency.")
            )
        )
    if price < 0:
        errors.append(FieldError("price", "negative", _("A price cannot be negative.")))
    at = effective_at or now
    if at > now + datetime.timedelta(days=1):
        errors.append(FieldError("effective_at", "in_future", _("This is in the future.")))
    if errors:
        raise ValidationFailed(errors)
    price = quantize(price, cur)
    placed = _place_price(
        product=product,
        price=price,
        currency=cur,
        at=at,
        source=source,
        before=(product.price, product.currency),
        audited=True,
        actor=actor,
    )
    change = placed.change
    if not placed.written or not placed.latest:
        return change, "unchanged"
    if product.price == price:
        return change, "unchanged"
    before_price = product.price
    product.price = price
    product.updated_at = now
    product.save(update_fields=["price", "updated_at"])
    audit.record(
        actor, "product.updated", product, before={"price": before_price}, after={"price": price}
    )
    events.emit("product.updated", product, changed=["price"])
    return change, "updated"


@dataclass
class _Placed:
    change: PriceChange
    written: bool  # the history changed (not the same price at the same instant again)
    latest: bool  # no change is dated after it: its price is the product's current price


def _place_price(
    *,
    product: Product,
    price: Decimal,
    currency: str,
    at: datetime.datetime,
    source: str,
    before: tuple[Decimal, str],
    audited: bool,
    actor: Any = None,
) -> _Placed:
    """Put `price` (in `currency`) from `at` on into the locked `product`'s price history, the
    rules of ``record_price``: the same price at a recorded instant writes nothing, another one
    corrects that instant, else a change joins the history in its place, its old price the one
    of the change before it (or, before every change, what the change after it replaced; with
    no history at all, `before`: the product's price and currency until now), and the change
    after it now follows it. An old price in another currency is not known (empty). The caller
    moves the product's current price when the result is the latest change. When `audited`,
    the written change is audited as `actor`'s (None: the system); ``update_product`` audits
    the product's change instead."""
    history = PriceChange.objects.filter(product=product)
    same = history.filter(effective_at=at).first()
    if same is not None and (same.new_price, same.currency) == (price, currency):
        later_exists = history.filter(effective_at__gt=at).exists()
        return _Placed(same, written=False, latest=not later_exists)
    earlier = history.filter(effective_at__lt=at).order_by("-effective_at").first()
    later = history.filter(effective_at__gt=at).order_by("effective_at").first()
    if same is not None:  # a correction of that instant
        snapshot = audit.snapshot(same)
        same.new_price, same.currency = price, currency
        same.save(update_fields=["new_price", "currency"])
        change = same
        if audited:
            old, new = audit.diff(snapshot, audit.snapshot(change))
            audit.record(actor, "product.price_corrected", change, before=old, after=new)
    else:
        old_price: Decimal | None
        if earlier is not None:
            old_price, old_currency = earlier.new_price, earlier.currency
        elif later is not None:  # the earliest change now: what was before the one after it
            old_price, old_currency = later.old_price, later.currency
        else:  # no history yet (a product from before every creation wrote its first price)
            old_price, old_currency = before
        change = PriceChange.objects.create(
            product=product,
            old_price=old_price if old_currency == currency else None,
            new_price=price,
            currency=currency,
            effective_at=at,
            source=source,
        )
        if audited:
            audit.record(actor, "product.price_recorded", change, after=audit.snapshot(change))
    if later is not None:  # the next change now follows this one
        PriceChange.objects.filter(pk=later.pk).update(
            old_price=price if later.currency == currency else None
        )
    return _Placed(change, written=True, latest=later is None)


# --- orders ---------------------------------------------------------------------------------


@dataclass
class LineInput:
    product: Product
    quantity: int
    unit_price: Decimal | None = None  # defaults to the product's list price
    discount: Decimal = Decimal(0)
    external_id: str = ""  # the line's id in the order's source system, unique in the order


@dataclass
class OrderInput:
    customer: Customer
    lines: list[LineInput]
    channel: SalesChannel | None = None
    organization: Organization | None = None
    placed_at: datetime.datetime | None = None
    currency: str = "KRW"
    discount: Decimal = Decimal(0)
    status: str = OrderStatus.PAID
    number: str = ""
    source: str = ""
    external_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _new_order_number(placed_at: datetime.datetime) -> str:
    suffix = get_random_string(8, ORDER_NUMBER_ALPHABET)
    return f"DG{timezone.localtime(placed_at):%Y%m%d}-{suffix}"


def _validate_order(data: OrderInput) -> list[FieldError]:
    errors: list[FieldError] = []
    if not data.lines:
        errors.append(FieldError("lines", "required", _("An order needs at least one line.")))
    if (err := _currency_error(data.currency)) is not None:
        errors.append(err)
    if data.status not in (OrderStatus.PLACED, OrderStatus.PAID, OrderStatus.FULFILLED):
        errors.append(
            FieldError("status", "invalid_choice", _("A new order is placed, paid or fulfilled."))
        )
    if data.placed_at and data.placed_at > timezone.now() + datetime.timedelta(days=1):
        errors.append(FieldError("placed_at", "in_future", _("This is in the future.")))
    line_ids: set[str] = set()
    for i, line in enumerate(data.lines):
        if line.quantity is None or line.quantity < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "min_value", _("At least 1.")))
        if line.unit_price is not None and line.unit_price < 0:
            errors.append(
                FieldError(f"lines[{i}].unit_price", "negative", _("Cannot be negative."))
            )
        if line.discount < 0:
            errors.append(FieldError(f"lines[{i}].discount", "negative", _("Cannot be negative.")))
        if line.product.currency != data.currency and line.unit_price is None:
            errors.append(
                FieldError(
                    f"lines[{i}].unit_price",
                    "required",
                    _("Give the price in the order's currency."),
                )
            )
        if line.external_id and line.external_id in line_ids:
            errors.append(
                FieldError(
                    f"lines[{i}].external_id",
                    "duplicate_line_id",
                    _("Another line of this order has the same line id."),
                )
            )
        line_ids.add(line.external_id)
    if data.discount < 0:
        errors.append(FieldError("discount", "negative", _("Cannot be negative.")))
    return errors


@transaction.atomic
def place_order(*, data: OrderInput, actor: Any) -> Order:
    """Record a purchase with its lines and bring the customer's aggregates up to date."""
    data = replace(data, currency=currency_code(data.currency))
    errors = _validate_order(data)
    if errors:
        raise ValidationFailed(errors)
    ensure_not_merged(data.customer)  # a merged-away customer's orders belong on its survivor
    cur = data.currency
    placed_at = data.placed_at or timezone.now()
    rows: list[OrderLine] = []
    subtotal = Decimal(0)
    for line in data.lines:
        unit = quantize(line.unit_price if line.unit_price is not None else line.product.price, cur)
        disc = quantize(line.discount, cur)
        total = unit * line.quantity - disc
        if total < 0:
            raise ValidationFailed.single(
                "lines", "negative", _("A line's discount exceeds its price.")
            )
        subtotal += total
        rows.append(
            OrderLine(
                product=line.product,
                quantity=line.quantity,
                unit_price=unit,
                discount=disc,
                line_total=total,
                external_id=line.external_id,
            )
        )
    discount = quantize(data.discount, cur)
    if discount > subtotal:
        raise ValidationFailed.single(
            "discount", "too_large", _("The discount exceeds the subtotal.")
        )
    number = data.number or _new_order_number(placed_at)
    if Order.objects.filter(number=number).exists():
        raise Conflict(_("An order with this number exists."), "duplicate_number")
    if (
        data.external_id
        and Order.objects.filter(source=data.source, external_id=data.external_id).exists()
    ):
        raise Conflict(_("This order was already recorded."), "duplicate_external_id")
    order = Order.objects.create(
        number=number,
        customer=data.customer,
        organization=data.organization,
        channel=data.channel,
        status=data.status,
        placed_at=placed_at,
        currency=cur,
        subtotal=subtotal,
        discount=discount,
        total=subtotal - discount,
        source=data.source,
        external_id=data.external_id,
    )
    for row in rows:
        row.order = order
    OrderLine.objects.bulk_create(rows)
    _apply_purchase(data.customer, order.placed_at, order.total)
    refresh_purchased_products([data.customer.pk])
    audit.record(actor, "order.placed", order, after=audit.snapshot(order))
    events.emit(
        "order.placed", order, customer_id=data.customer.pk, total=order.total, currency=cur
    )
    return order


def _apply_purchase(customer: Customer, placed_at: datetime.datetime, total: Decimal) -> None:
    """Fold one order into the customer's aggregates in a single UPDATE."""
    Customer.objects.filter(pk=customer.pk).update(
        order_count=F("order_count") + 1,
        total_spent=F("total_spent") + total,
        first_purchase_at=models.Case(
            models.When(first_purchase_at__isnull=True, then=models.Value(placed_at)),
            default=Least(F("first_purchase_at"), models.Value(placed_at)),
        ),
        last_purchase_at=models.Case(
            models.When(last_purchase_at__isnull=True, then=models.Value(placed_at)),
            default=Greatest(F("last_purchase_at"), models.Value(placed_at)),
        ),
        lifecycle_stage=models.Case(
            models.When(order_count__gte=1, then=models.Value(LifecycleStage.REPEAT)),
            default=models.Value(LifecycleStage.CUSTOMER),
        ),
        updated_at=timezone.now(),
    )


def lock_order(pk: int) -> Order:
    """The order, locked for a change that also writes its customer's row (aggregates): its
    customer is locked first, then the order, in the order a merge takes them (the customers,
    then their orders), so the two cannot deadlock. A merge that moved the order in between is
    seen (the order's customer is no longer the one locked) and its new customer locked."""
    while True:
        customer_id = Order.objects.filter(pk=pk).values_list("customer_id", flat=True).get()
        list(Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk"))
        order = Order.objects.select_for_update().get(pk=pk)
        if order.customer_id == customer_id:
            return order


@transaction.atomic
def cancel_order(*, order: Order, actor: Any, reason: str = "") -> Order:
    """Cancel an order that has not been returned; the customer's aggregates drop it."""
    order = lock_order(order.pk)
    if order.status in (
        OrderStatus.CANCELLED,
        OrderStatus.RETURNED,
        OrderStatus.PARTIALLY_RETURNED,
    ):
        raise Conflict(_("This order cannot be cancelled any more."), "not_cancellable")
    order.status = OrderStatus.CANCELLED
    order.save(update_fields=["status"])
    Customer.objects.filter(pk=order.customer_id).update(
        order_count=Greatest(F("order_count") - 1, 0),
        total_spent=F("total_spent") - order.total,
        updated_at=timezone.now(),
    )
    refresh_purchased_products([order.customer_id])
    audit.record(actor, "order.cancelled", order, after={"status": order.status, "reason": reason})
    events.emit("order.cancelled", order, customer_id=order.customer_id)
    return order


@dataclass
class ReturnLineInput:
    order_line: OrderLine
    quantity: int


@transaction.atomic
def record_return(
    *,
    order: Order,
    lines: list[ReturnLineInput],
    reason: str,
    actor: Any,
    note: str = "",
    returned_at: datetime.datetime | None = None,
    source: str = "",
    external_id: str = "",
) -> Return:
    """Take goods back: refund their share of the order, lower the customer's lifetime spend."""
    order = lock_order(order.pk)
    errors: list[FieldError] = []
    if reason not in ReturnReason.values:
        errors.append(FieldError("reason", "invalid_choice", _("Not a valid choice.")))
    if not lines:
        errors.append(FieldError("lines", "required", _("Say what comes back.")))
    if order.status == OrderStatus.CANCELLED:
        errors.append(FieldError("order", "cancelled", _("A cancelled order cannot be returned.")))
    order_lines = {ol.pk: ol for ol in order.lines.select_for_update()}
    asked: Counter[int] = Counter()  # per order line, over every line of this return
    for i, rl in enumerate(lines):
        ol = order_lines.get(rl.order_line.pk)
        if ol is None:
            errors.append(
                FieldError(
                    f"lines[{i}].order_line", "line_not_found", _("This line is not on the order.")
                )
            )
            continue
        asked[ol.pk] += rl.quantity
        if rl.quantity < 1 or asked[ol.pk] > ol.quantity - ol.returned_quantity:
            errors.append(
                FieldError(
                    f"lines[{i}].quantity",
                    "too_many",
                    _("More than was bought and not yet returned."),
                )
            )
    if errors:
        raise ValidationFailed(errors)
    if external_id and Return.objects.filter(source=source, external_id=external_id).exists():
        raise Conflict(_("This return was already recorded."), "duplicate_external_id")
    # Each line refunds its share of the line total, less its share of the order discount.
    share = (order.total / order.subtotal) if order.subtotal else Decimal(0)
    ret = Return.objects.create(
        order=order,
        customer_id=order.customer_id,
        returned_at=returned_at or timezone.now(),
        reason=reason,
        note=note,
        amount=0,
        currency=order.currency,
        source=source,
        external_id=external_id,
    )
    amount = Decimal(0)
    rows = []
    for rl in lines:
        ol = order_lines[rl.order_line.pk]
        line_amount = quantize(ol.line_total * rl.quantity / ol.quantity * share, order.currency)
        amount += line_amount
        rows.append(ReturnLine(ret=ret, order_line=ol, quantity=rl.quantity, amount=line_amount))
        OrderLine.objects.filter(pk=ol.pk).update(
            returned_quantity=F("returned_quantity") + rl.quantity
        )
        ol.returned_quantity += rl.quantity
    ReturnLine.objects.bulk_create(rows)
    ret.amount = amount
    ret.save(update_fields=["amount"])
    order.returned_amount += amount
    fully = all(ol.returned_quantity >= ol.quantity for ol in order_lines.values())
    order.status = OrderStatus.RETURNED if fully else OrderStatus.PARTIALLY_RETURNED
    order.save(update_fields=["returned_amount", "status"])
    Customer.objects.filter(pk=order.customer_id).update(
        total_spent=F("total_spent") - amount, updated_at=timezone.now()
    )
    refresh_purchased_products([order.customer_id])
    audit.record(actor, "order.returned", ret, after=audit.snapshot(ret))
    events.emit(
        "order.returned", order, customer_id=order.customer_id, amount=amount, reason=reason
    )
    return ret


@dataclass
class ReturnLineRef:
    """How a return names one line of its order. The first given decides: Dangol's id of the
    order line, its id in the source system, its number on the order (1 = the first), or the
    product's SKU (with the quantities, ``commerce.returns`` says which line)."""

    quantity: int
    order_line_id: int | None = None
    line_external_id: str = ""
    line_number: int | None = None
    sku: str = ""

    def as_match(self) -> dict[str, Any]:
        """The line in the form ``commerce.returns`` matches (the returns import's names)."""
        return {
            "quantity": self.quantity,
            "order_line_id": self.order_line_id,
            "line_id": self.line_external_id.strip(),
            "line_number": self.line_number,
            "sku": self.sku.strip(),
        }


# commerce.returns names a line's id in the source `line_id`; ReturnLineRef `line_external_id`
_REF_FIELD = {"line_id": "line_external_id"}


def _line_rows(order: Order) -> tuple[list[Line], dict[int, OrderLine]]:
    """The order's lines by id, as ``commerce.returns`` rows and as objects (one query)."""
    objs = list(order.lines.select_related("product").order_by("id"))
    rows = [
        {
            "id": ol.pk,
            "external_id": ol.external_id,
            "product__sku": ol.product.sku,
            "quantity": ol.quantity,
            "returned_quantity": ol.returned_quantity,
            "line_total": ol.line_total,
        }
        for ol in objs
    ]
    return rows, {ol.pk: ol for ol in objs}


def resolve_return_lines(*, order: Order, lines: Sequence[ReturnLineRef]) -> list[ReturnLineInput]:
    """The order lines a return takes back and how many of each (``commerce.returns``, the rule
    the returns import follows), or ValidationFailed naming every line that names nothing, is
    not on the order, is ambiguous or asks for more than is left."""
    found: list[tuple[int, FieldError]] = []
    wanted: list[dict[str, Any]] = []
    positions: list[int] = []
    unnamed = _(
        "Give the order line's id in Dangol or in the source system, its number on the order "
        "or the product's SKU."
    )
    for i, ref in enumerate(lines):
        data = ref.as_match()
        if names_line(data) or data["sku"]:
            wanted.append(data)
            positions.append(i)
        else:
            found.append((i, FieldError(f"lines[{i}].order_line_id", "required", unnamed)))
    rows, objs = _line_rows(order)
    taken, problems = match_return_lines(wanted, rows)
    for j, (name, code, message) in problems:
        i = positions[j]
        found.append((i, FieldError(f"lines[{i}].{_REF_FIELD.get(name, name)}", code, message)))
    if found:
        raise ValidationFailed([e for _i, e in sorted(found, key=lambda f: f[0])])
    return [ReturnLineInput(order_line=objs[row["id"]], quantity=n) for row, n in taken]


def _is_same_return(
    ret: Return,
    *,
    order: Order,
    lines: Sequence[ReturnLineRef],
    reason: str,
    note: str | None,
    returned_at: datetime.datetime | None,
) -> bool:
    """Whether a return sent again says what `ret` recorded: the same order and reason, the
    same note and date when they are given, and lines that take back the same quantities of the
    same order lines, matched as if `ret` had not been recorded yet."""
    if (ret.order_id, ret.reason) != (order.pk, reason):
        return False
    if note is not None and note != ret.note:
        return False
    if returned_at is not None and returned_at != ret.returned_at:
        return False
    stored: Counter[int] = Counter()
    for line_id, n in ret.lines.values_list("order_line_id", "quantity"):
        stored[line_id] += n
    rows, _objs = _line_rows(order)
    for row in rows:
        row["returned_quantity"] -= stored[row["id"]]
    wanted = [ref.as_match() for ref in lines]
    if not all(names_line(d) or d["sku"] for d in wanted):
        return False
    taken, problems = match_return_lines(wanted, rows)
    sent: Counter[int] = Counter()
    for row, n in taken:
        sent[row["id"]] += n
    return not problems and sent == stored


@transaction.atomic
def upsert_return(
    *,
    order: Order,
    lines: Sequence[ReturnLineRef],
    reason: str,
    source: str,
    external_id: str,
    actor: Any,
    note: str | None = None,
    returned_at: datetime.datetime | None = None,
) -> tuple[Return, str]:
    """Record the return known in `source` as `external_id` once: ("created" | "unchanged").

    Returns are facts (goods came back, money went back): the same return sent again is
    ``unchanged``; one with another order, other lines or quantities, reason, note or date is
    refused (``return_changed``) and changes nothing, rather than refunding twice or rewriting
    a refund silently. A note or date of None is "not given": a new return has none (its date
    now), and a known one is not compared on it. The lines are named as ``ReturnLineRef``
    says."""
    order = lock_order(order.pk)  # every return writer locks it
    known = (
        Return.objects.filter(source=source, external_id=external_id).first()
        if external_id
        else None
    )
    if known is None:
        resolved = resolve_return_lines(order=order, lines=lines)
        ret = record_return(
            order=order,
            lines=resolved,
            reason=reason,
            note=note or "",
            returned_at=returned_at,
            source=source,
            external_id=external_id,
            actor=actor,
        )
        return ret, "created"
    if _is_same_return(
        known, order=order, lines=lines, reason=reason, note=note, returned_at=returned_at
    ):
        return known, "unchanged"
    raise Conflict(
        _(
            "This return was recorded with another order, other lines, reason, note or date; "
            "a recorded return is not changed."
        ),
        "return_changed",
    )


# --- payments -------------------------------------------------------------------------------

# Where a payment's status may go next. Forward only: a late message about an earlier state (an
# ERP feed out of order) is refused rather than applied backwards.
PAYMENT_NEXT: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset(
        {PaymentStatus.PENDING, PaymentStatus.PAID, PaymentStatus.CANCELLED}
    ),
    PaymentStatus.PAID: frozenset(
        {
            PaymentStatus.PAID,
            PaymentStatus.PARTIALLY_REFUNDED,
            PaymentStatus.REFUNDED,
            PaymentStatus.CANCELLED,
        }
    ),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset(
        {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
    ),
    PaymentStatus.REFUNDED: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.CANCELLED: frozenset({PaymentStatus.CANCELLED}),
}
# Statuses of money that was taken (a refunded payment was taken, then given back).
CAPTURED = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
REFUNDING = (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)


def refresh_order_customers(model: type[Payment] | type[Return], customer_ids: list[int]) -> None:
    """Give the rows of ``model`` (payments, returns: rows whose customer is their order's) of
    these customers, and of their orders, their order's customer again (one UPDATE). When
    records merge or unmerge the orders move, and these rows follow them here (registered with
    the merge as derived rows), including rows recorded between a merge and its undoing, which
    a move log could not send back."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    order_customer = Order.objects.filter(pk=OuterRef("order_id")).values("customer_id")[:1]
    (
        model._default_manager.filter(Q(customer_id__in=ids) | Q(order__customer_id__in=ids))
        .exclude(customer_id=F("order__customer_id"))
        .update(customer_id=Subquery(order_customer))
    )


@dataclass
class PaymentInput:
    """A payment as a caller describes it. ``None`` is "not given": a new payment takes the
    default (paid; the order's currency; paid and refunded now when it is so), a known one keeps
    what it has."""

    order: Order
    method: str
    amount: Decimal
    currency: str = ""  # the order's when empty
    status: str | None = None
    provider: str | None = None  # 카카오페이, 네이버페이, 토스페이, a card company
    refunded_amount: Decimal | None = None
    paid_at: datetime.datetime | None = None
    refunded_at: datetime.datetime | None = None
    source: str = ""
    external_id: str = ""


def _payment_values(data: PaymentInput, order: Order, current: Payment | None) -> dict[str, Any]:
    """The payment's fields after `data`, checked (ValidationFailed with every broken rule)."""
    errors: list[FieldError] = []
    now = timezone.now()
    cur = currency_code(data.currency or order.currency)
    if (err := _currency_error(cur)) is not None:
        errors.append(err)
        cur = order.currency
    elif cur != order.currency:
        errors.append(
            FieldError("currency", "currency_mismatch", _("A payment is in its order's currency."))
        )
    if data.method not in PaymentMethod.values:
        errors.append(FieldError("method", "invalid_choice", _("Not a valid choice.")))
    status = data.status or (current.status if current else PaymentStatus.PAID)
    if status not in PaymentStatus.values:
        errors.append(FieldError("status", "invalid_choice", _("Not a valid choice.")))
    amount = quantize(data.amount, cur)
    if amount <= 0:
        errors.append(FieldError("amount", "not_positive", _("The amount must be more than zero.")))
    if data.refunded_amount is not None:
        refunded = quantize(data.refunded_amount, cur)
    elif status == PaymentStatus.REFUNDED:
        refunded = amount
    elif status == PaymentStatus.PARTIALLY_REFUNDED and current is not None:
        refunded = current.refunded_amount
    else:
        refunded = Decimal(0)
    if refunded < 0:
        errors.append(FieldError("refunded_amount", "negative", _("Cannot be negative.")))
    elif refunded > amount > 0:
        errors.append(
            FieldError("refunded_amount", "exceeds_amount", _("More is refunded than was paid."))
        )
    elif status == PaymentStatus.REFUNDED and refunded != amount:
        errors.append(
            FieldError(
                "refunded_amount",
                "status_mismatch",
                _("A refunded payment gives back its whole amount; a part is a partial refund."),
            )
        )
    elif status == PaymentStatus.PARTIALLY_REFUNDED and not 0 < refunded < amount:
        errors.append(
            FieldError(
                "refunded_amount",
                "status_mismatch",
                _("A partial refund gives back more than nothing and less than the amount."),
            )
        )
    elif status not in REFUNDING and refunded:
        errors.append(
            FieldError(
                "refunded_amount",
                "status_mismatch",
                _("Only a refunded payment has a refunded amount."),
            )
        )
    for name in ("paid_at", "refunded_at"):
        at = getattr(data, name)
        if at is not None and at > now + datetime.timedelta(days=1):
            errors.append(FieldError(name, "in_future", _("This is in the future.")))
    if errors:
        raise ValidationFailed(errors)
    paid_at = data.paid_at or (current.paid_at if current else None)
    if paid_at is None and status in CAPTURED:
        paid_at = now
    refunded_at = None  # when the (last) refund was made; none without a refund
    if refunded:
        refunded_at = data.refunded_at or (current.refunded_at if current else None)
        if refunded_at is None or (current and refunded > current.refunded_amount):
            refunded_at = data.refunded_at or now
    provider = data.provider if data.provider is not None else (current.provider if current else "")
    return {
        "method": data.method,
        "provider": provider.strip(),
        "amount": amount,
        "currency": cur,
        "status": status,
        "refunded_amount": refunded,
        "paid_at": paid_at,
        "refunded_at": refunded_at,
    }


def _check_not_overpaid(order: Order, values: dict[str, Any]) -> None:
    """Conflict ``overpaid`` when the order's payments (not cancelled, less their refunds)
    with this one would come to more than its total. Call with the order locked."""
    if values["status"] == PaymentStatus.CANCELLED:
        return
    taken = (
        Payment.objects.filter(order=order)
        .exclude(status=PaymentStatus.CANCELLED)
        .aggregate(s=Sum(F("amount") - F("refunded_amount")))["s"]
    ) or Decimal(0)
    if taken + values["amount"] - values["refunded_amount"] > order.total:
        raise Conflict(
            _(
                "With the order's other payments (%(paid)s) this comes to more than its total "
                "(%(total)s)."
            )
            % {
                "paid": format_money(taken, order.currency),
                "total": format_money(order.total, order.currency),
            },
            "overpaid",
        )


def _payment_event(name: str, payment: Payment, **data: Any) -> None:
    events.emit(
        name,
        payment,
        order_id=payment.order_id,
        customer_id=payment.customer_id,
        amount=payment.amount,
        refunded_amount=payment.refunded_amount,
        currency=payment.currency,
        method=payment.method,
        status=payment.status,
        **data,
    )


@transaction.atomic
def record_payment(*, data: PaymentInput, actor: Any) -> Payment:
    """Record money taken for an order (결제): a card charge, a transfer, the points spent.

    The payment belongs to the order's customer. The order's payments that are not cancelled,
    less their refunds, may not come to more than its total (``overpaid``): a shop that takes
    points and a card records two payments that add up to the total."""
    order = lock_order(data.order.pk)
    if (
        data.external_id
        and Payment.objects.filter(source=data.source, external_id=data.external_id).exists()
    ):
        raise Conflict(_("This payment was already recorded."), "duplicate_external_id")
    return _create_payment(order, data, actor)


def _create_payment(order: Order, data: PaymentInput, actor: Any) -> Payment:
    """Check and write a new payment of `order` (locked by the caller)."""
    values = _payment_values(data, order, None)
    _check_not_overpaid(order, values)
    payment = Payment.objects.create(
        order=order,
        customer_id=order.customer_id,
        source=data.source,
        external_id=data.external_id,
        **values,
    )
    audit.record(actor, "payment.recorded", payment, after=audit.snapshot(payment))
    _payment_event("payment.recorded", payment)
    return payment


@transaction.atomic
def upsert_payment(*, data: PaymentInput, actor: Any) -> tuple[Payment, str]:
    """Record the payment known in ``data.source`` as ``data.external_id`` once, and follow its
    later states: ("created" | "updated" | "unchanged").

    The same payload again is ``unchanged``. A known payment may move forward (pending → paid
    → partially refunded → refunded, or to cancelled), refund more, and have its method,
    provider and dates corrected; its order, amount and currency are what it is
    (``payment_changed``), and a status or refund that goes backwards is refused
    (``invalid_transition``), so a late message cannot undo a refund."""
    if not data.external_id:
        return record_payment(data=data, actor=actor), "created"
    order = lock_order(data.order.pk)
    current = (
        Payment.objects.select_for_update()
        .filter(source=data.source, external_id=data.external_id)
        .first()
    )
    if current is None:
        return _create_payment(order, data, actor), "created"
    if current.order_id != order.pk:
        raise Conflict(_("This payment was recorded for another order."), "payment_changed")
    values = _payment_values(data, order, current)
    if values["amount"] != current.amount or values["currency"] != current.currency:
        raise Conflict(
            _("This payment was recorded with another amount; record a refund instead."),
            "payment_changed",
        )
    if values["status"] not in PAYMENT_NEXT[current.status]:
        raise Conflict(
            _("A payment cannot go from %(old)s to %(new)s.")
            % {
                "old": PaymentStatus(current.status).label,
                "new": PaymentStatus(values["status"]).label,
            },
            "invalid_transition",
        )
    if values["refunded_amount"] < current.refunded_amount:
        raise Conflict(_("A refund cannot be taken back."), "invalid_transition")
    changed = sorted(k for k, v in values.items() if getattr(current, k) != v)
    if not changed:
        return current, "unchanged"
    before = audit.snapshot(current)
    for k, v in values.items():
        setattr(current, k, v)
    current.updated_at = timezone.now()
    current.save()
    old, new = audit.diff(before, audit.snapshot(current))
    new.pop("updated_at", None)
    old.pop("updated_at", None)
    audit.record(actor, "payment.updated", current, before=old, after=new)
    _payment_event("payment.updated", current, changed=changed)
    return current, "updated"


# --- upsert by external id (bulk API, ERP sync) --------------------------------------------


@transaction.atomic
def upsert_product(
    *, source: str, external_id: str, fields: dict[str, Any], actor: Any
) -> tuple[Product, str]:
    """Create or update the product known in `source` as `external_id` (or by SKU).

    `fields` are those the caller was sent, and only they change a known product: a field left
    out keeps its value (an ERP sends what changed). A new product takes ``create_product``'s
    defaults for the ones left out. "unchanged" when every field sent is what the product has,
    however it is written (the currency's case, the price's digits, a custom field repeated)."""
    product = (
        Product.objects.filter(source=source, external_id=external_id).first()
        or Product.objects.filter(sku=fields.get("sku") or "").first()
    )
    if product is None:
        return create_product(
            source=source, external_id=external_id, actor=actor, **fields
        ), "created"
    changes = {k: v for k, v in fields.items() if not _same_product_value(product, k, v, fields)}
    if not changes:
        return product, "unchanged"
    return update_product(product=product, changes=changes, actor=actor, source=source), "updated"


def _same_product_value(product: Product, name: str, value: Any, fields: dict[str, Any]) -> bool:
    """Whether `value` sent for the product's field `name` is what it has, as
    ``update_product`` would store it. A value it cannot compare (an unknown currency, a bad
    amount) counts as a change, for ``update_product`` to refuse with its field error."""
    current: Any = getattr(product, name, None)
    if name == "currency":
        return currency_code(value) == current
    if name in ("brand", "line"):
        return (value or "") == current
    if name == "custom_fields":  # merged over the product's: a key of None or "" removes it
        merged = {**current, **(value or {})}
        return {k: v for k, v in merged.items() if v is not None and v != ""} == current
    if name == "price" and value is not None:
        currency = currency_code(fields.get("currency") or product.currency)
        if currency not in MINOR_UNITS:
            return False
        try:
            return quantize(value, currency) == current
        except ValueError:
            return False
    return bool(current == value)


@transaction.atomic
def upsert_order(*, data: OrderInput, actor: Any) -> tuple[Order, str]:
    """Record an order once: a known (source, external id) is left as it is ("unchanged").

    A known order the acting user may not see is ``NotFound`` (as a missing record answers:
    neither its id nor anything of it goes back), so sending another's order id tells nothing;
    the user who may see it gets it back "unchanged". Without a user (a system job) every order
    counts."""
    existing = Order.objects.filter(source=data.source, external_id=data.external_id).first()
    if existing is not None:
        if (
            isinstance(actor, User)
            and not Order.objects.visible_to(actor).filter(pk=existing.pk).exists()
        ):
            raise NotFound()
        return existing, "unchanged"
    return place_order(data=data, actor=actor), "created"
