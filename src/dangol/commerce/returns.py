"""Which order lines a return takes back: one matching rule for the API and the returns import.

A return names each of its lines as the system that sends it knows it: by Dangol's id of the
order line (``order_line_id``), by the line's id in the source system (``line_id``: the
``OrderLine.external_id`` the order was recorded with), by its number on the order
(``line_number``, 1 = the first line by id) or by the product's SKU. The first of these that is
given decides. The functions here work on plain rows of the order's lines (dicts with ``id``,
``external_id``, ``product__sku``, ``quantity``, ``returned_quantity`` and ``line_total``), so
the import can run them over a chunk's lines read in bulk and the services over one locked
order's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext as _

Line = dict[str, Any]  # an order line as read: id, external_id, sku, quantities, line_total
Problem = tuple[str, str, Any]  # (field, code, message) of a line that cannot be taken back


def names_line(data: Mapping[str, Any]) -> bool:
    """Whether a return line names its order line (by id, source id or number), not a SKU."""
    return bool(data.get("order_line_id") or data.get("line_id") or data.get("line_number"))


def matching_order(data: Mapping[str, Any]) -> tuple[int, int]:
    """Lines that name their order line are matched first, then the others by quantity,
    largest first (a stable sort keeps the given order among equals): each line's choice
    narrows the next one's."""
    named = names_line(data)
    return (0 if named else 1, 0 if named else -data["quantity"])


def left(ol: Line) -> int:
    """How many of an order line were bought and not yet returned."""
    return int(ol["quantity"] - ol["returned_quantity"])


def pick_lines(
    data: Mapping[str, Any], order_lines: list[Line]
) -> list[tuple[Line, int]] | Problem:
    """The order lines one return line takes back and how many of each, or why it cannot.

    A line naming its order line takes that line: by Dangol's id of it, else its id in the
    source system, else its number on the order (no such line on the order: ``line_not_found``,
    however it was named); its SKU, when given, must be the line's. Otherwise the SKU decides,
    and where the SKU is on several lines the quantities must: it takes the one line with
    anything left to return, or every line of the SKU when it returns all that is left of it,
    or the one line on which that many were bought and not yet returned; if several lines could
    take it, they must refund the same per unit (then which one takes it changes no amount: the
    first does). Anything else is ambiguous and rejected."""
    want = data["quantity"]
    sku = data.get("sku")
    if names_line(data):
        if data.get("order_line_id"):
            field_name = "order_line_id"
            line = next((ol for ol in order_lines if ol["id"] == data["order_line_id"]), None)
        elif data.get("line_id"):
            line = next((ol for ol in order_lines if ol["external_id"] == data["line_id"]), None)
            if line is None:
                return (
                    "line_id",
                    "line_not_found",
                    _("The order has no line with this id in the source system."),
                )
        else:
            field_name = "line_number"
            n = data["line_number"]
            line = order_lines[n - 1] if 1 <= n <= len(order_lines) else None
        if line is None:
            return (field_name, "line_not_found", _("The order has no such line."))
        if sku and line["product__sku"] != sku:
            return ("sku", "sku_mismatch", _("This is not the product on that order line."))
        if want > left(line):
            return ("quantity", "too_many", _("More than was bought and not yet returned."))
        return [(line, want)]
    candidates = [ol for ol in order_lines if ol["product__sku"] == sku]
    if not candidates:
        return ("sku", "not_in_order", _("This product is not on the order."))
    open_lines = [ol for ol in candidates if left(ol) > 0]
    if want > sum(left(ol) for ol in open_lines):
        return ("quantity", "too_many", _("More than was bought and not yet returned."))
    if want == sum(left(ol) for ol in open_lines):
        return [(ol, left(ol)) for ol in open_lines]
    fits = [ol for ol in open_lines if left(ol) >= want]
    if len(fits) == 1 or (
        len(fits) > 1
        and len({ol["line_total"] / ol["quantity"] for ol in fits}) == 1  # same unit refund
    ):
        return [(fits[0], want)]
    return (
        "sku",
        "ambiguous_line",
        _(
            "This product is on several lines of the order and the quantity does not say "
            "which; give the order line's number or id."
        ),
    )


def match_return_lines(
    wanted: Sequence[Mapping[str, Any]], order_lines: list[Line]
) -> tuple[list[tuple[Line, int]], list[tuple[int, Problem]]]:
    """Match every line of one return against its order's lines (sorted by id).

    Returns what is taken back, as (order line, quantity) pairs, and the problems, as (index in
    `wanted`, problem), in matching order. On success the order lines' ``returned_quantity``
    count what this return takes (so the next return of the same order in a batch sees it); on
    any problem nothing is taken and the rows are as they were."""
    taken: list[tuple[Line, int]] = []
    problems: list[tuple[int, Problem]] = []
    for i in sorted(range(len(wanted)), key=lambda i: matching_order(wanted[i])):
        picked = pick_lines(wanted[i], order_lines)
        if isinstance(picked, tuple):
            problems.append((i, picked))
            continue
        for ol, n in picked:
            ol["returned_quantity"] += n
            taken.append((ol, n))
    if problems:
        for ol, n in taken:  # give back what this return had taken
            ol["returned_quantity"] -= n
        return [], problems
    return taken, []
