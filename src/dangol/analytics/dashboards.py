"""Read queries and Polars computations behind the analytics dashboards (staff pages).

Every function takes the viewing user and a :class:`Filters` and returns small tidy frames
(one row per bar, cell or link) that the pages draw with ECharts and export as CSV.

- **Visibility**: only customers in ``Customer.objects.visible_to(user)`` count. For an
  all-scope role no condition is added at all; otherwise the role's owner/team condition is
  joined through ``customer`` (never a list of ids).
- **Set-based**: counts and sums are one ``GROUP BY`` in the database; the cohort triangles and
  the next-best-offer tallies are Polars over one bulk read (``data.read_sql``).
- **Cached per run**: everything is computed from the last engine run, so results are cached
  under the run id (a new run changes the key), the user's scope, the filters and the language.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    FloatField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from dangol.analytics import churn, cohorts, data, rfm
from dangol.analytics.models import (
    ChurnBand,
    CustomerGrade,
    CustomerMetrics,
    GradeChange,
    GradeChangeReason,
    GradeProgram,
    GradeTier,
    ModelRun,
    RFMSegment,
    RunStatus,
    SegmentSnapshot,
)
from dangol.commerce.models import Order, OrderStatus, Product, SalesChannel
from dangol.core.masking import mask_name
from dangol.core.visibility import Action, Scope, scope_filter, scope_for
from dangol.customers.models import Customer

CACHE_SECONDS = 6 * 60 * 60
TOP_CUSTOMERS = 20
TO_SAVE = 50
TOP_PRODUCTS = 15
#: Upper edges (KRW) of the CLV histogram's buckets; the last bucket is open.
CLV_EDGES: tuple[int, ...] = (10_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000)
NBO_EVALUATION_DAYS = 90

T = TypeVar("T")


# ----------------------------------------------------------------------------- filters, scope


@dataclass(frozen=True)
class Filters:
    """What a dashboard is narrowed to: a sales channel (store) and a period (inclusive days).

    On the customer-metric pages (RFM, CLV, churn, next best offer) channel and period keep the
    customers who bought in that channel during that period; on the grade page the period is
    the one whose grade changes are drawn; on the cohort page it bounds the months shown.
    """

    channel: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def narrows_customers(self) -> bool:
        return bool(self.channel or self.start or self.end)

    def key(self) -> str:
        return f"{self.channel or ''}|{self.start or ''}|{self.end or ''}"


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), ZoneInfo(settings.TIME_ZONE))


def customer_scope(user: Any) -> Scope | None:
    """The user's scope on customers (None: no access at all)."""
    return scope_for(user, "customers.customer", Action.VIEW)


def _scope_q(user: Any, path: str) -> Q | None:
    """The condition (through `path`, "" for Customer itself) for the user's visible customers:
    ``Q()`` for the all scope, None when the user sees no customers."""
    scope = customer_scope(user)
    if scope is None:
        return None
    return scope_filter(user, scope, (path,))


def scope_key(user: Any) -> str:
    scope = customer_scope(user)
    if scope is None:
        return "none"
    if scope == Scope.ALL:
        return "all"
    return f"{scope}:{user.pk}:{getattr(user, 'team_id', '') or ''}"


def _counted_orders(f: Filters) -> QuerySet[Order]:
    orders = Order.objects.exclude(status=OrderStatus.CANCELLED)
    if f.channel:
        orders = orders.filter(channel_id=f.channel)
    if f.start:
        orders = orders.filter(placed_at__gte=_local_midnight(f.start))
    if f.end:
        orders = orders.filter(placed_at__lt=_local_midnight(f.end + dt.timedelta(days=1)))
    return orders


def metrics_for(user: Any, f: Filters) -> QuerySet[CustomerMetrics]:
    """The metrics rows of the customers the user may see, narrowed by channel and period."""
    q = _scope_q(user, "customer")
    if q is None:
        return CustomerMetrics.objects.none()
    qs = CustomerMetrics.objects.filter(q)
    if f.narrows_customers:
        qs = qs.filter(customer_id__in=_counted_orders(f).values("customer_id"))
    return qs


def latest_run() -> ModelRun | None:
    """The last engine run that wrote metrics (succeeded or partly failed)."""
    return (
        ModelRun.objects.filter(
            model=ModelRun.ENGINE, status__in=(RunStatus.SUCCEEDED, RunStatus.PARTIAL)
        )
        .order_by("-id")
        .first()
    )


def last_run_status() -> ModelRun | None:
    """The newest engine run whatever its state (for the "last run" line and the button)."""
    return ModelRun.objects.filter(model=ModelRun.ENGINE).order_by("-id").first()


def latest_step(name: str, run: ModelRun | None = None) -> ModelRun | None:
    """The newest succeeded step run `name` (of `run`, or of any run)."""
    qs = ModelRun.objects.filter(model=name, status=RunStatus.SUCCEEDED)
    if run is not None:
        qs = qs.filter(parent=run)
    return qs.order_by("-id").first()


def _cached(name: str, user: Any, f: Filters, compute: Callable[[], T], *extra: Any) -> T:
    run = latest_run()
    raw = "|".join(
        map(str, (name, run.pk if run else 0, scope_key(user), f.key(), get_language(), *extra))
    )
    key = "analytics:dash:" + hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = compute()
    cache.set(key, value, CACHE_SECONDS)
    return value


def channels() -> list[SalesChannel]:
    return list(SalesChannel.objects.order_by("name"))


def _f(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _segment_label(code: str) -> str:
    if not code:
        return _("No segment")
    return str(RFMSegment(code).label) if code in RFMSegment.values else code


# ------------------------------------------------------------------------------ overview


def overview(user: Any, f: Filters) -> dict[str, Any]:
    """Headline figures of the last run among the visible customers."""

    def compute() -> dict[str, Any]:
        qs = metrics_for(user, f)
        agg = qs.aggregate(
            customers=Count("pk"),
            scored=Count("pk", filter=~Q(rfm_segment="")),
            champions=Count("pk", filter=Q(rfm_segment=RFMSegment.CHAMPIONS)),
            clv_total=Sum("clv_12m"),
            clv_avg=Avg("clv_12m"),
            high_risk=Count("pk", filter=Q(churn_band=ChurnBand.HIGH)),
            value_at_risk=Sum(F("churn_risk") * Coalesce(F("clv_12m"), Value(0.0))),
            p_alive=Avg("p_alive"),
        )
        return {k: (v if v is not None else 0) for k, v in agg.items()}

    return _cached("overview", user, f, compute)


# ----------------------------------------------------------------------------------- RFM


def rfm_segments(user: Any, f: Filters) -> pl.DataFrame:
    """Per segment (in the segments' order): customers, their share, spend in the RFM window,
    its share, average spend and 12-month CLV."""
    rows = {
        r["rfm_segment"]: r
        for r in metrics_for(user, f)
        .exclude(rfm_segment="")
        .values("rfm_segment")
        .annotate(n=Count("pk"), spend=Sum("monetary"), clv=Sum("clv_12m"))
        .order_by()
    }
    frame = pl.DataFrame(
        {
            "segment": list(rfm.SEGMENTS),
            "label": [_segment_label(s) for s in rfm.SEGMENTS],
            "customers": [int(rows[s]["n"]) if s in rows else 0 for s in rfm.SEGMENTS],
            "spend": [_f(rows[s]["spend"]) if s in rows else 0.0 for s in rfm.SEGMENTS],
            "clv_12m": [_f(rows[s]["clv"]) if s in rows else 0.0 for s in rfm.SEGMENTS],
        },
        schema={
            "segment": pl.String,
            "label": pl.String,
            "customers": pl.Int64,
            "spend": pl.Float64,
            "clv_12m": pl.Float64,
        },
    )
    total_n, total_spend = frame["customers"].sum(), frame["spend"].sum()
    return frame.with_columns(
        (pl.col("customers") / total_n if total_n else pl.lit(0.0)).alias("customer_share"),
        (pl.col("spend") / total_spend if total_spend else pl.lit(0.0)).alias("spend_share"),
        pl.when(pl.col("customers") > 0)
        .then(pl.col("spend") / pl.col("customers"))
        .otherwise(0.0)
        .alias("avg_spend"),
    )


def rfm_grid(user: Any, f: Filters) -> pl.DataFrame:
    """The R × F heat map: every (r_score, f_score) cell 1..5 with customers and average spend."""
    rows = {
        (r["r_score"], r["f_score"]): r
        for r in metrics_for(user, f)
        .filter(r_score__isnull=False, f_score__isnull=False)
        .values("r_score", "f_score")
        .annotate(n=Count("pk"), spend=Avg("monetary"))
        .order_by()
    }
    cells = [(r, fs) for r in range(1, 6) for fs in range(1, 6)]
    return pl.DataFrame(
        {
            "r_score": [c[0] for c in cells],
            "f_score": [c[1] for c in cells],
            "customers": [int(rows[c]["n"]) if c in rows else 0 for c in cells],
            "avg_spend": [_f(rows[c]["spend"]) if c in rows else 0.0 for c in cells],
        },
        schema={
            "r_score": pl.Int64,
            "f_score": pl.Int64,
            "customers": pl.Int64,
            "avg_spend": pl.Float64,
        },
    )


def _snapshot(run_id: int) -> tuple[np.ndarray, np.ndarray] | None:
    import zlib

    snap = SegmentSnapshot.objects.filter(pk=run_id).first()
    if snap is None:
        return None
    ids = np.cumsum(np.frombuffer(zlib.decompress(bytes(snap.customer_ids)), dtype=np.int64))
    codes = np.frombuffer(zlib.decompress(bytes(snap.segments)), dtype=np.uint8)
    return ids, codes


def _movement_runs() -> list[int]:
    """The latest snapshot's run and the one to compare it with: the latest run as of an
    earlier day (a second run as of the same day, "run now" after the night's run, would show
    no movement at all), else the run before it."""
    snaps = SegmentSnapshot.objects.order_by("-run_id")
    latest = snaps.values_list("run_id", "run__as_of").first()
    if latest is None:
        return []
    run_id, as_of = latest
    earlier = (
        snaps.filter(run__as_of__lt=as_of).order_by("-run__as_of", "-run_id")
        if as_of is not None
        else snaps.none()
    )
    before = earlier.values_list("run_id", flat=True).first()
    if before is None:
        before = snaps.filter(run_id__lt=run_id).values_list("run_id", flat=True).first()
    return [run_id] if before is None else [run_id, before]


def rfm_movement(user: Any, f: Filters) -> tuple[pl.DataFrame, ModelRun | None, ModelRun | None]:
    """Customers moving between segments from an earlier run (``_movement_runs``) to the last
    run with a snapshot: every (from, to) pair with its count (``""`` = no segment / not a
    customer then)."""
    empty = pl.DataFrame(
        schema={
            "from_segment": pl.String,
            "from_label": pl.String,
            "to_segment": pl.String,
            "to_label": pl.String,
            "customers": pl.Int64,
        }
    )
    run_ids = _movement_runs()
    q = _scope_q(user, "")
    if len(run_ids) < 2 or q is None:
        return empty, None, None
    b, a = _snapshot(run_ids[0]), _snapshot(run_ids[1])
    if a is None or b is None:
        return empty, None, None
    (ids_a, codes_a), (ids_b, codes_b) = a, b
    if q or f.narrows_customers:
        # A restricted scope is small (a rep's book); channel filters read the ids once.
        visible = Customer.objects.filter(q)
        if f.narrows_customers:
            visible = visible.filter(pk__in=_counted_orders(f).values("customer_id"))
        allowed = np.fromiter(visible.values_list("pk", flat=True).order_by(), dtype=np.int64)
        keep_a, keep_b = np.isin(ids_a, allowed), np.isin(ids_b, allowed)
        ids_a, codes_a, ids_b, codes_b = (
            ids_a[keep_a],
            codes_a[keep_a],
            ids_b[keep_b],
            codes_b[keep_b],
        )
    matrix = rfm.movement(ids_a, codes_a, ids_b, codes_b)
    names = [*rfm.SEGMENTS, ""]
    pairs = [(i, j) for i, j in zip(*np.nonzero(matrix), strict=True)]
    frame = pl.DataFrame(
        {
            "from_segment": [names[i] for i, _j in pairs],
            "from_label": [_segment_label(names[i]) for i, _j in pairs],
            "to_segment": [names[j] for _i, j in pairs],
            "to_label": [_segment_label(names[j]) for _i, j in pairs],
            "customers": [int(matrix[i, j]) for i, j in pairs],
        },
        schema=empty.schema,
    )
    runs = {r.pk: r for r in ModelRun.objects.filter(pk__in=run_ids)}
    return frame, runs.get(run_ids[1]), runs.get(run_ids[0])


def rfm_dashboard(user: Any, f: Filters) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        movement, run_a, run_b = rfm_movement(user, f)
        return {
            "segments": rfm_segments(user, f),
            "grid": rfm_grid(user, f),
            "movement": movement,
            "movement_runs": (
                (run_a.as_of.isoformat(), run_b.as_of.isoformat()) if run_a and run_b else None
            ),
        }

    return _cached("rfm", user, f, compute)


# -------------------------------------------------------------------------------- grades


def active_program() -> GradeProgram | None:
    return GradeProgram.objects.filter(is_active=True).first()


def _tiers(program: GradeProgram) -> list[GradeTier]:
    return list(GradeTier.objects.filter(program=program).order_by("-rank"))


def grade_distribution(user: Any, f: Filters, program: GradeProgram) -> pl.DataFrame:
    """Customers per tier (best first) with their average spend, orders and visits."""
    q = _scope_q(user, "customer")
    qs = CustomerGrade.objects.filter(program=program)
    qs = qs.none() if q is None else qs.filter(q)
    if f.channel:  # the period is the sankey's; the distribution is today's
        qs = qs.filter(
            customer_id__in=_counted_orders(Filters(channel=f.channel)).values("customer_id")
        )
    counts = {
        r["tier"]: r
        for r in qs.values("tier")
        .annotate(n=Count("pk"), spend=Avg("spend"), orders=Avg("orders"), visits=Avg("visits"))
        .order_by()
    }
    tiers = _tiers(program)
    total = sum(int(r["n"]) for r in counts.values())
    return pl.DataFrame(
        {
            "tier": [t.code for t in tiers],
            "name": [t.name for t in tiers],
            "rank": [t.rank for t in tiers],
            "customers": [int(counts[t.pk]["n"]) if t.pk in counts else 0 for t in tiers],
            "share": [
                (int(counts[t.pk]["n"]) / total if total else 0.0) if t.pk in counts else 0.0
                for t in tiers
            ],
            "avg_spend": [_f(counts[t.pk]["spend"]) if t.pk in counts else 0.0 for t in tiers],
            "avg_orders": [_f(counts[t.pk]["orders"]) if t.pk in counts else 0.0 for t in tiers],
            "avg_visits": [_f(counts[t.pk]["visits"]) if t.pk in counts else 0.0 for t in tiers],
        },
        schema={
            "tier": pl.String,
            "name": pl.String,
            "rank": pl.Int64,
            "customers": pl.Int64,
            "share": pl.Float64,
            "avg_spend": pl.Float64,
            "avg_orders": pl.Float64,
            "avg_visits": pl.Float64,
        },
    )


def grade_benefits(program: GradeProgram) -> list[dict[str, Any]]:
    """Each tier's requirements and benefits, best first (a table, not a chart)."""
    return [
        {
            "code": t.code,
            "name": t.name,
            "min_spend": t.min_spend,
            "min_orders": t.min_orders,
            "min_visits": t.min_visits,
            "match": t.get_match_display(),
            "benefits": [str(b) for b in (t.benefits or [])],
            "is_entry": t.is_entry,
        }
        for t in _tiers(program)
    ]


def default_migration_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    end = today or timezone.localdate()
    return end - dt.timedelta(days=89), end


def grade_migrations(user: Any, f: Filters, program: GradeProgram) -> pl.DataFrame:
    """Grade changes from → to in the period (first grades come from "no grade"), per reason."""
    start, end = (f.start, f.end) if f.start or f.end else default_migration_period()
    q = _scope_q(user, "customer")
    qs = GradeChange.objects.filter(program=program)
    qs = qs.none() if q is None else qs.filter(q)
    if start:
        qs = qs.filter(at__gte=_local_midnight(start))
    if end:
        qs = qs.filter(at__lt=_local_midnight(end + dt.timedelta(days=1)))
    if f.channel:
        qs = qs.filter(
            customer_id__in=_counted_orders(Filters(channel=f.channel)).values("customer_id")
        )
    names = {t.pk: t.name for t in _tiers(program)}
    ranks = {t.pk: t.rank for t in _tiers(program)}
    rows = list(
        qs.values("from_tier", "to_tier", "reason")
        .annotate(n=Count("pk"))
        .order_by("from_tier", "to_tier", "reason")
    )
    none = _("No grade")
    reasons = dict(GradeChangeReason.choices)
    return pl.DataFrame(
        {
            "from_tier": [names.get(r["from_tier"], none) for r in rows],
            "to_tier": [names.get(r["to_tier"], none) for r in rows],
            "reason": [str(reasons.get(r["reason"], r["reason"])) for r in rows],
            "customers": [int(r["n"]) for r in rows],
            "initial": [r["from_tier"] is None for r in rows],
            # ranks order the sankey's tiers (-1: no grade, or a tier no longer in the programme)
            "from_rank": [ranks.get(r["from_tier"], -1) for r in rows],
            "to_rank": [ranks.get(r["to_tier"], -1) for r in rows],
        },
        schema={
            "from_tier": pl.String,
            "to_tier": pl.String,
            "reason": pl.String,
            "customers": pl.Int64,
            "initial": pl.Boolean,
            "from_rank": pl.Int64,
            "to_rank": pl.Int64,
        },
    )


def grades_dashboard(user: Any, f: Filters) -> dict[str, Any] | None:
    program = active_program()
    if program is None:
        return None

    def compute() -> dict[str, Any]:
        start, end = (f.start, f.end) if f.start or f.end else default_migration_period()
        return {
            "program": program,
            "distribution": grade_distribution(user, f, program),
            "benefits": grade_benefits(program),
            "migrations": grade_migrations(user, f, program),
            "period": (start, end),
        }

    return _cached("grades", user, f, compute, program.pk, program.updated_at.isoformat())


# ----------------------------------------------------------------------------------- CLV


def clv_distribution(user: Any, f: Filters) -> pl.DataFrame:
    """Customers and CLV per value bucket (KRW; bucket bounds in `CLV_EDGES`)."""
    whens = [When(clv_12m__lt=edge, then=Value(i)) for i, edge in enumerate(CLV_EDGES)]
    rows = {
        r["bucket"]: r
        for r in metrics_for(user, f)
        .filter(clv_12m__isnull=False)
        .annotate(bucket=Case(*whens, default=Value(len(CLV_EDGES))))
        .values("bucket")
        .annotate(n=Count("pk"), total=Sum("clv_12m"))
        .order_by()
    }
    lows = [0, *CLV_EDGES]
    labels = [
        (f"{lo // 10_000:,}–{hi // 10_000:,}" if i < len(CLV_EDGES) else f"{lo // 10_000:,}+")
        for i, (lo, hi) in enumerate(zip(lows, [*CLV_EDGES, 0], strict=True))
    ]
    return pl.DataFrame(
        {
            "bucket": labels,
            "low": lows,
            "high": [*CLV_EDGES, None],
            "customers": [int(rows[i]["n"]) if i in rows else 0 for i in range(len(lows))],
            "clv_12m": [_f(rows[i]["total"]) if i in rows else 0.0 for i in range(len(lows))],
        },
        schema={
            "bucket": pl.String,
            "low": pl.Int64,
            "high": pl.Int64,
            "customers": pl.Int64,
            "clv_12m": pl.Float64,
        },
    )


def _customer_row(m: CustomerMetrics) -> dict[str, Any]:
    """The masked identity of a customer for a ranked list (the 360 page has the rest)."""
    return {
        "customer_id": m.customer_id,
        "name": mask_name(m.customer.full_name or ""),
        "segment": _segment_label(m.rfm_segment) if m.rfm_segment else "",
        "grade": m.grade.name if m.grade_id and m.grade else "",
    }


def top_clv_customers(user: Any, f: Filters, top: int = TOP_CUSTOMERS) -> pl.DataFrame:
    rows = (
        metrics_for(user, f)
        .filter(clv_12m__isnull=False)
        .select_related("customer", "grade")
        .only(
            "customer__full_name",
            "grade__name",
            "clv_12m",
            "p_alive",
            "rfm_segment",
            "expected_purchases_90d",
            "monetary",
        )
        .order_by("-clv_12m", "customer_id")[:top]
    )
    return pl.DataFrame(
        [
            {
                **_customer_row(m),
                "clv_12m": _f(m.clv_12m),
                "p_alive": m.p_alive,
                "expected_purchases_90d": m.expected_purchases_90d,
                "spend": _f(m.monetary),
            }
            for m in rows
        ],
        schema={
            "customer_id": pl.Int64,
            "name": pl.String,
            "segment": pl.String,
            "grade": pl.String,
            "clv_12m": pl.Float64,
            "p_alive": pl.Float64,
            "expected_purchases_90d": pl.Float64,
            "spend": pl.Float64,
        },
    )


def clv_by_cohort(user: Any, f: Filters) -> pl.DataFrame:
    """Average and total CLV per acquisition month (the month of the first purchase, local
    time); customers without a CLV count as 0, as in ``cohorts.clv_by_cohort``."""
    rows = (
        metrics_for(user, f)
        .filter(customer__first_purchase_at__isnull=False)
        .annotate(
            cohort=TruncMonth("customer__first_purchase_at", tzinfo=ZoneInfo(settings.TIME_ZONE))
        )
        .values("cohort")
        .annotate(
            n=Count("pk"),
            avg=Avg(Coalesce("clv_12m", Value(0.0), output_field=FloatField())),
            total=Sum("clv_12m"),
        )
        .order_by("cohort")
    )
    return pl.DataFrame(
        {
            "cohort": [
                (r["cohort"].date() if isinstance(r["cohort"], dt.datetime) else r["cohort"])
                for r in rows
            ],
            "customers": [int(r["n"]) for r in rows],
            "avg_clv": [_f(r["avg"]) for r in rows],
            "total_clv": [_f(r["total"]) for r in rows],
        },
        schema={
            "cohort": pl.Date,
            "customers": pl.Int64,
            "avg_clv": pl.Float64,
            "total_clv": pl.Float64,
        },
    )


def clv_dashboard(user: Any, f: Filters) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        return {
            "distribution": clv_distribution(user, f),
            "top": top_clv_customers(user, f),
            "by_cohort": clv_by_cohort(user, f),
            "step": latest_step("clv"),
        }

    return _cached("clv", user, f, compute)


# --------------------------------------------------------------------------------- churn


def churn_bands(user: Any, f: Filters) -> pl.DataFrame:
    """Per band (low, medium, high): customers, average risk, CLV and value at risk."""
    rows = {
        r["churn_band"]: r
        for r in metrics_for(user, f)
        .exclude(churn_band="")
        .values("churn_band")
        .annotate(
            n=Count("pk"),
            risk=Avg("churn_risk"),
            clv=Sum("clv_12m"),
            var=Sum(F("churn_risk") * Coalesce(F("clv_12m"), Value(0.0))),
        )
        .order_by()
    }
    bands = list(ChurnBand)
    return pl.DataFrame(
        {
            "band": [b.value for b in bands],
            "label": [str(b.label) for b in bands],
            "customers": [int(rows[b]["n"]) if b in rows else 0 for b in bands],
            "avg_risk": [_f(rows[b]["risk"]) if b in rows else 0.0 for b in bands],
            "clv_12m": [_f(rows[b]["clv"]) if b in rows else 0.0 for b in bands],
            "value_at_risk": [_f(rows[b]["var"]) if b in rows else 0.0 for b in bands],
        },
        schema={
            "band": pl.String,
            "label": pl.String,
            "customers": pl.Int64,
            "avg_risk": pl.Float64,
            "clv_12m": pl.Float64,
            "value_at_risk": pl.Float64,
        },
    )


def churn_backtest(step: ModelRun | None) -> pl.DataFrame:
    """The last churn step's backtest: model and BG/NBD baseline (P(no purchase)) side by side."""
    quality = step.quality if step is not None else {}
    metrics = [
        ("roc_auc", "baseline_roc_auc", _("ROC-AUC (higher is better)")),
        ("pr_auc", "baseline_pr_auc", _("PR-AUC (higher is better)")),
        ("brier", "baseline_brier", _("Brier score, calibrated (lower is better)")),
    ]
    rows = [
        (label, quality.get(model_key), quality.get(base_key))
        for model_key, base_key, label in metrics
        if quality.get(model_key) is not None
    ]
    return pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "model": [_f(r[1]) for r in rows],
            "baseline": [_f(r[2]) for r in rows],
        },
        schema={"metric": pl.String, "model": pl.Float64, "baseline": pl.Float64},
    )


def customers_to_save(user: Any, f: Filters, top: int = TO_SAVE) -> pl.DataFrame:
    """The customers with the most value at risk (churn_risk × clv_12m, a missing CLV counts as
    0), largest first: the same ranking as ``churn.customers_to_save``, done by the database."""
    rows = (
        metrics_for(user, f)
        .filter(churn_risk__isnull=False)
        .annotate(var=F("churn_risk") * Coalesce(F("clv_12m"), Value(0.0)))
        .select_related("customer", "grade")
        .only(
            "customer__full_name",
            "grade__name",
            "clv_12m",
            "churn_risk",
            "churn_band",
            "churn_drivers",
            "rfm_segment",
            "p_alive",
        )
        .order_by("-var", "customer_id")[:top]
    )
    bands = dict(ChurnBand.choices)
    return pl.DataFrame(
        [
            {
                **_customer_row(m),
                "churn_risk": _f(m.churn_risk),
                "churn_band": m.churn_band,
                "band_label": str(bands.get(m.churn_band, m.churn_band)),
                "clv_12m": _f(m.clv_12m),
                "value_at_risk": _f(getattr(m, "var", 0.0)),
                "p_alive": m.p_alive,
                "drivers": " · ".join(churn.driver_texts(m.churn_drivers)),
            }
            for m in rows
        ],
        schema={
            "customer_id": pl.Int64,
            "name": pl.String,
            "segment": pl.String,
            "grade": pl.String,
            "churn_risk": pl.Float64,
            "churn_band": pl.String,
            "band_label": pl.String,
            "clv_12m": pl.Float64,
            "value_at_risk": pl.Float64,
            "p_alive": pl.Float64,
            "drivers": pl.String,
        },
    )


def churn_dashboard(user: Any, f: Filters) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        step = latest_step("churn")
        return {
            "bands": churn_bands(user, f),
            "backtest": churn_backtest(step),
            "step": step,
            "to_save": customers_to_save(user, f),
        }

    return _cached("churn", user, f, compute)


# ---------------------------------------------------------------------- next best offer

_OFFER = pl.List(
    pl.Struct(
        {
            "product_id": pl.Int64,
            "kind": pl.String,
            "score": pl.Float64,
            "because_product_id": pl.Int64,
        }
    )
)


def _frame_of(qs: QuerySet[Any], schema: dict[str, Any]) -> pl.DataFrame:
    """One bulk read of a ``values_list`` queryset into a frame (no model instances)."""
    sql, params = qs.query.sql_with_params()
    return data.read_sql(sql.replace("%s", "{}"), params, schema)


def offer_tally(user: Any, f: Filters) -> pl.DataFrame:
    """How often each product is offered among the visible customers' next best offers.

    Columns: product_id, name, customers (offered to), first_choice (offered first),
    cross_sell, up_sell, popular (customers per kind), avg_score; most offered first.
    """
    qs = metrics_for(user, f).exclude(next_best_offers=[]).values_list("next_best_offers")
    raw = _frame_of(qs.order_by(), {"offers": pl.String})
    schema = {
        "product_id": pl.Int64,
        "name": pl.String,
        "customers": pl.Int64,
        "first_choice": pl.Int64,
        "cross_sell": pl.Int64,
        "up_sell": pl.Int64,
        "popular": pl.Int64,
        "avg_score": pl.Float64,
    }
    if raw.is_empty():
        return pl.DataFrame(schema=schema)
    offers = (
        raw.select(pl.col("offers").str.json_decode(_OFFER))
        .with_row_index("row")
        .explode("offers")
        .drop_nulls("offers")
        .unnest("offers")
        .with_columns((pl.int_range(pl.len()).over("row") == 0).alias("first"))
    )
    tally = (
        offers.group_by("product_id")
        .agg(
            pl.len().cast(pl.Int64).alias("customers"),
            pl.col("first").sum().cast(pl.Int64).alias("first_choice"),
            *(
                (pl.col("kind") == kind).sum().cast(pl.Int64).alias(kind)
                for kind in ("cross_sell", "up_sell", "popular")
            ),
            pl.col("score").mean().alias("avg_score"),
        )
        .sort(["customers", "product_id"], descending=[True, False])
        .head(TOP_PRODUCTS)
    )
    names = dict(
        Product.objects.filter(pk__in=tally["product_id"].to_list()).values_list("pk", "name")
    )
    return tally.with_columns(
        pl.col("product_id").replace_strict(names, default="", return_dtype=pl.String).alias("name")
    ).select(list(schema))


def nbo_evaluation(*, compute: bool = True) -> dict[str, Any] | None:
    """Offline hit@5 against popularity: from the last NBO step's log when it has it, else
    ``nbo.evaluate`` at (as of − 90 days), computed once per run and cached (whole base: it
    measures the model, not customers)."""
    run = latest_run()
    step = latest_step("nbo", run)
    if step is not None and "hit_rate" in (step.quality or {}):
        return {**step.quality, "source": "run"}
    if run is None:
        return None
    key = f"analytics:nbo-eval:{run.pk}"
    hit = cache.get(key)
    if hit is not None or not compute:
        return hit
    from dangol.analytics import ml_steps, nbo

    lines = data.read_lines(until=run.as_of)
    lines = lines.select(
        "order_id",
        "customer_id",
        "product_id",
        "quantity",
        "line_total",
        pl.col("day").cast(pl.Datetime("us")).alias("placed_at"),
    ).filter(pl.col("quantity") > 0)
    split = run.as_of + dt.timedelta(days=1) - dt.timedelta(days=NBO_EVALUATION_DAYS)
    if lines.is_empty():
        result: dict[str, Any] = {"customers": 0}
    else:
        result = dict(
            nbo.evaluate(
                lines,
                ml_steps.read_products(),
                split_date=split,
                top_n=ml_steps.NBO_TOP_N,
                horizon_days=NBO_EVALUATION_DAYS,
            )
        )
    result = {
        **{
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in result.items()
        },
        "split_date": split.isoformat(),
        "source": "computed",
    }
    cache.set(key, result, CACHE_SECONDS * 4)
    return result


def nbo_dashboard(user: Any, f: Filters) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        qs = metrics_for(user, f)
        return {
            "products": offer_tally(user, f),
            "with_offers": qs.exclude(next_best_offers=[]).count(),
            "step": latest_step("nbo"),
        }

    return _cached("nbo", user, f, compute)


# ------------------------------------------------------------------------------- cohorts


def _order_frame(user: Any, channel: int | None, until: dt.date) -> pl.DataFrame:
    """Counted orders of the visible customers up to the end of local day `until`, as
    ``cohorts`` wants them: customer_id, order_id, placed_at (UTC), total (net of refunds)."""
    q = _scope_q(user, "customer")
    qs = Order.objects.exclude(status=OrderStatus.CANCELLED).filter(
        placed_at__lt=_local_midnight(until + dt.timedelta(days=1))
    )
    qs = qs.none() if q is None else qs.filter(q)
    if channel:
        qs = qs.filter(channel_id=channel)
    placed = f"{data._table(Order)}.{data._col(Order, 'placed_at')}"
    frame = _frame_of(
        qs.annotate(
            _epoch=RawSQL(data._epoch(placed), []),  # noqa: S611 (names from _meta)
            _net=Cast(F("total") - F("returned_amount"), FloatField()),
        )
        .values_list("customer_id", "id", "_epoch", "_net")
        .order_by(),
        {
            "customer_id": pl.Int64,
            "order_id": pl.Int64,
            "epoch": pl.Int64,
            "total": pl.Float64,
        },
    )
    return frame.select(
        "customer_id",
        "order_id",
        pl.from_epoch("epoch", time_unit="s").alias("placed_at"),
        pl.col("total").clip(lower_bound=0.0),
    )


def _assignments(user: Any) -> pl.DataFrame:
    """customer_id, grade (tier name), rfm_segment (label) of the visible customers."""
    qs = metrics_for(user, Filters())
    frame = _frame_of(
        qs.values_list("customer_id", "grade__name", "rfm_segment").order_by(),
        {"customer_id": pl.Int64, "grade": pl.String, "rfm_segment": pl.String},
    )
    labels = {s.value: str(s.label) for s in RFMSegment}
    return frame.with_columns(
        pl.col("rfm_segment").replace_strict(labels, default=None, return_dtype=pl.String)
    )


def cohort_report(user: Any, channel: int | None) -> cohorts.CohortReport | None:
    """Every cohort frame for the last run's data (cached per run, scope, channel)."""
    run = latest_run()
    if run is None:
        return None

    def compute() -> cohorts.CohortReport:
        orders = _order_frame(user, channel, run.as_of)
        return cohorts.compute(
            orders, as_of=run.as_of + dt.timedelta(days=1), metrics=_assignments(user)
        )

    return _cached("cohorts", user, Filters(channel=channel), compute)


def default_cohort_period(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The last twelve months up to the run's day."""
    start = (as_of.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
    return start, as_of


def _grade_order() -> dict[str, int]:
    """Tier name → position, the best tier first."""
    program = active_program()
    tiers = sorted(_tiers(program), key=lambda t: -t.rank) if program is not None else []
    return {t.name: i for i, t in enumerate(tiers)}


def _in_order(share: pl.DataFrame | None, dimension: str, order: dict[str, int]) -> pl.DataFrame:
    """One dimension's revenue shares with ``order``: the group's place in the legend and the
    stack (best grade or segment first; groups not named, such as unassigned, last)."""
    if share is None:
        return pl.DataFrame()
    return (
        share.filter(pl.col("dimension") == dimension)
        .drop("dimension")
        .with_columns(
            pl.col("group")
            .replace_strict(order, default=len(order), return_dtype=pl.Int64)
            .alias("order")
        )
        .sort("month", "order", "group")
    )


def cohorts_dashboard(user: Any, f: Filters) -> dict[str, Any] | None:
    run = latest_run()
    report = cohort_report(user, f.channel)
    if run is None or report is None:
        return None
    start, end = (
        (f.start or dt.date(1900, 1, 1), f.end or run.as_of)
        if f.start or f.end
        else default_cohort_period(run.as_of)
    )
    first, last = start.replace(day=1), end

    def months(frame: pl.DataFrame, column: str) -> pl.DataFrame:
        return frame.filter((pl.col(column) >= first) & (pl.col(column) <= last))

    retention = months(report.retention, "cohort")
    retention = retention.filter(pl.col("period") <= last)
    kpis = months(report.kpis, "month")
    share = months(report.revenue_share, "month") if report.revenue_share is not None else None
    return {
        "retention": retention.select(
            "cohort", "month_index", "cohort_size", "customers", "retention", "complete"
        ),
        "revenue": retention.select(
            "cohort",
            "month_index",
            "cohort_size",
            "revenue",
            "revenue_per_customer",
            "cumulative_revenue_per_customer",
            "complete",
        ),
        "rates": kpis.select(
            "month",
            "active_customers",
            "new_customers",
            "repeat_purchase_rate",
            "active_base",
            "churned",
            "churn_rate",
            "revenue",
            "complete",
        ),
        "share_grade": _in_order(share, "grade", _grade_order()),
        "share_segment": _in_order(
            share, "rfm_segment", {str(seg.label): i for i, seg in enumerate(RFMSegment)}
        ),
        "period": (first, last),
    }
