"""Payments (결제) of orders: the bulk endpoint an ERP or PG feed calls, the order's payments in
the API and on its page, visibility, merges and the query cost of a bulk call."""

import datetime
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.commerce import services
from dangol.commerce.models import Payment, PaymentMethod, PaymentStatus
from dangol.core.models import ChangeLog
from dangol.customers.merge import merge_customers, unmerge
from dangol.customers.timeline import customer_timeline
from dangol.web.testing import apply_test_settings

BULK = "/api/v1/payments/bulk"
PER_RECORD = 12  # queries per record of a bulk call, at most (11 measured: 2 savepoints and
# their releases, the order, the known id, the order's lock, the payment, the sum, the write, the
# change log)


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def product(admin):
    return services.create_product(
        sku="SR-1", name="비타민 세럼", price=Decimal(32000), actor=admin
    )


@pytest.fixture
def make_paid_order(admin, product):
    """``make_paid_order(customer, quantity=2)``: an order of `quantity` serums (₩32,000 each)
    recorded with the ERP's id ``O-<n>``."""
    counter = iter(range(1, 1000))

    def make(customer, quantity=2, actor=None):
        return services.place_order(
            data=services.OrderInput(
                customer=customer,
                lines=[services.LineInput(product, quantity)],
                source="erp",
                external_id=f"O-{next(counter)}",
            ),
            actor=actor or admin,
        )

    return make


def pay(external_id, order=None, **kw):
    """A payment record: by default ₩64,000 by card for `order` (by Dangol's id)."""
    record = {"source": "pg", "external_id": external_id, "method": "card", "amount": "64000"}
    if order is not None:
        record["order_id"] = order.pk
    record.update(kw)
    return record


def results(body):
    return [(r["status"], r.get("code")) for r in body["results"]]


def test_a_payment_is_created_then_unchanged_then_updated_as_it_is_refunded(
    admin, api, make_customer, make_paid_order
):
    client = api(admin)
    order = make_paid_order(make_customer(actor=admin))
    paid_at = "2026-11-02T10:15:00+09:00"
    record = pay("P-1", order, paid_at=paid_at, provider="신한카드")

    first = post(client, BULK, {"records": [record]}).json()
    again = post(client, BULK, {"records": [record]}).json()

    assert results(first) == [("created", None)] and results(again) == [("unchanged", None)]
    assert (first["created"], again["unchanged"]) == (1, 1)
    payment = Payment.objects.get()
    assert first["results"][0]["id"] == again["results"][0]["id"] == payment.pk
    assert (payment.customer_id, payment.status, payment.amount) == (
        order.customer_id,
        PaymentStatus.PAID,
        Decimal(64000),
    )
    assert payment.paid_at == datetime.datetime(2026, 11, 2, 1, 15, tzinfo=datetime.UTC)

    refund = {**record, "status": "partially_refunded", "refunded_amount": "32000"}
    assert results(post(client, BULK, {"records": [refund]}).json()) == [("updated", None)]
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal(32000))
    assert payment.refunded_at is not None
    whole = {**record, "status": "refunded"}  # the whole amount when none is given
    assert results(post(client, BULK, {"records": [whole]}).json()) == [("updated", None)]
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("refunded", Decimal(64000))

    # a late message about the earlier state does not undo the refund
    stale = post(client, BULK, {"records": [{**record, "status": "paid"}, refund]}).json()
    assert results(stale) == [("error", "invalid_transition"), ("error", "invalid_transition")]
    payment.refresh_from_db()
    assert payment.status == "refunded"
    actions = list(
        ChangeLog.objects.filter(object_type="commerce.payment").values_list("action", flat=True)
    )
    assert sorted(actions) == ["payment.recorded", "payment.updated", "payment.updated"]


def test_points_and_a_card_may_pay_an_order_but_never_more_than_its_total(
    admin, api, make_customer, make_paid_order
):
    client = api(admin)
    order = make_paid_order(make_customer(actor=admin))  # ₩64,000
    body = post(
        client,
        BULK,
        {
            "records": [
                pay("PT-1", order, method="points", amount="4000"),
                pay("CARD-1", order, method="easy_pay", provider="카카오페이", amount="60000"),
                pay("CARD-2", order, amount="1"),  # one won too many
            ]
        },
    ).json()

    assert results(body) == [("created", None), ("created", None), ("error", "overpaid")]
    assert "₩64,000" in body["results"][2]["message"]
    assert not Payment.objects.filter(external_id="CARD-2").exists()
    # a cancelled payment frees its share of the total
    points_back = pay("PT-1", order, method="points", amount="4000", status="cancelled")
    assert results(post(client, BULK, {"records": [points_back]}).json()) == [("updated", None)]
    assert results(
        post(client, BULK, {"records": [pay("CARD-2", order, amount="4000")]}).json()
    ) == [("created", None)]
    detail = client.get(f"/api/v1/orders/{order.pk}").json()
    assert [p["external_id"] for p in detail["payments"]] == ["PT-1", "CARD-1", "CARD-2"]
    assert Decimal(detail["paid_amount"]) == Decimal(64000)
    assert Decimal(detail["outstanding_amount"]) == 0
    listed = client.get(f"/api/v1/orders/{order.pk}/payments").json()
    assert [(p["method"], p["provider"], p["status"]) for p in listed] == [
        ("points", "", "cancelled"),
        ("easy_pay", "카카오페이", "paid"),
        ("card", "", "paid"),
    ]


def test_every_error_code_and_the_good_records_still_land(
    admin, api, make_customer, make_paid_order
):
    client = api(admin)
    order = make_paid_order(make_customer(actor=admin))
    post(client, BULK, {"records": [pay("KNOWN", order, amount="1000")]})
    logged = ChangeLog.objects.count()
    tomorrow = (timezone.now() + datetime.timedelta(days=3)).isoformat()
    records = [
        pay("A", order_id=999_999_999),
        pay("B", order_external_id="O-404"),
        pay("C"),  # no order at all
        pay("D", order, amount="0"),
        pay("E", order, amount="1000", status="refunded", refunded_amount="2000"),
        pay("F", order, currency="USD"),
        pay("G", order, currency="XYZ"),
        pay("H", order, amount="1000", status="paid", refunded_amount="10"),
        pay("I", order, amount="1000", status="partially_refunded", refunded_amount="1000"),
        pay("J", order, paid_at=tomorrow),
        pay("KNOWN", order, amount="2000"),
        pay("GOOD", order_external_id="O-1", order_source="erp", amount="3000"),
    ]

    body = post(client, BULK, {"records": records}).json()

    def codes(r):
        return r["code"], [(e["field"], e["code"]) for e in r["errors"]]

    assert [codes(r) for r in body["results"][:11]] == [
        ("validation_failed", [("order_id", "not_found")]),
        ("validation_failed", [("order_external_id", "not_found")]),
        ("validation_failed", [("order_id", "required")]),
        ("validation_failed", [("amount", "not_positive")]),
        ("validation_failed", [("refunded_amount", "exceeds_amount")]),
        ("validation_failed", [("currency", "currency_mismatch")]),
        ("validation_failed", [("currency", "invalid_choice")]),
        ("validation_failed", [("refunded_amount", "status_mismatch")]),
        ("validation_failed", [("refunded_amount", "status_mismatch")]),
        ("validation_failed", [("paid_at", "in_future")]),
        ("payment_changed", []),
    ]
    assert results(body)[11] == ("created", None)
    assert (body["created"], body["failed"]) == (1, 11)
    assert sorted(Payment.objects.values_list("external_id", flat=True)) == ["GOOD", "KNOWN"]
    assert Payment.objects.get(external_id="KNOWN").amount == Decimal(1000)
    assert ChangeLog.objects.count() == logged + 1  # the good record's only


def test_a_payment_in_won_is_rounded_to_the_won(admin, make_customer, make_paid_order):
    order = make_paid_order(make_customer(actor=admin))
    payment = services.record_payment(
        data=services.PaymentInput(order=order, method="cash", amount=Decimal("999.5")),
        actor=admin,
    )
    assert payment.amount == Decimal(1000) and payment.currency == "KRW"


def test_a_rep_cannot_pay_into_another_reps_order(
    make_user, make_customer, make_paid_order, api, admin
):
    mine, theirs = make_user(role="rep"), make_user(role="rep")
    my_order = make_paid_order(make_customer(owner=mine, actor=mine), actor=mine)
    their_order = make_paid_order(make_customer(owner=theirs, actor=theirs), actor=theirs)
    client = api(mine)

    body = post(
        client,
        BULK,
        {
            "records": [
                pay("X-1", their_order),
                pay("X-2", order_external_id=their_order.external_id, order_source="erp"),
                pay("X-3", order_id=999_999_999),
                pay("X-4", my_order),
            ]
        },
    ).json()

    assert results(body) == [
        ("error", "validation_failed"),
        ("error", "validation_failed"),
        ("error", "validation_failed"),
        ("created", None),
    ]
    # another's order answers exactly like one that does not exist
    assert body["results"][0]["errors"] == body["results"][2]["errors"]
    assert not Payment.objects.filter(order=their_order).exists()
    assert client.get(f"/api/v1/orders/{their_order.pk}/payments").status_code == 404
    # nor may the rep change another's payment by sending its id with their own order
    post(api(theirs), BULK, {"records": [pay("THEIRS", their_order, amount="100")]})
    sneaky = post(client, BULK, {"records": [pay("THEIRS", my_order, amount="100")]}).json()
    assert results(sneaky) == [("error", "not_found")]


def test_a_role_without_the_payment_grant_is_refused_and_sees_no_payments(
    make_user, make_customer, make_paid_order, api, admin
):
    from dangol.core.services import create_role

    order = make_paid_order(make_customer(actor=admin))
    services.record_payment(
        data=services.PaymentInput(order=order, method="card", amount=Decimal(64000)), actor=admin
    )
    role = create_role(
        name="주문만",
        grants={
            "customers.customer": (["view"], "all"),
            "commerce.order": (["view", "change"], "all"),
        },
    )
    viewer = make_user(role=None)
    viewer.role = role
    viewer.save()
    client = api(viewer)

    body = post(client, BULK, {"records": [pay("P-9", order)]}).json()
    detail = client.get(f"/api/v1/orders/{order.pk}").json()

    assert results(body) == [("error", "forbidden")]
    assert detail["payments"] == [] and detail["paid_amount"] is None
    assert client.get(f"/api/v1/orders/{order.pk}/payments").json() == []


def test_payments_move_with_their_order_through_merge_and_unmerge(
    admin, make_customer, make_paid_order
):
    survivor, duplicate = make_customer(actor=admin), make_customer(actor=admin)
    order, own = make_paid_order(duplicate), make_paid_order(survivor)
    before = services.record_payment(
        data=services.PaymentInput(order=order, method="card", amount=Decimal(30000)), actor=admin
    )
    kept = services.record_payment(
        data=services.PaymentInput(order=own, method="cash", amount=Decimal(1000)), actor=admin
    )

    merge = merge_customers(survivor=survivor, duplicates=[duplicate], actor=admin)
    before.refresh_from_db()
    assert before.customer_id == survivor.pk
    # paid for the duplicate's order while the records were one: it goes back with the order
    after = services.record_payment(
        data=services.PaymentInput(order=order, method="points", amount=Decimal(2000)),
        actor=admin,
    )
    assert after.customer_id == survivor.pk

    unmerge(merge=merge, actor=admin)
    customers = dict(Payment.objects.values_list("pk", "customer_id"))
    assert customers == {before.pk: duplicate.pk, after.pk: duplicate.pk, kept.pk: survivor.pk}


def test_a_made_payment_is_on_the_customers_timeline(admin, make_customer, make_paid_order):
    customer = make_customer(actor=admin)
    order = make_paid_order(customer)
    services.record_payment(
        data=services.PaymentInput(
            order=order, method="easy_pay", provider="네이버페이", amount=Decimal(64000)
        ),
        actor=admin,
    )
    awaited = services.PaymentInput(  # not yet made: not on the timeline
        order=make_paid_order(customer),
        method="virtual_account",
        amount=Decimal(1000),
        status="pending",
    )
    services.record_payment(data=awaited, actor=admin)

    entries = customer_timeline(user=admin, customer=customer, kinds=["payment"])

    assert [(e.kind, e.title, e.amount, e.meta) for e in entries] == [
        ("payment", order.number, Decimal(64000), f"{PaymentMethod.EASY_PAY.label} · 네이버페이")
    ]


def test_a_bulk_call_costs_a_small_constant_per_record(
    admin, api, make_customer, make_paid_order, django_assert_max_num_queries
):
    client = api(admin)
    customer = make_customer(actor=admin)
    orders = [make_paid_order(customer) for _ in range(12)]
    with CaptureQueriesContext(connection) as ctx:
        post(client, BULK, {"records": [pay("Q-0", orders[0])]})
    one = len(ctx.captured_queries)

    # ten more records cost at most ten times a small constant, whatever is already stored
    with django_assert_max_num_queries(one + 10 * PER_RECORD):
        body = post(
            client, BULK, {"records": [pay(f"Q-{i}", o) for i, o in enumerate(orders[1:11], 1)]}
        ).json()
    with django_assert_max_num_queries(one + 10 * PER_RECORD):
        again = post(
            client,
            BULK,
            {
                "records": [
                    pay(f"Q-{i}", o, status="refunded") for i, o in enumerate(orders[1:11], 1)
                ]
            },
        ).json()

    assert (body["created"], again["updated"]) == (10, 10)


def test_the_order_page_shows_the_payments_and_what_is_outstanding(
    client, settings, admin, make_customer, make_paid_order
):
    apply_test_settings(settings)
    order = make_paid_order(make_customer(actor=admin))  # ₩64,000
    services.record_payment(
        data=services.PaymentInput(
            order=order,
            method="points",
            amount=Decimal(4000),
            paid_at=timezone.now() - datetime.timedelta(hours=1),
        ),
        actor=admin,
    )
    services.record_payment(
        data=services.PaymentInput(
            order=order, method="easy_pay", provider="토스페이", amount=Decimal(20000)
        ),
        actor=admin,
    )
    client.force_login(admin)

    page = client.get(f"/orders/{order.pk}/").content.decode()

    for label in (PaymentMethod.POINTS.label, PaymentMethod.EASY_PAY.label, "토스페이"):
        assert str(label) in page
    assert "₩4,000" in page and "₩20,000" in page
    assert "₩24,000" in page  # paid
    assert "₩40,000" in page  # outstanding
    empty = client.get(f"/orders/{make_paid_order(order.customer).pk}/").content.decode()
    assert "₩24,000" not in empty


def test_returns_move_with_their_order_through_merge_and_unmerge(
    admin, make_customer, make_paid_order
):
    """A return's customer is its order's, like a payment's: one taken back while the records
    were one goes back with the order when the merge is undone."""
    from dangol.commerce.models import Return

    survivor, duplicate = make_customer(actor=admin), make_customer(actor=admin)
    order, own = make_paid_order(duplicate), make_paid_order(survivor)

    def take_back(o):
        line = o.lines.first()
        return services.record_return(
            order=o,
            lines=[services.ReturnLineInput(order_line=line, quantity=1)],
            reason="defect",
            actor=admin,
        )

    kept = take_back(own)
    merge = merge_customers(survivor=survivor, duplicates=[duplicate], actor=admin)
    during = take_back(order)
    assert during.customer_id == survivor.pk  # the order is the survivor's while merged

    unmerge(merge=merge, actor=admin)
    customers = dict(Return.objects.values_list("pk", "customer_id"))
    assert customers == {during.pk: duplicate.pk, kept.pk: survivor.pk}
    duplicate.refresh_from_db()
    assert duplicate.total_spent == order.total - during.amount
