"""Every state change of a task: create, edit, complete, reopen, cancel, reassign.

A task is never created for, or moved onto, a customer merged into another record
(``customer_merged``, from ``customers.services.ensure_not_merged``).

Each service runs in one transaction, writes its change-log row and emits its domain event
(``task.created``, ``task.updated``, ``task.completed``, ``task.reopened``, ``task.cancelled``,
``task.reassigned``) after commit through ``core.events``. ``actor`` is None for the system
(the churn early warning creates tasks on its own).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.analytics.models import ChurnBand
from dangol.core import audit, events
from dangol.core.errors import Conflict, FieldError, ValidationFailed
from dangol.core.models import Team, User
from dangol.core.visibility import Action, Scope, scope_for
from dangol.customers.models import Customer, Organization
from dangol.customers.services import ensure_not_merged
from dangol.sales.models import Task, TaskPriority, TaskSource, TaskStatus

TITLE_MAX = 200
EDITABLE = ("title", "description", "due_at", "priority", "customer", "organization")
AUDITED = (*EDITABLE, "status", "assignee", "team", "completed_at", "completed_by")


@dataclass
class TaskInput:
    """What a new task needs; the assignee's team is taken when `team` is not given."""

    title: str
    due_at: datetime.datetime
    customer: Customer | None = None
    organization: Organization | None = None
    description: str = ""
    priority: str = TaskPriority.NORMAL
    assignee: User | None = None
    team: Team | None = None
    source: str = TaskSource.MANUAL
    source_ref: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _event_data(task: Task, **extra: Any) -> dict[str, Any]:
    return {
        "task_id": task.pk,
        "title": task.title,
        "customer_id": task.customer_id,
        "organization_id": task.organization_id,
        "assignee_id": task.assignee_id,
        "team_id": task.team_id,
        "status": task.status,
        "priority": task.priority,
        "due_at": task.due_at,
        "source": task.source,
        **extra,
    }


def check_assignee(*, actor: Any, assignee: User | None, action: Action = Action.ADD) -> None:
    """Whom `actor` may give a task to: themselves (``own`` scope), someone in their team
    (``team``), anyone active (``all``). The system (no actor) may assign anyone."""
    if assignee is None or actor is None or getattr(actor, "pk", None) is None:
        if assignee is not None and not assignee.is_active:
            raise ValidationFailed.single("assignee", "inactive", _("This user is not active."))
        return
    if not assignee.is_active:
        raise ValidationFailed.single("assignee", "inactive", _("This user is not active."))
    scope = scope_for(actor, "sales.task", action)
    if scope == Scope.ALL or assignee.pk == actor.pk:
        return
    if scope == Scope.TEAM and actor.team_id and assignee.team_id == actor.team_id:
        return
    raise ValidationFailed.single(
        "assignee", "not_allowed", _("You cannot give tasks to this user.")
    )


def _validate(values: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    title = (values.get("title") or "").strip()
    if not title:
        errors.append(FieldError("title", "required", _("Give the task a title.")))
    elif len(title) > TITLE_MAX:
        errors.append(
            FieldError("title", "too_long", _("At most %(n)d characters.") % {"n": TITLE_MAX})
        )
    due = values.get("due_at")
    if due is None:
        errors.append(FieldError("due_at", "required", _("Give a due date.")))
    elif timezone.is_naive(due):
        errors.append(FieldError("due_at", "invalid", _("Give a time zone with the due time.")))
    if values.get("priority") not in TaskPriority.values:
        errors.append(FieldError("priority", "invalid_choice", _("Unknown priority.")))
    if errors:
        raise ValidationFailed(errors)
    values["title"] = title


@transaction.atomic
def create_task(*, data: TaskInput, actor: Any) -> Task:
    """Create an open task. The team is the assignee's, else the customer's, else the actor's."""
    if data.source not in TaskSource.values:
        raise ValidationFailed.single("source", "invalid_choice", _("Unknown source."))
    values: dict[str, Any] = {
        "title": data.title,
        "due_at": data.due_at,
        "priority": data.priority,
    }
    _validate(values)
    check_assignee(actor=actor, assignee=data.assignee)
    ensure_not_merged(data.customer)  # a merged-away customer's work belongs on its survivor
    team = data.team
    if team is None and data.assignee is not None:
        team = data.assignee.team
    if team is None and data.customer is not None:
        team = data.customer.team
    if team is None and getattr(actor, "team_id", None):
        team = actor.team
    actor_id = getattr(actor, "pk", None)
    try:
        with transaction.atomic():
            task = Task.objects.create(
                **values,
                description=data.description.strip(),
                customer=data.customer,
                organization=data.organization,
                assignee=data.assignee,
                team=team,
                created_by_id=actor_id,
                source=data.source,
                source_ref=data.source_ref[:100],
                data=audit._jsonable(data.data),
            )
    except IntegrityError:
        raise Conflict(
            _("This customer already has an open churn follow-up task."), "duplicate_open_task"
        ) from None
    audit.record(actor, "task.created", task, after=audit.snapshot(task, AUDITED))
    events.emit("task.created", task, **_event_data(task))
    return task


def _locked(task: Task) -> Task:
    """The task row, locked for this transaction (read-then-write without races)."""
    return Task.objects.select_for_update().get(pk=task.pk)


@transaction.atomic
def update_task(*, task: Task, changes: dict[str, Any], actor: Any) -> Task:
    """Change the title, description, due time, priority, customer or organization."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed.single(
            sorted(unknown)[0], "not_editable", _("This field cannot be changed here.")
        )
    locked = _locked(task)
    before = audit.snapshot(locked, AUDITED)
    values = {
        "title": changes.get("title", locked.title),
        "due_at": changes.get("due_at", locked.due_at),
        "priority": changes.get("priority", locked.priority),
    }
    _validate(values)
    if changes.get("customer") is not None and changes["customer"].pk != locked.customer_id:
        ensure_not_merged(changes["customer"])
    for name in EDITABLE:
        if name in values:
            setattr(locked, name, values[name])
        elif name in changes:
            value = changes[name]
            setattr(locked, name, value.strip() if isinstance(value, str) else value)
    after = audit.snapshot(locked, AUDITED)
    old, new = audit.diff(before, after)
    if not new:
        return locked
    locked.updated_at = timezone.now()
    locked.save()
    audit.record(actor, "task.updated", locked, before=old, after=new)
    events.emit("task.updated", locked, **_event_data(locked, changed=sorted(new)))
    return locked


def _set_status(task: Task, *, status: str, actor: Any, action: str) -> Task:
    locked = _locked(task)
    if locked.status == status:
        return locked  # completing a done task twice changes nothing (safe to retry)
    before = audit.snapshot(locked, AUDITED)
    now = timezone.now()
    locked.status = status
    if status == TaskStatus.DONE:
        locked.completed_at, locked.completed_by_id = now, getattr(actor, "pk", None)
    else:
        locked.completed_at, locked.completed_by_id = None, None
    locked.updated_at = now
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:  # reopening a churn task while a newer one is open
        raise Conflict(
            _("This customer already has an open churn follow-up task."), "duplicate_open_task"
        ) from None
    old, new = audit.diff(before, audit.snapshot(locked, AUDITED))
    audit.record(actor, action, locked, before=old, after=new)
    events.emit(action, locked, **_event_data(locked))
    return locked


@transaction.atomic
def complete_task(*, task: Task, actor: Any) -> Task:
    """Mark the task done, now, by `actor`."""
    if task.status == TaskStatus.CANCELLED:
        raise Conflict(_("A cancelled task cannot be completed; reopen it first."), "cancelled")
    return _set_status(task, status=TaskStatus.DONE, actor=actor, action="task.completed")


@transaction.atomic
def reopen_task(*, task: Task, actor: Any) -> Task:
    """Open a done or cancelled task again."""
    return _set_status(task, status=TaskStatus.OPEN, actor=actor, action="task.reopened")


@transaction.atomic
def cancel_task(*, task: Task, actor: Any) -> Task:
    """Drop a task that no longer needs doing (kept, with its history)."""
    if task.status == TaskStatus.DONE:
        raise Conflict(_("A done task cannot be cancelled; reopen it first."), "done")
    return _set_status(task, status=TaskStatus.CANCELLED, actor=actor, action="task.cancelled")


@transaction.atomic
def reassign_task(
    *, task: Task, assignee: User | None, actor: Any, team: Team | None = None
) -> Task:
    """Give the task to `assignee` (None: unassigned, left to the team); the team follows the
    assignee unless `team` is given."""
    check_assignee(actor=actor, assignee=assignee, action=Action.CHANGE)
    locked = _locked(task)
    new_team = team or (assignee.team if assignee is not None and assignee.team_id else locked.team)
    if locked.assignee_id == getattr(assignee, "pk", None) and locked.team_id == getattr(
        new_team, "pk", None
    ):
        return locked
    before = audit.snapshot(locked, AUDITED)
    previous = locked.assignee_id
    locked.assignee, locked.team = assignee, new_team
    locked.updated_at = timezone.now()
    locked.save()
    old, new = audit.diff(before, audit.snapshot(locked, AUDITED))
    audit.record(actor, "task.reassigned", locked, before=old, after=new)
    events.emit("task.reassigned", locked, **_event_data(locked, previous_assignee_id=previous))
    return locked


def churn_follow_up_title(customer: Customer) -> str:
    return _("Win back %(name)s: churn risk is high") % {"name": customer.full_name or customer.pk}


@transaction.atomic
def open_churn_follow_up(
    *, customer: Customer, alert: dict[str, Any], due_in_days: int = 2
) -> Task | None:
    """The follow-up for a valuable customer whose churn risk turned high (system action).

    Assigned to the customer's owner; a customer without an owner gets an unassigned task in
    the customer's team queue (without a team: a task only managers with the ``all`` scope see).
    Idempotent: None when the customer already has an open churn follow-up.
    """
    if Task.objects.filter(
        customer=customer, source=TaskSource.CHURN_ALERT, status=TaskStatus.OPEN
    ).exists():
        return None
    owner = customer.owner if customer.owner is not None and customer.owner.is_active else None
    risk = alert.get("churn_risk")
    value = alert.get("value_at_risk")
    band = alert.get("previous_band") or ""
    lines = [
        _("Churn risk %(risk)s%% (was %(band)s).")
        % {
            "risk": round(float(risk) * 100) if risk is not None else "—",
            "band": ChurnBand(band).label if band in ChurnBand.values else "—",
        }
    ]
    if value is not None:
        lines.append(_("Value at risk: ₩%(value)s") % {"value": f"{round(float(value)):,}"})
    lines += [f"· {d}" for d in alert.get("drivers") or []]
    try:
        return create_task(
            data=TaskInput(
                title=churn_follow_up_title(customer),
                description="\n".join(lines),
                due_at=timezone.now() + datetime.timedelta(days=due_in_days),
                customer=customer,
                priority=TaskPriority.HIGH,
                assignee=owner,
                team=owner.team if owner is not None and owner.team_id else customer.team,
                source=TaskSource.CHURN_ALERT,
                source_ref=f"run:{alert.get('run_id') or ''}",
                data={
                    k: alert.get(k)
                    for k in ("churn_risk", "previous_band", "clv_12m", "value_at_risk", "drivers")
                },
            ),
            actor=None,
        )
    except Conflict:  # a concurrent delivery of the same alert won the race
        return None
