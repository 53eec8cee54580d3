"""Follow-up tasks in a real browser: create one from the customer 360 page, then complete it
on My tasks without leaving the page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.sales.models import Task, TaskStatus

pytestmark = pytest.mark.browser


def test_create_a_follow_up_on_360_and_complete_it_on_my_tasks(
    page: Any, shot: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    rep = make_user(role="rep", display_name="이영업")
    customer = make_customer(full_name="김민준", owner=rep)
    sign_in(rep.email)

    page.goto(f"/customers/{customer.pk}/")
    panel = page.get_by_test_id("customer-tasks")
    expect(panel).to_contain_text("이 고객에게 열린 할 일이 없습니다.")
    expect(page.locator("#task-quick-form")).to_be_hidden()
    panel.get_by_test_id("create-follow-up").click()
    form = page.locator("#task-quick-form")
    form.get_by_label("할 일").fill("재구매 안내 전화")
    form.get_by_label("우선순위").select_option("high")
    form.get_by_role("button", name="할 일 만들기").click()

    item = page.get_by_test_id("customer-task")
    expect(item).to_contain_text("재구매 안내 전화")
    expect(page.get_by_test_id("customer-tasks")).to_contain_text("할 일을 만들었습니다")
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.locator("#task-quick-form")).to_be_hidden()  # folded again, ready for the next
    shot("customer_360_follow_up")
    task = Task.objects.get(customer=customer)
    assert (task.assignee_id, task.priority, task.status) == (rep.pk, "high", TaskStatus.OPEN)

    page.get_by_role("navigation").get_by_role("link", name="내 할 일").first.click()
    expect(page).to_have_url(re.compile(r"/tasks/$"))
    row = page.locator(f"#task-{task.pk}")
    expect(row).to_contain_text("재구매 안내 전화")
    expect(row).to_contain_text("김민준")
    row.get_by_role("button", name="“재구매 안내 전화” 완료로 표시").click()
    expect(page.locator(f"#task-{task.pk}").get_by_test_id("task-status")).to_have_text("완료")
    expect(page).to_have_url(re.compile(r"/tasks/$"))
    shot("my_tasks_done")
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.completed_by_id == rep.pk
