import datetime

import pytest
from django.utils import timezone

from dangol.core.errors import Conflict, ValidationFailed
from dangol.core.models import ChangeLog
from dangol.customers import services
from dangol.customers.models import (
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    Interaction,
    RecordStatus,
)


def test_create_customer_normalizes_names_and_contacts_and_audits(admin):
    customer = services.create_customer(
        data=services.CustomerInput(
            full_name="  김민준 ",
            gender="M",
            contacts=[
                services.ContactInput("mobile", "010-1234-5678"),
                services.ContactInput("email", "Minjun@Example.COM"),
                services.ContactInput("mobile", "+82 10 1234 5678"),
            ],  # same number twice
            external_ids=[("pos", "A-1")],
        ),
        actor=admin,
    )
    assert (customer.family_name, customer.given_name, customer.full_name) == (
        "김",
        "민준",
        "김민준",
    )
    points = {cp.kind: cp for cp in customer.contact_points.all()}
    assert customer.contact_points.count() == 2
    assert points["mobile"].normalized == "+821012345678" and points["mobile"].last4 == "5678"
    assert points["mobile"].is_primary
    assert points["email"].match_key == "minjun@example.com"
    log = ChangeLog.objects.get(action="customer.created")
    assert (
        log.actor == admin
        and log.object_id == str(customer.pk)
        and log.after["full_name"] == "김민준"
    )


def test_a_landline_given_as_a_mobile_is_refused_and_accepted_as_a_phone(admin):
    """No SMS can reach 02-…: a landline is a phone, never a mobile (the same number as a phone,
    and a real mobile, are stored)."""
    with pytest.raises(ValidationFailed) as exc:
        services.create_customer(
            data=services.CustomerInput(
                full_name="김민준", contacts=[services.ContactInput("mobile", "02-123-4567")]
            ),
            actor=admin,
        )
    assert [(e.field, e.code) for e in exc.value.errors] == [("contacts[0].value", "not_mobile")]
    assert Customer.objects.count() == 0

    customer = services.create_customer(
        data=services.CustomerInput(
            full_name="김민준",
            contacts=[
                services.ContactInput("phone", "02-123-4567"),
                services.ContactInput("mobile", "010-1234-5678"),
            ],
        ),
        actor=admin,
    )
    kinds = dict(ContactPoint.objects.filter(customer=customer).values_list("kind", "normalized"))
    assert kinds == {"phone": "+8221234567", "mobile": "+821012345678"}


def test_invalid_input_reports_every_field_and_writes_nothing(admin):
    with pytest.raises(ValidationFailed) as exc:
        services.create_customer(
            data=services.CustomerInput(
                full_name="",
                gender="Q",
                birth_date=datetime.date(2999, 1, 1),
                contacts=[
                    services.ContactInput("mobile", "010-12"),
                    services.ContactInput("email", "nope"),
                ],
            ),
            actor=admin,
        )
    fields = {e.field for e in exc.value.errors}
    assert fields == {"full_name", "gender", "birth_date", "contacts[0].value", "contacts[1].value"}
    assert Customer.objects.count() == 0 and ContactPoint.objects.count() == 0
    assert not ChangeLog.objects.filter(object_type__startswith="customers.").exists()


def test_duplicate_external_id_conflicts(admin, make_customer):
    make_customer(actor=admin, external_ids=[("pos", "A-1")])
    with pytest.raises(Conflict):
        make_customer(actor=admin, full_name="이서연", external_ids=[("pos", "A-1")])


def test_update_records_only_the_changed_fields(admin, make_customer, make_user):
    customer = make_customer(actor=admin)
    rep = make_user("rep", "busan")
    services.update_customer(
        customer=customer, changes={"full_name": "김민재", "owner": rep}, actor=admin
    )
    customer.refresh_from_db()
    assert customer.given_name == "민재" and customer.owner == rep and customer.team == rep.team
    log = ChangeLog.objects.get(action="customer.updated")
    assert set(log.after) == {"full_name", "given_name", "owner_id", "team_id"}
    assert log.before["full_name"] == "김민준"
    # no change → no audit row
    services.update_customer(customer=customer, changes={"full_name": "김민재"}, actor=admin)
    assert ChangeLog.objects.filter(action="customer.updated").count() == 1


def test_consent_history_and_two_year_reconfirmation(admin, make_customer):
    customer = make_customer(actor=admin)
    granted_at = timezone.make_aware(datetime.datetime(2025, 3, 1, 10, 0))
    consent = services.grant_consent(
        customer=customer,
        channel="sms",
        night_time=True,
        source="store",
        evidence="매장 가입서 #12",
        at=granted_at,
        actor=admin,
    )
    assert consent.reconfirm_due == datetime.date(2027, 3, 1)
    assert consent.is_current(datetime.date(2027, 3, 1))
    assert not consent.is_current(datetime.date(2027, 3, 2))  # lapsed without reconfirmation
    services.withdraw_consent(customer=customer, channel="sms", source="080 수신거부", actor=admin)
    consent = Consent.objects.get(customer=customer, channel="sms")
    assert consent.status == "withdrawn" and not consent.night_time and not consent.is_current()
    history = list(ConsentEvent.objects.filter(customer=customer).order_by("at"))
    assert [(e.status, e.night_time, e.source) for e in history] == [
        ("granted", True, "store"),
        ("withdrawn", False, "080 수신거부"),
    ]


def test_leap_day_consent_reconfirms_on_28_february(admin, make_customer):
    customer = make_customer(actor=admin)
    at = timezone.make_aware(datetime.datetime(2024, 2, 29, 12, 0))
    consent = services.grant_consent(customer=customer, channel="email", at=at, actor=admin)
    assert consent.reconfirm_due == datetime.date(2026, 2, 28)


def test_interaction_validation_and_timeline(admin, make_customer):
    from dangol.customers.selectors import timeline

    customer = make_customer(actor=admin)
    with pytest.raises(ValidationFailed):
        services.record_interaction(customer=customer, channel="pigeon", kind="call", actor=admin)
    for i in range(3):
        services.record_interaction(
            customer=customer,
            channel="phone",
            kind="call",
            subject=f"상담 {i}",
            occurred_at=timezone.now() - datetime.timedelta(hours=3 - i),
            actor=admin,
        )
    services.add_note(customer=customer, body="VIP 고객, 민감성 피부", actor=admin)
    entries = timeline(user=admin, customer=customer)
    assert [e.kind for e in entries][:2] == ["note", "interaction"]
    assert entries[1].title == "상담 2"
    older = timeline(user=admin, customer=customer, before=entries[1].at, kinds=("interaction",))
    assert [e.title for e in older] == ["상담 1", "상담 0"]
    assert Interaction.objects.filter(customer=customer, staff=admin).count() == 3


def test_contact_points_primary_and_removal(admin, make_customer):
    customer = make_customer(actor=admin, contacts=[("mobile", "010-1111-2222")])
    second = services.add_contact_point(
        customer=customer, kind="mobile", value="010-3333-4444", is_primary=True, actor=admin
    )
    assert list(customer.contact_points.filter(is_primary=True)) == [second]
    with pytest.raises(Conflict):
        services.add_contact_point(
            customer=customer, kind="mobile", value="01033334444", actor=admin
        )
    services.remove_contact_point(contact_point=second, actor=admin)
    assert customer.contact_points.get().is_primary


def test_archive_and_restore(admin, make_customer):
    customer = make_customer(actor=admin)
    services.archive_customer(customer=customer, actor=admin)
    assert Customer.objects.get(pk=customer.pk).status == RecordStatus.ARCHIVED
    with pytest.raises(Conflict):
        services.archive_customer(customer=customer, actor=admin)
    services.restore_customer(customer=customer, actor=admin)
    assert Customer.objects.get(pk=customer.pk).status == RecordStatus.ACTIVE


def test_organizations_hierarchy_and_membership(admin, make_customer):
    group = services.create_organization(
        name="(주)한빛유통", business_number="1234567891", actor=admin
    )
    assert group.business_number == "123-45-67891"
    branch = services.create_organization(name="한빛유통 부산지점", parent=group, actor=admin)
    with pytest.raises(ValidationFailed):
        services.update_organization(organization=group, changes={"parent": branch}, actor=admin)
    with pytest.raises(Conflict):
        services.create_organization(name="복제", business_number="123-45-67891", actor=admin)
    person = make_customer(actor=admin)
    m = services.link_to_organization(
        customer=person, organization=branch, role="구매 담당", is_primary=True, actor=admin
    )
    assert m.organization == branch and person.memberships.count() == 1


def test_upsert_customer_is_idempotent(admin):
    data = services.CustomerInput(
        full_name="최지우", contacts=[services.ContactInput("email", "jiwoo@example.com")]
    )
    c1, s1 = services.upsert_customer(
        source="shop", external_id="M-9", data=data, fields_set={"full_name"}, actor=admin
    )
    c2, s2 = services.upsert_customer(
        source="shop", external_id="M-9", data=data, fields_set={"full_name"}, actor=admin
    )
    assert (s1, s2) == ("created", "unchanged") and c1.pk == c2.pk
    data.full_name = "최지유"
    _, s3 = services.upsert_customer(
        source="shop", external_id="M-9", data=data, fields_set={"full_name"}, actor=admin
    )
    assert s3 == "updated" and Customer.objects.get().full_name == "최지유"
