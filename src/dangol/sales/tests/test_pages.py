"""Task pages: My tasks (buckets, filters, scope, complete in place, query counts), a task's
page, a new task, the 360 follow-up panel and its slot, the navigation entry."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.sales.models import Task, TaskStatus

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_my_tasks_groups_open_tasks_by_due(login: Any, make_user: Any, make_task: Any) -> None:
    rep = make_user(role="rep")
    make_task(rep, title="어제 할 일", due_at=timezone.now() - datetime.timedelta(days=1))
    make_task(rep, title="다음 주 할 일", due_in=7)
    make_task(make_user(role="rep"), title="동료의 할 일")
    body = login(rep).get("/tasks/").content.decode()

    assert "내 할 일" in body  # title and navigation entry, in Korean
    assert "어제 할 일" in body and "다음 주 할 일" in body and "동료의 할 일" not in body
    assert body.index("어제 할 일") < body.index("다음 주 할 일")
    assert "기한 지남" in body  # the overdue group


def test_filters_status_due_and_assignee_for_leads(
    login: Any, make_user: Any, make_task: Any
) -> None:
    rep, lead = make_user(role="rep"), make_user(role="lead")
    make_task(rep, title="오늘 할 일", due_at=timezone.now().replace(hour=23, minute=0))
    make_task(rep, title="나중 할 일", due_in=20)
    client = login(lead)

    mine = client.get("/tasks/").content.decode()
    assert "오늘 할 일" not in mine  # the lead's own list is empty
    team = client.get("/tasks/", {"assignee": ""}).content.decode()
    assert "오늘 할 일" in team and "나중 할 일" in team
    due_week = client.get("/tasks/", {"assignee": str(rep.pk), "due": "week"}).content.decode()
    assert "나중 할 일" not in due_week
    # a rep cannot look at someone else's list: the assignee filter is ignored
    assert (
        "나중 할 일"
        not in login(make_user(role="rep"))
        .get("/tasks/", {"assignee": str(rep.pk)})
        .content.decode()
    )


def test_complete_with_htmx_returns_the_row(login: Any, make_user: Any, make_task: Any) -> None:
    rep = make_user(role="rep")
    task = make_task(rep, title="견적서 보내기")
    client = login(rep)
    r = client.post(f"/tasks/{task.pk}/complete/", {"render": "row"}, **HTMX)

    assert r.status_code == 200
    row = r.content.decode()
    assert row.lstrip().startswith(f'<tr id="task-{task.pk}"') and "완료" in row
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE
    other = make_task(make_user(role="rep", team="busan"))
    assert client.post(f"/tasks/{other.pk}/complete/", {"render": "row"}).status_code == 404


def test_task_list_query_count_does_not_grow(
    login: Any, make_user: Any, make_customer: Any, make_task: Any
) -> None:
    lead = make_user(role="lead")
    client = login(lead)

    def grow(n: int) -> None:
        for i in range(n):
            rep = make_user(role="rep")
            customer = make_customer(full_name=f"고객{i}", owner=rep)
            make_task(lead, assignee=rep, customer=customer, due_in=i)

    grow(1)
    client.get("/tasks/", {"assignee": ""})
    with CaptureQueriesContext(connection) as few:
        client.get("/tasks/", {"assignee": ""})
    grow(6)
    with CaptureQueriesContext(connection) as many:
        r = client.get("/tasks/", {"assignee": ""})
    assert r.content.decode().count('data-testid="task-row"') == 7
    assert len(many) == len(few)


def test_keyset_pages_walk_every_task(login: Any, make_user: Any, make_task: Any) -> None:
    from dangol.sales import views

    rep = make_user(role="rep")
    for i in range(views.PAGE_SIZE + 3):
        make_task(rep, title=f"할 일 {i:02d}", due_in=i + 1)
    client = login(rep)
    first = client.get("/tasks/")
    page = first.context["page"]
    assert len(page.items) == views.PAGE_SIZE and page.next_cursor
    second = client.get("/tasks/", {"after": page.next_cursor}).context["page"]
    assert [t.title for t in second.items] == [f"할 일 {i:02d}" for i in range(30, 33)]


def test_task_page_edits_and_reassigns(login: Any, make_user: Any, make_task: Any) -> None:
    lead, rep = make_user(role="lead"), make_user(role="rep")
    task = make_task(lead, title="처음 제목")
    client = login(lead)
    assert "처음 제목" in client.get(f"/tasks/{task.pk}/").content.decode()
    r = client.post(
        f"/tasks/{task.pk}/",
        {
            "title": "바뀐 제목",
            "due_date": (timezone.localdate() + datetime.timedelta(days=3)).isoformat(),
            "due_time": "10:30",
            "priority": "high",
            "assignee": str(rep.pk),
            "description": "",
        },
    )
    assert r.status_code == 302
    task.refresh_from_db()
    assert (task.title, task.priority, task.assignee) == ("바뀐 제목", "high", rep)
    assert timezone.localtime(task.due_at).time() == datetime.time(10, 30)
    # the rep sees it now; someone from another team does not
    assert login(rep).get(f"/tasks/{task.pk}/").status_code == 200
    assert login(make_user(role="rep", team="busan")).get(f"/tasks/{task.pk}/").status_code == 404


def test_customer_360_has_the_slot_and_the_panel_creates_a_follow_up(
    login: Any, make_user: Any, make_customer: Any
) -> None:
    rep = make_user(role="rep")
    customer = make_customer(full_name="정다은", owner=rep)
    client = login(rep)
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert f'hx-get="/customers/{customer.pk}/tasks/"' in page

    panel = client.get(f"/customers/{customer.pk}/tasks/", **HTMX).content.decode()
    assert "후속 할 일 만들기" in panel and "열린 할 일이 없습니다" in panel
    due = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    r = client.post(
        f"/customers/{customer.pk}/tasks/",
        {"task-title": "샘플 보내기", "task-due_date": due, "task-priority": "normal",
         "task-assignee": str(rep.pk)},
        **HTMX,
    )  # fmt: skip
    assert r.status_code == 200 and "샘플 보내기" in r.content.decode()
    task = Task.objects.get(customer=customer)
    assert task.assignee == rep and task.created_by == rep

    invalid = client.post(
        f"/customers/{customer.pk}/tasks/", {"task-title": "", "task-due_date": due}, **HTMX
    ).content.decode()
    assert "할 일 제목을 입력하세요" in invalid and Task.objects.count() == 1
    done = client.post(f"/tasks/{task.pk}/complete/", {"render": "panel"}, **HTMX)
    assert "열린 할 일이 없습니다" in done.content.decode()


def test_panel_for_a_customer_out_of_scope_is_404(
    login: Any, make_user: Any, make_customer: Any
) -> None:
    other = make_user(role="rep", team="busan")
    customer = make_customer(full_name="남의 고객", owner=other)
    client = login(make_user(role="rep"))
    assert client.get(f"/customers/{customer.pk}/tasks/").status_code == 404
    assert client.get("/tasks/new/", {"customer": customer.pk}).status_code == 404


def test_new_task_from_the_save_list(login: Any, make_user: Any, make_customer: Any) -> None:
    rep = make_user(role="rep")
    customer = make_customer(full_name="한가람", owner=rep)
    client = login(rep)
    form = client.get("/tasks/new/", {"customer": customer.pk, "source": "save_list"})
    assert "한가람" in form.content.decode()
    due = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()
    r = client.post(
        f"/tasks/new/?customer={customer.pk}&source=save_list",
        {"title": "한가람 고객 방어", "due_date": due, "priority": "high",
         "assignee": str(rep.pk), "next": "/analytics/churn/"},
    )  # fmt: skip
    assert r.status_code == 302 and r["Location"] == "/analytics/churn/"
    task = Task.objects.get()
    assert task.source == "save_list" and task.customer == customer
    assert timezone.localtime(task.due_at).time() == datetime.time(18, 0)


def test_roles_without_the_grant_see_no_entry_and_no_page(login: Any, make_user: Any) -> None:
    nobody = make_user(role=None)
    client = login(nobody)
    assert client.get("/tasks/").status_code == 404
    rep_home = login(make_user(role="rep")).get("/").content.decode()
    assert 'href="/tasks/"' in rep_home


def test_tasks_on_the_customer_timeline(make_user: Any, make_customer: Any, make_task: Any) -> None:
    from dangol.customers.timeline import customer_timeline, kind_choices
    from dangol.sales import services

    rep = make_user(role="rep")
    customer = make_customer(full_name="오세린", owner=rep)
    task = make_task(rep, title="재구매 안내 전화", customer=customer)
    services.complete_task(task=task, actor=rep)

    entries = customer_timeline(user=rep, customer=customer)
    assert [(e.kind, e.id) for e in entries if e.kind.startswith("task")] == [
        ("task_done", task.pk),
        ("task_created", task.pk),
    ]
    assert "할 일 완료: 재구매 안내 전화" in [str(e.heading) for e in entries]
    assert ("task_created", "만든 할 일") in kind_choices(rep)
    # a lead of another team does not see the seoul rep's task on the timeline
    lead = make_user(role="lead", team="busan")
    assert not [
        e for e in customer_timeline(user=lead, customer=customer) if e.kind.startswith("task")
    ]


def test_customer_panel_query_count_does_not_grow(
    login: Any, make_user: Any, make_customer: Any, make_task: Any
) -> None:
    lead = make_user(role="lead")
    customer = make_customer(full_name="고정연", owner=lead)
    client = login(lead)
    path = f"/customers/{customer.pk}/tasks/"

    def grow(n: int) -> None:
        for i in range(n):
            make_task(lead, assignee=make_user(role="rep"), customer=customer, due_in=i)

    grow(1)
    client.get(path, **HTMX)
    with CaptureQueriesContext(connection) as few:
        client.get(path, **HTMX)
    grow(5)
    with CaptureQueriesContext(connection) as many:
        body = client.get(path, **HTMX).content.decode()
    assert body.count('data-testid="customer-task"') == 6
    assert len(many) == len(few)
