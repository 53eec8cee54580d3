"""Returns (반품) in bulk by external id: the order and its lines named as the returns import
and the per-order endpoint name them, a known return sent again, every error, visibility and the
query cost of a bulk call."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.commerce import services
from dangol.commerce.models import OrderLine, OrderStatus, Return
from dangol.core.models import ChangeLog

BULK = "/api/v1/returns/bulk"
# queries per record of a bulk call, at most: 24 measured for a new one-line return (the lookups,
# then record_return's writes: the return, its line, the order line, the order, the customer,
# what they bought, the change log), 11 for one sent again
PER_RECORD = 25


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def catalog(admin):
    return {
        sku: services.create_product(sku=sku, name=name, price=Decimal(price), actor=admin)
        for sku, name, price in (("SR-1", "비타민 세럼", 32000), ("TN-1", "진정 토너", 18000))
    }


@pytest.fixture
def make_order(admin, catalog):
    """``make_order(customer, "O-1")``: serums ×2 (line L-1, ₩32,000), toners ×3 (L-2) and
    serums ×2 again at ₩30,000 (L-3), recorded by the ERP as `external_id`."""

    def make(customer, external_id, actor=None):
        lines = [
            services.LineInput(catalog["SR-1"], 2, external_id="L-1"),
            services.LineInput(catalog["TN-1"], 3, external_id="L-2"),
            services.LineInput(catalog["SR-1"], 2, unit_price=Decimal(30000), external_id="L-3"),
        ]
        return services.place_order(
            data=services.OrderInput(
                customer=customer, lines=lines, source="erp", external_id=external_id
            ),
            actor=actor or admin,
        )

    return make


def ret(external_id, lines, order=None, reason="defect", **kw):
    record = {"source": "erp", "external_id": external_id, "reason": reason, "lines": lines}
    if order is not None:
        record["order_id"] = order.pk
    record.update(kw)
    return record


def results(body):
    return [(r["status"], r.get("code")) for r in body["results"]]


def field_errors(body):
    return [[(e["field"], e["code"]) for e in r["errors"]] for r in body["results"]]


def lines_of(order):
    return list(OrderLine.objects.filter(order=order).order_by("id"))


def test_lines_named_every_way_are_returned_and_a_return_sent_again_is_unchanged(
    admin, api, make_customer, make_order
):
    client = api(admin)
    customer = make_customer(actor=admin)
    order = make_order(customer, "O-1")
    first, _second, _third = lines_of(order)
    records = [
        ret("R-1", [{"order_line_id": first.pk, "quantity": 1}], order),
        ret("R-2", [{"line_external_id": "L-2", "quantity": 1}], order_external_id="O-1"),
        ret("R-3", [{"line_number": 3, "quantity": 1}], order, reason="change_of_mind"),
        ret("R-4", [{"sku": "TN-1", "quantity": 2}], order, note="박스 훼손"),
    ]

    body = post(client, BULK, {"records": records}).json()

    assert results(body) == [("created", None)] * 4
    refunds = {r.external_id: r.amount for r in Return.objects.all()}
    assert refunds == {
        "R-1": Decimal(32000),
        "R-2": Decimal(18000),
        "R-3": Decimal(30000),
        "R-4": Decimal(36000),
    }
    assert [ln.returned_quantity for ln in lines_of(order)] == [1, 3, 1]
    order.refresh_from_db()
    customer.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_RETURNED
    assert order.returned_amount == Decimal(116000)
    assert customer.total_spent == order.total - Decimal(116000)

    again = post(client, BULK, {"records": records}).json()
    # the same return, its line named another way, is the same fact
    other_way = post(
        client, BULK, {"records": [ret("R-1", [{"line_external_id": "L-1", "quantity": 1}], order)]}
    ).json()

    assert results(again) == [("unchanged", None)] * 4
    assert [r["id"] for r in again["results"]] == [r["id"] for r in body["results"]]
    assert results(other_way) == [("unchanged", None)]
    assert Return.objects.count() == 4
    assert [ln.returned_quantity for ln in lines_of(order)] == [1, 3, 1]
    order.refresh_from_db()
    assert order.returned_amount == Decimal(116000)


def test_a_known_return_with_other_facts_is_refused_and_nothing_changes(
    admin, api, make_customer, make_order
):
    client = api(admin)
    customer = make_customer(actor=admin)
    order, other = make_order(customer, "O-1"), make_order(customer, "O-2")
    line = [{"line_external_id": "L-1", "quantity": 1}]
    post(client, BULK, {"records": [ret("R-1", line, order, returned_at="2026-11-01T10:00:00")]})

    body = post(
        client,
        BULK,
        {
            "records": [
                ret("R-1", [{"line_external_id": "L-1", "quantity": 2}], order),
                ret("R-1", [{"line_external_id": "L-3", "quantity": 1}], order),
                ret("R-1", line, order, reason="damaged"),
                ret("R-1", line, order, note="다른 메모"),
                ret("R-1", line, order, returned_at="2026-11-02T10:00:00"),
                ret("R-1", line, other),
                ret("R-1", line, order, returned_at="2026-11-01T10:00:00+09:00"),
            ]
        },
    ).json()

    assert results(body) == [("error", "return_changed")] * 6 + [("unchanged", None)]
    assert Return.objects.count() == 1
    assert [ln.returned_quantity for ln in lines_of(order)] == [1, 0, 0]
    assert [ln.returned_quantity for ln in lines_of(other)] == [0, 0, 0]


def test_every_error_code_and_the_good_records_still_land(
    admin, api, make_customer, make_order, catalog
):
    client = api(admin)
    customer = make_customer(actor=admin)
    order = make_order(customer, "O-1")
    cancelled = services.cancel_order(order=make_order(customer, "O-2"), actor=admin)
    elsewhere = lines_of(make_order(customer, "O-3"))[0]
    first = lines_of(order)[0]
    logged = ChangeLog.objects.count()
    records = [
        ret("E-1", [{"line_number": 1, "quantity": 1}], order_id=999_999_999),
        ret("E-2", [{"line_number": 1, "quantity": 1}], order_external_id="O-404"),
        ret("E-3", [{"line_number": 1, "quantity": 1}]),
        ret("E-4", [{"order_line_id": elsewhere.pk, "quantity": 1}], order),
        ret("E-5", [{"line_external_id": "L-99", "quantity": 1}], order),
        ret("E-6", [{"line_number": 4, "quantity": 1}], order),
        ret("E-7", [{"order_line_id": first.pk, "sku": "TN-1", "quantity": 1}], order),
        ret("E-8", [{"sku": "NOPE-1", "quantity": 1}], order),
        ret("E-9", [{"sku": "SR-1", "quantity": 1}], order),  # on two lines at two prices
        ret("E-10", [{"line_number": 2, "quantity": 4}], order),
        ret("E-11", [{"quantity": 1}], order),
        ret("E-12", [{"line_number": 1, "quantity": 1}], cancelled),
        # one good line and one bad: the whole return is refused, the good line too
        ret(
            "E-13",
            [{"line_number": 1, "quantity": 1}, {"line_external_id": "L-2", "quantity": 9}],
            order,
        ),
        ret("GOOD", [{"sku": "SR-1", "quantity": 4}], order),  # every serum left, both lines
    ]

    body = post(client, BULK, {"records": records}).json()

    assert results(body) == [("error", "validation_failed")] * 13 + [("created", None)]
    assert field_errors(body)[:13] == [
        [("order_id", "not_found")],
        [("order_external_id", "not_found")],
        [("order_id", "required")],
        [("lines[0].order_line_id", "line_not_found")],
        [("lines[0].line_external_id", "line_not_found")],
        [("lines[0].line_number", "line_not_found")],
        [("lines[0].sku", "sku_mismatch")],
        [("lines[0].sku", "not_in_order")],
        [("lines[0].sku", "ambiguous_line")],
        [("lines[0].quantity", "too_many")],
        [("lines[0].order_line_id", "required")],
        [("order", "cancelled")],
        [("lines[1].quantity", "too_many")],
    ]
    assert list(Return.objects.values_list("external_id", flat=True)) == ["GOOD"]
    assert [ln.returned_quantity for ln in lines_of(order)] == [2, 0, 2]
    assert ChangeLog.objects.count() == logged + 1  # the good return's only
    assert set(
        OrderLine.objects.exclude(order=order).values_list("returned_quantity", flat=True)
    ) == {0}


def test_returns_of_one_order_in_one_call_see_each_other(admin, api, make_customer, make_order):
    client = api(admin)
    order = make_order(make_customer(actor=admin), "O-1")

    body = post(
        client,
        BULK,
        {
            "records": [
                ret("R-1", [{"line_external_id": "L-2", "quantity": 2}], order),
                ret("R-2", [{"line_external_id": "L-2", "quantity": 2}], order),  # 1 is left
                ret("R-3", [{"sku": "TN-1", "quantity": 1}], order),
            ]
        },
    ).json()

    assert results(body) == [("created", None), ("error", "validation_failed"), ("created", None)]
    assert [ln.returned_quantity for ln in lines_of(order)] == [0, 3, 0]


def test_the_per_order_endpoint_names_lines_the_same_ways(admin, api, make_customer, make_order):
    client = api(admin)
    order = make_order(make_customer(actor=admin), "O-1")
    url = f"/api/v1/orders/{order.pk}/returns"

    by_number = post(
        client, url, {"reason": "defect", "lines": [{"line_number": 2, "quantity": 1}]}
    )
    by_sku = post(client, url, {"reason": "defect", "lines": [{"sku": "TN-1", "quantity": 1}]})
    # one line named twice may not take back more than is left of it
    twice = post(
        client,
        url,
        {
            "reason": "defect",
            "lines": [
                {"line_number": 2, "quantity": 1},
                {"line_external_id": "L-2", "quantity": 1},
            ],
        },
    )

    assert (by_number.status_code, by_sku.status_code) == (201, 201)
    assert Decimal(by_number.json()["amount"]) == Decimal(18000)
    assert twice.status_code == 422
    assert [(e["field"], e["code"]) for e in twice.json()["errors"]] == [
        ("lines[1].quantity", "too_many")
    ]
    assert [ln.returned_quantity for ln in lines_of(order)] == [0, 2, 0]


def test_the_service_refuses_one_line_named_twice_beyond_what_is_left(
    admin, make_customer, make_order
):
    order = make_order(make_customer(actor=admin), "O-1")
    toner = lines_of(order)[1]

    with pytest.raises(services.ValidationFailed) as exc:
        services.record_return(
            order=order,
            lines=[services.ReturnLineInput(toner, 2), services.ReturnLineInput(toner, 2)],
            reason="defect",
            actor=admin,
        )

    assert [(e.field, e.code) for e in exc.value.errors] == [("lines[1].quantity", "too_many")]
    toner.refresh_from_db()
    assert toner.returned_quantity == 0


def test_a_rep_cannot_return_another_reps_order(make_user, make_customer, make_order, api):
    mine, theirs = make_user(role="rep"), make_user(role="rep")
    my_order = make_order(make_customer(owner=mine, actor=mine), "O-MINE", actor=mine)
    their_order = make_order(make_customer(owner=theirs, actor=theirs), "O-THEIRS", actor=theirs)
    client = api(mine)
    line = [{"line_number": 1, "quantity": 1}]

    body = post(
        client,
        BULK,
        {
            "records": [
                ret("X-1", line, their_order),
                ret("X-2", line, order_external_id="O-THEIRS"),
                ret("X-3", line, order_id=999_999_999),
                ret("X-4", line, my_order),
            ]
        },
    ).json()
    post(api(theirs), BULK, {"records": [ret("THEIRS", line, their_order)]})
    sneaky = post(client, BULK, {"records": [ret("THEIRS", line, my_order)]}).json()

    assert results(body)[3] == ("created", None)
    # another's order answers exactly like one that does not exist
    assert body["results"][0]["errors"] == body["results"][2]["errors"]
    assert body["results"][1]["errors"][0]["code"] == "not_found"
    assert results(sneaky) == [("error", "not_found")]
    assert [ln.returned_quantity for ln in lines_of(their_order)] == [1, 0, 0]  # theirs only


def test_a_bulk_call_costs_a_small_constant_per_record(
    admin, api, make_customer, make_order, django_assert_max_num_queries
):
    client = api(admin)
    customer = make_customer(actor=admin)
    orders = [make_order(customer, f"O-{i}") for i in range(11)]
    line = [{"line_external_id": "L-1", "quantity": 1}]
    with CaptureQueriesContext(connection) as ctx:
        post(client, BULK, {"records": [ret("R-0", line, orders[0])]})
    one = len(ctx.captured_queries)
    records = [ret(f"R-{i}", line, o) for i, o in enumerate(orders[1:], 1)]

    with django_assert_max_num_queries(one + 10 * PER_RECORD):
        body = post(client, BULK, {"records": records}).json()
    with django_assert_max_num_queries(one + 10 * PER_RECORD):
        again = post(client, BULK, {"records": records}).json()

    assert (body["created"], again["unchanged"]) == (10, 10)
