"""The shell in a real browser: the Korean font, search as you type, the customer list."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_pretendard_draws_korean(page: Any, make_user: Any, sign_in: Any) -> None:
    user = make_user(display_name="김지은")
    sign_in(user.email)
    expect(page.get_by_role("heading", name="안녕하세요, 김지은님")).to_be_visible()
    page.evaluate("document.fonts.ready")
    family = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert family.startswith('"Pretendard Variable"')
    assert page.evaluate("document.fonts.check('16px \"Pretendard Variable\"', '안녕하세요')")
    loaded = page.evaluate(
        "[...document.fonts].filter(f => f.family.includes('Pretendard') && f.status === 'loaded')"
        ".length"
    )
    assert loaded > 0


def test_global_search_as_you_type(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    user = make_user(role="rep")
    make_customer(full_name="김민준", owner=user)
    make_customer(full_name="김민서", owner=make_user(role="rep", team="busan"))
    sign_in(user.email)

    box = page.get_by_role("searchbox", name="고객 검색")
    box.press_sequentially("김민", delay=50)
    results = page.locator("#global-search-results")
    expect(results).to_contain_text("김민준")
    expect(results).not_to_contain_text("김민서")
    shot("search_as_you_type_ko")


def test_customer_list(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    user = make_user(role="rep")
    for name, stage, phone in [
        ("김민준", "repeat", "010-1234-5678"),
        ("이서연", "customer", "010-2222-3333"),
        ("박지훈", "lead", "010-9876-5432"),
    ]:
        make_customer(
            full_name=name, owner=user, lifecycle_stage=stage, contacts=[("mobile", phone)]
        )
    sign_in(user.email)

    page.get_by_role("navigation", name="주 메뉴").get_by_role(
        "link", name="고객", exact=True
    ).click()
    expect(page.get_by_role("heading", name="고객", exact=True)).to_be_visible()
    table = page.get_by_role("table")
    expect(table.get_by_role("row")).to_have_count(4)
    expect(table).to_contain_text("010-****-5678")
    shot("customer_list_ko")

    page.get_by_label("고객 단계").select_option("lead")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table).to_contain_text("박지훈")


def test_keyboard_users_can_skip_to_content_and_see_focus(page: Any) -> None:
    page.goto("/password-reset/")  # a page without an autofocused field
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="본문으로 건너뛰기")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.goto("/login/")
    page.keyboard.press("Tab")  # from the autofocused e-mail field to the next control
    focused = page.locator(":focus")
    outline = focused.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline == "solid"
