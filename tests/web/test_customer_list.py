"""The customer list: visibility, filters, keyset pagination, constant query count."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.customers import views as customer_views

pytestmark = pytest.mark.django_db


def test_lists_only_visible_customers_with_masked_mobiles(
    signed_in: Any, make_user: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")
    make_customer(full_name="김민준", owner=rep, contacts=[("mobile", "010-1234-5678")])
    make_customer(full_name="박지훈", owner=make_user(role="rep", team="busan"))

    body = client.get("/customers/").content.decode()

    assert "김민준" in body
    assert "박지훈" not in body
    assert "010-****-5678" in body
    assert "1234-5678" not in body and "01012345678" not in body and "+821012345678" not in body


def test_filters_by_stage_and_query(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    make_customer(full_name="김민준", owner=rep, lifecycle_stage="repeat")
    make_customer(full_name="이서연", owner=rep, lifecycle_stage="lead")

    assert "이서연" not in client.get("/customers/", {"stage": "repeat"}).content.decode()
    fragment = client.get("/customers/", {"q": "서연"}, HTTP_HX_REQUEST="true").content.decode()
    assert "이서연" in fragment
    assert "김민준" not in fragment
    assert "<html" not in fragment


@pytest.mark.parametrize(
    "sort",
    ["recent", "spend", "name", "-name", "created", "-last_purchase", "last_purchase", "stage"],
)
def test_keyset_pages_cover_every_customer_once(
    signed_in: Any, make_customer: Any, monkeypatch: Any, sort: str
) -> None:
    monkeypatch.setattr(customer_views, "PAGE_SIZE", 3)
    client, rep = signed_in(role="rep")
    names = [f"고객{i:02d}" for i in range(8)]
    for name in names:
        make_customer(full_name=name, owner=rep)

    seen: list[str] = []
    params: dict[str, str] = {"sort": sort}
    pages = []
    while True:
        page = client.get("/customers/", params).context["page"]
        pages.append(page)
        seen += [c.full_name for c in page.items]
        if not page.next_cursor:
            break
        params = {"sort": sort, "after": page.next_cursor}

    assert sorted(seen) == names
    assert len(pages) == 3
    # And back: the page before the last one is the middle page.
    back = client.get("/customers/", {"sort": sort, "before": pages[2].previous_cursor})
    assert [c.pk for c in back.context["page"].items] == [c.pk for c in pages[1].items]


def test_a_broken_cursor_shows_the_first_page(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    make_customer(full_name="김민준", owner=rep)
    response = client.get("/customers/", {"after": "not-a-cursor"})
    assert response.status_code == 200
    assert "김민준" in response.content.decode()


def test_query_count_does_not_grow_with_rows(signed_in: Any, make_customer: Any) -> None:
    client, rep = signed_in(role="rep")
    make_customer(full_name="김민준", owner=rep, contacts=[("mobile", "010-1111-2222")])
    with CaptureQueriesContext(connection) as few:
        client.get("/customers/")
    for i in range(15):
        make_customer(full_name=f"고객{i}", owner=rep, contacts=[("mobile", f"010-3333-{i:04d}")])
    with CaptureQueriesContext(connection) as many:
        client.get("/customers/")
    assert len(many) == len(few)
