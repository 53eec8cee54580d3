"""Follow-up tasks (할 일) for the demo logins.

A new user's home page and "My tasks" should show the work a CRM hands out: calls to valuable
customers who are slipping away, thanks after a repeat purchase, consent renewals, a visit to
book. Each login that works with customers gets a handful, on customers it may see, overdue,
due today and upcoming, plus two done ones that show on the customers' timelines. Written
through the task services (audit rows and events included): a few dozen rows, no bulk path.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from dangol.analytics.models import ChurnBand, CustomerMetrics
from dangol.core.models import User
from dangol.core.visibility import Action, can
from dangol.customers.models import Customer, RecordStatus
from dangol.sales import services
from dangol.sales.models import Task, TaskPriority

DEMO_TASK_LOGINS = ("sales@dangol.local", "lead@dangol.local", "service@dangol.local")


@dataclass(frozen=True)
class Chore:
    title: str
    description: str
    due_in_days: float
    priority: str = TaskPriority.NORMAL
    done: bool = False


AT_RISK = Chore(
    "이탈 위험 고객 안부 전화",
    "최근 구매 간격이 평소보다 길어졌습니다. "
    "불편했던 점이 없었는지 여쭤보고 등급 혜택을 안내하세요.",
    -2,
    TaskPriority.HIGH,
)
CHORES = (  # in the order the user's customers get them: a small book still shows each kind
    Chore(
        "마케팅 수신 동의 재확인 안내",
        "수신 동의 2년 재확인 기한이 지났습니다. 동의 유지 여부를 확인하세요.",
        -1,
    ),
    Chore(
        "배송 지연 사과 연락",
        "배송 지연에 대해 사과드리고 적립금 보상을 안내했습니다.",
        -3,
        done=True,
    ),
    Chore(
        "재구매 감사 인사와 신제품 샘플 안내",
        "지난 주문에 감사 인사를 드리고 이번 달 신제품 샘플을 안내하세요.",
        0.3,
    ),
    Chore(
        "매장 방문 상담 예약 확인",
        "피부 진단 상담 예약 일정을 다시 확인하세요.",
        3,
        TaskPriority.LOW,
    ),
    Chore("반품 처리 결과 안내", "반품 환불이 끝났는지 확인하고 결과를 알려 드리세요.", 6),
    Chore("생일 쿠폰 사용 안내", "이번 달 생일 쿠폰 사용 방법을 안내했습니다.", -1, done=True),
)


def _customers_for(user: User, limit: int) -> tuple[list[Customer], list[Customer]]:
    """The user's two most valuable customers at high churn risk, and recent buyers."""
    visible = Customer.objects.visible_to(user).filter(status=RecordStatus.ACTIVE)
    at_risk = list(
        visible.filter(
            pk__in=CustomerMetrics.objects.filter(churn_band=ChurnBand.HIGH, clv_12m__gt=0).values(
                "customer_id"
            )
        ).order_by("-metrics__clv_12m", "pk")[:2]
    )
    recent = visible.exclude(pk__in=[c.pk for c in at_risk]).filter(last_purchase_at__isnull=False)
    return at_risk, list(recent.order_by("-last_purchase_at", "-pk")[:limit])


def create_demo_tasks(*, now: datetime.datetime | None = None) -> int:
    """Tasks for the demo logins that may work on tasks; returns how many were created."""
    now = now or timezone.now()
    created = 0
    for user in User.objects.filter(email__in=DEMO_TASK_LOGINS).order_by("email"):
        if not can(user, Action.ADD, Task):
            continue
        at_risk, recent = _customers_for(user, limit=len(CHORES))
        plan = [(AT_RISK, c) for c in at_risk] + list(zip(CHORES, recent, strict=False))
        for chore, customer in plan:
            task = services.create_task(
                data=services.TaskInput(
                    title=chore.title,
                    description=chore.description,
                    due_at=now + datetime.timedelta(days=chore.due_in_days),
                    priority=chore.priority,
                    customer=customer,
                    assignee=user,
                ),
                actor=user,
            )
            if chore.done:
                services.complete_task(task=task, actor=user)
            created += 1
    return created
