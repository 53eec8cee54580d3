"""Read queries for products and orders shared by pages and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

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
