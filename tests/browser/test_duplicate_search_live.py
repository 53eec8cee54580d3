"""The duplicate queue follows a running search: its status polls while the run is running and
the list reloads with the new pairs when it ends, without a reload by hand."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.integration import services
from dangol.integration.models import DedupeRun, DedupeRunStatus
from dangol.integration.tests.test_duplicates import engine_pairs

pytestmark = pytest.mark.browser


def test_the_queue_shows_the_pairs_of_a_search_that_ends_while_it_is_open(
    page: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    manager = make_user("manager")
    a = make_customer(full_name="정하늘", external_ids=[("pos", "M0001")])
    b = make_customer(full_name="정하늘", external_ids=[("pos", "M0006")])
    run = DedupeRun.objects.create(started_by=manager)  # a search is running
    sign_in(manager.email)

    page.goto("/data/duplicates/")
    expect(page.locator("#search-status")).to_have_attribute("data-status", "running")
    expect(page.locator(".duplicate-pair")).to_have_count(0)

    # the worker finishes: the run ends and a pair is stored
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.99, "name")]))
    DedupeRun.objects.filter(pk=run.pk).update(status=DedupeRunStatus.COMPLETED)

    expect(page.locator(".duplicate-pair")).to_have_count(1)
    expect(page.locator("#search-status")).to_have_attribute("data-status", "completed")
    expect(page.locator(".duplicate-pair")).to_contain_text("M0006")
    page.get_by_test_id("compare").click()
    expect(page.locator("h1.page-title")).to_contain_text(f"#{a.pk}")
