"""Pydantic schemas of the analytics API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema

from dangol.analytics.models import ChurnBand, RFMSegment, RunStatus, RunTrigger
from dangol.core.schemas import ApiDateTime


class GradeOut(Schema):
    code: str
    name: str
    rank: int
    benefits: list[Any]


class CustomerMetricsOut(Schema):
    customer_id: int
    recency_days: int | None
    frequency: int
    monetary: float
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_segment: RFMSegment | None
    previous_rfm_segment: RFMSegment | None
    grade: GradeOut | None
    expected_purchases_90d: float | None
    p_alive: float | None
    clv_12m: float | None
    churn_risk: float | None
    churn_band: ChurnBand | None
    churn_drivers: list[Any]
    next_best_offers: list[Any]
    run_id: int | None
    computed_at: ApiDateTime


class SegmentCountOut(Schema):
    segment: RFMSegment
    label: str
    customers: int


class MovementOut(Schema):
    from_segment: str = Field(..., description='"" = no segment (no purchase, or not a customer)')
    to_segment: str
    customers: int


class MovementReport(Schema):
    run_a: int
    run_b: int
    movements: list[MovementOut]


class GradeCountOut(Schema):
    tier: str
    name: str
    rank: int
    customers: int


class GradeMigrationOut(Schema):
    from_tier: str = Field(..., description='"" = no grade')
    to_tier: str
    customers: int


class ModelRunOut(Schema):
    id: int
    model: str
    parent_id: int | None
    status: RunStatus
    trigger: RunTrigger
    only: list[str]
    as_of: dt.date
    window_start: dt.date | None
    window_end: dt.date | None
    parameters: dict[str, Any]
    quality: dict[str, Any]
    rows_in: dict[str, Any]
    rows_out: int
    started_at: ApiDateTime | None
    finished_at: ApiDateTime | None
    duration_seconds: float | None
    error: str
    created_at: ApiDateTime


class ModelRunDetailOut(ModelRunOut):
    steps: list[ModelRunOut]


class ModelRunPage(Schema):
    items: list[ModelRunOut]
    next_cursor: str | None


class RunIn(Schema):
    only: list[str] = Field(default_factory=list, max_length=20)
    as_of: dt.date | None = None
