"""Restoring an archived customer checks the record as stored: a merged-away record is refused
with ``customer_merged``, even through a copy loaded while it was archived."""

import pytest

from dangol.customers import services
from dangol.customers.merge import merge_customers
from dangol.customers.models import Customer, RecordStatus
from dangol.customers.services import CustomerMerged

pytestmark = pytest.mark.django_db


def test_a_merged_record_cannot_be_restored_even_through_a_stale_archived_copy(
    admin, make_customer
):
    survivor = make_customer(actor=admin, full_name="김민지")
    gone = make_customer(actor=admin, full_name="김민지")
    services.archive_customer(customer=gone, actor=admin)
    stale = Customer.objects.get(pk=gone.pk)  # a page opened while it was archived
    services.restore_customer(customer=Customer.objects.get(pk=gone.pk), actor=admin)
    merge_customers(survivor=survivor, duplicates=[gone], actor=admin)
    assert stale.status == RecordStatus.ARCHIVED

    with pytest.raises(CustomerMerged) as refused:
        services.restore_customer(customer=stale, actor=admin)

    assert refused.value.code == "customer_merged" and refused.value.status == 422
    assert refused.value.survivor_id == survivor.pk
    gone.refresh_from_db()
    assert (gone.status, gone.merged_into_id) == (RecordStatus.MERGED, survivor.pk)
    with pytest.raises(CustomerMerged):  # and a fresh copy the same
        services.restore_customer(customer=gone, actor=admin)


def test_a_stale_copy_of_an_active_customer_is_not_restored_again(admin, make_customer):
    from dangol.core.errors import Conflict

    customer = make_customer(actor=admin)
    services.archive_customer(customer=customer, actor=admin)
    stale = Customer.objects.get(pk=customer.pk)
    services.restore_customer(customer=Customer.objects.get(pk=customer.pk), actor=admin)

    with pytest.raises(Conflict) as refused:
        services.restore_customer(customer=stale, actor=admin)

    assert refused.value.code == "not_archived"
    assert Customer.objects.get(pk=customer.pk).status == RecordStatus.ACTIVE
