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
