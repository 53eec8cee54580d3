"""Order lines by the source's line id through the API: the bulk order upsert keeps each line's
``external_id``, and a return names lines by ``line_external_id`` (as the returns import does)."""

import json
from decimal import Decimal

from dangol.commerce import services as commerce
from dangol.commerce.models import Order, OrderLine, Return


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _record(external_id, customer, line_ids, prices=("32000", "16000")):
    return {
        "source": "erp",
        "external_id": external_id,
        "customer_id": customer.pk,
        "discount": "8000",
        "lines": [
            {"sku": "SR-1", "quantity": 2, "unit_price": price, "external_id": line_id}
            for price, line_id in zip(prices, line_ids, strict=True)
        ],
    }


def _setup(admin, api, make_customer):
    client = api(admin)
    customer = make_customer(actor=admin)
    commerce.create_product(sku="SR-1", name="세럼", price=Decimal(32000), actor=admin)
    return client, customer


def test_the_bulk_order_upsert_keeps_line_ids_and_rejects_a_repeated_one_per_record(
    admin, api, make_customer
):
    client, customer = _setup(admin, api, make_customer)
    records = [
        _record("O-1", customer, ["20241103-0001-01", "20241103-0001-02"]),
        _record("O-2", customer, ["L-1", "L-1"]),  # one id twice: this record fails whole
        _record("O-3", customer, ["20241103-0001-01", ""]),  # ids are unique per order only
    ]

    body = post(client, "/api/v1/orders/bulk", {"records": records}).json()

    assert [r["status"] for r in body["results"]] == ["created", "error", "created"]
    assert {k: body["results"][1]["errors"][0][k] for k in ("field", "code")} == {
        "field": "lines[1].external_id",
        "code": "duplicate_line_id",
    }
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["O-1", "O-3"]
    assert OrderLine.objects.count() == 4
    order = client.get(f"/api/v1/orders/{body['results'][0]['id']}").json()
    assert [ln["external_id"] for ln in order["lines"]] == ["20241103-0001-01", "20241103-0001-02"]

    again = post(
        client, "/api/v1/orders/bulk", {"records": [_record("O-1", customer, ["X-1", "X-2"])]}
    ).json()
    assert again["results"][0]["status"] == "unchanged"
    assert sorted(OrderLine.objects.values_list("external_id", flat=True)) == [
        "",
        "20241103-0001-01",
        "20241103-0001-01",
        "20241103-0001-02",
    ]


def test_a_return_names_lines_by_their_id_in_the_source(admin, api, make_customer):
    client, customer = _setup(admin, api, make_customer)
    created = post(
        client,
        "/api/v1/orders/bulk",
        {"records": [_record("O-1", customer, ["20241103-0001-01", "20241103-0001-02"])]},
    ).json()
    order_id = created["results"][0]["id"]
    first, second = OrderLine.objects.filter(order_id=order_id).order_by("id")

    r = post(
        client,
        f"/api/v1/orders/{order_id}/returns",
        {"reason": "defect", "lines": [{"line_external_id": "20241103-0001-02", "quantity": 1}]},
    )

    assert r.status_code == 201, r.content
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.returned_quantity, second.returned_quantity) == (0, 1)
    # 16,000 of a 96,000 subtotal less its share of the 8,000 order discount, in whole won
    assert Decimal(r.json()["amount"]) == Decimal(14667)

    both = post(
        client,
        f"/api/v1/orders/{order_id}/returns",
        {
            "reason": "defect",
            "lines": [
                {"order_line_id": first.pk, "line_external_id": "20241103-0001-02", "quantity": 1}
            ],
        },
    )
    assert both.status_code == 201  # Dangol's id comes first
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.returned_quantity, second.returned_quantity) == (1, 1)


def test_a_return_with_an_unknown_line_id_is_rejected_whole(admin, api, make_customer):
    """A line not on the order is `line_not_found` whether it is named by Dangol's id or by the
    source's (the returns import says the same)."""
    client, customer = _setup(admin, api, make_customer)
    created = post(
        client,
        "/api/v1/orders/bulk",
        {
            "records": [
                _record("O-1", customer, ["20241103-0001-01", "20241103-0001-02"]),
                _record("O-2", customer, ["20241103-0002-01"], prices=("32000",)),
            ]
        },
    ).json()
    order_id = created["results"][0]["id"]
    other_line = OrderLine.objects.get(order_id=created["results"][1]["id"])

    r = post(
        client,
        f"/api/v1/orders/{order_id}/returns",
        {
            "reason": "defect",
            "lines": [
                {"line_external_id": "20241103-0001-01", "quantity": 1},
                {"line_external_id": "20241103-0001-99", "quantity": 1},
                {"quantity": 1},
                {"order_line_id": other_line.pk, "quantity": 1},
            ],
        },
    )

    assert r.status_code == 422
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("lines[1].line_external_id", "line_not_found"),
        ("lines[2].order_line_id", "required"),
        ("lines[3].order_line_id", "line_not_found"),
    ]
    assert not Return.objects.exists()
    assert set(OrderLine.objects.values_list("returned_quantity", flat=True)) == {0}
