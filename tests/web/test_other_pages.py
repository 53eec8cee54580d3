"""Organizations, products and orders: lists, detail pages, scope, navigation, query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.commerce.models import Order
from dangol.customers import services

pytestmark = pytest.mark.django_db


def test_organization_list_and_detail(signed_in: Any, make_customer: Any, make_order: Any) -> None:
    client, rep = signed_in(role="rep")
    org = services.create_organization(
        name="한빛상사", owner=rep, actor=rep, business_number="1208147521"
    )
    person = make_customer(full_name="김민준", owner=rep)
    services.link_to_organization(customer=person, organization=org, role="구매 담당", actor=rep)
    services.record_interaction(
        customer=person, channel="visit", kind="visit", subject="견적 상담", actor=rep
    )
    make_order(person, organization=org)

    listing = client.get("/organizations/", {"q": "한빛"}).content.decode()
    assert "한빛상사" in listing
    body = client.get(f"/organizations/{org.pk}/").content.decode()
    assert "김민준" in body and "구매 담당" in body
    assert "견적 상담" in body
    assert "₩32,000" in body


def test_organization_of_another_team_is_404(signed_in: Any, make_user: Any) -> None:
    client, _rep = signed_in(role="rep")
    other = make_user(role="rep", team="busan")
    org = services.create_organization(name="부산상사", owner=other, actor=other)
    assert client.get(f"/organizations/{org.pk}/").status_code == 404
    assert "부산상사" not in client.get("/organizations/").content.decode()


def test_products_and_orders(
    signed_in: Any, make_customer: Any, make_order: Any, make_product: Any
) -> None:
    client, rep = signed_in(role="rep")
    product = make_product(name="수분 크림", sku="HYD-001")
    c = make_customer(full_name="김민준", owner=rep)
    order = make_order(c, product=product, quantity=2)

    assert "수분 크림" in client.get("/products/", {"q": "수분"}).content.decode()
    detail = client.get(f"/products/{product.pk}/").content.decode()
    assert order.number in detail and "김민준" in detail
    assert order.number in client.get("/orders/").content.decode()
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "₩64,000" in page and "수분 크림" in page


def test_an_order_is_found_by_its_number_or_the_shops_own_number(
    signed_in: Any, make_customer: Any, make_order: Any
) -> None:
    """Staff are told either Dangol's number or the one the POS or web shop printed."""
    client, rep = signed_in(role="rep")
    c = make_customer(full_name="김민준", owner=rep)
    pos, other = make_order(c), make_order(c)
    Order.objects.filter(pk=pos.pk).update(source="pos", external_id="O-1001")

    by_theirs = client.get("/orders/", {"q": "O-1001"}).content.decode()
    assert pos.number in by_theirs and other.number not in by_theirs
    by_ours = client.get("/orders/", {"q": other.number[:10].lower()}).content.decode()
    assert other.number in by_ours
    assert pos.number not in client.get("/orders/", {"q": "O-100"}).content.decode()  # exact


def test_another_teams_order_is_404(
    signed_in: Any, make_user: Any, make_customer: Any, make_order: Any
) -> None:
    client, _rep = signed_in(role="rep")
    order = make_order(make_customer(owner=make_user(role="rep", team="busan")))
    assert client.get(f"/orders/{order.pk}/").status_code == 404
    assert order.number not in client.get("/orders/").content.decode()


def test_navigation_lists_the_working_pages(signed_in: Any) -> None:
    client, _rep = signed_in(role="rep")
    body = client.get("/").content.decode()
    for url in ("/customers/", "/organizations/", "/orders/", "/products/"):
        assert f'href="{url}"' in body


@pytest.mark.parametrize("path", ["/orders/", "/products/", "/organizations/"])
def test_list_query_counts_are_constant(
    signed_in: Any, make_customer: Any, make_order: Any, path: str
) -> None:
    client, rep = signed_in(role="rep")

    def grow(n: int) -> None:
        for i in range(n):
            c = make_customer(full_name=f"고객{i}", owner=rep)
            org = services.create_organization(name=f"회사{c.pk}", owner=rep, actor=rep)
            make_order(c, organization=org)

    grow(1)
    with CaptureQueriesContext(connection) as few:
        client.get(path)
    grow(8)
    with CaptureQueriesContext(connection) as many:
        client.get(path)
    assert len(many) == len(few)


def test_organization_and_order_detail_query_counts_are_constant(
    signed_in: Any, make_customer: Any, make_order: Any
) -> None:
    client, rep = signed_in(role="rep")
    org = services.create_organization(name="한빛상사", owner=rep, actor=rep)

    def grow(n: int) -> Any:
        for i in range(n):
            c = make_customer(full_name=f"고객{i}", owner=rep)
            services.link_to_organization(customer=c, organization=org, actor=rep)
            services.record_interaction(customer=c, channel="phone", kind="call", actor=rep)
            last = make_order(c, organization=org)
        return last

    order = grow(1)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/organizations/{org.pk}/")
    with CaptureQueriesContext(connection) as few_order:
        client.get(f"/orders/{order.pk}/")
    order = grow(6)
    with CaptureQueriesContext(connection) as many:
        client.get(f"/organizations/{org.pk}/")
    with CaptureQueriesContext(connection) as many_order:
        client.get(f"/orders/{order.pk}/")
    assert len(many) == len(few)
    assert len(many_order) == len(few_order)
