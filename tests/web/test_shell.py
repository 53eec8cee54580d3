"""The shell: home counts by visibility, search as you type, language and time zone, errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import RequestFactory

from dangol.commerce.services import LineInput, OrderInput, create_product, place_order
from dangol.core.models import User
from dangol.web.middleware import KoreanFirstLocaleMiddleware
from dangol.web.views import server_error

pytestmark = pytest.mark.django_db


def test_home_counts_only_what_the_user_may_see(
    signed_in: Any, make_user: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")
    other = make_user(role="rep", team="busan")
    mine = make_customer(full_name="김민준", owner=rep)
    make_customer(full_name="이서연", owner=rep)
    theirs = make_customer(full_name="박지훈", owner=other)
    product = create_product(actor=None, sku="SKU-1", name="수분 크림", price=Decimal(32000))
    place_order(data=OrderInput(customer=mine, lines=[LineInput(product, 1)]), actor=None)
    place_order(data=OrderInput(customer=theirs, lines=[LineInput(product, 2)]), actor=None)

    counts = client.get("/").context["counts"]

    assert (counts.customers, counts.orders_last_30_days) == (2, 1)


def test_home_without_a_role_says_so(signed_in: Any) -> None:
    client, _user = signed_in(role=None)
    body = client.get("/").content.decode()
    assert "관리자에게 역할 지정을 요청하세요" in body
    assert 'href="/customers/"' not in body  # no navigation entry without the grant


def test_search_as_you_type_returns_a_fragment_of_visible_customers(
    signed_in: Any, make_user: Any, make_customer: Any
) -> None:
    client, rep = signed_in(role="rep")
    make_customer(full_name="김민준", owner=rep)
    make_customer(full_name="김민서", owner=make_user(role="rep", team="busan"))

    response = client.get("/search/", {"q": "김민"}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert "<html" not in body
    assert "김민준" in body
    assert "김민서" not in body


def test_search_page_asks_for_two_characters(signed_in: Any) -> None:
    client, _user = signed_in()
    assert "2자 이상 입력하세요" in client.get("/search/", {"q": "김"}).content.decode()


def test_switching_language_sets_the_cookie_and_remembers_it(signed_in: Any) -> None:
    client, user = signed_in()
    response = client.post("/language/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "en"
    user.refresh_from_db()
    assert user.language == "en"
    assert "Hello," in client.get("/").content.decode()


def test_a_users_saved_language_applies_on_a_new_browser(client: Any, make_user: Any) -> None:
    make_user(email="en@dangol.test", language="en")
    client.post("/login/", {"username": "en@dangol.test", "password": "pw-Dangol-2026!"})
    assert "Hello," in client.get("/").content.decode()


def test_preferences_save_language_and_time_zone(signed_in: Any) -> None:
    client, user = signed_in()
    response = client.post(
        "/account/preferences/", {"language": "ko", "timezone": "America/New_York"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.timezone == "America/New_York"
    assert "America/New_York" in client.get("/").content.decode()


def test_preferences_reject_an_unknown_time_zone(signed_in: Any) -> None:
    client, user = signed_in()
    response = client.post("/account/preferences/", {"language": "ko", "timezone": "Mars/Base"})
    assert response.status_code == 200
    assert User.objects.get(pk=user.pk).timezone == "Asia/Seoul"


def test_unknown_url_is_a_styled_404_without_a_stack_trace(client: Any) -> None:
    response = client.get("/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "페이지를 찾을 수 없습니다" in body
    assert "lib/tabler/tabler.min.css" in body
    assert "Traceback" not in body


def test_server_error_page_renders_without_a_request_context(rf: RequestFactory) -> None:
    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "시스템에서 오류가 발생했습니다" in response.content.decode()


def test_the_locale_ignores_the_browsers_accept_language(rf: RequestFactory) -> None:
    request = rf.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    KoreanFirstLocaleMiddleware(lambda r: None).process_request(request)  # type: ignore[arg-type]
    assert request.LANGUAGE_CODE == "ko"
    request = rf.get("/")
    request.COOKIES["django_language"] = "en"
    KoreanFirstLocaleMiddleware(lambda r: None).process_request(request)  # type: ignore[arg-type]
    assert request.LANGUAGE_CODE == "en"
