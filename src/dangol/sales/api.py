"""REST endpoints of tasks: list (cursor, filters), create, read, change, complete, reopen,
cancel. Every call goes through ``Task.objects.visible_to``; a task the caller may not see
answers 404."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from ninja import Router, Status

from dangol.api.bulk import require
from dangol.api.pagination import paginate
from dangol.core.errors import FieldError, NotFound, ValidationFailed
from dangol.core.http import AuthedRequest
from dangol.core.models import User
from dangol.core.schemas import ApiDateTime
from dangol.core.visibility import Action
from dangol.customers.models import Customer, Organization
from dangol.sales import services
from dangol.sales.models import Task, TaskSource, TaskStatus
from dangol.sales.schemas import TaskIn, TaskOut, TaskPage, TaskPatch

router = Router(tags=["tasks"])


def _visible_task(request: AuthedRequest, task_id: int, action: Action = Action.VIEW) -> Task:
    task = Task.objects.visible_to(request.user, action).filter(pk=task_id).first()
    if task is None:
        raise NotFound()
    return task


def _links(request: AuthedRequest, data: dict[str, Any]) -> dict[str, Any]:
    """Turn customer_id / organization_id / assignee_id into records the caller may use."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    if "customer_id" in data:
        cid = data.pop("customer_id")
        out["customer"] = None
        if cid is not None:
            out["customer"] = Customer.objects.visible_to(request.user).filter(pk=cid).first()
            if out["customer"] is None:
                errors.append(FieldError("customer_id", "not_found", _("No such customer.")))
    if "organization_id" in data:
        oid = data.pop("organization_id")
        out["organization"] = None
        if oid is not None:
            out["organization"] = (
                Organization.objects.visible_to(request.user).filter(pk=oid).first()
            )
            if out["organization"] is None:
                errors.append(
                    FieldError("organization_id", "not_found", _("No such organization."))
                )
    if "assignee_id" in data:
        uid = data.pop("assignee_id")
        out["assignee"] = None
        if uid is not None:
            out["assignee"] = User.objects.filter(pk=uid).select_related("team").first()
            if out["assignee"] is None:
                errors.append(FieldError("assignee_id", "not_found", _("No such user.")))
    if errors:
        raise ValidationFailed(errors)
    return out


@router.get("", response=TaskPage, summary="List tasks")
def list_tasks(
    request: AuthedRequest,
    status: TaskStatus | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    mine: bool = False,
    customer_id: int | None = None,
    source: TaskSource | None = None,
    due_after: ApiDateTime | None = None,
    due_before: ApiDateTime | None = None,
    sort: str = "due_at",
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    qs = Task.objects.visible_to(request.user)
    if status:
        qs = qs.filter(status=status)
    if mine:
        qs = qs.filter(assignee_id=request.user.pk)
    elif unassigned:
        qs = qs.filter(assignee__isnull=True)
    elif assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if source:
        qs = qs.filter(source=source)
    if due_after is not None:
        qs = qs.filter(due_at__gte=due_after)
    if due_before is not None:
        qs = qs.filter(due_at__lt=due_before)
    page = paginate(
        qs,
        sort=sort,
        allowed=("id", "due_at", "created_at", "updated_at"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("", response={201: TaskOut}, summary="Create a task")
def create_task(request: AuthedRequest, payload: TaskIn) -> Status[Any]:
    require(request, Action.ADD, Task)
    data = payload.dict()
    if data.get("assignee_id") is None:
        data["assignee_id"] = request.user.pk
    links = _links(request, data)
    task = services.create_task(
        data=services.TaskInput(
            title=data["title"],
            description=data["description"],
            due_at=data["due_at"],
            priority=data["priority"],
            **links,
        ),
        actor=request.user,
    )
    return Status(201, task)


@router.get("/{task_id}", response=TaskOut, summary="A task")
def get_task(request: AuthedRequest, task_id: int) -> Task:
    return _visible_task(request, task_id)


@router.patch("/{task_id}", response=TaskOut, summary="Change a task (or give it to someone)")
def update_task(request: AuthedRequest, task_id: int, payload: TaskPatch) -> Task:
    task = _visible_task(request, task_id, Action.CHANGE)
    data = payload.dict(exclude_unset=True)
    links = _links(request, data)
    assignee_given = "assignee" in links
    assignee = links.pop("assignee", None)
    changes = {k: v for k, v in data.items() if v is not None}  # null: leave as it is
    if "description" in data and data["description"] is None:
        changes["description"] = ""  # null description: cleared
    changes.update(links)
    if changes:
        task = services.update_task(task=task, changes=changes, actor=request.user)
    if assignee_given:
        task = services.reassign_task(task=task, assignee=assignee, actor=request.user)
    return task


@router.post("/{task_id}/complete", response=TaskOut, summary="Mark a task done")
def complete_task(request: AuthedRequest, task_id: int) -> Task:
    task = _visible_task(request, task_id, Action.CHANGE)
    return services.complete_task(task=task, actor=request.user)


@router.post("/{task_id}/reopen", response=TaskOut, summary="Open a done or cancelled task again")
def reopen_task(request: AuthedRequest, task_id: int) -> Task:
    task = _visible_task(request, task_id, Action.CHANGE)
    return services.reopen_task(task=task, actor=request.user)


@router.post("/{task_id}/cancel", response=TaskOut, summary="Cancel a task")
def cancel_task(request: AuthedRequest, task_id: int) -> Task:
    task = _visible_task(request, task_id, Action.CHANGE)
    return services.cancel_task(task=task, actor=request.user)
