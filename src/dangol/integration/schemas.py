"""API schemas of imports."""

from __future__ import annotations

import datetime
from typing import Any

from ninja import Field, Schema

from dangol.integration.models import ImportFormat, ImportStatus, ImportTarget

TargetT = ImportTarget
StatusT = ImportStatus
FormatT = ImportFormat


class Reason(Schema):
    field: str
    code: str
    message: str


class ImportJobOut(Schema):
    id: int
    target: TargetT
    source: str
    original_name: str
    format: FormatT
    encoding: str
    status: StatusT
    dry_run: bool
    header: list[str]
    mapping: dict[str, str]
    transforms: dict[str, Any]
    mapping_template_id: int | None
    total_bytes: int
    processed_bytes: int
    progress: float = Field(description="Share of the file processed, 0 to 1.")
    rows_read: int
    created: int
    updated: int
    matched: int
    unchanged: int
    rejected: int
    duplicates: int | None = Field(
        description="Customer files, once read to the end: the pairs of rows (or of a row and "
        "an existing customer) sent to the duplicate review queue, or that a dry run would send; "
        "with the probabilistic matcher also the rows it was unsure about, each with the "
        "existing customer it may be. null for a job run before the count existed (unknown)."
    )
    last_committed_line: int
    error_message: str
    created_by_id: int | None
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None


class ImportJobPage(Schema):
    items: list[ImportJobOut]
    next_cursor: str | None


class PreviewRow(Schema):
    line: int
    values: dict[str, str]
    valid: bool
    errors: list[Reason]


class PreviewOut(Schema):
    encoding: str
    header: list[str]
    mapping: dict[str, str]
    fields: list[str]
    rows: list[PreviewRow]


class RowErrorOut(Schema):
    line: int
    raw: Any
    reasons: list[Reason]


class RowErrorPage(Schema):
    items: list[RowErrorOut]
    next_cursor: str | None


class MappingTemplateIn(Schema):
    name: str = Field(max_length=100)
    source: str = Field(max_length=50)
    target: TargetT
    mapping: dict[str, str]
    transforms: dict[str, Any] = Field(default_factory=dict)


class MappingTemplatePatch(Schema):
    mapping: dict[str, str] | None = None
    transforms: dict[str, Any] | None = None


class MappingTemplateOut(Schema):
    id: int
    name: str
    source: str
    target: TargetT
    mapping: dict[str, str]
    transforms: dict[str, Any]
    created_at: datetime.datetime
    updated_at: datetime.datetime


# --- duplicates -------------------------------------------------------------------------------


class ContactOut(Schema):
    kind: str
    value: str
    masked: bool
    is_primary: bool
    is_legacy: bool


class PairSideOut(Schema):
    id: int
    full_name: str
    birth_date: datetime.date | None
    birth_date_is_lunar: bool
    gender: str
    region: str
    source: str
    status: str
    created_at: datetime.datetime
    order_count: int
    contacts: list[ContactOut]
    addresses: list[str]
    external_ids: list[str]


class EvidenceOut(Schema):
    field: str
    field_label: str
    level: str
    level_label: str
    verdict: str


class CandidateOut(Schema):
    id: int
    left_id: int
    right_id: int
    probability: float
    match_rule: str | None
    origin: str
    status: str
    reviewer_id: int | None
    decided_at: datetime.datetime | None
    merge_id: int | None
    created_at: datetime.datetime
    evidence: list[EvidenceOut]
    left: PairSideOut
    right: PairSideOut
    revealed: bool


class CandidatePage(Schema):
    items: list[CandidateOut]
    next_cursor: str | None


class MergeIn(Schema):
    survivor_id: int


class DedupeSettingsOut(Schema):
    review_threshold: float
    auto_merge: bool
    auto_merge_threshold: float
    import_link_threshold: float
    shared_id_sources: list[str]
    stale_months: int


class DedupeSettingsPatch(Schema):
    review_threshold: float | None = None
    auto_merge: bool | None = None
    auto_merge_threshold: float | None = None
    import_link_threshold: float | None = None
    shared_id_sources: list[str] | None = None
    stale_months: int | None = None


class DedupeRunOut(Schema):
    id: int
    status: str
    records: int
    pairs_found: int
    created_count: int
    updated_count: int
    skipped_count: int
    auto_merged_count: int
    started_at: datetime.datetime
    finished_at: datetime.datetime | None


# --- data quality -----------------------------------------------------------------------------


class PlanIn(Schema):
    source: str = Field("", max_length=50)
    levels: dict[str, str | None]


class QualityTrendPoint(Schema):
    day: datetime.date
    customers: int
    score: float | None
    duplicate_rate: float
    stale_rate: float


# --- exports ----------------------------------------------------------------------------------


class ExportIn(Schema):
    format: str
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "The customer list filters (q, lifecycle_stage, region, source, tag, ...), and "
            '"segment": the id of a segment whose customers to export.'
        ),
    )


class ExportOut(Schema):
    id: int
    format: str
    filters: dict[str, Any]
    status: str
    unmasked: bool
    row_count: int
    error_message: str
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    download_url: str | None


class ExportPage(Schema):
    items: list[ExportOut]
    next_cursor: str | None
