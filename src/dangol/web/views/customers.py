"""Customer pages of the staff app: the list (keyset-paginated over what the user may see)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from dangol.customers.models import ContactKind, ContactPoint, LifecycleStage
from dangol.customers.selectors import customers_for, search_filter
from dangol.web.pagination import InvalidCursor, KeysetOrder, keyset_page

PAGE_SIZE = 50

# Each order is served by an index on (column, id) of Customer.
SORTS: dict[str, tuple[KeysetOrder, object]] = {
    "recent": (KeysetOrder("created_at", descending=True, kind="datetime"), _("Newest first")),
    "spend": (KeysetOrder("total_spent", descending=True, kind="decimal"), _("Lifetime spend")),
    "name": (KeysetOrder("full_name", descending=False, kind="str"), _("Name")),
}
DEFAULT_SORT = "recent"


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:100]
    stage = request.GET.get("stage", "")
    sort = request.GET.get("sort", DEFAULT_SORT)
    if sort not in SORTS:
        sort = DEFAULT_SORT
    if stage not in LifecycleStage.values:
        stage = ""

    qs = (
        customers_for(request.user)
        .select_related("owner")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.filter(kind=ContactKind.MOBILE).order_by(
                    "-is_primary", "id"
                ),
                to_attr="mobiles",
            )
        )
    )
    if stage:
        qs = qs.filter(lifecycle_stage=stage)
    if len(q) >= 2:
        qs = qs.filter(search_filter(q)).distinct()

    try:
        page = keyset_page(
            qs,
            order=SORTS[sort][0],
            size=PAGE_SIZE,
            after=request.GET.get("after") or None,
            before=request.GET.get("before") or None,
        )
    except InvalidCursor:
        page = keyset_page(qs, order=SORTS[sort][0], size=PAGE_SIZE)

    context = {
        "page": page,
        "q": q,
        "stage": stage,
        "sort": sort,
        "sorts": [(key, label) for key, (_order, label) in SORTS.items()],
        "stages": LifecycleStage.choices,
        "is_filtered": bool(q or stage),
    }
    if request.headers.get("HX-Request") == "true":
        return render(request, "web/customers/list.html#table", context)
    return render(request, "web/customers/list.html", context)
