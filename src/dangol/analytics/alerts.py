"""Churn early warning: valuable customers whose churn risk has just turned high.

After a run has written its metrics, ``after_run`` compares each customer's churn band with the
band of the previous run (the metrics as they were before the run, which the engine has read)
and emits ``customer.churn_risk_high`` for every *valuable* customer who moved INTO the high band
from low or medium. Set-based: one join of two Polars frames, one quantile; Python touches only
the alerted customers, to emit their events.

* **Valuable** (``settings.CHURN_ALERT_*``, docs/adr/0011-tasks-and-churn-alerts.md): a grade in
  the best ``CHURN_ALERT_TOP_TIERS`` tiers of the active grade programme, or a 12-month CLV in the
  top ``CHURN_ALERT_CLV_TOP_PERCENT`` % of the customers with a CLV. 0 turns a criterion off.
* **Moved into high**: the previous run gave the customer a band, and it was low or medium. A
  customer without a previous band (the first churn run, a new customer, a run whose churn step
  failed and left no band) raises no alert: "high since we first looked" is not news, and the
  first run would otherwise flood the team with every high-risk customer at once.
* At most ``CHURN_ALERT_MAX_PER_RUN`` alerts per run, the largest value at risk first (a model
  change that moves thousands at once should not bury the team; the rest stay on the
  "customers to save" list).

The event carries the risk, the band moved from, the CLV, the value at risk (risk × 12-month
CLV) and the drivers in words. Subscribers (the sales app's follow-up task) run as jobs after
commit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from django.conf import settings
from django.db import transaction

from dangol.analytics import churn
from dangol.analytics.models import ChurnBand, GradeTier, ModelRun
from dangol.core import events
from dangol.customers.models import Customer

log = logging.getLogger(__name__)

EVENT = "customer.churn_risk_high"
LOWER_BANDS = (ChurnBand.LOW.value, ChurnBand.MEDIUM.value)


@dataclass(frozen=True)
class AlertRule:
    """Who counts as valuable, and how many alerts a run may raise."""

    top_tiers: int = 2
    clv_top_percent: float = 10.0
    max_per_run: int = 2000

    @classmethod
    def from_settings(cls) -> AlertRule:
        return cls(
            top_tiers=int(getattr(settings, "CHURN_ALERT_TOP_TIERS", 2)),
            clv_top_percent=float(getattr(settings, "CHURN_ALERT_CLV_TOP_PERCENT", 10)),
            max_per_run=int(getattr(settings, "CHURN_ALERT_MAX_PER_RUN", 2000)),
        )


@dataclass
class AlertResult:
    """What one pass found: the alerted rows, and how many were left out by the cap."""

    alerts: pl.DataFrame
    moved_into_high: int = 0
    capped: int = 0
    clv_threshold: float | None = None
    top_tier_ids: list[int] = field(default_factory=list)


def top_tier_ids(top_tiers: int) -> list[int]:
    """The ids of the best `top_tiers` tiers of the active grade programme (none without one)."""
    if top_tiers <= 0:
        return []
    return list(
        GradeTier.objects.filter(program__is_active=True)
        .order_by("-rank")
        .values_list("pk", flat=True)[:top_tiers]
    )


def find_alerts(
    previous: pl.DataFrame,
    metrics: pl.DataFrame,
    *,
    rule: AlertRule,
    tier_ids: list[int],
) -> AlertResult:
    """The valuable customers whose band moved from low/medium (previous) to high (metrics).

    Both frames have customer_id, churn_band; `metrics` also churn_risk, clv_12m, grade_id and
    churn_drivers (JSON text or a list). Returns customer_id, churn_risk, previous_band,
    clv_12m, grade_id, value_at_risk, churn_drivers; largest value at risk first.
    """
    empty = AlertResult(alerts=metrics.head(0).select("customer_id"))
    if previous.height == 0 or "churn_band" not in previous.columns:
        return empty
    clv = metrics.filter(pl.col("clv_12m").is_not_null() & (pl.col("clv_12m") > 0))["clv_12m"]
    threshold: float | None = None
    if rule.clv_top_percent > 0 and clv.len():
        q = clv.quantile(1 - rule.clv_top_percent / 100, interpolation="higher")
        threshold = float(q) if q is not None else None
    valuable = pl.lit(False)
    if tier_ids:
        valuable = valuable | pl.col("grade_id").is_in(tier_ids).fill_null(False)
    if threshold is not None:
        valuable = valuable | (pl.col("clv_12m") >= threshold).fill_null(False)
    moved = metrics.join(
        previous.select("customer_id", pl.col("churn_band").alias("previous_band")),
        on="customer_id",
        how="inner",
    ).filter((pl.col("churn_band") == ChurnBand.HIGH) & pl.col("previous_band").is_in(LOWER_BANDS))
    alerts = (
        moved.filter(valuable)
        .with_columns(
            (pl.col("churn_risk").fill_null(0.0) * pl.col("clv_12m").fill_null(0.0)).alias(
                "value_at_risk"
            )
        )
        .sort(["value_at_risk", "customer_id"], descending=[True, False])
        .select(
            "customer_id",
            "churn_risk",
            "previous_band",
            "clv_12m",
            "grade_id",
            "value_at_risk",
            "churn_drivers",
        )
    )
    capped = max(alerts.height - max(rule.max_per_run, 0), 0)
    return AlertResult(
        alerts=alerts.head(max(rule.max_per_run, 0)),
        moved_into_high=moved.height,
        capped=capped,
        clv_threshold=threshold,
        top_tier_ids=tier_ids,
    )


def _drivers(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value] if value else []
    if isinstance(value, pl.Series):
        value = value.to_list()
    # worded in the active language: the follow-up task reads them as they are
    return churn.driver_texts(value)


def emit_alerts(result: AlertResult, *, run: ModelRun | None) -> int:
    """One ``customer.churn_risk_high`` per alerted customer, delivered after commit."""
    rows = result.alerts.to_dicts()
    if not rows:
        return 0
    with transaction.atomic():
        for r in rows:
            events.emit(
                EVENT,
                Customer(pk=r["customer_id"]),  # only the type and id are read: no query
                customer_id=r["customer_id"],
                churn_risk=r["churn_risk"],
                churn_band=ChurnBand.HIGH.value,
                previous_band=r["previous_band"],
                clv_12m=r["clv_12m"],
                value_at_risk=r["value_at_risk"],
                grade_id=r["grade_id"],
                drivers=_drivers(r["churn_drivers"]),
                run_id=getattr(run, "pk", None),
            )
    return len(rows)


def after_run(ctx: Any, metrics: pl.DataFrame) -> AlertResult | None:
    """The engine's hook, called once the run's metrics have committed.

    `ctx` is the run's ``engine.Context``: its ``previous`` frame (the metrics before the run)
    is used only if the run has already read it; reading it now would see the new metrics, so
    without it the pass is skipped. Never raises: a failing alert pass must not fail the run
    whose results are already committed.
    """
    previous = getattr(ctx, "__dict__", {}).get("previous")
    if previous is None:
        log.warning("churn alerts skipped: the run did not read the previous metrics")
        return None
    try:
        rule = AlertRule.from_settings()
        result = find_alerts(previous, metrics, rule=rule, tier_ids=top_tier_ids(rule.top_tiers))
        emitted = emit_alerts(result, run=getattr(ctx, "run", None))
        if emitted or result.capped:
            log.info(
                "churn alerts: %d emitted, %d moved into high, %d over the cap",
                emitted,
                result.moved_into_high,
                result.capped,
            )
        return result
    except Exception:
        log.exception("churn alerts failed")
        return None
