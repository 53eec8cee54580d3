"""Tags and merged-away customers: the tagging services skip a merged-away record and report it
with its ``customer_merged`` error naming the survivor, and tag the rest of the batch."""

import pytest
from django.utils import translation

from dangol.core.models import ChangeLog, TaggedItem
from dangol.core.services import tag_objects
from dangol.customers import selectors, services
from dangol.customers.merge import merge_customers, unmerge
from dangol.customers.models import Customer

pytestmark = pytest.mark.django_db


def tags_of(customer):
    return sorted(
        TaggedItem.objects.filter(
            object_id=customer.pk, content_type__model="customer"
        ).values_list("tag__name", flat=True)
    )


@pytest.fixture
def batch(admin, make_customer):
    """(survivor, merged-away record, another live customer)."""
    survivor = make_customer(actor=admin, full_name="김민지")
    gone = make_customer(actor=admin, full_name="김민지")
    other = make_customer(actor=admin, full_name="박지훈")
    merge_customers(survivor=survivor, duplicates=[gone], actor=admin)
    return survivor, gone, other


def test_a_batch_with_a_merged_customer_tags_the_others_and_reports_it(admin, batch):
    survivor, gone, other = batch
    logged = ChangeLog.objects.filter(action="tags.added").count()

    with translation.override("en"):
        done = services.tag_customers(customers=[survivor, gone, other], names=["VIP"], actor=admin)

    assert sorted(c.pk for c in done.customers) == sorted([survivor.pk, other.pk])
    assert done.links == 2
    assert [(m.customer_id, m.survivor_id, m.code) for m in done.merged] == [
        (gone.pk, survivor.pk, "customer_merged")
    ]
    assert str(done.merged[0].message) == (
        f"This customer was merged into #{survivor.pk}; record it there."
    )
    assert tags_of(survivor) == tags_of(other) == ["VIP"]
    assert tags_of(gone) == []  # nothing written on the merged record, not even its audit row
    added = ChangeLog.objects.filter(action="tags.added")
    assert added.count() == logged + 2
    assert not added.filter(object_id=str(gone.pk)).exists()


def test_a_stale_copy_is_checked_against_the_database(admin, make_customer):
    survivor = make_customer(actor=admin, full_name="이서연")
    gone = make_customer(actor=admin, full_name="이서연")
    stale = Customer.objects.get(pk=gone.pk)  # loaded before the merge: still "active"
    merge_customers(survivor=survivor, duplicates=[gone], actor=admin)

    done = services.tag_customers(customers=[stale], names=["VIP"], actor=admin)

    assert done.customers == [] and done.links == 0
    assert [m.survivor_id for m in done.merged] == [survivor.pk]
    assert tags_of(gone) == []


def test_removing_a_tag_leaves_a_merged_record_as_it_was(admin, make_customer):
    survivor = make_customer(actor=admin, full_name="최유진")
    gone = make_customer(actor=admin, full_name="최유진")
    tag_objects(objs=[survivor, gone], names=["VIP"], actor=admin)
    record = merge_customers(survivor=survivor, duplicates=[gone], actor=admin)

    done = services.untag_customers(customers=[survivor, gone], names=["VIP"], actor=admin)

    assert [c.pk for c in done.customers] == [survivor.pk] and done.links == 1
    assert [m.customer_id for m in done.merged] == [gone.pk]
    # its own VIP went to the survivor at the merge (which had one: removed, kept in the log)
    assert tags_of(survivor) == [] and tags_of(gone) == []
    # once the merge is undone the record has its tag back, is live again and takes tags
    unmerge(merge=record, actor=admin)
    again = services.tag_customers(customers=[gone], names=["재구매"], actor=admin)
    assert again.merged == [] and tags_of(gone) == ["VIP", "재구매"]


def test_the_survivor_is_followed_through_merges_of_merges(admin, make_customer):
    a, b, c = (make_customer(actor=admin, full_name="정하늘") for _ in range(3))
    d = make_customer(actor=admin, full_name="한가람")
    e = make_customer(actor=admin, full_name="한가람")
    merge_customers(survivor=b, duplicates=[a], actor=admin)
    merge_customers(survivor=c, duplicates=[b], actor=admin)
    merge_customers(survivor=e, duplicates=[d], actor=admin)

    done = services.tag_customers(customers=[a, b, c, d], names=["VIP"], actor=admin)

    assert [c_.pk for c_ in done.customers] == [c.pk]
    assert {m.customer_id: m.survivor_id for m in done.merged} == {
        a.pk: c.pk,
        b.pk: c.pk,
        d.pk: e.pk,
    }
    assert selectors.surviving_record_ids([a.pk, c.pk, d.pk]) == {
        a.pk: c.pk,
        c.pk: None,
        d.pk: e.pk,
    }
