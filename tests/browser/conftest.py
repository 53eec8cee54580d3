"""Real-browser tests: Playwright (sync API) driving Debian's headless Chromium.

Run with ``pytest tests/browser``; ``DANGOL_SCREENSHOTS=1`` also saves full-page screenshots to
``var/screenshots/<name>.png``. Static files are served unhashed from the finders (see
``dangol.web.testing``), so ``npm run build`` must have run; ``collectstatic`` need not.
Chromium comes from the system (``/usr/bin/chromium``, or ``DANGOL_CHROMIUM``); we never run
``playwright install``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dangol.web.testing import apply_test_settings, assets_built

# Playwright's sync API runs an event loop in this thread; Django's ORM would otherwise refuse
# to run here ("You cannot call this from an async context").
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("DANGOL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("DANGOL_SCREENSHOTS", "") == "1"
PASSWORD = "pw-Dangol-2026!"  # the root conftest's make_user default


@pytest.fixture(autouse=True)
def _browser_settings(settings: Any) -> None:
    apply_test_settings(settings)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        # Never a silent skip: a machine without Chromium cannot claim the UI works.
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set DANGOL_CHROMIUM)")
    if not assets_built():
        pytest.fail("front-end assets are missing: run `npm install && npm run build` first")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def page(
    _playwright: Any, live_server: Any, transactional_db: Any, tmp_path: Path
) -> Iterator[Any]:
    """A fresh headless Chromium (own profile) with a Korean browser locale."""
    context = _playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        locale="ko-KR",
        timezone_id="Asia/Seoul",
        viewport={"width": 1366, "height": 900},
        base_url=live_server.url,
    )
    context.set_default_timeout(10_000)
    pg = context.pages[0] if context.pages else context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def shot(page: Any) -> Callable[[str], None]:
    """``shot("login_ko")`` saves var/screenshots/login_ko.png when DANGOL_SCREENSHOTS=1."""
    from django.conf import settings

    def take(name: str) -> None:
        if not SCREENSHOTS:
            return
        folder = Path(settings.VAR_DIR) / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        page.screenshot(path=str(folder / f"{safe}.png"), full_page=True)

    return take


@pytest.fixture
def sign_in(page: Any) -> Callable[[str, str], None]:
    """Sign in through the login page (whatever its language)."""

    def go(email: str, password: str = PASSWORD) -> None:
        page.goto("/login/")
        page.locator("input[name=username]").fill(email)
        page.locator("input[name=password]").fill(password)
        page.locator("form[action='/login/'] button[type=submit]").click()

    return go


@pytest.fixture
def showcase(make_user: Any, make_customer: Any) -> Callable[..., dict[str, Any]]:
    """``showcase(owner)``: a realistic customer (contacts, orders, calls, consents, tags, an
    organization) owned by `owner`, built through the services."""

    def build(owner: Any) -> dict[str, Any]:
        import datetime
        from decimal import Decimal

        from django.utils import timezone

        from dangol.commerce import services as commerce
        from dangol.core.services import define_custom_field, tag_objects
        from dangol.customers import services

        now = timezone.now()
        define_custom_field(
            object_type="customers.customer",
            key="skin",
            label="피부 타입",
            field_type="choice",
            choices=["건성", "지성", "복합성"],
        )
        customer = make_customer(
            full_name="김민준",
            owner=owner,
            lifecycle_stage="repeat",
            region="seoul",
            gender="M",
            birth_date=datetime.date(1988, 4, 12),
            signup_channel="온라인몰",
            custom_fields={"skin": "복합성"},
            contacts=[("mobile", "010-1234-5678"), ("email", "minjun.kim@example.com")],
        )
        services.add_address(
            customer=customer,
            line1="서울특별시 강남구 테헤란로 152",
            line2="12층",
            postal_code="06236",
            region="seoul",
            city="강남구",
            actor=owner,
        )
        for i, name in enumerate(["이서연", "박지훈", "최유진", "정하늘", "강도윤"]):
            other = make_customer(
                full_name=name,
                owner=owner,
                lifecycle_stage=["customer", "lead", "prospect", "repeat", "lapsed"][i],
                region=["busan", "seoul", "gyeonggi", "incheon", "daegu"][i],
                contacts=[("mobile", f"010-{2000 + i * 111}-{3000 + i * 7}")],
            )
            tag_objects(objs=[other], names=["신규"] if i % 2 else ["VIP"])
        tag_objects(objs=[customer], names=["VIP", "선물 포장"])
        org = services.create_organization(
            name="한빛상사",
            owner=owner,
            actor=owner,
            industry="유통",
            region="seoul",
            size="50-299",
        )
        services.link_to_organization(
            customer=customer, organization=org, role="구매 담당", is_primary=True, actor=owner
        )
        channel = commerce.create_sales_channel(
            code="online", name="공식 온라인몰", kind="online", actor=None
        )
        cream = commerce.create_product(
            actor=None,
            sku="HYD-CRM-50",
            name="수분 크림 50ml",
            price=Decimal(38000),
            brand="단골뷰티",
            line="수분",
            tier="standard",
        )
        serum = commerce.create_product(
            actor=None,
            sku="VIT-SRM-30",
            name="비타민 세럼 30ml",
            price=Decimal(52000),
            brand="단골뷰티",
            line="비타민",
            tier="premium",
        )
        orders = []
        for days, lines in [(120, [(cream, 2)]), (45, [(serum, 1), (cream, 1)]), (6, [(serum, 2)])]:
            orders.append(
                commerce.place_order(
                    data=commerce.OrderInput(
                        customer=customer,
                        channel=channel,
                        organization=org if days == 45 else None,
                        placed_at=now - datetime.timedelta(days=days),
                        lines=[commerce.LineInput(p, q) for p, q in lines],
                    ),
                    actor=None,
                )
            )
        services.grant_consent(
            customer=customer,
            channel="sms",
            actor=owner,
            evidence="가입 시 동의",
            at=now - datetime.timedelta(days=200),
        )
        services.grant_consent(
            customer=customer,
            channel="email",
            actor=owner,
            evidence="가입 시 동의",
            at=now - datetime.timedelta(days=200),
        )
        services.withdraw_consent(
            customer=customer,
            channel="email",
            actor=owner,
            evidence="수신 거부 링크",
            at=now - datetime.timedelta(days=30),
        )
        services.record_interaction(
            customer=customer,
            channel="phone",
            kind="call",
            direction="outbound",
            subject="재구매 안내",
            body="비타민 세럼 재입고 안내, 다음 주 방문 예정",
            occurred_at=now - datetime.timedelta(days=5),
            actor=owner,
        )
        services.record_interaction(
            customer=customer,
            channel="store",
            kind="visit",
            direction="inbound",
            subject="매장 방문 상담",
            body="피부 타입 상담 후 샘플 제공",
            occurred_at=now - datetime.timedelta(days=20),
            actor=owner,
        )
        services.add_note(
            customer=customer, body="선물 포장을 선호함. 연말 선물 세트 제안.", actor=owner
        )
        return {"customer": customer, "organization": org, "product": serum, "order": orders[-1]}

    return build
