"""Import target for returns: goods brought back from imported (or recorded) orders.

One row per returned product; consecutive rows with the same ``return_id`` are one return, and
a return with one bad line is rejected whole (as an order is). The order is found by its id in
the same source system or by its order number, among the orders of customers the user may
change; the line by Dangol's id of it, its id in the source system (``OrderLine.external_id``,
written by the orders import), its number on the order, or the SKU, by the rule the API's
returns share (``commerce.returns``). The rows written are those of ``record_return``: the
refund of each line is its share of the line total less its share of the order discount, the
order lines' returned quantities and the order's returned amount and status (returned /
partially returned) move on, and the customer's purchase aggregates are recomputed
(``refresh_purchase_aggregates``, which lowers the lifetime spend by the refund as the service
does). A return whose id is already known is ``unchanged``, so importing a file twice refunds
nothing twice.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from dangol.commerce.models import (
    Order,
    OrderLine,
    OrderStatus,
    Return,
    ReturnLine,
    ReturnReason,
)
from dangol.commerce.purchases import refresh_purchase_aggregates
from dangol.commerce.returns import match_return_lines
from dangol.core.money import quantize
from dangol.integration.imports.mapping import FieldSpec, Reason
from dangol.integration.imports.targets import (
    LINE_ID_ALIASES,
    Context,
    Row,
    Target,
)
from dangol.integration.imports.targets_shared import reason, rows_by_keys, visible_subset
from dangol.integration.imports.writer import TableWriter, allocate_ids, update_rows
from dangol.integration.models import ImportTarget, RowOutcome

REASON_ALIASES = {
    "불량": "defect",
    "제품불량": "defect",
    "하자": "defect",
    "파손": "damaged",
    "배송파손": "damaged",
    "오배송": "wrong_item",
    "상품상이": "wrong_item",
    "피부트러블": "skin_trouble",
    "피부 트러블": "skin_trouble",
    "알레르기": "skin_trouble",
    "단순변심": "change_of_mind",
    "단순 변심": "change_of_mind",
    "변심": "change_of_mind",
    "기타": "other",
}

# Dangol's own id of the order line (the API's ``order_line_id``); the generic headers
# (주문상품번호, line_id …) are the source's id of the line: ``line_id``
ORDER_LINE_ID_ALIASES = ("단골주문상품번호", "단골주문상품id", "dangol_order_line_id")
RETURN_LINE_ID_ALIASES = (*LINE_ID_ALIASES, "원주문상품번호")
# not 순번 / 행번호 / 번호: Korean sheets number their rows with those
LINE_NUMBER_ALIASES = (
    "주문순번",
    "주문라인번호",
    "라인번호",
    "품목순번",
    "주문품목순번",
    "주문상품순번",
    "line_no",
    "line_number",
    "order_line_no",
)


class ReturnTarget(Target):
    """One row per returned product; the lines of a return must be next to each other."""

    name = ImportTarget.RETURNS
    group_field = "return_id"
    specs = (
        FieldSpec(
            "return_id",
            required=True,
            max_length=100,
            aliases=("반품번호", "반품id", "반품코드", "return_no", "external_id"),
        ),
        FieldSpec("order_id", max_length=100, aliases=("주문번호", "원주문번호", "order_no")),
        FieldSpec("order_number", max_length=40, aliases=("order_number", "주문번호(단골)")),
        FieldSpec("sku", max_length=64, aliases=("상품코드", "품번", "product_code")),
        # the order line itself, when the file names it: its id in Dangol (the API's
        # ``order_line_id``), its id in the source system (the orders import's ``line_id``)
        # or its position on the order (1 = the first line)
        FieldSpec("order_line_id", "int", aliases=ORDER_LINE_ID_ALIASES),
        FieldSpec("line_id", max_length=100, aliases=RETURN_LINE_ID_ALIASES),
        FieldSpec("line_number", "int", aliases=LINE_NUMBER_ALIASES),
        FieldSpec("quantity", "int", required=True, aliases=("반품수량", "수량", "qty")),
        FieldSpec(
            "reason",
            "choice",
            aliases=("반품사유", "사유", "return_reason"),
            choices=frozenset(ReturnReason.values),
            choice_aliases=REASON_ALIASES,
            labels=dict(ReturnReason.choices),
        ),
        FieldSpec(
            "returned_at",
            "datetime",
            aliases=("반품일", "반품일자", "반품일시", "반품접수일", "환불일", "환불일자", "date"),
        ),
        FieldSpec("note", max_length=2000, aliases=("메모", "비고", "상세사유", "note")),
    )

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        if not data.get("order_id") and not data.get("order_number"):
            reasons.append(
                reason("order_id", "required", _("Give the order's id or its order number."))
            )
        if not (
            data.get("sku")
            or data.get("order_line_id")
            or data.get("line_id")
            or data.get("line_number")
        ):
            reasons.append(
                reason(
                    "sku",
                    "required",
                    _("Give the product's SKU, the order line's id or its line number."),
                )
            )
        if data.get("line_number") is not None and data["line_number"] < 1:
            reasons.append(reason("line_number", "min_value", _("At least 1.")))
        if data["quantity"] < 1:
            reasons.append(reason("quantity", "min_value", _("At least 1.")))
        at = data.get("returned_at")
        if at is not None and at > self.now + datetime.timedelta(days=1):
            reasons.append(reason("returned_at", "in_future", _("This is in the future.")))

    def write(self, ctx: Context, rows: list[Row]) -> None:
        groups: dict[str, list[Row]] = {}
        for row in rows:
            if not row.reasons:
                groups.setdefault(row.data["return_id"], []).append(row)
        for row in rows:  # a return with a bad line is rejected whole
            if row.reasons and (key := row.data.get("return_id")) in groups:
                _reject_group(groups.pop(key), row)
        known = {
            r["external_id"]
            for r in rows_by_keys(
                Return, "external_id", sorted(groups), ("external_id",), source=ctx.source
            )
        }
        for key in known:
            for row in groups.pop(key):
                row.outcome = RowOutcome.UNCHANGED
        heads = [g[0].data for g in groups.values()]
        fields = (
            "id",
            "number",
            "external_id",
            "customer_id",
            "status",
            "currency",
            "subtotal",
            "total",
            "returned_amount",
        )
        orders: dict[tuple[str, str], dict[str, Any]] = {}
        for o in rows_by_keys(
            Order,
            "external_id",
            sorted({d["order_id"] for d in heads if d.get("order_id")}),
            fields,
            source=ctx.source,
        ):
            orders[("order_id", o["external_id"])] = o
        for o in rows_by_keys(
            Order,
            "number",
            sorted({d["order_number"] for d in heads if not d.get("order_id")}),
            fields,
        ):
            orders[("order_number", o["number"])] = o
        allowed = visible_subset(ctx.visible_customers, {o["customer_id"] for o in orders.values()})
        lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for ol in rows_by_keys(
            OrderLine,
            "order",
            sorted({o["id"] for o in orders.values() if o["customer_id"] in allowed}),
            (
                "id",
                "order_id",
                "external_id",
                "product__sku",
                "quantity",
                "returned_quantity",
                "line_total",
            ),
        ):
            lines[ol["order_id"]].append(ol)
        for ls in lines.values():
            ls.sort(key=lambda ol: ol["id"])

        planned: list[tuple[str, dict[str, Any], list[tuple[int, int, Decimal]], Row]] = []
        for key, group in groups.items():
            ref = _order_ref(group[0].data)
            order = orders.get(ref)
            if order is None or order["customer_id"] not in allowed:
                _reject_group(
                    group,
                    group[0],
                    (ref[0], "order_not_found", _("No order with this id or number.")),
                )
                continue
            if (bad := next((r for r in group if _order_ref(r.data) != ref), None)) is not None:
                _reject_group(
                    group,
                    bad,
                    ("order_id", "order_mismatch", _("All lines of a return belong to one order.")),
                )
                continue
            if order["status"] == OrderStatus.CANCELLED:
                _reject_group(
                    group,
                    group[0],
                    (ref[0], "cancelled", _("A cancelled order cannot be returned.")),
                )
                continue
            share = (order["total"] / order["subtotal"]) if order["subtotal"] else Decimal(0)
            # rows naming their line first, then by SKU the larger quantities first (the rule
            # the API's returns share: commerce.returns)
            matched, problems = match_return_lines([r.data for r in group], lines[order["id"]])
            if problems:
                index, problem = problems[0]
                _reject_group(group, group[index], problem)
                continue
            taken = [
                (
                    ol["id"],
                    n,
                    quantize(ol["line_total"] * n / ol["quantity"] * share, order["currency"]),
                )
                for ol, n in matched
            ]
            amount = sum((a for _l, _n, a in taken), Decimal(0))
            order["returned_amount"] += amount
            fully = all(ol["returned_quantity"] >= ol["quantity"] for ol in lines[order["id"]])
            order["status"] = OrderStatus.RETURNED if fully else OrderStatus.PARTIALLY_RETURNED
            for row in group:
                row.outcome = RowOutcome.CREATED
            planned.append((key, order, taken, group[0]))
        if ctx.dry_run or not planned:
            return
        now = ctx.now
        ids = allocate_ids(Return, len(planned))
        TableWriter(
            Return,
            (
                "id",
                "order_id",
                "customer_id",
                "returned_at",
                "reason",
                "note",
                "amount",
                "currency",
                "source",
                "external_id",
            ),
            now,
        ).insert(
            [
                (
                    rid,
                    order["id"],
                    order["customer_id"],
                    head.data.get("returned_at") or now,
                    head.data.get("reason", ReturnReason.OTHER.value),
                    head.data.get("note", ""),
                    sum((a for _l, _n, a in taken), Decimal(0)),
                    order["currency"],
                    ctx.source,
                    key,
                )
                for rid, (key, order, taken, head) in zip(ids, planned, strict=True)
            ]
        )
        TableWriter(ReturnLine, ("ret_id", "order_line_id", "quantity", "amount"), now).insert(
            [
                (rid, line_id, n, a)
                for rid, (_k, _o, taken, _h) in zip(ids, planned, strict=True)
                for line_id, n, a in taken
            ]
        )
        touched_lines = {line_id for _k, _o, taken, _h in planned for line_id, _n, _a in taken}
        update_rows(
            OrderLine,
            ["returned_quantity"],
            [
                [ol["returned_quantity"], ol["id"]]
                for ls in lines.values()
                for ol in ls
                if ol["id"] in touched_lines
            ],
        )
        touched_orders = {o["id"]: o for _k, o, _t, _h in planned}
        update_rows(
            Order,
            ["returned_amount", "status"],
            [[o["returned_amount"], o["status"], oid] for oid, o in touched_orders.items()],
        )
        refresh_purchase_aggregates(
            sorted({o["customer_id"] for o in touched_orders.values()}), now
        )


def _order_ref(data: dict[str, Any]) -> tuple[str, str]:
    """How a row names its order: ``("order_id", id in the source)`` or ``("order_number", n)``."""
    if data.get("order_id"):
        return "order_id", data["order_id"]
    return "order_number", data["order_number"]


def _reject_group(group: list[Row], bad: Row, problem: tuple[str, str, Any] | None = None) -> None:
    """Reject every line of a return: ``bad`` for ``problem`` (or its own reasons), the others
    because of it."""
    if problem is not None:
        bad.reject(*problem)
    for row in group:
        if row is not bad:
            row.reject(
                "return_id",
                "return_rejected",
                _("Another line of this return was rejected (line %d).") % bad.line,
            )
