"""State changes of imports: mapping templates, creating, starting, running and cancelling jobs.

``run_import`` is what the Huey task and the CLI call. It writes in set-based chunks (see
``integration.imports``) instead of calling the per-record customer and commerce services, as
docs/adr/0005-import-pipeline.md explains, and emits a single ``import.completed`` event.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.commerce.models import Order, Product
from dangol.core import audit, events
from dangol.core.errors import Conflict, Forbidden, ServiceError, ValidationFailed
from dangol.core.models import User
from dangol.core.visibility import Action, can
from dangol.customers.models import Consent, Customer
from dangol.integration.imports import pipeline
from dangol.integration.imports.identity import Matcher
from dangol.integration.imports.mapping import compile_mapping
from dangol.integration.imports.readers import detect_format
from dangol.integration.imports.targets import TARGETS
from dangol.integration.models import (
    ACTIVE_STATUSES,
    ImportJob,
    ImportStatus,
    ImportTarget,
    MappingTemplate,
)

TARGET_MODELS: dict[str, type] = {
    ImportTarget.CUSTOMERS: Customer,
    ImportTarget.CONSENTS: Consent,
    ImportTarget.PRODUCTS: Product,
    ImportTarget.ORDERS: Order,
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
    for name in (
        "rows_read",
        "created_count",
        "updated_count",
        "matched_count",
        "unchanged_count",
        "rejected_count",
        "last_committed_line",
        "processed_bytes",
    ):
        setattr(job, name, 0)
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
) -> ImportJob:
    """Run a queued (or failed, or interrupted) job to the end, chunk by chunk, resuming after
    ``last_committed_line``. Each chunk is its own transaction; do not call this inside one."""
    claimed = ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportStatus.QUEUED, ImportStatus.FAILED)
    ).update(status=ImportStatus.RUNNING, started_at=timezone.now(), error_message="")
    job.refresh_from_db()
    if not claimed:
        return job
    try:
        job = pipeline.run(
            job, dry_run=job.dry_run, chunk_size=chunk_size, matcher=matcher, progress=progress
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
