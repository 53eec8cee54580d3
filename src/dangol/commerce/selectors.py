"""Read queries for products, orders and payments shared by pages and the API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from dangol.commerce.models import (
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    PriceChange,
    Product,
)
from dangol.core.visibility import Action, can


def orders_for(user: Any, action: Action = Action.VIEW) -> QuerySet[Order]:
    """Orders `user` may see (or do `action` to), with customer and channel joined."""
    return Order.objects.visible_to(user, action).select_related("customer", "channel")


def payments_for(user: Any, action: Action = Action.VIEW) -> QuerySet[Payment]:
    """Payments `user` may see (or do `action` to): those of the orders of the customers in
    their scope, when their role has the payment grant."""
    return Payment.objects.visible_to(user, action)


def order_detail_queryset(user: Any) -> QuerySet[Order]:
    """Orders with lines and products, returns and the payments `user` may see prefetched
    (a constant number of queries)."""
    return orders_for(user).prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("id")),
        "returns",
        Prefetch("payments", queryset=payments_for(user).order_by("created_at", "id")),
    )


@dataclass(frozen=True)
class PaymentSummary:
    """What an order has been paid: ``paid`` was taken and not refunded, ``pending`` is awaited
    (a virtual account not yet deposited), ``outstanding`` is what the customer still owes
    (the total less returns, nothing for a cancelled order, less what was paid); below zero
    it is owed back to them."""

    paid: Decimal
    pending: Decimal
    refunded: Decimal
    outstanding: Decimal

    @property
    def to_refund(self) -> Decimal:
        """What was paid beyond what the order still asks (after a return or a cancellation)."""
        return max(-self.outstanding, Decimal(0))


def payment_summary(order: Order, payments: Iterable[Payment]) -> PaymentSummary:
    """Sum `payments` (the order's, as loaded) for `order`: no query of its own."""
    paid = pending = refunded = Decimal(0)
    for p in payments:
        if p.status == PaymentStatus.PENDING:
            pending += p.amount
        elif p.status != PaymentStatus.CANCELLED:
            paid += p.amount - p.refunded_amount
            refunded += p.refunded_amount
    due = (
        Decimal(0) if order.status == OrderStatus.CANCELLED else order.total - order.returned_amount
    )
    return PaymentSummary(paid=paid, pending=pending, refunded=refunded, outstanding=due - paid)


def may_view_payments(user: Any) -> bool:
    """Whether `user`'s role shows payments at all."""
    return can(user, Action.VIEW, Payment)


def products_for(user: Any) -> QuerySet[Product]:
    """Products `user` may see, with their category."""
    return Product.objects.visible_to(user).select_related("category")


def price_history(product: Product, limit: int = 20) -> list[PriceChange]:
    """The product's latest `limit` price changes, newest first by when they took effect
    (the unique (product, effective_at) index serves it)."""
    return list(PriceChange.objects.filter(product=product).order_by("-effective_at")[:limit])


def organization_orders(*, user: Any, organization: Any, limit: int = 20) -> list[Order]:
    """The newest orders placed for `organization` or by its people, as far as `user` may see."""
    from dangol.customers.models import OrganizationMembership

    members = OrganizationMembership.objects.filter(organization=organization).values("customer_id")
    return list(
        orders_for(user)
        .filter(Q(organization=organization) | Q(customer_id__in=members))
        .order_by("-placed_at", "-id")[:limit]
    )


def product_recent_lines(*, user: Any, product: Product, limit: int = 20) -> list[OrderLine]:
    """The newest order lines of `product` on orders `user` may see (with order and customer)."""
    return list(
        OrderLine.objects.filter(product=product, order__in=orders_for(user).values("pk"))
        .select_related("order", "order__customer", "order__channel")
        .order_by("-order__placed_at", "-id")[:limit]
    )
