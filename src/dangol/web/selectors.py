"""Read queries of the staff app's shell (the home page, saved views, people to assign).

Domain lists live with their domains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from dangol.analytics.models import ChurnBand, CustomerMetrics
from dangol.commerce.models import Order, OrderStatus
from dangol.core.visibility import Action, can
from dangol.customers.models import Customer, Organization, RecordStatus
from dangol.sales.models import Task, TaskStatus
from dangol.sales.selectors import counts_by_bucket
from dangol.web.models import SavedView

HOME_ROWS = 6
ORDERS_COUNT_CAP = 10_000
SMALL_BOOK = 2_000  # visible customers up to which "customers at risk" starts from them


@dataclass(frozen=True)
class DashboardCounts:
    """Counts of what the user may see; None where the user's role grants no access at all."""

    customers: int | None
    organizations: int | None
    orders_last_30_days: int | None

    @property
    def has_access(self) -> bool:
        return any(
            v is not None for v in (self.customers, self.organizations, self.orders_last_30_days)
        )

    @property
    def orders_over_cap(self) -> bool:
        return (self.orders_last_30_days or 0) > ORDERS_COUNT_CAP

    @property
    def orders_cap(self) -> int:
        return ORDERS_COUNT_CAP


def dashboard_counts(*, user: Any) -> DashboardCounts:
    """Active customers and organizations visible to `user`, and their orders of the last 30
    days up to `ORDERS_COUNT_CAP` (one COUNT each; no count over the whole order history, which
    grows without bound)."""
    customers = organizations = recent = None
    if can(user, Action.VIEW, Customer):
        customers = Customer.objects.visible_to(user).filter(status=RecordStatus.ACTIVE).count()
    if can(user, Action.VIEW, Organization):
        organizations = (
            Organization.objects.visible_to(user).filter(status=RecordStatus.ACTIVE).count()
        )
    if can(user, Action.VIEW, Order):
        # Counted up to a cap: past it the card says "10,000+" and the query stops early,
        # whatever the scope (a team's orders are a join the count would otherwise walk whole).
        recent = (
            Order.objects.visible_to(user)
            .exclude(status=OrderStatus.CANCELLED)
            .filter(placed_at__gte=timezone.now() - timedelta(days=30))[: ORDERS_COUNT_CAP + 1]
            .count()
        )
    return DashboardCounts(customers, organizations, recent)


@dataclass(frozen=True)
class MyTasks:
    """The user's own open tasks: how many are overdue / due today / later, and the next few."""

    overdue: int
    today: int
    upcoming: int
    next: list[Task]


def my_tasks(*, user: Any, limit: int = HOME_ROWS) -> MyTasks | None:
    """None when the user's role has no access to tasks (two queries otherwise)."""
    if not can(user, Action.VIEW, Task):
        return None
    counts = counts_by_bucket(user)
    upcoming = (
        Task.objects.visible_to(user)
        .filter(assignee_id=user.pk, status=TaskStatus.OPEN)
        .select_related("customer", "organization")
        .order_by("due_at", "id")[:limit]
    )
    return MyTasks(counts["overdue"], counts["today"], counts["upcoming"], list(upcoming))


def customers_at_risk(
    *, user: Any, visible_customers: int | None, limit: int = HOME_ROWS
) -> list[CustomerMetrics] | None:
    """The most valuable customers the user can see whose churn risk is high (from the last
    analytics run), most valuable first; None when the user cannot view customers.

    `visible_customers` (the home page's count) picks where to start. A broad view (a team, the
    whole company) walks the (churn band, CLV) index from the top and stops after `limit`
    visible rows: valuable high-risk customers are common there. A small book (a sales rep's
    own customers) would make that walk read the whole band, so it starts from the customers'
    ids instead (two more queries): at 1,000,000 customers 2.2 s → 12 ms for a rep's home page.
    """
    if visible_customers is None:
        return None
    visible = Customer.objects.visible_to(user).filter(status=RecordStatus.ACTIVE)
    if visible_customers <= SMALL_BOOK:
        # The book's metrics by primary key, ranked here (at most SMALL_BOOK tuples): any
        # condition on the band lets SQLite's planner pick the band index and walk every
        # high-risk customer of the company instead.
        rows = CustomerMetrics.objects.filter(
            customer_id__in=list(visible.values_list("pk", flat=True))
        ).values_list("customer_id", "churn_band", "clv_12m")
        ranked = sorted(
            (-clv, pk) for pk, band, clv in rows if band == ChurnBand.HIGH and clv and clv > 0
        )
        top = [pk for _clv, pk in ranked[:limit]]
        found = CustomerMetrics.objects.filter(customer_id__in=top)
        return sorted(found.select_related("customer", "grade"), key=lambda m: top.index(m.pk))
    return list(
        CustomerMetrics.objects.filter(
            customer__in=visible, churn_band=ChurnBand.HIGH, clv_12m__gt=0
        )
        .select_related("customer", "grade")
        .order_by("-clv_12m", "customer_id")[:limit]
    )


def saved_views(*, user: Any, page: str) -> list[SavedView]:
    """`user`'s own views of `page` and those others share, own ones first (one query)."""
    views = SavedView.objects.filter(Q(owner_id=user.pk) | Q(shared=True), page=page)
    return sorted(
        views.select_related("owner")[:100],
        key=lambda v: (v.owner_id != user.pk, v.name.casefold(), v.pk),
    )
