"""REST endpoints of the analytics app: read metrics, segments, grades and runs; start a run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from ninja import Router, Status

from dangol.analytics import churn, selectors, services
from dangol.analytics.models import CustomerMetrics, ModelRun
from dangol.analytics.schemas import (
    CustomerMetricsOut,
    GradeCountOut,
    GradeMigrationOut,
    ModelRunDetailOut,
    ModelRunOut,
    ModelRunPage,
    MovementReport,
    RunIn,
    SegmentCountOut,
)
from dangol.api.pagination import paginate
from dangol.core.errors import ValidationFailed
from dangol.core.http import AuthedRequest
from dangol.core.schemas import ApiDateTime

router = Router(tags=["analytics"])


def metrics_out(m: CustomerMetrics) -> dict[str, Any]:
    grade = m.grade
    return {
        **{
            f: getattr(m, f)
            for f in (
                "customer_id",
                "recency_days",
                "frequency",
                "r_score",
                "f_score",
                "m_score",
                "expected_purchases_90d",
                "p_alive",
                "clv_12m",
                "churn_risk",
                "next_best_offers",
                "run_id",
                "computed_at",
            )
        },
        # each driver's figures with its sentence in the request's language
        "churn_drivers": [
            {**d, "text": churn.driver_text(d)} if isinstance(d, dict) else d
            for d in m.churn_drivers or []
        ],
        "monetary": float(m.monetary),
        "rfm_segment": m.rfm_segment or None,
        "previous_rfm_segment": m.previous_rfm_segment or None,
        "churn_band": m.churn_band or None,
        "grade": (
            {"code": grade.code, "name": grade.name, "rank": grade.rank, "benefits": grade.benefits}
            if grade is not None
            else None
        ),
    }


@router.get(
    "/customers/{customer_id}", response=CustomerMetricsOut, summary="A customer's analytics"
)
def get_customer_metrics(request: AuthedRequest, customer_id: int) -> dict[str, Any]:
    return metrics_out(selectors.customer_metrics(request.user, customer_id))


@router.get("/rfm/segments", response=list[SegmentCountOut], summary="Customers per RFM segment")
def rfm_segments(request: AuthedRequest) -> list[dict[str, Any]]:
    return selectors.rfm_segment_counts(request.user)


@router.get(
    "/rfm/movement",
    response=MovementReport,
    summary="Customers moving between RFM segments from one run to another",
)
def rfm_movement(
    request: AuthedRequest, run_a: int | None = None, run_b: int | None = None
) -> dict[str, Any]:
    if run_a is None or run_b is None:
        latest = selectors.latest_runs_with_segments(2)
        if len(latest) < 2:
            raise ValidationFailed.single(
                "run_a", "required", _("Give two runs; fewer than two runs kept segments.")
            )
        run_b, run_a = latest[0], latest[1]
    rows = selectors.rfm_movement(run_a, run_b)
    return {
        "run_a": run_a,
        "run_b": run_b,
        "movements": [
            {"from_segment": r["from"], "to_segment": r["to"], "customers": r["customers"]}
            for r in rows
        ],
    }


@router.get("/grades", response=list[GradeCountOut], summary="Customers per grade")
def grade_distribution(request: AuthedRequest) -> list[dict[str, Any]]:
    return selectors.grade_distribution(request.user)


@router.get(
    "/grades/migrations",
    response=list[GradeMigrationOut],
    summary="Grade changes from → to over a period",
)
def grade_migrations(
    request: AuthedRequest, since: ApiDateTime | None = None, until: ApiDateTime | None = None
) -> list[dict[str, Any]]:
    rows = selectors.grade_migrations(request.user, since=since, until=until)
    return [{"from_tier": r["from"], "to_tier": r["to"], "customers": r["customers"]} for r in rows]


@router.get("/runs", response=ModelRunPage, summary="Analytics runs")
def list_runs(
    request: AuthedRequest, model: str | None = None, cursor: str | None = None, limit: int = 50
) -> dict[str, Any]:
    page = paginate(
        selectors.model_runs(model=model), sort="-id", allowed=("id",), cursor=cursor, limit=limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/runs/{run_id}", response=ModelRunDetailOut, summary="A run and its steps")
def get_run(request: AuthedRequest, run_id: int) -> ModelRun:
    return selectors.model_run(run_id)


@router.post("/runs", response={202: ModelRunOut}, summary="Start a run (administrators)")
def start_run(request: AuthedRequest, payload: RunIn) -> Status[Any]:
    if payload.as_of is not None and payload.as_of > dt.date.today():
        raise ValidationFailed.single("as_of", "in_future", _("This is in the future."))
    run = services.start_analytics_run(
        actor=request.user, only=payload.only or None, as_of=payload.as_of
    )
    return Status(202, run)
