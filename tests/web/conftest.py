"""Staff-app view tests (Django test client). Users and roles come from the root conftest."""

from __future__ import annotations

from typing import Any

import pytest

from dangol.web.testing import apply_test_settings

PASSWORD = "pw-Dangol-2026!"  # the root conftest's make_user default


@pytest.fixture(autouse=True)
def _web_settings(settings: Any) -> None:
    apply_test_settings(settings)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests


@pytest.fixture
def signed_in(client: Any, make_user: Any) -> Any:
    """``signed_in(role="rep")`` → (client, user), the user signed in through the login page."""

    def sign_in(**kw: Any) -> tuple[Any, Any]:
        user = make_user(**kw)
        response = client.post("/login/", {"username": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.content[:500]
        return client, user

    return sign_in
