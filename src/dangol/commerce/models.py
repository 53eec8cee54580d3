"""What customers buy, where, how they pay, and what they bring back."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dangol.core.visibility import VisibleManager
from dangol.customers.models import Customer, Organization, Region


def amount_field(verbose_name: Any = None, **kwargs: Any) -> models.DecimalField:
    """A money amount: 18 digits, 2 decimal places (KRW uses none of them)."""
    return models.DecimalField(verbose_name, max_digits=18, decimal_places=2, **kwargs)


class ChannelKind(models.TextChoices):
    ONLINE = "online", _("Online shop")
    APP = "app", _("App")
    STORE = "store", _("Store")
    WHOLESALE = "wholesale", _("Wholesale (B2B)")
    CALL_CENTER = "call_center", _("Call center")
    MARKETPLACE = "marketplace", _("Marketplace")


class SalesChannel(models.Model):
    """Where a sale happens: the web shop, the app, a store (매장), the wholesale desk."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=ChannelKind.choices)
    region = models.CharField(_("region"), max_length=16, choices=Region.choices, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ()

    class Meta:
        verbose_name = _("sales channel")
        verbose_name_plural = _("sales channels")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProductCategory(models.Model):
    """A node of the category tree; ``path`` ("skincare/serum") makes subtree queries one LIKE."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=64)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=500, unique=True, editable=False)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ()

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name


class ProductTier(models.TextChoices):
    STANDARD = "standard", _("Standard")
    PREMIUM = "premium", _("Premium")


class Product(models.Model):
    """Something we sell. Products of the same ``line`` at a higher tier are its up-sell."""

    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.ForeignKey(
        ProductCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    brand = models.CharField(_("brand"), max_length=100, blank=True)
    line = models.CharField(_("product line"), max_length=100, blank=True)
    tier = models.CharField(
        _("tier"), max_length=10, choices=ProductTier.choices, default=ProductTier.STANDARD
    )
    price = amount_field(_("list price"))
    currency = models.CharField(_("currency"), max_length=3, default="KRW")
    is_active = models.BooleanField(_("active"), default=True)
    source = models.CharField(_("source"), max_length=50, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="product_unique_external_id",
            )
        ]
        indexes = [models.Index(fields=["line", "tier"])]

    def __str__(self) -> str:
        return self.name


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("Placed")
    PAID = "paid", _("Paid")
    FULFILLED = "fulfilled", _("Fulfilled")
    CANCELLED = "cancelled", _("Cancelled")
    RETURNED = "returned", _("Returned")
    PARTIALLY_RETURNED = "partially_returned", _("Partially returned")


class Order(models.Model):
    """A purchase by a customer (and, for wholesale, on behalf of an organization)."""

    number = models.CharField(_("order number"), max_length=40, unique=True)
    # no index of its own: (customer, -placed_at, -id) below serves every lookup by customer
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    channel = models.ForeignKey(
        SalesChannel, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    placed_at = models.DateTimeField(_("placed"), default=timezone.now)
    currency = models.CharField(_("currency"), max_length=3, default="KRW")
    subtotal = amount_field(_("subtotal"), default=0)
    discount = amount_field(_("discount"), default=0)
    total = amount_field(_("total"), default=0)
    returned_amount = amount_field(_("returned"), default=0)
    source = models.CharField(_("source"), max_length=50, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            models.Index(fields=["customer", "-placed_at", "-id"]),
            models.Index(fields=["placed_at", "id"]),
            # the order list finds an order by the number the shop or POS gave it, whatever the
            # source (the unique constraint below leads with the source)
            models.Index(
                fields=["external_id"], condition=~Q(external_id=""), name="order_external_id"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="order_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    """One product on an order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    # no index of its own: (product, order) below serves every lookup by product
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="order_lines", db_index=False
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = amount_field(_("unit price"))
    discount = amount_field(_("discount"), default=0)
    line_total = amount_field(_("line total"))
    returned_quantity = models.PositiveIntegerField(_("returned"), default=0)
    # The line's id in the source system that sent the order (an ERP's or POS's 주문상품번호),
    # so returns can name it; unique within the order. The database default keeps inserts that
    # do not name the column (raw SQL, older writers) valid.
    external_id = models.CharField(
        _("external line id"), max_length=100, blank=True, default="", db_default=""
    )

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("order__customer",)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        indexes = [models.Index(fields=["product", "order"])]
        constraints = [
            # Its index also serves the lookup by line id, always within known orders.
            models.UniqueConstraint(
                fields=["order", "external_id"],
                condition=~Q(external_id=""),
                name="orderline_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id}"


class ReturnReason(models.TextChoices):
    DEFECT = "defect", _("Defective")
    DAMAGED = "damaged", _("Damaged in delivery")
    WRONG_ITEM = "wrong_item", _("Wrong item")
    SKIN_TROUBLE = "skin_trouble", _("Skin reaction")
    CHANGE_OF_MIND = "change_of_mind", _("Change of mind")
    OTHER = "other", _("Other")


class Return(models.Model):
    """Goods brought back from an order, and the amount refunded."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="returns")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="returns")
    returned_at = models.DateTimeField(_("returned"), default=timezone.now)
    reason = models.CharField(_("reason"), max_length=16, choices=ReturnReason.choices)
    note = models.TextField(_("note"), blank=True)
    amount = amount_field(_("refund"))
    currency = models.CharField(max_length=3, default="KRW")
    source = models.CharField(_("source"), max_length=50, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        indexes = [models.Index(fields=["customer", "-returned_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="return_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.get_reason_display()}"


class ReturnLine(models.Model):
    """How many of one order line came back."""

    ret = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    amount = amount_field()

    class Meta:
        verbose_name = _("return line")

    def __str__(self) -> str:
        return f"{self.quantity} × line {self.order_line_id}"


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    VIRTUAL_ACCOUNT = "virtual_account", _("Virtual account")
    MOBILE = "mobile", _("Mobile phone payment")
    EASY_PAY = "easy_pay", _("Easy pay")
    POINTS = "points", _("Points")
    CASH = "cash", _("Cash")
    OTHER = "other", _("Other")


class PaymentStatus(models.TextChoices):
    # in their own context: "Refunded" elsewhere is an amount (환불액), here a state (환불)
    PENDING = "pending", pgettext_lazy("payment status", "Pending")
    PAID = "paid", pgettext_lazy("payment status", "Paid")
    CANCELLED = "cancelled", pgettext_lazy("payment status", "Cancelled")
    REFUNDED = "refunded", pgettext_lazy("payment status", "Refunded")
    PARTIALLY_REFUNDED = "partially_refunded", pgettext_lazy("payment status", "Partially refunded")


class Payment(models.Model):
    """Money taken for an order (결제): one card charge, one bank transfer, the points spent.

    An order may be paid in several parts (points and a card); the parts not cancelled, less
    what each refunded, never add up to more than the order's total (``services.record_payment``
    checks it under the order's lock). ``customer`` is the order's, copied so that a customer's
    payments are one index range and move with the customer when records merge. What an order
    has been paid is derived from its payments (``selectors.payment_summary``), not stored.
    """

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    # no index of its own: (customer, -paid_at) below serves every lookup by customer
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    method = models.CharField(_("payment method"), max_length=20, choices=PaymentMethod.choices)
    # who carried an easy pay or card payment: 카카오페이, 네이버페이, 토스페이, a card company
    provider = models.CharField(_("provider"), max_length=50, blank=True)
    amount = amount_field(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default="KRW")
    status = models.CharField(
        _("status"), max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PAID
    )
    refunded_amount = amount_field(_("refunded"), default=0)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=50, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)  # the order's customer

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        indexes = [models.Index(fields=["customer", "-paid_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="payment_unique_external_id",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.get_method_display()} {self.amount}"


class PriceChange(models.Model):
    """One price of a product from a moment on: the product's price history.

    The product's current price is the one of its latest change (by ``effective_at``); a change
    that arrives late (an ERP feed out of order) joins the history without moving the current
    price. ``old_price`` is the price before this one in the history; for the earliest change,
    the product's price before its history began (empty when not known). One change per product
    and instant.
    """

    # no index of its own: the unique (product, effective_at) below serves every lookup
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="price_changes", db_index=False
    )
    old_price = amount_field(_("old price"), null=True, blank=True)
    new_price = amount_field(_("new price"))
    currency = models.CharField(_("currency"), max_length=3, default="KRW")
    effective_at = models.DateTimeField(_("effective"))
    source = models.CharField(_("source"), max_length=50, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")
        constraints = [
            # its index also serves the product's history, newest first
            models.UniqueConstraint(
                fields=["product", "effective_at"], name="pricechange_unique_instant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.new_price} @ {self.effective_at:%Y-%m-%d}"


class PurchasedProduct(models.Model):
    """What a customer has bought: one row per customer and product over the orders that count
    as purchases (not cancelled, not wholly returned), with the first and last time and how many
    orders. Derived from orders and lines by ``commerce.purchases`` whenever they change, so a
    segment's "bought X in the last N days" is one index range instead of a scan of the lines.
    """

    pk = models.CompositePrimaryKey("customer_id", "product_id")
    # The primary key leads with the customer and the index below with the product.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    order_count = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("purchased product")
        verbose_name_plural = _("purchased products")
        indexes = [models.Index(fields=["product", "last_at", "customer"])]

    def __str__(self) -> str:
        return f"{self.customer_id} × {self.product_id}"
