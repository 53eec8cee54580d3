"""What customers have bought, derived from their orders: the purchase aggregates on the
customer row (``refresh_purchase_aggregates``) and what each customer bought
(``PurchasedProduct``).

Both are derived data. The order services keep the aggregates incrementally per order; every
writer that changes orders in sets (imports, merges and unmerges) recomputes them with
``refresh_purchase_aggregates``, which refreshes the purchased products too. The table is
derived data: every writer of orders calls ``refresh_purchased_products`` with the
customers whose orders it changed (the order services, imports, merges), the demo loader
rebuilds it whole, and the migration that made it filled it from the existing orders. A refresh
recomputes the customers' rows from their orders in two statements, so it is exact whatever
happened to the orders (cancelled, returned, moved by a merge).

Segments read it for "bought category X / product Y in the last N days" (docs/adr/0012).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.utils import timezone

from dangol.commerce.models import Order, OrderLine, OrderStatus, PurchasedProduct
from dangol.core.bulkwrite import in_keys, qn
from dangol.customers.models import Customer, LifecycleStage

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


def refresh_purchase_aggregates(
    customer_ids: Sequence[int], now: datetime.datetime | None = None
) -> None:
    """Recompute first/last purchase, order count, lifetime spend and the lifecycle stage of these
    customers from their orders, as the order services keep them (cancelled orders do not count,
    returns lower the spend; one order makes a customer, two a repeat customer; a customer
    without a counted order keeps their stage), and what they bought
    (``refresh_purchased_products``). ``now`` stamps ``updated_at`` (default: the clock).

    One ``UPDATE … FROM`` per call: the customers' orders grouped once (a join of the ids,
    passed as one parameter, with their orders), not correlated subqueries per customer. Call
    it inside the transaction that changed the orders."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    cust, order = qn(Customer._meta.db_table), qn(Order._meta.db_table)
    stamp: Any = now or timezone.now()
    cancelled = OrderStatus.CANCELLED.value
    if connection.vendor == "postgresql":
        # one index probe per customer (LATERAL), whatever the statistics of a table that
        # an import is filling say
        orders_of = f"""SELECT k.id AS cid, s.n, s.spent, s.first_at, s.last_at
            FROM unnest(%s::bigint[]) AS k(id) CROSS JOIN LATERAL (
                SELECT COUNT(*) AS n, COALESCE(SUM(o.total - o.returned_amount), 0) AS spent,
                    MIN(o.placed_at) AS first_at, MAX(o.placed_at) AS last_at
                FROM {order} o WHERE o.customer_id = k.id AND o.status <> '{cancelled}'
            ) s"""  # noqa: S608 - names from _meta, a fixed value
        params: list[Any] = [ids]
    else:
        stamp = connection.ops.adapt_datetimefield_value(stamp)
        cond, params = in_keys("k.id", ids)
        orders_of = f"""SELECT k.id AS cid, COUNT(o.id) AS n,
                COALESCE(SUM(o.total - o.returned_amount), 0) AS spent,
                MIN(o.placed_at) AS first_at, MAX(o.placed_at) AS last_at
            FROM {cust} k LEFT JOIN {order} o
                ON o.customer_id = k.id AND o.status <> '{cancelled}'
            WHERE {cond}
            GROUP BY k.id"""  # noqa: S608 - names from _meta, a fixed value
    repeat, customer = LifecycleStage.REPEAT.value, LifecycleStage.CUSTOMER.value
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {cust} SET
                order_count = a.n,
                total_spent = a.spent,
                first_purchase_at = a.first_at,
                last_purchase_at = a.last_at,
                lifecycle_stage = CASE WHEN a.n >= 2 THEN '{repeat}'
                    WHEN a.n = 1 THEN '{customer}' ELSE {cust}.lifecycle_stage END,
                updated_at = %s
            FROM ({orders_of}) a
            WHERE {cust}.id = a.cid""",  # noqa: S608 - names from _meta, fixed values
            [stamp, *params],
        )
    refresh_purchased_products(ids)
