"""Shared fixtures: staff with roles, customers built through the services, API clients."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _jobs_run_inline(request: pytest.FixtureRequest) -> Iterator[None]:
    """Jobs run at once (in memory) unless the test is marked ``jobs`` (real storage)."""
    from dangol.jobs import huey

    huey.immediate = request.node.get_closest_marker("jobs") is None
    yield
    huey.immediate = False


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """Tests create many users: a fast hasher (production keeps Django's PBKDF2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Every test starts in the default language (Korean). A request made by an earlier test
    leaves its language active in the thread, which would make labels depend on test order."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


CUSTOMER_TYPES = [
    "customers.customer",
    "customers.organization",
    "customers.contactpoint",
    "customers.address",
    "customers.externalid",
    "customers.consent",
    "customers.consentevent",
    "customers.interaction",
    "customers.note",
    "customers.organizationmembership",
    "commerce.order",
    "commerce.orderline",
    "commerce.return",
    "commerce.payment",
    "sales.task",
]
REFERENCE_TYPES = ["commerce.product", "commerce.productcategory", "commerce.saleschannel"]
ALL_ACTIONS = ["view", "add", "change", "delete", "export"]


def grants(scope: str, actions: list[str] | None = None) -> dict[str, tuple[list[str], str]]:
    acts = actions or ALL_ACTIONS
    out = dict.fromkeys(CUSTOMER_TYPES, (acts, scope))
    out.update({t: (["view"], "all") for t in REFERENCE_TYPES})
    return out


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    from dangol.core.services import create_team

    return {"seoul": create_team(name="서울 영업팀"), "busan": create_team(name="부산 영업팀")}


@pytest.fixture
def roles(db: Any) -> dict[str, Any]:
    from dangol.core.services import create_role

    return {
        "rep": create_role(name="Sales rep", grants=grants("own")),
        "lead": create_role(name="Team lead", grants=grants("team"), can_view_pii=True),
        "agent": create_role(
            name="Service agent", grants=grants("all", ["view", "change", "add"]), can_view_pii=True
        ),
        "marketer": create_role(name="Marketer", grants=grants("all", ["view", "export"])),
        "manager": create_role(
            name="Manager",
            grants={**grants("all"), **dict.fromkeys(REFERENCE_TYPES, (ALL_ACTIONS, "all"))},
            can_view_pii=True,
        ),
    }


@pytest.fixture
def make_user(db: Any, roles: dict[str, Any], teams: dict[str, Any]) -> Callable[..., Any]:
    from dangol.core.services import create_user

    def make(role: str | None = "rep", team: str | None = "seoul", **kw: Any) -> Any:
        email = kw.pop("email", f"{role or 'user'}-{uuid.uuid4().hex[:6]}@dangol.test")
        return create_user(
            email=email,
            password=kw.pop("password", "pw-Dangol-2026!"),
            role=roles[role] if role else None,
            team=teams[team] if team else None,
            display_name=kw.pop("display_name", email.split("@")[0]),
            **kw,
        )

    return make


@pytest.fixture
def admin(make_user: Callable[..., Any]) -> Any:
    return make_user(role=None, team=None, is_superuser=True, email="admin@dangol.test")


@pytest.fixture
def make_customer(db: Any) -> Callable[..., Any]:
    from dangol.customers import services

    def make(actor: Any = None, **kw: Any) -> Any:
        contacts = kw.pop("contacts", [])
        data = services.CustomerInput(
            full_name=kw.pop("full_name", "김민준"),
            contacts=[services.ContactInput(k, v) for k, v in contacts],
            **kw,
        )
        return services.create_customer(data=data, actor=actor)

    return make


@pytest.fixture
def api(db: Any) -> Callable[..., Any]:
    """``api(user, scope="write")`` → a test client authenticated with a fresh token."""
    from django.test import Client

    from dangol.core.services import create_api_token

    def make(user: Any, scope: str = "write") -> Client:
        _, raw = create_api_token(user=user, name="test", scope=scope)
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


class _Mailbox:
    """What the test SMTP server received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email
        from email import policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def bodies(self) -> list[str]:
        return [m.get_body(preferencelist=("plain",)).get_content() for m in self.messages]


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[_Mailbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port; Django sends to it over SMTP."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield mailbox
    finally:
        controller.stop()
