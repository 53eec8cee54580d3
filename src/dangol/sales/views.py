"""Staff pages of tasks: My tasks (filters, keyset pages, complete in place), a task's page,
a new task, and the follow-up panel on the customer 360 page (loaded by htmx, so the customers
app needs no import of sales)."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dangol.core.errors import ServiceError
from dangol.core.visibility import Action, can
from dangol.customers.models import Customer
from dangol.sales import selectors, services
from dangol.sales.forms import TaskForm
from dangol.sales.models import Task, TaskPriority, TaskSource, TaskStatus
from dangol.sales.selectors import DueRange, TaskFilters
from dangol.web.htmx import wants_fragment
from dangol.web.pagination import KeysetOrder, page_of_request

PAGE_SIZE = 30
TASK_ORDER = KeysetOrder("due_at", descending=False, kind="datetime")  # index (…, due_at, id)
ACTIONS = {
    "complete": services.complete_task,
    "reopen": services.reopen_task,
    "cancel": services.cancel_task,
}


def _date(raw: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _filters(request: HttpRequest, pick_assignee: bool) -> TaskFilters:
    g = request.GET
    status = g.get("status", TaskStatus.OPEN)
    assignee = g.get("assignee", "me") if pick_assignee else "me"
    if assignee not in ("me", "unassigned", "") and not assignee.isdigit():
        assignee = "me"
    customer = g.get("customer", "")
    return TaskFilters(
        status=status if status in TaskStatus.values else "",
        assignee=assignee,
        due=g.get("due", "") if g.get("due", "") in DueRange.ALL else "",
        due_from=_date(g.get("from", "")),
        due_to=_date(g.get("to", "")),
        customer_id=int(customer) if customer.isdigit() else None,
    )


def _base_query(request: HttpRequest) -> str:
    return urlencode(
        [(k, v) for k, vs in request.GET.lists() if k not in ("after", "before") for v in vs]
    )


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    """My tasks (내 할 일): open tasks by due date; leads and managers may look at others'."""
    if not can(request.user, Action.VIEW, Task):
        raise Http404
    pick = selectors.can_pick_assignee(request.user)
    f = _filters(request, pick)
    qs = selectors.filter_tasks(selectors.tasks_for(request.user), request.user, f)
    page = page_of_request(qs, request, order=TASK_ORDER, size=PAGE_SIZE)
    context = {
        "page": page,
        "f": f,
        "pick_assignee": pick,
        "assignees": list(selectors.assignable_users(request.user)[:200]) if pick else [],
        "statuses": TaskStatus.choices,
        "due_ranges": [
            (DueRange.OVERDUE, _("Overdue")),
            (DueRange.TODAY, _("Due today")),
            (DueRange.WEEK, _("Next 7 days")),
            (DueRange.LATER, _("From tomorrow")),
        ],
        "counts": selectors.counts_by_bucket(request.user),
        "customer": (
            Customer.objects.visible_to(request.user).filter(pk=f.customer_id).first()
            if f.customer_id
            else None
        ),
        "base_query": _base_query(request),
        "can_add": can(request.user, Action.ADD, Task),
        "can_change": can(request.user, Action.CHANGE, Task),
        "group_by_due": f.status == TaskStatus.OPEN,
    }
    if wants_fragment(request):
        return render(request, "sales/task_list.html#results", context)
    return render(request, "sales/task_list.html", context)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}):
        return nxt
    return fallback


def _form_errors(form: TaskForm, exc: ServiceError) -> None:
    mapping = {"due_at": "due_date"}
    if not exc.errors:
        form.add_error(None, str(exc.message))
    for e in exc.errors:
        name = mapping.get(e.field, e.field)
        form.add_error(name if name in form.fields else None, str(e.message))


def _create_from_form(
    request: HttpRequest, form: TaskForm, customer: Customer | None, source: str
) -> Task | None:
    if not form.is_valid():
        return None
    try:
        return services.create_task(
            data=services.TaskInput(
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                due_at=form.due_at(),
                priority=form.cleaned_data["priority"],
                assignee=form.cleaned_data["assignee"],
                customer=customer,
                source=source,
            ),
            actor=request.user,
        )
    except ServiceError as exc:
        _form_errors(form, exc)
        return None


@login_required
@require_http_methods(["GET", "POST"])
def task_new(request: HttpRequest) -> HttpResponse:
    """A new task, for a customer when ``?customer=`` names one the user may see."""
    if not can(request.user, Action.ADD, Task):
        raise Http404
    raw = request.GET.get("customer", "")
    customer = (
        Customer.objects.visible_to(request.user).filter(pk=int(raw)).first()
        if raw.isdigit()
        else None
    )
    if raw and customer is None:
        raise Http404
    source = request.GET.get("source", "")
    source = TaskSource.SAVE_LIST if source == TaskSource.SAVE_LIST else TaskSource.MANUAL
    initial: dict[str, Any] = {}
    if customer is not None and source == TaskSource.SAVE_LIST:
        initial = {
            "title": _("Win back %(name)s") % {"name": customer.full_name},
            "priority": TaskPriority.HIGH,
        }
    form = TaskForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST":
        task = _create_from_form(request, form, customer, source)
        if task is not None:
            messages.success(request, _("Task created: %(title)s") % {"title": task.title})
            return HttpResponseRedirect(
                _safe_next(request, reverse("web:task_detail", args=[task.pk]))
            )
    return render(
        request,
        "sales/task_form.html",
        {"form": form, "customer": customer, "source": source, "next": _safe_next(request, "")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    """A task's page; people who may change it edit it here."""
    task = selectors.task_detail(request.user, task_id)
    if task is None:
        raise Http404
    can_change = Task.objects.visible_to(request.user, Action.CHANGE).filter(pk=task.pk).exists()
    form = None
    if can_change:
        form = TaskForm(request.POST or None, user=request.user, initial=TaskForm.initial_for(task))
        if request.method == "POST" and form.is_valid():
            try:
                task = services.update_task(
                    task=task,
                    changes={
                        "title": form.cleaned_data["title"],
                        "description": form.cleaned_data["description"],
                        "due_at": form.due_at(),
                        "priority": form.cleaned_data["priority"],
                    },
                    actor=request.user,
                )
                if form.cleaned_data["assignee"] != task.assignee:
                    task = services.reassign_task(
                        task=task, assignee=form.cleaned_data["assignee"], actor=request.user
                    )
                messages.success(request, _("The task was saved."))
                return HttpResponseRedirect(reverse("web:task_detail", args=[task.pk]))
            except ServiceError as exc:
                _form_errors(form, exc)
    elif request.method == "POST":
        raise Http404
    task = selectors.task_detail(request.user, task_id) or task
    return render(
        request, "sales/task_detail.html", {"task": task, "form": form, "can_change": can_change}
    )


@login_required
@require_POST
def task_action(request: HttpRequest, task_id: int, action: str) -> HttpResponse:
    """Complete, reopen or cancel; htmx gets the task's list row (or the 360 panel) back."""
    service = ACTIONS.get(action)
    task = Task.objects.visible_to(request.user, Action.CHANGE).filter(pk=task_id).first()
    if service is None or task is None:
        raise Http404
    error = ""
    try:
        task = service(task=task, actor=request.user)
    except ServiceError as exc:
        error = str(exc.message)
    target = request.POST.get("render", "")
    if wants_fragment(request) and target == "row":
        task = selectors.task_detail(request.user, task.pk) or task
        return render(
            request, "sales/_task_row.html", {"t": task, "error": error, "can_change": True}
        )
    if wants_fragment(request) and target == "panel" and task.customer_id:
        return _panel(request, task.customer_id, message=error, level="danger")
    if error:
        messages.error(request, error)
    return HttpResponseRedirect(_safe_next(request, reverse("web:task_detail", args=[task.pk])))


def _panel(
    request: HttpRequest,
    customer_id: int,
    form: TaskForm | None = None,
    message: str = "",
    level: str = "success",
) -> HttpResponse:
    customer = Customer.objects.visible_to(request.user).filter(pk=customer_id).first()
    if customer is None:
        raise Http404
    if not can(request.user, Action.VIEW, Task):
        return HttpResponse("")  # the slot on the 360 page stays empty
    can_add = can(request.user, Action.ADD, Task)
    if form is None and can_add:
        form = TaskForm(user=request.user, prefix="task")
    return render(
        request,
        "sales/_customer_tasks.html",
        {
            "customer": customer,
            "tasks": selectors.open_tasks_of_customer(request.user, customer.pk),
            "form": form,
            "can_add": can_add,
            "can_change": can(request.user, Action.CHANGE, Task),
            "message": message,
            "message_level": level,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def customer_tasks(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The 360 page's follow-up panel: the customer's open tasks and "create follow-up task"."""
    if request.method == "GET":
        return _panel(request, customer_id)
    customer = Customer.objects.visible_to(request.user).filter(pk=customer_id).first()
    if customer is None or not can(request.user, Action.ADD, Task):
        raise Http404
    form = TaskForm(request.POST, user=request.user, prefix="task")
    task = _create_from_form(request, form, customer, TaskSource.MANUAL)
    if task is None:
        return _panel(request, customer_id, form=form)
    message = _("Task created: %(title)s") % {"title": task.title}
    if not wants_fragment(request):
        messages.success(request, message)
        return HttpResponseRedirect(reverse("web:customer_detail", args=[customer_id]))
    return _panel(request, customer_id, message=message)
