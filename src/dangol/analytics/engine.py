"""The analytics engine: registered steps over one shared, bulk-read context.

A run reads customers and orders once (``data.py``), calls each registered step, joins the
columns the steps return into one frame with a row per customer, and replaces every
``CustomerMetrics`` row in a single transaction together with the steps' own bulk writes (grade
changes, segment snapshot) and the ``ModelRun`` log. Readers see the previous run until commit.

Adding a model is one registration::

    @step("churn", columns=("churn_risk", "churn_band", "churn_drivers"), order=40)
    def churn_step(ctx: Context) -> StepOutput:
        return StepOutput(frame=churn.score(ctx.orders, ctx.customers, as_of=ctx.as_of))

A step returns ``customer_id`` plus the columns it owns (JSON columns as JSON text or as
List/Struct columns, encoded here). Columns of steps not run (``--only``) or failed keep their
previous values. Nothing loops over customers in Python.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.analytics import alerts, clv, data, grades, rfm
from dangol.analytics.models import (
    CustomerGrade,
    CustomerMetrics,
    GradeChange,
    GradeProgram,
    ModelRun,
    RFMConfig,
    RunStatus,
    RunTrigger,
    SegmentSnapshot,
)
from dangol.core import events
from dangol.core.dbstats import vacuum_analyze
from dangol.core.errors import Conflict, ValidationFailed
from dangol.customers.models import Customer, CustomerHistory, HistoryKind

log = logging.getLogger(__name__)

#: Every metrics column a step can own, with the value a customer gets when none has run.
METRIC_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "recency_days": (None, pl.Int64),
    "frequency": (0, pl.Int64),
    "monetary": (0.0, pl.Float64),
    "r_score": (None, pl.Int64),
    "f_score": (None, pl.Int64),
    "m_score": (None, pl.Int64),
    "rfm_segment": ("", pl.String),
    "previous_rfm_segment": ("", pl.String),
    "grade_id": (None, pl.Int64),
    "expected_purchases_90d": (None, pl.Float64),
    "p_alive": (None, pl.Float64),
    "clv_12m": (None, pl.Float64),
    "churn_risk": (None, pl.Float64),
    "churn_band": ("", pl.String),
    "churn_drivers": ("[]", pl.String),
    "next_best_offers": ("[]", pl.String),
}
JSON_COLUMNS = ("churn_drivers", "next_best_offers")
#: Columns of the previous run every run reads, to compare against: the RFM movement and the
#: churn alerts (a band that moved into "high").
PREVIOUS_COLUMNS = ("rfm_segment", "churn_band")
STALE_RUN = dt.timedelta(hours=6)  # a "running" run older than this is taken as crashed
FIT_SAMPLE = 50_000  # customers the CLV models are fitted on (all of them below this; ADR 0007)


@dataclass
class StepOutput:
    """What a step hands back: its columns per customer, and what to log about the fit."""

    frame: pl.DataFrame | None = None  # customer_id + the step's columns
    parameters: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    window: tuple[dt.date | None, dt.date | None] = (None, None)
    rows_in: dict[str, int] = field(default_factory=dict)
    skipped: str = ""  # why the step had nothing to compute (its columns get the defaults)
    write: Callable[[WriteContext], int] | None = None  # bulk writes inside the run's transaction


@dataclass(frozen=True)
class Step:
    """A registered step."""

    name: str
    columns: tuple[str, ...]
    func: Callable[[Context], StepOutput]
    order: int


STEPS: dict[str, Step] = {}


def step(
    name: str, *, columns: Iterable[str], order: int = 100
) -> Callable[[Callable[[Context], StepOutput]], Callable[[Context], StepOutput]]:
    """Register the decorated function as the engine step `name` owning `columns`."""
    owned = tuple(columns)
    unknown = [c for c in owned if c not in METRIC_DEFAULTS]
    if unknown:
        raise ValueError(f"step {name!r}: unknown metrics column(s) {unknown}")

    def register(func: Callable[[Context], StepOutput]) -> Callable[[Context], StepOutput]:
        for other in STEPS.values():
            clash = set(owned) & set(other.columns)
            if other.name != name and clash:
                raise ValueError(f"step {name!r}: {sorted(clash)} already owned by {other.name!r}")
        STEPS[name] = Step(name, owned, func, order)
        return func

    return register


def registered_steps() -> list[Step]:
    return sorted(STEPS.values(), key=lambda s: (s.order, s.name))


class Context:
    """The data every step shares; frames are read once, on first use."""

    def __init__(
        self, *, as_of: dt.date, run: ModelRun, now: dt.datetime, kept: Iterable[str] = ()
    ) -> None:
        self.as_of = as_of
        self.run = run
        self.now = now
        self.kept = tuple(kept)  # metrics columns of the steps not run: carried over
        self.results: dict[str, StepOutput] = {}

    @cached_property
    def customers(self) -> pl.DataFrame:
        """customer_id, created: every customer not merged away, sorted by id."""
        return data.read_customers()

    @cached_property
    def orders(self) -> pl.DataFrame:
        """order_id, customer_id, day, amount, channel_id of counted orders up to as_of."""
        return data.read_orders(until=self.as_of)

    @cached_property
    def lines(self) -> pl.DataFrame:
        """customer_id, product_id, day of every line of the counted orders that was not
        returned in full (read only when a step asks)."""
        return data.read_line_products(self.orders)

    @cached_property
    def previous(self) -> pl.DataFrame:
        """The metrics rows as they are before this run: customer_id, the columns compared
        against (`PREVIOUS_COLUMNS`) and those of the steps not run (kept as they were).

        Only these are read: the JSON columns of a full read are most of the table's bytes.
        """
        names = [*PREVIOUS_COLUMNS, *(c for c in self.kept if c not in PREVIOUS_COLUMNS)]
        schema = {"customer_id": pl.Int64, **{c: METRIC_DEFAULTS[c][1] for c in names}}
        return data.read_table(CustomerMetrics, schema)


@dataclass
class WriteContext:
    """What a step's write callback gets: the run and its final metrics frame."""

    run: ModelRun
    as_of: dt.date
    now: dt.datetime
    metrics: pl.DataFrame


# ---------------------------------------------------------------------------- running


def default_as_of() -> dt.date:
    """Yesterday, local time: the last complete day."""
    return timezone.localdate() - dt.timedelta(days=1)


def validate_only(only: Iterable[str] | None) -> list[str]:
    names = list(only or [])
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise ValidationFailed.single(
            "only",
            "invalid_choice",
            _("Unknown step(s): %(names)s. Choose from: %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(s.name for s in registered_steps())},
        )
    return names


def queue_run(
    *, trigger: str, only: Iterable[str] | None, as_of: dt.date | None, actor: Any = None
) -> ModelRun:
    """Create a queued engine run, refusing while another one is running."""
    names = validate_only(only)
    busy = ModelRun.objects.filter(
        model=ModelRun.ENGINE,
        status__in=(RunStatus.RUNNING, RunStatus.QUEUED),
        created_at__gte=timezone.now() - STALE_RUN,
    )
    if busy.exists():
        raise Conflict(_("An analytics run is already queued or running."), "already_running")
    return ModelRun.objects.create(
        model=ModelRun.ENGINE,
        trigger=trigger,
        only=names,
        as_of=as_of or default_as_of(),
        status=RunStatus.QUEUED,
        actor=actor if getattr(actor, "pk", None) else None,
    )


def run(
    *,
    only: Iterable[str] | None = None,
    as_of: dt.date | None = None,
    trigger: str = RunTrigger.COMMAND,
    actor: Any = None,
    queued: ModelRun | None = None,
) -> ModelRun:
    """Run the engine now (or the `queued` run); returns the finished engine ModelRun.

    Must not be called inside a transaction: the run is logged as running first, then all of
    its results are written in one transaction.
    """
    if queued is None:
        queued = queue_run(trigger=trigger, only=only, as_of=as_of, actor=actor)
    claimed = ModelRun.objects.filter(pk=queued.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    queued.refresh_from_db()
    if not claimed:
        return queued  # taken by another worker, or finished already
    started = time.monotonic()
    selected = [s for s in registered_steps() if not queued.only or s.name in queued.only]
    fresh = {c for s in selected for c in s.columns}
    ctx = Context(
        as_of=queued.as_of,
        run=queued,
        now=timezone.now(),
        kept=[c for c in METRIC_DEFAULTS if c not in fresh],
    )
    step_runs: list[ModelRun] = []
    try:
        outputs = _run_steps(ctx, selected, step_runs)
        metrics = _assemble(ctx, selected, outputs)
        with transaction.atomic():
            data.delete_all(CustomerMetrics)
            written = data.write_frame(CustomerMetrics, metrics)
            wctx = WriteContext(run=queued, as_of=ctx.as_of, now=ctx.now, metrics=metrics)
            for sr in step_runs:
                out = outputs.get(sr.model)
                if out is not None and out.write is not None:
                    sr.rows_out += out.write(wctx)
            ModelRun.objects.bulk_create(step_runs)
            failed = [sr.model for sr in step_runs if sr.status == RunStatus.FAILED]
            queued.status = RunStatus.PARTIAL if failed else RunStatus.SUCCEEDED
            queued.error = (
                _("Failed steps: %(names)s") % {"names": ", ".join(failed)} if failed else ""
            )
            queued.rows_out = written
            queued.rows_in = {"customers": ctx.customers.height, **_orders_read(ctx)}
            queued.window_end = ctx.as_of
            queued.parameters = {"steps": [s.name for s in selected]}
            _finish(queued, started)
        # Fresh planner statistics for what the run rewrote: segments and lists filter on it.
        vacuum_analyze([CustomerMetrics, CustomerGrade])
        alerts.after_run(ctx, metrics)  # churn early warning, once the metrics have committed
    except Exception as exc:
        log.exception("analytics run %s failed", queued.pk)
        queued.status = RunStatus.FAILED
        queued.error = f"{type(exc).__name__}: {exc}"[:4000]
        _finish(queued, started)
        raise
    return queued


def _orders_read(ctx: Context) -> dict[str, int]:
    loaded = ctx.__dict__
    return {k: loaded[k].height for k in ("orders", "lines") if k in loaded}


def _finish(run_row: ModelRun, started: float) -> None:
    run_row.finished_at = timezone.now()
    run_row.duration_seconds = round(time.monotonic() - started, 3)
    run_row.save()


def _run_steps(
    ctx: Context, selected: list[Step], step_runs: list[ModelRun]
) -> dict[str, StepOutput]:
    outputs: dict[str, StepOutput] = {}
    for s in selected:
        began_at, began = timezone.now(), time.monotonic()
        row = ModelRun(
            model=s.name,
            parent=ctx.run,
            trigger=ctx.run.trigger,
            as_of=ctx.as_of,
            started_at=began_at,
            actor_id=ctx.run.actor_id,
        )
        try:
            out = s.func(ctx)
            _check_frame(s, out)
            ctx.results[s.name] = outputs[s.name] = out
            row.status = RunStatus.SKIPPED if out.skipped else RunStatus.SUCCEEDED
            row.error = out.skipped
            row.parameters, row.quality = _json_safe(out.parameters), _json_safe(out.quality)
            row.rows_in = out.rows_in
            row.window_start, row.window_end = out.window
            row.rows_out = out.frame.height if out.frame is not None else 0
        except Exception as exc:  # one failing model must not stop the others
            log.exception("analytics step %s failed", s.name)
            row.status = RunStatus.FAILED
            row.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        row.finished_at = timezone.now()
        row.duration_seconds = round(time.monotonic() - began, 3)
        step_runs.append(row)
    return outputs


def _json_safe(value: Any) -> Any:
    """JSON-ready: NaN and infinities become null, NumPy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _check_frame(s: Step, out: StepOutput) -> None:
    if out.frame is None:
        return
    extra = set(out.frame.columns) - {"customer_id", *s.columns}
    if "customer_id" not in out.frame.columns or extra:
        raise ValueError(f"step {s.name!r} returned columns {out.frame.columns}")


def _json_text(frame: pl.DataFrame, name: str) -> pl.Expr:
    if frame.schema[name] == pl.String:
        return pl.col(name)
    return (
        pl.struct(pl.col(name).alias("v"))
        .struct.json_encode()
        .str.strip_prefix('{"v":')
        .str.strip_suffix("}")
        .alias(name)
    )


def _assemble(ctx: Context, selected: list[Step], outputs: dict[str, StepOutput]) -> pl.DataFrame:
    """One row per customer: fresh columns from the steps, the rest from the previous run."""
    frame = ctx.customers.select("customer_id")
    fresh: set[str] = set()
    for s in selected:
        out = outputs.get(s.name)
        if out is None:
            continue  # failed: keep the previous values
        fresh.update(s.columns)
        if out.frame is not None and out.frame.width > 1:
            part = out.frame.with_columns(
                [_json_text(out.frame, c) for c in out.frame.columns if c in JSON_COLUMNS]
            )
            frame = frame.join(part, on="customer_id", how="left")
    keep = [c for c in METRIC_DEFAULTS if c not in fresh]
    previous = ctx.previous  # read before the write in every run: the churn alerts compare to it
    failed = [c for c in keep if c not in previous.columns]  # of a step that failed
    if failed:
        schema = {"customer_id": pl.Int64, **{c: METRIC_DEFAULTS[c][1] for c in failed}}
        previous = previous.join(
            data.read_table(CustomerMetrics, schema), on="customer_id", how="left"
        )
    if keep:
        frame = frame.join(previous.select("customer_id", *keep), on="customer_id", how="left")
    missing = [c for c in METRIC_DEFAULTS if c not in frame.columns]
    frame = frame.with_columns(
        pl.lit(METRIC_DEFAULTS[c][0], dtype=METRIC_DEFAULTS[c][1]).alias(c) for c in missing
    )
    frame = frame.with_columns(
        pl.col(c).fill_nan(None) for c, (_d, t) in METRIC_DEFAULTS.items() if t == pl.Float64
    )
    return frame.select(
        "customer_id",
        *[
            pl.col(c).cast(t).fill_null(d) if d is not None else pl.col(c).cast(t)
            for c, (d, t) in METRIC_DEFAULTS.items()
        ],
        pl.lit(ctx.run.pk, dtype=pl.Int64).alias("run_id"),
        pl.lit(ctx.now).alias("computed_at"),
    ).sort("customer_id")  # key order: the primary-key index is appended to, not split


# ------------------------------------------------------------------------------- steps


def rfm_settings(config: RFMConfig) -> rfm.RFMSettings:
    return rfm.RFMSettings(
        window_days=config.window_days,
        scoring=config.scoring,
        recency_days=tuple(config.recency_days),
        frequency_counts=tuple(config.frequency_counts),
        monetary_krw=tuple(config.monetary_krw),
    )


@step(
    "rfm",
    columns=(
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "rfm_segment",
        "previous_rfm_segment",
    ),
    order=10,
)
def rfm_step(ctx: Context) -> StepOutput:
    """Recency, frequency, monetary value, their scores and the named segment."""
    config = RFMConfig.current()
    settings = rfm_settings(config)
    values = rfm.rfm_values(
        ctx.orders, ctx.customers["customer_id"], as_of=ctx.as_of, window_days=settings.window_days
    )
    scored = rfm.score(values, settings)
    previous = ctx.previous.select(
        "customer_id", pl.col("rfm_segment").alias("previous_rfm_segment")
    )
    scored = scored.join(previous, on="customer_id", how="left").with_columns(
        pl.col("previous_rfm_segment").fill_null("")
    )
    counts = dict(
        scored.filter(pl.col("rfm_segment") != "").group_by("rfm_segment").len().iter_rows()
    )

    def write(w: WriteContext) -> int:
        ids = scored["customer_id"].to_numpy().astype(np.int64)
        codes = rfm.segment_codes(scored["rfm_segment"])
        SegmentSnapshot.objects.create(
            run=w.run,
            customer_ids=zlib.compress(np.diff(ids, prepend=0).astype(np.int64).tobytes(), 6),
            segments=zlib.compress(codes.tobytes(), 6),
            counts=counts,
        )
        return 1

    return StepOutput(
        frame=scored,
        parameters={
            "window_days": settings.window_days,
            "scoring": settings.scoring,
            "recency_days": list(settings.recency_days),
            "frequency_counts": list(settings.frequency_counts),
            "monetary_krw": list(settings.monetary_krw),
        },
        quality={"segments": counts, "scored": int(sum(counts.values()))},
        window=(ctx.as_of - dt.timedelta(days=settings.window_days - 1), ctx.as_of),
        rows_in={"orders": ctx.orders.height, "customers": ctx.customers.height},
        write=write,
    )


def clv_frame(
    transactions: pl.DataFrame,
    *,
    as_of: dt.date,
    model: str = "bgnbd",
    months: int = 12,
    monthly_discount_rate: float = 0.01,
) -> tuple[pl.DataFrame, dict[str, Any], dict[str, Any]]:
    """customer_id, expected_purchases_90d, p_alive, clv_12m with parameters and fit quality.

    `transactions` has customer_id, date, amount; the same calls as ``clv.run_clv`` (weeks),
    fitting only the purchase model that is used.
    """
    summary = clv.summarize_transactions(transactions, observation_end=as_of, time_unit="week")
    repeat = int((summary["frequency"] > 0).sum())
    if summary.height < clv.MIN_CUSTOMERS or repeat < clv.MIN_REPEAT_CUSTOMERS:
        raise clv.CLVInputError(
            f"too few customers: {summary.height} ({repeat} with repeat purchases)"
        )
    x = summary["frequency"].to_numpy().astype(np.float64)
    tx = summary["recency"].to_numpy()
    t_obs = summary["T"].to_numpy()
    m = summary["monetary_value"].fill_null(np.nan).to_numpy()
    # The fit estimates a handful of population parameters: past FIT_SAMPLE customers a seeded
    # random sample gives the same answer to well within its standard errors, at a bounded cost.
    fit = np.arange(summary.height)
    if summary.height > FIT_SAMPLE:
        fit = np.sort(np.random.default_rng(0).choice(summary.height, FIT_SAMPLE, replace=False))
    purchase: clv.BGNBD | clv.ParetoNBD = (
        clv.fit_pareto_nbd(x[fit], tx[fit], t_obs[fit])
        if model == "pareto_nbd"
        else clv.fit_bgnbd(x[fit], tx[fit], t_obs[fit])
    )
    spend = clv.fit_gamma_gamma(x[fit], m[fit])
    value = clv.customer_lifetime_value(
        purchase, spend, x, tx, t_obs, m,
        time_unit="week", months=months, monthly_discount_rate=monthly_discount_rate,
    )  # fmt: skip
    frame = summary.select(pl.col("customer_id").cast(pl.Int64)).with_columns(
        pl.Series("expected_purchases_90d", purchase.expected_purchases(90 / 7, x, tx, t_obs)),
        pl.Series("p_alive", purchase.p_alive(x, tx, t_obs)),
        pl.Series("clv_12m", value),
    )
    predicted = ("expected_purchases_90d", "p_alive", "clv_12m")
    non_finite = int(frame.select(pl.sum_horizontal(~pl.col(predicted).is_finite()).sum()).item())
    frame = frame.with_columns(pl.col(predicted).fill_nan(None))  # never store NaN
    k = 4
    parameters = {
        "model": model,
        "purchase_model": purchase.as_dict(),
        "gamma_gamma": spend.as_dict(),
        "time_unit": "week",
        "months": months,
        "monthly_discount_rate": monthly_discount_rate,
    }
    quality = {
        "customers": summary.height,
        "fitted_on": len(fit),
        "repeat_customers": repeat,
        "log_likelihood": purchase.log_likelihood,
        "mean_log_likelihood": purchase.log_likelihood / len(fit),
        "aic": 2 * k - 2 * purchase.log_likelihood,
        "gamma_gamma_log_likelihood": spend.log_likelihood,
        "mean_p_alive": float(frame["p_alive"].mean() or 0.0),  # type: ignore[arg-type]
        "total_clv": float(frame["clv_12m"].sum()),
        "non_finite_predictions": non_finite,
    }
    return frame, parameters, quality


@step("clv", columns=("expected_purchases_90d", "p_alive", "clv_12m"), order=20)
def clv_step(ctx: Context) -> StepOutput:
    """BG/NBD (or Pareto/NBD) and Gamma-Gamma on every purchase up to as_of, in weeks."""
    config = RFMConfig.current()
    transactions = ctx.orders.select(
        "customer_id", pl.col("day").alias("date"), pl.col("amount").clip(lower_bound=0.0)
    )
    first = transactions["date"].min() if transactions.height else None
    try:
        frame, parameters, quality = clv_frame(
            transactions,
            as_of=ctx.as_of,
            model=config.clv_model,
            months=config.clv_months,
            monthly_discount_rate=config.clv_monthly_discount_rate,
        )
    except clv.CLVInputError as exc:
        return StepOutput(skipped=str(exc), rows_in={"orders": ctx.orders.height})
    return StepOutput(
        frame=frame,
        parameters=parameters,
        quality=quality,
        window=(first if isinstance(first, dt.date) else None, ctx.as_of),
        rows_in={"orders": ctx.orders.height},
    )


def program_rule(program: GradeProgram) -> grades.ProgramRule:
    tiers = [
        grades.TierRule(
            id=t.pk,
            code=t.code,
            name=t.name,
            rank=t.rank,
            min_spend=float(t.min_spend) if t.min_spend is not None else None,
            min_orders=t.min_orders,
            min_visits=t.min_visits,
            match=t.match,
        )
        for t in program.tiers.all()
    ]
    return grades.ProgramRule(
        id=program.pk,
        tiers=tiers,
        window_months=program.window_months,
        schedule=program.schedule,
        upgrade_immediately=program.upgrade_immediately,
        downgrade_at_period_end=program.downgrade_at_period_end,
        min_stay_months=program.min_stay_months,
        last_period_evaluated=program.last_period_evaluated,
    )


@step("grades", columns=("grade_id",), order=30)
def grades_step(ctx: Context) -> StepOutput:
    """Evaluate the active grade programme; write grades, changes, history; emit events."""
    program = GradeProgram.objects.filter(is_active=True).first()
    if program is None or not program.tiers.exists():
        return StepOutput(skipped=str(_("No active grade program.")))
    rule = program_rule(program)
    figures = grades.window_figures(
        ctx.orders, ctx.customers["customer_id"], as_of=ctx.as_of, window_months=rule.window_months
    )
    current = data.read_table(
        CustomerGrade, {"customer_id": pl.Int64, "tier_id": pl.Int64, "since": pl.Date}
    )
    decided = grades.evaluate(figures, current, rule, as_of=ctx.as_of)
    due = grades.evaluation_due(rule, ctx.as_of)
    changed = decided.filter(pl.col("changed"))
    names = pl.DataFrame(
        {
            "tier_id": [t.id for t in rule.tiers],
            "name": [t.name for t in rule.tiers],
            "code": [t.code for t in rule.tiers],
        },
        schema={"tier_id": pl.Int64, "name": pl.String, "code": pl.String},
    )
    reasons = dict(changed.group_by("reason").len().iter_rows())

    def write(w: WriteContext) -> int:
        return _write_grades(w, program, decided, changed, names, due)

    return StepOutput(
        frame=decided.select("customer_id", pl.col("tier_id").alias("grade_id")),
        parameters={
            "program": program.pk,
            "window_months": rule.window_months,
            "schedule": rule.schedule,
            "period_end_evaluated": due,
            "upgrade_immediately": rule.upgrade_immediately,
            "downgrade_at_period_end": rule.downgrade_at_period_end,
            "min_stay_months": rule.min_stay_months,
        },
        quality={
            "changes": reasons,
            "distribution": {str(k): v for k, v in decided.group_by("tier_id").len().iter_rows()},
        },
        window=(grades.add_months(ctx.as_of, -rule.window_months) + dt.timedelta(1), ctx.as_of),
        rows_in={"orders": ctx.orders.height, "current_grades": current.height},
        write=write,
    )


def _write_grades(
    w: WriteContext,
    program: GradeProgram,
    decided: pl.DataFrame,
    changed: pl.DataFrame,
    names: pl.DataFrame,
    due: bool,
) -> int:
    # The evaluation day, not the wall clock: a back-dated run records its as_of.
    now = pl.lit(grades.changed_at(w.as_of, now=w.now, tz=timezone.get_current_timezone()))
    data.delete_all(CustomerGrade)
    written = data.write_frame(
        CustomerGrade,
        decided.select(
            "customer_id",
            pl.lit(program.pk, dtype=pl.Int64).alias("program_id"),
            "tier_id",
            "since",
            "qualified_tier_id",
            "spend",
            "orders",
            "visits",
            now.alias("evaluated_at"),
        ),
    )
    if changed.height:
        labelled = changed.join(
            names.rename({"tier_id": "from_tier_id", "name": "from", "code": "from_code"}),
            on="from_tier_id",
            how="left",
        ).join(names.rename({"name": "to", "code": "to_code"}), on="tier_id", how="left")
        detail = pl.struct(
            "from", "to", "from_code", "to_code", "reason", "spend", "orders", "visits",
            pl.lit(program.name).alias("program"),
        ).struct.json_encode()  # fmt: skip
        data.write_frame(
            GradeChange,
            labelled.select(
                "customer_id",
                pl.lit(program.pk, dtype=pl.Int64).alias("program_id"),
                "from_tier_id",
                pl.col("tier_id").alias("to_tier_id"),
                "reason",
                detail.alias("data"),
                now.alias("at"),
                pl.lit(w.run.pk, dtype=pl.Int64).alias("run_id"),
            ),
        )
        data.write_frame(
            CustomerHistory,
            labelled.select(
                "customer_id",
                pl.lit(HistoryKind.GRADE_CHANGED.value).alias("kind"),
                detail.alias("data"),
                now.alias("at"),
            ),
        )
        written += 2 * changed.height
        if events.subscribers_for("grade.changed"):
            for row in labelled.select(
                "customer_id", "from", "to", "from_code", "to_code", "reason"
            ).iter_rows(named=True):  # events only; the rows above were written in bulk
                events.emit(
                    "grade.changed",
                    Customer(pk=row.pop("customer_id")),
                    program_id=program.pk,
                    **row,
                )
    if due:
        GradeProgram.objects.filter(pk=program.pk).update(
            last_period_evaluated=grades.latest_period_end(w.as_of, program.schedule)
        )
    return written
