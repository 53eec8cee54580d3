"""Keyset (cursor) pagination for long lists: the cost of a page does not grow with its depth.

A list is ordered by one column and the primary key as a tie-breaker, both in the same
direction, so that an index on ``(column, id)`` serves every page. The cursor is the
``(column value, id)`` of the row at the page's edge, encoded as URL-safe base64 JSON.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models import F, Q

T = TypeVar("T", bound=models.Model)


@dataclass(frozen=True)
class KeysetOrder:
    """Order by `field` (ascending unless `descending`), then by ``id`` the same way.

    `kind` says how the column's value is written into the cursor: "int", "float", "str",
    "decimal" or "datetime". A `nullable` column lists its NULLs last in both directions (as
    the API does).
    """

    field: str
    descending: bool = True
    kind: str = "int"
    nullable: bool = False

    def order_by(self, *, reverse: bool = False) -> list[Any]:
        desc = self.descending != reverse
        sign = "-" if desc else ""
        if self.field == "id":
            return [f"{sign}id"]
        if self.nullable:
            # NULLs last in the list's order, hence first when walking it backwards.
            nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
            col = F(self.field)
            return [col.desc(**nulls) if desc else col.asc(**nulls), f"{sign}id"]
        return [f"{sign}{self.field}", f"{sign}id"]


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    items: list[T]
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


class InvalidCursor(ValueError):
    """A cursor that was not made by us (edited by hand, or from an older order)."""


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode_value(raw: Any, kind: str) -> Any:
    if raw is None:
        return None
    try:
        if kind == "datetime":
            return datetime.datetime.fromisoformat(str(raw))
        if kind == "decimal":
            return Decimal(str(raw))
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        return str(raw)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise InvalidCursor(str(exc)) from None


def encode_cursor(order: KeysetOrder, obj: models.Model) -> str:
    payload = [_encode_value(getattr(obj, order.field)), obj.pk]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: KeysetOrder, cursor: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
        return _decode_value(value, order.kind), int(pk)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor(str(exc)) from None


def _beyond(order: KeysetOrder, value: Any, pk: int, *, forward: bool) -> Q:
    """Rows after (value, pk) in the list's order when `forward`, before it otherwise."""
    greater = order.descending != forward  # ascending + forward → greater than the cursor
    op = "gt" if greater else "lt"
    if order.field == "id":
        return Q(**{f"id__{op}": pk})
    isnull = f"{order.field}__isnull"
    if value is None:  # the cursor sits among the NULLs at the end of the list
        among_nulls = Q(**{isnull: True, f"id__{op}": pk})
        return among_nulls if forward else among_nulls | Q(**{isnull: False})
    cond = Q(**{f"{order.field}__{op}": value}) | Q(**{order.field: value, f"id__{op}": pk})
    # The same rows, plus a plain range on the column: where the (column, id) index starts, so
    # a deep page does not walk the index from the top.
    cond &= Q(**{f"{order.field}__{op}e": value})
    if order.nullable and forward:
        cond |= Q(**{isnull: True})
    return cond


def keyset_page(
    queryset: models.QuerySet[T],
    *,
    order: KeysetOrder,
    size: int,
    after: str | None = None,
    before: str | None = None,
) -> KeysetPage[T]:
    """One page of `queryset`: the first, the one after cursor `after`, or the one before `before`.

    Raises ``InvalidCursor`` for a cursor we cannot read.
    """
    if before:
        value, pk = decode_cursor(order, before)
        rows = list(
            queryset.filter(_beyond(order, value, pk, forward=False)).order_by(
                *order.order_by(reverse=True)
            )[: size + 1]
        )
        has_more_before = len(rows) > size
        items = list(reversed(rows[:size]))
        return KeysetPage(
            items=items,
            next_cursor=encode_cursor(order, items[-1]) if items else None,
            previous_cursor=encode_cursor(order, items[0]) if items and has_more_before else None,
        )
    qs = queryset
    if after:
        value, pk = decode_cursor(order, after)
        qs = qs.filter(_beyond(order, value, pk, forward=True))
    rows = list(qs.order_by(*order.order_by())[: size + 1])
    items = rows[:size]
    return KeysetPage(
        items=items,
        next_cursor=encode_cursor(order, items[-1]) if len(rows) > size else None,
        previous_cursor=encode_cursor(order, items[0]) if after and items else None,
    )


def page_of_request(
    queryset: models.QuerySet[T], request: Any, *, order: KeysetOrder, size: int
) -> KeysetPage[T]:
    """The page of `queryset` that the request's ``after`` / ``before`` cursor names; the first
    page for a cursor we cannot read (edited by hand, or from an older order)."""
    try:
        return keyset_page(
            queryset,
            order=order,
            size=size,
            after=request.GET.get("after") or None,
            before=request.GET.get("before") or None,
        )
    except InvalidCursor:
        return keyset_page(queryset, order=order, size=size)
