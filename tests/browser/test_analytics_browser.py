"""The analytics dashboards in a real browser: ECharts draws the charts, in Korean and English."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.analytics.tests.test_dashboards import build_shop

pytestmark = pytest.mark.browser


def test_dashboards_draw_charts_in_korean_and_english(
    page: Any, shot: Any, admin: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    rep = make_user(role="rep")
    build_shop(admin, make_customer, rep, runs=2)
    marketer = make_user(role="marketer", display_name="박마케터")
    sign_in(marketer.email)

    page.goto("/analytics/rfm/")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(
        page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="고객", exact=True)
    ).to_be_visible()
    for name in ("segments", "grid", "movement"):
        chart = page.locator(f"[data-chart={name}]")
        expect(chart).to_have_attribute("data-rendered", "true")
        expect(chart.locator("canvas")).to_have_count(1)
    shot("analytics_rfm_ko")
    for path, name in (("cohorts/", "retention"), ("grades/", "distribution")):
        page.goto(f"/analytics/{path}")
        expect(page.locator(f"[data-chart={name}] canvas")).to_have_count(1)
        shot(f"analytics_{path.strip('/')}_ko")

    page.goto("/analytics/rfm/")
    page.locator("button[name=language][value=en]").evaluate("b => b.click()")
    expect(page.get_by_role("heading", name="RFM segments", level=1)).to_be_visible()
    expect(page.locator("[data-chart=segments] canvas")).to_have_count(1)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(
        page.get_by_role("navigation").get_by_role("link", name="Customers", exact=True)
    ).to_be_visible()
    shot("analytics_rfm_en")
