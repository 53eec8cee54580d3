"""Read queries of imports shared by the API, the web app and the CLI."""

from __future__ import annotations

import io
from typing import Any

from django.db.models import QuerySet

from dangol.core.visibility import Action
from dangol.integration.imports.readers import write_rows
from dangol.integration.models import (
    ImportFormat,
    ImportJob,
    ImportRowError,
    MappingTemplate,
)

CONTENT_TYPES = {
    ImportFormat.CSV: "text/csv",
    ImportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ImportFormat.JSONL: "application/x-ndjson",
    ImportFormat.VCARD: "text/vcard",
}
EXTENSIONS = {
    ImportFormat.CSV: "csv",
    ImportFormat.XLSX: "xlsx",
    ImportFormat.JSONL: "jsonl",
    ImportFormat.VCARD: "vcf",
}
REASONS_COLUMN = "오류"


def jobs_for(user: Any, action: str = Action.VIEW) -> QuerySet[ImportJob]:
    """The import jobs `user` may see, newest first."""
    return ImportJob.objects.visible_to(user, action).select_related("mapping_template")


def job_for(user: Any, job_id: int, action: str = Action.VIEW) -> ImportJob | None:
    return jobs_for(user, action).filter(pk=job_id).first()


def row_errors(job: ImportJob) -> QuerySet[ImportRowError]:
    return ImportRowError.objects.filter(job=job).order_by("line", "id")


def templates(source: str | None = None, target: str | None = None) -> QuerySet[MappingTemplate]:
    qs = MappingTemplate.objects.all()
    if source:
        qs = qs.filter(source=source)
    if target:
        qs = qs.filter(target=target)
    return qs


def find_template(name: str, source: str | None = None) -> MappingTemplate | None:
    """A template by name (and source system when given)."""
    qs = MappingTemplate.objects.filter(name=name)
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("id").first()


def _reason_text(reasons: list[dict[str, str]]) -> str:
    return "; ".join(
        f"{r.get('field') or '-'}: {r.get('message', '')} [{r.get('code', '')}]" for r in reasons
    )


def rejected_rows_file(job: ImportJob, *, with_reasons: bool = False) -> tuple[bytes, str, str]:
    """The rejected rows written back in the file's own format and encoding (so they can be
    fixed and imported again): (content, file name, content type). With `with_reasons`, CSV
    and XLSX get a last column and JSON Lines a ``_errors`` key."""
    out = io.BytesIO()
    header = list(job.header)
    errors = row_errors(job).iterator(chunk_size=2000)

    def raws() -> Any:
        for e in errors:
            raw = e.raw
            if with_reasons and job.format in (ImportFormat.CSV, ImportFormat.XLSX):
                raw = [*raw, *[""] * (len(header) - len(raw)), _reason_text(e.reasons)]
            elif with_reasons and job.format == ImportFormat.JSONL and isinstance(raw, dict):
                raw = {**raw, "_errors": e.reasons}
            yield raw

    if with_reasons and job.format in (ImportFormat.CSV, ImportFormat.XLSX):
        header.append(REASONS_COLUMN)
    encoding = job.encoding or "utf-8"
    write_rows(job.format, header, raws(), out, encoding=encoding)
    stem = (job.original_name.rsplit(".", 1)[0] or "import") + "-rejected"
    return (
        out.getvalue(),
        f"{stem}.{EXTENSIONS[ImportFormat(job.format)]}",
        CONTENT_TYPES[ImportFormat(job.format)],
    )
