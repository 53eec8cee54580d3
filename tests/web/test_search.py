"""Search by the query's shape: phone digits, names (prefix and trigram), e-mail, external id."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dangol.customers import selectors, services

pytestmark = pytest.mark.django_db


def _names(found: list[Any]) -> set[str]:
    return {c.full_name for c in found}


@pytest.fixture
def people(make_user: Any, make_customer: Any) -> Any:
    rep = make_user(role="rep")
    made = {
        "김민준": make_customer(
            full_name="김민준",
            family_name="김",
            given_name="민준",
            owner=rep,
            contacts=[("mobile", "010-2222-1393"), ("email", "minjun.kim@example.com")],
        ),
        "남궁민준": make_customer(
            full_name="남궁민준", family_name="남궁", given_name="민준", owner=rep
        ),
        "이서연": make_customer(
            full_name="이서연",
            family_name="이",
            given_name="서연",
            owner=rep,
            contacts=[("mobile", "010-9999-0000")],
        ),
        # Digits in a name must not make a phone search find it.
        "1393 상회": make_customer(full_name="1393 상회", owner=rep),
    }
    return rep, made


def test_a_two_character_name_finds_given_names_and_name_starts(people: Any) -> None:
    rep, _made = people
    assert _names(selectors.search(user=rep, q="민준")) == {"김민준", "남궁민준"}
    assert _names(selectors.search(user=rep, q="김민")) == {"김민준"}
    assert _names(selectors.search(user=rep, q="남궁")) == {"남궁민준"}


def test_three_characters_match_anywhere_in_the_name(people: Any) -> None:
    rep, made = people
    assert _names(selectors.search(user=rep, q="궁민준")) == {"남궁민준"}
    assert _names(selectors.search(user=rep, q="김민준")) == {"김민준"}
    assert _names(selectors.search(user=rep, q="김 민준")) == {"김민준"}  # spaces ignored
    # The trigram index follows renames.
    services.update_customer(customer=made["이서연"], changes={"full_name": "이하늘"}, actor=rep)
    assert _names(selectors.search(user=rep, q="이서연")) == set()
    assert _names(selectors.search(user=rep, q="이하늘")) == {"이하늘"}


def test_digits_search_phones_only(people: Any) -> None:
    rep, _made = people
    assert _names(selectors.search(user=rep, q="1393")) == {"김민준"}
    assert _names(selectors.search(user=rep, q="010-2222-1393")) == {"김민준"}
    assert _names(selectors.search(user=rep, q="01099990000")) == {"이서연"}


def test_text_finds_email_prefixes_and_external_ids(people: Any, make_customer: Any) -> None:
    rep, made = people
    assert _names(selectors.search(user=rep, q="minjun.k")) == {"김민준"}
    assert _names(selectors.search(user=rep, q="MINJUN.KIM@example")) == {"김민준"}
    services.add_external_id(customer=made["이서연"], source="pos", key="M-00417", actor=rep)
    services.add_external_id(customer=made["남궁민준"], source="shop", key="20417", actor=rep)
    assert _names(selectors.search(user=rep, q="M-00417")) == {"이서연"}
    assert _names(selectors.search(user=rep, q="20417")) == {"남궁민준"}


def test_a_narrow_scope_still_finds_its_own_among_many_namesakes(
    make_user: Any, make_customer: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(selectors, "SEARCH_BRANCH_LIMIT", 2)
    rep = make_user(role="rep")
    other = make_user(role="rep", team="busan")
    for _i in range(4):
        make_customer(full_name="박민준", family_name="박", given_name="민준", owner=other)
    mine = make_customer(full_name="최민준", family_name="최", given_name="민준", owner=rep)
    assert [c.pk for c in selectors.search(user=rep, q="민준")] == [mine.pk]
    assert [c.pk for c in selectors.search(user=rep, q="최민준")] == [mine.pk]


def test_search_query_count_does_not_depend_on_matches(make_user: Any, make_customer: Any) -> None:
    rep = make_user(role="rep")
    make_customer(full_name="김민준", family_name="김", given_name="민준", owner=rep)
    selectors.search(user=rep, q="민준")  # the user's grants are read once, then cached
    with CaptureQueriesContext(connection) as few:
        selectors.search(user=rep, q="민준")
    for _i in range(5):
        make_customer(full_name="김민준", family_name="김", given_name="민준", owner=rep)
    with CaptureQueriesContext(connection) as many:
        found = selectors.search(user=rep, q="민준")
    assert len(found) == 6
    assert len(many) == len(few)


def test_the_list_and_the_api_search_the_same_way(signed_in: Any, people: Any, api: Any) -> None:
    _rep, made = people
    client, _user = signed_in(role="lead")
    page = client.get("/customers/", {"q": "1393"})
    assert [c.pk for c in page.context["page"].items] == [made["김민준"].pk]
    response = api(_rep).get("/api/v1/customers", {"q": "궁민준"})
    assert [c["id"] for c in response.json()["items"]] == [made["남궁민준"].pk]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 trigram table")
def test_sqlite_name_index_triggers_exist_after_migrating() -> None:
    # Django rebuilds a SQLite table on some schema changes, dropping its triggers.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = "
            "'customers_customer'"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert {f"{selectors.NAME_FTS_TABLE}_{s}" for s in ("ai", "ad", "au")} <= names


def test_global_search_lists_visible_organizations_too(signed_in: Any, make_user: Any) -> None:
    client, rep = signed_in(role="rep")
    mine = services.create_organization(name="한빛상사", owner=rep, actor=rep)
    services.create_organization(  # another team's, made by an admin
        name="한빛유통", owner=make_user(role="rep", team="busan"), actor=None
    )
    body = client.get("/search/", {"q": "한빛"}, HTTP_HX_REQUEST="true").content.decode()
    assert f'href="/organizations/{mine.pk}/"' in body and "한빛상사" in body
    assert "한빛유통" not in body
    assert "맞는 고객이 없습니다" not in body  # organizations were found


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 trigram table")
@pytest.mark.django_db(transaction=True)
def test_a_bulk_load_can_defer_the_name_index(make_user: Any, make_customer: Any) -> None:
    from dangol.customers.name_index import deferred_name_index

    rep = make_user(role="rep")
    with deferred_name_index():
        c = make_customer(full_name="황보서진", family_name="황보", given_name="서진", owner=rep)
        # The triggers are off during the load: the index does not know the new name yet.
        assert selectors.search(user=rep, q="보서진") == []
    assert [x.pk for x in selectors.search(user=rep, q="보서진")] == [c.pk]
    services.update_customer(customer=c, changes={"full_name": "황보하늘"}, actor=rep)
    assert [x.pk for x in selectors.search(user=rep, q="보하늘")] == [c.pk]  # triggers are back
