"""Reads of tasks that the pages and the API share, always through ``visible_to``."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from dangol.core.models import User
from dangol.core.visibility import Action, Scope, scope_for
from dangol.sales.models import Task, TaskStatus

OPEN_ON_CUSTOMER = 10  # open tasks listed on the customer 360 page


class DueRange:
    """Named due ranges of the task list filter."""

    OVERDUE = "overdue"
    TODAY = "today"
    WEEK = "week"
    LATER = "later"
    ALL = ("overdue", "today", "week", "later")


def tasks_for(user: Any, action: str = Action.VIEW) -> QuerySet[Task]:
    """The tasks `user` may see (or do `action` to), with what a list row shows."""
    return Task.objects.visible_to(user, action).select_related(
        "customer", "organization", "assignee", "team"
    )


def task_detail(user: Any, task_id: int, action: str = Action.VIEW) -> Task | None:
    return (
        tasks_for(user, action)
        .select_related("created_by", "completed_by")
        .filter(pk=task_id)
        .first()
    )


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def due_filter(due: str, *, now: datetime.datetime | None = None) -> Q:
    """The condition for a named due range, in the current time zone."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    start, tomorrow = _day_start(today), _day_start(today + datetime.timedelta(days=1))
    if due == DueRange.OVERDUE:
        return Q(due_at__lt=start)
    if due == DueRange.TODAY:
        return Q(due_at__gte=start, due_at__lt=tomorrow)
    if due == DueRange.WEEK:
        return Q(due_at__gte=start, due_at__lt=_day_start(today + datetime.timedelta(days=7)))
    if due == DueRange.LATER:
        return Q(due_at__gte=tomorrow)
    return Q()


@dataclass(frozen=True)
class TaskFilters:
    """The list's filters: status ("" = any), assignee ("me", "unassigned", a user id, or ""
    for everyone visible), due range name, due from/to dates, customer."""

    status: str = TaskStatus.OPEN
    assignee: str = "me"
    due: str = ""
    due_from: datetime.date | None = None
    due_to: datetime.date | None = None
    customer_id: int | None = None


def filter_tasks(qs: QuerySet[Task], user: Any, f: TaskFilters) -> QuerySet[Task]:
    if f.status in TaskStatus.values:
        qs = qs.filter(status=f.status)
    if f.assignee == "me":
        qs = qs.filter(assignee_id=user.pk)
    elif f.assignee == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif f.assignee.isdigit():
        qs = qs.filter(assignee_id=int(f.assignee))
    if f.due in DueRange.ALL:
        qs = qs.filter(due_filter(f.due))
    if f.due_from:
        qs = qs.filter(due_at__gte=_day_start(f.due_from))
    if f.due_to:
        qs = qs.filter(due_at__lt=_day_start(f.due_to + datetime.timedelta(days=1)))
    if f.customer_id:
        qs = qs.filter(customer_id=f.customer_id)
    return qs


def open_tasks_of_customer(user: Any, customer_id: int) -> list[Task]:
    """The customer's open tasks the user may see, soonest due first (one query)."""
    return list(
        tasks_for(user)
        .filter(customer_id=customer_id, status=TaskStatus.OPEN)
        .order_by("due_at", "id")[:OPEN_ON_CUSTOMER]
    )


def counts_by_bucket(user: Any) -> dict[str, int]:
    """How many of the user's own open tasks are overdue, due today, and later (one query)."""
    from django.db.models import Count

    now = timezone.now()
    qs = Task.objects.visible_to(user).filter(assignee_id=user.pk, status=TaskStatus.OPEN)
    row = qs.aggregate(
        overdue=Count("id", filter=due_filter(DueRange.OVERDUE, now=now)),
        today=Count("id", filter=due_filter(DueRange.TODAY, now=now)),
        upcoming=Count("id", filter=due_filter(DueRange.LATER, now=now)),
    )
    return {k: int(v or 0) for k, v in row.items()}


def assignable_users(user: Any) -> QuerySet[User]:
    """Whom `user` may give tasks to (see ``services.check_assignee``)."""
    users = User.objects.filter(is_active=True).order_by("display_name", "email")
    if getattr(user, "is_superuser", False):
        return users
    scope = scope_for(user, "sales.task", Action.ADD) or scope_for(
        user, "sales.task", Action.CHANGE
    )
    if scope == Scope.ALL:
        return users
    if scope == Scope.TEAM and user.team_id:
        return users.filter(Q(team_id=user.team_id) | Q(pk=user.pk))
    return users.filter(pk=user.pk)


def can_pick_assignee(user: Any, action: str = Action.VIEW) -> bool:
    """Whether the user works with other people's tasks (team leads and managers): the list
    offers the assignee filter, the form the choice of assignee."""
    scope = scope_for(user, "sales.task", action)
    return scope in (Scope.TEAM, Scope.ALL)
