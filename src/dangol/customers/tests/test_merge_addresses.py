"""A merge leaves one copy of an address the two records share, however it is spelled, and an
unmerge puts every address back exactly as it was."""

import pytest

from dangol.customers import services
from dangol.customers.merge import merge_customers, unmerge
from dangol.customers.models import Address

pytestmark = pytest.mark.django_db


def addresses(*customers):
    return sorted(
        Address.objects.filter(customer__in=customers).values_list(
            "id", "customer_id", "line1", "line2", "postal_code", "is_primary"
        )
    )


def test_the_same_address_is_kept_once_and_comes_back_on_unmerge(admin, make_customer):
    keep = make_customer(actor=admin, full_name="이지은")
    gone = make_customer(actor=admin, full_name="리지은")
    services.add_address(customer=keep, line1="서울특별시 강남구 테헤란로 152", actor=admin)
    services.add_address(
        customer=gone, line1="서울 강남구 테헤란로152", postal_code="06236", actor=admin
    )
    other = services.add_address(
        customer=gone, line1="부산광역시 해운대구 센텀중앙로 79", actor=admin
    )
    before = addresses(keep, gone)

    merge = merge_customers(survivor=keep, duplicates=[gone], actor=admin)

    kept = Address.objects.filter(customer=keep).order_by("id")
    assert [(a.line1, a.postal_code, a.is_primary) for a in kept] == [
        # the survivor's copy, with the postal code only the merged record had
        ("서울특별시 강남구 테헤란로 152", "06236", True),
        # moved, no longer primary: the survivor has a primary address
        ("부산광역시 해운대구 센텀중앙로 79", "", False),
    ]
    assert kept[1].pk == other.pk
    assert not Address.objects.filter(customer=gone).exists()

    unmerge(merge=merge, actor=admin)
    assert addresses(keep, gone) == before


def test_different_details_are_different_addresses(admin, make_customer):
    keep = make_customer(actor=admin, full_name="홍길동")
    gone = make_customer(actor=admin, full_name="길동홍")
    street = "서울 마포구 월드컵북로 396"
    services.add_address(customer=keep, line1=street, line2="101동", actor=admin)
    services.add_address(customer=gone, line1=street, line2="102동", actor=admin)
    merge_customers(survivor=keep, duplicates=[gone], actor=admin)
    assert sorted(Address.objects.filter(customer=keep).values_list("line2", "is_primary")) == [
        ("101동", True),
        ("102동", False),
    ]


def test_a_survivor_without_addresses_gets_the_primary_one(admin, make_customer):
    keep = make_customer(actor=admin, full_name="류수빈")
    gone = make_customer(actor=admin, full_name="유수빈")
    services.add_address(customer=gone, line1="대전 유성구 대학로 99", actor=admin)
    services.add_address(customer=gone, line1="대전 유성구 대학로 99 ", actor=admin)  # again
    merge = merge_customers(survivor=keep, duplicates=[gone], actor=admin)
    # the primary one moved and stays primary; its copy (a trailing space apart) is removed
    assert list(Address.objects.filter(customer=keep).values_list("line1", "is_primary")) == [
        ("대전 유성구 대학로 99", True)
    ]
    unmerge(merge=merge, actor=admin)
    assert Address.objects.filter(customer=gone).count() == 2
    assert not Address.objects.filter(customer=keep).exists()
