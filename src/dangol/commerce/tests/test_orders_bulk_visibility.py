"""Orders by external id and record visibility: a known order the caller may not see answers
``not_found`` (no id, nothing of it), as the payments and returns bulk endpoints do; the caller
who may see it gets it back ``unchanged``."""

import json
from decimal import Decimal

import pytest

from dangol.commerce import services
from dangol.commerce.models import Order
from dangol.core.errors import NotFound

BULK = "/api/v1/orders/bulk"


def post(client, body):
    return client.post(BULK, json.dumps(body), content_type="application/json")


@pytest.fixture
def serum(admin):
    return services.create_product(
        sku="SR-1", name="비타민 세럼", price=Decimal(32000), actor=admin
    )


def record(external_id, customer, quantity=1):
    return {
        "source": "erp",
        "external_id": external_id,
        "customer_id": customer.pk,
        "lines": [{"sku": "SR-1", "quantity": quantity}],
    }


def order_input(customer, serum, external_id):
    return services.OrderInput(
        customer=customer,
        lines=[services.LineInput(serum, 1)],
        source="erp",
        external_id=external_id,
    )


@pytest.fixture
def reps(make_user, make_customer, serum, api):
    """Two sales reps (own records only), each with a customer; the other rep's order O-THEIRS
    recorded through the API by that rep."""
    mine, theirs = make_user(role="rep"), make_user(role="rep")
    my_customer = make_customer(owner=mine, actor=mine, full_name="김민준")
    their_customer = make_customer(owner=theirs, actor=theirs, full_name="이서연")
    created = post(api(theirs), {"records": [record("O-THEIRS", their_customer)]}).json()
    assert created["created"] == 1
    return mine, theirs, my_customer, their_customer


def test_a_known_order_of_another_owner_answers_not_found_and_leaks_nothing(api, reps):
    mine, _theirs, my_customer, _their_customer = reps
    theirs_order = Order.objects.get(external_id="O-THEIRS")
    client = api(mine)

    body = post(
        client,
        {
            "records": [
                record("O-THEIRS", my_customer, quantity=3),  # their id with my customer
                record("O-MINE", my_customer),
            ]
        },
    ).json()

    sneaky, good = body["results"]
    # exactly the answer for a record that is not there: no id, no number, no field errors
    assert sneaky == {
        "index": 0,
        "status": "error",
        "id": None,
        "code": "not_found",
        "message": str(NotFound().message),
        "errors": [],
    }
    assert good["status"] == "created"
    assert (body["created"], body["unchanged"], body["failed"]) == (1, 0, 1)
    # nothing was written on the other's order, nor a second order under that id
    assert Order.objects.filter(source="erp", external_id="O-THEIRS").count() == 1
    assert Order.objects.get(pk=theirs_order.pk).customer_id == theirs_order.customer_id
    my_customer.refresh_from_db()
    assert my_customer.order_count == 1


def test_whoever_may_see_the_order_still_gets_it_back_unchanged(api, admin, make_user, reps):
    mine, theirs, my_customer, their_customer = reps
    theirs_order = Order.objects.get(external_id="O-THEIRS")
    post(api(mine), {"records": [record("O-MINE", my_customer)]})
    mine_order = Order.objects.get(external_id="O-MINE")
    lead = make_user(role="lead")  # the team's records: both reps are in the Seoul team

    own = post(api(mine), {"records": [record("O-MINE", my_customer)]}).json()
    owner = post(api(theirs), {"records": [record("O-THEIRS", their_customer)]}).json()
    by_lead = post(api(lead), {"records": [record("O-THEIRS", their_customer)]}).json()
    by_admin = post(api(admin), {"records": [record("O-THEIRS", their_customer)]}).json()

    assert [(r["status"], r["id"]) for r in own["results"]] == [("unchanged", mine_order.pk)]
    for body in (owner, by_lead, by_admin):
        assert [(r["status"], r["id"]) for r in body["results"]] == [("unchanged", theirs_order.pk)]
    assert Order.objects.count() == 2


def test_the_service_refuses_a_known_order_out_of_the_users_reach(serum, reps):
    mine, theirs, my_customer, their_customer = reps
    theirs_order = Order.objects.get(external_id="O-THEIRS")

    with pytest.raises(NotFound) as refused:
        services.upsert_order(data=order_input(my_customer, serum, "O-THEIRS"), actor=mine)

    assert refused.value.code == "not_found" and refused.value.status == 404
    assert services.upsert_order(
        data=order_input(their_customer, serum, "O-THEIRS"), actor=theirs
    ) == (theirs_order, "unchanged")
    # a system job (no user) reaches every order
    assert services.upsert_order(data=order_input(my_customer, serum, "O-THEIRS"), actor=None) == (
        theirs_order,
        "unchanged",
    )
    assert Order.objects.count() == 1
