"""The change feed of customers and organizations: written with every change, read in order.

`record` is called by the services (through `announce`) and `record_many` by bulk writers
(imports) inside their transaction; both write through the raw bulk writer
(`core.bulkwrite.TableWriter`: one `COPY` / `executemany`, not the ORM's `bulk_create`, which
cost as much as the rest of an imported customer chunk). `read_since` serves the feed exactly
once per change (see `ChangeFeedEntry`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.core import events
from dangol.core.bulkwrite import TableWriter
from dangol.core.errors import ValidationFailed
from dangol.customers.models import ChangeFeedEntry, ChangeOp

EVENT_NAMES = {
    ChangeOp.CREATED: "created",
    ChangeOp.UPDATED: "updated",
    ChangeOp.MERGED: "merged",
    ChangeOp.DELETED: "deleted",
}


def txid() -> int | None:
    """The id of the current transaction on PostgreSQL (what orders the feed), else None."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return int(cursor.fetchone()[0])


def record_many(
    object_type: str,
    changes: Sequence[tuple[Iterable[int], ChangeOp]],
    data: dict[str, Any] | None = None,
) -> int:
    """Append feed entries for each ``(ids, op)`` of ``changes`` in one insert (this moment,
    this transaction's id). Call inside the writing transaction; returns the number written."""
    payload = data or {}
    rows = [(object_type, i, op.value) for ids, op in changes for i in ids]
    if not rows:
        return 0
    now = timezone.now()
    return TableWriter(
        ChangeFeedEntry,
        ("object_type", "object_id", "op"),
        now,
        constants={"data": payload, "at": now, "txid": txid()},
    ).insert(rows)


def record(
    object_type: str, ids: Iterable[int], op: ChangeOp, data: dict[str, Any] | None = None
) -> None:
    """Append feed entries for `ids` (bulk). Call inside the writing transaction."""
    record_many(object_type, [(ids, op)], data)


def announce(obj: models.Model, op: ChangeOp, *, event: str = "", **event_data: Any) -> None:
    """A customer or organization changed: a feed entry now, the domain event after commit.

    The event is ``<type>.<op>`` (``customer.updated``) unless `event` names a finer one
    (``customer.archived``).
    """
    object_type = obj._meta.model_name or ""
    record(object_type, [obj.pk], op, {k: v for k, v in event_data.items() if k == "merged_ids"})
    events.emit(event or f"{object_type}.{EVENT_NAMES[op]}", obj, **event_data)


@dataclass
class FeedPage:
    entries: list[ChangeFeedEntry]
    next_cursor: str


def _encode(txid: int, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{txid}:{pk}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        txid, pk = raw.split(":")
        return int(txid), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed.single(
            "since",
            "invalid",
            _(
                "This cursor is not valid. Leave since out to read from the start, then pass "
                "the next_cursor of the page you read (it is not a date or a number)."
            ),
        ) from None


def read_since(cursor: str | None, limit: int = 500) -> FeedPage:
    """The entries after `cursor` (from the start when None), oldest first.

    The next cursor is returned even when the page is empty, so a client polls with the last
    cursor it got and never misses or repeats an entry.
    """
    if not 1 <= limit <= 1000:
        raise ValidationFailed.single(
            "limit", "out_of_range", _("Between 1 and %(n)d.") % {"n": 1000}
        )
    txid, pk = _decode(cursor) if cursor else (0, 0)
    qs = ChangeFeedEntry.objects.all()
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            horizon = int(c.fetchone()[0])
        qs = (
            qs.filter(txid__lt=horizon)
            .filter(models.Q(txid__gt=txid) | models.Q(txid=txid, id__gt=pk))
            .order_by("txid", "id")
        )
    else:
        qs = qs.filter(id__gt=pk).order_by("id")
    entries = list(qs[:limit])
    if entries:
        last = entries[-1]
        next_cursor = _encode(last.txid or 0, last.pk)
    else:
        next_cursor = cursor or _encode(0, 0)
    return FeedPage(entries=entries, next_cursor=next_cursor)
