"""Staff pages of products and orders: keyset-paginated lists and detail pages.

Orders are scoped like their customer (another team's order answers 404); products are
reference data that the role's grant alone opens.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dangol.commerce import selectors
from dangol.commerce.models import (
    Order,
    OrderStatus,
    Product,
    ProductCategory,
    SalesChannel,
)
from dangol.core.visibility import Action, can
from dangol.web.htmx import wants_fragment
from dangol.web.pagination import KeysetOrder, page_of_request

PAGE_SIZE = 50
ORDER_SORT = KeysetOrder("placed_at", descending=True, kind="datetime")  # index (placed_at, id)
PRODUCT_SORT = KeysetOrder("name", descending=False, kind="str")


def _base_query(params: QueryDict) -> str:
    return urlencode(
        [(k, v) for k, vs in params.lists() if k not in ("after", "before") for v in vs if v]
    )


def _date(raw: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@login_required
@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Action.VIEW, Product):
        raise Http404
    q = request.GET.get("q", "").strip()[:100]
    category = request.GET.get("category", "")
    active = request.GET.get("active", "")
    qs = selectors.products_for(request.user)
    if q:
        qs = qs.filter(name__icontains=q) | qs.filter(sku__iexact=q)
    if category.isdigit():
        qs = qs.filter(category_id=int(category))
    if active in ("1", "0"):
        qs = qs.filter(is_active=active == "1")
    context = {
        "page": page_of_request(qs, request, order=PRODUCT_SORT, size=PAGE_SIZE),
        "q": q,
        "category": category,
        "active": active,
        "categories": ProductCategory.objects.order_by("path")[:200],
        "base_query": _base_query(request.GET),
        "is_filtered": bool(q or category or active),
    }
    if wants_fragment(request):
        return render(request, "commerce/product_list.html#results", context)
    return render(request, "commerce/product_list.html", context)


@login_required
@require_GET
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    product = selectors.products_for(request.user).filter(pk=product_id).first()
    if product is None:
        raise Http404
    lines = (
        selectors.product_recent_lines(user=request.user, product=product)
        if can(request.user, Action.VIEW, Order)
        else []
    )
    return render(
        request,
        "commerce/product_detail.html",
        {"product": product, "lines": lines, "prices": selectors.price_history(product)},
    )


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Action.VIEW, Order):
        raise Http404
    q = request.GET.get("q", "").strip()[:40]
    status = request.GET.get("status", "")
    status = status if status in OrderStatus.values else ""
    channel = request.GET.get("channel", "")
    placed_from = _date(request.GET.get("from", ""))
    placed_to = _date(request.GET.get("to", ""))
    qs = selectors.orders_for(request.user)
    if q:
        # Dangol's number (a prefix) or the source's own order number (exact), as staff are told it
        qs = qs.filter(Q(number__startswith=q.upper()) | Q(external_id=q))
    if status:
        qs = qs.filter(status=status)
    if channel.isdigit():
        qs = qs.filter(channel_id=int(channel))
    if placed_from:
        qs = qs.filter(placed_at__gte=_start_of(placed_from))
    if placed_to:
        qs = qs.filter(placed_at__lt=_start_of(placed_to + datetime.timedelta(days=1)))
    context = {
        "page": page_of_request(qs, request, order=ORDER_SORT, size=PAGE_SIZE),
        "q": q,
        "status": status,
        "channel": channel,
        "placed_from": placed_from,
        "placed_to": placed_to,
        "statuses": OrderStatus.choices,
        "channels": SalesChannel.objects.order_by("name")[:100],
        "base_query": _base_query(request.GET),
        "is_filtered": bool(q or status or channel or placed_from or placed_to),
    }
    if wants_fragment(request):
        return render(request, "commerce/order_list.html#results", context)
    return render(request, "commerce/order_list.html", context)


@login_required
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = (
        selectors.order_detail_queryset(request.user)
        .select_related("organization")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise Http404
    payments = list(order.payments.all())  # those the user may see
    return render(
        request,
        "commerce/order_detail.html",
        {
            "order": order,
            "lines": list(order.lines.all()),
            "returns": list(order.returns.all()),
            "payments": payments,
            "payment_summary": selectors.payment_summary(order, payments) if payments else None,
            "may_view_payments": selectors.may_view_payments(request.user),
        },
    )
