"""Churn early warning: a model trained on the company's own history, backtested in time.

A pure module (Polars, NumPy, scikit-learn; Django only for gettext inside
functions) that takes and returns Polars frames. See docs/adr/0008-churn-nbo-cohorts.md.

Input frames (the analytics engine provides exactly these):

- ``orders``: customer_id (i64), order_id (i64), placed_at (datetime, UTC; naive
  values are read as UTC), total (f64, KRW), channel_id (i64 or null), status
  (str; cancelled orders are already excluded by the caller).
- ``customers``: customer_id, created_at (datetime), region, gender, birth_year
  (nullable), signup_channel.
- ``interactions`` (optional): customer_id, occurred_at (datetime), channel, kind
  ("complaint", "inquiry", "call", ...).
- ``returns`` (optional): customer_id, returned_at (datetime), amount.
- ``p_alive`` (optional): customer_id, p_alive — BG/NBD P(alive) at ``as_of`` from
  the CLV job, copied to the scores for display; when absent it is computed here
  with `clv` (one more BG/NBD fit). It is not a model feature: on the synthetic
  backtest it added nothing the recency/frequency/tenure features did not carry
  (ROC-AUC 0.9199 with it, 0.9198 without) and cost one BG/NBD fit per snapshot.

Definitions. A *snapshot* at cutoff ``c`` (a date, meaning 00:00 UTC of that day)
covers every customer with at least one order before ``c``; its features use only
rows strictly before ``c``; its label is 1 ("churned") when the customer places no
order in ``[c, c + horizon_days)``.

Backtest. With ``H = horizon_days`` the latest labelled snapshot is ``as_of − H``
(its labels end at ``as_of``). The backtest model is trained on snapshots at
``as_of − 2H, as_of − 3H, ...`` (labels end at ``as_of − H`` at the latest) and
evaluated on the later snapshot ``as_of − H``, which it has never seen: the same
lag as in production. The BG/NBD baseline is fitted on the evaluation snapshot's own
history and scores what the label asks: the model's probability of no purchase in the next
``horizon_days`` (``clv.BGNBD.p_no_purchase``). 1 − P(alive) is logged beside it
(``p_alive_*``) but is not the baseline: BG/NBD lets customers drop out only after a repeat
purchase, so it is 0 for every one-time buyer, the group that churns most (demo small: 39% of
the holdout, 94% churned), and ranks worse than chance. The production model is then refitted on the
snapshots shifted by one horizon (``as_of − H, as_of − 2H, ...``) and scores every
customer at ``as_of``; its probabilities pass through the isotonic map learned on
the backtest holdout (the temporal calibration of "a model trained one horizon ago").

Every step is set-based: group-bys and joins in Polars, array operations in
NumPy; there is no per-customer Python loop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from django.utils.translation import gettext_lazy
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from dangol.analytics import clv

FloatArray = NDArray[np.float64]

#: Default band thresholds on the calibrated risk: low < 0.4 ≤ medium < 0.7 ≤ high.
DEFAULT_BANDS: tuple[float, float] = (0.4, 0.7)
#: Snapshots stacked for training (each one horizon earlier than the previous).
DEFAULT_TRAIN_SNAPSHOTS = 2
#: Fewer labelled customers than this (or a single class) cannot train a model.
MIN_TRAIN_ROWS = 50
#: Rows sampled for permutation importance (enough for stable ranks, cheap at 1M).
_IMPORTANCE_ROWS = 10_000
#: OpenMP threads for scikit-learn. One: on a busy 2-core worker, libgomp's spin-waiting
#: made a 2-thread HistGradientBoosting fit 7x slower than a 1-thread one (measured).
SKLEARN_THREADS = 1
#: Levels kept per categorical attribute; the rest share one "other" code.
_MAX_LEVELS = 30
#: Days-since-complaint/return for customers who never had one.
_NEVER_DAYS = 3650.0
#: Customers the backtest and the production model are fitted on (all of them below this):
#: a seeded random sample of the customers with an order. Everyone is still *scored*. At 50,000
#: the holdout ROC-AUC's standard error is about 0.002 and the fits take seconds; on the demo's
#: 91,077 buyers the sample moved ROC-AUC 0.9837 → 0.9836 (docs/adr/0008, "At scale").
DEFAULT_FIT_SAMPLE = 50_000

NUMERIC_FEATURES: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    "account_age_days",
    "n_orders",
    "purchase_days",
    "orders_90d",
    "orders_365d",
    "monetary_total",
    "aov",
    "spend_90d",
    "spend_prev_90d",
    "spend_trend",
    "ipt_mean",
    "ipt_std",
    "recency_ratio",
    "n_channels",
    "main_channel_share",
    "complaints_90d",
    "complaints_365d",
    "days_since_complaint",
    "interactions_90d",
    "returns_365d",
    "return_rate",
    "days_since_return",
    "age",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("region", "gender", "signup_channel")
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

#: Features behind each plain-words driver (a driver's weight is its strongest feature's).
DRIVER_GROUPS: dict[str, tuple[str, ...]] = {
    "lapse": ("recency_days", "recency_ratio"),
    "frequency": ("orders_365d", "orders_90d", "n_orders", "purchase_days"),
    "spend_trend": ("spend_trend", "spend_90d"),
    "complaints": ("complaints_90d", "complaints_365d", "days_since_complaint"),
    "returns": ("returns_365d", "return_rate", "days_since_return"),
    "new_customer": ("tenure_days", "account_age_days"),
    "basket": ("aov", "monetary_total"),
    "channel": ("n_channels", "main_channel_share"),
}
#: Drivers whose text is only true when its condition holds (checked per row).
MAX_DRIVERS = 3


class ChurnInputError(ValueError):
    """Input the churn model cannot use; the message is one readable sentence."""


@dataclass(frozen=True)
class ChurnResult:
    """Scores for every current customer plus the backtest that justifies them.

    ``scores``: customer_id, churn_risk (calibrated, 0..1), churn_band
    ("low"/"medium"/"high"), churn_drivers (up to three ``{key, v}``: a sentence's key and its
    figures, worded by ``driver_text`` when read),
    driver_codes (the matching codes from `DRIVER_GROUPS`), p_alive.
    ``metrics``: backtest figures (see `train_and_score`). ``reliability``: bin,
    mean_predicted, observed_rate, count on the holdout (cross-fitted calibration).
    ``importance``: feature, importance (permutation, ROC-AUC drop on the holdout).
    """

    scores: pl.DataFrame
    metrics: dict[str, float | int | str]
    reliability: pl.DataFrame
    importance: pl.DataFrame
    as_of: dt.date
    horizon_days: int
    bands: tuple[float, float]


# ------------------------------------------------------------------ helpers


def _utc_naive(frame: pl.DataFrame | pl.LazyFrame, column: str) -> pl.Expr:
    """`column` as a naive UTC datetime (tz-aware values converted, dates at 00:00)."""
    dtype = frame.collect_schema()[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return expr.cast(pl.Datetime("us"))
    return expr.cast(pl.Datetime("us"))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _days_before(frame: pl.DataFrame, column: str, cutoff: dt.date) -> pl.LazyFrame:
    """Rows strictly before `cutoff` with ``age`` = days from the row to the cutoff."""
    cut = pl.lit(_midnight(cutoff), dtype=pl.Datetime("us"))
    return (
        frame.lazy()
        .with_columns(_utc_naive(frame, column).alias("_ts"))
        .filter(pl.col("_ts") < cut)
        .with_columns(((cut - pl.col("_ts")).dt.total_seconds() / 86400.0).alias("age"))
    )


def _category_codes(customers: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Stable integer codes for the categorical attributes, from the whole customer table."""
    codes: dict[str, pl.DataFrame] = {}
    for column in CATEGORICAL_FEATURES:
        if column not in customers.columns:
            continue
        levels = (
            customers.select(pl.col(column).cast(pl.String))
            .drop_nulls()
            .group_by(column)
            .len()
            .sort(["len", column], descending=[True, False])
            .head(_MAX_LEVELS)
            .with_row_index("_code")
        )
        codes[column] = levels.select(column, pl.col("_code").cast(pl.Float64))
    return codes


def bgnbd_p_alive(
    orders: pl.DataFrame, *, cutoff: dt.date, horizon_days: int | None = None
) -> pl.DataFrame:
    """BG/NBD P(alive) per customer from the orders strictly before `cutoff` (clv.py).

    Returns customer_id, p_alive and, with `horizon_days`, p_no_purchase (no purchase in
    ``[cutoff, cutoff + horizon_days)``). Days are UTC calendar days; the model is fitted
    on the same history, so nothing after the cutoff is used.
    """
    tx = (
        _days_before(orders, "placed_at", cutoff)
        .select(pl.col("customer_id"), pl.col("_ts").dt.date().alias("date"), pl.col("total"))
        .rename({"total": "amount"})
        .collect()
    )
    summary = clv.summarize_transactions(
        tx, observation_end=cutoff - dt.timedelta(days=1), time_unit="week"
    )
    names = ["p_alive"] if horizon_days is None else ["p_alive", "p_no_purchase"]
    if summary.height < clv.MIN_CUSTOMERS:
        return summary.select(
            "customer_id", *(pl.lit(None, dtype=pl.Float64).alias(n) for n in names)
        )
    x = summary["frequency"].to_numpy().astype(np.float64)
    tx_ = summary["recency"].to_numpy()
    t_obs = summary["T"].to_numpy()
    model = clv.fit_bgnbd(x, tx_, t_obs)
    columns = [pl.Series("p_alive", model.p_alive(x, tx_, t_obs))]
    if horizon_days is not None:  # the summary is in weeks
        quiet = model.p_no_purchase(horizon_days / 7.0, x, tx_, t_obs)
        columns.append(pl.Series("p_no_purchase", quiet))
    return summary.select("customer_id").with_columns(columns)


# ------------------------------------------------------------------ features


def build_features(
    orders: pl.DataFrame,
    customers: pl.DataFrame,
    *,
    cutoff: dt.date,
    interactions: pl.DataFrame | None = None,
    returns: pl.DataFrame | None = None,
    codes: dict[str, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """One row per customer with an order before `cutoff`; features from earlier rows only.

    Columns: customer_id plus `FEATURES` (categoricals as float codes, missing as
    null) and the helper columns the driver texts need. `codes` maps each
    categorical column to its level codes (default: from `customers`).
    """
    o = _days_before(orders, "placed_at", cutoff)
    per_customer = o.group_by("customer_id").agg(
        pl.len().cast(pl.Float64).alias("n_orders"),
        pl.col("age").min().alias("recency_days"),
        pl.col("age").max().alias("tenure_days"),
        pl.col("total").sum().alias("monetary_total"),
        pl.col("total").mean().alias("aov"),
        (pl.col("age") < 90).sum().cast(pl.Float64).alias("orders_90d"),
        (pl.col("age") < 365).sum().cast(pl.Float64).alias("orders_365d"),
        pl.col("total").filter(pl.col("age") < 90).sum().alias("spend_90d"),
        pl.col("total")
        .filter((pl.col("age") >= 90) & (pl.col("age") < 180))
        .sum()
        .alias("spend_prev_90d"),
        pl.col("total").filter(pl.col("age") < 365).sum().alias("spend_365d"),
        pl.col("channel_id").n_unique().cast(pl.Float64).alias("n_channels"),
    )
    # inter-purchase times over distinct purchase days
    days = (
        o.select("customer_id", pl.col("age").floor().alias("day"))
        .unique()
        .sort("customer_id", "day")
        .with_columns(pl.col("day").diff().over("customer_id").alias("gap"))
        .group_by("customer_id")
        .agg(
            pl.len().cast(pl.Float64).alias("purchase_days"),
            pl.col("gap").mean().alias("ipt_mean"),
            pl.col("gap").std().alias("ipt_std"),
        )
    )
    channels = (
        o.group_by("customer_id", "channel_id")
        .len()
        .group_by("customer_id")
        .agg((pl.col("len").max() / pl.col("len").sum()).alias("main_channel_share"))
    )
    frame = per_customer.join(days, on="customer_id", how="left").join(
        channels, on="customer_id", how="left"
    )

    if interactions is not None and interactions.height:
        i = _days_before(interactions, "occurred_at", cutoff)
        complaint = pl.col("kind") == "complaint"
        inter = i.group_by("customer_id").agg(
            (complaint & (pl.col("age") < 90)).sum().cast(pl.Float64).alias("complaints_90d"),
            (complaint & (pl.col("age") < 365)).sum().cast(pl.Float64).alias("complaints_365d"),
            pl.col("age").filter(complaint).min().alias("days_since_complaint"),
            (pl.col("age") < 90).sum().cast(pl.Float64).alias("interactions_90d"),
        )
        frame = frame.join(inter, on="customer_id", how="left")
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c)
            for c in (
                "complaints_90d",
                "complaints_365d",
                "days_since_complaint",
                "interactions_90d",
            )
        )
    if returns is not None and returns.height:
        r = _days_before(returns, "returned_at", cutoff)
        ret = r.group_by("customer_id").agg(
            (pl.col("age") < 365).sum().cast(pl.Float64).alias("returns_365d"),
            pl.col("amount").filter(pl.col("age") < 365).sum().alias("_returned_365d"),
            pl.col("age").min().alias("days_since_return"),
        )
        frame = frame.join(ret, on="customer_id", how="left")
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c)
            for c in ("returns_365d", "_returned_365d", "days_since_return")
        )

    cut = pl.lit(_midnight(cutoff), dtype=pl.Datetime("us"))
    cust = customers.lazy().select(
        pl.col("customer_id"),
        ((cut - _utc_naive(customers, "created_at")).dt.total_seconds() / 86400.0)
        .clip(lower_bound=0.0)
        .alias("account_age_days"),
        (pl.lit(cutoff.year) - pl.col("birth_year")).cast(pl.Float64).alias("age")
        if "birth_year" in customers.columns
        else pl.lit(None, dtype=pl.Float64).alias("age"),
        *(pl.col(c).cast(pl.String) for c in CATEGORICAL_FEATURES if c in customers.columns),
    )
    frame = frame.join(cust, on="customer_id", how="left")
    codes = _category_codes(customers) if codes is None else codes
    for column in CATEGORICAL_FEATURES:
        if column in codes:
            frame = (
                frame.join(codes[column].lazy(), on=column, how="left")
                .with_columns(
                    pl.when(pl.col(column).is_null())
                    .then(None)
                    .otherwise(pl.col("_code").fill_null(float(_MAX_LEVELS)))
                    .alias(column)
                )
                .drop("_code")
            )
        else:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(column))

    zero_fill = ("complaints_90d", "complaints_365d", "interactions_90d", "returns_365d")
    return (
        frame.with_columns(
            *(pl.col(c).fill_null(0.0) for c in zero_fill),
            (pl.col("spend_90d").log1p() - pl.col("spend_prev_90d").log1p()).alias("spend_trend"),
            (pl.col("recency_days") / pl.col("ipt_mean")).alias("recency_ratio"),
            (pl.col("_returned_365d").fill_null(0.0) / (pl.col("spend_365d") + 1.0)).alias(
                "return_rate"
            ),
            pl.col("days_since_complaint").fill_null(_NEVER_DAYS),
            pl.col("days_since_return").fill_null(_NEVER_DAYS),
        )
        .drop("_returned_365d")
        .sort("customer_id")
        .collect()
    )


def build_labels(orders: pl.DataFrame, *, cutoff: dt.date, horizon_days: int) -> pl.DataFrame:
    """customer_id, churned (1 = no order in ``[cutoff, cutoff + horizon_days)``).

    Covers every customer with an order before `cutoff` (the snapshot population).
    """
    ts = _utc_naive(orders, "placed_at")
    start = pl.lit(_midnight(cutoff), dtype=pl.Datetime("us"))
    end = pl.lit(_midnight(cutoff + dt.timedelta(days=horizon_days)), dtype=pl.Datetime("us"))
    return (
        orders.lazy()
        .with_columns(ts.alias("_ts"))
        .filter(pl.col("_ts") < end)
        .group_by("customer_id")
        .agg(
            (pl.col("_ts") < start).any().alias("_before"),
            (pl.col("_ts") >= start).any().alias("_bought"),
        )
        .filter(pl.col("_before"))
        .select("customer_id", (~pl.col("_bought")).cast(pl.Int8).alias("churned"))
        .sort("customer_id")
        .collect()
    )


def _matrix(features: pl.DataFrame) -> FloatArray:
    """The feature matrix; a feature missing for every row (e.g. no region known for anyone)
    becomes a constant 0, which scikit-learn's binning cannot take as all-NaN."""
    matrix = features.select(pl.col(FEATURES).cast(pl.Float64)).to_numpy().astype(np.float64)
    if matrix.shape[0]:
        matrix[:, np.isnan(matrix).all(axis=0)] = 0.0
    return matrix


def _labelled(
    orders: pl.DataFrame,
    customers: pl.DataFrame,
    cutoffs: list[dt.date],
    horizon_days: int,
    interactions: pl.DataFrame | None,
    returns: pl.DataFrame | None,
    codes: dict[str, pl.DataFrame],
    cache: dict[dt.date, pl.DataFrame],
) -> pl.DataFrame:
    """Stacked snapshots (features + churned + cutoff) for the given cutoffs (memoised)."""
    for cutoff in cutoffs:  # a handful of snapshots, not customers
        if cutoff in cache:
            continue
        feats = build_features(
            orders,
            customers,
            cutoff=cutoff,
            interactions=interactions,
            returns=returns,
            codes=codes,
        )
        labels = build_labels(orders, cutoff=cutoff, horizon_days=horizon_days)
        cache[cutoff] = feats.join(labels, on="customer_id").with_columns(
            pl.lit(cutoff, dtype=pl.Date).alias("cutoff")
        )
    return pl.concat([cache[c] for c in cutoffs]) if cutoffs else pl.DataFrame()


def sample_customers(population: pl.Series, size: int | None, seed: int) -> pl.Series:
    """A seeded random sample of `size` ids from the sorted `population` (all if fewer, or if
    `size` is None), sorted: the same data and seed give the same sample on every run."""
    if size is None or population.len() <= size:
        return population
    rows = np.sort(np.random.default_rng(seed).choice(population.len(), size, replace=False))
    return population.gather(rows)


def _only(frame: pl.DataFrame, customers: pl.Series, everyone: bool) -> pl.DataFrame:
    """The rows of `frame` that belong to `customers` (the frame itself for `everyone`)."""
    return frame if everyone else frame.filter(pl.col("customer_id").is_in(customers.implode()))


def _classifier() -> HistGradientBoostingClassifier:
    categorical = [FEATURES.index(c) for c in CATEGORICAL_FEATURES]
    return HistGradientBoostingClassifier(
        learning_rate=0.08,
        max_iter=300,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=categorical,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=15,
        random_state=0,
    )


def _fit(train: pl.DataFrame) -> HistGradientBoostingClassifier:
    y = train["churned"].to_numpy()
    if train.height < MIN_TRAIN_ROWS or np.unique(y).size < 2:
        raise ChurnInputError(
            f"not enough history to train a churn model: {train.height} labelled customer "
            f"snapshot(s) with {np.unique(y).size} outcome(s); need at least {MIN_TRAIN_ROWS} "
            "with both outcomes"
        )
    model = _classifier()
    with threadpool_limits(SKLEARN_THREADS, user_api="openmp"):
        model.fit(_matrix(train), y)
    return model


def _predict(model: HistGradientBoostingClassifier, features: pl.DataFrame) -> FloatArray:
    with threadpool_limits(SKLEARN_THREADS, user_api="openmp"):
        return np.asarray(model.predict_proba(_matrix(features))[:, 1], dtype=np.float64)


# ----------------------------------------------------------- calibration/metrics


def _reliability(prob: FloatArray, y: NDArray[np.int8], bins: int = 10) -> pl.DataFrame:
    """Equal-width reliability bins: mean predicted vs observed churn rate."""
    return (
        pl.DataFrame({"p": prob, "y": y.astype(np.float64)})
        .with_columns((pl.col("p") * bins).floor().clip(0, bins - 1).cast(pl.Int32).alias("bin"))
        .group_by("bin")
        .agg(
            pl.col("p").mean().alias("mean_predicted"),
            pl.col("y").mean().alias("observed_rate"),
            pl.len().alias("count"),
        )
        .sort("bin")
    )


@dataclass(frozen=True)
class _Calibration:
    """Isotonic calibration whose steps are the Laplace-smoothed churn rate of their customers,
    (churned + 1) / (customers + 2), instead of the raw rate: a step of 40 holdout customers who
    all bought again says "about 2%", not "0%" (before: 6% of the small demo's customers had a
    risk of exactly 0, 37% exactly 1). Between steps, linear as sklearn's; clipped outside."""

    x: FloatArray
    y: FloatArray

    @classmethod
    def fit(cls, raw: FloatArray, churned: NDArray[np.int8]) -> _Calibration:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, churned)
        fitted = iso.predict(raw)
        steps, counts = np.unique(fitted, return_counts=True)  # one value per pooled step
        smoothed = (steps * counts + 1.0) / (counts + 2.0)
        at = np.searchsorted(steps, iso.y_thresholds_)
        found = (at < steps.size) & np.isclose(
            steps[np.minimum(at, steps.size - 1)], iso.y_thresholds_
        )
        y = np.where(found, smoothed[np.minimum(at, steps.size - 1)], iso.y_thresholds_)
        return cls(x=np.asarray(iso.X_thresholds_, dtype=np.float64), y=y.astype(np.float64))

    def predict(self, raw: FloatArray) -> FloatArray:
        return np.asarray(np.interp(raw, self.x, self.y), dtype=np.float64)


def _cross_fitted_isotonic(raw: FloatArray, y: NDArray[np.int8], seed: int = 0) -> FloatArray:
    """Out-of-fold calibrated probabilities (2 folds), for an honest calibration report."""
    fold = np.random.default_rng(seed).integers(0, 2, size=raw.size)
    out = np.empty_like(raw)
    for k in (0, 1):  # two folds
        out[fold == k] = _Calibration.fit(raw[fold != k], y[fold != k]).predict(raw[fold == k])
    return out


# ----------------------------------------------------------------- drivers


@dataclass(frozen=True)
class _Explainer:
    """Per-feature centre, scale, risk direction and importance (from the training data)."""

    centre: FloatArray
    scale: FloatArray
    sign: FloatArray
    importance: FloatArray


def _explainer(
    model: HistGradientBoostingClassifier,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    seed: int = 0,
) -> _Explainer:
    rng = np.random.default_rng(seed)
    x_train = _matrix(train)
    x_hold = _matrix(holdout)
    y_hold = holdout["churned"].to_numpy()
    rows = rng.choice(x_hold.shape[0], size=min(_IMPORTANCE_ROWS, x_hold.shape[0]), replace=False)
    if np.unique(y_hold[rows]).size == 2:
        # many small predictions: one OpenMP thread avoids spin-wait stalls on busy hosts
        with threadpool_limits(1, user_api="openmp"):
            perm = permutation_importance(
                model,
                x_hold[rows],
                y_hold[rows],
                scoring="roc_auc",
                n_repeats=1,
                random_state=seed,
            )
        importance = np.clip(np.asarray(perm.importances_mean, dtype=np.float64), 0.0, None)
    else:
        importance = np.ones(len(FEATURES))
    sample = x_train[
        rng.choice(x_train.shape[0], size=min(50_000, x_train.shape[0]), replace=False)
    ]
    with threadpool_limits(SKLEARN_THREADS, user_api="openmp"):
        risk = model.predict_proba(sample)[:, 1]
    centre = np.nanmedian(sample, axis=0)
    q75, q25 = np.nanpercentile(sample, [75, 25], axis=0)
    std = np.nanstd(sample, axis=0)
    scale = np.where(q75 - q25 > 0, (q75 - q25) / 1.349, std) + 1e-9
    # risk direction: sign of the rank correlation between the feature and the model's risk
    filled = np.where(np.isnan(sample), centre, sample)
    ranks = np.argsort(np.argsort(filled, axis=0), axis=0).astype(np.float64)
    risk_rank = np.argsort(np.argsort(risk)).astype(np.float64)
    rc = ranks - ranks.mean(axis=0)
    rr = risk_rank - risk_rank.mean()
    corr = (rc * rr[:, None]).sum(axis=0) / (np.sqrt((rc**2).sum(axis=0) * (rr**2).sum()) + 1e-12)
    sign = np.sign(corr)
    sign[[FEATURES.index(c) for c in CATEGORICAL_FEATURES]] = 0.0  # no direction for codes
    return _Explainer(
        centre=np.nan_to_num(centre),
        scale=np.nan_to_num(scale, nan=1.0),
        sign=sign,
        importance=importance,
    )


# Each driver's sentence, by the key stored with the figures it shows (``{"key": …, "v": [...]}``,
# the figures in the order of the names). Worded when read, in the reader's language.
DRIVER_SENTENCES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "lapse": (
        gettext_lazy("{days} days since the last purchase, usually buys every {cycle} days"),
        ("days", "cycle"),
    ),
    "lapse_once": (gettext_lazy("{days} days since the only purchase"), ("days",)),
    "complaints": (gettext_lazy("{n} complaint(s) in the last 90 days"), ("n",)),
    "complaint_ago": (gettext_lazy("last complaint {days} days ago"), ("days",)),
    "spend_stopped": (
        gettext_lazy("no purchase in the last 90 days ({amount} KRW in the quarter before)"),
        ("amount",),
    ),
    "spend_down": (gettext_lazy("spend down {pct}% vs the previous quarter"), ("pct",)),
    "frequency": (gettext_lazy("only {n} order(s) in the last 12 months"), ("n",)),
    "returns": (gettext_lazy("{n} return(s) in the last 12 months"), ("n",)),
    "new_customer": (gettext_lazy("new customer: first purchase {days} days ago"), ("days",)),
    "basket": (gettext_lazy("small baskets: {aov} KRW per order on average"), ("aov",)),
    "channel": (gettext_lazy("buys through a single channel only"), ()),
}
AMOUNTS = frozenset({"amount", "aov"})  # shown with thousands separators
DRIVER_DTYPE = pl.Struct({"key": pl.String, "v": pl.List(pl.Int64)})


def driver_text(driver: Any) -> str:
    """One stored churn driver in the active language. A sentence stored by an older run (in the
    language of that run) is kept as it is."""
    if not isinstance(driver, dict):
        return str(driver)
    template, names = DRIVER_SENTENCES.get(str(driver.get("key")), ("", ()))
    values = {
        name: f"{int(v):,}" if name in AMOUNTS else v
        for name, v in zip(names, driver.get("v") or [], strict=False)
    }
    return str(template).format(**values) if template else ""


def driver_texts(drivers: Any) -> list[str]:
    """A customer's stored churn drivers worded in the active language (empty ones left out)."""
    return [text for text in (driver_text(d) for d in drivers or []) if text]


def _driver_fact(code: pl.Expr) -> pl.Expr:
    """The stored driver per (customer, driver code) row: the key of its sentence and the
    figures it shows, as a struct ``{key, v}``."""

    def whole(column: str) -> pl.Expr:
        return pl.col(column).round(0).cast(pl.Int64)

    def fact(key: str | pl.Expr, *values: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        figures = (
            pl.concat_list([v.cast(pl.Int64) for v in values])
            if values
            else pl.concat_list([pl.lit(0, dtype=pl.Int64)]).list.head(0)
        )
        return (pl.lit(key) if isinstance(key, str) else key), figures

    repeat = pl.col("ipt_mean").is_not_null()
    complained = pl.col("complaints_90d") > 0
    stopped = pl.col("spend_90d") < 1.0  # "down 100%" reads oddly: say what happened
    down_pct = (
        ((1.0 - pl.col("spend_90d") / pl.col("spend_prev_90d").clip(lower_bound=1.0)) * 100)
        .clip(0, 99)
        .round(0)
    )
    facts = {
        "lapse": (
            pl.when(repeat).then(pl.lit("lapse")).otherwise(pl.lit("lapse_once")),
            pl.when(repeat)
            .then(pl.concat_list([whole("recency_days"), whole("ipt_mean").clip(lower_bound=1)]))
            .otherwise(pl.concat_list([whole("recency_days")])),
        ),
        "frequency": fact("frequency", whole("orders_365d")),
        "spend_trend": (
            pl.when(stopped).then(pl.lit("spend_stopped")).otherwise(pl.lit("spend_down")),
            pl.concat_list(
                [pl.when(stopped).then(whole("spend_prev_90d")).otherwise(down_pct.cast(pl.Int64))]
            ),
        ),
        "complaints": (
            pl.when(complained).then(pl.lit("complaints")).otherwise(pl.lit("complaint_ago")),
            pl.concat_list(
                [
                    pl.when(complained)
                    .then(whole("complaints_90d"))
                    .otherwise(whole("days_since_complaint"))
                ]
            ),
        ),
        "returns": fact("returns", whole("returns_365d")),
        "new_customer": fact("new_customer", whole("tenure_days")),
        "basket": fact("basket", whole("aov")),
        "channel": fact("channel"),
    }
    key: pl.Expr = pl.lit(None, dtype=pl.String)
    values: pl.Expr = pl.lit(None, dtype=pl.List(pl.Int64))
    for name, (k, v) in reversed(facts.items()):
        key = pl.when(code == name).then(k).otherwise(key)
        values = pl.when(code == name).then(v).otherwise(values)
    return pl.struct(key.alias("key"), values.alias("v"))


def _driver_valid(code: pl.Expr) -> pl.Expr:
    """Whether a driver's sentence is true for the row (guards against odd z-scores)."""
    checks = {
        "lapse": pl.col("recency_days") >= 30,
        "frequency": pl.lit(value=True),
        "spend_trend": pl.col("spend_90d") < pl.col("spend_prev_90d"),
        "complaints": (pl.col("complaints_90d") > 0) | (pl.col("days_since_complaint") < 365),
        "returns": pl.col("returns_365d") > 0,
        "new_customer": pl.col("tenure_days") < 180,
        "basket": pl.lit(value=True),
        "channel": pl.col("n_channels") <= 1,
    }
    expr: pl.Expr = pl.lit(value=False)
    for name, check in reversed(checks.items()):
        expr = pl.when(code == name).then(check).otherwise(expr)
    return expr


def explain(features: pl.DataFrame, explainer: _Explainer, top: int = MAX_DRIVERS) -> pl.DataFrame:
    """customer_id, driver_codes, churn_drivers: the strongest risk-raising drivers per row.

    Contribution of feature j for a customer = direction_j × clip(z_j, 0, 4) ×
    importance_j, where z_j is the robust z-score against the training snapshot and
    direction_j the sign of the feature's rank correlation with the model's risk; a
    driver (a group of related features) weighs as its strongest feature. All in
    NumPy over the whole matrix; the sentences are Polars expressions.
    """
    x = _matrix(features)
    x = np.where(np.isnan(x), explainer.centre, x)
    z = explainer.sign * (x - explainer.centre) / explainer.scale
    contrib = np.clip(z, 0.0, 4.0) * explainer.importance
    names = list(DRIVER_GROUPS)
    group = np.column_stack(
        [contrib[:, [FEATURES.index(f) for f in DRIVER_GROUPS[g]]].max(axis=1) for g in names]
    )
    order = np.argsort(-group, axis=1)[:, :top]
    weight = np.take_along_axis(group, order, axis=1)
    n = features.height
    long = pl.DataFrame(
        {
            "_row": np.repeat(np.arange(n), order.shape[1]),
            "_rank": np.tile(np.arange(order.shape[1]), n),
            "code": np.asarray(names)[order.ravel()],
            "_w": weight.ravel(),
        }
    ).filter(pl.col("_w") > 0)
    helper = features.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    long = (
        long.with_columns(pl.col("_row").cast(pl.Int64))
        .join(helper, on="_row", how="left")
        .filter(_driver_valid(pl.col("code")))
        .with_columns(_driver_fact(pl.col("code")).alias("text"))
        .sort("_row", "_rank")
        .group_by("_row", maintain_order=True)
        .agg(pl.col("code").alias("driver_codes"), pl.col("text").alias("churn_drivers"))
    )
    return (
        helper.select("_row", "customer_id")
        .join(long, on="_row", how="left")
        .select(
            "customer_id",
            pl.col("driver_codes").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("churn_drivers").fill_null(pl.lit([], dtype=pl.List(DRIVER_DTYPE))),
        )
    )


# -------------------------------------------------------------------- main


def band(risk: pl.Expr, bands: tuple[float, float] = DEFAULT_BANDS) -> pl.Expr:
    """ "low" below bands[0], "high" from bands[1], "medium" between."""
    return (
        pl.when(risk >= bands[1])
        .then(pl.lit("high"))
        .when(risk >= bands[0])
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def train_and_score(
    orders: pl.DataFrame,
    customers: pl.DataFrame,
    *,
    as_of: dt.date,
    horizon_days: int = 90,
    interactions: pl.DataFrame | None = None,
    returns: pl.DataFrame | None = None,
    p_alive: pl.DataFrame | None = None,
    train_snapshots: int = DEFAULT_TRAIN_SNAPSHOTS,
    bands: tuple[float, float] = DEFAULT_BANDS,
    fit_sample: int | None = DEFAULT_FIT_SAMPLE,
    seed: int = 0,
) -> ChurnResult:
    """Backtest a churn model on the company's history, refit it and score everyone.

    The backtest, the calibration, the baseline and the production refit use the histories
    of `fit_sample` customers drawn at random (seeded by `seed`) from those with an order
    (all of them when there are fewer, or when `fit_sample` is None); the production model
    then scores every customer at `as_of`, vectorised.

    ``metrics`` keys: roc_auc, pr_auc, brier, brier_uncalibrated (the model on
    the holdout), baseline_roc_auc, baseline_pr_auc, baseline_brier (risk = BG/NBD
    P(no purchase in the horizon) at the same cutoff), p_alive_roc_auc, p_alive_brier (risk =
    1 − P(alive), for comparison), base_rate, n_train, n_holdout,
    n_scored, holdout_cutoff, train_cutoffs, horizon_days, model, fit_customers
    (customers sampled), population (customers with an order), fit_sample, seed.
    """
    if horizon_days <= 0:
        raise ChurnInputError("horizon_days must be positive")
    if train_snapshots <= 0:
        raise ChurnInputError("train_snapshots must be positive")
    h = dt.timedelta(days=horizon_days)
    first = orders.select(_utc_naive(orders, "placed_at").min()).item()
    if first is None:
        raise ChurnInputError("no orders to learn from")
    first_day = first.date()
    holdout_cutoff = as_of - h
    train_cutoffs = [
        as_of - (k + 2) * h for k in range(train_snapshots) if as_of - (k + 2) * h > first_day
    ]
    refit_cutoffs = [c + h for c in train_cutoffs]
    codes = _category_codes(customers)
    cache: dict[dt.date, pl.DataFrame] = {}
    population = orders["customer_id"].unique().sort()
    sample = sample_customers(population, fit_sample, seed)
    everyone = sample.len() == population.len()
    fit_orders = _only(orders, sample, everyone)
    fit_interactions = None if interactions is None else _only(interactions, sample, everyone)
    fit_returns = None if returns is None else _only(returns, sample, everyone)

    def snapshots(cutoffs: list[dt.date]) -> pl.DataFrame:
        return _labelled(
            fit_orders, customers, cutoffs, horizon_days, fit_interactions, fit_returns, codes,
            cache,
        )  # fmt: skip

    train = snapshots(train_cutoffs)
    if train.is_empty():
        raise ChurnInputError(
            f"not enough history: orders start {first_day.isoformat()}, but a backtest for "
            f"{as_of.isoformat()} needs orders before {(as_of - 2 * h).isoformat()}"
        )
    holdout = snapshots([holdout_cutoff])

    # -- backtest: train on earlier snapshots, evaluate on the later one
    model = _fit(train)
    y_hold = holdout["churned"].to_numpy().astype(np.int8)
    raw = _predict(model, holdout)
    calibrated = _cross_fitted_isotonic(raw, y_hold)
    baseline_fit = holdout.select("customer_id").join(
        bgnbd_p_alive(fit_orders, cutoff=holdout_cutoff, horizon_days=horizon_days),
        on="customer_id",
        how="left",
    )
    baseline = baseline_fit["p_no_purchase"].fill_null(0.5).to_numpy()
    dead = 1.0 - baseline_fit["p_alive"].fill_null(0.5).to_numpy()
    one_time = holdout["purchase_days"].to_numpy() <= 1  # 1 − P(alive) is 0 for all of them
    two_classes = np.unique(y_hold).size == 2
    nan = float("nan")
    metrics: dict[str, float | int | str] = {
        "roc_auc": float(roc_auc_score(y_hold, raw)) if two_classes else nan,
        "pr_auc": float(average_precision_score(y_hold, raw)) if two_classes else nan,
        "brier": float(brier_score_loss(y_hold, calibrated)),
        "brier_uncalibrated": float(brier_score_loss(y_hold, raw)),
        "baseline_roc_auc": float(roc_auc_score(y_hold, baseline)) if two_classes else nan,
        "baseline_pr_auc": float(average_precision_score(y_hold, baseline)) if two_classes else nan,
        "baseline_brier": float(brier_score_loss(y_hold, baseline)),
        "baseline": "BG/NBD P(no purchase in horizon)",
        "p_alive_roc_auc": float(roc_auc_score(y_hold, dead)) if two_classes else nan,
        "p_alive_brier": float(brier_score_loss(y_hold, dead)),
        "one_time_share": float(np.mean(one_time)) if y_hold.size else nan,
        "one_time_churn_rate": float(y_hold[one_time].mean()) if one_time.any() else nan,
        "base_rate": float(y_hold.mean()) if y_hold.size else nan,
        "n_train": train.height,
        "n_holdout": holdout.height,
        "holdout_cutoff": holdout_cutoff.isoformat(),
        "train_cutoffs": ",".join(c.isoformat() for c in train_cutoffs),
        "horizon_days": horizon_days,
        "model": "HistGradientBoostingClassifier + isotonic (holdout)",
        "population": population.len(),
        "fit_customers": sample.len(),
        "fit_sample": fit_sample if fit_sample is not None else "all",
        "seed": seed,
    }
    reliability = _reliability(calibrated, y_hold)
    explainer = _explainer(model, train, holdout)
    importance = pl.DataFrame({"feature": list(FEATURES), "importance": explainer.importance}).sort(
        "importance", descending=True
    )
    iso = _Calibration.fit(raw, y_hold)

    # -- production: refit one horizon later on all labelled history, score at as_of
    refit = snapshots(refit_cutoffs)
    final = _fit(refit)
    current = build_features(
        orders,
        customers,
        cutoff=as_of,
        interactions=interactions,
        returns=returns,
        codes=codes,
    )
    risk = iso.predict(_predict(final, current))
    alive = bgnbd_p_alive(orders, cutoff=as_of) if p_alive is None else p_alive
    drivers = explain(current, explainer)
    scores = (
        current.select("customer_id")
        .with_columns(pl.Series("churn_risk", np.asarray(risk, dtype=np.float64)))
        .join(
            alive.select("customer_id", pl.col("p_alive").cast(pl.Float64)),
            on="customer_id",
            how="left",
        )
        .with_columns(band(pl.col("churn_risk"), bands).alias("churn_band"))
        .join(drivers, on="customer_id", how="left")
        .select(
            "customer_id", "churn_risk", "churn_band", "churn_drivers", "driver_codes", "p_alive"
        )
    )
    metrics["n_scored"] = scores.height
    return ChurnResult(
        scores=scores,
        metrics=metrics,
        reliability=reliability,
        importance=importance,
        as_of=as_of,
        horizon_days=horizon_days,
        bands=bands,
    )


def customers_to_save(scores: pl.DataFrame, value: pl.DataFrame, *, top: int = 100) -> pl.DataFrame:
    """The `top` customers by value at risk = churn_risk × clv_12m, largest first.

    `scores` is `ChurnResult.scores` (customer_id, churn_risk, ...); `value` has
    customer_id, clv_12m. Customers without a CLV count as 0. Returns the score
    columns plus clv_12m and value_at_risk.
    """
    if top <= 0:
        return scores.head(0).with_columns(
            pl.lit(None, dtype=pl.Float64).alias("clv_12m"),
            pl.lit(None, dtype=pl.Float64).alias("value_at_risk"),
        )
    return (
        scores.join(value.select("customer_id", "clv_12m"), on="customer_id", how="left")
        .with_columns(pl.col("clv_12m").cast(pl.Float64).fill_null(0.0))
        .with_columns((pl.col("churn_risk") * pl.col("clv_12m")).alias("value_at_risk"))
        .sort(["value_at_risk", "customer_id"], descending=[True, False])
        .head(top)
    )


__all__ = [
    "DEFAULT_BANDS",
    "DRIVER_GROUPS",
    "FEATURES",
    "ChurnInputError",
    "ChurnResult",
    "band",
    "bgnbd_p_alive",
    "build_features",
    "build_labels",
    "customers_to_save",
    "explain",
    "sample_customers",
    "train_and_score",
]
