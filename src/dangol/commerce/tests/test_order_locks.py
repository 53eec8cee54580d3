"""The order writers that also write the customer's row lock the customer before the order, as
a merge does (its customers, then their orders): a cancellation running while a merge moves
the customer's orders waits for it instead of deadlocking with it."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from dangol.commerce import services as commerce
from dangol.commerce.models import Order, OrderStatus
from dangol.customers.models import Customer


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has one writer at a time, no row locks"
)
@pytest.mark.django_db(transaction=True)
def test_a_cancellation_waits_for_a_merge_moving_the_orders(admin: Any, make_customer: Any) -> None:
    product = commerce.create_product(actor=admin, sku="LK-1", name="토너", price=Decimal(9000))
    gone, survivor = make_customer(full_name="한결"), make_customer(full_name="한결")
    order = commerce.place_order(
        data=commerce.OrderInput(customer=gone, lines=[commerce.LineInput(product, 1)]),
        actor=admin,
    )
    locked, errors = threading.Event(), []

    def merge_like() -> None:
        """What ``merge_customers`` does, with a pause between its two steps: lock the
        customers, then move their orders."""
        try:
            with transaction.atomic():
                list(
                    Customer.objects.select_for_update()
                    .filter(pk__in=[gone.pk, survivor.pk])
                    .order_by("pk")
                    .values_list("pk")
                )
                locked.set()
                time.sleep(0.5)  # the cancellation starts meanwhile
                Order.objects.filter(customer=gone).update(customer=survivor)
        except Exception as exc:  # reported to the test's thread
            errors.append(exc)
        finally:
            connection.close()

    merging = threading.Thread(target=merge_like)
    merging.start()
    locked.wait(10)
    try:
        cancelled = commerce.cancel_order(order=order, actor=admin)
    except Exception as exc:  # a deadlock victim, asserted below
        errors.append(exc)
        cancelled = None
    merging.join(20)

    assert errors == []  # before: "deadlock detected" on PostgreSQL, one side rolled back
    assert cancelled is not None and cancelled.customer_id == survivor.pk
    order.refresh_from_db()
    assert (order.status, order.customer_id) == (OrderStatus.CANCELLED, survivor.pk)
