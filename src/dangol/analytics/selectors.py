"""Read queries of the analytics app that pages and endpoints share."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

import numpy as np
from django.db.models import Count, QuerySet

from dangol.analytics import rfm
from dangol.analytics.models import (
    CustomerGrade,
    CustomerMetrics,
    GradeChange,
    GradeProgram,
    GradeTier,
    ModelRun,
    RFMSegment,
    SegmentSnapshot,
)
from dangol.core.errors import NotFound
from dangol.customers.models import Customer


def _visible_customers(user: Any) -> QuerySet[Customer]:
    return Customer.objects.visible_to(user)


def customer_metrics(user: Any, customer_id: int) -> CustomerMetrics:
    """One customer's metrics, if the user may see the customer (404 otherwise)."""
    metrics = (
        CustomerMetrics.objects.filter(
            customer_id=customer_id, customer__in=_visible_customers(user)
        )
        .select_related("grade")
        .first()
    )
    if metrics is None:
        raise NotFound()
    return metrics


def rfm_segment_counts(user: Any) -> list[dict[str, Any]]:
    """Customers per RFM segment among those the user may see, in the segments' order."""
    rows = dict(
        CustomerMetrics.objects.filter(customer__in=_visible_customers(user))
        .exclude(rfm_segment="")
        .values_list("rfm_segment")
        .annotate(n=Count("pk"))
        .values_list("rfm_segment", "n")
    )
    return [
        {"segment": s.value, "label": str(s.label), "customers": rows.get(s.value, 0)}
        for s in RFMSegment
    ]


def _snapshot_arrays(run_id: int) -> tuple[np.ndarray, np.ndarray]:
    snap = SegmentSnapshot.objects.filter(pk=run_id).first()
    if snap is None:
        raise NotFound()
    ids = np.cumsum(np.frombuffer(zlib.decompress(bytes(snap.customer_ids)), dtype=np.int64))
    codes = np.frombuffer(zlib.decompress(bytes(snap.segments)), dtype=np.uint8)
    return ids, codes


def rfm_movement(run_a: int, run_b: int) -> list[dict[str, Any]]:
    """Customers moving between RFM segments from engine run `run_a` to `run_b`.

    One entry per non-empty (from, to) pair; ``""`` stands for "no segment" (no purchase yet, or
    not a customer at that run). Counts cover the whole base: they are aggregates.
    """
    ids_a, codes_a = _snapshot_arrays(run_a)
    ids_b, codes_b = _snapshot_arrays(run_b)
    matrix = rfm.movement(ids_a, codes_a, ids_b, codes_b)
    names = [*rfm.SEGMENTS, ""]
    return [
        {"from": names[i], "to": names[j], "customers": int(matrix[i, j])}
        for i, j in zip(*np.nonzero(matrix), strict=True)
    ]


def latest_runs_with_segments(limit: int = 2) -> list[int]:
    """Ids of the latest engine runs that kept a segment snapshot, newest first."""
    runs = SegmentSnapshot.objects.order_by("-run_id").values_list("run_id", flat=True)
    return list(runs[:limit])


def active_program() -> GradeProgram | None:
    return GradeProgram.objects.filter(is_active=True).prefetch_related("tiers").first()


def grade_distribution(user: Any) -> list[dict[str, Any]]:
    """Customers per tier of the active programme among those the user may see."""
    program = active_program()
    if program is None:
        return []
    counts = dict(
        CustomerGrade.objects.filter(program=program, customer__in=_visible_customers(user))
        .values_list("tier")
        .annotate(n=Count("pk"))
        .values_list("tier", "n")
    )
    return [
        {"tier": t.code, "name": t.name, "rank": t.rank, "customers": counts.get(t.pk, 0)}
        for t in sorted(program.tiers.all(), key=lambda t: -t.rank)
    ]


def grade_migrations(
    user: Any, *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Grade changes from → to (tier codes, ``""`` for none) over a period, for a sankey."""
    qs = GradeChange.objects.filter(customer__in=_visible_customers(user))
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    rows = (
        qs.values("from_tier", "to_tier").annotate(n=Count("pk")).order_by("from_tier", "to_tier")
    )
    tiers = dict(GradeTier.objects.values_list("pk", "code"))
    return [
        {
            "from": tiers.get(r["from_tier"], "") if r["from_tier"] else "",
            "to": tiers.get(r["to_tier"], "") if r["to_tier"] else "",
            "customers": r["n"],
        }
        for r in rows
    ]


def model_runs(*, model: str | None = None, parent: int | None = None) -> QuerySet[ModelRun]:
    """The run log: engine runs by default, or the steps of one run."""
    qs = ModelRun.objects.all()
    if parent is not None:
        return qs.filter(parent_id=parent)
    return qs.filter(model=model or ModelRun.ENGINE)


def model_run(run_id: int) -> ModelRun:
    run = ModelRun.objects.filter(pk=run_id).prefetch_related("steps").first()
    if run is None:
        raise NotFound()
    return run


def describe_offers(offers: list[Any]) -> list[dict[str, Any]]:
    """A customer's stored next best offers as shown: product name, kind, score and the reason
    in the active language (one query for the names of the products they mention)."""
    from dangol.analytics.nbo import offer_reason
    from dangol.commerce.models import Product

    rows = [o for o in offers or [] if isinstance(o, dict)]
    ids = {int(o[k]) for o in rows for k in ("product_id", "because_product_id") if o.get(k)}
    products: dict[int, tuple[str, str]] = (
        {pk: (name, line) for pk, name, line in
         Product.objects.filter(pk__in=ids).values_list("pk", "name", "line")}
        if ids
        else {}
    )  # fmt: skip
    return [
        {
            "name": products.get(int(o.get("product_id") or 0), (f"#{o.get('product_id')}", ""))[0],
            "kind": o.get("kind", ""),
            "reason": offer_reason(o, products),
            "score": o.get("score"),
        }
        for o in rows
    ]
