"""Signing in by e-mail, the lockout, sign-out, password change and reset."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dangol.core import auth
from dangol.core.models import ChangeLog, User

PASSWORD = "pw-Dangol-2026!"  # the root conftest's make_user default

pytestmark = pytest.mark.django_db


def login(client: Any, email: str, password: str) -> Any:
    return client.post("/login/", {"username": email, "password": password})


def test_login_page_is_korean_by_default(client: Any) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    assert '<html lang="ko">' in response.content.decode()
    assert "단골에 로그인" in response.content.decode()


def test_login_page_stays_korean_for_an_english_browser(client: Any) -> None:
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "단골에 로그인" in response.content.decode()


def test_login_page_follows_the_language_cookie(client: Any) -> None:
    client.cookies["django_language"] = "en"
    assert "Sign in to Dangol" in client.get("/login/").content.decode()


def test_sign_in_with_email_in_any_case_lands_on_home(client: Any, make_user: Any) -> None:
    user = make_user(email="minji@dangol.test")
    response = login(client, "  MinJi@Dangol.TEST ", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").context["user"] == user


def test_wrong_password_says_so_without_revealing_the_account(client: Any, make_user: Any) -> None:
    user = make_user()
    wrong = login(client, user.email, "nope").content.decode()
    unknown = login(client, "nobody@dangol.test", "nope").content.decode()
    message = "이메일 주소 또는 비밀번호가 올바르지 않습니다"
    assert message in wrong
    assert message in unknown
    user.refresh_from_db()
    assert user.failed_logins == 1


def test_five_failures_lock_the_account_for_fifteen_minutes(client: Any, make_user: Any) -> None:
    user = make_user()
    for _ in range(4):
        assert "올바르지 않습니다" in login(client, user.email, "nope").content.decode()
    fifth = login(client, user.email, "nope").content.decode()
    assert "15분" in fifth
    user.refresh_from_db()
    assert user.locked_until is not None
    assert timedelta(minutes=14) < user.locked_until - timezone.now() <= timedelta(minutes=15)
    # Even the right password is refused while locked.
    right = login(client, user.email, PASSWORD)
    assert right.status_code == 200
    assert "15분" in right.content.decode()
    assert ChangeLog.objects.filter(action="user.locked_out", object_id=str(user.pk)).exists()


def test_the_lock_runs_out(client: Any, make_user: Any) -> None:
    user = make_user()
    User.objects.filter(pk=user.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert login(client, user.email, PASSWORD).status_code == 302
    user.refresh_from_db()
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_unknown_addresses_lock_too_so_the_message_reveals_nothing(client: Any) -> None:
    for _ in range(auth.MAX_FAILED_LOGINS):
        response = login(client, "ghost@dangol.test", "nope")
    assert "15분" in response.content.decode()
    assert auth.is_locked_out("GHOST@dangol.test")


def test_a_success_clears_the_failure_count(client: Any, make_user: Any) -> None:
    user = make_user()
    login(client, user.email, "nope")
    login(client, user.email, "nope")
    assert login(client, user.email, PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.failed_logins == 0


def test_inactive_users_cannot_sign_in(client: Any, make_user: Any) -> None:
    user = make_user()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert login(client, user.email, PASSWORD).status_code == 200


def test_pages_need_sign_in(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_sign_out_is_a_post(signed_in: Any) -> None:
    client, _user = signed_in()
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_password_change(signed_in: Any) -> None:
    client, user = signed_in()
    response = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "Another-pw-2026!",
            "new_password2": "Another-pw-2026!",
        },
    )
    assert response["Location"] == "/account/password/done/"
    user.refresh_from_db()
    assert user.check_password("Another-pw-2026!")
    assert ChangeLog.objects.filter(action="user.password_changed").exists()


def test_password_reset_by_email_also_lifts_a_lock(
    client: Any, make_user: Any, smtp_server: Any
) -> None:
    user = make_user()
    User.objects.filter(pk=user.pk).update(
        locked_until=timezone.now() + timedelta(minutes=10), failed_logins=0
    )
    response = client.post("/password-reset/", {"email": user.email})
    assert response["Location"] == "/password-reset/sent/"
    assert len(smtp_server.messages) == 1  # delivered over SMTP to the test server
    assert smtp_server.messages[0]["To"] == user.email
    body = smtp_server.bodies()[0]
    link = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", body)
    assert link, body
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "Fresh-pw-2026!", "new_password2": "Fresh-pw-2026!"},
    )
    assert response["Location"] == "/password-reset/done/"
    assert login(client, user.email, "Fresh-pw-2026!").status_code == 302


def test_password_reset_does_not_reveal_unknown_addresses(client: Any, smtp_server: Any) -> None:
    response = client.post("/password-reset/", {"email": "nobody@dangol.test"})
    assert response["Location"] == "/password-reset/sent/"
    assert smtp_server.messages == []
