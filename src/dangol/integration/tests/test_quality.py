"""Data quality: completeness and validity per field and source on a hand-made set, the plan's
effect on the score, duplicate rate, consent coverage, stale records, snapshots and the import
hook."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from dangol.core.errors import Forbidden, ValidationFailed
from dangol.customers import services as cs
from dangol.customers.models import Address, Customer
from dangol.integration import services
from dangol.integration.models import QualitySnapshot
from dangol.integration.quality import check_import_rows, quality_report
from dangol.integration.tests.test_duplicates import engine_pairs

API = "/api/v1"


@pytest.fixture
def base(make_customer: Any) -> dict[str, Customer]:
    """shop: one complete, valid customer. pos: a legacy 011 number and nothing else; a
    customer with an invalid postal code and a region that contradicts the address."""
    good = make_customer(
        family_name="김",
        given_name="민준",
        birth_date=datetime.date(1990, 3, 15),
        gender="M",
        region="seoul",
        source="shop",
        contacts=[("mobile", "010-1234-5678"), ("email", "minjun@naver.com")],
    )
    cs.add_address(
        customer=good,
        line1="서울특별시 강남구 테헤란로 152",
        postal_code="06236",
        region="seoul",
        actor=None,
    )
    legacy = make_customer(full_name="홍길동", source="pos", contacts=[("mobile", "011-234-5678")])
    odd = make_customer(
        full_name="이서연",
        source="pos",
        region="busan",
        contacts=[("email", "seoyeon@daum.net")],
    )
    address = cs.add_address(
        customer=odd, line1="서울 마포구 월드컵로 1", region="seoul", actor=None
    )
    # as an old system's bulk load left it (the service refuses such a postal code)
    Address.objects.filter(pk=address.pk).update(postal_code="123")
    now = timezone.now()
    cs.grant_consent(customer=good, channel="email", actor=None)
    cs.grant_consent(customer=good, channel="sms", actor=None)
    cs.grant_consent(customer=odd, channel="sms", actor=None, at=now - datetime.timedelta(days=800))
    cs.grant_consent(customer=legacy, channel="email", actor=None)
    cs.withdraw_consent(customer=legacy, channel="email", actor=None)
    Customer.objects.filter(pk=legacy.pk).update(updated_at=now - datetime.timedelta(days=900))
    return {"good": good, "legacy": legacy, "odd": odd}


def test_figures_on_a_hand_made_set(base: dict[str, Customer]) -> None:
    services.find_duplicates(finder=engine_pairs([(base["legacy"].pk, base["odd"].pk, 0.92, None)]))

    report = quality_report(stale_months=24)

    assert report.customers == 3
    f = report.fields
    assert (f["name"]["complete"], f["name"]["valid"]) == (3, 3)
    assert (f["birth_date"]["complete"], f["gender"]["complete"]) == (1, 1)
    # the 011 number is there but not valid (legacy); one e-mail each for good and odd
    assert (f["phone"]["complete"], f["phone"]["valid"]) == (2, 1)
    assert report.legacy_phones == 1
    assert (f["email"]["complete"], f["email"]["valid"]) == (2, 2)
    # odd's postal code has 3 digits; its region contradicts its address
    assert (f["address"]["complete"], f["address"]["valid"]) == (2, 1)
    assert (f["region"]["complete"], f["region"]["valid"]) == (2, 1)
    assert f["phone"]["valid_rate"] == pytest.approx(1 / 3)
    sources = {s["source"]: s for s in report.sources}
    assert sources["shop"]["customers"] == 1 and sources["pos"]["customers"] == 2
    assert sources["shop"]["score"] == 1.0
    assert sources["pos"]["fields"]["email"]["complete_rate"] == 0.5
    assert report.duplicate_pairs == 1 and report.duplicate_rate == pytest.approx(1 / 3)
    # current marketing consent: good by e-mail and SMS; odd's SMS is past reconfirmation
    assert report.consent["email"]["customers"] == 1
    assert report.consent["sms"]["customers"] == 1
    assert report.consent["kakao"]["customers"] == 0
    assert report.stale == 1 and report.stale_rate == pytest.approx(1 / 3)


def test_plan_required_fields_change_the_score(base: dict[str, Customer], admin: Any) -> None:
    before = {s["source"]: s["score"] for s in quality_report().sources}
    # default plan: name and phone required (2), five fields recommended (1): weight 9
    # legacy: name only → 2/9; odd: name, e-mail → 3/9
    assert before["pos"] == pytest.approx((2 / 9 + 3 / 9) / 2)

    services.set_information_plan(
        source="pos", levels={"name": "required", "email": "required"}, actor=admin
    )
    after = {s["source"]: s for s in quality_report().sources}
    assert after["pos"]["score"] == pytest.approx((2 / 4 + 4 / 4) / 2)
    assert after["pos"]["plan"] == {"name": "required", "email": "required"}
    assert after["shop"]["score"] == 1.0  # shop keeps the default plan

    services.set_information_plan(source="pos", levels={"email": None}, actor=admin)
    assert {s["source"]: s["score"] for s in quality_report().sources}["pos"] == before["pos"]


def test_plan_is_validated_and_needs_the_right(admin: Any, make_user: Any) -> None:
    with pytest.raises(ValidationFailed):
        services.set_information_plan(source="", levels={"shoe_size": "required"}, actor=admin)
    with pytest.raises(ValidationFailed):
        services.set_information_plan(source="", levels={"email": "maybe"}, actor=admin)
    with pytest.raises(Forbidden):
        services.set_information_plan(
            source="", levels={"email": "required"}, actor=make_user("manager")
        )


class FakeRow:
    def __init__(self, data: dict[str, Any], reasons: list[Any] | None = None) -> None:
        self.data, self.reasons = data, reasons or []

    def reject(self, field_name: str, code: str, message: str) -> None:
        self.reasons.append({"field": field_name, "code": code, "message": message})


def test_import_hook_rejects_rows_missing_a_required_field(db: Any, admin: Any) -> None:
    services.set_information_plan(
        source="shop", levels={"email": "required", "address": "required"}, actor=admin
    )
    ok = FakeRow(
        {"full_name": "김민준", "email": {"match_key": "a@b.kr"}, "address": "서울 중구 세종대로"}
    )
    missing = FakeRow({"full_name": "이서연"})
    no_address = FakeRow({"full_name": "박지훈", "email": {"match_key": "p@b.kr"}})
    already = FakeRow({}, reasons=[{"field": "external_id", "code": "required", "message": ""}])

    assert check_import_rows("shop", [ok, missing, no_address, already]) == 2

    assert ok.reasons == []
    # the customer import carries addresses (주소): a plan requiring one is checked too
    assert sorted((r["field"], r["code"]) for r in missing.reasons) == [
        ("address", "required_by_plan"),
        ("email", "required_by_plan"),
    ]
    assert [(r["field"], r["code"]) for r in no_address.reasons] == [
        ("address", "required_by_plan")
    ]
    assert len(already.reasons) == 1
    # without a declared plan nothing is rejected (the built-in default only scores quality)
    assert check_import_rows("pos", [FakeRow({"full_name": "홍길동"})]) == 0
    services.set_information_plan(source="", levels={"phone": "required"}, actor=admin)
    assert check_import_rows("pos", [FakeRow({"full_name": "홍길동"})]) == 1


def test_snapshot_and_api(base: dict[str, Customer], api: Any, make_user: Any) -> None:
    services.take_quality_snapshot()
    services.take_quality_snapshot()  # the same day is replaced, not repeated
    snap = QualitySnapshot.objects.get()
    assert snap.customers == 3 and snap.figures["fields"]["phone"]["valid"] == 1

    manager = api(make_user("manager"))
    figures = manager.get(f"{API}/quality?stale_months=24").json()
    assert figures["customers"] == 3 and figures["stale"] == 1
    trend = manager.get(f"{API}/quality/trend").json()
    assert [p["customers"] for p in trend] == [3]
    assert api(make_user("lead")).get(f"{API}/quality").status_code == 403  # team scope
