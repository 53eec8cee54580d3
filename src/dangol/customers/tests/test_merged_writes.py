"""A customer merged into another takes no new data: every writer refuses with
``customer_merged`` naming the survivor; merge and unmerge keep working."""

import datetime
import json

import pytest
from django.utils import timezone

from dangol.customers import services
from dangol.customers.merge import merge_customers, unmerge
from dangol.customers.models import (
    Address,
    Consent,
    ContactPoint,
    Customer,
    ExternalId,
    Interaction,
    Note,
    Organization,
    OrganizationMembership,
    RecordStatus,
)
from dangol.customers.services import CustomerMerged
from dangol.sales import services as sales
from dangol.sales.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def merged(admin, make_customer):
    """(survivor, merged-away record, merge record)."""
    survivor = make_customer(actor=admin, full_name="김민지")
    gone = make_customer(actor=admin, full_name="김민지")
    record = merge_customers(survivor=survivor, duplicates=[gone], actor=admin)
    gone.refresh_from_db()
    assert gone.status == RecordStatus.MERGED
    return survivor, gone, record


def refused(call, survivor_id):
    with pytest.raises(CustomerMerged) as info:
        call()
    assert info.value.code == "customer_merged"
    assert info.value.status == 422
    assert info.value.survivor_id == survivor_id
    assert f"#{survivor_id}" in str(info.value.message)
    return info.value


def test_every_writer_refuses_a_merged_customer_and_writes_nothing(admin, merged):
    survivor, gone, _record = merged
    org = services.create_organization(name="단골상사", actor=admin)
    due = timezone.now() + datetime.timedelta(days=1)
    writes = [
        lambda: services.record_interaction(
            customer=gone, channel="phone", kind="call", subject="재구매 상담", actor=admin
        ),
        lambda: services.add_note(customer=gone, body="선물 포장 선호", actor=admin),
        lambda: services.grant_consent(customer=gone, channel="sms", actor=admin),
        lambda: services.withdraw_consent(customer=gone, channel="email", actor=admin),
        lambda: services.update_customer(
            customer=gone, changes={"full_name": "김민지2"}, actor=admin
        ),
        lambda: services.add_contact_point(
            customer=gone, kind="mobile", value="010-2222-3333", actor=admin
        ),
        lambda: services.add_address(customer=gone, line1="서울시 중구 세종대로 110", actor=admin),
        lambda: services.add_external_id(customer=gone, source="pos", key="P-77", actor=admin),
        lambda: services.link_to_organization(customer=gone, organization=org, actor=admin),
        lambda: services.archive_customer(customer=gone, actor=admin),
        lambda: services.assign_owner(customers=[survivor, gone], owner=admin, actor=admin),
        lambda: sales.create_task(
            data=sales.TaskInput(title="다시 연락", due_at=due, customer=gone), actor=admin
        ),
    ]
    for write in writes:
        refused(write, survivor.pk)
    assert not Interaction.objects.filter(customer=gone).exists()
    assert not Note.objects.filter(customer=gone).exists()
    assert not Consent.objects.filter(customer=gone).exists()
    assert not ContactPoint.objects.filter(customer=gone).exists()
    assert not Address.objects.filter(customer=gone).exists()
    assert not ExternalId.objects.filter(customer=gone).exists()
    assert not OrganizationMembership.objects.filter(customer=gone).exists()
    assert not Task.objects.exists()
    gone.refresh_from_db()
    survivor.refresh_from_db()
    assert (gone.full_name, gone.status) == ("김민지", RecordStatus.MERGED)
    assert survivor.owner is None  # the bulk assignment was refused as a whole
    assert Organization.objects.filter(pk=org.pk).exists()


def test_a_stale_copy_is_checked_against_the_database(admin, make_customer):
    survivor = make_customer(actor=admin, full_name="이서연")
    gone = make_customer(actor=admin, full_name="이서연")
    stale = Customer.objects.get(pk=gone.pk)  # loaded before the merge: still "active"
    merge_customers(survivor=survivor, duplicates=[gone], actor=admin)
    refused(lambda: services.add_note(customer=stale, body="메모", actor=admin), survivor.pk)


def test_a_task_cannot_be_moved_onto_a_merged_customer(admin, merged, make_customer):
    survivor, gone, _record = merged
    other = make_customer(actor=admin, full_name="박지훈")
    task = sales.create_task(
        data=sales.TaskInput(
            title="견적 보내기", due_at=timezone.now() + datetime.timedelta(days=1), customer=other
        ),
        actor=admin,
    )
    refused(
        lambda: sales.update_task(task=task, changes={"customer": gone}, actor=admin), survivor.pk
    )
    task.refresh_from_db()
    assert task.customer_id == other.pk
    # Editing the rest of the task, or moving it to the survivor, still works.
    moved = sales.update_task(task=task, changes={"customer": survivor}, actor=admin)
    assert moved.customer_id == survivor.pk


def test_the_message_names_the_live_record_after_merges_of_merges(admin, make_customer):
    a, b, c = (make_customer(actor=admin, full_name="최유진") for _ in range(3))
    merge_customers(survivor=b, duplicates=[a], actor=admin)
    merge_customers(survivor=c, duplicates=[b], actor=admin)
    refused(lambda: services.add_note(customer=a, body="메모", actor=admin), c.pk)


def test_unmerge_still_works_and_the_record_takes_data_again(admin, merged):
    survivor, gone, record = merged
    unmerge(merge=record, actor=admin)
    note = services.add_note(customer=gone, body="다시 살아난 기록", actor=admin)
    assert note.customer_id == gone.pk
    # ... and it can be merged again.
    merge_customers(survivor=survivor, duplicates=[gone], actor=admin)
    assert Note.objects.get(pk=note.pk).customer_id == survivor.pk


def test_the_survivor_takes_the_work(admin, merged):
    survivor, _gone, _record = merged
    call = services.record_interaction(
        customer=survivor, channel="phone", kind="call", subject="재구매 상담", actor=admin
    )
    assert call.customer_id == survivor.pk


def test_the_api_answers_422_with_the_code(admin, api, merged):
    survivor, gone, _record = merged
    client = api(admin)
    calls = [
        (
            "/api/v1/interactions",
            {"customer_id": gone.pk, "channel": "phone", "kind": "call", "subject": "통화"},
            "post",
        ),
        (f"/api/v1/customers/{gone.pk}/consents", {"channel": "sms", "status": "granted"}, "post"),
        (f"/api/v1/customers/{gone.pk}", {"full_name": "새 이름"}, "patch"),
        (f"/api/v1/customers/{gone.pk}/addresses", {"line1": "부산시 해운대구 1"}, "post"),
        (
            "/api/v1/contact-points",
            {"customer_id": gone.pk, "kind": "email", "value": "a@b.kr"},
            "post",
        ),
        (
            "/api/v1/tasks",
            {
                "title": "다시 연락",
                "due_at": (timezone.now() + datetime.timedelta(days=1)).isoformat(),
                "customer_id": gone.pk,
            },
            "post",
        ),
    ]
    for path, body, method in calls:
        response = getattr(client, method)(path, json.dumps(body), content_type="application/json")
        assert response.status_code == 422, (path, response.content)
        answer = response.json()
        assert answer["code"] == "customer_merged", path
        assert f"#{survivor.pk}" in answer["message"]
    assert not Interaction.objects.filter(customer=gone).exists()
    assert not Task.objects.exists()
    # The merged record is still readable.
    assert client.get(f"/api/v1/customers/{gone.pk}").json()["status"] == "merged"
