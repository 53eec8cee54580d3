"""Task services: create, edit, complete, reopen, cancel, reassign; audit rows, events after
commit, who may be given a task; visibility by scope; the churn follow-up; merges."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from dangol.core import events
from dangol.core.errors import Conflict, ValidationFailed
from dangol.core.models import ChangeLog
from dangol.sales import services
from dangol.sales.models import Task, TaskSource, TaskStatus

pytestmark = pytest.mark.django_db

received: list[events.Event] = []


@events.subscriber("task.created", "task.completed", "task.reopened", "task.reassigned")
def _record(event: events.Event) -> None:
    received.append(event)


@pytest.fixture(autouse=True)
def _clear() -> Any:
    received.clear()
    yield
    received.clear()


def test_create_task_audits_and_emits_after_commit(
    make_user: Any, make_customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rep = make_user(role="rep")
    customer = make_customer(full_name="김민준", owner=rep)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = services.create_task(
            data=services.TaskInput(
                title="  견적 다시 보내기 ",
                due_at=timezone.now() + datetime.timedelta(days=2),
                customer=customer,
                assignee=rep,
            ),
            actor=rep,
        )
        assert received == []  # nothing delivered before commit
    for callback in callbacks:
        callback()

    assert task.title == "견적 다시 보내기" and task.status == TaskStatus.OPEN
    assert task.team == rep.team and task.created_by == rep
    assert ChangeLog.objects.filter(action="task.created", object_id=str(task.pk)).exists()
    assert [(e.name, e.data["customer_id"]) for e in received] == [("task.created", customer.pk)]


def test_create_task_rejects_a_blank_title_and_a_naive_due_time(make_user: Any) -> None:
    rep = make_user(role="rep")
    with pytest.raises(ValidationFailed) as exc:
        services.create_task(
            data=services.TaskInput(title=" ", due_at=datetime.datetime(2026, 1, 1)), actor=rep
        )
    assert {e.field for e in exc.value.errors} == {"title", "due_at"}
    assert not Task.objects.exists()


def test_a_rep_gives_tasks_only_to_themselves_a_lead_to_the_team(make_user: Any) -> None:
    rep, other_rep = make_user(role="rep"), make_user(role="rep")
    lead = make_user(role="lead")
    busan_rep = make_user(role="rep", team="busan")
    due = timezone.now() + datetime.timedelta(days=1)

    with pytest.raises(ValidationFailed):
        services.create_task(
            data=services.TaskInput(title="x", due_at=due, assignee=other_rep), actor=rep
        )
    task = services.create_task(
        data=services.TaskInput(title="팀원에게", due_at=due, assignee=rep), actor=lead
    )
    assert task.assignee == rep and task.team == rep.team
    with pytest.raises(ValidationFailed):
        services.reassign_task(task=task, assignee=busan_rep, actor=lead)


def test_complete_reopen_cancel(
    make_user: Any, make_task: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rep = make_user(role="rep")
    with django_capture_on_commit_callbacks(execute=True):
        task = make_task(rep)
    with django_capture_on_commit_callbacks(execute=True):
        done = services.complete_task(task=task, actor=rep)
    assert done.status == TaskStatus.DONE and done.completed_by == rep
    assert done.completed_at is not None
    again = services.complete_task(task=done, actor=rep)  # a retry changes nothing
    assert again.completed_at == done.completed_at
    with pytest.raises(Conflict):
        services.cancel_task(task=done, actor=rep)

    with django_capture_on_commit_callbacks(execute=True):
        reopened = services.reopen_task(task=done, actor=rep)
    assert reopened.status == TaskStatus.OPEN and reopened.completed_at is None
    cancelled = services.cancel_task(task=reopened, actor=rep)
    assert cancelled.status == TaskStatus.CANCELLED
    with pytest.raises(Conflict):
        services.complete_task(task=cancelled, actor=rep)
    actions = list(
        ChangeLog.objects.filter(object_type="sales.task", object_id=str(task.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["task.created", "task.completed", "task.reopened", "task.cancelled"]
    assert [e.name for e in received] == ["task.created", "task.completed", "task.reopened"]


def test_update_task_records_only_what_changed(make_user: Any, make_task: Any) -> None:
    rep = make_user(role="rep")
    task = make_task(rep, title="처음")
    services.update_task(task=task, changes={"title": "나중", "priority": "high"}, actor=rep)
    row = ChangeLog.objects.get(action="task.updated", object_id=str(task.pk))
    assert row.before == {"title": "처음", "priority": "normal"}
    assert row.after == {"title": "나중", "priority": "high"}
    with pytest.raises(ValidationFailed):
        services.update_task(task=task, changes={"status": "done"}, actor=rep)


def test_reassign_moves_the_task_to_the_new_assignees_team(
    make_user: Any, make_task: Any, django_capture_on_commit_callbacks: Any
) -> None:
    manager = make_user(role="manager", team=None)
    rep = make_user(role="rep")
    busan = make_user(role="rep", team="busan")
    task = make_task(manager, assignee=rep)
    with django_capture_on_commit_callbacks(execute=True):
        moved = services.reassign_task(task=task, assignee=busan, actor=manager)
    assert moved.assignee == busan and moved.team == busan.team
    assert received[-1].name == "task.reassigned"
    assert received[-1].data["previous_assignee_id"] == rep.pk


def test_visibility_a_rep_sees_own_a_lead_the_team_a_manager_all(
    make_user: Any, make_task: Any
) -> None:
    rep, colleague = make_user(role="rep"), make_user(role="rep")
    lead = make_user(role="lead")
    busan_rep = make_user(role="rep", team="busan")
    manager = make_user(role="manager", team=None)
    mine = make_task(rep, title="mine")
    colleagues = make_task(colleague, title="colleague's")
    busan = make_task(busan_rep, title="busan")
    delegated = make_task(lead, title="given by the lead", assignee=rep)

    def titles(user: Any) -> set[str]:
        return set(Task.objects.visible_to(user).values_list("title", flat=True))

    assert titles(rep) == {mine.title, delegated.title}
    assert titles(lead) == {mine.title, colleagues.title, delegated.title}
    assert titles(manager) == {mine.title, colleagues.title, busan.title, delegated.title}
    assert titles(make_user(role=None)) == set()


def test_churn_follow_up_goes_to_the_owner_once(make_user: Any, make_customer: Any) -> None:
    rep = make_user(role="rep")
    customer = make_customer(full_name="이서연", owner=rep)
    alert = {"churn_risk": 0.82, "previous_band": "medium", "value_at_risk": 410000.0,
             "drivers": ["150일째 구매 없음"], "run_id": 7}  # fmt: skip

    task = services.open_churn_follow_up(customer=customer, alert=alert)
    assert task is not None and task.assignee == rep and task.source == TaskSource.CHURN_ALERT
    assert task.priority == "high" and "이서연" in task.title
    assert "150일째 구매 없음" in task.description and task.source_ref == "run:7"
    assert "이탈 위험 82% (이전: 보통)" in task.description
    assert services.open_churn_follow_up(customer=customer, alert=alert) is None
    assert Task.objects.filter(customer=customer).count() == 1

    services.complete_task(task=task, actor=rep)
    assert services.open_churn_follow_up(customer=customer, alert=alert) is not None


def test_churn_follow_up_without_owner_waits_in_the_team_queue(
    make_user: Any, make_customer: Any, teams: dict[str, Any]
) -> None:
    lead = make_user(role="lead")
    customer = make_customer(full_name="박지훈", team=teams["seoul"])
    task = services.open_churn_follow_up(customer=customer, alert={"churn_risk": 0.9})
    assert task is not None and task.assignee is None and task.team == teams["seoul"]
    assert Task.objects.visible_to(lead).filter(pk=task.pk).exists()


def test_merge_moves_tasks_and_keeps_one_open_churn_task(
    admin: Any, make_user: Any, make_customer: Any, make_task: Any
) -> None:
    from dangol.customers.merge import merge_customers, unmerge

    rep = make_user(role="rep")
    survivor = make_customer(full_name="김하나", owner=rep)
    duplicate = make_customer(full_name="김하나", owner=rep)
    services.open_churn_follow_up(customer=survivor, alert={"churn_risk": 0.8})
    dup_churn = services.open_churn_follow_up(customer=duplicate, alert={"churn_risk": 0.8})
    manual = make_task(rep, customer=duplicate)
    assert dup_churn is not None

    record = merge_customers(survivor=survivor, duplicates=[duplicate], actor=admin)
    assert set(Task.objects.filter(customer=survivor).values_list("pk", flat=True)) >= {
        dup_churn.pk,
        manual.pk,
    }
    assert Task.objects.get(pk=dup_churn.pk).status == TaskStatus.CANCELLED
    assert Task.objects.filter(customer=survivor, source="churn_alert", status="open").count() == 1

    unmerge(merge=record, actor=admin)
    assert Task.objects.get(pk=dup_churn.pk).customer_id == duplicate.pk
    assert Task.objects.get(pk=dup_churn.pk).status == TaskStatus.OPEN
