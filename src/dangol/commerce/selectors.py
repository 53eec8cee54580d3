"""Read queries for products and orders shared by pages and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from dangol.commerce.models import Order, OrderLine, Product


def orders_for(user: Any) -> QuerySet[Order]:
    """Orders `user` may see, with customer and channel joined."""
    return Order.objects.visible_to(user).select_related("customer", "channel")


def order_detail_queryset(user: Any) -> QuerySet[Order]:
    """Orders with lines and products prefetched (a constant number of queries)."""
    return orders_for(user).prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("id")),
        "returns",
    )


def products_for(user: Any) -> QuerySet[Product]:
    """Products `user` may see, with their category."""
    return Product.objects.visible_to(user).select_related("category")


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
