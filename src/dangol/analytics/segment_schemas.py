"""Pydantic schemas of the segment API (``/api/v1/segments``)."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema

from dangol.analytics.models import SegmentKind, SegmentStatus
from dangol.core.schemas import ApiDateTime

DEFINITION_HELP = (
    'A group {"all": [...]}, {"any": [...]} or {"not": {...}} of conditions '
    '{"field": ..., "op": ..., "value": ...}; see GET /segments/fields '
    "and docs/adr/0010-segments.md."
)


class SegmentIn(Schema):
    name: str = Field(max_length=120)
    description: str = ""
    kind: SegmentKind = SegmentKind.DYNAMIC
    definition: dict[str, Any] = Field(description=DEFINITION_HELP)


class SegmentPatch(Schema):
    name: str | None = Field(default=None, max_length=120)
    description: str | None = None
    definition: dict[str, Any] | None = Field(default=None, description=DEFINITION_HELP)


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    kind: SegmentKind
    status: SegmentStatus
    definition: dict[str, Any]
    snapshot_at: ApiDateTime | None
    snapshot_count: int | None
    created_by_id: int | None
    created_at: ApiDateTime
    updated_at: ApiDateTime


class SegmentPage(Schema):
    items: list[SegmentOut]
    next_cursor: str | None


class PreviewIn(Schema):
    definition: dict[str, Any] = Field(description=DEFINITION_HELP)


class SampleCustomerOut(Schema):
    id: int
    name: str = Field(description="Masked (김*준).")
    lifecycle_stage: str
    region: str
    order_count: int
    total_spent: float
    last_purchase_at: ApiDateTime | None


class PreviewOut(Schema):
    count: int = Field(description="Matching customers within your scope.")
    sample: list[SampleCustomerOut]
    definition: dict[str, Any] = Field(description="The definition as normalized and saved.")


class CountOut(Schema):
    segment_id: int
    count: int


class MemberPage(Schema):
    items: list[SampleCustomerOut]
    next_cursor: str | None


class SnapshotOut(Schema):
    segment_id: int
    snapshot_at: ApiDateTime
    count: int


class OperatorOut(Schema):
    op: str
    label: str
    arity: str


class OptionOut(Schema):
    value: str
    label: str


class ParamOut(Schema):
    name: str
    label: str
    type: str
    required: bool
    default: Any = None
    options: list[OptionOut]


class FieldOut(Schema):
    key: str
    label: str
    group: str
    group_label: str
    type: str
    integer: bool
    options: list[OptionOut]
    operators: list[OperatorOut]
    params: list[ParamOut]
