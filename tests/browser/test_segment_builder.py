"""The segment rule builder in a real browser: conditions change the live count; saving works."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.analytics.models import Segment

pytestmark = pytest.mark.browser


def test_building_a_segment_updates_the_live_count_and_saves(
    page: Any, shot: Any, admin: Any, make_customer: Any, sign_in: Any
) -> None:
    for i in range(3):
        make_customer(actor=admin, full_name=f"서울고객{i}", region="seoul", owner=admin)
    make_customer(actor=admin, full_name="부산고객", region="busan", owner=admin)
    sign_in(admin.email)

    page.goto("/segments/new/")
    count = page.locator(".font-monospace-num span").first
    expect(count).to_have_text("4")  # no condition yet: every customer the user can see

    page.locator("button", has=page.locator("svg")).filter(has_text="조건").first.click()
    page.locator('select[x-model="row.node.op"]').last.select_option("eq")
    page.locator('select[x-model="row.node.value"]').last.select_option("seoul")
    expect(count).to_have_text("3")  # the live count follows the rule

    page.locator("#segment-name").fill("서울 고객")
    shot("segment_builder_ko")
    page.get_by_role("button", name="세그먼트 저장").click()
    expect(page.get_by_role("heading", name="서울 고객")).to_be_visible()
    segment = Segment.objects.get(name="서울 고객")
    assert "seoul" in str(segment.definition)
