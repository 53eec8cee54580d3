"""The customer pages in a real browser: search → 360, quick actions, language, scope, PII."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.core.models import PiiAccessLog

pytestmark = pytest.mark.browser


def test_search_open_360_log_a_call_and_switch_language(
    page: Any, shot: Any, make_user: Any, showcase: Any, sign_in: Any
) -> None:
    rep = make_user(role="rep", display_name="이영업")
    data = showcase(rep)
    sign_in(rep.email)

    page.get_by_role("searchbox", name="고객 검색").press_sequentially("민준", delay=50)
    page.locator("#global-search-results").get_by_role("listitem").filter(has_text="김민준").click()
    expect(page).to_have_url(re.compile(rf"/customers/{data['customer'].pk}/$"))
    expect(page).to_have_title("김민준 · 고객 · 단골")
    expect(page.get_by_role("heading", name=re.compile("김민준"), level=1)).to_be_visible()
    expect(page.get_by_test_id("figure-spend")).to_have_text("₩270,000")
    expect(page.get_by_test_id("contact-mobile")).to_have_text("010-****-5678")
    page.locator(".timeline-entry").first.wait_for()
    shot("customer_360_ko")

    # Log a call: it appears at the top of the timeline without leaving the page.
    form = page.locator("#log-call-form")
    form.get_by_label("제목").fill("배송 문의 회신")
    form.get_by_label("내용").fill("택배 지연 안내, 내일 도착 예정")
    form.get_by_role("button", name="통화 저장").click()
    first = page.locator("#timeline-entries .timeline-entry").first
    expect(first).to_contain_text("배송 문의 회신")
    expect(first).to_contain_text("통화")
    expect(page.locator("#log-call-form").get_by_label("제목")).to_have_value("")
    expect(page).to_have_url(re.compile(rf"/customers/{data['customer'].pk}/$"))

    # A filter on the timeline is part of the address, and the back button undoes it.
    page.get_by_role("region", name="타임라인").get_by_label("채널").select_option("visit")
    expect(page).to_have_url(re.compile(r"channel=visit"))
    expect(page.locator("#timeline-entries")).not_to_contain_text("배송 문의 회신")
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/customers/{data['customer'].pk}/$"))

    # English and back.
    page.reload()
    page.get_by_role("button", name="사용자 메뉴 열기").click()
    page.get_by_role("button", name="English").click()
    expect(page).to_have_title("김민준 · Customers · Dangol")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.get_by_text("Lifetime spend")).to_be_visible()
    shot("customer_360_en")
    page.get_by_role("button", name="Open the user menu").click()
    page.get_by_role("button", name="한국어").click()
    expect(page).to_have_title("김민준 · 고객 · 단골")


def test_a_rep_cannot_open_another_teams_customer(
    page: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    rep = make_user(role="rep")
    other = make_customer(full_name="박지훈", owner=make_user(role="rep", team="busan"))
    sign_in(rep.email)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    response = page.goto(f"/customers/{other.pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="페이지를 찾을 수 없습니다")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("박지훈")


def test_masked_without_pii_permission_and_logged_reveal_with_it(
    page: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    rep = make_user(role="rep")
    customer = make_customer(full_name="김민준", owner=rep, contacts=[("mobile", "010-1234-5678")])
    sign_in(rep.email)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.goto(f"/customers/{customer.pk}/")
    expect(page.get_by_test_id("contact-mobile")).to_have_text("010-****-5678")
    expect(page.get_by_role("button", name="전체 보기")).to_have_count(0)
    expect(page.get_by_text("내 역할에서는 연락처가 가려져 보입니다.")).to_be_visible()

    page.context.clear_cookies()
    lead = make_user(role="lead")  # same team, PII permission
    sign_in(lead.email)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.goto(f"/customers/{customer.pk}/")
    expect(page.get_by_test_id("contact-mobile")).to_have_text("010-****-5678")
    assert not PiiAccessLog.objects.exists()
    page.get_by_role("button", name="전체 보기").click()
    expect(page.get_by_test_id("contact-mobile")).to_have_text("010-1234-5678")
    expect(page.get_by_text("이 열람은 개인정보 접속기록에 남았습니다.")).to_be_visible()
    log = PiiAccessLog.objects.get()
    assert (log.user_id, log.object_id, log.channel) == (lead.pk, str(customer.pk), "web")
    page.get_by_role("button", name="가리기").click()
    expect(page.get_by_test_id("contact-mobile")).to_have_text("010-****-5678")


def test_main_pages_render(
    page: Any, shot: Any, make_user: Any, showcase: Any, sign_in: Any
) -> None:
    manager = make_user(role="manager", display_name="한지민")
    data = showcase(manager)
    sign_in(manager.email)
    nav = page.get_by_role("navigation", name="주 메뉴")

    nav.get_by_role("link", name="고객", exact=True).click()
    expect(page.get_by_role("heading", name="고객", exact=True)).to_be_visible()
    page.locator("input[name=ids]").first.check()
    expect(page.get_by_role("region", name="선택한 고객에 대한 작업")).to_be_visible()
    page.get_by_role("link", name="누적 구매액").click()
    expect(page).to_have_url(re.compile(r"sort=-spend"))
    expect(page.locator(".customer-table tbody tr").first).to_contain_text("김민준")
    page.locator("input[name=ids]").nth(1).check()
    page.locator("input[name=ids]").nth(2).check()
    expect(page.get_by_role("region", name="선택한 고객에 대한 작업")).to_contain_text("선택: 2")
    shot("customer_list_ko")

    nav.get_by_role("link", name="조직").click()
    page.get_by_role("link", name="한빛상사").click()
    expect(page.get_by_role("heading", name="한빛상사", level=1)).to_be_visible()
    expect(page.get_by_role("table", name="볼 수 있는 이 조직의 사람")).to_contain_text("김민준")
    shot("organization_ko")

    nav.get_by_role("link", name="상품").click()
    page.get_by_role("link", name="비타민 세럼 30ml").click()
    expect(page.get_by_role("heading", name=re.compile("비타민 세럼"), level=1)).to_be_visible()
    shot("product_ko")

    nav.get_by_role("link", name="주문").click()
    page.get_by_role("link", name=data["order"].number).click()
    expect(
        page.get_by_role("heading", name=re.compile(data["order"].number), level=1)
    ).to_be_visible()
    expect(page.get_by_text("₩104,000").first).to_be_visible()
    shot("order_ko")
