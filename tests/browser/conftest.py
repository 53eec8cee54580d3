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
