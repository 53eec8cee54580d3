"""Staff-app view tests (Django test client). Users and roles come from the root conftest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dangol.web.testing import apply_test_settings

PASSWORD = "pw-Dangol-2026!"  # the root conftest's make_user default


@pytest.fixture(autouse=True)
def _web_settings(settings: Any, tmp_path: Path) -> None:
    apply_test_settings(settings)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests
    settings.MEDIA_ROOT = tmp_path / "media"  # uploads and exports stay in the test's folder


@pytest.fixture
def manager(client: Any, make_user: Any) -> Any:
    """A signed-in manager (all customers, imports and exports)."""
    user = make_user("manager", email="manager@dangol.test")
    client.force_login(user)
    return user


@pytest.fixture
def signed_in(client: Any, make_user: Any) -> Any:
    """``signed_in(role="rep")`` → (client, user), the user signed in through the login page."""

    def sign_in(**kw: Any) -> tuple[Any, Any]:
        user = make_user(**kw)
        response = client.post("/login/", {"username": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.content[:500]
        return client, user

    return sign_in


@pytest.fixture
def make_product(db: Any) -> Any:
    """``make_product(name=..., price=...)`` through the commerce service."""
    import uuid
    from decimal import Decimal

    from dangol.commerce import services

    def make(**kw: Any) -> Any:
        return services.create_product(
            actor=None,
            sku=kw.pop("sku", f"SKU-{uuid.uuid4().hex[:8]}"),
            name=kw.pop("name", "수분 크림"),
            price=kw.pop("price", Decimal("32000")),
            **kw,
        )

    return make


@pytest.fixture
def make_order(db: Any, make_product: Any) -> Any:
    """``make_order(customer, amount=..., placed_at=...)``: a paid order of one product."""
    from decimal import Decimal

    from dangol.commerce import services

    def make(customer: Any, amount: int = 32000, quantity: int = 1, **kw: Any) -> Any:
        product = kw.pop("product", None) or make_product(price=Decimal(amount))
        return services.place_order(
            data=services.OrderInput(
                customer=customer, lines=[services.LineInput(product, quantity)], **kw
            ),
            actor=None,
        )

    return make
