"""Signing in through a real browser: Korean by default, errors, the lockout, languages."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.core.models import User

pytestmark = pytest.mark.browser

PASSWORD = "pw-Dangol-2026!"


def test_sign_in_in_korean(page: Any, shot: Any, make_user: Any, make_customer: Any) -> None:
    user = make_user(role="rep", display_name="김지은")
    make_customer(full_name="김민준", owner=user)

    page.goto("/")
    expect(page).to_have_url("/login/?next=/")  # base_url is prepended by Playwright
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", name="단골에 로그인")).to_be_visible()
    shot("login_ko")

    page.get_by_label("이메일").fill(user.email)
    page.get_by_label("비밀번호", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()

    expect(page.get_by_role("heading", name="안녕하세요, 김지은님")).to_be_visible()
    expect(page.get_by_test_id("count-customers")).to_have_text("1")
    nav = page.get_by_role("navigation", name="주 메뉴")
    expect(nav.get_by_role("link", name="고객", exact=True)).to_be_visible()
    shot("home_ko")


def test_wrong_password_is_explained(page: Any, shot: Any, make_user: Any, sign_in: Any) -> None:
    user = make_user()
    sign_in(user.email, "not-the-password")
    alert = page.locator("#login-error")
    expect(alert).to_contain_text("이메일 주소 또는 비밀번호가 올바르지 않습니다")
    expect(page.locator("input[name=username]")).to_have_value(user.email)
    shot("login_wrong_password_ko")


def test_five_wrong_passwords_lock_the_account(
    page: Any, shot: Any, make_user: Any, sign_in: Any
) -> None:
    user = make_user()
    for _ in range(5):
        sign_in(user.email, "not-the-password")
    expect(page.locator("#login-error")).to_contain_text("15분 동안 로그인이 잠겼습니다")
    shot("login_locked_ko")

    sign_in(user.email, PASSWORD)  # the right password, still refused
    expect(page.locator("#login-error")).to_contain_text("잠겼습니다")
    assert User.objects.get(pk=user.pk).locked_until is not None


def test_switch_to_english_and_back(page: Any, shot: Any, make_user: Any, sign_in: Any) -> None:
    user = make_user(display_name="Jieun")
    page.goto("/login/")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Sign in to Dangol")).to_be_visible()
    shot("login_en")

    sign_in(user.email)
    expect(page.get_by_role("heading", name="Hello, Jieun")).to_be_visible()
    shot("home_en")

    page.get_by_role("button", name="Open the user menu").click()
    expect(page.get_by_role("link", name="Time zone: Asia/Seoul")).to_be_visible()
    shot("user_menu_en")
    page.get_by_role("button", name="한국어").click()
    expect(page.get_by_role("heading", name="안녕하세요, Jieun님")).to_be_visible()
    assert User.objects.get(pk=user.pk).language == "ko"


def test_unknown_url_shows_the_styled_404(page: Any, shot: Any) -> None:
    response = page.goto("/no-such-page/")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="페이지를 찾을 수 없습니다")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Traceback")
    # Styled: Tabler's stylesheet loaded (a .card has a border radius and a white background).
    radius = page.locator(".card").first.evaluate("e => getComputedStyle(e).borderRadius")
    assert radius not in ("", "0px")
    shot("error_404_ko")
