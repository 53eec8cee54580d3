"""Merging duplicates moves everything, keeps the most protective consent, and undoes exactly."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from dangol.commerce import services as commerce
from dangol.commerce.models import Order
from dangol.core.errors import Conflict, ValidationFailed
from dangol.core.models import TaggedItem
from dangol.customers import changefeed, services
from dangol.customers.merge import customer_relations, merge_customers, unmerge
from dangol.customers.models import (
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    CustomerHistory,
    ExternalId,
    Interaction,
    RecordStatus,
    SurvivorshipRule,
)


def settle(cursor, expected, timeout=30.0):
    """Read the feed until `expected` entries are served: on PostgreSQL the horizon is the
    oldest transaction running anywhere on the server (other test runs included)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        page = changefeed.read_since(cursor)
        if len(page.entries) >= expected or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def state(*customers):
    """Everything that hangs off these customers, as comparable data."""
    ids = [c.pk for c in customers]
    return {
        "contacts": sorted(
            ContactPoint.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "kind", "match_key", "is_primary"
            )
        ),
        "consents": sorted(
            Consent.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "channel", "status", "night_time", "reconfirm_due"
            )
        ),
        "consent_events": sorted(
            ConsentEvent.objects.filter(customer_id__in=ids).values_list("customer_id", "id")
        ),
        "external": sorted(
            ExternalId.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "source", "key"
            )
        ),
        "interactions": sorted(
            Interaction.objects.filter(customer_id__in=ids).values_list("customer_id", "id")
        ),
        "orders": sorted(
            Order.objects.filter(customer_id__in=ids).values_list("customer_id", "id")
        ),
        "profiles": sorted(
            Customer.objects.filter(pk__in=ids).values_list(
                "id",
                "full_name",
                "birth_date",
                "gender",
                "status",
                "merged_into",
                "order_count",
                "total_spent",
            )
        ),
    }


@pytest.fixture
def pair(admin, make_customer):
    product = commerce.create_product(sku="T1", name="토너", price=Decimal(20000), actor=admin)
    store = make_customer(
        actor=admin,
        full_name="김민준",
        gender="M",
        source="pos",
        contacts=[("mobile", "010-1234-5678")],
        external_ids=[("pos", "P-1")],
    )
    online = make_customer(
        actor=admin,
        full_name="김민준",
        birth_date=datetime.date(1990, 3, 4),
        source="shop",
        contacts=[("mobile", "01012345678"), ("email", "minjun@example.com")],
        external_ids=[("shop", "S-9")],
    )
    services.grant_consent(customer=store, channel="sms", night_time=True, actor=admin)
    services.grant_consent(
        customer=online,
        channel="sms",
        night_time=False,
        actor=admin,
        at=timezone.now() - datetime.timedelta(days=400),
    )
    services.grant_consent(customer=online, channel="email", actor=admin)
    services.withdraw_consent(customer=store, channel="kakao", actor=admin)
    services.grant_consent(customer=online, channel="kakao", actor=admin)
    services.record_interaction(
        customer=online, channel="chat", kind="inquiry", subject="배송 문의", actor=admin
    )
    commerce.place_order(
        data=commerce.OrderInput(customer=store, lines=[commerce.LineInput(product, 1)]),
        actor=admin,
    )
    commerce.place_order(
        data=commerce.OrderInput(customer=online, lines=[commerce.LineInput(product, 2)]),
        actor=admin,
    )
    return store, online


def test_relations_are_discovered_from_foreign_keys():
    found = {(m._meta.label_lower, f) for m, f in customer_relations()}
    assert {
        ("commerce.order", "customer"),
        ("customers.interaction", "customer"),
        ("customers.consent", "customer"),
        ("customers.externalid", "customer"),
    } <= found
    assert ("customers.customerhistory", "customer") not in found


def test_merge_moves_everything_and_keeps_the_most_protective_consent(admin, pair):
    store, online = pair
    merge = merge_customers(survivor=store, duplicates=[online], actor=admin)
    store.refresh_from_db()
    online.refresh_from_db()
    assert online.status == RecordStatus.MERGED and online.merged_into == store
    # the same mobile typed two ways is one contact point; the e-mail moved over
    assert sorted(store.contact_points.values_list("kind", "match_key")) == [
        ("email", "minjun@example.com"),
        ("mobile", "+821012345678"),
    ]
    assert set(store.external_ids.values_list("source", "key")) == {("pos", "P-1"), ("shop", "S-9")}
    consents = {c.channel: c for c in store.consents.all()}
    assert (
        consents["sms"].status == "granted" and consents["sms"].night_time is False
    )  # both needed it
    assert consents["sms"].reconfirm_due == (
        timezone.localdate() - datetime.timedelta(days=400)
    ).replace(
        year=(timezone.localdate() - datetime.timedelta(days=400)).year + 2
    )  # the earlier one
    assert consents["kakao"].status == "withdrawn"  # a withdrawal anywhere wins
    assert consents["email"].status == "granted"
    assert store.interactions.count() == 1 and store.orders.count() == 2
    assert store.order_count == 2 and store.total_spent == Decimal(60000)
    assert store.birth_date == datetime.date(1990, 3, 4)  # most complete value
    assert CustomerHistory.objects.get(customer=store).data["merged_ids"] == [online.pk]
    assert CustomerHistory.objects.get(customer=online).data["survivor_id"] == store.pk
    assert merge.moved and merge.removed


def test_unmerge_restores_exactly(admin, pair):
    store, online = pair
    before = state(store, online)
    merge = merge_customers(survivor=store, duplicates=[online], actor=admin)
    assert state(store, online) != before
    unmerge(merge=merge, actor=admin)
    after = state(store, online)
    assert after["profiles"] == before["profiles"]
    for key in ("contacts", "consents", "consent_events", "external", "interactions", "orders"):
        assert after[key] == before[key], key
    with pytest.raises(Conflict):
        unmerge(merge=merge, actor=admin)


def test_survivorship_rules_per_field(admin, make_customer):
    SurvivorshipRule.objects.create(
        field_name="full_name", strategy="trusted_source", source_order=["erp", "shop"]
    )
    a = make_customer(actor=admin, full_name="김민즌", source="shop")  # typo in the web shop
    b = make_customer(actor=admin, full_name="김민준", source="erp")
    merge_customers(survivor=a, duplicates=[b], actor=admin)
    a.refresh_from_db()
    assert a.full_name == "김민준"


def test_cannot_merge_twice_or_into_itself(admin, pair):
    store, online = pair
    with pytest.raises(ValidationFailed):
        merge_customers(survivor=store, duplicates=[store], actor=admin)
    merge_customers(survivor=store, duplicates=[online], actor=admin)
    with pytest.raises(Conflict):
        merge_customers(
            survivor=store, duplicates=[Customer.objects.get(pk=online.pk)], actor=admin
        )


@pytest.mark.django_db(transaction=True)  # the feed serves committed transactions only
def test_change_feed_lists_each_change_once_in_order(admin, make_customer):
    first = settle(None, 0)
    a = make_customer(actor=admin, full_name="가나다")
    b = make_customer(actor=admin, full_name="라마바")
    services.update_customer(customer=a, changes={"gender": "F"}, actor=admin)
    merge_customers(survivor=a, duplicates=[b], actor=admin)
    page = settle(first.next_cursor, 5)
    assert [(e.object_id, e.op) for e in page.entries] == [
        (a.pk, "created"),
        (b.pk, "created"),
        (a.pk, "updated"),
        (b.pk, "merged"),
        (a.pk, "merged"),
    ]
    again = changefeed.read_since(page.next_cursor)
    assert again.entries == [] and again.next_cursor == page.next_cursor


@pytest.mark.django_db(transaction=True)
def test_merge_and_feed_through_the_api(admin, api, make_customer, make_user):
    import json

    client = api(admin)
    a = make_customer(actor=admin, full_name="가나다")
    b = make_customer(actor=admin, full_name="가나다")
    r = client.post(
        f"/api/v1/customers/{a.pk}/merge",
        json.dumps({"duplicate_ids": [b.pk]}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert client.get(f"/api/v1/customers/{b.pk}").json()["status"] == "merged"
    undo = client.post(f"/api/v1/merges/{r.json()['id']}/undo")
    assert undo.status_code == 200
    settle(None, 6)
    feed = client.get("/api/v1/changes").json()
    assert [x["op"] for x in feed["items"]][-2:] == ["updated", "updated"]
    rep = make_user("rep", "seoul")
    assert api(rep).get("/api/v1/changes").status_code == 403
    assert (
        api(rep)
        .post(
            f"/api/v1/customers/{a.pk}/merge",
            json.dumps({"duplicate_ids": [b.pk]}),
            content_type="application/json",
        )
        .status_code
        == 404
    )


@pytest.mark.django_db(transaction=True)
def test_feed_withholds_a_transaction_still_running(admin, make_customer):
    """On PostgreSQL a row written by an open transaction must not let the cursor pass it."""
    import threading

    from django.db import connection, transaction

    start = changefeed.read_since(None).next_cursor
    if connection.vendor != "postgresql":
        make_customer(actor=admin, full_name="하나")
        assert len(changefeed.read_since(start).entries) == 1
        return
    opened, release = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            make_customer(actor=admin, full_name="늦게 끝나는 고객")
            opened.set()
            release.wait(10)
        connection.close()

    t = threading.Thread(target=slow_writer)
    t.start()
    opened.wait(10)
    make_customer(actor=admin, full_name="먼저 끝난 고객")  # commits while the other is open
    during = changefeed.read_since(start)
    release.set()
    t.join()
    after = settle(start, 2)
    assert during.entries == []  # nothing served past the open transaction
    assert len(after.entries) == 2


def test_merge_shows_on_both_timelines(admin, make_customer):
    from dangol.customers.selectors import timeline

    a = make_customer(actor=admin, full_name="가나다")
    b = make_customer(actor=admin, full_name="가나다")
    merge_customers(survivor=a, duplicates=[b], actor=admin)
    top_a = timeline(user=admin, customer=a)[0]
    top_b = timeline(user=admin, customer=b)[0]
    assert (top_a.kind, top_a.meta) == ("history", f"#{b.pk}")
    assert (top_b.kind, top_b.meta) == ("history", f"#{a.pk}")


def test_tags_fold_into_the_survivor_and_come_back_on_unmerge(admin, pair):
    """Tags link by a generic reference, not a foreign key: the merge moves them by a handler."""
    from dangol.core.services import tag_objects

    def tags(customer):
        return sorted(
            TaggedItem.objects.filter(
                content_type__app_label="customers",
                content_type__model="customer",
                object_id=customer.pk,
            ).values_list("tag__name", flat=True)
        )

    store, online = pair
    tag_objects(objs=[store], names=["VIP", "매장"], actor=admin)
    tag_objects(objs=[online], names=["VIP", "온라인"], actor=admin)
    merge = merge_customers(survivor=store, duplicates=[online], actor=admin)
    assert tags(store) == ["VIP", "매장", "온라인"]
    assert tags(online) == []
    unmerge(merge=merge, actor=admin)
    assert tags(store) == ["VIP", "매장"]
    assert tags(online) == ["VIP", "온라인"]
