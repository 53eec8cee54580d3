"""Entering customers and organizations in a real browser: the new-customer form in Korean
with its duplicate warning, and the organization form's parent picker (htmx + Alpine)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.customers import services
from dangol.customers.models import Consent, Customer

pytestmark = pytest.mark.browser


def test_a_clerk_enters_a_customer_in_korean_and_lands_on_the_360_page(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    rep = make_user(role="rep", display_name="이영업")
    existing = make_customer(full_name="박지훈", owner=rep, contacts=[("mobile", "010-2222-3333")])
    sign_in(rep.email)

    page.goto("/customers/")
    page.get_by_role("link", name="새 고객").click()
    expect(page).to_have_url(re.compile(r"/customers/new/$"))
    expect(page).to_have_title("새 고객 · 고객 · 단골")
    page.get_by_label("성", exact=True).fill("김")
    page.get_by_label("이름", exact=True).fill("서연")
    page.get_by_label("휴대전화").fill("010-5555-6666")
    page.get_by_role("textbox", name="이메일").fill("seoyeon.kim@example.com")
    page.get_by_label("생년월일").fill("1990-03-15")
    page.get_by_label("성별").select_option(label="여성")
    page.get_by_label("지역").select_option(label="부산")
    page.get_by_label("가입 채널").select_option(label="매장")
    expect(page.get_by_label("담당자")).to_have_value(str(rep.pk))
    page.get_by_label("문자(SMS)").check()
    page.get_by_label("동의 경로").fill("매장에서 서면 동의")
    shot("customer_new_ko")
    page.get_by_role("button", name="고객 만들기").click()

    created = Customer.objects.get(full_name="김서연")
    expect(page).to_have_url(re.compile(rf"/customers/{created.pk}/$"))
    expect(page).to_have_title("김서연 · 고객 · 단골")
    expect(
        page.get_by_role("status").filter(has_text="고객 김서연 님을 등록했습니다.")
    ).to_be_visible()
    expect(page.get_by_test_id("contact-mobile")).to_have_text("010-****-6666")
    assert (created.owner, created.region, created.signup_channel) == (rep, "busan", "store")
    assert Consent.objects.get(customer=created).channel == "sms"

    # The same mobile as an existing customer: a warning first, then "create anyway".
    page.goto("/customers/new/")
    page.get_by_label("성명").fill("박지훈")
    page.get_by_label("휴대전화").fill("01022223333")
    page.get_by_role("button", name="고객 만들기").click()
    warning = page.get_by_role("alert").filter(has_text="이미 있는 고객일 수 있습니다")
    expect(warning).to_be_visible()
    expect(warning.get_by_role("link", name="박*훈")).to_have_attribute(
        "href", f"/customers/{existing.pk}/"
    )
    expect(warning).to_contain_text("같은 휴대전화 번호")
    shot("customer_new_duplicates_ko")
    assert Customer.objects.filter(full_name="박지훈").count() == 1
    page.get_by_role("button", name="그래도 새로 만들기").click()
    expect(page).to_have_title("박지훈 · 고객 · 단골")
    assert Customer.objects.filter(full_name="박지훈").count() == 2


def test_the_parent_picker_finds_a_group_company_and_saves_it(
    page: Any, shot: Any, make_user: Any, sign_in: Any
) -> None:
    manager = make_user(role="manager")
    group = services.create_organization(name="한빛그룹", owner=manager, actor=manager)
    org = services.create_organization(name="한빛상사", owner=manager, actor=manager)
    sign_in(manager.email)

    page.goto(f"/organizations/{org.pk}/")
    page.get_by_role("link", name="수정").click()
    expect(page).to_have_url(re.compile(rf"/organizations/{org.pk}/edit/$"))
    page.get_by_label("모회사").press_sequentially("한빛", delay=50)
    options = page.locator("#parent-options")
    expect(options.get_by_role("listitem")).to_have_count(1)  # not the organization itself
    options.get_by_role("listitem").filter(has_text="한빛그룹").click()
    expect(page.get_by_test_id("parent-chosen")).to_contain_text("한빛그룹")
    page.get_by_label("사업자등록번호").fill("2208162517")
    shot("organization_edit_ko")
    page.get_by_role("button", name="저장").click()

    expect(page).to_have_url(re.compile(rf"/organizations/{org.pk}/$"))
    expect(page.get_by_text("220-81-62517")).to_be_visible()
    expect(page.get_by_role("link", name="한빛그룹")).to_be_visible()
    org.refresh_from_db()
    assert org.parent == group
