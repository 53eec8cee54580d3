"""Read queries of the staff app's shell (the dashboard). Domain lists live with their domains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from dangol.commerce.models import Order, OrderStatus
from dangol.core.visibility import Action, can
from dangol.customers.models import Customer, Organization, RecordStatus


@dataclass(frozen=True)
class DashboardCounts:
    """Counts of what the user may see; None where the user's role grants no access at all."""

    customers: int | None
    organizations: int | None
    orders: int | None
    orders_last_30_days: int | None

    @property
    def has_access(self) -> bool:
        return any(v is not None for v in (self.customers, self.organizations, self.orders))


def dashboard_counts(*, user: Any) -> DashboardCounts:
    """Active customers, organizations and orders visible to `user` (one COUNT each)."""
    customers = organizations = orders = recent = None
    if can(user, Action.VIEW, Customer):
        customers = Customer.objects.visible_to(user).filter(status=RecordStatus.ACTIVE).count()
    if can(user, Action.VIEW, Organization):
        organizations = (
            Organization.objects.visible_to(user).filter(status=RecordStatus.ACTIVE).count()
        )
    if can(user, Action.VIEW, Order):
        visible_orders = Order.objects.visible_to(user).exclude(status=OrderStatus.CANCELLED)
        orders = visible_orders.count()
        recent = visible_orders.filter(placed_at__gte=timezone.now() - timedelta(days=30)).count()
    return DashboardCounts(customers, organizations, orders, recent)
