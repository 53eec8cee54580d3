"""API schemas of tasks."""

from __future__ import annotations

import datetime
from typing import Any

from ninja import Field, Schema

from dangol.core.schemas import ApiDateTime
from dangol.sales.models import TaskPriority

PriorityT = TaskPriority


class TaskIn(Schema):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    due_at: ApiDateTime
    priority: PriorityT = TaskPriority.NORMAL
    customer_id: int | None = None
    organization_id: int | None = None
    assignee_id: int | None = Field(
        default=None, description="Who does it; omitted: the caller. Unassigned: use PATCH."
    )


class TaskPatch(Schema):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    due_at: ApiDateTime | None = None
    priority: PriorityT | None = None
    customer_id: int | None = None
    organization_id: int | None = None
    assignee_id: int | None = Field(default=None, description="null: unassigned (team queue)")


class TaskOut(Schema):
    id: int
    title: str
    description: str
    due_at: datetime.datetime
    priority: str
    status: str
    customer_id: int | None
    organization_id: int | None
    assignee_id: int | None
    team_id: int | None
    created_by_id: int | None
    source: str
    source_ref: str
    data: dict[str, Any]
    completed_at: datetime.datetime | None
    completed_by_id: int | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class TaskPage(Schema):
    items: list[TaskOut]
    next_cursor: str | None
