"""REST endpoints of the integration app. ``router`` (mounted at /imports): upload, preview,
dry run, commit, progress, rejected rows, mapping templates. ``duplicate_router``
(/duplicates): the review queue of candidate pairs and the search settings. ``quality_router``
(/quality): data-quality figures, trend and the customer information plan. ``export_router``
(/exports): customer list exports and the data-subject access file. Parse, check permission,
call one service or selector."""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status, UploadedFile

from dangol.api.pagination import paginate
from dangol.core.errors import Forbidden, NotFound, ValidationFailed
from dangol.core.http import AuthedRequest
from dangol.customers.selectors import PiiRead
from dangol.integration import selectors, services
from dangol.integration.imports.pipeline import PREVIEW_ROWS, preview
from dangol.integration.models import (
    CandidateStatus,
    DedupeRun,
    DuplicateCandidate,
    ExportFormat,
    ExportJob,
    ExportStatus,
    ImportJob,
    MappingTemplate,
    QualitySnapshot,
)
from dangol.integration.schemas import (
    CandidateOut,
    CandidatePage,
    DedupeRunOut,
    DedupeSettingsOut,
    DedupeSettingsPatch,
    ExportIn,
    ExportOut,
    ExportPage,
    ImportJobOut,
    ImportJobPage,
    MappingTemplateIn,
    MappingTemplateOut,
    MappingTemplatePatch,
    MergeIn,
    PlanIn,
    PreviewOut,
    QualityTrendPoint,
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
        "duplicates": job.duplicate_count,
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


# --- duplicates (mounted at /duplicates) -------------------------------------------------------

duplicate_router = Router(tags=["duplicates"])


def _read(request: AuthedRequest) -> PiiRead:
    return PiiRead("api", request.path, request.META.get("REMOTE_ADDR") or None)


def _side(view: Any) -> dict[str, Any]:
    c = view.customer
    return {
        **{
            f: getattr(c, f)
            for f in (
                "id",
                "full_name",
                "birth_date",
                "birth_date_is_lunar",
                "gender",
                "region",
                "source",
                "status",
                "created_at",
                "order_count",
            )
        },
        "contacts": [vars(v) for v in view.contacts],
        "addresses": [str(a) for a in view.addresses],
        "external_ids": [f"{e.source}:{e.key}" for e in view.external_ids],
    }


def candidate_out(view: Any) -> dict[str, Any]:
    cand = view.candidate
    return {
        **{
            f: getattr(cand, f)
            for f in (
                "id",
                "left_id",
                "right_id",
                "probability",
                "origin",
                "status",
                "reviewer_id",
                "decided_at",
                "merge_id",
                "created_at",
            )
        },
        "match_rule": cand.evidence.get("match_rule"),
        "evidence": view.evidence,
        "left": _side(view.left),
        "right": _side(view.right),
        "revealed": view.revealed,
    }


def _candidate(request: AuthedRequest, candidate_id: int) -> DuplicateCandidate:
    cand = selectors.candidate_for(request.user, candidate_id)
    if cand is None:
        raise NotFound()
    return cand


def _one(request: AuthedRequest, cand: DuplicateCandidate, reveal: bool = False) -> dict[str, Any]:
    cand.refresh_from_db()
    view = selectors.pair_views(request.user, [cand], reveal=reveal, read=_read(request))[0]
    return candidate_out(view)


@duplicate_router.get("", response=CandidatePage, summary="Candidate duplicate pairs")
def list_candidates(
    request: AuthedRequest,
    status: CandidateStatus = CandidateStatus.PENDING,
    reveal: bool = False,
    cursor: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    qs = selectors.candidates_for(request.user, status=status)
    page = paginate(qs, sort="-id", allowed=("id",), cursor=cursor, limit=limit)
    views = selectors.pair_views(request.user, page.items, reveal=reveal, read=_read(request))
    return {"items": [candidate_out(v) for v in views], "next_cursor": page.next_cursor}


@duplicate_router.get("/settings", response=DedupeSettingsOut, summary="Duplicate search settings")
def get_dedupe_settings(request: AuthedRequest) -> Any:
    if not services.can_manage_dedupe(request.user):
        raise Forbidden()
    return selectors.dedupe_settings()


@duplicate_router.patch("/settings", response=DedupeSettingsOut, summary="Change the settings")
def patch_dedupe_settings(request: AuthedRequest, payload: DedupeSettingsPatch) -> Any:
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    return services.update_dedupe_settings(actor=request.user, changes=changes)


@duplicate_router.post("/runs", response={202: None}, summary="Search the base for duplicates")
def start_search(request: AuthedRequest) -> Status[Any]:
    if not services.can_manage_dedupe(request.user):
        raise Forbidden()
    services.start_duplicate_search(actor=request.user)
    return Status(202, None)


@duplicate_router.get("/runs", response=list[DedupeRunOut], summary="Recent duplicate searches")
def list_runs(request: AuthedRequest) -> Any:
    if not services.can_manage_dedupe(request.user):
        raise Forbidden()
    return list(DedupeRun.objects.order_by("-started_at", "-id")[:20])


@duplicate_router.get("/{candidate_id}", response=CandidateOut, summary="A pair side by side")
def get_candidate(request: AuthedRequest, candidate_id: int, reveal: bool = False) -> Any:
    return _one(request, _candidate(request, candidate_id), reveal=reveal)


@duplicate_router.post("/{candidate_id}/merge", response=CandidateOut, summary="Merge the pair")
def merge_pair(request: AuthedRequest, candidate_id: int, payload: MergeIn) -> Any:
    cand = _candidate(request, candidate_id)
    services.merge_candidate(candidate=cand, survivor_id=payload.survivor_id, actor=request.user)
    return _one(request, cand)


@duplicate_router.post(
    "/{candidate_id}/dismiss", response=CandidateOut, summary="Not the same person"
)
def dismiss_pair(request: AuthedRequest, candidate_id: int) -> Any:
    cand = _candidate(request, candidate_id)
    services.dismiss_candidate(candidate=cand, actor=request.user)
    return _one(request, cand)


@duplicate_router.post("/{candidate_id}/undo", response=CandidateOut, summary="Undo the merge")
def undo_pair(request: AuthedRequest, candidate_id: int) -> Any:
    cand = _candidate(request, candidate_id)
    services.undo_candidate_merge(candidate=cand, actor=request.user)
    return _one(request, cand)


# --- data quality (mounted at /quality) ---------------------------------------------------------

quality_router = Router(tags=["data quality"])


def _require_quality(request: AuthedRequest) -> None:
    if not services.can_view_quality(request.user):
        raise Forbidden()


@quality_router.get("", response=dict[str, Any], summary="Data quality figures")
def get_quality(request: AuthedRequest, stale_months: int | None = None) -> Any:
    from dangol.integration.quality import quality_report

    _require_quality(request)
    if stale_months is not None and not 1 <= stale_months <= 240:
        raise ValidationFailed.single("stale_months", "out_of_range", _("Between 1 and 240."))
    return quality_report(stale_months=stale_months).as_dict()


@quality_router.get("/trend", response=list[QualityTrendPoint], summary="Daily figures")
def get_trend(request: AuthedRequest, days: int = 90) -> Any:
    _require_quality(request)
    days = max(1, min(days, 3660))
    return list(QualitySnapshot.objects.order_by("-day")[:days])[::-1]


@quality_router.get("/plan", response=dict[str, dict[str, str]], summary="Information plan")
def get_plan(request: AuthedRequest) -> Any:
    from dangol.integration.quality import plan_table

    _require_quality(request)
    return plan_table()


@quality_router.put("/plan", response=dict[str, dict[str, str]], summary="Declare a plan")
def put_plan(request: AuthedRequest, payload: PlanIn) -> Any:
    from dangol.integration.quality import plan_table

    services.set_information_plan(source=payload.source, levels=payload.levels, actor=request.user)
    return plan_table()


# --- exports (mounted at /exports) -------------------------------------------------------------

export_router = Router(tags=["exports"])


def export_out(job: ExportJob) -> dict[str, Any]:
    done = job.status == ExportStatus.COMPLETED
    return {
        **{
            f: getattr(job, f)
            for f in (
                "id",
                "format",
                "filters",
                "status",
                "unmasked",
                "row_count",
                "error_message",
                "created_at",
                "started_at",
                "finished_at",
            )
        },
        "download_url": f"/api/v1/exports/{job.pk}/download" if done else None,
    }


def _export(request: AuthedRequest, export_id: int) -> ExportJob:
    job = ExportJob.objects.filter(pk=export_id, requested_by=request.user).first()
    if job is None:
        raise NotFound()
    return job


@export_router.post("", response={202: ExportOut}, summary="Export a customer list")
def create_export(request: AuthedRequest, payload: ExportIn) -> Status[Any]:
    job = services.request_export(
        actor=request.user, format=payload.format, filters=payload.filters
    )
    job.refresh_from_db()
    return Status(202, export_out(job))


@export_router.get("", response=ExportPage, summary="Your exports")
def list_exports(
    request: AuthedRequest, cursor: str | None = None, limit: int = 50
) -> dict[str, Any]:
    qs = ExportJob.objects.filter(requested_by=request.user)
    page = paginate(qs, sort="-id", allowed=("id",), cursor=cursor, limit=limit)
    return {"items": [export_out(j) for j in page.items], "next_cursor": page.next_cursor}


@export_router.get(
    "/personal-data/{customer_id}",
    response=dict[str, Any],
    summary="Everything held about one customer (data-subject access request)",
)
def personal_data(request: AuthedRequest, customer_id: int) -> Any:
    from dangol.integration.exports import subject_access_data

    return subject_access_data(user=request.user, customer_id=customer_id, read=_read(request))


@export_router.get("/{export_id}", response=ExportOut, summary="An export's status")
def get_export(request: AuthedRequest, export_id: int) -> dict[str, Any]:
    return export_out(_export(request, export_id))


@export_router.get(
    "/{export_id}/download", response={200: None}, summary="The exported file (requester only)"
)
def download_export(request: AuthedRequest, export_id: int) -> FileResponse:
    from dangol.integration.exports import CONTENT_TYPES, export_file

    job = _export(request, export_id)
    path = export_file(job) if job.status == ExportStatus.COMPLETED else None
    if path is None or not path.is_file():
        raise NotFound()
    response = FileResponse(path.open("rb"), content_type=CONTENT_TYPES[ExportFormat(job.format)])
    response["Content-Disposition"] = content_disposition_header(True, path.name)
    return response
