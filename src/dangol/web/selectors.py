"""Read queries of the staff app's shell (the dashboard, saved views, people to assign).

Domain lists live with their domains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from dangol.commerce.models import Order, OrderStatus
from dangol.core.models import User
from dangol.core.visibility import Action, can
from dangol.customers.models import Customer, Organization, RecordStatus
from dangol.web.models import SavedView


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


def saved_views(*, user: Any, page: str) -> list[SavedView]:
    """`user`'s own views of `page` and those others share, own ones first (one query)."""
    views = SavedView.objects.filter(Q(owner_id=user.pk) | Q(shared=True), page=page)
    return sorted(
        views.select_related("owner")[:100],
        key=lambda v: (v.owner_id != user.pk, v.name.casefold(), v.pk),
    )


def assignable_users() -> QuerySet[User]:
    """Active staff who can own records, for owner pickers."""
    return User.objects.filter(is_active=True).select_related("team").order_by("display_name", "id")
