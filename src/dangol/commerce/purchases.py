"""What each customer has bought (``PurchasedProduct``), derived from orders and lines.

The table is derived data: every writer of orders calls ``refresh_purchased_products`` with the
customers whose orders it changed (the order services, imports, merges), the demo loader
rebuilds it whole, and the migration that made it filled it from the existing orders. A refresh
recomputes the customers' rows from their orders in two statements, so it is exact whatever
happened to the orders (cancelled, returned, moved by a merge).

Segments read it for "bought category X / product Y in the last N days" (docs/adr/0012).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

from dangol.commerce.models import Order, OrderLine, OrderStatus, PurchasedProduct
from dangol.core.bulkwrite import in_keys, qn

# Orders that are not purchases: the segments' "bought" and this table agree on it.
NOT_PURCHASES = (OrderStatus.CANCELLED, OrderStatus.RETURNED)


def _select(where: str) -> str:
    order, line = qn(Order._meta.db_table), qn(OrderLine._meta.db_table)
    excluded = ", ".join(f"'{s.value}'" for s in NOT_PURCHASES)
    return f"""SELECT o.customer_id, l.product_id, MIN(o.placed_at), MAX(o.placed_at),
            COUNT(DISTINCT o.id)
        FROM {order} o JOIN {line} l ON l.order_id = o.id
        WHERE o.status NOT IN ({excluded}) {where}
        GROUP BY o.customer_id, l.product_id"""  # noqa: S608 - names from _meta, fixed values


def _insert(select: str) -> str:
    table = qn(PurchasedProduct._meta.db_table)
    return f"""INSERT INTO {table} (customer_id, product_id, first_at, last_at, order_count)
        {select}"""


def refresh_purchased_products(customer_ids: Sequence[int]) -> None:
    """Recompute the purchased products of these customers from their orders (set-based: one
    DELETE and one INSERT … SELECT, whatever the number of customers). Call it inside the
    transaction that changed their orders."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    table = qn(PurchasedProduct._meta.db_table)
    with connection.cursor() as cursor:
        cond, params = in_keys("customer_id", ids)
        cursor.execute(f"DELETE FROM {table} WHERE {cond}", params)  # noqa: S608
        cond, params = in_keys("o.customer_id", ids)
        cursor.execute(_insert(_select(f"AND {cond}")), params)


def rebuild_purchased_products() -> int:
    """Rebuild the whole table from every order (bulk loads, the migration); the row count."""
    table = qn(PurchasedProduct._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - name from _meta
        cursor.execute(_insert(_select("")))
        count: Any = cursor.rowcount
    return int(count)
