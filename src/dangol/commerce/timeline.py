"""Orders, payments and returns on the customer timeline (registered from
CommerceConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dangol.commerce.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Return,
    ReturnReason,
)
from dangol.core.visibility import Action, can
from dangol.customers.timeline import (
    TimelineEntry,
    TimelineRequest,
    choice_label,
    register_timeline_source,
)


def _orders(r: TimelineRequest) -> list[TimelineEntry]:
    label = _("Order")  # not inside the f-string below, where makemessages cannot see it
    qs = Order.objects.filter(customer=r.customer).select_related("channel")
    if r.channels:  # the interaction channels that are also sales channel kinds (app, store)
        qs = qs.filter(channel__kind__in=r.channels)
    return [
        TimelineEntry(
            kind="order",
            at=o.placed_at,
            id=o.pk,
            title=o.number,
            heading=f"{label} {o.number}",
            icon="cart",
            url=reverse("web:order_detail", args=[o.pk]),
            meta=o.channel.name if o.channel else "",
            channel=o.channel.kind if o.channel else "",
            amount=o.total,
            currency=o.currency,
            summary=choice_label(OrderStatus, o.status),
            obj=o,
        )
        for o in r.window(qs, "order", "placed_at")
    ]


def _returns(r: TimelineRequest) -> list[TimelineEntry]:
    label = _("Return")
    qs = Return.objects.filter(customer=r.customer).select_related("order")
    return [
        TimelineEntry(
            kind="return",
            at=x.returned_at,
            id=x.pk,
            title=x.order.number,
            heading=f"{label} · {x.order.number}",
            icon="return",
            url=reverse("web:order_detail", args=[x.order_id]),
            amount=x.amount,
            currency=x.currency,
            summary=choice_label(ReturnReason, x.reason),
            detail=x.note,
            obj=x,
        )
        for x in r.window(qs, "return", "returned_at")
    ]


def _payments(r: TimelineRequest) -> list[TimelineEntry]:
    # payments that were made (a pending one has no time yet), by the (customer, -paid_at) index
    qs = Payment.objects.filter(customer=r.customer, paid_at__isnull=False).select_related("order")
    label = _("Payment")
    entries = []
    for p in r.window(qs, "payment", "paid_at"):
        method = choice_label(PaymentMethod, p.method)
        entries.append(
            TimelineEntry(
                kind="payment",
                at=p.paid_at,
                id=p.pk,
                title=p.order.number,
                heading=f"{label} · {p.order.number}",
                icon="receipt",
                url=reverse("web:order_detail", args=[p.order_id]),
                meta=f"{method} · {p.provider}" if p.provider else method,
                amount=p.amount,
                currency=p.currency,
                summary=choice_label(PaymentStatus, p.status),
                obj=p,
            )
        )
    return entries


def _may_view(model: Any) -> Any:
    return lambda user: can(user, Action.VIEW, model)


def register() -> None:
    """Put orders, payments and returns on the customer timeline."""
    register_timeline_source(
        "order",
        gettext_lazy("Orders"),
        _orders,
        channels=True,
        allowed=_may_view(Order),
        position=20,
    )
    register_timeline_source(
        "payment", gettext_lazy("Payments"), _payments, allowed=_may_view(Payment), position=25
    )
    register_timeline_source(
        "return", gettext_lazy("Returns"), _returns, allowed=_may_view(Return), position=30
    )
