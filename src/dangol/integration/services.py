"""State changes of imports: mapping templates, creating, starting, running and cancelling jobs.

``run_import`` is what the Huey task and the CLI call. It writes in set-based chunks (see
``integration.imports``) instead of calling the per-record customer and commerce services, as
docs/adr/0005-import-pipeline.md explains, and emits a single ``import.completed`` event.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.commerce.models import Order, Product, Return
from dangol.core import audit, events
from dangol.core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ServiceError,
    ValidationFailed,
)
from dangol.core.models import User
from dangol.core.visibility import Action, Scope, can, can_view_pii, scope_for
from dangol.customers.models import (
    Consent,
    ContactPoint,
    Customer,
    Interaction,
    MergeRecord,
    Organization,
    RecordStatus,
)
from dangol.integration.imports import pipeline
from dangol.integration.imports.identity import Matcher
from dangol.integration.imports.mapping import compile_mapping
from dangol.integration.imports.readers import detect_format
from dangol.integration.imports.targets import TARGETS
from dangol.integration.imports.writer import in_batches
from dangol.integration.models import (
    ACTIVE_STATUSES,
    DEDUPE_SETTINGS_OBJECT_TYPE,
    PLAN_OBJECT_TYPE,
    CandidateOrigin,
    CandidateStatus,
    DedupeRun,
    DedupeRunStatus,
    DedupeSettings,
    DuplicateCandidate,
    ExportFormat,
    ExportJob,
    ExportStatus,
    ImportJob,
    ImportStatus,
    ImportTarget,
    InformationPlanItem,
    MappingTemplate,
    PlanLevel,
    QualityField,
    QualitySnapshot,
)
from dangol.integration.selectors import dedupe_settings

if TYPE_CHECKING:
    import polars as pl

TARGET_MODELS: dict[str, type] = {
    ImportTarget.CUSTOMERS: Customer,
    ImportTarget.CONSENTS: Consent,
    ImportTarget.PRODUCTS: Product,
    ImportTarget.ORDERS: Order,
    ImportTarget.ORGANIZATIONS: Organization,
    ImportTarget.MEMBERSHIPS: Organization,  # linking people to accounts
    ImportTarget.CONTACT_POINTS: ContactPoint,
    ImportTarget.RETURNS: Return,
    ImportTarget.INTERACTIONS: Interaction,
}


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValidationFailed.single(
            "target", "not_supported", _("Importing this target is not supported yet.")
        )


def can_import(user: Any, target: str) -> bool:
    """Whether `user` may import into `target` (the ``add`` action on its model)."""
    if user is None:
        return True
    model = TARGET_MODELS.get(target)
    return model is not None and can(user, Action.ADD, model)


def _require_import(actor: Any, target: str) -> None:
    if isinstance(actor, User) and not can_import(actor, target):
        raise Forbidden()


# --- mapping templates ------------------------------------------------------------------------


@transaction.atomic
def create_mapping_template(
    *,
    name: str,
    source: str,
    target: str,
    mapping: dict[str, str],
    actor: Any,
    transforms: dict[str, Any] | None = None,
) -> MappingTemplate:
    """Save a column mapping for files of `source` going into `target`."""
    _check_target(target)
    _require_import(actor, target)
    if not name.strip() or not source.strip():
        raise ValidationFailed.single("name", "required", _("Give a name and a source system."))
    compile_mapping(mapping, transforms or {}, TARGETS[target].specs)
    if MappingTemplate.objects.filter(source=source.strip(), name=name.strip()).exists():
        raise Conflict(_("A mapping with this name exists for this source."), "duplicate")
    template = MappingTemplate.objects.create(
        name=name.strip(),
        source=source.strip(),
        target=target,
        mapping=mapping,
        transforms=transforms or {},
        created_by=actor if isinstance(actor, User) else None,
    )
    audit.record(actor, "mapping_template.created", template, after=audit.snapshot(template))
    return template


@transaction.atomic
def update_mapping_template(
    *,
    template: MappingTemplate,
    actor: Any,
    mapping: dict[str, str] | None = None,
    transforms: dict[str, Any] | None = None,
) -> MappingTemplate:
    """Replace a template's mapping and/or transforms."""
    _require_import(actor, template.target)
    before = audit.snapshot(template)
    if mapping is not None:
        template.mapping = mapping
    if transforms is not None:
        template.transforms = transforms
    compile_mapping(template.mapping, template.transforms, TARGETS[template.target].specs)
    template.updated_at = timezone.now()
    template.save()
    audit.record(
        actor, "mapping_template.updated", template, before=before, after=audit.snapshot(template)
    )
    return template


@transaction.atomic
def delete_mapping_template(*, template: MappingTemplate, actor: Any) -> None:
    """Delete a template (jobs that used it keep their own copy of the mapping)."""
    _require_import(actor, template.target)
    audit.record(actor, "mapping_template.deleted", template, before=audit.snapshot(template))
    template.delete()


# --- jobs -------------------------------------------------------------------------------------


@transaction.atomic
def create_import_job(
    *,
    target: str,
    source: str,
    actor: Any,
    upload: UploadedFile | None = None,
    path: str | Path | None = None,
    mapping: dict[str, str] | None = None,
    transforms: dict[str, Any] | None = None,
    template: MappingTemplate | None = None,
    encoding: str = "",
    file_format: str = "",
) -> ImportJob:
    """Register a file to import (an upload, or a local path from the CLI); nothing is read
    yet. A template supplies the mapping; `mapping`/`transforms` given here override it."""
    _check_target(target)
    _require_import(actor, target)
    if not source.strip():
        raise ValidationFailed.single("source", "required", _("Name the source system."))
    if (upload is None) == (path is None):
        raise ValidationFailed.single("file", "required", _("Give one file."))
    if template is not None and template.target != target:
        raise ValidationFailed.single(
            "mapping_template", "wrong_target", _("This mapping is for another target.")
        )
    name = (upload.name or "") if upload is not None else os.path.basename(str(path))
    fmt = file_format or detect_format(name)
    if path is not None and not Path(path).is_file():
        raise ValidationFailed.single("file", "not_found", _("No such file."))
    if encoding:
        try:
            "".encode(encoding)
        except LookupError:
            raise ValidationFailed.single(
                "encoding", "invalid_choice", _("Unknown encoding.")
            ) from None
    mapping = mapping if mapping is not None else (template.mapping if template else {})
    transforms = transforms if transforms is not None else (template.transforms if template else {})
    if mapping:
        compile_mapping(mapping, transforms, TARGETS[target].specs)
    job = ImportJob(
        target=target,
        source=source.strip(),
        original_name=name[:255],
        format=fmt,
        encoding=encoding,
        mapping_template=template,
        mapping=mapping,
        transforms=transforms,
        created_by=actor if isinstance(actor, User) else None,
    )
    if upload is not None:
        job.total_bytes = upload.size or 0
        job.file.save(os.path.basename(name) or "upload", upload, save=False)
    else:
        job.local_path = str(Path(str(path)).resolve())
        job.total_bytes = Path(job.local_path).stat().st_size
    job.save()
    audit.record(
        actor, "import.created", job, after={"target": target, "source": job.source, "file": name}
    )
    return job


def _reset(job: ImportJob) -> None:
    job.row_errors.all().delete()
    target = TARGETS.get(job.target)
    if target is not None:
        target.discard(job.pk)  # the per-file records of the earlier run
    for name in (
        "rows_read",
        "created_count",
        "updated_count",
        "matched_count",
        "unchanged_count",
        "rejected_count",
        "duplicate_count",
        "last_committed_line",
        "processed_bytes",
    ):
        setattr(job, name, 0)
    job.created_ids = []
    job.error_message = ""
    job.finished_at = None


@transaction.atomic
def start_import(
    *, job: ImportJob, actor: Any, dry_run: bool = False, enqueue: bool = True
) -> ImportJob:
    """Queue the job (a dry run checks and counts, writes nothing). A failed run of the same kind
    resumes where it stopped; anything else starts from the top. With ``enqueue=False`` the
    caller runs it itself (the CLI)."""
    _require_import(actor, job.target)
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status in ACTIVE_STATUSES:
        raise Conflict(_("This import is already running."), "already_running")
    if job.status == ImportStatus.COMPLETED and not dry_run:
        raise Conflict(_("This import is finished; upload the file again."), "finished")
    resume = job.status == ImportStatus.FAILED and job.dry_run == dry_run
    if not resume:
        _reset(job)
    job.dry_run = dry_run
    job.status = ImportStatus.QUEUED
    job.updated_at = timezone.now()
    job.save()
    audit.record(actor, "import.started", job, after={"dry_run": dry_run, "resume": resume})
    if enqueue:
        from dangol.integration.tasks import run_import_job

        job_id = job.pk
        transaction.on_commit(lambda: run_import_job(job_id))
    return job


def run_import(
    *,
    job: ImportJob,
    chunk_size: int = pipeline.CHUNK_SIZE,
    matcher: Matcher | None = None,
    progress: pipeline.Progress | None = None,
    bulk: bool | None = None,
) -> ImportJob:
    """Run a queued (or failed, or interrupted) job to the end, chunk by chunk, resuming after
    ``last_committed_line``. Each chunk is its own transaction; do not call this inside one.
    ``bulk``: force bulk mode (deferred indexes) on or off; None lets a large file choose it."""
    claimed = ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportStatus.QUEUED, ImportStatus.FAILED)
    ).update(status=ImportStatus.RUNNING, started_at=timezone.now(), error_message="")
    job.refresh_from_db()
    if not claimed:
        return job
    try:
        job = pipeline.run(
            job,
            dry_run=job.dry_run,
            chunk_size=chunk_size,
            matcher=matcher,
            progress=progress,
            bulk=bulk,
        )
    except Exception as exc:
        message = str(exc) if isinstance(exc, ServiceError) else _("The import stopped: %s") % exc
        if isinstance(exc, ValidationFailed) and exc.errors:
            message = "; ".join(str(e.message) for e in exc.errors)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED, error_message=message[:2000], updated_at=timezone.now()
        )
        job.refresh_from_db()
        raise
    if job.status == ImportStatus.CANCELLED:
        return job
    final = ImportStatus.VALIDATED if job.dry_run else ImportStatus.COMPLETED
    with transaction.atomic():
        now = timezone.now()
        ImportJob.objects.filter(pk=job.pk).update(status=final, finished_at=now, updated_at=now)
        job.refresh_from_db()
        if not job.dry_run:
            audit.record(job.created_by, "import.completed", job, after=job.counts())
            events.emit(
                "import.completed", job, target=job.target, source=job.source, **job.counts()
            )
    return job


@transaction.atomic
def cancel_import(*, job: ImportJob, actor: Any) -> ImportJob:
    """Stop a job after its current chunk; what was committed stays."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status in (ImportStatus.COMPLETED, ImportStatus.CANCELLED):
        raise Conflict(_("This import is already over."), "finished")
    job.status = ImportStatus.CANCELLED
    job.finished_at = job.updated_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "updated_at"])
    audit.record(actor, "import.cancelled", job, after=job.counts())
    return job


# --- duplicates in the base (docs/adr/0009-dedupe-quality-exports.md) ------------------------

Finder = Callable[..., "pl.DataFrame"]


def _is_user(actor: Any) -> bool:
    return isinstance(actor, User)


def can_manage_dedupe(user: Any) -> bool:
    """Whether `user` may change the duplicate-search settings and start a search."""
    return bool(getattr(user, "is_superuser", False)) or can(
        user, Action.CHANGE, DEDUPE_SETTINGS_OBJECT_TYPE
    )


def _check_probability(errors: list[FieldError], name: str, value: Any) -> None:
    if not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0:
        errors.append(FieldError(name, "out_of_range", _("Between 0 and 1.")))


@transaction.atomic
def update_dedupe_settings(*, actor: Any, changes: dict[str, Any]) -> DedupeSettings:
    """Change the thresholds, automatic merging, shared-id sources or the stale period."""
    if _is_user(actor) and not can_manage_dedupe(actor):
        raise Forbidden()
    conf = dedupe_settings(for_update=True)
    before = audit.snapshot(conf)
    errors: list[FieldError] = []
    allowed = {
        "review_threshold",
        "auto_merge",
        "auto_merge_threshold",
        "import_link_threshold",
        "shared_id_sources",
        "stale_months",
    }
    for name in set(changes) - allowed:
        errors.append(FieldError(name, "unknown_field", _("This setting does not exist.")))
    for name in ("review_threshold", "auto_merge_threshold", "import_link_threshold"):
        if name in changes:
            _check_probability(errors, name, changes[name])
    if "stale_months" in changes and not (
        isinstance(changes["stale_months"], int) and 1 <= changes["stale_months"] <= 240
    ):
        errors.append(FieldError("stale_months", "out_of_range", _("Between 1 and 240.")))
    if "shared_id_sources" in changes and not (
        isinstance(changes["shared_id_sources"], list)
        and all(isinstance(s, str) and 0 < len(s) <= 50 for s in changes["shared_id_sources"])
    ):
        errors.append(FieldError("shared_id_sources", "invalid", _("Give a list of source names.")))
    if errors:
        raise ValidationFailed(errors)
    for name, value in changes.items():
        setattr(conf, name, value)
    if conf.auto_merge_threshold < conf.review_threshold:
        raise ValidationFailed.single(
            "auto_merge_threshold",
            "below_review_threshold",
            _("Automatic merging cannot start below the review threshold."),
        )
    conf.updated_by = actor if _is_user(actor) else None
    conf.updated_at = timezone.now()
    conf.save()
    audit.record(actor, "dedupe.settings_changed", conf, before=before, after=audit.snapshot(conf))
    return conf


def _existing_pairs(found: pl.DataFrame) -> pl.DataFrame:
    """The stored candidates among the pairs of ``found`` (one query per 1,000 left ids)."""
    import polars as pl

    rows: list[tuple[int, int, int, str]] = []
    for batch in in_batches(found["left_id"].unique().sort().to_list()):
        rows.extend(
            DuplicateCandidate.objects.filter(left_id__in=batch).values_list(
                "left_id", "right_id", "id", "status"
            )
        )
    return pl.DataFrame(
        rows,
        schema={
            "left_id": pl.Int64,
            "right_id": pl.Int64,
            "candidate_id": pl.Int64,
            "status": pl.String,
        },
        orient="row",
    )


@transaction.atomic
def store_candidates(
    found: pl.DataFrame, *, origin: str = CandidateOrigin.BATCH
) -> tuple[int, int, int]:
    """Store the pairs of ``found`` (``left_id, right_id, probability, match_rule, evidence`` as
    made by ``dedupe.evidence.with_evidence``) as candidates: new pairs are created, pending
    ones get the new probability and evidence, decided ones (merged, dismissed) are left alone.
    Returns (created, updated, skipped). Set-based: one read and bulk writes."""
    import polars as pl

    from dangol.integration.dedupe.evidence import evidence_dict

    if found.is_empty():
        return 0, 0, 0
    found = found.filter(pl.col("left_id") != pl.col("right_id")).unique(
        ["left_id", "right_id"], keep="first"
    )
    joined = found.join(_existing_pairs(found), on=["left_id", "right_id"], how="left")
    now = timezone.now()
    new = joined.filter(pl.col("candidate_id").is_null())
    DuplicateCandidate.objects.bulk_create(
        (
            DuplicateCandidate(
                left_id=r["left_id"],
                right_id=r["right_id"],
                probability=r["probability"],
                evidence=evidence_dict(r["evidence"], r["match_rule"]),
                origin=origin,
                created_at=now,
                updated_at=now,
            )
            for r in new.iter_rows(named=True)
        ),
        batch_size=1000,
        ignore_conflicts=True,  # a concurrent search or import stored the same pair
    )
    pending = joined.filter(pl.col("status") == CandidateStatus.PENDING.value)
    DuplicateCandidate.objects.bulk_update(
        [
            DuplicateCandidate(
                pk=r["candidate_id"],
                probability=r["probability"],
                evidence=evidence_dict(r["evidence"], r["match_rule"]),
                updated_at=now,
            )
            for r in pending.iter_rows(named=True)
        ],
        ["probability", "evidence", "updated_at"],
        batch_size=1000,
    )
    skipped = joined.height - new.height - pending.height
    return new.height, pending.height, skipped


def start_duplicate_search(*, actor: Any) -> DedupeRun:
    """Queue a duplicate search for the job worker. Its run is stored now, as running, so the
    pages that follow the search (the queue's status line, ``GET /duplicates/runs``) show it
    from the click on, not only once a worker has picked the job up; the job fills this run."""
    if _is_user(actor) and not can_manage_dedupe(actor):
        raise Forbidden()
    from dangol.integration.tasks import find_duplicates_job

    run = DedupeRun.objects.create(started_by=actor if _is_user(actor) else None)
    run_id = run.pk
    transaction.on_commit(lambda: find_duplicates_job(run_id))
    return run


def find_duplicates(
    *, actor: Any = None, finder: Finder | None = None, run_id: int | None = None
) -> DedupeRun:
    """Search the active customers for duplicates and store the pairs for review; with
    automatic merging on, merge the pairs above its threshold. Idempotent: a pair is stored
    once, and decided pairs are never reopened. ``finder`` replaces the matching engine
    (``matching.find_duplicate_pairs``) in tests; ``run_id`` is the run `start_duplicate_search`
    stored (a retried job runs it again), else a new run is stored. Runs outside a transaction
    (the matching takes seconds to minutes); storing and each merge are transactions of their
    own."""
    from dangol.integration.dedupe.evidence import with_evidence
    from dangol.integration.dedupe.frames import matching_frame

    if _is_user(actor) and not can_manage_dedupe(actor):
        raise Forbidden()
    conf = dedupe_settings()
    queued = DedupeRun.objects.filter(pk=run_id).first() if run_id is not None else None
    if queued is not None:
        DedupeRun.objects.filter(pk=queued.pk).update(
            status=DedupeRunStatus.RUNNING, error_message="", finished_at=None
        )
        run = queued
    else:
        run = DedupeRun.objects.create(started_by=actor if _is_user(actor) else None)
    try:
        if finder is None:
            from dangol.integration.matching import find_duplicate_pairs

            finder = find_duplicate_pairs
        frame = matching_frame(
            Customer.objects.filter(status=RecordStatus.ACTIVE),
            shared_id_sources=conf.shared_id_sources,
        )
        pairs = finder(frame, id_column="id", threshold=conf.review_threshold)
        found = with_evidence(pairs)
        created, updated, skipped = store_candidates(found)
        merged = auto_merge_candidates(actor=actor) if conf.auto_merge else 0
    except Exception as exc:
        DedupeRun.objects.filter(pk=run.pk).update(
            status=DedupeRunStatus.FAILED, error_message=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    DedupeRun.objects.filter(pk=run.pk).update(
        status=DedupeRunStatus.COMPLETED,
        records=frame.height,
        pairs_found=found.height,
        created_count=created,
        updated_count=updated,
        skipped_count=skipped,
        auto_merged_count=merged,
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    with transaction.atomic():
        audit.record(actor, "dedupe.completed", run, after=audit.snapshot(run))
        events.emit("dedupe.completed", run, created=created, auto_merged=merged)
    return run


def _survivor_of(left: Customer, right: Customer) -> Customer:
    """The record an automatic merge keeps: more orders, else the older one."""
    return min((left, right), key=lambda c: (-c.order_count, c.created_at, c.pk))


def auto_merge_candidates(*, actor: Any = None) -> int:
    """Merge the pending pairs at or above the automatic-merge threshold (each in its own
    transaction; a pair whose merge was undone once is left to people). Returns the count."""
    conf = dedupe_settings()
    ids = list(
        DuplicateCandidate.objects.filter(
            status=CandidateStatus.PENDING,
            probability__gte=conf.auto_merge_threshold,
            left__status=RecordStatus.ACTIVE,
            right__status=RecordStatus.ACTIVE,
            merge__isnull=True,
        )
        .order_by("-probability", "id")
        .values_list("pk", flat=True)
    )
    merged = 0
    for pk in ids:
        candidate = DuplicateCandidate.objects.select_related("left", "right").get(pk=pk)
        if not (
            candidate.left.status == RecordStatus.ACTIVE
            and candidate.right.status == RecordStatus.ACTIVE
        ):
            continue  # one side went into an earlier pair of this run; the next search sees it
        survivor = _survivor_of(candidate.left, candidate.right)
        try:
            merge_candidate(
                candidate=candidate, survivor_id=survivor.pk, actor=actor, automatic=True
            )
        except (Conflict, ValidationFailed):
            continue
        merged += 1
    return merged


def _require_pair(actor: Any, candidate: DuplicateCandidate) -> None:
    """Both records must be ones `actor` may change; otherwise the pair does not exist."""
    if not _is_user(actor):
        return
    visible = Customer.objects.visible_to(actor, Action.CHANGE)
    if visible.filter(pk__in=[candidate.left_id, candidate.right_id]).count() != 2:
        raise NotFound()


@transaction.atomic
def merge_candidate(
    *, candidate: DuplicateCandidate, survivor_id: int, actor: Any, automatic: bool = False
) -> MergeRecord:
    """Merge the pair into ``survivor_id`` (one of its two records) through
    ``merge_customers``; the candidate records the merge so that it can be undone."""
    from dangol.customers.merge import merge_customers

    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    _require_pair(actor, candidate)
    if candidate.status != CandidateStatus.PENDING:
        raise Conflict(_("This pair was already decided."), "already_decided")
    if survivor_id not in (candidate.left_id, candidate.right_id):
        raise ValidationFailed.single(
            "survivor_id", "invalid", _("Choose one of the two records to keep.")
        )
    other_id = candidate.right_id if survivor_id == candidate.left_id else candidate.left_id
    records = {c.pk: c for c in Customer.objects.filter(pk__in=[survivor_id, other_id])}
    record = merge_customers(
        survivor=records[survivor_id],
        duplicates=[records[other_id]],
        actor=actor,
        automatic=automatic,
        probability=candidate.probability,
    )
    candidate.status = CandidateStatus.MERGED
    candidate.merge = record
    candidate.reviewer = actor if _is_user(actor) and not automatic else None
    candidate.decided_at = candidate.updated_at = timezone.now()
    candidate.save(update_fields=["status", "merge", "reviewer", "decided_at", "updated_at"])
    audit.record(
        actor,
        "duplicate.merged",
        candidate,
        after={"survivor_id": survivor_id, "merge_id": record.pk, "automatic": automatic},
    )
    return record


@transaction.atomic
def dismiss_candidate(*, candidate: DuplicateCandidate, actor: Any) -> DuplicateCandidate:
    """Record that the pair is not one person: no search brings it back."""
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    _require_pair(actor, candidate)
    if candidate.status != CandidateStatus.PENDING:
        raise Conflict(_("This pair was already decided."), "already_decided")
    candidate.status = CandidateStatus.DISMISSED
    candidate.reviewer = actor if _is_user(actor) else None
    candidate.decided_at = candidate.updated_at = timezone.now()
    candidate.save(update_fields=["status", "reviewer", "decided_at", "updated_at"])
    audit.record(
        actor, "duplicate.dismissed", candidate, after={"probability": candidate.probability}
    )
    return candidate


@transaction.atomic
def undo_candidate_merge(*, candidate: DuplicateCandidate, actor: Any) -> DuplicateCandidate:
    """Undo the pair's merge exactly (``unmerge``); the pair goes back to the queue and is
    never merged automatically again."""
    from dangol.customers.merge import unmerge

    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    _require_pair(actor, candidate)
    if candidate.status != CandidateStatus.MERGED or candidate.merge is None:
        raise Conflict(_("This pair was not merged."), "not_merged")
    unmerge(merge=candidate.merge, actor=actor)
    candidate.status = CandidateStatus.PENDING
    candidate.reviewer = actor if _is_user(actor) else None
    candidate.decided_at = candidate.updated_at = timezone.now()
    candidate.save(update_fields=["status", "reviewer", "decided_at", "updated_at"])
    audit.record(actor, "duplicate.merge_undone", candidate, after={"merge_id": candidate.merge_id})
    return candidate


# --- data quality -----------------------------------------------------------------------------


def can_view_quality(user: Any) -> bool:
    """Quality figures count the whole base: they need the "all customers" view scope."""
    return scope_for(user, "customers.customer", Action.VIEW) == Scope.ALL


def can_manage_plan(user: Any) -> bool:
    """Whether `user` may declare the customer information plan."""
    return bool(getattr(user, "is_superuser", False)) or can(user, Action.CHANGE, PLAN_OBJECT_TYPE)


@transaction.atomic
def set_information_plan(
    *, source: str, levels: dict[str, str | None], actor: Any
) -> list[InformationPlanItem]:
    """Declare the plan of `source` ("" = the default for every source without its own):
    ``{field: "required" | "recommended" | None}``; None (or a field left out) takes the
    field out of the plan. Replaces the source's plan as a whole."""
    if _is_user(actor) and not can_manage_plan(actor):
        raise Forbidden()
    errors: list[FieldError] = []
    if len(source) > 50:
        errors.append(FieldError("source", "too_long", _("At most 50 characters.")))
    for name, level in levels.items():
        if name not in QualityField.values:
            errors.append(FieldError(name, "unknown_field", _("This field is not measured.")))
        elif level is not None and level not in PlanLevel.values:
            errors.append(FieldError(name, "invalid_choice", _("Required or recommended.")))
    if errors:
        raise ValidationFailed(errors)
    before = list(InformationPlanItem.objects.filter(source=source).values_list("field", "level"))
    InformationPlanItem.objects.filter(source=source).delete()
    now = timezone.now()
    items = InformationPlanItem.objects.bulk_create(
        [
            InformationPlanItem(source=source, field=name, level=level, updated_at=now)
            for name, level in sorted(levels.items())
            if level is not None
        ]
    )
    after = {i.field: i.level for i in items}
    if items:
        audit.record(actor, "quality.plan_set", items[0], before=dict(before), after=after)
    return items


@transaction.atomic
def take_quality_snapshot(*, day: Any = None) -> QualitySnapshot:
    """Compute today's data-quality figures and keep them (one row per day, replaced when run
    again the same day)."""
    from dangol.integration.quality import quality_report

    report = quality_report(today=day)
    snapshot, _created = QualitySnapshot.objects.update_or_create(
        day=report.day,
        defaults={
            "customers": report.customers,
            "score": report.score,
            "duplicate_rate": report.duplicate_rate,
            "stale_rate": report.stale_rate,
            "figures": report.as_dict(),
            "created_at": timezone.now(),
        },
    )
    return snapshot


# --- exports ----------------------------------------------------------------------------------


@transaction.atomic
def request_export(
    *, actor: User, format: str, filters: dict[str, Any] | None = None, enqueue: bool = True
) -> ExportJob:
    """Queue an export of the customers `actor` may export that match `filters` (the
    customer API's list filters). Contact data is unmasked only for roles with the PII
    permission (and then each exported customer is written to the PII access log)."""
    from dangol.integration.exports import export_segment, parse_filters

    if not can(actor, Action.EXPORT, Customer):
        raise Forbidden()
    if format not in ExportFormat.values:
        raise ValidationFailed.single("format", "invalid_choice", _("Choose CSV, XLSX or Parquet."))
    filters = dict(filters or {})
    parse_filters(filters)
    segment = export_segment(actor, filters)  # one the actor may see
    job = ExportJob.objects.create(
        requested_by=actor,
        format=format,
        filters=filters,
        segment=segment.name[:100] if segment is not None else "",
        unmasked=can_view_pii(actor),
    )
    audit.record(actor, "export.requested", job, after={"format": format, "filters": filters})
    if enqueue:
        from dangol.integration.tasks import run_export_job

        job_id = job.pk
        transaction.on_commit(lambda: run_export_job(job_id))
    return job


def run_export(*, job: ExportJob) -> ExportJob:
    """Write a queued export's file (streamed in chunks) and record the outcome."""
    from dangol.integration.exports import write_export

    claimed = ExportJob.objects.filter(
        pk=job.pk, status__in=(ExportStatus.QUEUED, ExportStatus.FAILED)
    ).update(status=ExportStatus.RUNNING, started_at=timezone.now(), error_message="")
    job.refresh_from_db()
    if not claimed:
        return job
    try:
        relative, count = write_export(job)
    except Exception as exc:
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED, error_message=str(exc)[:2000], finished_at=timezone.now()
        )
        job.refresh_from_db()
        if isinstance(exc, ServiceError):
            return job
        raise
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.COMPLETED,
            file_path=relative,
            row_count=count,
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        audit.record(
            job.requested_by, "export.completed", job, after={"rows": count, "file": relative}
        )
    return job


# --- the import wizard of the staff app ------------------------------------------------------


@transaction.atomic
def configure_import(
    *,
    job: ImportJob,
    actor: Any,
    mapping: dict[str, str],
    transforms: dict[str, Any] | None = None,
    encoding: str | None = None,
    template: MappingTemplate | None = None,
) -> ImportJob:
    """Set the column mapping (and, when given, the encoding) of a job that is not running and
    not finished. A changed job goes back to ``uploaded``: an earlier dry run no longer holds."""
    _require_import(actor, job.target)
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status in ACTIVE_STATUSES:
        raise Conflict(_("This import is already running."), "already_running")
    if job.status == ImportStatus.COMPLETED:
        raise Conflict(_("This import is finished; upload the file again."), "finished")
    if encoding:
        try:
            "".encode(encoding)
        except LookupError:
            raise ValidationFailed.single(
                "encoding", "invalid_choice", _("Unknown encoding.")
            ) from None
    if template is not None and template.target != job.target:
        raise ValidationFailed.single(
            "mapping_template", "wrong_target", _("This mapping is for another target.")
        )
    transforms = transforms or {}
    mapping = {c: f for c, f in mapping.items() if f}
    compile_mapping(mapping, transforms, TARGETS[job.target].specs)
    new_encoding = job.encoding if encoding is None else encoding
    before = {"mapping": job.mapping, "transforms": job.transforms, "encoding": job.encoding}
    after = {"mapping": mapping, "transforms": transforms, "encoding": new_encoding}
    job.mapping_template = template or job.mapping_template
    if after != before:
        job.mapping, job.transforms, job.encoding = mapping, transforms, new_encoding
        _reset(job)
        job.dry_run = False
        job.status = ImportStatus.UPLOADED
    job.updated_at = timezone.now()
    job.save()
    audit.record(actor, "import.configured", job, before=before, after=after)
    return job


def save_mapping_template(
    *,
    name: str,
    source: str,
    target: str,
    mapping: dict[str, str],
    actor: Any,
    transforms: dict[str, Any] | None = None,
) -> MappingTemplate:
    """Save a mapping under `name` for `source`: a new template, or the one of that name
    replaced (a template of that name for another target is a conflict)."""
    mapping = {c: f for c, f in mapping.items() if f}
    existing = MappingTemplate.objects.filter(source=source.strip(), name=name.strip()).first()
    if existing is None:
        return create_mapping_template(
            name=name,
            source=source,
            target=target,
            mapping=mapping,
            transforms=transforms,
            actor=actor,
        )
    if existing.target != target:
        raise Conflict(_("A mapping with this name exists for another target."), "duplicate")
    return update_mapping_template(
        template=existing, mapping=mapping, transforms=transforms or {}, actor=actor
    )


def import_same_file(*, job: ImportJob, target: str, actor: Any) -> ImportJob:
    """A new job reading `job`'s file into another target (the consent columns of a customer
    file, say). The file is copied, so each job keeps its own."""
    from django.core.files.uploadedfile import UploadedFile as DjangoUploadedFile

    from dangol.integration.imports.pipeline import open_file

    with open_file(job) as f:
        upload = DjangoUploadedFile(
            file=f, name=job.original_name or "import", size=job.total_bytes
        )
        return create_import_job(
            target=target,
            source=job.source,
            actor=actor,
            upload=upload,
            encoding=job.encoding,
            file_format=job.format,
        )
