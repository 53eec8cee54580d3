"""Tasks on the customer timeline (registered from SalesConfig.ready): ``task_created`` at its
creation and ``task_done`` when it was done, each one query on its (customer, time) index.
Only the tasks the viewer may see are listed (``Task.objects.visible_to``)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dangol.core.visibility import Action, can
from dangol.customers.timeline import TimelineEntry, TimelineRequest, register_timeline_source
from dangol.sales.models import Task, TaskStatus


def _visible(r: TimelineRequest) -> QuerySet[Task]:
    return Task.objects.visible_to(r.user).filter(customer=r.customer)


def _created(r: TimelineRequest) -> list[TimelineEntry]:
    qs = _visible(r).select_related("assignee", "created_by")
    return [
        TimelineEntry(
            kind="task_created",
            at=t.created_at,
            id=t.pk,
            title=t.title,
            heading=_("Task created: %(title)s") % {"title": t.title},
            icon="check",
            url=reverse("web:task_detail", args=[t.pk]),
            badge=str(t.get_source_display()) if t.source != "manual" else "",
            badge_class="bg-purple-lt",
            meta=_("Due %(when)s · %(who)s")
            % {
                "when": t.due_at.strftime("%Y-%m-%d"),
                "who": t.assignee or _("Unassigned"),
            },
            staff=str(t.created_by) if t.created_by_id and t.created_by else "",
            obj=t,
        )
        for t in r.window(qs, "task_created", "created_at")
    ]


def _completed(r: TimelineRequest) -> list[TimelineEntry]:
    qs = (
        _visible(r)
        .filter(status=TaskStatus.DONE, completed_at__isnull=False)
        .select_related("completed_by")
    )
    return [
        TimelineEntry(
            kind="task_done",
            at=t.completed_at,
            id=t.pk,
            title=t.title,
            heading=_("Task completed: %(title)s") % {"title": t.title},
            icon="check",
            url=reverse("web:task_detail", args=[t.pk]),
            badge=str(TaskStatus.DONE.label),
            badge_class="bg-green-lt",
            staff=str(t.completed_by) if t.completed_by_id and t.completed_by else "",
            obj=t,
        )
        for t in r.window(qs, "task_done", "completed_at")
        if t.completed_at is not None
    ]


def register() -> None:
    """Put created and completed tasks on the customer timeline."""

    def allowed(user: object) -> bool:
        return can(user, Action.VIEW, Task)

    register_timeline_source(
        "task_created", gettext_lazy("Tasks created"), _created, allowed=allowed, position=70
    )
    register_timeline_source(
        "task_done", gettext_lazy("Tasks completed"), _completed, allowed=allowed, position=71
    )
