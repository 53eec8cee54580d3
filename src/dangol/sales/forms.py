"""Forms of the task pages: a new task (full page and the 360 quick action), and editing one."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.models import User
from dangol.core.visibility import Action
from dangol.sales import selectors
from dangol.sales.models import TaskPriority

TEXT = {"class": "form-control"}
SELECT = {"class": "form-select"}


def default_due_date() -> datetime.date:
    """Tomorrow, local time: the usual "call them back" horizon."""
    return timezone.localdate() + datetime.timedelta(days=1)


class TaskForm(forms.Form):
    """What a person fills in for a task; the assignee choices follow the user's scope."""

    title = forms.CharField(
        label=_("What to do"),
        max_length=200,
        error_messages={"required": _("Give the task a title.")},
        widget=forms.TextInput(
            attrs={**TEXT, "placeholder": _("e.g. Call back about the renewal")}
        ),
    )
    due_date = forms.DateField(
        label=_("Due date"),
        initial=default_due_date,
        error_messages={"required": _("Give a due date.")},
        widget=forms.DateInput(attrs={**TEXT, "type": "date"}, format="%Y-%m-%d"),
    )
    due_time = forms.TimeField(
        label=_("Due time"),
        required=False,
        help_text=_("Leave empty for the end of the working day (18:00)."),
        widget=forms.TimeInput(attrs={**TEXT, "type": "time"}, format="%H:%M"),
    )
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=TaskPriority.choices,
        initial=TaskPriority.NORMAL,
        widget=forms.Select(attrs=SELECT),
    )
    assignee: forms.ModelChoiceField[User] = forms.ModelChoiceField(
        label=_("Assignee"),
        queryset=None,
        required=False,
        empty_label=_("Unassigned (team queue)"),
        widget=forms.Select(attrs=SELECT),
    )
    description = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={**TEXT, "rows": 3}),
    )

    END_OF_DAY = datetime.time(18, 0)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = selectors.assignable_users(user).select_related(None)
        if not self.is_bound and "assignee" not in self.initial:
            self.initial["assignee"] = user.pk
        if not selectors.can_pick_assignee(user, Action.ADD):
            field.empty_label = None  # a rep gives tasks only to themselves

    def due_at(self) -> datetime.datetime:
        day: datetime.date = self.cleaned_data["due_date"]
        at: datetime.time = self.cleaned_data.get("due_time") or self.END_OF_DAY
        return timezone.make_aware(datetime.datetime.combine(day, at))

    @classmethod
    def initial_for(cls, task: Any) -> dict[str, Any]:
        due = timezone.localtime(task.due_at)
        return {
            "title": task.title,
            "due_date": due.date(),
            "due_time": due.time().replace(second=0, microsecond=0),
            "priority": task.priority,
            "assignee": task.assignee_id,
            "description": task.description,
        }
