"""REST endpoints of imports: upload, preview, dry run, commit, progress, rejected rows, mapping
templates. Parse, check permission, call one service or selector."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status, UploadedFile

from dangol.api.pagination import paginate
from dangol.core.errors import NotFound, ValidationFailed
from dangol.core.http import AuthedRequest
from dangol.integration import selectors, services
from dangol.integration.imports.pipeline import PREVIEW_ROWS, preview
from dangol.integration.models import ImportJob, MappingTemplate
from dangol.integration.schemas import (
    ImportJobOut,
    ImportJobPage,
    MappingTemplateIn,
    MappingTemplateOut,
    MappingTemplatePatch,
    PreviewOut,
    RowErrorPage,
)

router = Router(tags=["imports"])


def job_out(job: ImportJob) -> dict[str, Any]:
    total = job.total_bytes or 0
    done = job.is_finished and not job.error_message
    return {
        **{
            f: getattr(job, f)
            for f in (
                "id",
                "target",
                "source",
                "original_name",
                "format",
                "encoding",
                "status",
                "dry_run",
                "header",
                "mapping",
                "transforms",
                "mapping_template_id",
                "total_bytes",
                "processed_bytes",
                "rows_read",
                "last_committed_line",
                "error_message",
                "created_by_id",
                "created_at",
                "started_at",
                "finished_at",
            )
        },
        **{k: v for k, v in job.counts().items() if k != "rows_read"},
        "progress": 1.0 if done else (min(job.processed_bytes / total, 1.0) if total else 0.0),
    }


def _json_field(name: str, text: str | None) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ValidationFailed.single(name, "invalid", _("Give a JSON object."))
    return value


def _job(request: AuthedRequest, job_id: int) -> ImportJob:
    job = selectors.job_for(request.user, job_id)
    if job is None:
        raise NotFound()
    return job


def _template(template_id: int) -> MappingTemplate:
    template = MappingTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise NotFound()
    return template


# --- mapping templates (before /{job_id} so the paths never collide) --------------------------


@router.get("/mapping-templates", response=list[MappingTemplateOut], summary="Mapping templates")
def list_templates(
    request: AuthedRequest, source: str | None = None, target: str | None = None
) -> Any:
    return list(selectors.templates(source, target)[:500])


@router.post(
    "/mapping-templates", response={201: MappingTemplateOut}, summary="Save a mapping template"
)
def create_template(request: AuthedRequest, payload: MappingTemplateIn) -> Status[Any]:
    template = services.create_mapping_template(
        name=payload.name,
        source=payload.source,
        target=payload.target,
        mapping=payload.mapping,
        transforms=payload.transforms,
        actor=request.user,
    )
    return Status(201, template)


@router.patch(
    "/mapping-templates/{template_id}", response=MappingTemplateOut, summary="Change a template"
)
def update_template(request: AuthedRequest, template_id: int, payload: MappingTemplatePatch) -> Any:
    return services.update_mapping_template(
        template=_template(template_id),
        mapping=payload.mapping,
        transforms=payload.transforms,
        actor=request.user,
    )


@router.delete(
    "/mapping-templates/{template_id}", response={204: None}, summary="Delete a template"
)
def delete_template(request: AuthedRequest, template_id: int) -> Status[Any]:
    services.delete_mapping_template(template=_template(template_id), actor=request.user)
    return Status(204, None)


# --- jobs -------------------------------------------------------------------------------------


class JobFilters(Schema):
    status: str | None = None
    target: str | None = None
    cursor: str | None = None
    limit: int = 50


@router.get("", response=ImportJobPage, summary="List imports")
def list_jobs(request: AuthedRequest, filters: Query[JobFilters]) -> dict[str, Any]:
    qs = selectors.jobs_for(request.user)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.target:
        qs = qs.filter(target=filters.target)
    page = paginate(qs, sort="-id", allowed=("id",), cursor=filters.cursor, limit=filters.limit)
    return {"items": [job_out(j) for j in page.items], "next_cursor": page.next_cursor}


@router.post("", response={201: ImportJobOut}, summary="Upload a file to import")
def upload(
    request: AuthedRequest,
    file: File[UploadedFile],
    target: Form[str],
    source: Form[str],
    mapping_template_id: Form[int | None] = None,
    mapping: Form[str | None] = None,
    transforms: Form[str | None] = None,
    encoding: Form[str] = "",
) -> Status[Any]:
    template = _template(mapping_template_id) if mapping_template_id is not None else None
    job = services.create_import_job(
        target=target,
        source=source,
        upload=file,
        template=template,
        mapping=_json_field("mapping", mapping),
        transforms=_json_field("transforms", transforms),
        encoding=encoding,
        actor=request.user,
    )
    return Status(201, job_out(job))


@router.get("/{job_id}", response=ImportJobOut, summary="An import's status and progress")
def get_job(request: AuthedRequest, job_id: int) -> dict[str, Any]:
    return job_out(_job(request, job_id))


@router.get("/{job_id}/preview", response=PreviewOut, summary="The first rows, checked")
def get_preview(request: AuthedRequest, job_id: int, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    return preview(_job(request, job_id), rows=max(1, min(rows, 200)))


@router.post("/{job_id}/dry-run", response={202: ImportJobOut}, summary="Check the whole file")
def dry_run(request: AuthedRequest, job_id: int) -> Status[Any]:
    job = services.start_import(job=_job(request, job_id), actor=request.user, dry_run=True)
    return Status(202, job_out(job))


@router.post("/{job_id}/commit", response={202: ImportJobOut}, summary="Import the file")
def commit(request: AuthedRequest, job_id: int) -> Status[Any]:
    job = services.start_import(job=_job(request, job_id), actor=request.user)
    return Status(202, job_out(job))


@router.post("/{job_id}/cancel", response=ImportJobOut, summary="Stop an import")
def cancel(request: AuthedRequest, job_id: int) -> dict[str, Any]:
    job = _job(request, job_id)
    return job_out(services.cancel_import(job=job, actor=request.user))


@router.get("/{job_id}/errors", response=RowErrorPage, summary="Rejected rows and why")
def list_errors(
    request: AuthedRequest, job_id: int, cursor: str | None = None, limit: int = 100
) -> dict[str, Any]:
    job = _job(request, job_id)
    page = paginate(
        selectors.row_errors(job), sort="line", allowed=("line",), cursor=cursor, limit=limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/{job_id}/errors/download",
    summary="Rejected rows as a file in the uploaded format",
    response={200: None},
)
def download_errors(request: AuthedRequest, job_id: int, reasons: bool = False) -> HttpResponse:
    job = _job(request, job_id)
    content, name, content_type = selectors.rejected_rows_file(job, with_reasons=reasons)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
