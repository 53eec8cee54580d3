"""What the sales app does when other domains speak (registered from SalesConfig.ready).

* ``customer.churn_risk_high`` (analytics/alerts.py) → one follow-up task for the customer's
  owner, idempotent.
* Customer merges: tasks move to the survivor like every other row; a second open churn
  follow-up is cancelled instead (one open churn task per customer).
"""

from __future__ import annotations

from django.conf import settings

from dangol.core.events import Event, subscriber
from dangol.customers.merge import MergeLog, register_merge_handler
from dangol.customers.models import Customer, RecordStatus
from dangol.sales.models import Task, TaskSource, TaskStatus
from dangol.sales.services import open_churn_follow_up


@subscriber("customer.churn_risk_high")
def churn_follow_up(event: Event) -> None:
    """Open a follow-up task for a valuable customer who has just turned high risk."""
    customer = (
        Customer.objects.select_related("owner", "team").filter(pk=int(event.object_id)).first()
    )
    if customer is None or customer.status != RecordStatus.ACTIVE:
        return  # deleted or merged away since the run
    open_churn_follow_up(
        customer=customer,
        alert=event.data,
        due_in_days=int(getattr(settings, "CHURN_ALERT_TASK_DUE_DAYS", 2)),
    )


@register_merge_handler(Task)
def _merge_tasks(src: Customer, dst: Customer, log: MergeLog) -> None:
    open_churn = Task.objects.filter(
        customer=dst, source=TaskSource.CHURN_ALERT, status=TaskStatus.OPEN
    ).exists()
    for task in Task.objects.filter(customer=src).order_by("id"):
        if open_churn and task.source == TaskSource.CHURN_ALERT and task.status == TaskStatus.OPEN:
            # One change (status and customer together): an unmerge restores both at once,
            # so the survivor never holds two open churn tasks on the way back.
            log.change(task, status=TaskStatus.CANCELLED, customer_id=dst.pk)
            continue
        log.moved.append(["sales.task", "customer", task.pk, src.pk])
        Task.objects.filter(pk=task.pk).update(customer=dst)
