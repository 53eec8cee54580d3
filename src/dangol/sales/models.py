"""Sales force automation: activities, starting with follow-up tasks (할 일).

A task is a piece of work for one member of staff about one customer (or organization): call
back, send a quote, win back a valuable customer whose churn risk has just turned high. Tasks are
scoped on their own columns: a role's ``own`` scope covers the tasks assigned to the user or
created by them, ``team`` adds every task of the user's team (see ``TaskQuerySet.visible_to``).
"""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.visibility import Action, Scope, VisibleQuerySet, object_type_of, scope_for


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class TaskPriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class TaskSource(models.TextChoices):
    """Where a task came from; ``source_ref`` says which record or run exactly."""

    MANUAL = "manual", _("Created by staff")
    CHURN_ALERT = "churn_alert", _("Churn early warning")
    SAVE_LIST = "save_list", _("Customers to save")


PRIORITY_RANK = {
    TaskPriority.URGENT: 0,
    TaskPriority.HIGH: 1,
    TaskPriority.NORMAL: 2,
    TaskPriority.LOW: 3,
}


class TaskQuerySet(VisibleQuerySet):
    """Tasks are scoped by who does them, not by the customer's owner.

    ``own``: tasks assigned to the user or created by them; ``team``: also every task of the
    user's team; ``all``: every task. The grant is ``sales.task``.
    """

    def visible_to(self, user: Any, action: Action | str = Action.VIEW) -> Self:
        scope = scope_for(user, object_type_of(self.model), action)
        if scope is None:
            return self.none()
        if scope == Scope.ALL:
            return self
        q = Q(assignee_id=user.pk) | Q(created_by_id=user.pk)
        if scope == Scope.TEAM and user.team_id:
            q |= Q(team_id=user.team_id)
        return self.filter(q)

    def open(self) -> Self:
        return self.filter(status=TaskStatus.OPEN)


TaskManager = models.Manager.from_queryset(TaskQuerySet)


class Task(models.Model):
    """A follow-up task (할 일): what to do, for which customer, by whom and by when."""

    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
        verbose_name=_("customer"),
    )
    organization = models.ForeignKey(
        "customers.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
        verbose_name=_("organization"),
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    due_at = models.DateTimeField(_("due"))
    priority = models.CharField(
        _("priority"), max_length=10, choices=TaskPriority.choices, default=TaskPriority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assignee"),
    )
    team = models.ForeignKey(
        "core.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    source = models.CharField(
        _("source"), max_length=20, choices=TaskSource.choices, default=TaskSource.MANUAL
    )
    source_ref = models.CharField(_("source reference"), max_length=100, blank=True)
    data = models.JSONField(_("details from the source"), default=dict, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("completed by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    objects = TaskManager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [
            # "my open tasks by due date" (and the same for a team)
            models.Index(fields=["assignee", "status", "due_at", "id"], name="task_assignee_due"),
            models.Index(fields=["team", "status", "due_at", "id"], name="task_team_due"),
            models.Index(fields=["status", "due_at", "id"], name="task_status_due"),
            # the customer's open tasks, and the timeline's two sources
            models.Index(fields=["customer", "status", "due_at"], name="task_customer_due"),
            models.Index(fields=["customer", "created_at"], name="task_customer_created"),
            models.Index(fields=["customer", "completed_at"], name="task_customer_completed"),
        ]
        constraints = [
            # At most one open churn-alert task per customer: alerts are idempotent.
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status="open", source="churn_alert"),
                name="task_one_open_churn_alert",
            ),
            models.CheckConstraint(
                condition=Q(status="done", completed_at__isnull=False) | ~Q(status="done"),
                name="task_done_has_completed_at",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == TaskStatus.OPEN

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()

    @property
    def due_bucket(self) -> str:
        """ "overdue", "today" or "upcoming" in the current time zone (open tasks)."""
        if not self.is_open:
            return ""
        now = timezone.localtime()
        due = timezone.localtime(self.due_at)
        if due.date() < now.date():
            return "overdue"
        if due.date() == now.date():
            return "today"
        return "upcoming"
