"""The import benchmark's engine floor writes the rows the raw insert writes (and so the rows
the import writes): the same tables, counts, contact keys, order totals and lines, and the
purchase aggregates of the file's customers. Timings are never asserted here."""

from __future__ import annotations

from collections import Counter

import pytest

from bench import imports
from dangol.commerce.models import Order, OrderLine
from dangol.customers.models import ChangeFeedEntry, ContactPoint, Customer, ExternalId


def _written() -> dict[str, object]:
    return {
        "customers": sorted(
            Customer.objects.values_list(
                "family_name", "given_name", "full_name", "birth_date", "gender"
            )
        ),
        "external ids": sorted(ExternalId.objects.values_list("source", "key")),
        "contacts": Counter(ContactPoint.objects.values_list("kind", "normalized", "is_primary")),
        "feed": Counter(ChangeFeedEntry.objects.values_list("object_type", "op")),
        "orders": sorted(
            Order.objects.values_list("external_id", "placed_at", "total", "subtotal")
        ),
        "lines": Counter(
            OrderLine.objects.values_list(
                "order__external_id", "product__sku", "quantity", "unit_price", "line_total"
            )
        ),
        "aggregates": Counter(
            Customer.objects.values_list("order_count", "total_spent", "lifecycle_stage")
        ),
    }


def _clear() -> None:
    for model in (OrderLine, Order, ChangeFeedEntry, ContactPoint, ExternalId, Customer):
        model.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_the_floor_writes_what_the_raw_insert_writes():
    n = imports.REJECT_EVERY + 1  # one row of the file rejected
    floor = imports.measure_floor(n)
    by_floor = _written()
    _clear()
    imports.measure_raw(n)
    by_raw = _written()

    assert floor["customers"]["rows"] == n - 1
    assert floor["order_lines"]["rows"] == (n - 1) * imports.LINES_PER_ORDER
    assert by_floor == by_raw
