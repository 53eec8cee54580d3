"""Cursor (keyset) pagination: stable under inserts and fast at any depth.

A cursor encodes the sort value and the id of the last row served; the next page starts
strictly after it. Nullable sort columns put NULLs last in both directions.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from dangol.core.errors import ValidationFailed

M = TypeVar("M", bound=models.Model)
MAX_LIMIT = 200


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def _encode(value: Any, pk: int) -> str:
    raw = json.dumps([None if value is None else str(value), pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, field: models.Field) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw_value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = None if raw_value is None else field.to_python(raw_value)
        if not isinstance(pk, int):
            raise ValueError
        return value, pk
    except (ValueError, TypeError, ValidationError, json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed.single("cursor", "invalid", _("This cursor is not valid.")) from None


def paginate(
    qs: QuerySet[M],
    *,
    sort: str,
    allowed: tuple[str, ...],
    cursor: str | None,
    limit: int,
) -> Page:
    """One page of `qs` ordered by `sort` (``name`` or ``-name``) then id."""
    desc = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in allowed:
        raise ValidationFailed.single(
            "sort", "invalid_choice", _("Sort by one of: %(f)s.") % {"f": ", ".join(allowed)}
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.single(
            "limit", "out_of_range", _("Between 1 and %(n)d.") % {"n": MAX_LIMIT}
        )
    field = qs.model._meta.get_field(name)
    assert isinstance(field, models.Field)
    nullable = field.null
    if name == "id":
        order = ["-id" if desc else "id"]
    else:
        if nullable:
            expr = F(name).desc(nulls_last=True) if desc else F(name).asc(nulls_last=True)
        else:  # a plain order the (name, id) index serves (NULLS LAST makes SQLite sort)
            expr = F(name).desc() if desc else F(name).asc()
        order = [expr, "-id" if desc else "id"]  # type: ignore[list-item]
    if cursor:
        value, pk = _decode(cursor, field)
        after = "lt" if desc else "gt"
        if name == "id":
            qs = qs.filter(**{f"id__{after}": pk})
        elif value is None:
            qs = qs.filter(**{f"{name}__isnull": True, f"id__{after}": pk})
        else:
            cond = Q(**{f"{name}__{after}": value}) | Q(**{name: value, f"id__{after}": pk})
            cond &= Q(**{f"{name}__{after}e": value})  # where the (name, id) index starts
            if nullable:
                cond |= Q(**{f"{name}__isnull": True})
            qs = qs.filter(cond)
    rows = list(qs.order_by(*order)[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = _encode(getattr(last, name), last.pk)
    return Page(items=rows, next_cursor=next_cursor)
