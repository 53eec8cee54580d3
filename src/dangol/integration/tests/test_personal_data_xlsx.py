"""The readable personal-data file (개인정보 열람, as Excel): one sheet per section, labels and
choice values in the staff user's language, Korean local times, no internal keys; the same
rights as the JSON file and the same PII access-log row."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from dangol.core.models import PiiAccessLog
from dangol.customers import services as cs
from dangol.customers.merge import merge_customers
from dangol.web.testing import apply_test_settings

UTC = datetime.UTC


@pytest.fixture(autouse=True)
def _web(settings: Any) -> None:
    apply_test_settings(settings)


@pytest.fixture
def customer(make_customer: Any) -> Any:
    from dangol.commerce import services as commerce

    a = make_customer(
        family_name="홍",
        given_name="길동",
        gender="M",
        region="seoul",
        contacts=[("mobile", "010-2345-6789"), ("email", "gildong@naver.com")],
    )
    cs.add_address(customer=a, line1="서울 강남구 테헤란로 152", postal_code="06236", actor=None)
    cs.add_external_id(customer=a, source="pos", key="M0001", actor=None)
    cs.grant_consent(
        customer=a,
        channel="sms",
        actor=None,
        at=datetime.datetime(2026, 3, 1, 15, 30, tzinfo=UTC),  # 2026-03-02 00:30 in Seoul
    )
    cs.withdraw_consent(customer=a, channel="sms", actor=None)
    cs.record_interaction(customer=a, channel="phone", kind="call", subject="배송 문의", actor=None)
    cs.add_note(customer=a, body="선물 포장 선호", actor=None)
    product = commerce.create_product(
        actor=None, sku="SKU-1", name="수분 크림", price=Decimal("32000")
    )
    commerce.place_order(
        data=commerce.OrderInput(
            customer=a, lines=[commerce.LineInput(product=product, quantity=2)]
        ),
        actor=None,
    )
    twin = make_customer(full_name="홍길동", contacts=[("mobile", "010-2345-6789")])
    merge_customers(survivor=a, duplicates=[twin], actor=None)
    a.refresh_from_db()
    a.twin_id = twin.pk
    return a


def sheets(content: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(content))
    return {s.title: list(s.iter_rows(values_only=True)) for s in book.worksheets}


def texts(rows: list[tuple[Any, ...]]) -> str:
    return " | ".join(str(v) for row in rows for v in row if v is not None)


def test_the_customer_page_download_is_a_readable_korean_workbook(
    client: Any, admin: Any, customer: Any
) -> None:
    client.force_login(admin)
    url = f"/data/personal-data/{customer.pk}/xlsx/"

    response = client.post(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert response["Content-Disposition"].startswith("attachment")
    book = sheets(response.content)
    assert list(book)[1:] == [
        "기본 정보",
        "연락처",
        "주소",
        "수신 동의",
        "주문",
        "상담·접촉 이력",
        "병합 이력",
    ]
    profile = dict(book["기본 정보"])
    assert (profile["성명"], profile["성"], profile["이름"]) == ("홍길동", "홍", "길동")
    assert (profile["성별"], profile["지역"], profile["음력 생일"]) == ("남성", "서울", "아니요")
    assert profile["다른 시스템의 회원번호"] == "pos: M0001"
    contacts = texts(book["연락처"])
    assert "010-2345-6789" in contacts and "gildong@naver.com" in contacts  # unmasked
    assert "휴대전화" in contacts and "+82" not in contacts
    assert "06236" in texts(book["주소"])
    consents = book["수신 동의"]
    assert consents[1][:3] == ("문자(SMS)", "마케팅(광고)", "철회")
    heading = [row[0] for row in consents].index("수신 동의 변경 이력")
    history = consents[heading + 2 :]
    assert history[0][0] == datetime.datetime(2026, 3, 2, 0, 30)  # Seoul time
    assert [row[3] for row in history] == ["동의", "철회"]
    order = dict(zip(book["주문"][0], book["주문"][1], strict=True))
    assert (order["상품"], order["수량"], order["금액"]) == ("수분 크림", 2, 64000)
    assert "배송 문의" in texts(book["상담·접촉 이력"]) and "메모" in texts(book["상담·접촉 이력"])
    merges = texts(book["병합 이력"])
    assert f"고객 번호 {customer.twin_id}의 기록이 이 고객으로 합쳐졌습니다." in merges
    # no internal keys or stored codes anywhere: labels only
    cells = {v for rows in book.values() for row in rows for v in row if isinstance(v, str)}
    everything = " ".join(cells)
    for internal in ("match_key", "owner_id", "merged_ids", "is_legacy", "survivor_id"):
        assert internal not in everything, internal
    codes = {"M", "seoul", "sms", "marketing", "granted", "withdrawn", "call", "phone", "placed"}
    assert not cells & codes, cells & codes
    log = PiiAccessLog.objects.get(user=admin)
    assert log.object_id == str(customer.pk) and "orders" in log.fields and log.channel == "web"


def test_in_english_for_an_english_speaking_user(client: Any, admin: Any, customer: Any) -> None:
    admin.language = "en"
    admin.save(update_fields=["language"])
    client.force_login(admin)

    book = sheets(client.post(f"/data/personal-data/{customer.pk}/xlsx/").content)

    assert "Basic information" in book and "Merge history" in book
    profile = dict(book["Basic information"])
    assert (profile["Full name"], profile["Gender"], profile["Region"]) == (
        "홍길동",
        "Male",
        "Seoul",
    )


def test_same_rights_as_the_json_file(client: Any, customer: Any, make_user: Any) -> None:
    url = f"/data/personal-data/{customer.pk}/xlsx/"
    marketer = make_user("marketer")  # exports lists, no PII permission
    client.force_login(marketer)
    assert client.post(url).status_code == 404
    client.force_login(make_user("lead", team="busan"))  # another team's customer
    assert client.post(url).status_code == 404
    assert client.get(url).status_code == 405  # a link prefetch reads nothing
    assert not PiiAccessLog.objects.exists()
